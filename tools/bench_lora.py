#!/usr/bin/env python3
"""LoRA patching benchmark: the time to apply and to remove a LoRA, and what the next job with
the same LoRA costs (the patched weights are kept, so it should be ~0). Prints JSON.

    python tools/bench_lora.py                        # both cases
    python tools/bench_lora.py --cases demo --repeats 5

Cases:
  demo  assets/shapes-demo/shapes-demo.safetensors with assets/shapes-demo/Lora/shapes-cyan.
  sd15  a random-weight full-size SD1.5 (its 860M-parameter UNet) with a random rank-16 LoRA on
        every attention projection of the UNet (to_q, to_k, to_v, to_out.0).

Per case, medians over --repeats rounds: `apply_s` (the file already read: patching only),
`remove_s` (restoring the backed-up weights), `reused_apply_s` (a job asking for the same
networks again: nothing to patch); `first_apply_s` is the first use (reading and parsing the
file, hashing it for the infotext, patching). `restored_exactly` says whether every weight is
bit-identical after the last removal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

DEMO_CHECKPOINT = ROOT / "assets" / "shapes-demo" / "shapes-demo.safetensors"
DEMO_LORA = ROOT / "assets" / "shapes-demo" / "Lora" / "shapes-cyan.safetensors"
CASES = ("demo", "sd15")
ATTENTION_PROJECTION = re.compile(r"\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$")
RANDOM_LORA_RANK = 16


# ---------------------------------------------------------------- the measured work


def apply_once(model: Any, uses: list, library: Any) -> Any:
    """One job's LoRA step: patch (or find patched) and keep the weights for the next job."""
    from modules.networks import apply_networks

    with apply_networks(model, uses, library) as report:
        return report


def weights_digest(model: Any) -> str:
    """One hash of every UNet and text-encoder parameter, to tell bit-identical weights."""
    digest = hashlib.blake2b(digest_size=16)
    for root in (model.unet, *model.text_encoders):
        for name, param in root.named_parameters():
            digest.update(name.encode())
            digest.update(param.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _timed(action: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    result = action()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started, result


def measure(model: Any, lora_path: Path, repeats: int = 3) -> dict[str, Any]:
    """Apply / remove / reuse timings of one LoRA file on a loaded model; leaves it unpatched."""
    from modules.networks import LoraLibrary, extract_networks, remove_networks

    if repeats < 1:
        raise ValueError(f"repeats: must be at least 1, got {repeats}")
    device = next(model.unet.parameters()).device
    library = LoraLibrary([lora_path.parent])
    uses = extract_networks(f"<lora:{lora_path.stem}:1>")[1]
    original = weights_digest(model)
    applies, removals, reuses = [], [], []
    try:
        first_s, report = _timed(lambda: apply_once(model, uses, library), device)
        if report.warnings or not report.patched_parameters:
            raise RuntimeError(f"{lora_path.name} did not apply cleanly: {report.warnings or 'nothing patched'}")
        for _ in range(repeats):
            removals.append(_timed(lambda: remove_networks(model, library), device)[0])
            seconds, fresh = _timed(lambda: apply_once(model, uses, library), device)
            applies.append(seconds)
            seconds, again = _timed(lambda: apply_once(model, uses, library), device)
            reuses.append(seconds)
            if fresh.reused or not again.reused:
                raise RuntimeError("the patcher did not re-apply after removal or did not reuse the same set")
    finally:
        remove_networks(model, library)
    file = library.load(lora_path)
    return {
        "lora": lora_path.name,
        "lora_file_mb": round(lora_path.stat().st_size / 2**20, 2),
        "lora_modules": len(file.modules),
        "patched_parameters": report.patched_parameters,
        "first_apply_s": round(first_s, 5),
        "apply_s": round(statistics.median(applies), 5),
        "remove_s": round(statistics.median(removals), 5),
        "reused_apply_s": round(statistics.median(reuses), 6),
        "repeats": repeats,
        "restored_exactly": weights_digest(model) == original,
    }


# ---------------------------------------------------------------- models and LoRAs


def write_attention_lora(model: Any, path: Path, rank: int = RANDOM_LORA_RANK, seed: int = 0) -> int:
    """A random kohya LoRA of `rank` on every UNet attention projection; returns the module count."""
    import safetensors.torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, module in model.unet.named_modules():
        if isinstance(module, torch.nn.Linear) and ATTENTION_PROJECTION.search(name):
            key = "lora_unet_" + name.replace(".", "_")
            down = torch.randn(rank, module.in_features, generator=generator)
            up = torch.randn(module.out_features, rank, generator=generator) * 0.01
            tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"] = down.half(), up.half()
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    safetensors.torch.save_file(tensors, str(path))
    return len(tensors) // 3


def _policy(device: torch.device) -> Any:
    from modules.cmd_args import parse_args
    from modules.devices import decide_policy

    flags = ["--use-cpu", "all"] if device.type == "cpu" else ["--device-id", str(device.index or 0)]
    return decide_policy(parse_args(flags))


def load_demo(device: torch.device) -> Any:
    from modules.sd_models.checkpoints import CheckpointInfo
    from modules.sd_models.loader import load_model

    return load_model(CheckpointInfo(DEMO_CHECKPOINT, DEMO_CHECKPOINT.name), _policy(device))


def build_random_sd15(device: torch.device) -> Any:
    """Full-size SD1.5 modules with random weights, as a LoadedModel (nothing is written to disk)."""
    from modules.sd_models.architecture import ModelArchitecture
    from modules.sd_models.checkpoints import CheckpointInfo
    from modules.sd_models.loader import LoadedModel
    from modules.sd_models.random_weights import build_modules

    arch = ModelArchitecture("sd1")
    built = build_modules(arch, tiny=False)
    policy = _policy(device)
    unet = built["unet"].to(device, policy.unet_dtype)
    vae = built["vae"].to(device, policy.vae_dtype)
    text_encoder = built["text_encoder"].to(device, policy.text_encoder_dtype)
    return LoadedModel(CheckpointInfo(Path("random-sd15.safetensors"), "random-sd15.safetensors"), arch, unet, vae,
                       [text_encoder], [], torch.zeros(1), policy)


def run_case(case: str, repeats: int, device: torch.device, work_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    if case == "demo":
        model, lora_path, described = load_demo(device), DEMO_LORA, "shapes-demo (assets)"
    else:
        model = build_random_sd15(device)
        lora_path = work_dir / "random-attention.safetensors"
        write_attention_lora(model, lora_path)
        described = f"random-weight SD1.5, random rank-{RANDOM_LORA_RANK} LoRA on every UNet attention projection"
    setup_s = time.perf_counter() - started
    unet_parameters = sum(p.numel() for p in model.unet.parameters())
    return {"model": described, "unet_parameters_m": round(unet_parameters / 1e6, 1),
            "unet_dtype": str(model.unet.dtype).removeprefix("torch."), "setup_s": round(setup_s, 2),
            **measure(model, lora_path, repeats)}


def environment(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {"device": str(device), "device_name": name, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per case (default 3)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown or not args.cases:
        parser.error(f"cases: choose from {', '.join(CASES)}, got {args.cases}")
    if args.repeats < 1:
        parser.error(f"repeats: must be at least 1, got {args.repeats}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("device: cuda was asked for but torch sees no CUDA device")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    with tempfile.TemporaryDirectory(prefix="bench-lora-") as work_dir, torch.no_grad():
        cases = {case: run_case(case, args.repeats, device, Path(work_dir)) for case in args.cases}
    report = {"benchmark": "lora", "cases": cases, "environment": environment(device)}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
