"""Sampler and schedule-type registries (extensions add entries with register_*).

Lookups are case-insensitive over names, labels and aliases.  A1111's old combined names
("DPM++ 2M Karras", "Euler a Exponential") and legacy aliases ending in "_ka" / "_exp"
("k_dpmpp_2m_ka") resolve through :func:`resolve_sampler_and_schedule`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from torch import Tensor

from modules.sampling.discrete import DiscreteSigmas
from modules.sampling.interface import SamplerFunction
from modules.sampling.schedules import ScheduleOptions

ScheduleFunction = Callable[[int, float, float, DiscreteSigmas, ScheduleOptions], Tensor]

ETA_OPTIONS = ("eta_ancestral", "eta_ddim")
_RESERVED_PARAMETERS = {"noise_sampler", "reporter"}


@dataclass(frozen=True)
class ScheduleSpec:
    name: str  # A1111 internal name, e.g. "karras"
    label: str  # A1111 UI / infotext label, e.g. "Karras"
    function: ScheduleFunction | None  # None only for "automatic" (the sampler's default)
    aliases: tuple[str, ...] = ()
    needs_model_sigmas: bool = False  # follows the model's trained timesteps
    default_rho: float | None = None

    def keys(self) -> tuple[str, ...]:
        return (self.name, self.label, *self.aliases)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: default_options is a mapping
class SamplerSpec:
    """A sampler as users and extensions see it.

    ``function(denoiser, x, sigmas, *, noise_sampler, reporter, **options)``; its other
    keyword parameters are the sampler's options, ``default_options`` overrides their
    defaults (e.g. ``solver_type="heun"``).  The flags mirror A1111's sampler options.
    """

    name: str  # A1111 display name, e.g. "DPM++ 2M"
    function: SamplerFunction
    aliases: tuple[str, ...] = ()
    default_schedule: str = "uniform"  # what "Automatic" means for this sampler
    default_options: Mapping[str, Any] = field(default_factory=dict)
    eta_option: str | None = None  # which A1111 eta setting feeds ``eta``: eta_ancestral / eta_ddim
    second_order: bool = False  # about two denoiser calls per step
    brownian_noise: bool = False  # default noise is a Brownian tree seeded by the image seeds
    uses_ensd: bool = False  # A1111 applies "Eta noise seed delta" to its noise seed
    discard_next_to_last_sigma: bool = False  # schedule built with steps + 1, penultimate sigma dropped
    ignores_steps: bool = False  # only the schedule's sigma range matters (DPM adaptive)
    needs_uncond: bool = False  # calls denoiser(x, sigma, return_uncond=True) -> (guided, uncond)
    cfg_scale_multiplier: float = 1.0  # the engine multiplies the CFG scale by this (CFG++: 1/12.5)
    consistency_model: bool = False  # meant for LCM models; the engine wraps the model accordingly

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("sampler name must not be empty")
        if not callable(self.function):
            raise ValueError(f"sampler {self.name!r}: function must be callable")
        if self.eta_option is not None and self.eta_option not in ETA_OPTIONS:
            raise ValueError(f"sampler {self.name!r}: eta_option must be one of {ETA_OPTIONS} or None")
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "default_options", MappingProxyType(dict(self.default_options)))
        unknown = set(self.default_options) - set(self.option_names())
        if unknown:
            raise ValueError(f"sampler {self.name!r}: default_options {sorted(unknown)} are not "
                             f"parameters of its function (valid: {self.option_names()})")

    def keys(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def option_names(self) -> list[str]:
        params = inspect.signature(self.function).parameters.values()
        return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _RESERVED_PARAMETERS]

    def resolve_options(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Default options merged with ``overrides``; unknown names are a ValueError."""
        valid = self.option_names()
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise ValueError(f"sampler {self.name!r} has no option(s) {unknown}; valid options: {valid}")
        return {**self.default_options, **overrides}


