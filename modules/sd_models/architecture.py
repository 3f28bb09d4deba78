"""Tell which Stable Diffusion architecture a single-file checkpoint holds.

Detection reads only key names and tensor shapes (for .safetensors: the header alone),
so listing and refusing unsupported files costs no tensor reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modules.sd_models.safe_load import CheckpointLoadError

UNET = "model.diffusion_model."
FAMILY_LABELS = {"sd1": "SD1.x", "sd2": "SD2.x", "sdxl": "SDXL", "sdxl_refiner": "SDXL refiner", "sd3": "SD3"}
VARIANT_BY_IN_CHANNELS = {4: "base", 9: "inpaint", 8: "instruct-pix2pix"}

# Keys that only one architecture has.
SD3_KEYS = ("model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias",
            "joint_blocks.0.context_block.adaLN_modulation.1.bias")
FLUX_KEYS = ("model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale",
             "double_blocks.0.img_attn.norm.key_norm.scale")
SDXL_CLIP_L = "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
SDXL_OPEN_CLIP_G = "conditioner.embedders.1.model.token_embedding.weight"
REFINER_OPEN_CLIP_G = "conditioner.embedders.0.model.token_embedding.weight"
SD2_OPEN_CLIP = "cond_stage_model.model.token_embedding.weight"
SD1_CLIP = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
UNET_IN = UNET + "input_blocks.0.0.weight"


class UnsupportedModelError(CheckpointLoadError):
    """A readable file holding a model Easel cannot run (yet)."""


@dataclass(frozen=True)
class ModelArchitecture:
    family: str  # sd1 | sd2 | sdxl | sdxl_refiner | sd3
    variant: str = "base"  # base | inpaint | instruct-pix2pix
    prediction_type: str = "epsilon"  # epsilon | v_prediction | flow (SD3's rectified flow)
    release: str = ""  # sd3 only: "3 Medium" | "3.5 Large" | "3.5 Medium"

    @property
    def is_sdxl(self) -> bool:
        return self.family in ("sdxl", "sdxl_refiner")

    @property
    def is_sd3(self) -> bool:
        return self.family == "sd3"

    @property
    def label(self) -> str:
        parts = [f"SD{self.release}" if self.is_sd3 and self.release else FAMILY_LABELS[self.family]]
        if self.variant != "base":
            parts.append(self.variant)
        if self.prediction_type == "v_prediction":
            parts.append("v-prediction")
        return " ".join(parts)


def detect_architecture(
    shapes: Mapping[str, tuple[int, ...]],
    metadata: Mapping[str, str] | None = None,
    yaml_config: Mapping[str, Any] | None = None,
    filename: str = "checkpoint",
) -> ModelArchitecture:
    """Architecture from key names and shapes; a yaml config beside the file has the last word."""
    if any(k in shapes for k in SD3_KEYS):
        from modules.sd_models.sd3_architecture import detect_sd3

        return detect_sd3(shapes, filename)
    if any(k in shapes for k in FLUX_KEYS):
        raise UnsupportedModelError(f"{filename}: FLUX checkpoints are not supported")
    if UNET_IN not in shapes:
        raise UnsupportedModelError(
            f"{filename}: no Stable Diffusion UNet found (missing {UNET_IN!r}); is it a LoRA, VAE or embedding?")

    if SDXL_OPEN_CLIP_G in shapes and SDXL_CLIP_L in shapes:
        family = "sdxl"
    elif REFINER_OPEN_CLIP_G in shapes:
        family = "sdxl_refiner"
    elif SD2_OPEN_CLIP in shapes:
        family = "sd2"
    elif SD1_CLIP in shapes:
        family = "sd1"
    else:
        raise UnsupportedModelError(f"{filename}: no text encoder of a known Stable Diffusion family found")

    in_channels = shapes[UNET_IN][1]
    variant = VARIANT_BY_IN_CHANNELS.get(in_channels)
    if variant is None:
        raise UnsupportedModelError(f"{filename}: UNet with {in_channels} input channels is not a known variant")

    prediction = _prediction_from_markers(shapes, metadata or {})
    if yaml_config is not None:
        params = yaml_config.get("model", {}).get("params", {})
        prediction = "v_prediction" if params.get("parameterization") == "v" else "epsilon"
    return ModelArchitecture(family, variant, prediction or "epsilon")


def _prediction_from_markers(shapes: Mapping[str, Any], metadata: Mapping[str, str]) -> str | None:
    """v-prediction markers that checkpoints carry: a `v_pred` key, or SAI ModelSpec metadata."""
    if "v_pred" in shapes or "edm_vpred.sigma_max" in shapes:
        return "v_prediction"
    spec = metadata.get("modelspec.prediction_type", "").lower()
    if spec in ("v", "v_prediction", "v-prediction"):
        return "v_prediction"
    if spec in ("epsilon", "eps"):
        return "epsilon"
    if metadata.get("modelspec.architecture", "").endswith("-v"):
        return "v_prediction"
    return None


def needs_behavioural_v_check(arch: ModelArchitecture, shapes: Mapping[str, Any],
                              metadata: Mapping[str, str], has_yaml: bool) -> bool:
    """SD2 files without any marker: 768-v and 512-base share one layout; ask the UNet."""
    return arch.family == "sd2" and not has_yaml and _prediction_from_markers(shapes, metadata) is None
