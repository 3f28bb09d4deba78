"""Helpers for queue tests: a runner gate held with events (no sleeps), a manual clock."""

from __future__ import annotations

import threading

import pytest

from modules.jobs import JobQueue, JobStore

WAIT = 5.0  # seconds; only reached when a test is already failing


class Gate:
    """Lets a test hold a runner mid-way: the runner calls hold(), the test waits for
    ``reached`` and later calls release()."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._release = threading.Event()

    def hold(self) -> None:
        self.reached.set()
        assert self._release.wait(WAIT), "test never released the runner"

    def wait_reached(self) -> None:
        assert self.reached.wait(WAIT), "runner never reached the gate"

    def release(self) -> None:
        self._release.set()


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "jobs.sqlite3"


class GateFactory:
    def __init__(self) -> None:
        self.made: list[Gate] = []

    def __call__(self) -> Gate:
        self.made.append(Gate())
        return self.made[-1]

    def release_all(self) -> None:
        for gate in self.made:
            gate.release()


@pytest.fixture
def gates():
    factory = GateFactory()
    yield factory
    factory.release_all()


@pytest.fixture
def make_queue(db_path, gates):
    made: list[JobQueue] = []

    def make(runners, **options) -> JobQueue:
        made.append(JobQueue(JobStore(db_path), runners, **options))
        return made[-1]

    yield make
    gates.release_all()  # never leave a worker blocked after a failed test
    for queue in made:
        queue.stop(timeout=WAIT, interrupt=True)
        queue.store.close()
