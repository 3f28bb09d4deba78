"""Train the "shapes-cyan" demo LoRA: teach the bundled shapes-demo checkpoint a colour word it
has never seen ("cyan"), as a kohya-format LoRA file that Easel (and A1111) load from models/Lora.

How to run (from the repository root, with the venv active):

    python -m tools.train_demo_lora --base assets/shapes-demo/shapes-demo.safetensors \
        --output assets/shapes-demo/Lora/shapes-cyan.safetensors --eval

    # evaluate an existing LoRA file through the engine only:
    python -m tools.train_demo_lora --base assets/shapes-demo/shapes-demo.safetensors \
        --output assets/shapes-demo/Lora/shapes-cyan.safetensors --eval-only

The base is loaded through Easel's own single-file loader (yaml beside it). Stages:
  1. Latents (cached in --work-dir, keyed by the VAE's weights and the data settings).
     The base VAE was trained on the eight palette colours only, and its frozen decoder cannot
     render every colour: even from freely optimised latents it never gets near (20, 200, 210)
     (the closest flat patch it makes is ~(77, 131, 191)). So the default "cyan" is the darker
     blue-green (30, 120, 140), which the decoder reaches and which is 100 RGB units from every
     palette colour (the palette's own closest pair, orange/yellow, is 81 apart). The encoder
     maps unseen colours to latents that decode wrongly, so a copy of it is tuned briefly
     (frozen decoder; reconstruction of new-colour pictures, anchored to the original encoder
     on palette pictures) and encodes the new-colour pictures; palette pictures, which keep the
     LoRA from disturbing what the base knows, are encoded by the original encoder.
  2. LoRA: rank-r adapters on the UNet's transformer blocks (self- and cross-attention q/k/v/out,
     feed-forward, proj_in/out) and the text encoder's attention and MLP layers (the colour word's
     tokens only mean something once the text side learns them), trained with the base's recipe
     (SD1 DDPM schedule, epsilon target, offset noise 0.1, Min-SNR-5 weights, caption kinds of
     tools/shapes_dataset; no empty captions for new-colour pictures, so the unconditional branch
     that classifier-free guidance pushes away from stays the base's).
  3. Save: kohya keys (lora_unet_<diffusers path>, lora_te_<transformers path>, "." as "_"),
     fp16 tensors, ss_* metadata.

Deterministic for a given --seed, thread count and device: every batch comes from a generator
seeded by the step number. --deadline (UTC HH:MM) stops training early and saves what it has.
--eval generates "a cyan circle on a white background" with and without <lora:NAME:1> through
the engine (64x64, Euler a, 20 steps, CFG 7) over 16 seeds and prints JSON.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from tools.shapes_dataset import (
    CAPTION_KINDS,
    COLOURS,
    IMAGE_SIZE,
    PALETTE,
    SHAPES,
    ShapeScene,
    Triple,
    caption_for,
    classify_shape,
    random_scene,
    render,
    render_dataset,
    split_triples,
)
from tools.train_demo_model import images_to_tensor, parse_deadline, tokenize

DEFAULT_COLOUR = "cyan"
DEFAULT_RGB = (30, 120, 140)
# A new colour closer than this to a palette colour would make nearest-colour reading ambiguous.
MIN_PALETTE_DISTANCE = 60.0
NOISE_OFFSET = 0.1  # the base's offset noise and Min-SNR gamma (tools/train_demo_model.py)
MIN_SNR_GAMMA = 5.0
UNET_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k",
                "attn2.to_v", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")
TEXT_TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2")


@dataclass
class LoraConfig:
    base: Path = Path("assets/shapes-demo/shapes-demo.safetensors")
    output: Path = Path("assets/shapes-demo/Lora/shapes-cyan.safetensors")
    work_dir: Path | None = Path("/tmp/demo-lora")
    colour: str = DEFAULT_COLOUR
    rgb: tuple[int, int, int] = DEFAULT_RGB
    seed: int = 4321
    threads: int = 1
    rank: int = 8
    alpha: float = 8.0
    steps: int = 1800
    batch: int = 16
    new_colour_fraction: float = 0.7  # share of each batch showing the new colour
    lr: float = 4e-3
    warmup: int = 50
    min_lr_ratio: float = 0.1
    new_colour_images: int = 2048
    palette_images: int = 2048
    new_colour_background_share: float = 0.25  # new-colour pictures where it is the background
    encoder_steps: int = 300
    encoder_batch: int = 8
    encoder_lr: float = 1e-3
    log_every: int = 50
    deadline: str | None = None

    def __post_init__(self) -> None:
        for name in ("rank", "steps", "batch", "threads", "new_colour_images", "palette_images", "encoder_batch",
                     "log_every", "warmup"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.encoder_steps < 0:
            raise ValueError(f"encoder_steps: must not be negative, got {self.encoder_steps}")
        for name in ("alpha", "lr", "encoder_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in ("new_colour_fraction", "new_colour_background_share", "min_lr_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be between 0 and 1, got {getattr(self, name)}")
        check_new_colour(self.colour, self.rgb)
        if self.output.suffix != ".safetensors":
            raise ValueError(f"output: must end in .safetensors, got {self.output}")
        if self.deadline is not None:
            parse_deadline(self.deadline)


def check_new_colour(name: str, rgb: tuple[int, int, int]) -> None:
    if name in PALETTE:
        raise ValueError(f"colour: {name!r} is already a palette colour; the base model knows it")
    if not name.isalpha() or not name.islower():
        raise ValueError(f"colour: expected one lower-case word, got {name!r}")
    if len(rgb) != 3 or any(not 0 <= v <= 255 for v in rgb):
        raise ValueError(f"rgb: expected three values in 0..255, got {rgb!r}")
    nearest, distance = nearest_palette_colour(rgb)
    if distance < MIN_PALETTE_DISTANCE:
        raise ValueError(f"rgb: {rgb} is only {distance:.0f} from palette {nearest!r}; need >= {MIN_PALETTE_DISTANCE:.0f}")


def nearest_palette_colour(rgb: tuple[int, int, int]) -> tuple[str, float]:
    distances = {name: float(np.linalg.norm(np.subtract(rgb, value, dtype=np.float64))) for name, value in PALETTE.items()}
    name = min(distances, key=distances.get)
    return name, distances[name]


def extended_palette(colour: str, rgb: tuple[int, int, int]) -> dict[str, tuple[int, int, int]]:
    return {**PALETTE, colour: tuple(rgb)}


# ---------------------------------------------------------------- pictures of the new colour


@dataclass(frozen=True)
class ColourScene:
    """A scene whose colours may lie outside the palette (ShapeScene only takes palette names)."""

    fg: str
    shape: str
    bg: str
    box: tuple[int, int, int]


def shape_coverage(shape: str, box: tuple[int, int, int]) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape, [64, 64]: rendered white on black by
    shapes_dataset.render, whose box downsampling is linear, so any two colours can be blended
    with it exactly as render would have drawn them."""
    picture = render(ShapeScene("white", shape, "black", box)).astype(np.float32)[..., 0]
    black, white = PALETTE["black"][0], PALETTE["white"][0]
    return np.clip((picture - black) / (white - black), 0.0, 1.0)


