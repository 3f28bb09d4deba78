"""X/Y/Z plot's axis types (A1111's `axis_options`), limited to what Easel's engine does.

Each AxisOption has A1111's constructor (label, type, apply, format_value, confirm, cost,
choices, prepare), so extensions that append their own to `scripts/xyz_grid.py`'s
`axis_options` keep working. `apply(p, x, xs)` sets one value on a copy of `p`;
`confirm(p, xs)` refuses bad values before anything runs (ParamsError naming the value).

Left out because the engine has no such control: Sigma Churn/min/max/noise, Negative
Guidance minimum sigma, schedule min/max sigma and rho, Extra noise, Cond. Image Mask
Weight, VAE (no per-job VAE switch), UniPC order, Face restore, Token merging, RNG source,
FP8, Always discard next-to-last sigma, SGM noise multiplier.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from modules import sampling
from modules.processing.params import ParamsError
from modules.processing.upscalers import upscaler_names


def str_permutations(x: Any) -> Any:
    """A1111's marker type: the axis takes every permutation of the listed values."""
    return x


# --- apply ----------------------------------------------------------------------------------

def apply_field(field: str) -> Callable[[Any, Any, list], None]:
    def apply(p: Any, x: Any, xs: list) -> None:
        setattr(p, field, x)
    return apply


def apply_override(key: str) -> Callable[[Any, Any, list], None]:
    def apply(p: Any, x: Any, xs: list) -> None:
        p.override_settings = {**p.override_settings, key: x}
    return apply


def apply_prompt(p: Any, x: str, xs: list) -> None:
    """Prompt S/R: the first value is searched for and replaced by each value in turn."""
    if xs[0] not in p.prompt and xs[0] not in p.negative_prompt:
        raise ParamsError("script_args", f"Prompt S/R did not find {xs[0]!r} in the prompt or negative prompt")
    p.prompt = p.prompt.replace(xs[0], x)
    p.negative_prompt = p.negative_prompt.replace(xs[0], x)


def apply_order(p: Any, x: tuple, xs: list) -> None:
    """Prompt order: the listed words put back into the prompt in this permutation's order."""
    found = sorted((p.prompt.find(token), token) for token in x)
    missing = [token for position, token in found if position < 0]
    if missing:
        raise ParamsError("script_args", f"Prompt order: {missing[0]!r} is not in the prompt")
    parts, rest = [], p.prompt
    for _, token in found:
        index = rest.find(token)
        parts.append(rest[:index])
        rest = rest[index + len(token):]
    p.prompt = "".join(part + token for part, token in zip(parts, x)) + rest


def apply_checkpoint(p: Any, x: str, xs: list) -> None:
    p.override_settings = {**p.override_settings, "sd_model_checkpoint": x}


def apply_styles(p: Any, x: str, xs: list) -> None:
    p.styles = list(p.styles or []) + [name.strip() for name in x.split(",") if name.strip()]


def apply_size(p: Any, x: str, xs: list) -> None:
    p.width, p.height = parse_size(x)


def apply_refiner(p: Any, x: str, xs: list) -> None:
    p.refiner_checkpoint = None if x in ("", "None", "none") else x


def do_nothing(p: Any, x: Any, xs: list) -> None:
    pass


def parse_size(text: str) -> tuple[int, int]:
    width, sep, height = str(text).lower().partition("x")
    try:
        if not sep:
            raise ValueError
        return int(width.strip()), int(height.strip())
    except ValueError:
        raise ParamsError("script_args", f"{text!r} is not WIDTHxHEIGHT (e.g. 512x768)") from None


# --- format ---------------------------------------------------------------------------------

def _rounded(x: Any) -> Any:
    return round(x, 8) if isinstance(x, float) else x


def format_value_add_label(p: Any, opt: "AxisOption", x: Any) -> str:
    return f"{opt.label}: {_rounded(x)}"


