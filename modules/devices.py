"""The one place that decides device, dtypes and memory mode (ComfyUI-style model management).

Everything else asks `DevicePolicy` where a module goes and in which dtype; nobody else
reads the precision flags.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

import psutil
import torch

log = logging.getLogger(__name__)

MEMORY_MODES = ("normal", "medvram", "lowvram")


@dataclass(frozen=True)
class DevicePolicy:
    device: torch.device
    unet_dtype: torch.dtype
    vae_dtype: torch.dtype
    text_encoder_dtype: torch.dtype
    memory_mode: str = "normal"
    medvram_sdxl_only: bool = False
    upcast_sampling: bool = False
    cpu_modules: frozenset[str] = frozenset()  # A1111 --use-cpu names: sd, interrogate, ...
    load_t5: bool = True  # SD3: load T5-XXL when the files have it (--sd3-no-t5 saves its ~9 GB)

    def device_for(self, module: str) -> torch.device:
        """Device for a named task ('sd', 'esrgan', 'gfpgan', ...) honouring --use-cpu."""
        if "all" in self.cpu_modules or module in self.cpu_modules:
            return torch.device("cpu")
        return self.device

    def memory_mode_for(self, is_sdxl: bool) -> str:
        if self.memory_mode == "normal" and self.medvram_sdxl_only and is_sdxl:
            return "medvram"
        return self.memory_mode

    @property
    def sampling_dtype(self) -> torch.dtype:
        """Latents and sampler math: fp32 when upcasting, else the UNet's dtype."""
        return torch.float32 if self.upcast_sampling else self.unet_dtype


def _best_device(device_id: int | None) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", device_id if device_id is not None else torch.cuda.current_device())
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def decide_policy(args: argparse.Namespace) -> DevicePolicy:
    cpu_modules = frozenset(m.lower() for m in args.use_cpu)
    device = torch.device("cpu") if {"all", "sd"} & cpu_modules else _best_device(args.device_id)
    if device.type == "cpu":
        # Half precision on CPU is slow and unsupported in places: always fp32 there.
        half = torch.float32
    elif args.no_half or args.precision == "full":
        half = torch.float32
    elif args.precision == "bf16":
        half = torch.bfloat16
    else:
        half = torch.float16
    mode = "lowvram" if args.lowvram else "medvram" if args.medvram else "normal"
    return DevicePolicy(
        device=device,
        unet_dtype=half,
        vae_dtype=torch.float32 if args.no_half_vae else half,
        text_encoder_dtype=half,
        memory_mode=mode,
        medvram_sdxl_only=args.medvram_sdxl,
        upcast_sampling=args.upcast_sampling and half != torch.float32,
        cpu_modules=cpu_modules,
        load_t5=not getattr(args, "sd3_no_t5", False),
    )


def apply_memory_mode(modules: dict[str, torch.nn.Module], policy: DevicePolicy, is_sdxl: bool) -> None:
    """Place a model's modules: all on the device, or offloaded with accelerate hooks.

    medvram: each whole module moves to the GPU when called (model-level offload);
    lowvram: each layer does (sequential offload). On the CPU both are no-ops.
    """
    mode = policy.memory_mode_for(is_sdxl)
    if policy.device.type == "cpu" or mode == "normal":
        if mode != "normal":
            log.info("--%s has no effect when running on the CPU", mode)
        for module in modules.values():
            module.to(policy.device)
        return
    from accelerate import cpu_offload, cpu_offload_with_hook

    if mode == "lowvram":
        for module in modules.values():
            cpu_offload(module, execution_device=policy.device)
        return
    previous_hook = None
    for module in modules.values():
        module.to("cpu")
        _, previous_hook = cpu_offload_with_hook(module, policy.device, prev_module_hook=previous_hook)


def release_memory() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def memory_stats() -> dict:
    """RAM and VRAM figures in A1111's /sdapi/v1/memory shape (bytes)."""
    vm = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    ram = {"free": vm.available, "used": rss, "total": vm.total}
    if not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "CUDA is not available"}}
    free, total = torch.cuda.mem_get_info()
    s = torch.cuda.memory_stats()

    def pair(name: str) -> dict:
        return {"current": s.get(f"{name}.all.current", 0), "peak": s.get(f"{name}.all.peak", 0)}

    cuda = {
        "system": {"free": free, "used": total - free, "total": total},
        "active": pair("active_bytes"),
        "allocated": pair("allocated_bytes"),
        "reserved": pair("reserved_bytes"),
        "inactive": pair("inactive_split_bytes"),
        "events": {"retries": s.get("num_alloc_retries", 0), "oom": s.get("num_ooms", 0)},
    }
    return {"ram": ram, "cuda": cuda}
