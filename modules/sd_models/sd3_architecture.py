"""Tell SD3 Medium, SD3.5 Large and SD3.5 Medium (MMDiT) apart by their keys.

SD3.5 added RMS qk-norm (`ln_q`) to every attention; SD3.5 Medium also has a second
self-attention (`x_block.attn2`) in its first blocks. Sizes are read later from the tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from modules.sd_models.safe_load import CheckpointLoadError

MMDIT_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "text_encoders.clip_l.transformer."
CLIP_G_PREFIX = "text_encoders.clip_g.transformer."
T5_PREFIX = "text_encoders.t5xxl.transformer."
TRANSFORMER_CONFIG = {"3 Medium": "transformer", "3.5 Large": "transformer_sd35_large",
                      "3.5 Medium": "transformer_sd35_medium"}


def joint_block_count(shapes: Mapping[str, tuple[int, ...]], prefix: str = MMDIT_PREFIX) -> int:
    pattern = re.compile(re.escape(prefix) + r"joint_blocks\.(\d+)\.")
    return len({m[1] for k in shapes if (m := pattern.match(k))})


def sd3_release(shapes: Mapping[str, tuple[int, ...]]) -> str:
    has_qk_norm = any(".attn.ln_q." in k for k in shapes)
    has_dual_attention = any(".x_block.attn2." in k for k in shapes)
    if has_qk_norm and has_dual_attention:
        return "3.5 Medium"
    return "3.5 Large" if has_qk_norm else "3 Medium"


def detect_sd3(shapes: Mapping[str, tuple[int, ...]], filename: str):
    from modules.sd_models.architecture import ModelArchitecture, UnsupportedModelError

    if MMDIT_PREFIX + "x_embedder.proj.weight" not in shapes:
        raise UnsupportedModelError(
            f"{filename}: an SD3 MMDiT without the single-file layout (no {MMDIT_PREFIX}x_embedder); "
            "use the checkpoint with its VAE (e.g. sd3.5_large.safetensors), not a bare transformer")
    if not any(k.startswith(VAE_PREFIX) for k in shapes):
        raise UnsupportedModelError(f"{filename}: SD3 checkpoint without its VAE ({VAE_PREFIX}*)")
    return ModelArchitecture("sd3", prediction_type="flow", release=sd3_release(shapes))


class MissingTextEncoderError(CheckpointLoadError):
    """An SD3 checkpoint whose CLIP-L/CLIP-G weights are neither inside nor beside it."""
