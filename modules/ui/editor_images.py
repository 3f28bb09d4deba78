"""Init image and inpaint mask from what the img2img sub-tabs hold (Gradio-free).

An ImageEditor value is a dict: "background" (the uploaded image), "layers" (what the
user painted, transparent elsewhere) and "composite" (both flattened). A1111's rules:
Sketch generates from the composite; Inpaint repaints where the brush went on the
background; Inpaint sketch repaints where the brush went, starting from the composite;
Inpaint upload takes an image and a mask (white = repaint).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageChops

from modules.processing import ParamsError

MODES = ("img2img", "sketch", "inpaint", "inpaint_sketch", "inpaint_upload")
INPAINT_MODES = ("inpaint", "inpaint_sketch", "inpaint_upload")


def flatten_rgb(image: Image.Image) -> Image.Image:
    """RGB image; transparent parts become white (as an editor canvas shows them)."""
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def mask_from_layers(layers: Sequence[Image.Image | None], size: tuple[int, int]) -> Image.Image:
    """White where any layer has paint (alpha > 0), black elsewhere, at `size`."""
    mask = Image.new("L", size, 0)
    for layer in layers:
        if layer is None:
            continue
        alpha = layer.convert("RGBA").getchannel("A")
        if alpha.size != size:
            alpha = alpha.resize(size, Image.Resampling.NEAREST)
        mask = ImageChops.lighter(mask, alpha.point(lambda a: 255 if a > 0 else 0))
    return mask


def upload_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An uploaded mask as L at `size`: its alpha if it has one that is used, else its grey."""
    if mask.mode in ("RGBA", "LA") and mask.getchannel("A").getextrema()[0] < 255:
        grey = mask.getchannel("A")
    else:
        grey = mask.convert("L")
    return grey if grey.size == size else grey.resize(size, Image.Resampling.NEAREST)


def _editor_part(value: Any, part: str, mode: str) -> Image.Image:
    image = value.get(part) if isinstance(value, Mapping) else None
    if image is None:
        raise ParamsError("init_images", f"{mode}: upload an image first")
    return image


def source_size(mode: str, values: Mapping[str, Any]) -> tuple[int, int] | None:
    """Size of the image a sub-tab would start from, None when it holds none (or is Batch,
    whose images are on the server). Same `values` as init_and_mask; never raises."""
    if mode == "img2img":
        image = values.get("image")
    elif mode == "inpaint_upload":
        image = values.get("inpaint_base")
    elif mode in MODES:
        editor = values.get(mode)
        part = "background" if mode == "inpaint" else "composite"
        image = editor.get(part) if isinstance(editor, Mapping) else None
    else:
        image = None
    return image.size if isinstance(image, Image.Image) else None


def init_and_mask(mode: str, values: Mapping[str, Any]) -> tuple[Image.Image, Image.Image | None]:
    """(init image, mask or None) for a sub-tab. `values` holds the sub-tab's inputs under
    the names "image", "sketch", "inpaint", "inpaint_sketch", "inpaint_base", "inpaint_mask"."""
    if mode not in MODES:
        raise ParamsError("mode", f"unknown img2img mode {mode!r}; expected one of {MODES}")
    if mode == "img2img":
        if values.get("image") is None:
            raise ParamsError("init_images", "img2img: upload an image first")
        return flatten_rgb(values["image"]), None
    if mode == "sketch":
        return flatten_rgb(_editor_part(values.get("sketch"), "composite", mode)), None
    if mode == "inpaint_upload":
        base, mask = values.get("inpaint_base"), values.get("inpaint_mask")
        if base is None or mask is None:
            raise ParamsError("mask", "inpaint upload: give both an image and a mask")
        return flatten_rgb(base), upload_mask(mask, base.size)
    editor = values.get(mode)
    source = _editor_part(editor, "background" if mode == "inpaint" else "composite", mode)
    mask = mask_from_layers(editor.get("layers") or [], source.size)
    if mask.getextrema()[1] == 0:
        raise ParamsError("mask", f"{mode.replace('_', ' ')}: paint the area to change with the brush first")
    return flatten_rgb(source), mask