def format_value(p: Any, opt: "AxisOption", x: Any) -> str:
    return str(_rounded(x))


def format_value_join_list(p: Any, opt: "AxisOption", x: Any) -> str:
    return ", ".join(x)


def format_nothing(p: Any, opt: "AxisOption", x: Any) -> str:
    return ""


def format_remove_path(p: Any, opt: "AxisOption", x: Any) -> str:
    return os.path.basename(str(x))


# --- confirm (before the first image) ---------------------------------------------------------

def _check_each(xs: list, check: Callable[[Any], None]) -> None:
    for x in xs:
        try:
            check(x)
        except ParamsError:
            raise
        except Exception as e:  # noqa: BLE001 - the engine's lookups raise several types
            raise ParamsError("script_args", f"{x!r}: {e}") from None


def confirm_samplers(p: Any, xs: list) -> None:
    _check_each(xs, lambda x: sampling.resolve_sampler_and_schedule(str(x), "Automatic"))


def confirm_schedules(p: Any, xs: list) -> None:
    _check_each(xs, lambda x: sampling.resolve_sampler_and_schedule("Euler", str(x)))


def confirm_upscalers(p: Any, xs: list) -> None:
    names = upscaler_names()

    def check(x: Any) -> None:
        if x not in names:
            raise ValueError(f"unknown upscaler; choose one of {names}")
    _check_each(xs, check)


def _models(p: Any) -> Any:
    state = getattr(p, "engine_state", None)
    return getattr(state, "models", None)


def confirm_checkpoints(p: Any, xs: list) -> None:
    models = _models(p)
    if models is not None:
        _check_each(xs, models.find)


def confirm_checkpoints_or_none(p: Any, xs: list) -> None:
    confirm_checkpoints(p, [x for x in xs if x not in (None, "", "None", "none")])


def confirm_styles(p: Any, xs: list) -> None:
    styles = getattr(getattr(p, "engine_state", None), "styles", None)
    if styles is None:
        return
    known = styles.names()

    def check(x: Any) -> None:
        for name in (n.strip() for n in str(x).split(",") if n.strip()):
            if name not in known:
                raise ValueError(f"unknown style {name!r}; known styles: {known}")
    _check_each(xs, check)


def confirm_sizes(p: Any, xs: list) -> None:
    for x in xs:
        width, height = parse_size(x)
        if not (64 <= width <= 2048 and 64 <= height <= 2048 and width % 8 == 0 and height % 8 == 0):
            raise ParamsError("script_args", f"{x!r}: width and height must be multiples of 8 from 64 to 2048")


def confirm_range(low: float, high: float) -> Callable[[Any, list], None]:
    def confirm(p: Any, xs: list) -> None:
        for x in xs:
            if not low <= x <= high:
                raise ParamsError("script_args", f"{x!r} must be between {low} and {high}")
    return confirm


# --- choices (the values dropdown) -----------------------------------------------------------

def _checkpoint_titles(p: Any) -> list[str]:
    models = _models(p)
    return sorted((info.title for info in models.checkpoints), key=str.casefold) if models is not None else []


class AxisOption:
    """One axis type. `choices(p)` (or A1111's no-argument `choices()`) lists the values the
    values dropdown offers; `p` here is anything with an `engine_state` (the script)."""

    is_img2img: bool | None = None  # None: both tabs

    def __init__(self, label: str, type: Any, apply: Callable, format_value: Callable = format_value_add_label,
                 confirm: Callable | None = None, cost: float = 0.0, choices: Callable | None = None,
                 prepare: Callable | None = None):
        self.label, self.type, self.apply = label, type, apply
        self.format_value, self.confirm, self.cost = format_value, confirm, cost
        self.choices, self.prepare = choices, prepare

    def choice_list(self, owner: Any) -> list[str] | None:
        if self.choices is None:
            return None
        try:
            return list(self.choices(owner))
        except TypeError:  # A1111-style choices() with no argument
            return list(self.choices())

    @property
    def kind(self) -> str:
        return {int: "int", float: "float", str_permutations: "permutations"}.get(self.type, "str")

    def shown_on(self, is_img2img: bool) -> bool:
        return self.is_img2img is None or self.is_img2img == is_img2img


