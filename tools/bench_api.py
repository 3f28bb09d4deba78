#!/usr/bin/env python3
"""API overhead benchmark: POST /sdapi/v1/txt2img vs a direct `processing.generate` call; prints JSON.

    venv/bin/python tools/bench_api.py [--repeats 10] [--steps 20] [--model PATH] [--no-http] [--threads 1]

Every side runs the same request (prompt, seed, sampler, 64x64, 20 steps, saving off) on the same
loaded checkpoint (default: the demo model, assets/shapes-demo). "engine" calls
`processing.generate` directly. "testclient" posts the A1111 request in-process through FastAPI's
TestClient: request validation, the SQLite job queue and its worker thread, progress reporting,
the PNG kept under outputs/jobs/, base64 and JSON. "http" posts it to a real uvicorn server on
127.0.0.1, adding the socket and HTTP parsing. After a warm-up the sides take turns, round by
round, so load from other processes hits them alike. Overhead = API time - engine time: mean and
median of the per-round differences, in ms and in % of the engine's median, and the difference
of the fastest rounds (the figure least disturbed by other processes). `same_image` checks
that every side drew the same pixels, i.e. did the same work.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO_CHECKPOINT = ROOT / "assets" / "shapes-demo" / "shapes-demo.safetensors"
PROMPT = "a red circle on a blue background"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEMO_CHECKPOINT, help="checkpoint (default: the demo model)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the real HTTP server side")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be 1 or more and --warmup 0 or more")
    if not args.model.is_file():
        parser.error(f"--model: no such file: {args.model}")
    return args


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    return {"prompt": PROMPT, "negative_prompt": "", "seed": 1, "sampler_name": "Euler a", "cfg_scale": 7.0,
            "steps": args.steps, "width": args.width, "height": args.height}


def decode_png(data: str):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def engine_side(state: Any, body: dict[str, Any]) -> Callable[[], Any]:
    """What a caller of the engine does: params, settings, generate (as the queue's runner does)."""
    from modules import processing
    from modules.processing import Txt2ImgParams

    def run():
        params = Txt2ImgParams(**body, do_not_save_samples=True, do_not_save_grid=True).validate()
        settings = processing.effective_settings(state.options.as_dict(), params)
        result = processing.generate(params, state.models.current(), settings, state.paths.data_dir,
                                     styles=state.styles, extra_networks=state.extra_networks)
        return result.images[0].convert("RGB")

    return run


def api_side(post: Callable[..., Any], body: dict[str, Any]) -> Callable[[], Any]:
    def run():
        response = post("/sdapi/v1/txt2img", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"txt2img answered {response.status_code}: {response.text[:300]}")
        return decode_png(response.json()["images"][0])

    return run


@contextmanager
def http_server(app: Any) -> Iterator[str]:
    """The app under uvicorn on a free 127.0.0.1 port, in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the HTTP server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def time_rounds(sides: dict[str, Callable[[], Any]], repeats: int, warmup: int) -> tuple[dict[str, list[float]], bool]:
    """Seconds per call of each side, the sides taking turns; and whether all drew the same image."""
    import numpy as np

    times: dict[str, list[float]] = {name: [] for name in sides}
    same = True
    for round_no in range(warmup + repeats):
        pictures = []
        for name, call in sides.items():
            started = time.perf_counter()
            pictures.append(np.asarray(call()))
            if round_no >= warmup:
                times[name].append(time.perf_counter() - started)
        same = same and all(np.array_equal(pictures[0], other) for other in pictures[1:])
    return times, same


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(times: list[float]) -> dict[str, Any]:
    return {"mean_ms": ms(statistics.mean(times)), "median_ms": ms(statistics.median(times)),
            "min_ms": ms(min(times)), "all_ms": [ms(t) for t in times]}


def overhead(api: list[float], engine: list[float]) -> dict[str, float]:
    differences = [a - e for a, e in zip(api, engine)]
    base = statistics.median(engine)
    return {"mean_ms": ms(statistics.mean(differences)), "median_ms": ms(statistics.median(differences)),
            "mean_pct": round(100 * statistics.mean(differences) / base, 2),
            "median_pct": round(100 * statistics.median(differences) / base, 2),
            "of_minimums_ms": ms(min(api) - min(engine))}  # least disturbed by other processes


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import torch
    from fastapi.testclient import TestClient

    from modules.cmd_args import parse_args as parse_server_args
    from webui import create_app

    torch.set_num_threads(args.threads)
    body = request_body(args)
    with tempfile.TemporaryDirectory(prefix="easel-bench-api-") as data_dir:
        flags = ["--data-dir", data_dir, "--api", "--nowebui", "--no-demo-model", "--ckpt", str(args.model)]
        app, state = create_app(parse_server_args(flags), load_checkpoint=True)
        try:
            state.models.current(timeout=300)
            with TestClient(app) as client:
                sides = {"engine": engine_side(state, body), "testclient": api_side(client.post, body)}
                if not args.http:
                    times, same = time_rounds(sides, args.repeats, args.warmup)
                else:
                    with http_server(app) as url, httpx.Client(base_url=url, timeout=300) as http:
                        sides["http"] = api_side(http.post, body)
                        times, same = time_rounds(sides, args.repeats, args.warmup)
        finally:
            state.jobs.stop()
    report: dict[str, Any] = {
        "benchmark": "api_overhead_txt2img", "model": args.model.name,
        "run": {**{k: body[k] for k in ("width", "height", "steps", "sampler_name")},
                "repeats": args.repeats, "warmup": args.warmup},
        "engine": summary(times["engine"]), "same_image": same,
        "environment": {"device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
                        "threads": torch.get_num_threads(), "python": platform.python_version(),
                        "torch": torch.__version__},
    }
    for side in ("testclient", "http"):
        if side in times:
            report[side] = {**summary(times[side]), "overhead": overhead(times[side], times["engine"])}
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    report = run_benchmark(parse_args(argv))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
