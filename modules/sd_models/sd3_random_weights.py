"""Random-weight SD3 checkpoints (single-file layout) for tests and benchmarks.

`tiny` keeps each release's structure (joint blocks, qk-norm, SD3.5 Medium's second
attention, CLIP-L + CLIP-G + optional T5) at a few channels; full size uses the bundled configs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from modules.sd_models.components import bundled_config
from modules.sd_models.sd3_architecture import TRANSFORMER_CONFIG
from modules.sd_models.sd3_layout import sd3_state_dict

TINY_CLIP = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 1,
             "projection_dim": 32}
TINY_T5 = {"vocab_size": 64, "d_model": 128, "d_kv": 32, "num_heads": 4, "d_ff": 256, "num_layers": 2}
TINY_TRANSFORMER = {"num_layers": 2, "attention_head_dim": 32, "num_attention_heads": 2, "caption_projection_dim": 64,
                    "joint_attention_dim": 128, "pooled_projection_dim": 64, "pos_embed_max_size": 16}
TINY_VAE_CHANNELS = [32, 32, 64, 64]


def build_sd3_modules(release: str, tiny: bool = True, seed: int = 0, with_t5: bool = True,
                      dtype: torch.dtype = torch.float32) -> dict[str, torch.nn.Module | None]:
    from diffusers import AutoencoderKL, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # full size: build in bf16/fp16 so the benchmark fits in RAM
    try:
        def clip(component: str) -> torch.nn.Module:
            config = dict(bundled_config("sd3", component)) | (TINY_CLIP if tiny else {})
            return CLIPTextModelWithProjection(CLIPTextConfig(**config))

        config = dict(bundled_config("sd3", TRANSFORMER_CONFIG[release]))
        if tiny:
            config |= TINY_TRANSFORMER
            config["dual_attention_layers"] = [0] if config["dual_attention_layers"] else []
        transformer = SD3Transformer2DModel.from_config(config)
        vae_config = dict(bundled_config("sd3", "vae"))
        if tiny:
            levels = len(TINY_VAE_CHANNELS)
            vae_config.update(block_out_channels=TINY_VAE_CHANNELS, layers_per_block=1,
                              down_block_types=["DownEncoderBlock2D"] * levels,
                              up_block_types=["UpDecoderBlock2D"] * levels)
        t5 = None
        if with_t5:
            t5 = T5EncoderModel(T5Config(**(dict(bundled_config("sd3", "t5xxl")) | (TINY_T5 if tiny else {}))))
        return {"transformer": transformer, "vae": AutoencoderKL.from_config(vae_config),
                "clip_l": clip("clip_l"), "clip_g": clip("clip_g"), "t5": t5}
    finally:
        torch.set_default_dtype(previous)


def write_sd3_checkpoint(path: Path, release: str = "3 Medium", tiny: bool = True, seed: int = 0,
                         with_t5: bool = True, with_clips: bool = True,
                         dtype: torch.dtype = torch.float32) -> dict[str, torch.nn.Module | None]:
    """Save a random-weight SD3 single file; returns the modules it was made from."""
    import safetensors.torch

    modules = build_sd3_modules(release, tiny, seed, with_t5, dtype)
    clip_l, clip_g = (modules["clip_l"], modules["clip_g"]) if with_clips else (None, None)
    state = sd3_state_dict(modules["transformer"], modules["vae"], clip_l, clip_g, modules["t5"])
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return modules


def write_tiny_t5_tokenizer(folder: Path, vocab_size: int = TINY_T5["vocab_size"]) -> Path:
    """A word-level stand-in for T5's tokenizer.json (pad 0, eos 1, unk 2), for tiny T5 models."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["a", "red", "blue", "green", "circle", "square", "cat", "dog", "on", "white", "black", "photo", "of"]
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {w: i + 3 for i, w in enumerate(words[:vocab_size - 3])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"
