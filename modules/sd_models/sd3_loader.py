"""Load an SD3 / SD3.5 single file into a LoadedModel.

Text encoders come from the checkpoint (`text_encoders.clip_l|clip_g|t5xxl.*`) or, when it
has none, from separate files as Forge/ComfyUI keep them: `clip_l*.safetensors`,
`clip_g*.safetensors`, `t5xxl*.safetensors` beside the checkpoint or in `models/text_encoder`.
T5-XXL is optional (`--sd3-no-t5` skips it); it needs T5's `tokenizer.json` in a
`t5_tokenizer/` folder there, since no T5 tokenizer ships with Easel.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from modules.sd_models.safe_load import CheckpointLoadError, load_state_dict
from modules.sd_models.sd3_architecture import (CLIP_G_PREFIX, CLIP_L_PREFIX, MMDIT_PREFIX, T5_PREFIX,
                                                MissingTextEncoderError)

log = logging.getLogger(__name__)
SEPARATE_FILES = {CLIP_L_PREFIX: "clip_l", CLIP_G_PREFIX: "clip_g", T5_PREFIX: "t5xxl"}
T5_TOKENIZER = Path("t5_tokenizer") / "tokenizer.json"


def text_encoder_dirs(checkpoint: Path) -> list[Path]:
    """Beside the checkpoint, then A1111's models/text_encoder next to models/Stable-diffusion."""
    return [checkpoint.parent, checkpoint.parent.parent / "text_encoder"]


def _separate_file(dirs: list[Path], stem: str) -> Path | None:
    for folder in dirs:
        found = sorted(folder.glob(f"{stem}*.safetensors")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def add_separate_text_encoders(state: dict[str, torch.Tensor], checkpoint: Path, load_t5: bool,
                               allow_unsafe: bool = False) -> None:
    """Fill in the text encoders the checkpoint lacks from separate files (their keys get the
    single-file prefix); CLIP-L and CLIP-G are required, T5 is not."""
    dirs = text_encoder_dirs(checkpoint)
    for prefix, stem in SEPARATE_FILES.items():
        if any(k.startswith(prefix) for k in state) or (prefix == T5_PREFIX and not load_t5):
            continue
        path = _separate_file(dirs, stem)
        if path is None:
            if prefix != T5_PREFIX:
                raise MissingTextEncoderError(
                    f"{checkpoint.name}: SD3 checkpoint without {stem}; put {stem}.safetensors in "
                    f"{dirs[1]} (or use a checkpoint that includes the text encoders)")
            continue
        separate, _ = load_state_dict(path, allow_unsafe=allow_unsafe)
        state.update({prefix + k: v for k, v in separate.items()})


def find_t5_tokenizer(checkpoint: Path) -> Path | None:
    from modules.paths import CONFIGS_DIR

    for folder in [CONFIGS_DIR / "sd3", *text_encoder_dirs(checkpoint)]:
        if (folder / T5_TOKENIZER).is_file():
            return folder / T5_TOKENIZER
    return None


def build_sd3(state: dict[str, torch.Tensor], arch, checkpoint: Path, load_t5: bool) -> dict[str, Any]:
    """transformer, vae, text encoders [CLIP-L, CLIP-G, (T5)] and their tokenizers."""
    from modules.sd_models import sd3_components as c
    from modules.sd_models.loader import load_tokenizers

    shapes = {k: tuple(v.shape) for k, v in state.items()}
    transformer = c.build_transformer(state, c.transformer_config(shapes, arch.release))
    vae = c.build_vae(state, c.vae_config(shapes))
    encoders = [c.build_clip(state, CLIP_L_PREFIX, "clip_l"), c.build_clip(state, CLIP_G_PREFIX, "clip_g")]
    tokenizers = load_tokenizers(arch)
    if load_t5 and any(k.startswith(T5_PREFIX) for k in state):
        tokenizer_path = find_t5_tokenizer(checkpoint)
        if tokenizer_path is None:
            log.warning("%s: T5-XXL weights found but no T5 tokenizer; running without T5. Put T5's "
                        "tokenizer.json at %s to use it", checkpoint.name,
                        text_encoder_dirs(checkpoint)[1] / T5_TOKENIZER)
        else:
            encoders.append(c.build_t5({k: v for k, v in state.items() if k.startswith(T5_PREFIX)}))
            tokenizers.append(c.load_t5_tokenizer(tokenizer_path))
    del state
    return {"unet": transformer, "vae": vae, "text_encoders": encoders, "tokenizers": tokenizers}


def check_complete(state: dict[str, torch.Tensor], filename: str) -> None:
    if not any(k.startswith(MMDIT_PREFIX) for k in state):
        raise CheckpointLoadError(f"{filename}: no SD3 MMDiT weights")
