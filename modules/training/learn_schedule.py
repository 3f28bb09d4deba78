"""A1111's learning-rate schedule syntax: "0.005:100, 1e-3:1000, 1e-5".

Each entry is `rate` or `rate:end_step`: the rate holds for steps before `end_step` (counted
over the embedding's whole life, so a resumed run picks up the right phase). An entry without
an end step (or with -1) holds until max steps and must be the last. When the last end step
is reached, training stops, as in A1111. The same syntax sets the gradient-clipping value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modules.processing.params import ParamsError

SYNTAX_HELP = 'a number, or phases like "0.005:100, 1e-3:1000, 1e-5" (rate until step, last one open-ended)'


@dataclass(frozen=True)
class SchedulePhase:
    rate: float
    end_step: int | None  # exclusive; None: until max steps


@dataclass(frozen=True)
class LearnRateSchedule:
    phases: tuple[SchedulePhase, ...]

    def rate_at(self, step: int) -> float | None:
        """The rate for the optimizer step that starts with `step` steps done; None once the
        schedule has ended (training stops there)."""
        for phase in self.phases:
            if phase.end_step is None or step < phase.end_step:
                return phase.rate
        return None

    def end_step(self, max_steps: int) -> int:
        """Where training stops: the last end step, or max steps, whichever comes first."""
        last = self.phases[-1].end_step
        return max_steps if last is None else min(last, max_steps)


def parse_schedule(text: str | float | int, field_name: str = "learn_rate") -> LearnRateSchedule:
    """Parse the schedule; a ParamsError names `field_name` and the bad entry."""
    if isinstance(text, bool):
        raise ParamsError(field_name, f"expected {SYNTAX_HELP}, got {text!r}")
    if isinstance(text, (int, float)):
        text = repr(text)
    if not isinstance(text, str):
        raise ParamsError(field_name, f"expected {SYNTAX_HELP}, got {type(text).__name__}")
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        raise ParamsError(field_name, f"is empty; expected {SYNTAX_HELP}")
    phases: list[SchedulePhase] = []
    for entry in entries:
        if phases and phases[-1].end_step is None:
            raise ParamsError(field_name, f"{entry!r} follows an entry without an end step; only the last may omit it")
        phase = _parse_phase(entry, field_name)
        if phases and phase.end_step is not None and phase.end_step <= phases[-1].end_step:
            raise ParamsError(field_name, f"{entry!r}: end steps must increase (previous was {phases[-1].end_step})")
        phases.append(phase)
    return LearnRateSchedule(tuple(phases))


def _parse_phase(entry: str, field_name: str) -> SchedulePhase:
    rate_text, sep, step_text = entry.partition(":")
    try:
        rate = float(rate_text)
    except ValueError:
        raise ParamsError(field_name,
                          f"{rate_text.strip()!r} in {entry!r} is not a number; expected {SYNTAX_HELP}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ParamsError(field_name, f"{entry!r}: the rate must be a positive number")
    if not sep:
        return SchedulePhase(rate, None)
    try:
        end_step = int(step_text.strip())
    except ValueError:
        raise ParamsError(field_name, f"{step_text.strip()!r} in {entry!r} is not a whole step number") from None
    if end_step == -1:
        return SchedulePhase(rate, None)
    if end_step < 1:
        raise ParamsError(field_name, f"{entry!r}: the end step must be >= 1 (or -1 for 'until max steps')")
    return SchedulePhase(rate, end_step)
