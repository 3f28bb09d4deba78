"""Score the shapes-demo model: generate a fixed set of unseen prompts and read the pictures
back with the pixel classifier of tools/shapes_dataset.py; print JSON (rows + totals).

    python -m tools.eval_demo_model --checkpoint assets/shapes-demo/shapes-demo.safetensors
    python -m tools.eval_demo_model --work-dir /tmp/demo-train/full   # training output

The prompts are the full captions of the held-out (fg, shape, bg) triples, which training
never rendered, each with --seeds seeds (default 24 triples x 2 seeds = 48 pairs).

With --engine (needs --checkpoint) the pictures come from the engine itself
(modules.processing.pipeline.generate: txt2img, 64x64, "Euler a", CFG, seeded CPU noise),
which is what the issue's bar is measured on. Without it, sampling is a small self-contained
loop with the same settings: Euler ancestral in k-diffusion sigma space over SD1's discrete
schedule (A1111's uniform spacing of the 1000 training steps), classifier-free guidance,
seeded CPU noise per image (initial and ancestral noise from a generator seeded with the
image's seed) -- useful on a training work dir before any export.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from tools.shapes_dataset import IMAGE_SIZE, Triple, classify, full_caption, split_triples
from tools.train_demo_model import alphas_cumprod, load_tokenizer, load_trained, tokenize


@dataclass(frozen=True)
class SampleSettings:
    steps: int = 20
    cfg_scale: float = 7.0
    negative_prompt: str = ""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps: must be at least 1, got {self.steps}")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale: must not be negative, got {self.cfg_scale}")


# ---------------------------------------------------------------- k-diffusion style sampling


def discrete_sigmas(ac: torch.Tensor) -> torch.Tensor:
    """sigma of each training timestep: sqrt((1 - alpha_bar) / alpha_bar)."""
    return ((1 - ac) / ac).sqrt()


def sigma_to_t(sigma: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Fractional timestep for a sigma, interpolating linearly in log sigma."""
    log_sigmas = sigmas.log()
    dists = sigma.log()[..., None] - log_sigmas
    low = dists.ge(0).cumsum(dim=-1).argmax(dim=-1).clamp(max=len(sigmas) - 2)
    low_s, high_s = log_sigmas[low], log_sigmas[low + 1]
    w = ((low_s - sigma.log()) / (low_s - high_s)).clamp(0, 1)
    return (1 - w) * low + w * (low + 1)


