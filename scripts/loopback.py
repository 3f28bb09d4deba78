"""Loopback (A1111's scripts/loopback.py, img2img): feed each result back in as the next
input, the denoising strength moving towards "Final denoising strength" along a curve.

script_args, in A1111's order: loops, final_denoising_strength, denoising_curve
("Aggressive", "Linear", "Lazy"), append_interrogation. Easel bundles no interrogator, so
the last one offers only "None" (a request naming CLIP or DeepBooru is refused)."""

from __future__ import annotations

import math

import gradio as gr

import modules.scripts as scripts
from modules import images
from modules.processing import Processed, fix_seed, process_images
from modules.processing.params import ParamsError
from modules.script_helpers import announce_jobs, save_grid, setting, stopped

CURVES = ("Aggressive", "Linear", "Lazy")


def denoising_strength(loop: int, loops: int, initial: float, final: float, curve: str) -> float:
    """The strength for loop number `loop` (0 = the first, which uses the tab's own)."""
    if loops == 1:
        return initial
    progress = loop / (loops - 1)
    shape = {"Aggressive": math.sin(progress * math.pi * 0.5),
             "Lazy": 1 - math.cos(progress * math.pi * 0.5)}.get(curve, progress)
    return initial + (final - initial) * shape


class Script(scripts.Script):
    def title(self):
        return "Loopback"

    def show(self, is_img2img):
        return is_img2img

    def ui(self, is_img2img):
        loops = gr.Slider(minimum=1, maximum=32, step=1, label="Loops", value=4, elem_id=self.elem_id("loops"))
        final_denoising_strength = gr.Slider(minimum=0, maximum=1, step=0.01, label="Final denoising strength",
                                             value=0.5, elem_id=self.elem_id("final_denoising_strength"))
        denoising_curve = gr.Dropdown(label="Denoising strength curve", choices=list(CURVES), value="Linear",
                                      elem_id=self.elem_id("denoising_curve"))
        append_interrogation = gr.Dropdown(label="Append interrogated prompt at each iteration", choices=["None"],
                                           value="None", elem_id=self.elem_id("append_interrogation"))
        return [loops, final_denoising_strength, denoising_curve, append_interrogation]

    def check_args(self, request, loops=4, final_denoising_strength=0.5, denoising_curve="Linear",
                   append_interrogation="None"):
        if isinstance(loops, bool) or not isinstance(loops, (int, float)) or not 1 <= loops <= 32 \
                or not float(loops).is_integer():
            raise ParamsError("script_args[0]", f"Loops must be a whole number from 1 to 32, got {loops!r}")
        if not 0 <= final_denoising_strength <= 1:
            raise ParamsError("script_args[1]", f"Final denoising strength must be from 0 to 1, "
                                                f"got {final_denoising_strength}")
        if denoising_curve not in CURVES:
            raise ParamsError("script_args[2]", f"Denoising strength curve must be one of {list(CURVES)}, "
                                                f"got {denoising_curve!r}")
        if append_interrogation not in (None, "", "None"):
            raise ParamsError("script_args[3]", f"Append interrogated prompt: {append_interrogation!r} needs an "
                                                "interrogator model, and Easel bundles none; use \"None\"")

    def run(self, p, loops, final_denoising_strength, denoising_curve, append_interrogation):
        self.check_args({}, loops, final_denoising_strength, denoising_curve, append_interrogation)
        loops = int(loops)
        fix_seed(p)
        batch_count = p.n_iter
        p.extra_generation_params = {**p.extra_generation_params, "Final denoising strength": final_denoising_strength,
                                     "Denoising curve": denoising_curve}
        p.batch_size = p.n_iter = 1
        p.do_not_save_grid = True
        initial_strength = p.denoising_strength
        original_images, original_fill = p.init_images, p.inpainting_fill
        announce_jobs(loops * batch_count, p.steps)

        history, initial_seed, initial_info = [], None, None
        for n in range(batch_count):
            p.init_images, p.denoising_strength = original_images, initial_strength
            last = None
            for i in range(loops):
                processed = process_images(p)
                if stopped():
                    break
                if initial_seed is None:
                    initial_seed, initial_info = processed.seed, processed.info
                p.seed = processed.seed + 1
                p.denoising_strength = denoising_strength(i + 1, loops, initial_strength,
                                                          final_denoising_strength, denoising_curve)
                if stopped(include_skip=True):
                    break
                last = processed.images[0]
                p.init_images = [last]
                p.inpainting_fill = 1  # later loops keep the masked area's content ("original")
                if batch_count == 1:
                    history.append(last)
            if batch_count > 1 and last is not None and not stopped(include_skip=True):
                history.append(last)
            p.inpainting_fill = original_fill
            if stopped():
                break

        results = list(history)
        if len(history) > 1:
            grid = images.image_grid(history, rows=1)
            save_grid(p, grid, "grid", initial_info, p.prompt, initial_seed)
            if setting("return_grid", True):
                results.insert(0, grid)
        return Processed(p, results, initial_seed if initial_seed is not None else p.seed, initial_info or "",
                         infotexts=[initial_info or ""] * len(results))
