"""The SDXL refiner switch (A1111's `refiner_checkpoint` / `refiner_switch_at`).

The base model denoises the first part of a pass; from the switch sigma on, the refiner
continues from the same latent with its own text encoder and conditioning (for the SDXL
refiner: aesthetic score). As in A1111, the switch point is judged by the noise level by
default: the first sigma whose model timestep t has (999 - t) / 1000 >= refiner_switch_at;
with the setting `refiner_switch_by_sample_steps` by the step count (step / steps >= switch_at).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import torch

from modules.processing.params import GenerationParams, ParamsError
from modules.sampling import DiscreteSigmas
from modules.sd_models.loader import LoadedModel

HIRES_REFINER_PASSES = ("first pass", "second pass", "both passes")  # A1111's hires_fix_refiner_pass
NO_REFINER = (None, "", "None", "none")


def check_refiner(params: GenerationParams, model: LoadedModel, refiner: LoadedModel | None) -> LoadedModel | None:
    """The refiner to use (None when there is none or it is the model itself); clear errors otherwise."""
    if refiner is None:
        if params.refiner_checkpoint not in NO_REFINER:
            raise ParamsError("refiner_checkpoint",
                              f"{params.refiner_checkpoint!r} was requested but no refiner model was loaded")
        return None
    if refiner is model or (refiner.info.sha256 and refiner.info.sha256 == model.info.sha256):
        return None  # A1111: switching to the checkpoint already in use does nothing
    in_channels, out_channels = refiner.unet.config.in_channels, refiner.unet.config.out_channels
    if in_channels != out_channels:
        raise ParamsError("refiner_checkpoint", f"{refiner.info.title} is an inpainting/instruct model "
                          f"({in_channels} input channels); a refiner must be a plain model")
    if out_channels != model.unet.config.out_channels or refiner.latent_downscale != model.latent_downscale:
        raise ParamsError("refiner_checkpoint", f"{refiner.info.title} ({refiner.arch.label}) works in another "
                          f"latent space than {model.info.title} ({model.arch.label})")
    return refiner


def refiner_passes(settings: dict[str, Any], hires: bool) -> tuple[bool, bool]:
    """(refine the first pass, refine the hires pass), from A1111's `hires_fix_refiner_pass`."""
    if not hires:
        return True, False
    choice = settings.get("hires_fix_refiner_pass", "second pass")
    if choice not in HIRES_REFINER_PASSES:
        raise ValueError(f"hires_fix_refiner_pass must be one of {HIRES_REFINER_PASSES}, got {choice!r}")
    return choice in ("first pass", "both passes"), choice in ("second pass", "both passes")


def switch_index(sigmas: torch.Tensor, model_sigmas: DiscreteSigmas, switch_at: float | None,
                 by_steps: bool = False) -> int:
    """Index of the first sigma the refiner denoises; len(sigmas) - 1 means it never takes over.

    ``switch_at`` None switches at once, as in A1111 (the refiner does the whole pass).
    """
    steps = len(sigmas) - 1
    if switch_at is None:
        return 0
    table = model_sigmas.sigmas
    for i in range(steps):
        if by_steps:
            done = i / steps
        else:
            timestep = int(torch.argmin((table - float(sigmas[i])).abs()))
            done = (len(table) - 1 - timestep) / len(table)
        if done >= switch_at:
            return i
    return steps


def short_title(model: LoadedModel) -> str:
    """A1111's checkpoint short title: file name without folder and extension, then [shorthash]."""
    stem = PurePosixPath(model.info.name).stem
    return f"{stem} [{model.info.shorthash}]" if model.info.shorthash else stem


def refiner_infotext(refiner: LoadedModel, params: GenerationParams, settings: dict[str, Any],
                     hires: bool) -> dict[str, object]:
    """The fields A1111 adds once the refiner has taken over (in its order)."""
    fields: dict[str, object] = {}
    if settings.get("refiner_switch_by_sample_steps", False):
        fields["Refiner switch by sampling steps"] = True
    if hires and settings.get("hires_fix_refiner_pass", "second pass") != "second pass":
        fields["Hires refiner"] = settings["hires_fix_refiner_pass"]
    fields["Refiner"] = short_title(refiner)
    fields["Refiner switch at"] = params.refiner_switch_at
    return fields
