"""Hires fix for txt2img (A1111's `enable_hr`): the target size, the upscale between the
passes, and the second pass's sampler, steps and infotext fields.

    first pass at width x height → upscale (latent mode or pixel upscaler) to the target
    → crop to the requested aspect → img2img-style second pass with denoising_strength
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modules import sampling
from modules.processing import latents as latent_ops
from modules.processing import upscalers
from modules.processing.params import ParamsError, Txt2ImgParams, UnknownNameError
from modules.sampling import SamplerSpec, ScheduleSpec
from modules.sd_models.loader import LoadedModel

SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"
SAME_CHECKPOINT = "Use same checkpoint"
MIN_TARGET_SIDE = 64


@dataclass(frozen=True)
class HiresTarget:
    """A1111's hr_upscale_to_x/y and truncate_x/y (the crop is in latent cells)."""

    width: int
    height: int
    truncate_x: int = 0
    truncate_y: int = 0


def hires_target(width: int, height: int, scale: float, resize_x: int = 0, resize_y: int = 0,
                 downscale: int = 8) -> HiresTarget:
    """Where the first pass is upscaled to: by `scale`, or to resize_x x resize_y. One side 0
    keeps the aspect; both set: upscale to cover that size, then crop the overhang (A1111)."""
    if resize_x == 0 and resize_y == 0:
        return HiresTarget(int(width * scale), int(height * scale))
    if resize_y == 0:
        return HiresTarget(resize_x, resize_x * height // width)
    if resize_x == 0:
        return HiresTarget(resize_y * width // height, resize_y)
    if width / height < resize_x / resize_y:
        cover = (resize_x, resize_x * height // width)
    else:
        cover = (resize_y * width // height, resize_y)
    return HiresTarget(*cover, (cover[0] - resize_x) // downscale, (cover[1] - resize_y) // downscale)


@dataclass(frozen=True)
class HiresPlan:
    target: HiresTarget
    upscaler: str
    sampler: SamplerSpec
    schedule: ScheduleSpec
    steps: int  # of the second pass's full schedule (hr_second_pass_steps, or steps when 0)
    denoising_strength: float

    @property
    def steps_run(self) -> int:
        """Sampler steps the second pass runs (A1111's img2img share of `steps`)."""
        if self.denoising_strength == 0:
            return 0
        return sampling.img2img_steps(self.steps, self.denoising_strength)[1] + 1

    def sigmas(self, model_sigmas: sampling.DiscreteSigmas) -> torch.Tensor:
        return sampling.sigmas_for_denoise(self.sampler, self.steps, self.denoising_strength, self.schedule,
                                           model_sigmas=model_sigmas)


def plan_hires(params: Txt2ImgParams, sampler: SamplerSpec, schedule: ScheduleSpec,
               downscale: int = 8) -> HiresPlan:
    """The second pass of a txt2img request with enable_hr; ParamsError names the bad field."""
    if params.hr_checkpoint_name not in (None, "", SAME_CHECKPOINT):
        raise ParamsError("hr_checkpoint_name", f"a separate hires checkpoint ({params.hr_checkpoint_name!r}) "
                                                f"is not supported yet; use {SAME_CHECKPOINT!r}")
    try:
        upscalers.check_upscaler(params.hr_upscaler)
    except ValueError as e:
        raise UnknownNameError("hr_upscaler", str(e)) from None
    hr_sampler = sampler if params.hr_sampler_name in (None, "", SAME_SAMPLER) else params.hr_sampler_name
    hr_schedule = schedule if params.hr_scheduler in (None, "", SAME_SCHEDULER) else params.hr_scheduler
    try:
        hr_sampler, hr_schedule = sampling.resolve_sampler_and_schedule(hr_sampler, hr_schedule)
    except ValueError as e:
        raise UnknownNameError("hr_sampler_name" if "sampler" in str(e).lower() else "hr_scheduler", str(e)) from None
    target = hires_target(params.width, params.height, params.hr_scale, params.hr_resize_x, params.hr_resize_y,
                          downscale)
    out_width = (target.width // downscale - target.truncate_x) * downscale
    out_height = (target.height // downscale - target.truncate_y) * downscale
    if min(out_width, out_height) < MIN_TARGET_SIDE:
        field = "hr_scale" if params.hr_resize_x == params.hr_resize_y == 0 else "hr_resize_x"
        raise ParamsError(field, f"the hires size would be {out_width}x{out_height}; "
                                 f"each side must be at least {MIN_TARGET_SIDE}")
    return HiresPlan(target, params.hr_upscaler, hr_sampler, hr_schedule, params.hr_second_pass_steps or params.steps,
                     params.denoising_strength)


def upscale_between_passes(plan: HiresPlan, latent: torch.Tensor, first_model: LoadedModel,
                           model: LoadedModel) -> torch.Tensor:
    """First-pass latents → the second pass's start latents (before noise), cropped to the target.

    Pixel upscalers decode with the model that finished the first pass (the refiner, if it
    took over) and encode with the model of the second pass."""
    down = model.latent_downscale
    cells_h, cells_w = plan.target.height // down, plan.target.width // down
    if upscalers.is_latent_mode(plan.upscaler):
        upscaled = upscalers.upscale_latent(latent, plan.upscaler, cells_h, cells_w)
    else:
        first_images = latent_ops.tensor_to_images(latent_ops.decode(first_model.vae, latent))
        # sized to whole latent cells, so both kinds of upscaler give the same output size
        resized = [upscalers.upscale_image(im, plan.upscaler, cells_w * down, cells_h * down) for im in first_images]
        upscaled = latent_ops.encode(model.vae, latent_ops.images_to_tensor(resized)).to(latent.device)
    tx, ty = plan.target.truncate_x, plan.target.truncate_y
    return upscaled[:, :, ty // 2:upscaled.shape[2] - (ty + 1) // 2, tx // 2:upscaled.shape[3] - (tx + 1) // 2]


def hires_infotext(plan: HiresPlan, params: Txt2ImgParams, sampler: SamplerSpec, schedule: ScheduleSpec,
                   prompts: tuple[str, str], hr_prompts: tuple[str, str]) -> dict[str, object]:
    """`images.standard_fields` keyword arguments for one image: A1111's hires fields.

    `prompts` / `hr_prompts` are (prompt, negative prompt) of the first and second pass;
    the hires ones, sampler and schedule type are written only when they differ."""
    resized = params.hr_resize_x != 0 or params.hr_resize_y != 0
    return {
        "denoising_strength": params.denoising_strength,
        "hires_sampler": plan.sampler.name if plan.sampler.name != sampler.name else None,
        "hires_prompt": hr_prompts[0] if hr_prompts[0] != prompts[0] else None,
        "hires_negative_prompt": hr_prompts[1] if hr_prompts[1] != prompts[1] else None,
        "hires_schedule_type": plan.schedule.label if plan.schedule.label != schedule.label else None,
        "hires_upscale": None if resized else _plain_number(params.hr_scale),
        "hires_resize": (params.hr_resize_x, params.hr_resize_y) if resized else None,
        "hires_steps": params.hr_second_pass_steps,
        "hires_upscaler": params.hr_upscaler,
    }


def _plain_number(value: float) -> float | int:
    """2.0 is written "2", as A1111's UI writes it."""
    return int(value) if float(value).is_integer() else value
