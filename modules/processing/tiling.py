"""Seamless tiling: every convolution pads circularly, so opposite edges of the image meet."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from modules.sd_models.loader import LoadedModel


@contextlib.contextmanager
def seamless(model: LoadedModel, enabled: bool) -> Iterator[None]:
    """Circular padding in the UNet and VAE for the body; the original modes come back after."""
    if not enabled:
        yield
        return
    convs = [m for module in (model.unet, model.vae) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    original = [conv.padding_mode for conv in convs]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convs, original):
            conv.padding_mode = mode
