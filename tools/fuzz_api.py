#!/usr/bin/env python3
"""Fuzz Easel's HTTP API with schemathesis, in-process (ASGI, no port), and print a JSON report.

    venv/bin/python tools/fuzz_api.py [--max-examples 25] [--seconds 300] [--seed 0] [--demo-model] [--only REGEX]

Every operation in /openapi.json except those that end the server gets schemathesis's positive
(schema-valid) and negative (schema-breaking) cases. A 5xx answer, or an exception escaping the
app (a 500 under a real server), is a finding; bad input must be a 4xx that names the field. /easel/v1/jobs also gets the
txt2img and img2img bodies' cases as its free-form params.
The app runs on a temporary data dir with a tiny random-weight checkpoint (or the demo model).

Generation is real, and a schema-valid request may ask for hours of work (2048x2048, 150 steps,
100 batches): in generation requests, sizes and counts that the engine would accept are made
small before sending (values it must refuse are sent as they are). Jobs queued through the async
API are cancelled after each request, and a model unloaded by /unload-checkpoint is loaded again
before the next operation, so every operation meets a working server. The time budget is
checked before each request. The exit status is 1 when there are findings.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENDS_THE_SERVER = r"/sdapi/v1/server-(kill|stop|restart)$"
EXAMPLES_KEPT = 10
TEXT_LIMIT = 400
GENERATION_BODIES = {"POST /sdapi/v1/txt2img": None, "POST /sdapi/v1/img2img": None, "POST /easel/v1/jobs": "params"}


def cheap_limits() -> dict[str, tuple[int | float, int | float]]:
    """field -> (small value to send, largest value the engine accepts)."""
    from modules.processing.params import MAX_BATCH_COUNT, MAX_BATCH_SIZE, MAX_SIDE, MAX_STEPS

    return {"steps": (2, MAX_STEPS), "hr_second_pass_steps": (1, MAX_STEPS), "batch_size": (1, MAX_BATCH_SIZE),
            "n_iter": (1, MAX_BATCH_COUNT), "width": (64, MAX_SIDE), "height": (64, MAX_SIDE),
            "hr_resize_x": (0, MAX_SIDE * 2), "hr_resize_y": (0, MAX_SIDE * 2), "hr_scale": (1.0, 4.0)}


def cheapen(params: Any, limits: dict[str, tuple[int | float, int | float]]) -> None:
    """Make a generation request's accepted sizes and counts small, in place; also the defaults
    (512x512, 20 steps) of fields the request leaves out."""
    if not isinstance(params, dict):
        return
    for name, (small, largest) in limits.items():
        value = params.get(name, largest)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and small < value <= largest:
            params[name] = small


def clip(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + f"… ({len(text)} chars)"


class Findings:
    """Counts answers and keeps the first server errors, with what was sent."""

    def __init__(self) -> None:
        self.requests = 0
        self.statuses: dict[str, Counter[str]] = {}  # operation -> status -> count
        self.server_errors: list[dict[str, Any]] = []
        self.server_error_count = 0

    def record(self, label: str, case: Any, status: int | None, answer: str) -> None:
        self.requests += 1
        self.statuses.setdefault(label, Counter())[str(status or "exception")] += 1
        if status is not None and status < 500:
            return
        self.server_error_count += 1
        if len(self.server_errors) < EXAMPLES_KEPT:
            from schemathesis.core import NOT_SET

            body = None if case.body is NOT_SET else case.body
            self.server_errors.append({"operation": label, "status": status or "exception",
                                       "path": case.formatted_path, "query": case.query, "body": clip(body),
                                       "answer": clip(answer)})

    def totals(self) -> dict[str, int]:
        return dict(sorted(sum(self.statuses.values(), Counter()).items()))


def send(label: str, case: Any, findings: Findings, limits: dict) -> None:
    operation = case.operation.label
    if operation in GENERATION_BODIES and isinstance(case.body, dict):
        key = GENERATION_BODIES[operation]
        cheapen(case.body if key is None else case.body.get(key), limits)
    try:
        response = case.call()
    except Exception as e:  # noqa: BLE001  (any exception escaping the app: uvicorn would answer 500)
        findings.record(label, case, None, f"{type(e).__name__}: {e}")
        return
    findings.record(label, case, response.status_code, response.text)


def fuzz_cases(strategies: list[Any], max_examples: int, seed: int, deadline: float,
               on_case: Callable[[Any], None]) -> None:
    """Draw up to max_examples cases from each strategy (until the deadline) and send them."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis.errors import Unsatisfiable

    for strategy in strategies:
        @fixed_seed(seed)
        @settings(max_examples=max_examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            if time.monotonic() < deadline:
                on_case(case)

        try:
            run()
        except Unsatisfiable:  # a negative strategy for an operation with nothing to break
            pass


def modes() -> list[Any]:
    from schemathesis import GenerationMode

    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def job_params_strategies(schema: Any, kind: str) -> list[Any]:
    """/easel/v1/jobs takes txt2img/img2img params as a free-form object the schema cannot
    describe: send the cases of the sync route's body (both modes) as a job's params."""
    source, jobs = schema[f"/sdapi/v1/{kind}"]["POST"], schema["/easel/v1/jobs"]["POST"]

    def as_job(case: Any) -> Any:
        # a negative case may be raw bytes, which only a JSON string can carry
        params = case.body.decode("latin-1") if isinstance(case.body, bytes) else case.body
        return jobs.Case(body={"kind": kind, "params": params}, media_type="application/json")

    return [source.as_strategy(generation_mode=mode).map(as_job) for mode in modes()]


def settle_jobs(state: Any) -> None:
    """Cancel what the async API left queued or running (sync routes wait for their own jobs)."""
    from modules.jobs import JobStatus

    for status in (JobStatus.QUEUED, JobStatus.RUNNING):
        for job in state.jobs.list(status=status):
            state.jobs.cancel(job.id)


def ensure_model(state: Any) -> None:
    if state.models.current_or_none is None:
        state.models.start_background_load().join(120)


def fuzz_targets(app: Any, only: str | None) -> dict[str, list[Any]]:
    """label -> case strategies, for every operation (those matching the regex `only`)."""
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=ENDS_THE_SERVER)
    targets = {result.ok().label: [result.ok().as_strategy(generation_mode=mode) for mode in modes()]
               for result in schema.get_all_operations()}
    for kind in ("txt2img", "img2img"):
        targets[f"POST /easel/v1/jobs ({kind} params)"] = job_params_strategies(schema, kind)
    return {label: strategies for label, strategies in targets.items() if only is None or re.search(only, label)}


