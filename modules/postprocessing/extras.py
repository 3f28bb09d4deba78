"""Extras: upscale images by a factor or to a size, with one or two upscalers blended (A1111)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

from modules.processing import ParamsError
from modules.processing.upscalers import is_latent_mode, upscale_image, upscaler_names


def pixel_upscaler_names() -> list[str]:
    return [name for name in upscaler_names() if not is_latent_mode(name)]


@dataclass
class ExtrasParams:
    resize_mode: int = 0  # 0: scale by upscaling_resize, 1: to upscaling_resize_w x upscaling_resize_h
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0

    def validate(self) -> "ExtrasParams":
        if self.resize_mode not in (0, 1):
            raise ParamsError("resize_mode", f"must be 0 (scale) or 1 (to size), got {self.resize_mode!r}")
        if not 1.0 <= self.upscaling_resize <= 8.0:
            raise ParamsError("upscaling_resize", f"must be between 1 and 8, got {self.upscaling_resize}")
        for side in ("upscaling_resize_w", "upscaling_resize_h"):
            if not 1 <= getattr(self, side) <= 8192:
                raise ParamsError(side, f"must be between 1 and 8192, got {getattr(self, side)}")
        for field_name in ("upscaler_1", "upscaler_2"):
            if getattr(self, field_name) not in pixel_upscaler_names():
                raise ParamsError(field_name, f"unknown upscaler {getattr(self, field_name)!r}; "
                                              f"valid: {', '.join(pixel_upscaler_names())}")
        if not 0.0 <= self.extras_upscaler_2_visibility <= 1.0:
            raise ParamsError("extras_upscaler_2_visibility", "must be between 0 and 1")
        for field_name in ("gfpgan_visibility", "codeformer_visibility"):
            if getattr(self, field_name) > 0:
                raise ParamsError(field_name, "no face restoration model is installed yet")
        return self

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        if self.resize_mode == 1:
            return self.upscaling_resize_w, self.upscaling_resize_h
        return round(width * self.upscaling_resize), round(height * self.upscaling_resize)


def run_extras(image: Image.Image, params: ExtrasParams) -> Image.Image:
    """Upscale with upscaler_1, blend in upscaler_2 by its visibility; crop to size if asked."""
    image = image.convert("RGB")
    width, height = params.target_size(*image.size)
    if params.resize_mode == 1 and params.upscaling_crop:
        scale = max(width / image.width, height / image.height)
        scaled = (round(image.width * scale), round(image.height * scale))
    else:
        scaled = (width, height)
    result = upscale_image(image, params.upscaler_1, *scaled)
    if params.upscaler_2 != "None" and params.extras_upscaler_2_visibility > 0:
        second = upscale_image(image, params.upscaler_2, *scaled)
        result = Image.blend(result, second, params.extras_upscaler_2_visibility)
    if result.size != (width, height):
        result = ImageOps.fit(result, (width, height), Image.Resampling.LANCZOS)
    return result