class _Registry:
    """Specs by canonical name plus a case-insensitive key index (names, labels, aliases)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.specs: dict[str, Any] = {}
        self.index: dict[str, str] = {}

    def add(self, spec: Any, canonical: str, keys: tuple[str, ...], replace: bool) -> None:
        clashes = {k for k in keys if self.index.get(k.casefold(), canonical) != canonical}
        if clashes:
            raise ValueError(f"{self.kind} {canonical!r}: {sorted(clashes)} already name another {self.kind}")
        if canonical in self.specs:
            if not replace:
                raise ValueError(f"{self.kind} {canonical!r} is already registered (pass replace=True to override)")
            self.index = {k: v for k, v in self.index.items() if v != canonical}
        self.specs[canonical] = spec
        self.index.update({k.casefold(): canonical for k in keys})

    def remove(self, key: str) -> None:
        canonical = self.index.get(key.strip().casefold())
        if canonical is None:
            raise ValueError(f"Unknown {self.kind} {key!r}")
        del self.specs[canonical]
        self.index = {k: v for k, v in self.index.items() if v != canonical}

    def find(self, key: str) -> Any | None:
        canonical = self.index.get(key.strip().casefold())
        return self.specs[canonical] if canonical is not None else None


_SAMPLERS = _Registry("sampler")
_SCHEDULES = _Registry("schedule type")


def register_sampler(spec: SamplerSpec, *, replace: bool = False) -> None:
    _SAMPLERS.add(spec, spec.name, spec.keys(), replace)


def register_schedule(spec: ScheduleSpec, *, replace: bool = False) -> None:
    if spec.function is None and spec.name != "automatic":
        raise ValueError(f"schedule type {spec.name!r} needs a function")
    _SCHEDULES.add(spec, spec.name, spec.keys(), replace)


def unregister_sampler(name: str) -> None:
    """Remove a sampler (by name or alias), e.g. when an extension is disabled."""
    _SAMPLERS.remove(name)


def unregister_schedule(name: str) -> None:
    _SCHEDULES.remove(name)


def sampler_names() -> list[str]:
    return list(_SAMPLERS.specs)


def schedule_labels() -> list[str]:
    return [spec.label for spec in _SCHEDULES.specs.values()]


def schedule_names() -> list[str]:
    return list(_SCHEDULES.specs)


def get_sampler(name: str | SamplerSpec) -> SamplerSpec:
    """A sampler by display name or alias (case-insensitive)."""
    if isinstance(name, SamplerSpec):
        return name
    spec = _SAMPLERS.find(str(name))
    if spec is None:
        raise ValueError(f"Unknown sampler {name!r}. Valid samplers: {', '.join(sampler_names())}")
    return spec


def get_schedule(name: str | ScheduleSpec | None) -> ScheduleSpec:
    """A schedule type by label, name or alias (case-insensitive); None or "" is Automatic."""
    if isinstance(name, ScheduleSpec):
        return name
    spec = _SCHEDULES.find(str(name or "automatic"))
    if spec is None:
        raise ValueError(f"Unknown schedule type {name!r}. Valid schedule types: {', '.join(schedule_labels())}")
    return spec


_LEGACY_SUFFIXES = (("_ka", "karras"), ("_exp", "exponential"))


def resolve_sampler_and_schedule(sampler: str | SamplerSpec,
                                 schedule: str | ScheduleSpec | None = None) -> tuple[SamplerSpec, ScheduleSpec]:
    """Sampler and schedule type from possibly old-style names.

    "DPM++ 2M Karras" -> (DPM++ 2M, Karras): a schedule named in the sampler name wins over
    ``schedule``, as in A1111.  The schedule may stay Automatic; see plan.effective_schedule.
    """
    if isinstance(sampler, SamplerSpec) or _SAMPLERS.find(sampler) is not None:
        return get_sampler(sampler), get_schedule(schedule)
    text = sampler.strip()
    for spec in _SCHEDULES.specs.values():
        for key in spec.keys():
            suffix = " " + key
            if text.casefold().endswith(suffix.casefold()) and _SAMPLERS.find(text[: -len(suffix)]) is not None:
                return get_sampler(text[: -len(suffix)]), spec
    for suffix, schedule_name in _LEGACY_SUFFIXES:
        if text.casefold().endswith(suffix) and _SAMPLERS.find(text[: -len(suffix)]) is not None:
            return get_sampler(text[: -len(suffix)]), get_schedule(schedule_name)
    return get_sampler(sampler), get_schedule(schedule)
