"""Typed generation parameters with A1111's field names and defaults, validated up front.

Every face (UI, API, scripts) builds one of these; `validate()` names the bad field in a
`ParamsError` so the user sees what to fix before any work is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from PIL import Image

from modules import sampling
from modules.processing import face_restore

MAX_SIDE = 2048
MAX_BATCH_SIZE = 8
MAX_BATCH_COUNT = 100
MAX_STEPS = 150
RESIZE_MODES = {0: "Just resize", 1: "Crop and resize", 2: "Resize and fill", 3: "Just resize (latent upscale)"}
INPAINTING_FILL = {0: "fill", 1: "original", 2: "latent noise", 3: "latent nothing"}


class ParamsError(ValueError):
    """Bad generation parameters; the message names the field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class UnknownNameError(ParamsError):
    """A field names something that is not installed (sampler, checkpoint, VAE, style, script…);
    the API answers 404 for it, as A1111 does for an unknown sampler."""


@dataclass
class GenerationParams:
    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = field(default_factory=list)
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    eta: float | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    override_settings: dict[str, Any] = field(default_factory=dict)
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None

    def validate(self) -> "GenerationParams":
        _check_int(self, "steps", 1, MAX_STEPS)
        _check_int(self, "batch_size", 1, MAX_BATCH_SIZE)
        _check_int(self, "n_iter", 1, MAX_BATCH_COUNT)
        for side in ("width", "height"):
            _check_int(self, side, 64, MAX_SIDE)
            if getattr(self, side) % 8:
                raise ParamsError(side, f"must be a multiple of 8, got {getattr(self, side)}")
        _check_number(self, "cfg_scale", 0.0, 100.0)
        _check_number(self, "subseed_strength", 0.0, 1.0)
        for name in ("seed", "subseed", "seed_resize_from_h", "seed_resize_from_w"):
            _check_int(self, name, -1, 2**32 - 1)
        try:
            sampling.resolve_sampler_and_schedule(self.sampler_name, self.scheduler)
        except ValueError as e:
            raise UnknownNameError("sampler_name" if "sampler" in str(e).lower() else "scheduler", str(e)) from None
        if self.restore_faces and not face_restore.face_restorer_names():  # which one: checked at queue time
            raise ParamsError("restore_faces", "no face restoration model is installed: put a GFPGAN, CodeFormer "
                                               "or RestoreFormer model in models/GFPGAN, models/Codeformer "
                                               "or models/RestoreFormer")
        if self.refiner_switch_at is not None:
            _check_number(self, "refiner_switch_at", 0.0, 1.0)
        for name in ("prompt", "negative_prompt"):
            if not isinstance(getattr(self, name), str):
                raise ParamsError(name, "must be text")
        return self

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass
class Txt2ImgParams(GenerationParams):
    kind: ClassVar[str] = "txt2img"
    enable_hr: bool = False
    denoising_strength: float = 0.7
    hr_scale: float = 2.0
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""

    def validate(self) -> "Txt2ImgParams":
        super().validate()
        if self.enable_hr:
            _check_number(self, "denoising_strength", 0.0, 1.0)
            _check_number(self, "hr_scale", 1.0, 4.0)
            _check_int(self, "hr_second_pass_steps", 0, MAX_STEPS)
            for side in ("hr_resize_x", "hr_resize_y"):
                _check_int(self, side, 0, MAX_SIDE * 2)
            from modules.processing.hires import plan_hires  # local: hires imports this module

            plan_hires(self, *sampling.resolve_sampler_and_schedule(self.sampler_name, self.scheduler))
        return self


@dataclass
class Img2ImgParams(GenerationParams):
    kind: ClassVar[str] = "img2img"
    init_images: list[Image.Image] = field(default_factory=list)
    resize_mode: int = 0
    denoising_strength: float = 0.75
    image_cfg_scale: float | None = None
    mask: Image.Image | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int | None = None
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float = 1.0

    def validate(self) -> "Img2ImgParams":
        super().validate()
        if not self.init_images:
            raise ParamsError("init_images", "img2img needs at least one input image")
        if not all(isinstance(im, Image.Image) for im in self.init_images):
            raise ParamsError("init_images", "every entry must be an image")
        if self.resize_mode not in RESIZE_MODES:
            raise ParamsError("resize_mode", f"must be one of {sorted(RESIZE_MODES)} ({RESIZE_MODES})")
        if self.inpainting_fill not in INPAINTING_FILL:
            raise ParamsError("inpainting_fill", f"must be one of {sorted(INPAINTING_FILL)} ({INPAINTING_FILL})")
        _check_number(self, "denoising_strength", 0.0, 1.0)
        _check_int(self, "inpaint_full_res_padding", 0, 256)
        if self.mask_blur is not None:
            _check_int(self, "mask_blur", 0, 64)
            self.mask_blur_x = self.mask_blur_y = self.mask_blur
        _check_int(self, "mask_blur_x", 0, 64)
        _check_int(self, "mask_blur_y", 0, 64)
        if self.mask is not None and not isinstance(self.mask, Image.Image):
            raise ParamsError("mask", "must be an image")
        if self.image_cfg_scale is not None:
            _check_number(self, "image_cfg_scale", 0.0, 100.0)
        return self


def _check_int(params: Any, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ParamsError(name, f"must be between {low} and {high}, got {value}")


def _check_number(params: Any, name: str, low: float, high: float) -> None:
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise ParamsError(name, f"must be between {low} and {high}, got {value}")
