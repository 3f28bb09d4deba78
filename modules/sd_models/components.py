"""Build diffusers/transformers modules for a checkpoint from bundled configs — no hub access.

Configs come from `configs/<family>/*.json`, adjusted to the sizes the checkpoint's
tensors have (so scaled-down and fine-tuned variants load too), or from an A1111 yaml
beside the checkpoint. Key conversion is diffusers' own single-file code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from types import SimpleNamespace
from typing import Any

import torch
from accelerate import init_empty_weights

from modules.paths import CONFIGS_DIR
from modules.sd_models.architecture import ModelArchitecture
from modules.sd_models.ldm_layout import TEXT_ENCODER_PREFIXES, UNET_PREFIX, VAE_PREFIX

Shapes = Mapping[str, tuple[int, ...]]
HEAD_DIM = 64  # CLIP and SD2/SDXL attention heads are 64 wide


@cache
def bundled_config(family: str, component: str) -> dict[str, Any]:
    return json.loads((CONFIGS_DIR / family / f"{component}.json").read_text())


def _indices(shapes: Shapes, pattern: str) -> set[int]:
    regex = re.compile(pattern)
    return {int(m[1]) for k in shapes if (m := regex.match(k))}


def unet_config(shapes: Shapes, arch: ModelArchitecture) -> dict[str, Any]:
    """The bundled UNet config with every size read from the checkpoint's tensors."""
    p = UNET_PREFIX
    config = dict(bundled_config(arch.family, "unet"))
    levels = len(_indices(shapes, re.escape(p) + r"input_blocks\.(\d+)\.0\.op\.weight")) + 1
    per_level = len(_indices(shapes, re.escape(p) + r"input_blocks\.(\d+)\.")) // levels
    layers = per_level - 1
    channels, depths, cross = [], [], []
    for level in range(levels):
        first = f"{p}input_blocks.{level * per_level + 1}."
        channels.append(shapes[first + "0.out_layers.3.weight"][0])
        depth = len(_indices(shapes, re.escape(first) + r"1\.transformer_blocks\.(\d+)\."))
        cross.append(depth > 0)
        depths.append(max(depth, 1))
    attn2 = next((v for k, v in shapes.items() if k.startswith(p) and k.endswith("attn2.to_k.weight")), None)
    proj_in = next((v for k, v in shapes.items() if k.startswith(p) and k.endswith(".proj_in.weight")), None)
    config.update(
        in_channels=shapes[p + "input_blocks.0.0.weight"][1],
        out_channels=shapes[p + "out.2.weight"][0],
        block_out_channels=channels,
        layers_per_block=layers,
        down_block_types=["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in cross],
        up_block_types=["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(cross)],
        transformer_layers_per_block=depths if len(set(depths)) > 1 else depths[0],
        cross_attention_dim=attn2[1] if attn2 else config["cross_attention_dim"],
        use_linear_projection=proj_in is not None and len(proj_in) == 2,
    )
    if isinstance(config["attention_head_dim"], list):  # SD2/SDXL: heads = channels / 64
        config["attention_head_dim"] = [max(1, c // HEAD_DIM) for c in channels]
    if p + "label_emb.0.0.weight" in shapes:
        config["projection_class_embeddings_input_dim"] = shapes[p + "label_emb.0.0.weight"][1]
    return config


def vae_config(shapes: Shapes, family: str, prefix: str = VAE_PREFIX) -> dict[str, Any]:
    config = dict(bundled_config(family, "vae"))
    levels = sorted(_indices(shapes, re.escape(prefix) + r"encoder\.down\.(\d+)\."))
    channels = [shapes[f"{prefix}encoder.down.{i}.block.0.conv1.weight"][0] for i in levels]
    layers = len(_indices(shapes, re.escape(prefix) + r"encoder\.down\.0\.block\.(\d+)\."))
    config.update(
        block_out_channels=channels,
        down_block_types=["DownEncoderBlock2D"] * len(channels),
        up_block_types=["UpDecoderBlock2D"] * len(channels),
        layers_per_block=layers,
        latent_channels=shapes[prefix + "post_quant_conv.weight"][1],
        norm_num_groups=_group_count(channels),
    )
    return config


def _group_count(channels: list[int]) -> int:
    """LDM always uses 32 groups; tiny VAEs (e.g. 16 channels) need fewer."""
    groups = 32
    while any(c % groups for c in channels):
        groups //= 2
    return groups


def text_encoder_config(hf_state: Mapping[str, torch.Tensor], family: str, component: str) -> dict[str, Any]:
    """CLIP text config sized from the converted (transformers-layout) weights."""
    config = dict(bundled_config(family, component))
    token = hf_state["text_model.embeddings.token_embedding.weight"].shape
    hidden = token[1]
    layers = _indices(hf_state, r"text_model\.encoder\.layers\.(\d+)\.")
    config.update(
        vocab_size=token[0],
        hidden_size=hidden,
        max_position_embeddings=hf_state["text_model.embeddings.position_embedding.weight"].shape[0],
        num_hidden_layers=len(layers),
        intermediate_size=hf_state["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
        num_attention_heads=max(1, hidden // HEAD_DIM),
    )
    if "text_projection.weight" in hf_state:
        config["projection_dim"] = hf_state["text_projection.weight"].shape[0]
    return config


def _yaml_image_size(yaml_config: Mapping[str, Any]) -> int:
    """Pixel size the model was trained at (diffusers would otherwise guess it from tensors)."""
    params = yaml_config["model"].get("params", {})
    ddconfig = params.get("first_stage_config", {}).get("params", {}).get("ddconfig", {})
    return int(ddconfig.get("resolution", 512))


def unet_config_from_yaml(yaml_config: Mapping[str, Any], shapes: Shapes, arch: ModelArchitecture) -> dict:
    from diffusers.loaders.single_file_utils import create_unet_diffusers_config_from_ldm

    config = create_unet_diffusers_config_from_ldm(yaml_config, shapes, image_size=_yaml_image_size(yaml_config))
    if arch.is_sdxl:  # diffusers recognises SDXL by full-size context dims only
        config.update(class_embed_type=None, addition_embed_type="text_time", addition_time_embed_dim=256)
    return config


def vae_config_from_yaml(yaml_config: Mapping[str, Any], shapes: Shapes) -> dict:
    from diffusers.loaders.single_file_utils import create_vae_diffusers_config_from_ldm

    config = create_vae_diffusers_config_from_ldm(yaml_config, shapes, image_size=_yaml_image_size(yaml_config))
    config["norm_num_groups"] = _group_count(list(config["block_out_channels"]))
    return config


def _fit_text_keys(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoint keys carry `text_model.`; transformers 5's CLIPTextModel has no such level."""
    if any(k.startswith("text_model.") for k in module.state_dict()):
        return dict(state)
    return {k.removeprefix("text_model."): v for k, v in state.items()}


def _assign(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> torch.nn.Module:
    """Fill a module built with empty (meta) parameters; buffers are real already."""
    state = _fit_text_keys(module, state) if "text" in what else state
    missing, unexpected = module.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ValueError(f"{what} weights do not fit the model ({detail})")
    return module.eval().requires_grad_(False)


def build_unet(state: Mapping[str, torch.Tensor], config: dict) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(config)
    return _assign(unet, convert_ldm_unet_checkpoint(dict(state), config), "UNet")


def build_vae(state: Mapping[str, torch.Tensor], config: dict) -> torch.nn.Module:
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    with init_empty_weights():
        vae = AutoencoderKL.from_config(config)
    return _assign(vae, convert_ldm_vae_checkpoint(dict(state), config), "VAE")


def build_text_encoders(state: Mapping[str, torch.Tensor], arch: ModelArchitecture) -> list[torch.nn.Module]:
    """The family's text encoders in order: [CLIP-L] (SD1), [OpenCLIP-H] (SD2), [CLIP-L, bigG] (SDXL)."""
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_open_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    clip_prefix, open_clip_prefix = TEXT_ENCODER_PREFIXES[arch.family]
    encoders = []
    if clip_prefix:
        hf = convert_ldm_clip_checkpoint({k: v for k, v in state.items() if k.startswith(clip_prefix)})
        config = CLIPTextConfig(**text_encoder_config(hf, arch.family, "text_encoder"))
        with init_empty_weights():
            model = CLIPTextModel(config)
        encoders.append(_assign(model, hf, "text encoder"))
    if open_clip_prefix:
        open_clip = {k: v for k, v in state.items() if k.startswith(open_clip_prefix)}
        if arch.family == "sd2":  # SD2 conditions on the penultimate layer: drop the last block
            last = max(_indices(open_clip, re.escape(open_clip_prefix) + r"transformer\.resblocks\.(\d+)\."))
            drop = f"{open_clip_prefix}transformer.resblocks.{last}."
            open_clip = {k: v for k, v in open_clip.items() if not k.startswith(drop)}
            open_clip.pop(open_clip_prefix + "text_projection", None)
        cls = CLIPTextModel if arch.family == "sd2" else CLIPTextModelWithProjection
        token = open_clip[open_clip_prefix + "token_embedding.weight"]
        # diffusers reads only config.hidden_size from the model argument (to split fused qkv).
        sized = SimpleNamespace(config=SimpleNamespace(hidden_size=token.shape[1]))
        hf = convert_open_clip_checkpoint(sized, open_clip, prefix=open_clip_prefix)
        config = CLIPTextConfig(**text_encoder_config(hf, arch.family, "text_encoder_2"))
        with init_empty_weights():
            model = cls(config)
        encoders.append(_assign(model, hf, "text encoder 2"))
    return encoders