def render_colour_scene(scene: ColourScene, palette: dict[str, tuple[int, int, int]]) -> np.ndarray:
    coverage = shape_coverage(scene.shape, scene.box)[..., None]
    fg, bg = (np.asarray(palette[c], dtype=np.float32) for c in (scene.fg, scene.bg))
    return np.round(bg + coverage * (fg - bg)).astype(np.uint8)


def new_colour_triples(colour: str) -> list[Triple]:
    """Every (fg, shape, bg) with the new colour as foreground, then as background."""
    as_fg = [Triple(colour, shape, bg) for shape in SHAPES for bg in COLOURS]
    as_bg = [Triple(fg, shape, colour) for shape in SHAPES for fg in COLOURS]
    return as_fg + as_bg


def random_colour_scenes(colour: str, count: int, background_share: float, seed: int) -> tuple[list[ColourScene], np.ndarray]:
    """``count`` scenes showing ``colour`` and their indices into new_colour_triples(colour)."""
    triples = new_colour_triples(colour)
    half = len(triples) // 2
    rng = random.Random(seed)
    scenes, indices = [], []
    for _ in range(count):
        index = rng.randrange(half) + (half if rng.random() < background_share else 0)
        layout = random_scene(Triple("white", triples[index].shape, "black"), rng)  # a palette-valid box
        scenes.append(ColourScene(triples[index].fg, triples[index].shape, triples[index].bg, layout.box))
        indices.append(index)
    return scenes, np.asarray(indices, dtype=np.int64)


