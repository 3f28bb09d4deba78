"""External VAE files (models/VAE), swapped into a loaded model without reloading it.

Choices as in A1111's `sd_vae` setting: "Automatic" (a VAE named like the checkpoint,
else the built-in one), "None" (the checkpoint's own VAE), or a file name.
"""

from __future__ import annotations

from pathlib import Path

import torch

from modules.sd_models.safe_load import WEIGHT_SUFFIXES, CheckpointLoadError, load_state_dict

AUTOMATIC = "Automatic"
BUILT_IN = "None"
LDM_VAE_PREFIXES = ("first_stage_model.", "vae.")


def scan_vaes(vae_dir: Path, checkpoint_dirs: list[Path]) -> dict[str, Path]:
    """VAE name (as shown in the dropdown) → file; `*.vae.*` files beside checkpoints count too."""
    found: dict[str, Path] = {}
    if vae_dir.is_dir():
        for path in sorted(vae_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES:
                found[path.relative_to(vae_dir).as_posix()] = path
    for root in checkpoint_dirs:
        if root.is_dir():
            for path in sorted(root.rglob("*.vae.*")):
                if path.suffix.lower() in WEIGHT_SUFFIXES:
                    found.setdefault(path.name, path)
    return found


def automatic_vae_for(checkpoint: Path, vaes: dict[str, Path]) -> Path | None:
    """A1111's rule: `model.vae.safetensors` beside `model.safetensors`, or `model.*` in models/VAE."""
    stem = checkpoint.name.rsplit(".", 1)[0]
    for path in vaes.values():
        name = path.name.rsplit(".", 1)[0]
        if name in (f"{stem}.vae", stem) and path != checkpoint:
            return path
    return None


def vae_state_for_diffusers(path: Path, vae: torch.nn.Module, allow_unsafe: bool) -> dict[str, torch.Tensor]:
    """Weights of a VAE file (LDM or diffusers key layout) in the loaded AutoencoderKL's layout."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    state, _ = load_state_dict(path, allow_unsafe=allow_unsafe)
    expected = vae.state_dict()
    if not any(".down_blocks." in k for k in state):  # LDM layout (bare, or with a checkpoint prefix)
        state = {k: v for k, v in state.items() if not k.startswith("model_ema.")}
        state = convert_ldm_vae_checkpoint(state, dict(vae.config))
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or wrong:
        raise CheckpointLoadError(
            f"{path.name}: not a VAE for this model "
            f"({'missing ' + missing[0] if missing else 'shape mismatch at ' + wrong[0]})")
    return {k: state[k] for k in expected}


def assign_vae_weights(vae: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, tensor in vae.state_dict().items():
            tensor.copy_(state[name])
