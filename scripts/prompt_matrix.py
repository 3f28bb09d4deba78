"""Prompt matrix (A1111's scripts/prompt_matrix.py): "a cat|red|blue" makes every
combination of the parts after the first ("a cat", "a cat, red", "a cat, blue", "a cat,
red, blue"), one image each, and a grid labelled with which parts each cell has.

script_args, in A1111's order: put_at_start, different_seeds, prompt_type ("positive" or
"negative"), variations_delimiter ("comma" or "space"), margin_size."""

from __future__ import annotations

import math

import gradio as gr

import modules.scripts as scripts
from modules import images
from modules.processing import fix_seed, process_images
from modules.processing.params import ParamsError
from modules.script_helpers import announce_jobs, save_grid

MAX_PARTS = 10  # 2**10 images already


def combinations(prompt: str, put_at_start: bool, delimiter: str) -> tuple[list[str], list[str]]:
    """(the prompt's |-separated parts, one prompt per combination of the optional parts)."""
    parts = prompt.split("|")
    prompts = []
    for number in range(2 ** (len(parts) - 1)):
        chosen = [text.strip().strip(",") for n, text in enumerate(parts[1:]) if number & (1 << n)]
        prompts.append(delimiter.join(chosen + [parts[0]] if put_at_start else [parts[0]] + chosen))
    return parts, prompts


class Script(scripts.Script):
    def title(self):
        return "Prompt matrix"

    def ui(self, is_img2img):
        gr.HTML("<br />")
        with gr.Row():
            with gr.Column():
                put_at_start = gr.Checkbox(label="Put variable parts at start of prompt", value=False,
                                           elem_id=self.elem_id("put_at_start"))
                different_seeds = gr.Checkbox(label="Use different seed for each picture", value=False,
                                              elem_id=self.elem_id("different_seeds"))
            with gr.Column():
                prompt_type = gr.Radio(["positive", "negative"], label="Select prompt", value="positive",
                                       elem_id=self.elem_id("prompt_type"))
                variations_delimiter = gr.Radio(["comma", "space"], label="Select joining char", value="comma",
                                                elem_id=self.elem_id("variations_delimiter"))
            with gr.Column():
                margin_size = gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2,
                                        elem_id=self.elem_id("margin_size"))
        return [put_at_start, different_seeds, prompt_type, variations_delimiter, margin_size]

    def check_args(self, request, put_at_start=False, different_seeds=False, prompt_type="positive",
                   variations_delimiter="comma", margin_size=0):
        if prompt_type not in ("positive", "negative"):
            raise ParamsError("script_args[2]", f"prompt type must be \"positive\" or \"negative\", got {prompt_type!r}")
        if variations_delimiter not in ("comma", "space"):
            raise ParamsError("script_args[3]", f"joining char must be \"comma\" or \"space\", got "
                                                f"{variations_delimiter!r}")
        prompt = request.get("prompt" if prompt_type == "positive" else "negative_prompt")
        if isinstance(prompt, str) and prompt.count("|") > MAX_PARTS:
            raise ParamsError("script_args", f"the prompt has {prompt.count('|')} variable parts; at most "
                                             f"{MAX_PARTS} ({2 ** MAX_PARTS} images)")

    def run(self, p, put_at_start, different_seeds, prompt_type, variations_delimiter, margin_size):
        self.check_args({"prompt": p.prompt, "negative_prompt": p.negative_prompt}, put_at_start, different_seeds,
                        prompt_type, variations_delimiter, margin_size)
        fix_seed(p)
        source = p.prompt if prompt_type == "positive" else p.negative_prompt
        source = source[0] if isinstance(source, list) else source
        delimiter = ", " if variations_delimiter == "comma" else " "
        parts, prompts = combinations(source, bool(put_at_start), delimiter)

        p.n_iter = math.ceil(len(prompts) / p.batch_size)
        p.do_not_save_grid = True
        announce_jobs(len(prompts), p.steps)
        if prompt_type == "positive":
            p.prompt = prompts
        else:
            p.negative_prompt = prompts
        p.seed = [int(p.seed) + (i if different_seeds else 0) for i in range(len(prompts))]
        processed = process_images(p)

        if len(processed.images) == len(prompts):
            rows = 1 << ((len(parts) - 1) // 2)
            grid = images.image_grid(processed.images, rows=rows)
            grid = images.draw_prompt_matrix(grid, processed.images[0].width, processed.images[0].height, parts,
                                             int(margin_size or 0))
            processed.images.insert(0, grid)
            processed.index_of_first_image = 1
            processed.infotexts.insert(0, processed.infotexts[0])
            save_grid(p, grid, "prompt_matrix", processed.infotexts[0], source, processed.seed)
        return processed
