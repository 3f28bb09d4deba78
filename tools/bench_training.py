#!/usr/bin/env python3
"""Textual-inversion training speed: optimizer steps per second through Easel's trainer; prints JSON.

    python tools/bench_training.py                                   # the demo model, 64x64
    python tools/bench_training.py --random sd1 [--tiny] --size 512  # a random-weight SD1.5
    python tools/bench_training.py --random sd1 --size 512 --device cuda   # fp16 on a GPU

The run is the one the Train tab and /sdapi/v1/train/embedding start (`train_embedding`):
a fresh 1-vector embedding, a folder of rendered shape pictures, the "subject" template,
no previews or snapshots. Models are loaded as bench_engine loads them (one place decides
device and dtype). The first `--warmup` steps are excluded (they include encoding the
dataset and allocator warm-up); the JSON has the median seconds per optimizer step, steps/s,
training images/s, and on CUDA the peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from tools import bench_engine  # noqa: E402
from tools.shapes_dataset import COLOURS, SHAPES, Triple, random_scene, render  # noqa: E402

EMBEDDING_NAME = "bench-embedding"
DATASET_IMAGES = 8


@dataclass
class TrainBenchConfig:
    model: Path | None = None
    random: str | None = None  # "sd1": a random-weight checkpoint built for the run
    tiny: bool = False
    size: int | None = None  # None: the model's native size
    batch_size: int = 1
    gradient_step: int = 1
    steps: int = 30
    warmup: int = 3
    threads: int | None = None
    device: str = "auto"
    precision: str = "auto"

    def validate(self) -> "TrainBenchConfig":
        if self.random not in (None, "sd1"):
            raise ValueError(f"random: textual-inversion training runs on SD1/SD2 models, got {self.random!r}")
        if self.warmup < 1 or self.steps <= self.warmup:
            raise ValueError(f"steps: must exceed warmup (>= 1), got steps={self.steps} warmup={self.warmup}")
        for name in ("batch_size", "gradient_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.size is not None and (self.size < 64 or self.size % 8):
            raise ValueError(f"size: must be a multiple of 8 and at least 64, got {self.size}")
        self.engine_config().validate()
        return self

    def engine_config(self) -> bench_engine.BenchConfig:
        """The same model choice and loading as the engine benchmark."""
        return bench_engine.BenchConfig(model=self.model, random=self.random, tiny=self.tiny, device=self.device,
                                        precision=self.precision)


class StepClock:
    """The trainer's job context: records when each optimizer step ends."""

    def __init__(self) -> None:
        self.interrupted = False
        self.textinfo = ""
        self.ends: list[float] = []
        self.started = time.perf_counter()

    def set_total(self, job_count: int, steps_per_job: int) -> None:
        self.started = time.perf_counter()

    def step(self, step: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())

    def set_preview(self, image: Any) -> None:
        pass

    def step_seconds(self) -> list[float]:
        starts = [self.started, *self.ends[:-1]]
        return [end - start for start, end in zip(starts, self.ends)]


def write_dataset(folder: Path, size: int, count: int = DATASET_IMAGES) -> None:
    """Shape pictures (the demo's own kind), scaled to the training size."""
    folder.mkdir(parents=True)
    rng = random.Random(0)
    for index in range(count):
        triple = Triple(COLOURS[index % 4], SHAPES[index % len(SHAPES)], "white")
        image = Image.fromarray(render(random_scene(triple, rng)))
        image.resize((size, size), Image.Resampling.LANCZOS).save(folder / f"{index:02d}.png")


def run_benchmark(config: TrainBenchConfig) -> dict[str, Any]:
    from modules.networks import EmbeddingDatabase
    from modules.training import TrainParams, create_embedding, train_embedding

    config.validate()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    engine_config = config.engine_config()
    device = engine_config.torch_device()
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        work_dir = Path(tmp)
        choice = bench_engine.prepare_checkpoint(engine_config, work_dir)
        model = bench_engine.load(engine_config, choice.path)
        size = config.size or bench_engine.image_size(engine_config, choice, model)[0]
        write_dataset(work_dir / "dataset", size)
        create_embedding(EMBEDDING_NAME, 1, "shape", model, work_dir / "embeddings")
        params = TrainParams(embedding_name=EMBEDDING_NAME, data_root="dataset", learn_rate="0.005",
                             batch_size=config.batch_size, gradient_step=config.gradient_step, steps=config.steps,
                             training_width=size, training_height=size, create_image_every=0,
                             save_embedding_every=0, template_filename="subject.txt", seed=0)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        clock = StepClock()
        started = time.perf_counter()
        result = train_embedding(params, model, clock, embeddings=EmbeddingDatabase([work_dir / "embeddings"]),
                                 data_dir=work_dir)
        total = time.perf_counter() - started
        timed = clock.step_seconds()[config.warmup:]
        median = statistics.median(timed)
        images_per_step = config.batch_size * config.gradient_step
        report: dict[str, Any] = {
            "benchmark": "textual-inversion training steps through Easel's trainer",
            "model": {"source": choice.source, "architecture": model.arch.label,
                      "unet_parameters_m": round(sum(p.numel() for p in model.unet.parameters()) / 1e6, 1)},
            "run": {"size": size, "batch_size": config.batch_size, "gradient_step": config.gradient_step,
                    "steps": config.steps, "warmup_steps": config.warmup, "timed_steps": len(timed)},
            "seconds_per_step_median": round(median, 4),
            "seconds_per_step_min": round(min(timed), 4),
            "steps_per_s": round(1 / median, 2),
            "images_per_s": round(images_per_step / median, 2),
            "total_s_with_dataset": round(total, 2),
            "loss_first": round(result.losses[0], 5),
            "loss_last": round(result.losses[-1], 5),
            "environment": bench_engine.environment(engine_config, model),
        }
        if device.type == "cuda":
            report["peak_vram_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    return report


def parse_args(argv: list[str] | None = None) -> TrainBenchConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TrainBenchConfig()
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, help="an SD1/SD2 checkpoint file")
    source.add_argument("--random", choices=("sd1",), help="build a random-weight checkpoint for the run")
    parser.add_argument("--tiny", action="store_true", help="with --random: the tiny test-size architecture")
    parser.add_argument("--size", type=int, help="training width and height (default: the model's native size)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--gradient-step", type=int, default=defaults.gradient_step)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps in all")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="first steps left out of the figures")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    parser.add_argument("--precision", choices=("auto", "fp16", "fp32"), default=defaults.precision)
    opts = parser.parse_args(argv)
    return TrainBenchConfig(**{name: getattr(opts, name) for name in asdict(defaults)})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    report = run_benchmark(parse_args(argv))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