def fuzz_app(app: Any, state: Any, max_examples: int = 25, seconds: float = 300, seed: int = 0,
             only: str | None = None) -> dict[str, Any]:
    """Fuzz the operations of `app` (FastAPI, with EngineState `state`); the JSON report."""
    from schemathesis.python.asgi import shutdown_lifespans

    started = time.monotonic()
    deadline = started + seconds
    targets = fuzz_targets(app, only)
    findings, limits = Findings(), cheap_limits()
    tested: list[str] = []

    def on_case(label: str, case: Any) -> None:
        send(label, case, findings, limits)
        settle_jobs(state)

    try:
        for label, strategies in targets.items():
            if time.monotonic() >= deadline:
                break
            fuzz_cases(strategies, max_examples, seed, deadline, lambda case, label=label: on_case(label, case))
            tested.append(label)
            ensure_model(state)
    finally:
        shutdown_lifespans()  # schemathesis started the app's lifespan; end it (stops the job queue)
    return {"operations_tested": len(tested), "operations_not_reached": [label for label in targets if label not in tested],
            "requests": findings.requests, "statuses": findings.totals(),
            "server_errors": findings.server_error_count, "server_error_examples": findings.server_errors,
            "max_examples": max_examples, "seed": seed, "seconds": round(time.monotonic() - started, 1),
            "statuses_by_operation": {label: dict(sorted(counts.items())) for label, counts in findings.statuses.items()}}


def fuzz_fresh_app(max_examples: int, seconds: float, seed: int, demo_model: bool,
                   only: str | None = None) -> dict[str, Any]:
    """Fuzz an API-only app on a temporary data dir with a tiny checkpoint (or the demo model)."""
    from modules.cmd_args import parse_args
    from modules.sd_models.architecture import ModelArchitecture
    from modules.sd_models.random_weights import write_checkpoint
    from webui import create_app

    with tempfile.TemporaryDirectory(prefix="easel-fuzz-") as data_dir:
        flags = ["--data-dir", data_dir, "--api", "--nowebui"]
        if not demo_model:
            write_checkpoint(Path(data_dir, "models", "Stable-diffusion", "tiny.safetensors"), ModelArchitecture("sd1"))
            flags.append("--no-demo-model")
        app, state = create_app(parse_args(flags), load_checkpoint=True)
        try:
            state.models.wait_idle(120)
            return fuzz_app(app, state, max_examples, seconds, seed, only)
        finally:
            state.jobs.stop(interrupt=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25, help="cases per operation and mode (default 25)")
    parser.add_argument("--seconds", type=float, default=300, help="time budget (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo-model", action="store_true", help="use assets/shapes-demo instead of a tiny model")
    parser.add_argument("--only", default=None, help="fuzz only operations whose label ('POST /path') matches")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    report = fuzz_fresh_app(args.max_examples, args.seconds, args.seed, args.demo_model, args.only)
    print(json.dumps(report, indent=2))
    return 1 if report["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
