"""Image grids as A1111 makes them, and row/column labels for X/Y/Z plot and prompt matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageColor, ImageDraw, ImageFont

DEFAULT_BACKGROUND = "#ffffff"  # A1111 grid_background_color
DEFAULT_ACTIVE_TEXT = "#000000"  # A1111 grid_text_active_color
DEFAULT_INACTIVE_TEXT = "#999999"  # A1111 grid_text_inactive_color


def grid_rows(count: int, *, n_rows: int = -1, batch_size: int = 1, prevent_empty_spots: bool = False) -> int:
    """A1111's row count for ``count`` images.

    ``n_rows`` is A1111's option: > 0 fixed rows, 0 one row per batch (rows = batch size),
    -1 automatic: round(sqrt(count)), or with ``prevent_empty_spots`` the largest
    divisor of ``count`` not above sqrt(count). Never more rows than images.
    """
    if count <= 0:
        raise ValueError(f"a grid needs at least one image, got {count}")
    if n_rows > 0:
        rows = n_rows
    elif n_rows == 0:
        rows = batch_size
    elif prevent_empty_spots:
        rows = math.floor(math.sqrt(count))
        while count % rows != 0:
            rows -= 1
    else:
        rows = round(math.sqrt(count))
    if rows <= 0:
        raise ValueError(f"grid rows must be positive, got {rows} (n_rows={n_rows}, batch_size={batch_size})")
    return min(rows, count)


def image_grid(
    images: Sequence[Image.Image],
    rows: int | None = None,
    *,
    n_rows: int = -1,
    batch_size: int = 1,
    prevent_empty_spots: bool = False,
    background: str = DEFAULT_BACKGROUND,
) -> Image.Image:
    """Images pasted left to right, top to bottom; cell size = the largest image, smaller ones centred.

    ``rows`` None: A1111's automatic rule (``grid_rows``).
    """
    if not images:
        raise ValueError("image_grid needs at least one image")
    if rows is None:
        rows = grid_rows(len(images), n_rows=n_rows, batch_size=batch_size, prevent_empty_spots=prevent_empty_spots)
    elif rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    rows = min(rows, len(images))
    cols = math.ceil(len(images) / rows)
    cell_w = max(image.width for image in images)
    cell_h = max(image.height for image in images)
    grid = Image.new("RGB", (cols * cell_w, rows * cell_h), ImageColor.getcolor(background, "RGB"))
    for index, image in enumerate(images):
        x = index % cols * cell_w + (cell_w - image.width) // 2
        y = index // cols * cell_h + (cell_h - image.height) // 2
        grid.paste(image, (x, y))
    return grid


@dataclass
class GridAnnotation:
    """One label line; inactive ones are drawn grey and struck through (prompt matrix)."""

    text: str = ""
    is_active: bool = True


@dataclass
class _Line:
    text: str
    is_active: bool
    size: tuple[int, int] = (0, 0)
    allowed_width: int = 0


LabelSpec = str | GridAnnotation | Sequence[GridAnnotation]


def _as_annotations(label: LabelSpec) -> list[GridAnnotation]:
    if isinstance(label, str):
        return [GridAnnotation(label)]
    if isinstance(label, GridAnnotation):
        return [label]
    return list(label)


def default_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's built-in font at ``size`` px (no font files needed)."""
    return ImageFont.load_default(size=max(1, size))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, max_width: float) -> list[str]:
    lines = [""]
    for word in text.split():
        candidate = f"{lines[-1]} {word}".strip()
        if draw.textlength(candidate, font=font) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def draw_grid_annotations(
    grid: Image.Image,
    width: int,
    height: int,
    hor_texts: Sequence[LabelSpec],
    ver_texts: Sequence[LabelSpec],
    margin: int = 0,
    *,
    background: str = DEFAULT_BACKGROUND,
    active_color: str = DEFAULT_ACTIVE_TEXT,
    inactive_color: str = DEFAULT_INACTIVE_TEXT,
) -> Image.Image:
    """``grid`` (cells of ``width`` x ``height``) with column labels on top and row labels on the left.

    One label per column in ``hor_texts`` and per row in ``ver_texts``: a string, a
    GridAnnotation or a list of them (several lines). Layout as A1111: font size
    (width + height) // 25, a left band 3/4 of a cell wide when any row label has text,
    ``margin`` pixels between cells.
    """
    cols, rows = grid.width // width, grid.height // height
    if cols != len(hor_texts):
        raise ValueError(f"bad number of horizontal texts: {len(hor_texts)}; must be {cols}")
    if rows != len(ver_texts):
        raise ValueError(f"bad number of vertical texts: {len(ver_texts)}; must be {rows}")

    font_size = (width + height) // 25
    line_spacing = font_size // 2
    font = default_font(font_size)
    color_active = ImageColor.getcolor(active_color, "RGB")
    color_inactive = ImageColor.getcolor(inactive_color, "RGB")

    hor = [_as_annotations(label) for label in hor_texts]
    ver = [_as_annotations(label) for label in ver_texts]
    pad_left = 0 if sum(len(a.text) for labels in ver for a in labels) == 0 else width * 3 // 4

    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def layout(labels: list[GridAnnotation], allowed_width: int) -> list[_Line]:
        lines = []
        for label in labels:
            for text in _wrap(measure, label.text, font, allowed_width):
                box = measure.multiline_textbbox((0, 0), text, font=font)
                lines.append(_Line(text, label.is_active, (box[2] - box[0], box[3] - box[1]), allowed_width))
        return lines

    hor_lines = [layout(labels, width) for labels in hor]
    ver_lines = [layout(labels, pad_left) for labels in ver]
    hor_heights = [sum(line.size[1] + line_spacing for line in lines) - line_spacing for lines in hor_lines]
    ver_heights = [sum(line.size[1] + line_spacing for line in lines) - line_spacing * len(lines) for lines in ver_lines]
    pad_top = 0 if sum(hor_heights) == 0 else max(hor_heights) + line_spacing * 2

    result = Image.new(
        "RGB",
        (grid.width + pad_left + margin * (cols - 1), grid.height + pad_top + margin * (rows - 1)),
        ImageColor.getcolor(background, "RGB"),
    )
    for row in range(rows):
        for col in range(cols):
            cell = grid.crop((width * col, height * row, width * (col + 1), height * (row + 1)))
            result.paste(cell, (pad_left + (width + margin) * col, pad_top + (height + margin) * row))

    draw = ImageDraw.Draw(result)

    def draw_lines(x: float, y: float, lines: list[_Line]) -> None:
        for line in lines:
            line_font, size = font, font_size
            # shrink a single word that is wider than its space
            while size > 1 and draw.multiline_textbbox((0, 0), line.text, font=line_font)[2] > line.allowed_width:
                size -= 1
                line_font = default_font(size)
            fill = color_active if line.is_active else color_inactive
            draw.multiline_text((x, y + line.size[1] / 2), line.text, font=line_font, fill=fill, anchor="mm", align="center")
            if not line.is_active:
                mid_y = y + line.size[1] // 2
                draw.line((x - line.size[0] // 2, mid_y, x + line.size[0] // 2, mid_y), fill=color_inactive, width=4)
            y += line.size[1] + line_spacing

    for col in range(cols):
        draw_lines(pad_left + (width + margin) * col + width / 2, pad_top / 2 - hor_heights[col] / 2, hor_lines[col])
    for row in range(rows):
        draw_lines(pad_left / 2, pad_top + (height + margin) * row + height / 2 - ver_heights[row] / 2, ver_lines[row])
    return result


def draw_prompt_matrix(grid: Image.Image, width: int, height: int, all_prompts: Sequence[str], margin: int = 0) -> Image.Image:
    """Prompt-matrix labels: the prompt parts after the first, split between columns and rows."""
    parts = list(all_prompts[1:])
    boundary = math.ceil(len(parts) / 2)
    horizontal, vertical = parts[:boundary], parts[boundary:]
    hor_texts = [
        [GridAnnotation(text, is_active=position & (1 << i) != 0) for i, text in enumerate(horizontal)]
        for position in range(1 << len(horizontal))
    ]
    ver_texts = [
        [GridAnnotation(text, is_active=position & (1 << i) != 0) for i, text in enumerate(vertical)]
        for position in range(1 << len(vertical))
    ]
    return draw_grid_annotations(grid, width, height, hor_texts, ver_texts, margin)