class AxisOptionImg2Img(AxisOption):
    is_img2img = True


class AxisOptionTxt2Img(AxisOption):
    is_img2img = False


def _style_names(owner: Any = None) -> list[str]:
    styles = getattr(getattr(owner, "engine_state", None), "styles", None)
    return styles.names() if styles is not None else []


def _samplers(_: Any = None) -> list[str]:
    return sampling.sampler_names()


# A1111's order, so the common indices (0 Nothing … 11 Checkpoint name on txt2img) match.
axis_options: list[AxisOption] = [
    AxisOption("Nothing", str, do_nothing, format_value=format_nothing),
    AxisOption("Seed", int, apply_field("seed")),
    AxisOption("Var. seed", int, apply_field("subseed")),
    AxisOption("Var. strength", float, apply_field("subseed_strength"), confirm=confirm_range(0, 1)),
    AxisOption("Steps", int, apply_field("steps"), confirm=confirm_range(1, 150)),
    AxisOptionTxt2Img("Hires steps", int, apply_field("hr_second_pass_steps"),
                      confirm=confirm_range(0, 150)),
    AxisOption("CFG Scale", float, apply_field("cfg_scale"), confirm=confirm_range(0, 100)),
    AxisOptionImg2Img("Image CFG Scale", float, apply_field("image_cfg_scale"),
                      confirm=confirm_range(0, 100)),
    AxisOption("Prompt S/R", str, apply_prompt, format_value=format_value),
    AxisOption("Prompt order", str_permutations, apply_order, format_value=format_value_join_list),
    AxisOptionTxt2Img("Sampler", str, apply_field("sampler_name"), format_value=format_value,
                      confirm=confirm_samplers, choices=_samplers),
    AxisOptionTxt2Img("Hires sampler", str, apply_field("hr_sampler_name"), confirm=confirm_samplers,
                      choices=_samplers),
    AxisOptionImg2Img("Sampler", str, apply_field("sampler_name"), format_value=format_value,
                      confirm=confirm_samplers, choices=_samplers),
    AxisOption("Checkpoint name", str, apply_checkpoint, format_value=format_remove_path,
               confirm=confirm_checkpoints, cost=1.0, choices=_checkpoint_titles),
    AxisOption("Schedule type", str, apply_field("scheduler"), confirm=confirm_schedules,
               choices=lambda _=None: sampling.schedule_labels()),
    AxisOption("Eta", float, apply_field("eta"), confirm=confirm_range(0, 1)),
    AxisOption("Clip skip", int, apply_override("CLIP_stop_at_last_layers"), confirm=confirm_range(1, 12)),
    AxisOption("Denoising", float, apply_field("denoising_strength"), confirm=confirm_range(0, 1)),
    AxisOptionImg2Img("Initial noise multiplier", float, apply_field("initial_noise_multiplier"),
                      confirm=confirm_range(0, 2)),
    AxisOptionTxt2Img("Hires upscaler", str, apply_field("hr_upscaler"), confirm=confirm_upscalers,
                      choices=lambda _=None: upscaler_names()),
    AxisOption("Styles", str, apply_styles, confirm=confirm_styles, choices=_style_names),
    AxisOption("Refiner checkpoint", str, apply_refiner, format_value=format_remove_path,
               confirm=confirm_checkpoints_or_none, cost=1.0,
               choices=lambda owner=None: ["None", *_checkpoint_titles(owner)]),
    AxisOption("Refiner switch at", float, apply_field("refiner_switch_at"),
               confirm=confirm_range(0, 1)),
    AxisOption("Size", str, apply_size, format_value=format_value, confirm=confirm_sizes),
]