def t_to_sigma(t: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    log_sigmas = sigmas.log()
    low, high = t.floor().long(), t.ceil().long()
    w = t - low
    return ((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()


def uniform_schedule(steps: int, sigmas: torch.Tensor) -> torch.Tensor:
    """``steps`` sigmas evenly spaced in timestep from the last to the first, then 0."""
    t = torch.linspace(len(sigmas) - 1, 0, steps)
    return torch.cat([t_to_sigma(t, sigmas), torch.zeros(1)])


def ancestral_step(sigma: float, sigma_next: float) -> tuple[float, float]:
    """(sigma_down, sigma_up) of an ancestral step with eta 1."""
    if sigma_next == 0:
        return 0.0, 0.0
    up = min(sigma_next, math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2))
    return math.sqrt(sigma_next**2 - up**2), up


def sample_euler_ancestral(denoise, x: torch.Tensor, sigmas: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """Euler ancestral; ``denoise(x, sigma) -> x0``; one noise generator per image."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = denoise(x, sigma)
        down, up = ancestral_step(sigma, sigma_next)
        x = x + (x - denoised) / sigma * (down - sigma)
        if up > 0:
            x = x + per_image_noise(x.shape[1:], generators) * up
    return x


def per_image_noise(shape: torch.Size, generators: list[torch.Generator]) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


# ---------------------------------------------------------------- the model


@dataclass
class DemoPipeline:
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    sigmas: torch.Tensor

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        return self.text_encoder(tokenize(self.tokenizer, prompts)).last_hidden_state

    @torch.no_grad()
    def generate(self, prompts: list[str], seeds: list[int], settings: SampleSettings) -> np.ndarray:
        """uint8 images [N, 64, 64, 3]."""
        if len(prompts) != len(seeds):
            raise ValueError(f"seeds: {len(seeds)} given for {len(prompts)} prompts")
        cond = self.encode(prompts)
        uncond = self.encode([settings.negative_prompt] * len(prompts))
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        latent = IMAGE_SIZE // 4
        schedule = uniform_schedule(settings.steps, self.sigmas)
        x = per_image_noise(torch.Size((4, latent, latent)), generators) * schedule[0]

        def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
            sigma_t = torch.tensor([sigma])
            t = sigma_to_t(sigma_t, self.sigmas).expand(len(x) * 2)
            scaled = x / math.sqrt(sigma**2 + 1)
            eps = self.unet(torch.cat([scaled, scaled]), t, torch.cat([cond, uncond])).sample
            eps_cond, eps_uncond = eps.chunk(2)
            eps = eps_uncond + settings.cfg_scale * (eps_cond - eps_uncond)
            return x - eps * sigma

        x = sample_euler_ancestral(denoise, x, schedule, generators)
        images = self.vae.decode(x / self.vae.config.scaling_factor).sample
        images = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return images.permute(0, 2, 3, 1).numpy()


def pipeline_from_work_dir(work_dir: Path) -> DemoPipeline:
    unet, vae, text_encoder = load_trained(work_dir)
    return DemoPipeline(unet, vae, text_encoder, load_tokenizer(), discrete_sigmas(alphas_cumprod()))


def pipeline_from_checkpoint(path: Path) -> DemoPipeline:
    """Load through the engine's ordinary single-file loader (LDM layout + yaml beside it)."""
    from modules.devices import DevicePolicy
    from modules.sd_models.checkpoints import CheckpointInfo
    from modules.sd_models.loader import load_model

    cpu = torch.device("cpu")
    model = load_model(CheckpointInfo(path, path.name), DevicePolicy(cpu, torch.float32, torch.float32, torch.float32))
    return DemoPipeline(
        model.unet.eval(), model.vae.eval(), model.text_encoders[0].eval(), load_tokenizer(),
        discrete_sigmas(model.alphas_cumprod),
    )


@dataclass
class EnginePipeline:
    """The same ``generate`` surface, backed by the engine's txt2img."""

    model: object

    @classmethod
    def load(cls, path: Path) -> "EnginePipeline":
        from modules.devices import DevicePolicy
        from modules.sd_models.checkpoints import CheckpointInfo
        from modules.sd_models.loader import load_model

        cpu = torch.device("cpu")
        return cls(load_model(CheckpointInfo(path, path.name), DevicePolicy(cpu, torch.float32, torch.float32, torch.float32)))

    def generate(self, prompts: list[str], seeds: list[int], settings: SampleSettings) -> np.ndarray:
        import tempfile

        from modules.processing.params import Txt2ImgParams
        from modules.processing.pipeline import generate

        images = []
        with tempfile.TemporaryDirectory() as data_dir:
            for prompt, seed in zip(prompts, seeds):
                params = Txt2ImgParams(
                    prompt=prompt, negative_prompt=settings.negative_prompt, seed=seed, sampler_name="Euler a",
                    steps=settings.steps, cfg_scale=settings.cfg_scale, width=IMAGE_SIZE, height=IMAGE_SIZE,
                    do_not_save_samples=True, do_not_save_grid=True,
                )
                result = generate(params, self.model, {"samples_save": False, "grid_save": False}, Path(data_dir))
                images.append(np.asarray(result.images[0].convert("RGB"), dtype=np.uint8))
        return np.stack(images)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalRow:
    prompt: str
    seed: int
    expected: dict
    got: dict
    fg_ok: bool
    bg_ok: bool
    shape_ok: bool


def eval_prompts(held_out: list[Triple], seeds_per_prompt: int, first_seed: int) -> list[tuple[Triple, int]]:
    return [(t, first_seed + 1000 * i + s) for i, t in enumerate(held_out) for s in range(seeds_per_prompt)]


def score(pairs: list[tuple[Triple, int]], images: np.ndarray) -> tuple[list[EvalRow], dict]:
    rows = []
    for (triple, seed), image in zip(pairs, images):
        reading = classify(image)
        rows.append(
            EvalRow(
                prompt=full_caption(triple),
                seed=seed,
                expected={"fg": triple.fg, "shape": triple.shape, "bg": triple.bg},
                got={"fg": reading.fg, "shape": reading.shape, "bg": reading.bg,
                     "fill": round(reading.fill_ratio, 3), "top_bottom": round(reading.top_bottom_ratio, 3)},
                fg_ok=reading.fg == triple.fg,
                bg_ok=reading.bg == triple.bg,
                shape_ok=reading.shape == triple.shape,
            )
        )
    n = len(rows)
    totals = {
        "n": n,
        "fg": sum(r.fg_ok for r in rows) / n,
        "bg": sum(r.bg_ok for r in rows) / n,
        "shape": sum(r.shape_ok for r in rows) / n,
        "all_three": sum(r.fg_ok and r.bg_ok and r.shape_ok for r in rows) / n,
    }
    return rows, totals


def save_grid(images: np.ndarray, path: Path, columns: int = 8) -> None:
    from PIL import Image

    rows = -(-len(images) // columns)
    grid = np.zeros((rows * IMAGE_SIZE, columns * IMAGE_SIZE, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * IMAGE_SIZE : (r + 1) * IMAGE_SIZE, c * IMAGE_SIZE : (c + 1) * IMAGE_SIZE] = image
    Image.fromarray(grid).save(path)


def time_one_image(pipe: "DemoPipeline | EnginePipeline", settings: SampleSettings, repeats: int = 3) -> float:
    pipe.generate(["a red circle on a blue background"], [0], settings)  # warm-up
    start = time.perf_counter()
    for seed in range(repeats):
        pipe.generate(["a red circle on a blue background"], [seed], settings)
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="LDM-layout .safetensors (yaml beside it)")
    source.add_argument("--work-dir", type=Path, help="tools/train_demo_model.py work dir (diffusers weights)")
    parser.add_argument("--engine", action="store_true", help="generate through the engine (with --checkpoint)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per held-out prompt")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg-scale", type=float, default=7.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--grid", type=Path, default=None, help="also save the images as a PNG grid")
    parser.add_argument("--time", action="store_true", help="also time one 64x64 image end to end")
    parser.add_argument("--totals-only", action="store_true", help="print totals without per-prompt rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = SampleSettings(steps=args.steps, cfg_scale=args.cfg_scale)
    if args.engine and not args.checkpoint:
        raise ValueError("engine: --engine needs --checkpoint (the engine loads single-file checkpoints)")
    if args.engine:
        pipe = EnginePipeline.load(args.checkpoint)
    elif args.checkpoint:
        pipe = pipeline_from_checkpoint(args.checkpoint)
    else:
        pipe = pipeline_from_work_dir(args.work_dir)
    _, held_out = split_triples()
    pairs = eval_prompts(held_out, args.seeds, args.first_seed)
    start = time.perf_counter()
    images = np.concatenate(
        [
            pipe.generate([full_caption(t) for t, _ in chunk], [s for _, s in chunk], settings)
            for chunk in (pairs[i : i + args.batch] for i in range(0, len(pairs), args.batch))
        ]
    )
    seconds = time.perf_counter() - start
    rows, totals = score(pairs, images)
    sampler = "engine Euler a" if args.engine else "Euler a (tools loop)"
    report: dict = {"settings": asdict(settings) | {"sampler": sampler, "size": IMAGE_SIZE}, "totals": totals,
                    "batched_seconds_per_image": round(seconds / len(pairs), 4)}
    if args.time:
        report["seconds_per_image"] = round(time_one_image(pipe, settings), 4)
    if not args.totals_only:
        report["rows"] = [asdict(r) for r in rows]
    if args.grid:
        save_grid(images, args.grid)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
