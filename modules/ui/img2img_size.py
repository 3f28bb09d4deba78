"""img2img's output size (Gradio-free): the "Resize to" tab takes the width and height
sliders, the "Resize by" tab the source image's size times a scale. A1111 sends which tab
is on screen as `selected_scale_tab` and rounds a scaled side down to a multiple of 8.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modules.processing import ParamsError

RESIZE_TO, RESIZE_BY = 0, 1  # A1111's selected_scale_tab
SCALE_MIN, SCALE_MAX, SCALE_STEP = 0.05, 4.0, 0.05
SIDE_MULTIPLE = 8
SCALE_FIELD = "scale_by"  # A1111's name for the Scale slider's value
NO_IMAGE_TEXT = "no image selected"
# slider steps are binary fractions: 100 * 0.29 gives 28.999…, which means 29
FLOAT_SLACK = 1e-6


def scaled_side(side: int, scale: float) -> int:
    value = math.floor(side * scale + FLOAT_SLACK)
    return value - value % SIDE_MULTIPLE


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(width, height) of `size` times `scale`, each side rounded down to a multiple of 8."""
    return scaled_side(size[0], scale), scaled_side(size[1], scale)


def resize_from_to_html(size: tuple[int, int] | None, scale: float) -> str:
    """The line under the Scale slider (A1111's wording), with the size that will be generated."""
    target = scaled_size(size, scale) if size else (0, 0)
    if not size or not all(target):
        return NO_IMAGE_TEXT
    return (f"resize: from <span class='resolution'>{size[0]}x{size[1]}</span> "
            f"to <span class='resolution'>{target[0]}x{target[1]}</span>")


@dataclass(frozen=True)
class SizeChoice:
    """Which size tab applies, and the scale for "Resize by"."""

    tab: int = RESIZE_TO
    scale: float = 1.0

    @classmethod
    def from_form(cls, tab: Any, scale: Any) -> SizeChoice:
        """From the hidden tab number and the Scale slider; ParamsError names a bad value."""
        if tab not in (RESIZE_TO, RESIZE_BY):
            raise ParamsError("selected_scale_tab", f"must be {RESIZE_TO} (Resize to) or {RESIZE_BY} (Resize by), "
                                                    f"got {tab!r}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
            raise ParamsError(SCALE_FIELD, f"must be a number, got {scale!r}")
        if not SCALE_MIN <= scale <= SCALE_MAX:
            raise ParamsError(SCALE_FIELD, f"must be between {SCALE_MIN} and {SCALE_MAX}, got {scale}")
        return cls(int(tab), float(scale))

    @property
    def resizes_by_scale(self) -> bool:
        return self.tab == RESIZE_BY

    def form_values(self, values: Mapping[str, Any], image_size: tuple[int, int]) -> dict[str, Any]:
        """The form values with width and height from the image when resizing by scale."""
        if not self.resizes_by_scale:
            return dict(values)
        width, height = scaled_size(image_size, self.scale)
        return dict(values, width=width, height=height)

    def explain(self, error: ParamsError, image_size: tuple[int, int]) -> ParamsError:
        """A width/height error caused by the scale, told in terms of the Scale slider."""
        if not self.resizes_by_scale or error.field not in ("width", "height"):
            return error
        width, height = scaled_size(image_size, self.scale)
        return ParamsError(SCALE_FIELD, f"{image_size[0]}x{image_size[1]} resized by {self.scale:g} "
                                        f"is {width}x{height}; {error}")
