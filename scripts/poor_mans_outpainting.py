"""Poor man's outpainting (A1111's scripts/poor_mans_outpainting.py, img2img): grow the
canvas on the chosen sides, then inpaint every tile (the tab's width x height, overlapping
by the expansion) that touches the new border; the original stays where it was.

script_args, in A1111's order: pixels, mask_blur, inpainting_fill (index or name of
"fill", "original", "latent noise", "latent nothing"), direction (list of left/right/up/down)."""

from __future__ import annotations

import gradio as gr
from PIL import Image, ImageDraw

import modules.scripts as scripts
from modules import images
from modules.processing import Processed, fix_seed, process_images
from modules.processing.params import INPAINTING_FILL, ParamsError
from modules.script_helpers import announce_jobs, save_sample, stopped
from modules.script_helpers.outpaint import DIRECTIONS, check_directions, plan_expansion

FILL_NAMES = list(INPAINTING_FILL.values())


def fill_index(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in INPAINTING_FILL:
        return value
    if isinstance(value, str) and value in FILL_NAMES:
        return FILL_NAMES.index(value)
    raise ParamsError("script_args[2]", f"masked content must be one of {FILL_NAMES} (or 0-3), got {value!r}")


class Script(scripts.Script):
    def title(self):
        return "Poor man's outpainting"

    def show(self, is_img2img):
        return is_img2img

    def ui(self, is_img2img):
        if not is_img2img:
            return None
        pixels = gr.Slider(label="Pixels to expand", minimum=8, maximum=256, step=8, value=128,
                           elem_id=self.elem_id("pixels"))
        mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=4,
                              elem_id=self.elem_id("mask_blur"))
        inpainting_fill = gr.Radio(label="Masked content", choices=FILL_NAMES, value="fill", type="index",
                                   elem_id=self.elem_id("inpainting_fill"))
        direction = gr.CheckboxGroup(label="Outpainting direction", choices=list(DIRECTIONS), value=list(DIRECTIONS),
                                     elem_id=self.elem_id("direction"))
        return [pixels, mask_blur, inpainting_fill, direction]

    def check_args(self, request, pixels=128, mask_blur=4, inpainting_fill=0, direction=DIRECTIONS):
        fill_index(inpainting_fill)
        try:
            check_directions(direction)
        except ValueError as e:
            raise ParamsError("script_args[3]", str(e)) from None
        width, height = request.get("width", 512), request.get("height", 512)
        if isinstance(width, int) and isinstance(height, int) and not 0 < int(pixels) < min(width, height):
            raise ParamsError("script_args[0]", f"Pixels to expand must be less than the tile size "
                                                f"({width}x{height}: the tiles overlap by that much), got {pixels}")

    def run(self, p, pixels, mask_blur, inpainting_fill, direction):
        self.check_args({"width": p.width, "height": p.height}, pixels, mask_blur, inpainting_fill, direction)
        fix_seed(p)
        pixels, mask_blur = int(pixels), int(mask_blur)
        p.mask_blur = min(64, mask_blur * 2)
        p.inpainting_fill = fill_index(inpainting_fill)
        p.inpaint_full_res = False

        source = p.init_images[0].convert("RGB")
        grow = plan_expansion(source.width, source.height, pixels, check_directions(direction))
        canvas = Image.new("RGB", (source.width + grow.left + grow.right, source.height + grow.up + grow.down))
        canvas.paste(source, (grow.left, grow.up))
        mask = Image.new("L", canvas.size, "white")
        ImageDraw.Draw(mask).rectangle((
            grow.left + (mask_blur * 2 if grow.left else 0), grow.up + (mask_blur * 2 if grow.up else 0),
            mask.width - grow.right - (mask_blur * 2 if grow.right else 0) - 1,
            mask.height - grow.down - (mask_blur * 2 if grow.down else 0) - 1), fill="black")

        grid = images.split_grid(canvas, tile_w=p.width, tile_h=p.height, overlap=pixels)
        grid_mask = images.split_grid(mask, tile_w=p.width, tile_h=p.height, overlap=pixels)
        p.n_iter = p.batch_size = 1
        p.do_not_save_grid = p.do_not_save_samples = True

        def inside(x: int, w: int, y: int, h: int) -> bool:  # a tile of the original only: nothing to paint
            return x >= grow.left and x + w <= canvas.width - grow.right and y >= grow.up \
                and y + h <= canvas.height - grow.down

        work = [(tile, tile_mask[2]) for (y, h, row), (_, _, mask_row) in zip(grid.tiles, grid_mask.tiles)
                for tile, tile_mask in zip(row, mask_row) if not inside(tile[0], tile[1], y, h)]
        announce_jobs(len(work), p.steps)
        initial_seed, initial_info = None, None
        for tile, tile_mask in work:
            if stopped():
                break
            p.init_images, p.image_mask = [tile[2]], tile_mask
            processed = process_images(p)
            if initial_seed is None:
                initial_seed, initial_info = processed.seed, processed.info
            p.seed = processed.seed + 1
            tile[2] = processed.images[0]

        combined = images.combine_grid(grid)
        save_sample(p, combined, initial_info, p.prompt, initial_seed)
        return Processed(p, [combined], initial_seed if initial_seed is not None else p.seed, initial_info or "")
