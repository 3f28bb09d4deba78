#!/usr/bin/env python3
"""Engine overhead benchmark: Easel's txt2img vs a plain diffusers pipeline; prints JSON.

    python tools/bench_engine.py                          # demo model (or a random one of its size)
    python tools/bench_engine.py --model PATH.safetensors [--width 512 --height 512]
    python tools/bench_engine.py --random sd1|sdxl [--tiny] [--precision fp16|fp32]

Both sides run on the SAME loaded modules (one `load_model` call): the engine through
`processing.generate` (prompt parsing, conditioning, CFG denoiser, sampler, VAE decode,
image conversion, infotext; saving off), the baseline through a `StableDiffusionPipeline`
(`StableDiffusionXLPipeline` for SDXL) built from those modules with an
`EulerDiscreteScheduler` on SD's scaled-linear schedule. Same prompt, size, steps, CFG 7,
Euler, seed and CPU-drawn starting noise. After warm-up the two run alternately, so load
from other processes hits both alike; the JSON has median seconds per image, it/s (whole
image and sampling loop), time inside each network (forward hooks), overhead % = engine /
baseline - 1 (plus three noise-resistant variants: per-round ratios, CPU time, time outside
the networks), the pixel difference of the two images, and on CUDA peak VRAM. `--profile N`
adds the N functions with the most own time (cProfile) of one more run per side.

The samplers' schedules differ slightly and the JSON says by how much: A1111's "Euler"
with "Automatic" is the Uniform schedule (timesteps linspace(999, 0, steps) with sigmas
interpolated in log-sigma), diffusers' default is the same timesteps with sigmas
interpolated linearly. `--baseline-schedule engine` hands the engine's sigmas to diffusers,
making both compute the same images (up to float rounding).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

DEMO_CHECKPOINT = ROOT / "assets" / "shapes-demo" / "shapes-demo.safetensors"
OVERHEAD_TARGET_PCT = 5.0
TINY_SIZE = 64  # tiny random models: structure only, so the smallest legal image
DEMO_FALLBACK_SIZE = 64  # shapes-demo pictures, when its yaml is not there to say
HASH_LIMIT_BYTES = 2 << 30  # hashing a 10 GB SDXL file costs a minute and is not what is measured


@dataclass
class BenchConfig:
    model: Path | None = None  # a checkpoint file; None: --random, else the demo model
    random: str | None = None  # "sd1" | "sdxl": a random-weight checkpoint built for the run
    tiny: bool = False
    width: int | None = None  # None: the model's native size
    height: int | None = None
    steps: int = 20
    cfg_scale: float = 7.0
    seed: int = 1234
    prompt: str = "a red circle on a blue background"
    negative_prompt: str = "blurry, green"
    repeats: int = 5
    warmup: int = 1
    threads: int | None = None  # None: leave torch's default
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU) | fp16 | fp32
    baseline_schedule: str = "diffusers"  # diffusers (its default spacing) | engine (the engine's sigmas)
    profile: int = 0  # > 0: cProfile one more run of each side and list this many top functions

    def validate(self) -> "BenchConfig":
        for name, low in (("steps", 2), ("repeats", 1), ("warmup", 0), ("profile", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name}: must be at least {low}, got {getattr(self, name)}")
        if self.model is not None and self.random is not None:
            raise ValueError("model: give either --model or --random, not both")
        if self.model is not None and not Path(self.model).is_file():
            raise ValueError(f"model: no such file {self.model}")
        if self.random not in (None, "sd1", "sdxl"):
            raise ValueError(f"random: must be 'sd1' or 'sdxl', got {self.random!r}")
        if self.tiny and self.random is None:
            raise ValueError("tiny: only applies to --random")
        for side in ("width", "height"):
            value = getattr(self, side)
            if value is not None and (value < 64 or value % 8):
                raise ValueError(f"{side}: must be a multiple of 8 and at least 64, got {value}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: must be auto, cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device: cuda was asked for but torch sees no CUDA device")
        if self.precision not in ("auto", "fp16", "fp32"):
            raise ValueError(f"precision: must be auto, fp16 or fp32, got {self.precision!r}")
        if self.precision == "fp16" and self.torch_device().type != "cuda":
            raise ValueError("precision: fp16 needs a CUDA device (the engine runs fp32 on the CPU)")
        if self.baseline_schedule not in ("diffusers", "engine"):
            raise ValueError(f"baseline_schedule: must be diffusers or engine, got {self.baseline_schedule!r}")
        return self

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass
class RunRecord:
    seconds: float  # the whole call: request in, PIL image out (wall clock)
    cpu_seconds: float  # this process's CPU time for it: less disturbed by other processes
    loop_seconds: float  # first to last sampler step: steps - 1 UNet steps
    network_seconds: dict[str, float]  # inside the networks (UNet, text encoders, VAE decoder)
    peak_vram_bytes: int | None

    @property
    def outside_networks(self) -> float:
        """Everything but the networks' forward passes: the glue each side adds."""
        return self.seconds - sum(self.network_seconds.values())


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarize(runs: list[RunRecord], steps: int) -> dict[str, Any]:
    """Medians (and spread) of one side's timed runs."""
    seconds = [r.seconds for r in runs]
    median, loop = _median(seconds), _median([r.loop_seconds for r in runs])
    names = sorted({name for r in runs for name in r.network_seconds})
    out: dict[str, Any] = {
        "median_s": round(median, 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
        "spread_pct": round(100 * (max(seconds) - min(seconds)) / median, 1),
        "all_s": [round(s, 4) for s in seconds],
        "cpu_median_s": round(_median([r.cpu_seconds for r in runs]), 4),
        "it_per_s": round(steps / median, 3),
        "loop_it_per_s": round((steps - 1) / loop, 3) if loop > 0 else None,
        "networks_median_s": {n: round(_median([r.network_seconds.get(n, 0.0) for r in runs]), 4) for n in names},
        "outside_networks_median_s": round(_median([r.outside_networks for r in runs]), 4),
    }
    peaks = [r.peak_vram_bytes for r in runs if r.peak_vram_bytes is not None]
    if peaks:
        out["peak_vram_mb"] = round(max(peaks) / 2**20, 1)
    return out


def overhead_figures(engine: list[RunRecord], baseline: list[RunRecord]) -> dict[str, Any]:
    """Engine cost over the baseline, four ways: ratio of wall-clock medians (the headline),
    median of the per-round ratios (robust to load drifting between rounds), ratio of CPU-time
    medians (robust to other processes taking the cores, on one thread), and the extra time
    spent outside the networks (robust to noise in the networks' work, identical on both)."""
    median_engine, median_baseline = _median([r.seconds for r in engine]), _median([r.seconds for r in baseline])
    paired = [e.seconds / b.seconds for e, b in zip(engine, baseline)]
    cpu_engine, cpu_baseline = _median([r.cpu_seconds for r in engine]), _median([r.cpu_seconds for r in baseline])
    extra = _median([r.outside_networks for r in engine]) - _median([r.outside_networks for r in baseline])
    overhead = 100 * (median_engine / median_baseline - 1)
    return {
        "overhead_pct": round(overhead, 2),
        "overhead_pct_paired_median": round(100 * (_median(paired) - 1), 2),
        "overhead_pct_cpu_time": round(100 * (cpu_engine / cpu_baseline - 1), 2),
        "outside_networks_extra_s": round(extra, 4),
        "outside_networks_overhead_pct": round(100 * extra / median_baseline, 2),
        "overhead_target_pct": OVERHEAD_TARGET_PCT,
        "within_target": overhead <= OVERHEAD_TARGET_PCT,
    }


# ---------------------------------------------------------------- the model


@dataclass
class CheckpointChoice:
    path: Path
    source: str  # for the JSON
    native_size: int | None = None  # pixels; None: the UNet's sample size times the VAE's downscale


def demo_native_size() -> int:
    """The demo's picture size, from its bundled yaml (the VAE's training resolution)."""
    import yaml

    config_path = DEMO_CHECKPOINT.with_suffix(".yaml")
    if config_path.is_file():
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        return int(config["model"]["params"]["first_stage_config"]["params"]["ddconfig"]["resolution"])
    return DEMO_FALLBACK_SIZE


def write_demo_size_checkpoint(path: Path) -> None:
    """A random-weight stand-in for shapes-demo: its exact networks, untrained. No yaml
    beside it: the demo's networks are chosen so that detection from shapes alone rebuilds
    them, and the scaling factor is SD1's own."""
    import safetensors.torch

    from modules.sd_models.ldm_layout import ldm_state_dict
    from tools import train_demo_model as demo

    torch.manual_seed(0)
    unet, vae = demo.build_unet(), demo.build_vae(scaling_factor=demo.SD1_SCALING_FACTOR)
    state = ldm_state_dict(unet, vae, demo.build_text_encoder())
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def prepare_checkpoint(config: BenchConfig, work_dir: Path) -> CheckpointChoice:
    """The given file, a random one built for the run, the demo, or a random demo stand-in."""
    from modules.sd_models.architecture import ModelArchitecture
    from modules.sd_models.random_weights import write_checkpoint

    if config.model is not None:
        return CheckpointChoice(Path(config.model), str(config.model))
    if config.random is not None:
        path = work_dir / f"random-{config.random}.safetensors"
        write_checkpoint(path, ModelArchitecture(config.random), tiny=config.tiny)
        return CheckpointChoice(path, f"random-weight {config.random} ({'tiny' if config.tiny else 'full size'})",
                                TINY_SIZE if config.tiny else None)
    if DEMO_CHECKPOINT.is_file():
        return CheckpointChoice(DEMO_CHECKPOINT, "shapes-demo", demo_native_size())
    path = work_dir / "random-demo-size.safetensors"
    try:
        write_demo_size_checkpoint(path)
        return CheckpointChoice(path, "random-weight sd1 at shapes-demo size (demo checkpoint not built yet)",
                                demo_native_size())
    except ImportError:  # tools/train_demo_model.py absent: fall back to the generic tiny SD1
        write_checkpoint(path, ModelArchitecture("sd1"), tiny=True)
        return CheckpointChoice(path, "random-weight sd1 (tiny; demo checkpoint and its trainer absent)", TINY_SIZE)


def load(config: BenchConfig, path: Path):
    from modules.cmd_args import parse_args
    from modules.devices import decide_policy
    from modules.sd_models.checkpoints import CheckpointInfo, HashCache
    from modules.sd_models.loader import load_model

    device = config.torch_device()
    flags = ["--use-cpu", "all"] if device.type == "cpu" else ["--device-id", str(device.index or 0)]
    if config.precision == "fp32":
        flags.append("--no-half")
    sha256 = HashCache(None).sha256(path) if path.stat().st_size < HASH_LIMIT_BYTES else None
    return load_model(CheckpointInfo(path, path.name, sha256=sha256), decide_policy(parse_args(flags)))


def image_size(config: BenchConfig, choice: CheckpointChoice, model) -> tuple[int, int]:
    native = choice.native_size or int(model.unet.config.sample_size) * model.latent_downscale
    return config.width or native, config.height or native


# ---------------------------------------------------------------- the two sides


class RunClock:
    """Step times and time inside each network during one run (CUDA synchronised, so the
    queue cannot hide work; both sides pay the same few syncs)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.step_times: list[float] = []
        self.network_seconds: dict[str, float] = {}
        self._entered: dict[str, float] = {}

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def tick(self) -> None:
        self.step_times.append(self._now())

    def enter(self, name: str) -> None:
        self._entered[name] = self._now()

    def leave(self, name: str) -> None:
        spent = self._now() - self._entered.pop(name)
        self.network_seconds[name] = self.network_seconds.get(name, 0.0) + spent

    def loop_seconds(self) -> float:
        return self.step_times[-1] - self.step_times[0] if len(self.step_times) > 1 else 0.0


class NetworkTimer:
    """Forward hooks on the model's networks that report to the current run's clock."""

    def __init__(self, model):
        self.clock: RunClock | None = None
        networks = {"unet": [model.unet], "text_encoders": model.text_encoders, "vae_decoder": [model.vae.decoder]}
        self._handles = []
        for name, modules in networks.items():
            for module in modules:
                self._handles.append(module.register_forward_pre_hook(self._enter_hook(name)))
                self._handles.append(module.register_forward_hook(self._leave_hook(name)))

    def _enter_hook(self, name: str):
        def hook(module, args):
            if self.clock is not None:
                self.clock.enter(name)
        return hook

    def _leave_hook(self, name: str):
        def hook(module, args, output):
            if self.clock is not None:
                self.clock.leave(name)
        return hook

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def engine_runner(config: BenchConfig, model, size: tuple[int, int], data_dir: Path) -> Callable[[RunClock], Any]:
    from modules.options import Options, OptionsRegistry
    from modules.processing import NullProgress, Txt2ImgParams, generate

    settings = Options(OptionsRegistry.builtin(), None).as_dict()  # a fresh install's settings

    class ClockedProgress(NullProgress):
        def __init__(self, clock: RunClock):
            super().__init__()
            self.clock = clock

        def step(self, step: int) -> None:
            super().step(step)
            self.clock.tick()

    def run(clock: RunClock):
        params = Txt2ImgParams(prompt=config.prompt, negative_prompt=config.negative_prompt, seed=config.seed,
                               steps=config.steps, cfg_scale=config.cfg_scale, width=size[0], height=size[1],
                               sampler_name="Euler", scheduler="Automatic", do_not_save_samples=True,
                               do_not_save_grid=True)
        return generate(params, model, settings, data_dir, progress=ClockedProgress(clock)).images[0]

    return run


def baseline_scheduler(model):
    from diffusers import EulerDiscreteScheduler

    from modules.sampling.discrete import SD_BETA_END, SD_BETA_START, SD_TRAIN_STEPS

    # steps_offset=1 only silences the pipeline's legacy-config warning; "linspace" ignores it
    return EulerDiscreteScheduler(num_train_timesteps=SD_TRAIN_STEPS, beta_start=SD_BETA_START,
                                  beta_end=SD_BETA_END, beta_schedule="scaled_linear",
                                  prediction_type=model.arch.prediction_type, steps_offset=1)


def baseline_tokenizer(tokenizer, text_encoder):
    """The engine's tokenizer with a max length: the bundled files carry none, and diffusers
    pads prompts to it. A shallow copy, so the engine's object stays as it was."""
    import copy

    copied = copy.copy(tokenizer)
    copied.model_max_length = int(text_encoder.config.max_position_embeddings)
    return copied


def build_baseline_pipeline(model):
    """A plain diffusers pipeline over the loaded model's own modules; nothing from the hub."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    scheduler = baseline_scheduler(model)
    if model.arch.family == "sdxl":
        pipe = StableDiffusionXLPipeline(
            vae=model.vae, text_encoder=model.text_encoders[0], text_encoder_2=model.text_encoders[1],
            tokenizer=baseline_tokenizer(model.tokenizers[0], model.text_encoders[0]),
            tokenizer_2=baseline_tokenizer(model.tokenizers[1], model.text_encoders[1]),
            unet=model.unet, scheduler=scheduler,
            force_zeros_for_empty_prompt=False,  # A1111 encodes an empty negative prompt as text
            add_watermarker=False,
        )
    elif model.arch.family in ("sd1", "sd2") and model.arch.variant == "base":
        pipe = StableDiffusionPipeline(
            vae=model.vae, text_encoder=model.text_encoders[0],
            tokenizer=baseline_tokenizer(model.tokenizers[0], model.text_encoders[0]), unet=model.unet,
            scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    else:
        raise ValueError(f"model: the baseline needs a base SD1/SD2/SDXL model, got {model.arch.label}")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def starting_noise(model, size: tuple[int, int], seed: int) -> torch.Tensor:
    """The engine's first noise for one image: a CPU generator seeded with the seed."""
    down = model.latent_downscale
    shape = (model.unet.config.out_channels, size[1] // down, size[0] // down)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))[None]


def baseline_runner(config: BenchConfig, model, size: tuple[int, int], pipe,
                    engine_sigmas: torch.Tensor) -> Callable[[RunClock], Any]:
    noise = starting_noise(model, size, config.seed)
    schedule = ({"sigmas": engine_sigmas.tolist()} if config.baseline_schedule == "engine"
                else {"num_inference_steps": config.steps})

    def run(clock: RunClock):
        def on_step_end(pipeline, step, timestep, tensors):
            clock.tick()
            return tensors

        latents = noise.to(model.unet.device, model.unet.dtype)  # the pipeline scales by sigma_max itself
        return pipe(config.prompt, negative_prompt=config.negative_prompt, width=size[0], height=size[1],
                    guidance_scale=config.cfg_scale, latents=latents, output_type="pil",
                    callback_on_step_end=on_step_end, **schedule).images[0]

    return run


# ---------------------------------------------------------------- measuring


def timed(run: Callable[[RunClock], Any], device: torch.device, timer: NetworkTimer) -> tuple[RunRecord, Any]:
    """One run's record and its image."""
    clock = RunClock(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    timer.clock = clock
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        image = run(clock)  # no inference_mode here: each side brings its own no_grad, as in real use
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        timer.clock = None
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return RunRecord(seconds, cpu_seconds, clock.loop_seconds(), clock.network_seconds, peak), image


def measure_alternating(sides: dict[str, Callable[[RunClock], Any]], repeats: int, warmup: int,
                        device: torch.device, timer: NetworkTimer) -> tuple[dict[str, list[RunRecord]], dict[str, Any]]:
    """Warm up every side, then run them in turn `repeats` times (order flipped each round)."""
    for _ in range(warmup):
        for run in sides.values():
            timed(run, device, timer)
    records: dict[str, list[RunRecord]] = {name: [] for name in sides}
    images: dict[str, Any] = {}
    names = list(sides)
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else names[::-1]:
            record, images[name] = timed(sides[name], device, timer)
            records[name].append(record)
    return records, images


def profile_top(run: Callable[[RunClock], Any], device: torch.device, timer: NetworkTimer,
                limit: int) -> list[dict[str, Any]]:
    """The functions where one run spends the most time of its own (cProfile tottime)."""
    profiler = cProfile.Profile()
    profiler.runcall(timed, run, device, timer)
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:limit]  # type: ignore[attr-defined]
    return [{"function": f"{Path(file).name}:{line}({name})", "calls": calls, "tottime_s": round(tottime, 4),
             "cumtime_s": round(cumtime, 4)}
            for (file, line, name), (_, calls, tottime, cumtime, _) in rows]


def schedule_report(config: BenchConfig, model, pipe) -> tuple[torch.Tensor, dict[str, Any]]:
    """The engine's sigmas, and how the baseline's differ from them."""
    from modules import sampling

    model_sigmas = sampling.DiscreteSigmas.from_alphas_cumprod(model.alphas_cumprod)
    engine = sampling.build_sigmas("Euler", config.steps, "Automatic", model_sigmas=model_sigmas)
    if config.baseline_schedule == "engine":
        pipe.scheduler.set_timesteps(sigmas=engine.tolist())
        baseline_text = "EulerDiscreteScheduler given the engine's sigmas (set_timesteps(sigmas=...))"
    else:
        pipe.scheduler.set_timesteps(config.steps)
        baseline_text = ("EulerDiscreteScheduler defaults: timestep_spacing 'linspace', sigmas interpolated "
                         "linearly between trained timesteps")
    baseline = pipe.scheduler.sigmas.float().cpu()
    if len(baseline) != len(engine):
        raise ValueError(f"steps: the schedules differ in length ({len(engine)} vs {len(baseline)} sigmas)")
    inner = slice(0, -1)  # both end in sigma 0
    relative = ((baseline[inner] - engine[inner]).abs() / engine[inner]).max().item()
    engine_t = model_sigmas.sigma_to_t(engine[inner])
    baseline_t = pipe.scheduler.timesteps.double().cpu()
    return engine, {
        "engine": "Euler, schedule type Automatic = Uniform: timesteps linspace(999, 0, steps), sigmas "
                  "interpolated in log-sigma (k-diffusion's get_sigmas)",
        "baseline": baseline_text,
        "max_timestep_difference": round((engine_t - baseline_t).abs().max().item(), 4),
        "max_relative_sigma_difference": round(relative, 6),
        "sigma_max": round(float(engine[0]), 4),
    }


def baseline_differences(model) -> list[str]:
    """What the baseline does differently beyond the schedule, for readers of the JSON."""
    notes = ["tokenizer: a shallow copy of the engine's with model_max_length set to the text encoder's "
             "77 positions (the bundled tokenizer files carry none; diffusers pads prompts to it)",
             "no infotext, prompt-syntax parsing or progress reporting (the engine does all three)"]
    if model.vae.dtype == torch.float16 and getattr(model.vae.config, "force_upcast", False) and model.arch.is_sdxl:
        notes.append("VAE decode: diffusers upcasts the VAE to fp32 (force_upcast); the engine decodes in fp16 "
                     "and retries in fp32 only on NaN")
    return notes


def image_difference(a, b) -> dict[str, float]:
    x, y = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
    if x.shape != y.shape:
        raise ValueError(f"images differ in size: {x.shape} vs {y.shape}")
    return {"mean_abs": round(float(np.abs(x - y).mean()), 3), "max_abs": int(np.abs(x - y).max())}


def environment(config: BenchConfig, model) -> dict[str, Any]:
    import diffusers

    device = config.torch_device()
    env = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "unet_dtype": str(model.unet.dtype).removeprefix("torch."),
        "vae_dtype": str(model.vae.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
    }
    return env


# ---------------------------------------------------------------- entry point


def run_benchmark(config: BenchConfig) -> dict[str, Any]:
    config.validate()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = config.torch_device()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        work_dir = Path(tmp)
        choice = prepare_checkpoint(config, work_dir)
        model = load(config, choice.path)
        size = image_size(config, choice, model)
        pipe = build_baseline_pipeline(model)
        engine_sigmas, schedule = schedule_report(config, model, pipe)
        sides = {"engine": engine_runner(config, model, size, work_dir / "data"),
                 "baseline": baseline_runner(config, model, size, pipe, engine_sigmas)}
        timer = NetworkTimer(model)
        try:
            records, images = measure_alternating(sides, config.repeats, config.warmup, device, timer)
            profile = ({name: profile_top(run, device, timer, config.profile) for name, run in sides.items()}
                       if config.profile else None)
        finally:
            timer.remove()
        report: dict[str, Any] = {
            "benchmark": "txt2img: Easel engine vs plain diffusers pipeline, same modules",
            "model": {"source": choice.source, "architecture": model.arch.label,
                      "parameters_m": round(sum(p.numel() for m in model.modules().values()
                                                for p in m.parameters()) / 1e6, 1),
                      "load_s": round(model.load_seconds, 2)},
            "run": {"width": size[0], "height": size[1], "steps": config.steps, "cfg_scale": config.cfg_scale,
                    "sampler": "Euler", "seed": config.seed, "prompt": config.prompt,
                    "negative_prompt": config.negative_prompt, "repeats": config.repeats, "warmup": config.warmup,
                    "order": "alternating, flipped every round", "baseline_differences": baseline_differences(model)},
            "schedule": schedule,
            "engine": summarize(records["engine"], config.steps),
            "baseline": summarize(records["baseline"], config.steps),
            **overhead_figures(records["engine"], records["baseline"]),
            "image_difference_0_255": image_difference(images["engine"], images["baseline"]),
            "environment": environment(config, model),
        }
        if profile is not None:
            report["profile_tottime_top"] = profile
    return report


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = BenchConfig()
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, help="checkpoint file (.safetensors/.ckpt; a .yaml beside it is used)")
    source.add_argument("--random", choices=("sd1", "sdxl"), help="build a random-weight checkpoint for the run")
    parser.add_argument("--tiny", action="store_true", help="with --random: the tiny test-size architecture")
    parser.add_argument("--width", type=int, help="default: the model's native size")
    parser.add_argument("--height", type=int, help="default: the model's native size")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--cfg-scale", type=float, default=defaults.cfg_scale)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--prompt", default=defaults.prompt)
    parser.add_argument("--negative-prompt", default=defaults.negative_prompt)
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="timed runs per side")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed runs per side first")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    parser.add_argument("--precision", choices=("auto", "fp16", "fp32"), default=defaults.precision,
                        help="weights on CUDA (auto = fp16, the engine's default); the CPU is always fp32")
    parser.add_argument("--baseline-schedule", choices=("diffusers", "engine"), default=defaults.baseline_schedule,
                        help="diffusers: its default Euler timesteps; engine: hand it the engine's sigmas")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile one extra run per side and report its N most expensive functions")
    opts = parser.parse_args(argv)
    return BenchConfig(**{name: getattr(opts, name) for name in asdict(defaults)})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    report = run_benchmark(parse_args(argv))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
