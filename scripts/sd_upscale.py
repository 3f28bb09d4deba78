"""SD upscale (A1111's scripts/sd_upscale.py, img2img): upscale the input image, cut it into
tiles of the width x height set in the tab (overlapping by "Tile overlap"), img2img every
tile and blend them back together.

script_args, in A1111's order: info (text, unused), overlap, upscaler (name or index in the
list), scale_factor; A1111's API test sends ["", 8, "Lanczos", 2.0]."""

from __future__ import annotations

import math

import gradio as gr

import modules.scripts as scripts
from modules import images
from modules.processing import Processed, fix_seed, process_images
from modules.processing.params import ParamsError
from modules.processing.upscalers import is_latent_mode, upscale_image, upscaler_names
from modules.script_helpers import announce_jobs, save_sample, stopped


def pixel_upscalers() -> list[str]:
    return [name for name in upscaler_names() if not is_latent_mode(name)]


def find_upscaler(value) -> str:
    names = pixel_upscalers()
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str):
        for name in names:
            if name.lower() == value.strip().lower():
                return name
    raise ParamsError("script_args[2]", f"upscaler {value!r} not found; choose one of {names} (or its index)")


class Script(scripts.Script):
    def title(self):
        return "SD upscale"

    def show(self, is_img2img):
        return is_img2img

    def ui(self, is_img2img):
        info = gr.HTML("<p style=\"margin-bottom:0.75em\">Will upscale the image by the selected scale factor; "
                       "use width and height sliders to set tile size</p>")
        overlap = gr.Slider(minimum=0, maximum=256, step=16, label="Tile overlap", value=64,
                            elem_id=self.elem_id("overlap"))
        scale_factor = gr.Slider(minimum=1.0, maximum=4.0, step=0.05, label="Scale Factor", value=2.0,
                                 elem_id=self.elem_id("scale_factor"))
        names = pixel_upscalers()
        upscaler_index = gr.Radio(label="Upscaler", choices=names, value=names[0], type="index",
                                  elem_id=self.elem_id("upscaler_index"))
        return [info, overlap, upscaler_index, scale_factor]

    def check_args(self, request, info=None, overlap=64, upscaler_index=0, scale_factor=2.0):
        find_upscaler(upscaler_index)
        if not 1.0 <= float(scale_factor) <= 8.0:
            raise ParamsError("script_args[3]", f"Scale Factor must be from 1 to 8, got {scale_factor}")
        width, height = request.get("width", 512), request.get("height", 512)
        if isinstance(width, int) and isinstance(height, int) and not 0 <= int(overlap) < min(width, height):
            raise ParamsError("script_args[1]", f"Tile overlap must be from 0 to less than the tile size "
                                                f"({width}x{height}), got {overlap}")

    def run(self, p, _info, overlap, upscaler_index, scale_factor):
        self.check_args({"width": p.width, "height": p.height}, _info, overlap, upscaler_index, scale_factor)
        fix_seed(p)
        upscaler = find_upscaler(upscaler_index)
        overlap = int(overlap)
        p.extra_generation_params["SD upscale overlap"] = overlap
        p.extra_generation_params["SD upscale upscaler"] = upscaler

        source = p.init_images[0].convert("RGB")
        if upscaler != "None":  # A1111: "None" keeps the image's size
            size = (round(source.width * float(scale_factor)), round(source.height * float(scale_factor)))
            source = upscale_image(source, upscaler, *size)
        grid = images.split_grid(source, tile_w=p.width, tile_h=p.height, overlap=overlap)
        work = [tile for _, _, row in grid.tiles for tile in row]
        sources = [tile[2] for tile in work]  # kept: combining replaces each tile's image

        batch_size, upscale_count, seed = p.batch_size, p.n_iter, p.seed
        p.n_iter = 1
        p.do_not_save_grid = p.do_not_save_samples = True
        batch_count = math.ceil(len(work) / batch_size)
        announce_jobs(batch_count * batch_size * upscale_count, p.steps)

        results, initial_info = [], None
        for n in range(upscale_count):
            p.seed = start_seed = seed + n
            done = []
            for i in range(batch_count):
                if stopped():
                    break
                p.init_images = sources[i * batch_size:(i + 1) * batch_size]
                processed = process_images(p)
                initial_info = initial_info if initial_info is not None else processed.info
                p.seed = processed.seed + 1
                done += processed.images
            if len(done) < len(work):  # interrupted: leave what was made, no half-blended image
                break
            for tile, image in zip(work, done):
                tile[2] = image
            combined = images.combine_grid(grid)
            results.append(combined)
            save_sample(p, combined, initial_info, p.prompt, start_seed)
        return Processed(p, results, seed, initial_info or "", infotexts=[initial_info or ""] * len(results))
