"""Startup phases and their durations, logged as A1111's "Startup time" line."""

from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Iterator


class StartupTimer:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - begin

    def total(self) -> float:
        return time.perf_counter() - self.started

    def summary(self) -> str:
        parts = ", ".join(f"{name}: {seconds:.1f}s" for name, seconds in self.phases.items())
        return f"Startup time: {self.total():.1f}s ({parts})"
