"""Outpainting mk2 (A1111's scripts/outpainting_mk_2.py, img2img): extend the image one
side at a time, filling the new strip with noise matched to the picture (spectrum and
colours) and inpainting it with "Masked content: original".

script_args, in A1111's order: info (text, unused), pixels, mask_blur, direction (list of
left/right/up/down), noise_q (fall-off exponent), color_variation."""

from __future__ import annotations

import math

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

import modules.scripts as scripts
from modules import images
from modules.processing import Processed, fix_seed, process_images
from modules.processing.params import ParamsError
from modules.script_helpers import announce_jobs, save_grid, save_sample, setting, stopped
from modules.script_helpers.outpaint import DIRECTIONS, check_directions, matched_noise, plan_expansion


def _up8(value: int) -> int:
    return math.ceil(value / 8) * 8


def _down8(value: int) -> int:
    return max(64, value // 8 * 8)


class Script(scripts.Script):
    def title(self):
        return "Outpainting mk2"

    def show(self, is_img2img):
        return is_img2img

    def ui(self, is_img2img):
        if not is_img2img:
            return None
        info = gr.HTML("<p style=\"margin-bottom:0.75em\">Recommended settings: Sampling Steps: 80-100, "
                       "Sampler: Euler a, Denoising strength: 0.8</p>")
        pixels = gr.Slider(label="Pixels to expand", minimum=8, maximum=256, step=8, value=128,
                           elem_id=self.elem_id("pixels"))
        mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=8,
                              elem_id=self.elem_id("mask_blur"))
        direction = gr.CheckboxGroup(label="Outpainting direction", choices=list(DIRECTIONS), value=list(DIRECTIONS),
                                     elem_id=self.elem_id("direction"))
        noise_q = gr.Slider(label="Fall-off exponent (lower=higher detail)", minimum=0.0, maximum=4.0, step=0.01,
                            value=1.0, elem_id=self.elem_id("noise_q"))
        color_variation = gr.Slider(label="Color variation", minimum=0.0, maximum=1.0, step=0.01, value=0.05,
                                    elem_id=self.elem_id("color_variation"))
        return [info, pixels, mask_blur, direction, noise_q, color_variation]

    def check_args(self, request, info=None, pixels=128, mask_blur=8, direction=DIRECTIONS, noise_q=1.0,
                   color_variation=0.05):
        try:
            check_directions(direction)
        except ValueError as e:
            raise ParamsError("script_args[3]", str(e)) from None
        if not 8 <= pixels <= 1024:
            raise ParamsError("script_args[1]", f"Pixels to expand must be from 8 to 1024, got {pixels}")
        if not 0 <= color_variation <= 1:
            raise ParamsError("script_args[5]", f"Color variation must be from 0 to 1, got {color_variation}")

    def run(self, p, _info, pixels, mask_blur, direction, noise_q, color_variation):
        self.check_args({}, _info, pixels, mask_blur, direction, noise_q, color_variation)
        fix_seed(p)
        pixels, mask_blur = int(pixels), int(mask_blur)
        process_width, process_height = p.width, p.height
        p.mask_blur = min(64, mask_blur * 4)
        p.inpaint_full_res = False
        p.inpainting_fill = 1  # "original": the matched noise is the start
        p.do_not_save_samples = p.do_not_save_grid = True
        source = p.init_images[0].convert("RGB")
        grow = plan_expansion(source.width, source.height, pixels, check_directions(direction))
        steps = [(side, amount) for side, amount in (("left", grow.left), ("right", grow.right), ("up", grow.up),
                                                     ("down", grow.down)) if amount > 0]
        batch_count, batch_size = p.n_iter, p.batch_size
        p.n_iter = 1
        announce_jobs(max(1, batch_count * batch_size * len(steps)), p.steps)
        first: list = [None, None]  # seed, infotext of the first image made

        def expand(pictures: list[Image.Image], side: str, amount: int) -> list[Image.Image]:
            """One side: the strip filled with matched noise, then inpainted in a window of at
            most the tab's size that holds the strip and the picture next to it."""
            horizontal = side in ("left", "right")
            canvases, windows = [], []
            for picture in pictures:
                size = (picture.width + amount, picture.height) if horizontal else (picture.width, picture.height + amount)
                work = (_up8(size[0]), _up8(size[1]))
                canvas = Image.new("RGB", work)
                canvas.paste(picture, (amount if side == "left" else 0, amount if side == "up" else 0))
                mask = Image.new("RGB", work, "white")  # white: to paint; the picture minus a blur band stays
                ImageDraw.Draw(mask).rectangle((
                    amount + mask_blur if side == "left" else 0, amount + mask_blur if side == "up" else 0,
                    (picture.width - mask_blur if side == "right" else size[0]) - 1,
                    (picture.height - mask_blur if side == "down" else size[1]) - 1), fill="black")
                noised = matched_noise(np.asarray(canvas, dtype=np.float64) / 255.0,
                                       np.asarray(mask, dtype=np.float64) / 255.0, noise_q, color_variation)
                canvas = Image.fromarray(np.clip(noised * 255.0, 0, 255).astype(np.uint8), "RGB")
                along = _down8(min(process_width if horizontal else process_height, size[0 if horizontal else 1]))
                start = 0 if side in ("left", "up") else size[0 if horizontal else 1] - along
                box = (start, 0, start + along, work[1]) if horizontal else (0, start, work[0], start + along)
                p.width, p.height = box[2] - box[0], box[3] - box[1]
                p.image_mask = mask.crop(box)
                canvases.append((canvas, box, size))
                windows.append(canvas.crop(box))
            p.init_images = windows
            processed = process_images(p)
            if first[0] is None:
                first[:] = [processed.seed, processed.info]
            results = []
            for (canvas, box, size), made in zip(canvases, processed.images):
                canvas.paste(made, box[:2])
                results.append(canvas.crop((0, 0, *size)))
            return results

        made: list[Image.Image] = []
        for _ in range(batch_count):
            pictures = [source] * batch_size
            for side, amount in steps:
                if stopped():
                    break
                pictures = expand(pictures, side, amount)
            if stopped():
                break
            made += pictures

        for picture in made:
            save_sample(p, picture, first[1], p.prompt, first[0])
        results = list(made)
        if len(made) > 1:
            grid = images.image_grid(made)
            save_grid(p, grid, "grid", first[1], p.prompt, first[0])
            if setting("return_grid", True):
                results.insert(0, grid)
        return Processed(p, results, first[0] if first[0] is not None else p.seed, first[1] or "",
                         infotexts=[first[1] or ""] * len(results))
