"""Random-weight checkpoints of every supported architecture, in true A1111 key layout.

Nothing can be downloaded here, so tests and benchmarks build their models: `full` uses
the bundled configs as they are (real sizes, for memory and speed figures); `tiny` keeps
each architecture's structure (blocks, attention placement, text encoders, SDXL
conditioning) at a few channels, so the whole suite runs in seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from modules.sd_models.architecture import ModelArchitecture
from modules.sd_models.components import bundled_config
from modules.sd_models.ldm_layout import ldm_state_dict

TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "projection_dim": 64}
TINY_CHANNELS = [32, 64]
TINY_VAE_CHANNELS = [32, 32, 64, 64]  # four levels: 8 pixels per latent cell, as in real models
SDXL_TIME_IDS = {"sdxl": 6, "sdxl_refiner": 5}  # size/crop/target (base) or size/crop/score (refiner)
IN_CHANNELS = {"base": 4, "inpaint": 9, "instruct-pix2pix": 8}


def _text_encoders(arch: ModelArchitecture, tiny: bool) -> tuple[torch.nn.Module | None, torch.nn.Module | None]:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def build(component: str, cls: type, extra_layers: int = 0) -> torch.nn.Module:
        config = dict(bundled_config(arch.family, component))
        if tiny:
            config.update(TINY_TEXT, num_attention_heads=1)
        config["num_hidden_layers"] += extra_layers
        return cls(CLIPTextConfig(**config))

    clip = build("text_encoder", CLIPTextModel) if arch.family in ("sd1", "sdxl") else None
    if arch.family == "sd2":  # the file holds one more block than SD2 uses (penultimate layer)
        return None, build("text_encoder_2", CLIPTextModel, extra_layers=1)
    if arch.is_sdxl:
        return clip, build("text_encoder_2", CLIPTextModelWithProjection)
    return clip, None


def _unet(arch: ModelArchitecture, tiny: bool, context_dim: int, pooled_dim: int) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    config = dict(bundled_config(arch.family, "unet"))
    config["in_channels"] = IN_CHANNELS[arch.variant]
    if tiny:
        levels = len(TINY_CHANNELS)
        down = config["down_block_types"][-levels:] if arch.is_sdxl else config["down_block_types"][:levels]
        if not any("CrossAttn" in t for t in down):
            down = ["DownBlock2D", "CrossAttnDownBlock2D"]
        config.update(
            block_out_channels=TINY_CHANNELS,
            layers_per_block=1,
            down_block_types=down,
            up_block_types=[t.replace("Down", "Up") for t in reversed(down)],
            cross_attention_dim=context_dim,
        )
        if isinstance(config["attention_head_dim"], list):
            config["attention_head_dim"] = [1] * levels
        if isinstance(config.get("transformer_layers_per_block"), list):
            config["transformer_layers_per_block"] = [1, 2]
        elif "transformer_layers_per_block" in config:
            config["transformer_layers_per_block"] = 1
        if arch.is_sdxl:
            config["projection_class_embeddings_input_dim"] = pooled_dim + 256 * SDXL_TIME_IDS[arch.family]
    return UNet2DConditionModel.from_config(config)


def _vae(arch: ModelArchitecture, tiny: bool) -> torch.nn.Module:
    from diffusers import AutoencoderKL

    config = dict(bundled_config(arch.family, "vae"))
    if tiny:
        levels = len(TINY_VAE_CHANNELS)
        config.update(block_out_channels=TINY_VAE_CHANNELS, layers_per_block=1,
                      down_block_types=["DownEncoderBlock2D"] * levels, up_block_types=["UpDecoderBlock2D"] * levels)
    return AutoencoderKL.from_config(config)


def build_modules(arch: ModelArchitecture, tiny: bool = True, seed: int = 0) -> dict[str, torch.nn.Module | None]:
    torch.manual_seed(seed)
    clip, open_clip = _text_encoders(arch, tiny)
    hidden = [te.config.hidden_size for te in (clip, open_clip) if te is not None]
    pooled = open_clip.config.projection_dim if open_clip is not None else 0
    unet = _unet(arch, tiny, context_dim=sum(hidden), pooled_dim=pooled)
    return {"unet": unet, "vae": _vae(arch, tiny), "text_encoder": clip, "text_encoder_2": open_clip}


def write_checkpoint(path: Path, arch: ModelArchitecture, tiny: bool = True, seed: int = 0,
                     metadata: dict[str, str] | None = None) -> dict[str, torch.nn.Module | None]:
    """Save a random-weight single-file checkpoint; returns the modules it was made from."""
    import safetensors.torch

    modules = build_modules(arch, tiny, seed)
    state = ldm_state_dict(modules["unet"], modules["vae"], modules["text_encoder"], modules["text_encoder_2"],
                           family=arch.family)
    if arch.prediction_type == "v_prediction":
        state["v_pred"] = torch.tensor([])  # the marker ComfyUI and others write into v-model files
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=metadata)
    return modules
