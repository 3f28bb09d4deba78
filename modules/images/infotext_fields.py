"""The standard infotext fields, named and ordered as A1111's create_infotext writes them.

One place for the field names and their order, so the engine never spells them itself.
A field A1111 leaves out in a given case (clip skip 1, no variation seed, GPU RNG...)
comes out as None, which ``build_infotext`` skips.
"""

from __future__ import annotations

from collections.abc import Mapping


def _size_text(size: tuple[int, int] | None, name: str) -> str | None:
    """``WxH`` for a size, None when either side is <= 0 (A1111 writes nothing then)."""
    if size is None:
        return None
    if len(size) != 2:
        raise ValueError(f"{name} must be a (width, height) pair, got {size!r}")
    width, height = size
    if width <= 0 or height <= 0:
        return None
    return f"{width}x{height}"


def _hires_scale_fields(hires_upscale: float | None, hires_resize: tuple[int, int] | None) -> dict[str, object]:
    if hires_resize is not None and len(hires_resize) != 2:
        raise ValueError(f"hires_resize must be a (width, height) pair, got {hires_resize!r}")
    # A1111 writes "Hires resize" when either target side is set, else "Hires upscale".
    resize_set = hires_resize is not None and (hires_resize[0] != 0 or hires_resize[1] != 0)
    if resize_set and hires_upscale is not None:
        raise ValueError(
            f"give hires_upscale ({hires_upscale!r}) or hires_resize ({hires_resize!r}), not both"
        )
    return {
        "Hires upscale": hires_upscale,
        "Hires resize": f"{hires_resize[0]}x{hires_resize[1]}" if resize_set else None,
    }


def standard_fields(
    *,
    steps: int,
    sampler: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    schedule_type: str | None = None,
    image_cfg_scale: float | None = None,
    face_restoration: str | None = None,
    model_hash: str | None = None,
    model_name: str | None = None,
    vae_hash: str | None = None,
    vae_name: str | None = None,
    variation_seed: int | None = None,
    variation_seed_strength: float = 0,
    seed_resize_from: tuple[int, int] | None = None,
    denoising_strength: float | None = None,
    conditional_mask_weight: float | None = None,
    clip_skip: int = 1,
    ensd: int = 0,
    token_merging_ratio: float = 0,
    token_merging_ratio_hr: float = 0,
    init_image_hash: str | None = None,
    rng: str = "GPU",
    tiling: bool = False,
    hires_checkpoint: str | None = None,
    hires_sampler: str | None = None,
    hires_prompt: str | None = None,
    hires_negative_prompt: str | None = None,
    hires_schedule_type: str | None = None,
    hires_upscale: float | None = None,
    hires_resize: tuple[int, int] | None = None,
    hires_steps: int = 0,
    hires_upscaler: str | None = None,
    extra: Mapping[str, object] | None = None,
    version: str | None = None,
    user: str | None = None,
) -> dict[str, object]:
    """Ordered infotext fields from plain values, following A1111's rules for omission.

    Pass ``ensd`` only when the sampler uses it (A1111 writes ENSD for those only) and
    ``token_merging_ratio_hr`` only with hires fix on. The hires fields are A1111's
    extra generation params set by txt2img hires fix; pass them only when it is on,
    and ``hires_prompt``/``hires_sampler``... only when they differ from the first pass.
    ``extra`` holds everything else (``Lora hashes``, ``TI hashes``, script fields...);
    a key already present keeps its position and takes the new value, as with A1111's
    ``**p.extra_generation_params``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width={width!r} height={height!r}")
    has_variation = variation_seed_strength != 0
    if has_variation and variation_seed is None:
        raise ValueError(f"variation_seed is required when variation_seed_strength is {variation_seed_strength!r}")
    fields: dict[str, object] = {
        "Steps": steps,
        "Sampler": sampler,
        "Schedule type": schedule_type,
        "CFG scale": cfg_scale,
        "Image CFG scale": image_cfg_scale,
        "Seed": seed,
        "Face restoration": face_restoration,
        "Size": f"{width}x{height}",
        "Model hash": model_hash,
        "Model": model_name,
        "VAE hash": vae_hash,
        "VAE": vae_name,
        "Variation seed": variation_seed if has_variation else None,
        "Variation seed strength": variation_seed_strength if has_variation else None,
        "Seed resize from": _size_text(seed_resize_from, "seed_resize_from"),
        "Denoising strength": denoising_strength,
        "Conditional mask weight": conditional_mask_weight,
        "Clip skip": clip_skip if clip_skip > 1 else None,
        "ENSD": ensd if ensd != 0 else None,
        "Token merging ratio": token_merging_ratio if token_merging_ratio != 0 else None,
        "Token merging ratio hr": token_merging_ratio_hr if token_merging_ratio_hr != 0 else None,
        "Init image hash": init_image_hash,
        "RNG": rng if rng != "GPU" else None,
        "Tiling": "True" if tiling else None,
        # Hires fix fields: A1111 adds these to extra_generation_params in this order.
        "Hires checkpoint": hires_checkpoint,
        "Hires sampler": hires_sampler,
        "Hires prompt": hires_prompt,
        "Hires negative prompt": hires_negative_prompt,
        "Hires schedule type": hires_schedule_type,
        **_hires_scale_fields(hires_upscale, hires_resize),
        "Hires steps": hires_steps if hires_steps else None,
        "Hires upscaler": hires_upscaler,
    }
    fields.update(extra or {})
    fields["Version"] = version
    fields["User"] = user
    return fields
