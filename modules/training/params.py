"""Textual-inversion training parameters with A1111's field names and UI defaults.

`validate()` checks values alone (types, ranges, schedule syntax); `training.inputs` checks
them against the file system, so the API can refuse bad input before anything is queued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from modules import sampling
from modules.processing.params import ParamsError
from modules.training.learn_schedule import LearnRateSchedule, parse_schedule

LATENT_SAMPLING_METHODS = ("once", "deterministic", "random")
CLIP_GRAD_MODES = ("disabled", "value", "norm")
MAX_VECTORS_PER_TOKEN = 75  # one CLIP chunk
MAX_TRAINING_SIDE = 2048
SIDE_MULTIPLE = 8
LEGACY_SAMPLER_FIELD = "preview_sampler_index"  # A1111 before 1.6; accepted, read as preview_sampler_name


@dataclass
class TrainParams:
    embedding_name: str = ""
    learn_rate: str = "0.005"
    batch_size: int = 1
    gradient_step: int = 1
    data_root: str = ""
    log_directory: str = "textual_inversion"
    training_width: int = 512
    training_height: int = 512
    varsize: bool = False
    steps: int = 100000
    clip_grad_mode: str = "disabled"
    clip_grad_value: str = "0.1"
    shuffle_tags: bool = False
    tag_drop_out: float = 0.0
    latent_sampling_method: str = "once"
    use_weight: bool = False
    create_image_every: int = 500
    save_embedding_every: int = 500
    template_filename: str = "style_filewords.txt"
    save_image_with_stored_embedding: bool = True
    preview_from_txt2img: bool = False
    preview_prompt: str = ""
    preview_negative_prompt: str = ""
    preview_steps: int = 20
    preview_sampler_name: str = "Euler a"
    preview_cfg_scale: float = 7.0
    preview_seed: int = -1
    preview_width: int = 512
    preview_height: int = 512
    seed: int | None = None  # Easel: fixes shuffling, captions and noise for a repeatable run

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainParams":
        """From a job's or request's JSON; unknown fields are refused by name. A1111's UI
        task id (`id_task`) is accepted and ignored."""
        values = {k: v for k, v in data.items() if k != "id_task"}
        legacy_index = values.pop(LEGACY_SAMPLER_FIELD, None)
        if legacy_index is not None and "preview_sampler_name" not in values:
            values["preview_sampler_name"] = _sampler_from_index(legacy_index)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParamsError(unknown[0], "unknown field for train/embedding")
        return cls(**values).validate()

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def learn_rate_schedule(self) -> LearnRateSchedule:
        return parse_schedule(self.learn_rate, "learn_rate")

    @property
    def clip_grad_schedule(self) -> LearnRateSchedule | None:
        return None if self.clip_grad_mode == "disabled" else parse_schedule(self.clip_grad_value, "clip_grad_value")

    def validate(self) -> "TrainParams":
        _text(self, "embedding_name", required=True)
        _text(self, "data_root", required=True)
        _text(self, "template_filename", required=True)
        for name in ("log_directory", "preview_prompt", "preview_negative_prompt"):
            _text(self, name)
        self.learn_rate_schedule  # parse errors name the field
        _choice(self, "clip_grad_mode", CLIP_GRAD_MODES)
        self.clip_grad_schedule
        _choice(self, "latent_sampling_method", LATENT_SAMPLING_METHODS)
        _whole(self, "batch_size", 1, 64)
        _whole(self, "gradient_step", 1, 10_000)
        _whole(self, "steps", 1, 10_000_000)
        _whole(self, "save_embedding_every", 0)
        _whole(self, "create_image_every", 0)
        _whole(self, "preview_steps", 1, 150)
        _text(self, "preview_sampler_name", required=True)
        _whole(self, "preview_seed", -1)
        if self.seed is not None:
            _whole(self, "seed", 0, 2**32 - 1)
        for name in ("training_width", "training_height", "preview_width", "preview_height"):
            _side(self, name)
        for name in ("varsize", "shuffle_tags", "use_weight", "save_image_with_stored_embedding",
                     "preview_from_txt2img"):
            if not isinstance(getattr(self, name), bool):
                raise ParamsError(name, f"must be true or false, got {getattr(self, name)!r}")
        _number(self, "tag_drop_out", 0.0, 1.0)
        _number(self, "preview_cfg_scale", 0.0, 100.0)
        if (self.save_embedding_every or self.create_image_every) and not self.log_directory:
            raise ParamsError("log_directory", "is empty, but snapshots or preview images are to be saved there")
        return self


def _sampler_from_index(index: Any) -> str:
    """A1111 before 1.6 named the preview sampler by its index in the sampler list."""
    names = sampling.sampler_names()
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(names):
        raise ParamsError(LEGACY_SAMPLER_FIELD, f"must be a whole number from 0 to {len(names) - 1}, got {index!r}")
    return names[index]


def _text(p: TrainParams, name: str, required: bool = False) -> None:
    value = getattr(p, name)
    if not isinstance(value, str):
        raise ParamsError(name, f"must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise ParamsError(name, "is empty")


def _choice(p: TrainParams, name: str, allowed: tuple[str, ...]) -> None:
    if getattr(p, name) not in allowed:
        raise ParamsError(name, f"{getattr(p, name)!r} is not one of: {', '.join(allowed)}")


def _whole(p: TrainParams, name: str, low: int, high: int | None = None) -> None:
    value = getattr(p, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(name, f"must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ParamsError(name, f"must be {bounds}, got {value}")


def _number(p: TrainParams, name: str, low: float, high: float) -> None:
    value = getattr(p, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParamsError(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise ParamsError(name, f"must be between {low} and {high}, got {value}")


def _side(p: TrainParams, name: str) -> None:
    _whole(p, name, SIDE_MULTIPLE, MAX_TRAINING_SIDE)
    if getattr(p, name) % SIDE_MULTIPLE:
        raise ParamsError(name, f"must be a multiple of {SIDE_MULTIPLE}, got {getattr(p, name)}")
