"""Prompts from file or textbox (A1111's scripts/prompts_from_file.py): one job per line.
A line is a prompt, or A1111's options: --prompt "a red circle" --seed 5 --steps 10 ...
(the tags below), --prompt and --negative_prompt taking every word up to the next --.

script_args, in A1111's order: checkbox_iterate ("Iterate seed every line"),
checkbox_iterate_batch ("Use same random seed for all lines"), prompt_position ("start" or
"end": where a line's prompt goes relative to the tab's prompt), prompt_txt, make_combined."""

from __future__ import annotations

import copy
import random
import shlex
from collections.abc import Callable
from typing import Any

import gradio as gr

import modules.scripts as scripts
from modules import images, sampling
from modules.processing import Processed, process_images
from modules.processing.params import ParamsError
from modules.script_helpers import announce_jobs, save_grid, stopped


def _bool(text: str) -> bool:
    return text.lower() == "true"


def _sampler(text: str) -> str:
    try:
        return sampling.resolve_sampler_and_schedule(text, "Automatic")[0].name
    except ValueError:
        raise ValueError(f"unknown sampler {text!r}; choose one of {sampling.sampler_names()}") from None


def _styles(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


# A1111's prompt_tags (outpath_* are left out: a request must not pick where files are written)
PROMPT_TAGS: dict[str, Callable[[str], Any]] = {
    "sd_model": str, "prompt_for_display": str, "prompt": str, "negative_prompt": str, "styles": _styles,
    "seed": int, "subseed_strength": float, "subseed": int, "seed_resize_from_h": int, "seed_resize_from_w": int,
    "sampler_index": _sampler, "sampler_name": _sampler, "scheduler": str, "batch_size": int, "n_iter": int,
    "steps": int, "cfg_scale": float, "width": int, "height": int, "restore_faces": _bool, "tiling": _bool,
    "do_not_save_samples": _bool, "do_not_save_grid": _bool, "denoising_strength": float,
}


def cmdargs(line: str) -> dict[str, Any]:
    """One line's options (ValueError says what is wrong)."""
    try:
        args = shlex.split(line)
    except ValueError as e:
        raise ValueError(f"cannot split it into options ({e})") from None
    result: dict[str, Any] = {}
    pos = 0
    while pos < len(args):
        arg = args[pos]
        if not arg.startswith("--"):
            raise ValueError(f'{arg!r} must start with "--"')
        if pos + 1 >= len(args):
            raise ValueError(f"missing value for {arg}")
        tag = arg[2:]
        if tag in ("prompt", "negative_prompt"):
            pos += 1
            words = [args[pos]]
            pos += 1
            while pos < len(args) and not args[pos].startswith("--"):
                words.append(args[pos])
                pos += 1
            result[tag] = " ".join(words)
            continue
        convert = PROMPT_TAGS.get(tag)
        if convert is None:
            raise ValueError(f"unknown option {arg}; known: {', '.join('--' + t for t in PROMPT_TAGS)}")
        try:
            result["sampler_name" if tag == "sampler_index" else tag] = convert(args[pos + 1])
        except ValueError as e:
            raise ValueError(f"{arg} {args[pos + 1]!r}: {e}") from None
        pos += 2
    return result


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line's job; ParamsError naming the line for a bad one."""
    jobs = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if "--" not in line:
            jobs.append({"prompt": line})
            continue
        try:
            jobs.append(cmdargs(line))
        except ValueError as e:
            raise ParamsError("script_args[3]", f"line {number} ({line!r}): {e}") from None
    return jobs


def load_prompt_file(file):
    if file is None:
        return None, gr.update()
    data = file if isinstance(file, bytes) else open(file, "rb").read()
    lines = [line.strip() for line in data.decode("utf8", errors="ignore").split("\n")]
    return None, gr.update(value="\n".join(lines), lines=7)


class Script(scripts.Script):
    def title(self):
        return "Prompts from file or textbox"

    def ui(self, is_img2img):
        checkbox_iterate = gr.Checkbox(label="Iterate seed every line", value=False,
                                       elem_id=self.elem_id("checkbox_iterate"))
        checkbox_iterate_batch = gr.Checkbox(label="Use same random seed for all lines", value=False,
                                             elem_id=self.elem_id("checkbox_iterate_batch"))
        prompt_position = gr.Radio(["start", "end"], label="Insert prompts at the", value="start",
                                   elem_id=self.elem_id("prompt_position"))
        make_combined = gr.Checkbox(label="Make a combined image containing all outputs (if more than one)",
                                    value=False, elem_id=self.elem_id("make_combined"))
        prompt_txt = gr.Textbox(label="List of prompt inputs", lines=2, elem_id=self.elem_id("prompt_txt"))
        file = gr.File(label="Upload prompt inputs", type="binary", elem_id=self.elem_id("file"))
        file.upload(fn=load_prompt_file, inputs=[file], outputs=[file, prompt_txt], show_progress="hidden")
        return [checkbox_iterate, checkbox_iterate_batch, prompt_position, prompt_txt, make_combined]

    def check_args(self, request, checkbox_iterate=False, checkbox_iterate_batch=False, prompt_position="start",
                   prompt_txt="", make_combined=False):
        if prompt_position not in ("start", "end"):
            raise ParamsError("script_args[2]", f"prompt position must be \"start\" or \"end\", got {prompt_position!r}")
        if not isinstance(prompt_txt, str):
            raise ParamsError("script_args[3]", "the list of prompt inputs must be text")
        jobs = parse_lines(prompt_txt)
        if not jobs:
            raise ParamsError("script_args[3]", "the list of prompt inputs is empty (one prompt per line)")
        models = getattr(self.engine_state, "models", None)
        for job in jobs:
            if "sd_model" in job and models is not None:
                try:
                    models.find(job["sd_model"])
                except Exception as e:  # noqa: BLE001 - CheckpointNotFoundError, with its suggestions
                    raise ParamsError("script_args[3]", f"--sd_model: {e}") from None
        return jobs

    def run(self, p, checkbox_iterate, checkbox_iterate_batch, prompt_position, prompt_txt, make_combined=False):
        jobs = self.check_args({}, checkbox_iterate, checkbox_iterate_batch, prompt_position, prompt_txt,
                               make_combined)
        p.do_not_save_grid = True
        if (checkbox_iterate or checkbox_iterate_batch) and p.seed == -1:
            p.seed = random.randrange(4294967294)
        announce_jobs(sum(job.get("n_iter", p.n_iter) * job.get("batch_size", p.batch_size) for job in jobs), p.steps)

        pictures, prompts, seeds, infotexts = [], [], [], []
        for job in jobs:
            if stopped():
                break
            pc = copy.copy(p)
            pc.override_settings = dict(p.override_settings)
            for key, value in job.items():
                if key == "sd_model":
                    pc.override_settings["sd_model_checkpoint"] = value
                else:
                    setattr(pc, key, value)
            for field in ("prompt", "negative_prompt"):
                if job.get(field) and getattr(p, field):
                    own, line = getattr(p, field), job[field]
                    setattr(pc, field, f"{line} {own}" if prompt_position == "start" else f"{own} {line}")
            processed = process_images(pc)
            pictures += processed.images
            prompts += processed.all_prompts[:len(processed.images)]
            seeds += processed.all_seeds[:len(processed.images)]
            infotexts += processed.infotexts
            if checkbox_iterate:
                p.seed = p.seed + p.batch_size * p.n_iter

        if make_combined and len(pictures) > 1:
            grid = images.image_grid(pictures, rows=None)
            save_grid(p, grid, "grid", infotexts[0], prompts[0], seeds[0])
            pictures, infotexts = [grid] + pictures, [infotexts[0]] + infotexts
        return Processed(p, pictures, seeds[0] if seeds else p.seed, infotexts[0] if infotexts else "",
                         all_prompts=prompts, all_seeds=seeds, infotexts=infotexts,
                         index_of_first_image=1 if make_combined and len(pictures) > 2 else 0)
