"""Build SD3's modules from a single-file checkpoint: MMDiT, 16-channel VAE, CLIP-L, CLIP-G, T5-XXL.

Configs are the bundled `configs/sd3/*.json`, sized from the tensors (so tiny test models
load the same way); key conversion is diffusers' single-file code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights

from modules.sd_models.components import _assign, _group_count, _indices, bundled_config, text_encoder_config
from modules.sd_models.sd3_architecture import (CLIP_G_PREFIX, CLIP_L_PREFIX, MMDIT_PREFIX, T5_PREFIX,
                                                TRANSFORMER_CONFIG, VAE_PREFIX, joint_block_count)

Shapes = Mapping[str, tuple[int, ...]]
HEAD_DIM = 64


def transformer_config(shapes: Shapes, release: str) -> dict[str, Any]:
    p = MMDIT_PREFIX
    config = dict(bundled_config("sd3", TRANSFORMER_CONFIG[release]))
    hidden, in_channels, patch, _ = shapes[p + "x_embedder.proj.weight"]
    ln_q = next((v for k, v in shapes.items() if k.startswith(p) and k.endswith(".attn.ln_q.weight")), None)
    head_dim = ln_q[0] if ln_q else HEAD_DIM
    config.update(
        num_layers=joint_block_count(shapes),
        in_channels=in_channels,
        patch_size=patch,
        out_channels=shapes[p + "final_layer.linear.weight"][0] // (patch * patch),
        caption_projection_dim=hidden,
        attention_head_dim=head_dim,
        num_attention_heads=max(1, hidden // head_dim),
        joint_attention_dim=shapes[p + "context_embedder.weight"][1],
        pooled_projection_dim=shapes[p + "y_embedder.mlp.0.weight"][1],
        pos_embed_max_size=math.isqrt(shapes[p + "pos_embed"][1]),
        dual_attention_layers=sorted(_indices(shapes, re.escape(p) + r"joint_blocks\.(\d+)\.x_block\.attn2\.")),
        qk_norm="rms_norm" if ln_q else None,
    )
    return config


def vae_config(shapes: Shapes) -> dict[str, Any]:
    """SD3's VAE: the SD layout with 16 latent channels and no quant convs."""
    p = VAE_PREFIX
    config = dict(bundled_config("sd3", "vae"))
    levels = sorted(_indices(shapes, re.escape(p) + r"encoder\.down\.(\d+)\."))
    channels = [shapes[f"{p}encoder.down.{i}.block.0.conv1.weight"][0] for i in levels]
    config.update(
        block_out_channels=channels,
        down_block_types=["DownEncoderBlock2D"] * len(channels),
        up_block_types=["UpDecoderBlock2D"] * len(channels),
        layers_per_block=len(_indices(shapes, re.escape(p) + r"encoder\.down\.0\.block\.(\d+)\.")),
        latent_channels=shapes[p + "encoder.conv_out.weight"][0] // 2,
        norm_num_groups=_group_count(channels),
    )
    return config


def build_transformer(state: Mapping[str, torch.Tensor], config: dict) -> torch.nn.Module:
    from diffusers import SD3Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    with init_empty_weights():
        model = SD3Transformer2DModel.from_config(config)
    mmdit = {k: v for k, v in state.items() if k.startswith(MMDIT_PREFIX)}  # the converter pops its input
    return _assign(model, convert_sd3_transformer_checkpoint_to_diffusers(mmdit), "MMDiT")


def build_vae(state: Mapping[str, torch.Tensor], config: dict) -> torch.nn.Module:
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    with init_empty_weights():
        vae = AutoencoderKL.from_config(config)
    return _assign(vae, convert_ldm_vae_checkpoint(dict(state), config), "VAE")


def build_clip(state: Mapping[str, torch.Tensor], prefix: str, component: str) -> torch.nn.Module:
    """CLIP-L or CLIP-G (transformers layout under `prefix`); CLIP-L files carry no projection:
    its pooled vector is the plain pooler output (identity projection, as diffusers does)."""
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    hf = convert_ldm_clip_checkpoint({k: v for k, v in state.items() if k.startswith(prefix)}, prefix)
    config = text_encoder_config(hf, "sd3", component)
    hidden = config["hidden_size"]
    if "text_projection.weight" not in hf:
        hf["text_projection.weight"] = torch.eye(hidden, dtype=hf["text_model.embeddings.token_embedding.weight"].dtype)
        config["projection_dim"] = hidden
    with init_empty_weights():
        model = CLIPTextModelWithProjection(CLIPTextConfig(**config))
    return _assign(model, hf, f"text encoder {component}")


def t5_config(hf: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    config = dict(bundled_config("sd3", "t5xxl"))
    vocab, d_model = hf["shared.weight"].shape
    heads = hf["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].shape[1]
    config.update(
        vocab_size=vocab, d_model=d_model, num_heads=heads,
        d_kv=hf["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0] // heads,
        d_ff=hf["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"].shape[0],
        num_layers=len(_indices(hf, r"encoder\.block\.(\d+)\.")),
    )
    return config


def build_t5(state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    from diffusers.loaders.single_file_utils import convert_sd3_t5_checkpoint_to_diffusers
    from transformers import T5Config, T5EncoderModel

    hf = convert_sd3_t5_checkpoint_to_diffusers(dict(state))
    hf.setdefault("encoder.embed_tokens.weight", hf["shared.weight"])  # tied: files keep one copy
    with init_empty_weights():
        model = T5EncoderModel(T5Config(**t5_config(hf)))
    expected = set(model.state_dict())
    return _assign(model, {k: v for k, v in hf.items() if k in expected or k.startswith("encoder.block.")}, "T5-XXL")


def load_t5_tokenizer(path: Path):
    from transformers import PreTrainedTokenizerFast

    config_path = path.with_name("tokenizer_config.json")
    extra = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=extra.get("eos_token", "</s>"),
                                   pad_token=extra.get("pad_token", "<pad>"), unk_token=extra.get("unk_token", "<unk>"))
