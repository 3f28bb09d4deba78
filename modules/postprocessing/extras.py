"""Extras: upscale (by a factor or to a size), blend a second upscaler, restore faces (A1111).

The steps run in A1111's order (its postprocessing scripts' `order`): upscale, GFPGAN,
CodeFormer. Each step adds its fields to the image's postprocessing infotext with A1111's
keys ("Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+, GFPGAN visibility: 1").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from modules.images import quote
from modules.processing import ParamsError, face_restore
from modules.processing.upscalers import is_latent_mode, upscale_image, upscaler_names

NO_UPSCALER = "None"  # A1111: upscaler_1 "None" leaves the size alone


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
        for field_name in ("extras_upscaler_2_visibility", "gfpgan_visibility", "codeformer_visibility",
                           "codeformer_weight"):
            if not 0.0 <= getattr(self, field_name) <= 1.0:
                raise ParamsError(field_name, f"must be between 0 and 1, got {getattr(self, field_name)}")
        for field_name, restorer in (("gfpgan_visibility", "GFPGAN"), ("codeformer_visibility", "CodeFormer")):
            if getattr(self, field_name) > 0:
                try:
                    face_restore.get_face_restorer(restorer).check()
                except ValueError as e:
                    raise ParamsError(field_name, str(e)) from None
        return self

    def scale_for(self, width: int, height: int) -> float:
        if self.resize_mode == 1:
            return max(self.upscaling_resize_w / width, self.upscaling_resize_h / height)
        return self.upscaling_resize

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The final size: scaled, or the requested size (exactly, with crop to fit)."""
        if self.resize_mode == 1 and self.upscaling_crop:
            return self.upscaling_resize_w, self.upscaling_resize_h
        scale = self.scale_for(width, height)
        return round(width * scale), round(height * scale)


def run_extras(image: Image.Image, params: ExtrasParams) -> tuple[Image.Image, dict[str, Any]]:
    """(processed image, A1111's postprocessing fields in order)."""
    image = image.convert("RGB")
    info: dict[str, Any] = {}
    image = _upscale(image, params, info)
    if params.gfpgan_visibility > 0:
        image = _restore(image, "GFPGAN", params.gfpgan_visibility, None)
        info["GFPGAN visibility"] = round(params.gfpgan_visibility, 3)
    if params.codeformer_visibility > 0:
        image = _restore(image, "CodeFormer", params.codeformer_visibility, params.codeformer_weight)
        info["CodeFormer visibility"] = round(params.codeformer_visibility, 3)
        info["CodeFormer weight"] = round(params.codeformer_weight, 3)
    return image, info


def _upscale(image: Image.Image, params: ExtrasParams, info: dict[str, Any]) -> Image.Image:
    if params.upscaler_1 == NO_UPSCALER:
        return image
    scale = params.scale_for(*image.size)
    scaled = (round(image.width * scale), round(image.height * scale))
    if params.resize_mode == 1:
        info["Postprocess upscale to"] = f"{params.upscaling_resize_w}x{params.upscaling_resize_h}"
    else:
        by = params.upscaling_resize
        info["Postprocess upscale by"] = int(by) if float(by).is_integer() else by  # "2", as A1111's UI writes it
    result = upscale_image(image, params.upscaler_1, *scaled)
    if params.upscaler_2 != NO_UPSCALER and params.extras_upscaler_2_visibility > 0:
        second = upscale_image(image, params.upscaler_2, *scaled)
        result = Image.blend(result, second, params.extras_upscaler_2_visibility)
    if params.resize_mode == 1 and params.upscaling_crop:
        target = (params.upscaling_resize_w, params.upscaling_resize_h)
        left, top = (result.width - target[0]) // 2, (result.height - target[1]) // 2
        result = result.crop((left, top, left + target[0], top + target[1]))  # centred, as A1111 pastes it
        info["Postprocess crop to"] = f"{target[0]}x{target[1]}"
    info["Postprocess upscaler"] = params.upscaler_1
    if params.upscaler_2 != NO_UPSCALER and params.extras_upscaler_2_visibility > 0:
        info["Postprocess upscaler 2"] = params.upscaler_2
    return result


def _restore(image: Image.Image, name: str, visibility: float, weight: float | None) -> Image.Image:
    restored = face_restore.get_face_restorer(name).restore(image, weight=weight)
    return restored if visibility >= 1.0 else Image.blend(image, restored, visibility)


def postprocessing_infotext(info: dict[str, Any]) -> str:
    """A1111's `k: v, ...` line (a key equal to its value stands alone)."""
    return ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in info.items() if v is not None)