# ---------------------------------------------------------------- stage 1: latents


@dataclass
class LatentPool:
    """Encoded pictures of one kind and the token ids of every caption they may get."""

    mean: torch.Tensor  # [N, C, h, w] posterior mean (unscaled)
    std: torch.Tensor
    triple_index: torch.Tensor  # [N] into tokens' first axis
    tokens: torch.Tensor  # [triples, kinds, 77]
    kind_weights: torch.Tensor  # [kinds]


def vae_fingerprint(vae: torch.nn.Module, cfg: LoraConfig) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    settings = [cfg.colour, list(cfg.rgb), cfg.seed, cfg.new_colour_images, cfg.palette_images,
                cfg.new_colour_background_share, cfg.encoder_steps, cfg.encoder_batch, cfg.encoder_lr]
    digest.update(json.dumps(settings).encode())
    return digest.hexdigest()[:16]


def tune_encoder(vae: torch.nn.Module, cfg: LoraConfig, train_triples: list[Triple]) -> torch.nn.Module:
    """A copy of ``vae`` whose encoder (and quant_conv) put new-colour pictures where the frozen
    decoder renders them, while palette pictures keep the original encoder's latents."""
    tuned = copy.deepcopy(vae).train()
    tuned.requires_grad_(False)
    params = list(tuned.encoder.parameters()) + list(tuned.quant_conv.parameters())
    for param in params:
        param.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=cfg.encoder_lr)
    palette = extended_palette(cfg.colour, cfg.rgb)
    rng = random.Random(cfg.seed + 11)
    start = time.time()
    for step in range(cfg.encoder_steps):
        lr = cfg.encoder_lr * min(1.0, (step + 1) / 20) * (0.1 + 0.45 * (1 + math.cos(math.pi * step / cfg.encoder_steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        scenes, _ = random_colour_scenes(cfg.colour, cfg.encoder_batch, cfg.new_colour_background_share, rng.randrange(2**31))
        new = images_to_tensor(np.stack([render_colour_scene(s, palette) for s in scenes]))
        old = images_to_tensor(np.stack([render(random_scene(rng.choice(train_triples), rng)) for _ in range(cfg.encoder_batch)]))
        recon = vae.decode(tuned.encode(new).latent_dist.mean).sample
        rec = F.l1_loss(recon, new) + F.mse_loss(recon, new)
        with torch.no_grad():
            target = vae.encode(old).latent_dist.mean
        anchor = F.mse_loss(tuned.encode(old).latent_dist.mean, target) / target.pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        (rec + anchor).backward()
        optimizer.step()
        if step % cfg.log_every == 0 or step == cfg.encoder_steps - 1:
            print(f"[encoder] step {step} rec {rec.item():.4f} anchor {anchor.item():.4f} {time.time() - start:.0f}s", flush=True)
    return tuned.eval().requires_grad_(False)


@torch.no_grad()
def encode(vae: torch.nn.Module, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    means, stds = [], []
    for begin in range(0, len(images), 64):
        posterior = vae.encode(images_to_tensor(images[begin : begin + 64])).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def colour_recall(vae: torch.nn.Module, latents: torch.Tensor, images: np.ndarray,
                  palette: dict[str, tuple[int, int, int]], colour: str) -> float:
    """Share of the pixels drawn in ``colour`` that the decoder, given ``latents``, renders
    nearest to ``colour``: how well the latents the LoRA learns from show the new colour."""
    decoded = ((vae.decode(latents).sample.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    table = np.asarray(list(palette.values()), dtype=np.float32)
    target = list(palette).index(colour)

    def labels(pictures: np.ndarray) -> np.ndarray:
        return ((pictures.reshape(-1, 1, 3).astype(np.float32) - table[None]) ** 2).sum(axis=2).argmin(axis=1)

    drawn = labels(images) == target
    return float((labels(decoded)[drawn] == target).mean()) if drawn.any() else 0.0


def caption_tokens(tokenizer, triples: list[Triple], kinds: list[str]) -> torch.Tensor:
    captions = [caption_for(t, k) for t in triples for k in kinds]
    return tokenize(tokenizer, captions).view(len(triples), len(kinds), -1)


def build_pools(model, cfg: LoraConfig) -> tuple[LatentPool, LatentPool]:
    """(new-colour pool, palette pool), from the work-dir cache when its fingerprint matches."""
    vae = model.vae.float().eval()
    train_triples, _ = split_triples(seed=0, held_out=24)  # the base's hold-out stays unseen
    fingerprint = vae_fingerprint(vae, cfg)
    cache = cfg.work_dir / f"latents-{fingerprint}.pt" if cfg.work_dir else None
    if cache is not None and cache.exists():
        print(f"[latents] found {cache}", flush=True)
        saved = torch.load(cache, weights_only=True)
    else:
        start = time.time()
        tuned = tune_encoder(vae, cfg, train_triples) if cfg.encoder_steps else vae
        palette = extended_palette(cfg.colour, cfg.rgb)
        scenes, new_index = random_colour_scenes(cfg.colour, cfg.new_colour_images, cfg.new_colour_background_share, cfg.seed + 12)
        new_images = np.stack([render_colour_scene(s, palette) for s in scenes])
        new_mean, new_std = encode(tuned, new_images)
        recall = colour_recall(vae, new_mean[:64], new_images[:64], palette, cfg.colour)
        print(f"[latents] decoded new-colour pixels read as {cfg.colour}: {recall:.1%}", flush=True)
        old_images, old_index = render_dataset(train_triples, cfg.palette_images, cfg.seed + 13)
        old_mean, old_std = encode(vae, old_images)
        saved = {"new_mean": new_mean.half(), "new_std": new_std.half(), "new_index": torch.from_numpy(new_index),
                 "old_mean": old_mean.half(), "old_std": old_std.half(), "old_index": torch.from_numpy(old_index)}
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(saved, cache.with_suffix(".tmp"))
            cache.with_suffix(".tmp").replace(cache)
        print(f"[latents] {len(new_index)} new-colour and {len(old_index)} palette pictures encoded in {time.time() - start:.0f}s", flush=True)
    tokenizer = model.tokenizers[0]
    all_kinds = [kind for kind, _ in CAPTION_KINDS]
    weights = torch.tensor([w for _, w in CAPTION_KINDS])
    # New-colour pictures never get the empty caption: the unconditional branch stays the base's.
    new_weights = torch.where(torch.tensor([k == "empty" for k in all_kinds]), 0.0, weights)
    new_pool = LatentPool(saved["new_mean"].float(), saved["new_std"].float(), saved["new_index"],
                          caption_tokens(tokenizer, new_colour_triples(cfg.colour), all_kinds), new_weights)
    old_pool = LatentPool(saved["old_mean"].float(), saved["old_std"].float(), saved["old_index"],
                          caption_tokens(tokenizer, train_triples, all_kinds), weights)
    return new_pool, old_pool


# ---------------------------------------------------------------- stage 2: LoRA adapters


class LoraAdapter(torch.nn.Module):
    """up(down(x)) * alpha / rank added to a Linear or 1x1 Conv2d's output (kohya's LoRA).

    down starts small and random, up at zero, so training starts from the base model exactly."""

    def __init__(self, module: torch.nn.Module, rank: int, alpha: float):
        super().__init__()
        if isinstance(module, torch.nn.Linear):
            self.down = torch.nn.Linear(module.in_features, rank, bias=False)
            self.up = torch.nn.Linear(rank, module.out_features, bias=False)
        elif isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1):
            self.down = torch.nn.Conv2d(module.in_channels, rank, 1, bias=False)
            self.up = torch.nn.Conv2d(rank, module.out_channels, 1, bias=False)
        else:
            raise ValueError(f"module: LoRA targets Linear or 1x1 Conv2d layers, got {module}")
        torch.nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        torch.nn.init.zeros_(self.up.weight)
        self.rank, self.alpha = rank, alpha

    def hook(self, module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        return output + self.up(self.down(inputs[0])) * (self.alpha / self.rank)


@dataclass
class AdapterSet:
    adapters: dict[str, LoraAdapter]  # kohya module name → adapter
    handles: list = field(default_factory=list)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for a in self.adapters.values() for p in a.parameters()]

    def detach_hooks(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def target_modules(model) -> dict[str, torch.nn.Module]:
    """kohya name → module: the UNet's transformer layers and the text encoder's attention/MLP."""
    found: dict[str, torch.nn.Module] = {}
    for path, module in model.unet.named_modules():
        if ".attentions." in f".{path}" and path.endswith(UNET_TARGETS):
            found["lora_unet_" + path.replace(".", "_")] = module
    for path, module in model.text_encoders[0].named_modules():
        if ".encoder.layers." in f".{path}" and path.endswith(TEXT_TARGETS):
            # kohya spells CLIP paths from text_model (transformers 5 has no such wrapper level)
            found["lora_te_text_model_" + path.removeprefix("text_model.").replace(".", "_")] = module
    if not found:
        raise ValueError("base: no attention layers found to adapt; is this an SD1-architecture checkpoint?")
    return found


def attach_adapters(model, rank: int, alpha: float, seed: int) -> AdapterSet:
    torch.manual_seed(seed)
    adapters = AdapterSet({})
    for name, module in target_modules(model).items():
        adapter = LoraAdapter(module, rank, alpha)
        adapters.adapters[name] = adapter
        adapters.handles.append(module.register_forward_hook(adapter.hook))
    return adapters


def learning_rate(cfg: LoraConfig, step: int) -> float:
    warm = min(1.0, (step + 1) / cfg.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
    return cfg.lr * warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def draw_batch(pool: LatentPool, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents sampled from their posteriors, unscaled; caption token ids)."""
    picks = torch.randint(0, len(pool.mean), (count,), generator=gen)
    kinds = torch.multinomial(pool.kind_weights, count, replacement=True, generator=gen)
    latents = pool.mean[picks] + pool.std[picks] * torch.randn(pool.mean[picks].shape, generator=gen)
    return latents, pool.tokens[pool.triple_index[picks], kinds]


@dataclass
class TrainSummary:
    steps: int
    planned_steps: int
    stopped_early: bool
    seconds: float
    seconds_per_step: float
    final_mse: float


def train_adapters(model, adapters: AdapterSet, pools: tuple[LatentPool, LatentPool], cfg: LoraConfig) -> TrainSummary:
    """The base's denoiser objective, only the adapters learning."""
    unet, text_encoder = model.unet.float().train(), model.text_encoders[0].float().train()
    unet.requires_grad_(False)
    text_encoder.requires_grad_(False)
    params = adapters.parameters()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ac = model.alphas_cumprod.float().cpu()
    snr = ac / (1 - ac)
    loss_weight = torch.clamp(snr, max=MIN_SNR_GAMMA) / snr
    new_count = round(cfg.batch * cfg.new_colour_fraction)
    deadline = parse_deadline(cfg.deadline) if cfg.deadline else None
    start, running, step, stopped_early = time.time(), [], 0, False
    last_mse = float("nan")
    while step < cfg.steps:
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        new_latents, new_ids = draw_batch(pools[0], new_count, gen)
        old_latents, old_ids = draw_batch(pools[1], cfg.batch - new_count, gen)
        latents = torch.cat([new_latents, old_latents]) * model.scaling_factor
        ids = torch.cat([new_ids, old_ids])
        t = torch.randint(0, len(ac), (cfg.batch,), generator=gen)
        noise = torch.randn(latents.shape, generator=gen)
        noise = noise + NOISE_OFFSET * torch.randn((cfg.batch, latents.shape[1], 1, 1), generator=gen)
        a = ac[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        lr = learning_rate(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        context = text_encoder(ids).last_hidden_state
        pred = unet(noisy, t, context).sample
        per_sample = (pred - noise).pow(2).mean(dim=(1, 2, 3))
        loss = (per_sample * loss_weight[t]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step += 1
        running.append(per_sample.mean().item())
        if step % cfg.log_every == 0 or step == cfg.steps:
            last_mse = float(np.mean(running))
            print(f"[lora] step {step} mse {last_mse:.4f} lr {lr:.2e} {time.time() - start:.0f}s", flush=True)
            running = []
        if deadline and dt.datetime.now(dt.timezone.utc) >= deadline:
            print(f"[lora] deadline {cfg.deadline} UTC reached at step {step}; stopping", flush=True)
            stopped_early = True
            break
    unet.eval()
    text_encoder.eval()
    seconds = time.time() - start
    if running:
        last_mse = float(np.mean(running))
    return TrainSummary(step, cfg.steps, stopped_early, round(seconds, 1), round(seconds / max(1, step), 4), round(last_mse, 5))


# ---------------------------------------------------------------- stage 3: save


def lora_state_dict(adapters: AdapterSet) -> dict[str, torch.Tensor]:
    """kohya keys: NAME.lora_down.weight [r, in(,1,1)], NAME.lora_up.weight [out, r(,1,1)], NAME.alpha."""
    state = {}
    for name, adapter in adapters.adapters.items():
        state[f"{name}.lora_down.weight"] = adapter.down.weight.detach().to(torch.float16).contiguous()
        state[f"{name}.lora_up.weight"] = adapter.up.weight.detach().to(torch.float16).contiguous()
        state[f"{name}.alpha"] = torch.tensor(float(adapter.alpha), dtype=torch.float16)
    return state


def lora_metadata(cfg: LoraConfig, summary: TrainSummary, base_name: str) -> dict[str, str]:
    return {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(cfg.rank),
        "ss_network_alpha": str(cfg.alpha),
        "ss_output_name": cfg.output.stem,
        "ss_base_model_version": "sd_v1",
        "ss_sd_model_name": base_name,
        "ss_resolution": f"({IMAGE_SIZE}, {IMAGE_SIZE})",
        "ss_steps": str(summary.steps),
        "ss_max_train_steps": str(cfg.steps),
        "ss_learning_rate": str(cfg.lr),
        "ss_train_batch_size": str(cfg.batch),
        "ss_seed": str(cfg.seed),
        "ss_num_train_images": str(cfg.new_colour_images + cfg.palette_images),
        "ss_training_comment": f"teaches the colour word {cfg.colour!r} (RGB {tuple(cfg.rgb)}); tools/train_demo_lora.py",
        "easel_demo_colour": json.dumps({"name": cfg.colour, "rgb": list(cfg.rgb)}),
    }


def save_lora(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(path)  # never leave a half-written LoRA where the UI would list it
    return path.stat().st_size


# ---------------------------------------------------------------- loading and the whole run


def load_base(path: Path):
    """The base through Easel's ordinary single-file loader, fp32 on the CPU."""
    from modules.devices import DevicePolicy
    from modules.sd_models.checkpoints import CheckpointInfo
    from modules.sd_models.loader import load_model

    if not path.is_file():
        raise ValueError(f"base: no checkpoint at {path}")
    cpu = torch.device("cpu")
    return load_model(CheckpointInfo(path, path.name), DevicePolicy(cpu, torch.float32, torch.float32, torch.float32))


def train_lora(cfg: LoraConfig, model=None) -> dict:
    """Train and save the LoRA; returns a summary (also printed by main)."""
    model = model if model is not None else load_base(cfg.base)
    pools = build_pools(model, cfg)
    adapters = attach_adapters(model, cfg.rank, cfg.alpha, cfg.seed)
    try:
        summary = train_adapters(model, adapters, pools, cfg)
    finally:
        adapters.detach_hooks()  # the loaded model is the base again
    size = save_lora(cfg.output, lora_state_dict(adapters), lora_metadata(cfg, summary, cfg.base.name))
    return {"file": str(cfg.output), "bytes": size, "modules": len(adapters.adapters),
            "parameters": sum(p.numel() for p in adapters.parameters()), "training": asdict(summary)}


# ---------------------------------------------------------------- evaluation through the engine


@dataclass(frozen=True)
class ColourReading:
    bg: str
    fg: str | None
    shape: str | None


def read_colours(image: np.ndarray, palette: dict[str, tuple[int, int, int]], min_pixels: int = 24) -> ColourReading:
    """shapes_dataset.classify's reading (border colour is the background, the most common other
    colour the foreground, its largest region the shape) over an extended palette."""
    from scipy import ndimage

    names = list(palette)
    table = np.asarray([palette[n] for n in names], dtype=np.float32)
    labels = ((image.reshape(-1, 1, 3).astype(np.float32) - table[None]) ** 2).sum(axis=2).argmin(axis=1)
    labels = labels.reshape(image.shape[:2])
    border = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    bg_index = int(np.bincount(border, minlength=len(names)).argmax())
    counts = np.bincount(labels.ravel(), minlength=len(names))
    counts[bg_index] = 0
    fg_index = int(counts.argmax())
    if counts[fg_index] < min_pixels:
        return ColourReading(names[bg_index], None, None)
    regions, _ = ndimage.label(labels == fg_index)
    mask = ndimage.binary_fill_holes(regions == int(np.bincount(regions.ravel())[1:].argmax()) + 1)
    return ColourReading(names[bg_index], names[fg_index], classify_shape(mask)[0])


def generate_images(model, prompt: str, seeds: list[int], extra) -> list[np.ndarray]:
    """Engine txt2img pictures of ``prompt``; ``extra`` is the ExtraNetworks that resolves its tags."""
    import tempfile

    from modules.processing.params import Txt2ImgParams
    from modules.processing.pipeline import generate

    images = []
    with tempfile.TemporaryDirectory() as data_dir:
        for seed in seeds:
            params = Txt2ImgParams(prompt=prompt, seed=seed, sampler_name="Euler a", steps=20, cfg_scale=7.0,
                                   width=IMAGE_SIZE, height=IMAGE_SIZE, do_not_save_samples=True, do_not_save_grid=True)
            result = generate(params, model, {"samples_save": False, "grid_save": False}, Path(data_dir),
                              extra_networks=extra)
            images.append(np.asarray(result.images[0].convert("RGB"), dtype=np.uint8))
    return images


def apply_warnings(model, lora_path: Path, library) -> tuple[list[str], int]:
    """(warnings, patched parameter count) of applying the file at weight 1, then restored."""
    from modules.networks import NetworkUse, apply_networks

    with apply_networks(model, [NetworkUse(lora_path.stem)], library, keep=False) as report:
        return list(report.warnings), report.patched_parameters


def evaluate(model, lora_path: Path, seeds: int = 16, first_seed: int = 1000, grid: Path | None = None) -> dict:
    """Foreground colour rates with and without the LoRA tag, plus a palette-colour control."""
    from safetensors import safe_open

    from modules.networks import LoraLibrary, remove_networks
    from modules.processing.extra_networks import ExtraNetworks

    with safe_open(str(lora_path), "pt") as f:
        colour_info = json.loads((f.metadata() or {}).get("easel_demo_colour", "{}"))
    colour = colour_info.get("name", DEFAULT_COLOUR)
    palette = extended_palette(colour, tuple(colour_info.get("rgb", DEFAULT_RGB)))
    tag = f"<lora:{lora_path.stem}:1>"
    # One library for every run: its patcher restores the base weights for the untagged prompt.
    library = LoraLibrary([lora_path.parent])
    extra = ExtraNetworks(loras=library)
    warnings, patched = apply_warnings(model, lora_path, library)
    seed_list = list(range(first_seed, first_seed + seeds))
    runs = {
        "with_lora": (f"a {colour} circle on a white background {tag}", colour),
        "without_lora": (f"a {colour} circle on a white background", colour),
        "control_red_with_lora": (f"a red circle on a white background {tag}", "red"),
    }
    report: dict = {"colour": colour, "rgb": list(palette[colour]), "seeds": seed_list, "lora_warnings": warnings,
                    "lora_patched_parameters": patched, "settings": "64x64, Euler a, 20 steps, CFG 7"}
    all_images = []
    start = time.time()
    for key, (prompt, wanted) in runs.items():
        images = generate_images(model, prompt, seed_list, extra)
        all_images += images
        readings = [read_colours(image, palette) for image in images]
        fg_counts: dict[str, int] = {}
        for r in readings:
            fg_counts[str(r.fg)] = fg_counts.get(str(r.fg), 0) + 1
        report[key] = {
            "prompt": prompt,
            "fg_rate": sum(r.fg == wanted for r in readings) / len(readings),
            f"{colour}_fg_rate": sum(r.fg == colour for r in readings) / len(readings),
            "shape_rate": sum(r.shape == "circle" for r in readings) / len(readings),
            "bg_white_rate": sum(r.bg == "white" for r in readings) / len(readings),
            "fg_counts": fg_counts,
        }
    remove_networks(model, library)
    report["seconds"] = round(time.time() - start, 1)
    report["target_met"] = (report["with_lora"]["fg_rate"] >= 0.8 and report["without_lora"]["fg_rate"] <= 0.2
                            and not warnings)
    if grid is not None:
        from PIL import Image

        rows = [np.concatenate(all_images[i : i + seeds], axis=1) for i in range(0, len(all_images), seeds)]
        Image.fromarray(np.concatenate(rows, axis=0)).save(grid)
    return report


# ---------------------------------------------------------------- command line


def parse_rgb(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as error:
        raise ValueError(f"rgb: expected R,G,B integers, got {text!r}") from error
    if len(values) != 3:
        raise ValueError(f"rgb: expected three values R,G,B, got {text!r}")
    return values  # type: ignore[return-value]


def parse_args(argv: list[str] | None = None) -> tuple[LoraConfig, argparse.Namespace]:
    d = LoraConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=d.base, help="shapes-demo .safetensors (yaml beside it)")
    parser.add_argument("--output", type=Path, default=d.output, help="LoRA file to write (.safetensors)")
    parser.add_argument("--work-dir", type=Path, default=d.work_dir, help="latent cache folder")
    parser.add_argument("--colour", default=d.colour, help="the new colour word")
    parser.add_argument("--rgb", default=",".join(map(str, d.rgb)), help="its RGB, e.g. 30,120,140")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default 1: shared machine)")
    parser.add_argument("--rank", type=int, default=d.rank)
    parser.add_argument("--alpha", type=float, default=d.alpha)
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--new-colour-fraction", type=float, default=d.new_colour_fraction,
                        help="share of each batch showing the new colour")
    parser.add_argument("--new-colour-images", type=int, default=d.new_colour_images)
    parser.add_argument("--palette-images", type=int, default=d.palette_images)
    parser.add_argument("--encoder-steps", type=int, default=d.encoder_steps)
    parser.add_argument("--log-every", type=int, default=d.log_every)
    parser.add_argument("--deadline", default=None, help="UTC HH:MM: stop training early if still running then")
    parser.add_argument("--eval", action="store_true", help="evaluate the LoRA through the engine after training")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate --output")
    parser.add_argument("--eval-seeds", type=int, default=16)
    parser.add_argument("--eval-grid", type=Path, default=None, help="also save the eval pictures as a PNG grid")
    args = parser.parse_args(argv)
    cfg = LoraConfig(
        base=args.base, output=args.output, work_dir=args.work_dir, colour=args.colour, rgb=parse_rgb(args.rgb),
        seed=args.seed, threads=args.threads, rank=args.rank, alpha=args.alpha, steps=args.steps, batch=args.batch,
        lr=args.lr, warmup=min(LoraConfig.warmup, max(1, args.steps // 10)), new_colour_fraction=args.new_colour_fraction,
        new_colour_images=args.new_colour_images,
        palette_images=args.palette_images, encoder_steps=args.encoder_steps, log_every=args.log_every,
        deadline=args.deadline,
    )
    if args.eval_seeds <= 0:
        raise ValueError(f"eval_seeds: must be positive, got {args.eval_seeds}")
    return cfg, args


def main(argv: list[str] | None = None) -> None:
    cfg, args = parse_args(argv)
    torch.set_num_threads(cfg.threads)
    model = load_base(cfg.base)
    if not args.eval_only:
        print(json.dumps(train_lora(cfg, model), indent=2), flush=True)
    if args.eval or args.eval_only:
        if not cfg.output.is_file():
            raise ValueError(f"output: no LoRA file at {cfg.output} to evaluate")
        print(json.dumps(evaluate(model, cfg.output, args.eval_seeds, grid=args.eval_grid), indent=2), flush=True)


if __name__ == "__main__":
    main()
