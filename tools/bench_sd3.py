#!/usr/bin/env python3
"""Benchmark of SD3 / SD3.5 loading and sampling at full size with random weights; prints JSON.

    python tools/bench_sd3.py [--release "3 Medium"|"3.5 Large"|"3.5 Medium"] [--t5]
                              [--dtype bf16|fp16|fp32] [--steps 2] [--size 512] [--device cpu|cuda]

Writes a random-weight single file of the release (bundled configs, as users have them), then
measures: file write and size, load time through the real loader, process peak RSS, and (with
--steps > 0) seconds per sampling step and the GPU's peak memory when run on CUDA. T5-XXL
(about 9.5 GB in bf16) is left out unless --t5 is given, so the default fits a 24 GB machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
PRECISION_FLAGS = {"fp32": ["--no-half"], "fp16": [], "bf16": ["--precision", "bf16"]}


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", default="3 Medium", choices=("3 Medium", "3.5 Large", "3.5 Medium"))
    parser.add_argument("--t5", action="store_true", help="include T5-XXL (about 9.5 GB more in bf16)")
    parser.add_argument("--dtype", default="bf16", choices=DTYPES)
    parser.add_argument("--steps", type=int, default=2, help="sampling steps to time (0: load only)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    opts = parser.parse_args()

    import torch

    from modules.cmd_args import parse_args
    from modules.devices import decide_policy
    from modules.options import Options, OptionsRegistry
    from modules.processing import NullProgress, Txt2ImgParams, generate
    from modules.sd_models.checkpoints import CheckpointInfo
    from modules.sd_models.loader import load_model
    from modules.sd_models.sd3_random_weights import write_sd3_checkpoint

    dtype = getattr(torch, DTYPES[opts.dtype])
    flags = ["--use-cpu", "all"] if opts.device == "cpu" else PRECISION_FLAGS[opts.dtype]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sd3-random.safetensors"
        started = time.perf_counter()
        modules = write_sd3_checkpoint(path, opts.release, tiny=False, with_t5=opts.t5, dtype=dtype)
        write_s = time.perf_counter() - started
        parameters = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items() if m is not None}
        del modules
        size_gb = path.stat().st_size / 1e9

        policy = decide_policy(parse_args(flags + ([] if opts.t5 else ["--sd3-no-t5"])))
        if opts.device == "cpu":  # the CPU policy is fp32 throughout; keep the file's precision to fit in RAM
            policy = replace(policy, unet_dtype=dtype, text_encoder_dtype=dtype)
        if opts.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        model = load_model(CheckpointInfo(path, path.name), policy)
        load_s = time.perf_counter() - started
        report = {
            "release": f"SD{opts.release}", "dtype": opts.dtype, "t5": opts.t5, "device": opts.device,
            "parameters_m": {k: round(v / 1e6, 1) for k, v in parameters.items()},
            "file_gb": round(size_gb, 2), "write_s": round(write_s, 1), "load_s": round(load_s, 1),
            "threads": torch.get_num_threads(),
        }
        if opts.steps > 0:
            settings = Options(OptionsRegistry.builtin(), None).as_dict()
            params = Txt2ImgParams(prompt="a photo of a cat", steps=opts.steps, width=opts.size, height=opts.size,
                                   seed=1, sampler_name="Euler", do_not_save_samples=True)
            started = time.perf_counter()
            generate(params, model, settings, Path(tmp), NullProgress())
            # one whole txt2img: prompt encoding, the steps (two MMDiT passes each, for CFG), VAE decode
            report.update(size=opts.size, steps=opts.steps, generate_s=round(time.perf_counter() - started, 1))
        if opts.device == "cuda":
            report["gpu_peak_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
        report["peak_rss_gb"] = round(peak_rss_mb() / 1024, 2)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
