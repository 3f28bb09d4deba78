"""The infotext of one generated image, in A1111's format (fields from modules.images)."""

from __future__ import annotations

from typing import Any

from modules import images
from modules.version import VERSION


def create_infotext(params, model, settings: dict[str, Any], result, index: int, sampler, schedule,
                    **fields_override: Any) -> str:
    """`fields_override`: `images.standard_fields` arguments the pipeline adds (hires fix, refiner)."""
    variation = params.subseed_strength > 0
    resize = (params.seed_resize_from_w, params.seed_resize_from_h)
    values: dict[str, Any] = dict(
        steps=params.steps,
        sampler=sampler.name,
        schedule_type=schedule.label if params.scheduler.lower() != "automatic" else None,
        cfg_scale=_plain_number(params.cfg_scale),
        image_cfg_scale=getattr(params, "image_cfg_scale", None) if model.arch.variant == "instruct-pix2pix" else None,
        seed=result.seeds[index],
        width=params.width,
        height=params.height,
        model_hash=model.info.shorthash,
        model_name=model.info.model_name,
        vae_name=None if model.vae_source == "built-in" else model.vae_source.rsplit("/", 1)[-1],
        variation_seed=result.subseeds[index] if variation else None,
        variation_seed_strength=params.subseed_strength,
        seed_resize_from=resize if min(resize) > 0 else None,
        denoising_strength=getattr(params, "denoising_strength", None) if params.kind == "img2img" else None,
        clip_skip=settings.get("CLIP_stop_at_last_layers", 1),
        ensd=settings.get("eta_noise_seed_delta", 0) if sampler.uses_ensd else 0,
        rng="CPU",
        tiling=bool(params.tiling),
        version=VERSION,
    )
    mask_fields = inpaint_fields(params)
    if mask_fields:
        fields_override["extra"] = {**mask_fields, **fields_override.get("extra", {})}
    fields = images.standard_fields(**{**values, **fields_override})
    return images.build_infotext(result.prompts[index], result.negative_prompts[index], fields)


def inpaint_fields(params) -> dict[str, Any]:
    """A1111's inpainting keys, so pasting the infotext restores the mask settings."""
    if getattr(params, "mask", None) is None:
        return {}
    from modules.processing.params import INPAINTING_FILL

    fields: dict[str, Any] = {"Mask blur": max(params.mask_blur_x, params.mask_blur_y)}
    if params.inpainting_mask_invert:
        fields["Mask mode"] = "Inpaint not masked"
    if params.inpainting_fill != 1:
        fields["Masked content"] = INPAINTING_FILL[params.inpainting_fill]
    if params.inpaint_full_res:
        fields["Inpaint area"] = "Only masked"
        fields["Masked area padding"] = params.inpaint_full_res_padding
    return fields


def _plain_number(value: float) -> float | int:
    """7.0 is written "7", as A1111's UI writes it."""
    return int(value) if float(value).is_integer() else value
