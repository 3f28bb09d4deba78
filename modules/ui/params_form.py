"""Form values <-> generation params, and infotext -> form values (paste, PNG Info send-to).

Gradio-free on purpose: the tabs map param names to components and call these, so the
conversions are testable without a browser. Validation stays in the engine's params.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from modules import images, networks, sampling
from modules.processing import GenerationParams
from modules.processing.params import INPAINTING_FILL
from modules.sd_models.checkpoints import CheckpointInfo

# infotext key (as parse_infotext returns it) -> params field
INFOTEXT_FIELDS: dict[str, str] = {
    "Prompt": "prompt",
    "Negative prompt": "negative_prompt",
    "Steps": "steps",
    "Sampler": "sampler_name",
    "Schedule type": "scheduler",
    "CFG scale": "cfg_scale",
    "Seed": "seed",
    "Size-1": "width",
    "Size-2": "height",
    "Variation seed": "subseed",
    "Variation seed strength": "subseed_strength",
    "Seed resize from-1": "seed_resize_from_w",
    "Seed resize from-2": "seed_resize_from_h",
    "Denoising strength": "denoising_strength",
    "Hires upscale": "hr_scale",
    "Hires steps": "hr_second_pass_steps",
    "Hires upscaler": "hr_upscaler",
    "Hires resize-1": "hr_resize_x",
    "Hires resize-2": "hr_resize_y",
    "Hires sampler": "hr_sampler_name",
    "Hires schedule type": "hr_scheduler",
    "Hires prompt": "hr_prompt",
    "Hires negative prompt": "hr_negative_prompt",
    "Mask blur": "mask_blur",
    "Masked area padding": "inpaint_full_res_padding",
    # as modules/processing/refiner.py writes them (infotext_fields.py has no refiner names)
    "Refiner": "refiner_checkpoint",
    "Refiner switch at": "refiner_switch_at",
}
MASK_MODES = {"Inpaint masked": 0, "Inpaint not masked": 1}  # -> inpainting_mask_invert
INPAINT_AREAS = {"Whole picture": False, "Only masked": True}  # -> inpaint_full_res
HIRES_KEYS = ("Hires upscale", "Hires upscaler", "Hires steps")
PARAMS_LINE_KEY = "Steps"  # every A1111 infotext has it; plain prompts do not
NO_REFINER = "None"  # the refiner dropdown's "no refiner" choice
SHORT_TITLE = re.compile(r"^(?P<name>.*?)\s*\[(?P<hash>[0-9a-fA-F]+)\]$")  # A1111's "name [shorthash]"


def _base_type(hint: Any) -> type | None:
    """int for `int` and `int | None`; None when the field is not a plain scalar."""
    if hint in (int, float, str, bool):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and args[0] in (int, float, str, bool) else None


def _coerce(value: Any, kind: type | None) -> Any:
    """Gradio gives floats for sliders and numbers; make whole numbers ints where the field
    is an int. Anything else passes through for the engine's validation to name."""
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def params_from_form(cls: type[GenerationParams], values: Mapping[str, Any]) -> GenerationParams:
    """Params of `cls` from form values keyed by field name; raises ParamsError (field named)."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"form field {unknown[0]!r} is not a {cls.__name__} field")
    converted = {name: _coerce(value, _base_type(hints[name])) for name, value in values.items()}
    return cls(**converted).validate()


def without_unset_refiner(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form values with "None" in the refiner dropdown meaning no refiner (and no switch)."""
    values = dict(values)
    if values.get("refiner_checkpoint") in (None, "", NO_REFINER):
        values["refiner_checkpoint"], values["refiner_switch_at"] = None, None
    return values


def checkpoint_title(text: str | None, checkpoints: Sequence[CheckpointInfo]) -> str:
    """The listed checkpoint title an infotext's "Refiner" names, NO_REFINER when none matches.

    Infotexts carry A1111's short title "name [shorthash]": the hash finds the very file,
    the bare name one that was renamed or not hashed yet (A1111's closest match, simplified)."""
    text = (text or "").strip()
    short = SHORT_TITLE.match(text)
    queries = [text, *((short["hash"], short["name"]) if short else ())]
    for query in queries:
        for info in checkpoints:
            if query and info.matches(query):
                return info.title
    return NO_REFINER


def _convert_text(text: Any, kind: type | None) -> Any:
    if kind is None or isinstance(text, kind) and not (kind is int and isinstance(text, bool)):
        return text
    try:
        if kind is int:
            return int(float(text))
        if kind is float:
            return float(text)
        if kind is bool:
            return str(text).strip().lower() in ("true", "1", "yes")
    except ValueError:
        return None
    return str(text)


def has_parameters(text: str) -> bool:
    """True when the text looks like an A1111 infotext (has a parameters line)."""
    return bool(text) and PARAMS_LINE_KEY in images.parse_infotext(text)


def values_from_infotext(text: str, cls: type[GenerationParams], styles: Any = None,
                         loras: networks.LoraLibrary | None = None) -> dict[str, Any]:
    """Form values (by params field name) that an infotext sets for `cls`.

    The sampler name may carry the schedule ("DPM++ 2M Karras"); it is split as A1111 does.
    With a style database, styles found at the end of the prompts are peeled off and listed.
    With a LoRA library, tags naming a renamed LoRA file get its new name (by `Lora hashes`).
    Unparseable numbers are left out rather than guessed.
    """
    parsed = images.parse_infotext(text)
    if loras is not None:
        parsed = networks.relink_pasted_loras(parsed, loras)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, name in INFOTEXT_FIELDS.items():
        if key in parsed and name in known:
            value = _convert_text(parsed[key], _base_type(hints[name]))
            if value is not None:
                values[name] = value
    if "sampler_name" in values:
        try:
            sampler, schedule = sampling.resolve_sampler_and_schedule(values["sampler_name"],
                                                                      values.get("scheduler", "Automatic"))
            values["sampler_name"], values["scheduler"] = sampler.name, schedule.label
        except ValueError:
            pass  # unknown sampler: keep the text, Generate will name it
    if "enable_hr" in known:
        values["enable_hr"] = any(key in parsed for key in HIRES_KEYS)
    if "refiner_checkpoint" in known and "Refiner" not in parsed:
        values["refiner_checkpoint"] = NO_REFINER  # A1111 turns the refiner off for such an infotext
    if "inpainting_fill" in known and "Masked content" in parsed:
        by_label = {label: index for index, label in INPAINTING_FILL.items()}
        if parsed["Masked content"] in by_label:
            values["inpainting_fill"] = by_label[parsed["Masked content"]]
    if "inpainting_mask_invert" in known and parsed.get("Mask mode") in MASK_MODES:
        values["inpainting_mask_invert"] = MASK_MODES[parsed["Mask mode"]]
    if "inpaint_full_res" in known and parsed.get("Inpaint area") in INPAINT_AREAS:
        values["inpaint_full_res"] = INPAINT_AREAS[parsed["Inpaint area"]]
    if styles is not None and styles.names():
        found, prompt, negative = styles.extract_styles_from_prompt(values.get("prompt", ""),
                                                                    values.get("negative_prompt", ""))
        if found:
            values.update(styles=found, prompt=prompt, negative_prompt=negative)
    return values


def only(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The values whose names are in `names` (what one tab shows)."""
    names = set(names)
    return {k: v for k, v in values.items() if k in names}
