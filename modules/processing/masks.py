"""Inpainting masks: blur, invert, the "only masked" crop region, and pasting results back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps


def prepare_mask(mask: Image.Image, size: tuple[int, int], invert: bool, blur_x: int, blur_y: int) -> Image.Image:
    """Greyscale mask at `size`: white = repaint. Blur softens the seam as A1111 does."""
    mask = mask.convert("L").resize(size, Image.Resampling.LANCZOS)
    if invert:
        mask = ImageOps.invert(mask)
    if blur_x or blur_y:
        mask = mask.filter(ImageFilter.GaussianBlur((blur_x, blur_y)))
    return mask


@dataclass(frozen=True)
class CropRegion:
    """The box around the masked area, grown by padding and fitted to the output's aspect."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def size(self) -> tuple[int, int]:
        return self.right - self.left, self.bottom - self.top


def masked_region(mask: Image.Image, padding: int, target: tuple[int, int]) -> CropRegion | None:
    """A1111's "Only masked": the mask's bounding box plus padding, expanded to target aspect."""
    box = mask.point(lambda v: 255 if v > 0 else 0).getbbox()
    if box is None:
        return None
    w, h = mask.size
    left, top, right, bottom = box
    left, top = max(left - padding, 0), max(top - padding, 0)
    right, bottom = min(right + padding, w), min(bottom + padding, h)
    ratio = target[0] / target[1]
    cw, ch = right - left, bottom - top
    if cw / ch < ratio:  # too tall: widen
        grow = int(ch * ratio) - cw
        left, right = left - grow // 2, right + grow - grow // 2
    else:  # too wide: heighten
        grow = int(cw / ratio) - ch
        top, bottom = top - grow // 2, bottom + grow - grow // 2
    # shift back inside the image, clipping only if the region is larger than the image
    if left < 0:
        right, left = min(right - left, w), 0
    if right > w:
        left, right = max(left - (right - w), 0), w
    if top < 0:
        bottom, top = min(bottom - top, h), 0
    if bottom > h:
        top, bottom = max(top - (bottom - h), 0), h
    return CropRegion(left, top, right, bottom)


def composite(original: Image.Image, generated: Image.Image, mask: Image.Image,
              region: CropRegion | None = None) -> Image.Image:
    """Generated pixels where the mask is white, the original where black (mask as alpha)."""
    base = original.convert("RGB")
    if region is not None:
        patch = generated.resize(region.size, Image.Resampling.LANCZOS)
        placed = base.copy()
        placed.paste(patch, (region.left, region.top))
        generated = placed
    return Image.composite(generated.convert("RGB"), base, mask.convert("L"))


def fill_masked_area(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill": replace the masked area by the surrounding colours (blurred average)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    keep = np.asarray(mask.convert("L"), dtype=np.float32)[..., None] < 128
    if keep.sum() == 0:
        return image.convert("RGB")
    mean = (array * keep).sum((0, 1)) / keep.sum()
    filled = np.where(keep, array, mean)
    blurred = Image.fromarray(filled.astype(np.uint8)).filter(ImageFilter.GaussianBlur(8))
    return Image.composite(blurred, image.convert("RGB"), mask.convert("L").point(lambda v: 255 if v >= 128 else 0))
