#!/usr/bin/env python3
"""Benchmark of a full-size ESRGAN upscaler (random RRDBNet, 64 filters, 23 blocks, 4x); prints JSON.

    python tools/bench_upscalers.py [--size 512] [--tile 192] [--overlap 8] [--device cpu|cuda]
                                    [--dtype fp16|fp32] [--repeat 2]

Saves the random model as models/ESRGAN/4x-Bench.safetensors in a temporary data dir, finds
and loads it the way Easel does (spandrel via ModelUpscalers), then upscales a --size square
image untiled and tiled (ESRGAN_tile / ESRGAN_tile_overlap): seconds per input megapixel,
the largest pixel difference between the two, and peak memory (process RSS; CUDA peak).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DTYPES = {"fp16": "float16", "fp32": "float32"}


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="input side in pixels (output is 4x)")
    parser.add_argument("--tile", type=int, default=192)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--device", default=None, help="default: cuda when available")
    parser.add_argument("--dtype", default=None, choices=DTYPES, help="default: fp16 on cuda, fp32 on cpu")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per mode (after one warm-up)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from modules.postprocessing.model_upscalers import ModelUpscalers
    from modules.postprocessing.spandrel_models import ModelFileScanner
    from tests.image_models import save_state_dict

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, DTYPES[args.dtype or ("fp16" if device.type == "cuda" else "fp32")])
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    model = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = Path(tmp) / "models"
        save_state_dict(model.state_dict(), models_dir / "ESRGAN" / "4x-Bench.safetensors")
        del model
        settings = {"ESRGAN_tile": args.tile, "ESRGAN_tile_overlap": args.overlap}
        library = ModelUpscalers(models_dir, settings, device, dtype, ModelFileScanner())
        start = time.perf_counter()
        library.refresh()
        scan_s = time.perf_counter() - start
        start = time.perf_counter()
        descriptor = library.model("4x-Bench")
        load_s = time.perf_counter() - start
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8))
        megapixels = args.size * args.size / 1e6
        results, outputs = {}, {}
        for mode, tile in (("untiled", 0), ("tiled", args.tile)):
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            library.run_model(descriptor, image, tile, args.overlap)  # warm-up (cuDNN autotune, allocations)
            times = []
            for _ in range(args.repeat):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                outputs[mode] = library.run_model(descriptor, image, tile, args.overlap)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            results[mode] = {"seconds": round(min(times), 3), "seconds_per_megapixel": round(min(times) / megapixels, 3)}
            if device.type == "cuda":
                results[mode]["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
        difference = np.abs(np.asarray(outputs["tiled"], dtype=np.int16) - np.asarray(outputs["untiled"], dtype=np.int16))
        report = {
            "model": "ESRGAN RRDBNet 64 filters, 23 blocks, 4x (random weights)",
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "dtype": str(dtype).replace("torch.", ""),
            "input": f"{args.size}x{args.size}", "output": f"{outputs['tiled'].width}x{outputs['tiled'].height}",
            "tile": args.tile, "overlap": args.overlap, "torch_threads": torch.get_num_threads(),
            "scan_seconds": round(scan_s, 3), "load_seconds": round(load_s, 3),
            **results,
            "tiled_vs_untiled_max_pixel_difference": int(difference.max()),
            "tiled_vs_untiled_mean_pixel_difference": round(float(difference.mean()), 4),
            "peak_rss_mb": round(peak_rss_mb()),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
