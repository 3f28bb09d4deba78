#!/usr/bin/env python3
"""Benchmark of the checkpoint manager; prints JSON.

    python tools/bench_checkpoints.py [--size full|tiny] [--switches 10]

Measures: startup-to-ready of the real server (page answering, then checkpoint loaded),
checkpoint switch time between two random-weight SD1 checkpoints, and process RSS after
each of N switches (memory must not grow beyond one model's size).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_startup(data_dir: Path) -> dict:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--skip-install", "--api", "--port",
                                str(port), "--data-dir", str(data_dir), "--no-demo-model"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    page = ready = None
    try:
        while ready is None and time.perf_counter() - started < 300:
            try:
                if page is None and httpx.get(base + "/", timeout=2).status_code == 200:
                    page = time.perf_counter() - started
                if page is not None and httpx.get(base + "/sdapi/v1/options", timeout=5).json()["sd_model_checkpoint"]:
                    ready = time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(30)
    return {"page_answers_s": round(page, 2) if page else None, "checkpoint_ready_s": round(ready, 2) if ready else None}


def touch_weights(model) -> None:
    """Read one value per 4 KiB page of every weight, as a first generation would."""
    for module in model.modules().values():
        for tensor in module.state_dict().values():
            flat = tensor.reshape(-1)
            flat[:: max(1, 4096 // flat.element_size())].sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--switches", type=int, default=10)
    opts = parser.parse_args()

    import psutil
    import torch

    from modules.cmd_args import parse_args
    from modules.engine_state import EngineState
    from modules.sd_models.architecture import ModelArchitecture
    from modules.sd_models.random_weights import write_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        folder = data_dir / "models" / "Stable-diffusion"
        for seed, name in enumerate(("a", "b")):
            write_checkpoint(folder / f"{name}.safetensors", ModelArchitecture("sd1"), tiny=opts.size == "tiny",
                             seed=seed)
        startup = measure_startup(data_dir)

        state = EngineState.create(parse_args(["--data-dir", str(data_dir), "--no-demo-model"]))
        process = psutil.Process()
        first = state.models.load("a")
        model_bytes = first.size_bytes()
        touch_weights(first)
        del first
        rss_after_first = process.memory_info().rss
        switch_seconds, touch_seconds, rss = [], [], []
        for i in range(opts.switches):
            started = time.perf_counter()
            model = state.models.load("b" if i % 2 == 0 else "a")
            switch_seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            touch_weights(model)  # weights are file-backed and paged in on first use: count that too
            touch_seconds.append(time.perf_counter() - started)
            del model
            rss.append(process.memory_info().rss)
        growth = rss[-1] - rss_after_first
        print(json.dumps({
            "model": f"random-weight SD1 ({opts.size})",
            "model_size_mb": round(model_bytes / 2**20, 1),
            "threads": torch.get_num_threads(),
            **startup,
            "first_load_s": round(state.models.current().load_seconds, 2),
            "switch_s": {"mean": round(sum(switch_seconds) / len(switch_seconds), 2),
                         "max": round(max(switch_seconds), 2)},
            "first_use_page_in_s": {"mean": round(sum(touch_seconds) / len(touch_seconds), 2),
                                    "max": round(max(touch_seconds), 2)},
            "rss_mb_after_first_load": round(rss_after_first / 2**20),
            "rss_mb_after_each_switch": [round(r / 2**20) for r in rss],
            "rss_growth_mb": round(growth / 2**20),
            "growth_within_one_model": growth <= model_bytes,
        }, indent=2))


if __name__ == "__main__":
    main()
