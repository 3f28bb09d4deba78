"""Upscalers by name, as A1111's hires fix lists them: latent interpolation modes, then pixel upscalers.

Latent modes resize the latent with torch's interpolate (A1111's `latent_upscale_modes`).
Pixel upscalers take a PIL image and a target size; the registry starts with A1111's
built-in "None", "Lanczos" and "Nearest", and the extras tab / ESRGAN models add theirs
with `register_upscaler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class LatentMode:
    mode: str  # torch.nn.functional.interpolate mode
    antialias: bool = False


LATENT_UPSCALE_MODES: dict[str, LatentMode] = {
    "Latent": LatentMode("bilinear"),
    "Latent (antialiased)": LatentMode("bilinear", antialias=True),
    "Latent (bicubic)": LatentMode("bicubic"),
    "Latent (bicubic antialiased)": LatentMode("bicubic", antialias=True),
    "Latent (nearest)": LatentMode("nearest"),
    "Latent (nearest-exact)": LatentMode("nearest-exact"),
}

# (image, width, height) -> image of (about) that size; `upscale_image` fixes the last pixels.
PixelUpscaler = Callable[[Image.Image, int, int], Image.Image]


def _pil_resize(resample: Image.Resampling) -> PixelUpscaler:
    return lambda image, width, height: image.resize((width, height), resample=resample)


# The registry: name -> pixel upscaler ("None" is a plain Lanczos resize, as in A1111).
_PIXEL_UPSCALERS: dict[str, PixelUpscaler] = {
    "None": _pil_resize(Image.Resampling.LANCZOS),
    "Lanczos": _pil_resize(Image.Resampling.LANCZOS),
    "Nearest": _pil_resize(Image.Resampling.NEAREST),
}
BUILTIN_PIXEL_UPSCALERS = tuple(_PIXEL_UPSCALERS)
_MODEL_UPSCALERS: dict[str, PixelUpscaler] = {}  # from model files, see set_model_upscalers


def register_upscaler(name: str, upscaler: PixelUpscaler, replace: bool = False) -> None:
    """Add a pixel upscaler (e.g. an ESRGAN model) under the name users pick in `hr_upscaler`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"upscaler name must be non-empty text, got {name!r}")
    if not callable(upscaler):
        raise ValueError(f"upscaler {name!r} must be callable (image, width, height) -> image")
    if name in LATENT_UPSCALE_MODES:
        raise ValueError(f"upscaler name {name!r} is a latent upscale mode")
    if name in _PIXEL_UPSCALERS and not replace:
        raise ValueError(f"upscaler {name!r} is already registered (pass replace=True to override)")
    _PIXEL_UPSCALERS[name] = upscaler


def unregister_upscaler(name: str) -> None:
    if name not in _PIXEL_UPSCALERS:
        raise ValueError(f"unknown upscaler {name!r}")
    del _PIXEL_UPSCALERS[name]


def set_model_upscalers(models: dict[str, PixelUpscaler]) -> None:
    """Replace the upscalers found in model files (modules.postprocessing re-scans models/):
    the whole group at once, so files that went away go too."""
    for name in models:
        if is_builtin(name):
            raise ValueError(f"upscaler name {name!r} is one of A1111's built-in names")
    _MODEL_UPSCALERS.clear()
    _MODEL_UPSCALERS.update(models)


def is_builtin(name: str) -> bool:
    """A1111's own names (latent modes, None, Lanczos, Nearest), which model files cannot take."""
    return name in LATENT_UPSCALE_MODES or name in BUILTIN_PIXEL_UPSCALERS


def upscaler_names() -> list[str]:
    """Every name `hr_upscaler` accepts, in A1111's dropdown order (latent modes first)."""
    return [*LATENT_UPSCALE_MODES, *_PIXEL_UPSCALERS, *(n for n in _MODEL_UPSCALERS if n not in _PIXEL_UPSCALERS)]


def is_latent_mode(name: str) -> bool:
    return name in LATENT_UPSCALE_MODES


def check_upscaler(name: str) -> None:
    if name not in upscaler_names():
        raise ValueError(f"unknown upscaler {name!r}; valid: {', '.join(upscaler_names())}")


def upscale_latent(latent: torch.Tensor, name: str, height: int, width: int) -> torch.Tensor:
    """Resize latents [B, C, h, w] to (height, width) cells with a latent mode."""
    mode = LATENT_UPSCALE_MODES.get(name)
    if mode is None:
        raise ValueError(f"{name!r} is not a latent upscale mode; valid: {', '.join(LATENT_UPSCALE_MODES)}")
    return F.interpolate(latent, size=(height, width), mode=mode.mode, antialias=mode.antialias)


def upscale_image(image: Image.Image, name: str, width: int, height: int) -> Image.Image:
    """Resize an RGB image to exactly (width, height) with a pixel upscaler."""
    upscaler = _PIXEL_UPSCALERS.get(name) or _MODEL_UPSCALERS.get(name)
    if upscaler is None:
        valid = [n for n in upscaler_names() if n not in LATENT_UPSCALE_MODES]
        raise ValueError(f"{name!r} is not a pixel upscaler; valid: {', '.join(valid)}")
    out = upscaler(image.convert("RGB"), width, height).convert("RGB")
    if out.size != (width, height):  # model upscalers scale by a fixed factor (A1111 then resizes the rest)
        out = out.resize((width, height), resample=Image.Resampling.LANCZOS)
    return out
