"""Train the bundled "shapes-demo" checkpoint: a tiny Stable Diffusion 1.x-architecture model
(CLIP text encoder + AutoencoderKL + UNet2DConditionModel), from scratch, on procedural 64x64
pictures of one coloured shape on a plain background (see tools/shapes_dataset.py).

How to run (from the repository root, with the venv active):

    python -m tools.train_demo_model --work-dir /tmp/demo-train \
        --export assets/shapes-demo/shapes-demo.safetensors

    # export only, from a finished work dir:
    python -m tools.train_demo_model --work-dir /tmp/demo-train --stages "" \
        --export assets/shapes-demo/shapes-demo.safetensors

Stages, each resumable from --work-dir (a finished stage is skipped on the next run):
  1. VAE: trained alone on freshly rendered pictures (L1 + MSE + tiny KL).
  2. Latents: a fixed data set of rendered pictures encoded once (posterior mean and std).
     The latent space is then rescaled (folded into quant_conv / post_quant_conv) so that
     its std is SD1's 1 / 0.18215: the scaling factor, 1 / std of the latents, is SD1's own.
  3. Denoiser: UNet + text encoder trained together on cached latents with the SD1 noise
     schedule (DDPM, scaled_linear 0.00085..0.012, 1000 steps, epsilon prediction),
     caption dropout for classifier-free guidance, offset noise (so the background colour
     follows the prompt rather than the mean of the starting noise), Min-SNR loss weights,
     cosine learning rate and EMA weights. Checkpoints every --save-every steps.
  4. Export (--export): EMA weights in A1111/LDM key layout as one .safetensors (token
     embedding table in fp16) plus the A1111 config yaml beside it.

How long: on one CPU thread (the default, --threads 1) of a shared 2-core machine the VAE
took 14 min (1,200 steps), encoding 40,000 pictures 4.5 min, and the denoiser 0.45 s per
step when the machine was quiet, up to 1 s when busy: the defaults (8,800 denoiser steps,
batch 32) took about 2 h in all. --device cuda trains the same recipe on a GPU. Results are
deterministic for a given --seed, device and thread count: every batch is drawn from a
generator seeded by the step number, so a resumed run continues exactly where it stopped.
--deadline (UTC HH:MM) stops the denoiser early, keeping the EMA weights reached so far, if
the machine is slower than planned. Scratch files stay in --work-dir (about 270 MB).

Held-out (fg, shape, bg) triples are never rendered for training (see split_triples), so the
full captions that tools/eval_demo_model.py evaluates are prompts the model never saw.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from tools.shapes_dataset import (
    CAPTION_KINDS,
    IMAGE_SIZE,
    Triple,
    all_triples,
    caption_for,
    random_scene,
    render,
    render_dataset,
    split_triples,
)

TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "configs" / "clip_tokenizer"
MAX_TOKENS = 77
EOS_TOKEN = 49407

LATENT_CHANNELS = 4
SD1_SCALING_FACTOR = 0.18215
TEXT_HIDDEN = 128

# The diffusers configs of the three networks. The A1111 yaml written at export (and checked
# by tests/unit/demo_tools) must reproduce exactly these through diffusers' LDM converters.
UNET_CONFIG: dict = {
    "sample_size": IMAGE_SIZE // 4,
    "in_channels": LATENT_CHANNELS,
    "out_channels": LATENT_CHANNELS,
    "block_out_channels": [64, 64, 64],
    "layers_per_block": 1,
    # Attention at 8x8 and 4x4 only: at 16x16 it would triple the step time on CPU.
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "cross_attention_dim": TEXT_HIDDEN,
    # diffusers' SD1 misnomer: this is the number of heads. 8 is SD1's value, so even a loader
    # that ignores the yaml and takes SD1 defaults for what shapes cannot tell builds this UNet.
    "attention_head_dim": 8,
    "use_linear_projection": False,
    "transformer_layers_per_block": 1,
}
VAE_CONFIG: dict = {
    "sample_size": IMAGE_SIZE,
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [32, 32, 64],
    "latent_channels": LATENT_CHANNELS,
    "layers_per_block": 1,
}
TEXT_CONFIG: dict = {
    "vocab_size": 49408,
    "max_position_embeddings": MAX_TOKENS,
    "hidden_size": TEXT_HIDDEN,
    "intermediate_size": 4 * TEXT_HIDDEN,
    "num_hidden_layers": 2,
    "num_attention_heads": TEXT_HIDDEN // 64,  # what the loader assumes from tensor shapes
    "hidden_act": "quick_gelu",
    "bos_token_id": 49406,
    "eos_token_id": EOS_TOKEN,
    "pad_token_id": EOS_TOKEN,
}

# SD1's noise schedule, so the engine's default schedule applies unchanged.
LINEAR_START = 0.00085
LINEAR_END = 0.012
TIMESTEPS = 1000


@dataclass
class TrainConfig:
    work_dir: Path = Path("/tmp/demo-train")
    seed: int = 1234
    device: str = "cpu"
    threads: int = 1
    held_out: int = 24
    vae_steps: int = 1200
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    dataset_size: int = 40_000
    steps: int = 8_800
    batch: int = 32
    lr: float = 5e-4
    warmup: int = 300
    min_lr_ratio: float = 0.1
    ema_decay: float = 0.999
    noise_offset: float = 0.1
    min_snr_gamma: float = 5.0
    save_every: int = 1000
    log_every: int = 50
    deadline: str | None = None  # UTC "HH:MM": stop the denoiser early if still running then

    def __post_init__(self) -> None:
        for name in ("vae_steps", "steps", "batch", "vae_batch", "dataset_size", "threads", "save_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.deadline is not None:
            parse_deadline(self.deadline)


def parse_deadline(text: str) -> dt.datetime:
    """Today's (or, if already past, tomorrow's) UTC time for an "HH:MM" string."""
    try:
        hour, minute = (int(part) for part in text.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError as error:
        raise ValueError(f"deadline: expected UTC HH:MM, got {text!r}") from error
    return when if when > now else when + dt.timedelta(days=1)


# ---------------------------------------------------------------- networks and text


def build_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**UNET_CONFIG)


def build_vae(scaling_factor: float = 1.0):
    from diffusers import AutoencoderKL

    return AutoencoderKL(**VAE_CONFIG, scaling_factor=scaling_factor)


def build_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))


def load_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer(str(TOKENIZER_DIR / "vocab.json"), str(TOKENIZER_DIR / "merges.txt"))


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    """Token ids [len(captions), 77]: BOS, words, EOS, then EOS padding (A1111's SD1 padding)."""
    rows = []
    for caption in captions:
        ids = tokenizer(caption).input_ids[:MAX_TOKENS]
        if ids[-1] != EOS_TOKEN:
            ids[-1] = EOS_TOKEN
        rows.append(ids + [EOS_TOKEN] * (MAX_TOKENS - len(ids)))
    return torch.tensor(rows, dtype=torch.long)


def alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(LINEAR_START**0.5, LINEAR_END**0.5, TIMESTEPS, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


class TokenDelta(torch.nn.Module):
    """Trainable offsets for the few token rows the captions use.

    The 49,408-row embedding table stays frozen (its dense gradient and Adam update would
    cost ~15 % of a CPU step); only the rows of words in the captions learn, through these
    offsets, which are folded back into the table before saving."""

    def __init__(self, vocab_size: int, hidden: int, token_ids: list[int]) -> None:
        super().__init__()
        lookup = torch.full((vocab_size,), len(token_ids), dtype=torch.long)
        lookup[torch.tensor(token_ids)] = torch.arange(len(token_ids))
        self.register_buffer("lookup", lookup)
        self.register_buffer("token_ids", torch.tensor(token_ids, dtype=torch.long))
        self.rows = torch.nn.Parameter(torch.zeros(len(token_ids), hidden))

    def hook(self, module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        padded = F.pad(self.rows, (0, 0, 0, 1))  # the extra zero row serves unused tokens
        return output + padded[self.lookup[inputs[0]]]

    @torch.no_grad()
    def fold_into(self, embedding: torch.nn.Embedding, rows: torch.Tensor | None = None) -> None:
        embedding.weight[self.token_ids] += self.rows if rows is None else rows


# ---------------------------------------------------------------- stage 1: VAE


def train_vae(cfg: TrainConfig, train_triples: list[Triple]) -> None:
    path = cfg.work_dir / "vae.safetensors"
    if path.exists():
        print(f"[vae] found {path}, skipping", flush=True)
        return
    torch.manual_seed(cfg.seed)
    vae = build_vae().to(cfg.device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    rng = np.random.default_rng(cfg.seed + 1)
    scene_rng = random.Random(cfg.seed + 2)
    start = time.time()
    for step in range(cfg.vae_steps):
        lr = cfg.vae_lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.vae_steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        picks = rng.integers(0, len(train_triples), cfg.vae_batch)
        images = np.stack([render(random_scene(train_triples[i], scene_rng)) for i in picks])
        x = images_to_tensor(images).to(cfg.device)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(generator=None)).sample
        rec = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        kl = posterior.kl().mean() / (LATENT_CHANNELS * (IMAGE_SIZE // 4) ** 2)
        loss = rec + cfg.vae_kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        if step % cfg.log_every == 0 or step == cfg.vae_steps - 1:
            print(f"[vae] step {step} rec {rec.item():.4f} kl {kl.item():.1f} lr {lr:.2e} {time.time() - start:.0f}s", flush=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}, str(path))


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# ---------------------------------------------------------------- stage 2: latents


def encode_dataset(cfg: TrainConfig, train_triples: list[Triple]) -> None:
    path = cfg.work_dir / "latents.pt"
    if path.exists():
        print(f"[latents] found {path}, skipping", flush=True)
        return
    vae = build_vae()
    vae.load_state_dict(load_file(str(cfg.work_dir / "vae.safetensors")))
    vae = vae.to(cfg.device).eval()
    start = time.time()
    images, triple_index = render_dataset(train_triples, cfg.dataset_size, cfg.seed + 3)
    mean, std = encode_images(vae, images, cfg.device)
    measured = latent_spread(mean, std)
    # Rescale the latent space so its spread is SD1's (1 / 0.18215): the checkpoint then works
    # with SD1's default scaling factor too, and 1 / std of the latents is that factor.
    gain = 1.0 / (SD1_SCALING_FACTOR * measured)
    fold_latent_gain(vae, gain)
    mean, std = mean * gain, std * gain
    save_file({k: v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}, str(cfg.work_dir / "vae.safetensors"))
    scale = 1.0 / latent_spread(mean, std)
    torch.save({"mean": mean.half(), "std": std.half(), "triple_index": torch.from_numpy(triple_index), "scale": scale}, path)
    print(
        f"[latents] {len(images)} encoded in {time.time() - start:.0f}s; measured std {measured:.4f}, "
        f"rescaled by {gain:.4f} to std {1 / scale:.4f}: scaling factor {scale:.5f}",
        flush=True,
    )


def encode_images(vae, images: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean, std) of every image, on the CPU."""
    means, stds = [], []
    with torch.no_grad():
        for begin in range(0, len(images), 64):
            posterior = vae.encode(images_to_tensor(images[begin : begin + 64]).to(device)).latent_dist
            means.append(posterior.mean.cpu())
            stds.append(posterior.std.cpu())
    return torch.cat(means), torch.cat(stds)


def latent_spread(mean: torch.Tensor, std: torch.Tensor) -> float:
    """Standard deviation of latents sampled from these posteriors."""
    return math.sqrt(mean.float().var().item() + (std.float() ** 2).mean().item())


@torch.no_grad()
def fold_latent_gain(vae, gain: float) -> None:
    """Scale the latent space by ``gain`` without changing what the VAE reconstructs: the
    encoder's quant_conv emits mean * gain and logvar + 2 ln gain, post_quant_conv divides."""
    z = vae.config.latent_channels
    vae.quant_conv.weight[:z] *= gain
    vae.quant_conv.bias[:z] *= gain
    vae.quant_conv.bias[z:] += 2 * math.log(gain)
    vae.post_quant_conv.weight /= gain


# ---------------------------------------------------------------- stage 3: denoiser


def caption_token_table(tokenizer, train_triples: list[Triple]) -> torch.Tensor:
    """[len(train_triples), len(CAPTION_KINDS), 77] token ids of every training caption."""
    kinds = [kind for kind, _ in CAPTION_KINDS]
    captions = [caption_for(triple, kind) for triple in train_triples for kind in kinds]
    return tokenize(tokenizer, captions).view(len(train_triples), len(kinds), MAX_TOKENS)


def used_token_ids(tokenizer) -> list[int]:
    kinds = [kind for kind, _ in CAPTION_KINDS]
    ids = tokenize(tokenizer, [caption_for(t, k) for t in all_triples() for k in kinds])
    return sorted(set(ids.flatten().tolist()))


def learning_rate(cfg: TrainConfig, step: int) -> float:
    warm = min(1.0, (step + 1) / cfg.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
    return cfg.lr * warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


@dataclass
class DenoiserState:
    unet: torch.nn.Module
    text_encoder: torch.nn.Module
    delta: TokenDelta
    params: list[torch.nn.Parameter]
    ema: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    step: int


def build_denoiser_state(cfg: TrainConfig, tokenizer) -> DenoiserState:
    torch.manual_seed(cfg.seed + 4)
    unet = build_unet().to(cfg.device).train()
    text_encoder = build_text_encoder().to(cfg.device).train()
    embedding = text_encoder.get_input_embeddings()
    embedding.weight.requires_grad_(False)
    delta = TokenDelta(TEXT_CONFIG["vocab_size"], TEXT_HIDDEN, used_token_ids(tokenizer)).to(cfg.device)
    embedding.register_forward_hook(delta.hook)
    params = [p for p in unet.parameters()] + [p for p in text_encoder.parameters() if p.requires_grad] + [delta.rows]
    decay = [p for p in params if p.ndim >= 2 and p is not delta.rows]
    no_decay = [p for p in params if p.ndim < 2 or p is delta.rows]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99)
    )
    ema = [p.detach().clone() for p in params]
    state = DenoiserState(unet, text_encoder, delta, params, ema, optimizer, 0)
    resume = cfg.work_dir / "denoiser_resume.pt"
    if resume.exists():
        saved = torch.load(resume, map_location=cfg.device, weights_only=True)
        unet.load_state_dict(saved["unet"])
        text_encoder.load_state_dict(saved["text_encoder"])
        delta.load_state_dict(saved["delta"])
        optimizer.load_state_dict(saved["optimizer"])
        for target, source in zip(ema, saved["ema"]):
            target.copy_(source)
        state.step = saved["step"]
        print(f"[denoiser] resumed at step {state.step}", flush=True)
    return state


def save_resume(cfg: TrainConfig, state: DenoiserState) -> None:
    path = cfg.work_dir / "denoiser_resume.pt"
    torch.save(
        {
            "unet": state.unet.state_dict(),
            "text_encoder": state.text_encoder.state_dict(),
            "delta": state.delta.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "ema": state.ema,
            "step": state.step,
        },
        path.with_suffix(".tmp"),
    )
    path.with_suffix(".tmp").replace(path)  # never leave a half-written resume file


def save_ema_weights(cfg: TrainConfig, state: DenoiserState) -> None:
    """EMA weights as plain diffusers/transformers state dicts (token rows folded in)."""
    live = [p.detach().clone() for p in state.params]
    with torch.no_grad():
        for param, ema in zip(state.params, state.ema):
            param.copy_(ema)
        unet_sd = {k: v.detach().cpu().contiguous() for k, v in state.unet.state_dict().items()}
        text_encoder = build_text_encoder()
        text_encoder.load_state_dict({k: v.cpu() for k, v in state.text_encoder.state_dict().items()})
        state.delta.fold_into(text_encoder.get_input_embeddings(), state.delta.rows.detach().cpu())
        text_sd = {k: v.detach().contiguous() for k, v in text_encoder.state_dict().items()}
        for param, value in zip(state.params, live):
            param.copy_(value)
    save_file(unet_sd, str(cfg.work_dir / "unet_ema.safetensors"))
    save_file(text_sd, str(cfg.work_dir / "text_encoder_ema.safetensors"))


def train_denoiser(cfg: TrainConfig, train_triples: list[Triple]) -> None:
    done = cfg.work_dir / "denoiser_done.json"
    if done.exists():
        print(f"[denoiser] found {done}, skipping", flush=True)
        return
    data = torch.load(cfg.work_dir / "latents.pt", weights_only=True)
    mean, std, triple_index, scale = data["mean"].float(), data["std"].float(), data["triple_index"], data["scale"]
    tokenizer = load_tokenizer()
    tokens = caption_token_table(tokenizer, train_triples)
    kind_weights = torch.tensor([w for _, w in CAPTION_KINDS])
    state = build_denoiser_state(cfg, tokenizer)
    ac = alphas_cumprod()
    snr = ac / (1 - ac)
    loss_weight = torch.clamp(snr, max=cfg.min_snr_gamma) / snr  # Min-SNR-gamma for epsilon targets
    deadline = parse_deadline(cfg.deadline) if cfg.deadline else None
    start, running = time.time(), []
    last_log = start
    stopped_early = False
    while state.step < cfg.steps:
        step = state.step
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        picks = torch.randint(0, len(mean), (cfg.batch,), generator=gen)
        kinds = torch.multinomial(kind_weights, cfg.batch, replacement=True, generator=gen)
        ids = tokens[triple_index[picks], kinds]
        latents = (mean[picks] + std[picks] * torch.randn(mean[picks].shape, generator=gen)) * scale
        t = torch.randint(0, TIMESTEPS, (cfg.batch,), generator=gen)
        noise = torch.randn(latents.shape, generator=gen)
        noise = noise + cfg.noise_offset * torch.randn((cfg.batch, LATENT_CHANNELS, 1, 1), generator=gen)
        a = ac[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        noisy, noise, ids, t_dev = (v.to(cfg.device) for v in (noisy, noise, ids, t))
        lr = learning_rate(cfg, step)
        for group in state.optimizer.param_groups:
            group["lr"] = lr
        context = state.text_encoder(ids).last_hidden_state
        pred = state.unet(noisy, t_dev, context).sample
        per_sample = (pred - noise).pow(2).mean(dim=(1, 2, 3))
        loss = (per_sample * loss_weight[t].to(cfg.device)).mean()
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(state.params, 1.0)
        state.optimizer.step()
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(state.ema, [p.detach() for p in state.params], 1 - decay)
        state.step += 1
        running.append(per_sample.mean().item())
        if step % cfg.log_every == 0 or state.step == cfg.steps:
            elapsed = time.time() - start
            rate = (time.time() - last_log) / max(1, len(running))
            print(f"[denoiser] step {step} mse {np.mean(running):.4f} lr {lr:.2e} {elapsed:.0f}s {rate:.2f}s/step", flush=True)
            last_log = time.time()
            running = []
        if state.step % cfg.save_every == 0 or state.step == cfg.steps:
            save_resume(cfg, state)
            save_ema_weights(cfg, state)
        if deadline and dt.datetime.now(dt.timezone.utc) >= deadline:
            print(f"[denoiser] deadline {cfg.deadline} UTC reached at step {state.step}; stopping", flush=True)
            save_resume(cfg, state)
            save_ema_weights(cfg, state)
            stopped_early = True
            break
    summary = {"steps": state.step, "planned_steps": cfg.steps, "stopped_early": stopped_early, "seconds": time.time() - start}
    done.write_text(json.dumps(summary, indent=2))
    print(f"[denoiser] done: {summary}", flush=True)


# ---------------------------------------------------------------- stage 4: export


def load_trained(work_dir: Path):
    """(unet, vae, text_encoder) from a finished work dir, EMA weights, in eval mode."""
    scale = torch.load(work_dir / "latents.pt", weights_only=True)["scale"]
    unet, vae, text_encoder = build_unet(), build_vae(scaling_factor=scale), build_text_encoder()
    unet.load_state_dict(load_file(str(work_dir / "unet_ema.safetensors")))
    vae.load_state_dict(load_file(str(work_dir / "vae.safetensors")))
    text_encoder.load_state_dict(load_file(str(work_dir / "text_encoder_ema.safetensors")))
    return unet.eval(), vae.eval(), text_encoder.eval()


def ldm_yaml(scale_factor: float) -> str:
    """The A1111/LDM config that reproduces UNET_CONFIG and VAE_CONFIG."""
    attention_resolutions = [2**i for i, kind in enumerate(UNET_CONFIG["down_block_types"]) if kind.startswith("CrossAttn")]
    model_channels = UNET_CONFIG["block_out_channels"][0]
    channel_mult = [c // model_channels for c in UNET_CONFIG["block_out_channels"]]
    vae_ch = VAE_CONFIG["block_out_channels"][0]
    vae_mult = [c // vae_ch for c in VAE_CONFIG["block_out_channels"]]
    return f"""# shapes-demo: tiny SD1-architecture model trained by tools/train_demo_model.py
model:
  base_learning_rate: 1.0e-04
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: {LINEAR_START}
    linear_end: {LINEAR_END}
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: {TIMESTEPS}
    first_stage_key: jpg
    cond_stage_key: txt
    image_size: {UNET_CONFIG["sample_size"]}
    channels: {LATENT_CHANNELS}
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: {scale_factor:.6g}
    use_ema: false
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: {UNET_CONFIG["sample_size"]}
        in_channels: {UNET_CONFIG["in_channels"]}
        out_channels: {UNET_CONFIG["out_channels"]}
        model_channels: {model_channels}
        attention_resolutions: {attention_resolutions}
        num_res_blocks: {UNET_CONFIG["layers_per_block"]}
        channel_mult: {channel_mult}
        num_heads: {UNET_CONFIG["attention_head_dim"]}
        use_spatial_transformer: true
        transformer_depth: {UNET_CONFIG["transformer_layers_per_block"]}
        context_dim: {UNET_CONFIG["cross_attention_dim"]}
        use_checkpoint: false
        legacy: false
        use_linear_in_transformer: {str(UNET_CONFIG["use_linear_projection"]).lower()}
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: {VAE_CONFIG["latent_channels"]}
        monitor: val/rec_loss
        ddconfig:
          double_z: true
          z_channels: {VAE_CONFIG["latent_channels"]}
          resolution: {VAE_CONFIG["sample_size"]}
          in_channels: {VAE_CONFIG["in_channels"]}
          out_ch: {VAE_CONFIG["out_channels"]}
          ch: {vae_ch}
          ch_mult: {vae_mult}
          num_res_blocks: {VAE_CONFIG["layers_per_block"]}
          attn_resolutions: []
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
      params:
        layer: last
"""


def export(work_dir: Path, target: Path) -> dict:
    """Write ``target`` (.safetensors, LDM layout) and the yaml beside it; return their figures."""
    from modules.sd_models.ldm_layout import ldm_state_dict

    if target.suffix != ".safetensors":
        raise ValueError(f"export: target must end in .safetensors, got {target}")
    unet, vae, text_encoder = load_trained(work_dir)
    state = ldm_state_dict(unet, vae, text_encoder)
    # The token table is 49,408 x 128, mostly never-trained rows: fp16 halves the file.
    state = {k: (v.half() if k.endswith("token_embedding.weight") else v.float()).contiguous() for k, v in state.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "modelspec.title": "shapes-demo"})
    tmp.replace(target)
    target.with_suffix(".yaml").write_text(ldm_yaml(vae.config.scaling_factor))
    counts = {
        "unet": sum(p.numel() for p in unet.parameters()),
        "vae": sum(p.numel() for p in vae.parameters()),
        "text_encoder": sum(p.numel() for p in text_encoder.parameters()),
    }
    return {"file": str(target), "bytes": target.stat().st_size, "parameters": counts, "scale_factor": vae.config.scaling_factor}


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, Path | None, list[str]]:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=defaults.work_dir)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=defaults.device, help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads (default 1: shared machine)")
    parser.add_argument("--vae-steps", type=int, default=defaults.vae_steps)
    parser.add_argument("--dataset-size", type=int, default=defaults.dataset_size)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="denoiser steps")
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--save-every", type=int, default=defaults.save_every)
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    parser.add_argument("--deadline", default=None, help="UTC HH:MM: stop the denoiser early if still training then")
    parser.add_argument("--export", type=Path, default=None, help="write the LDM .safetensors (+ .yaml) here when done")
    parser.add_argument("--stages", default="vae,latents,denoiser", help="comma-separated training stages to run (default: all)")
    args = parser.parse_args(argv)
    cfg = TrainConfig(
        work_dir=args.work_dir,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        vae_steps=args.vae_steps,
        dataset_size=args.dataset_size,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        warmup=min(TrainConfig.warmup, max(1, args.steps // 10)),
        save_every=args.save_every,
        log_every=args.log_every,
        deadline=args.deadline,
    )
    stages = [name for name in args.stages.split(",") if name]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"stages: unknown stage(s) {unknown}; expected some of {STAGES}")
    return cfg, args.export, stages


STAGES = ("vae", "latents", "denoiser")


def main(argv: list[str] | None = None) -> None:
    cfg, export_target, stages = parse_args(argv)
    torch.set_num_threads(cfg.threads)
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    train_triples, _ = split_triples(seed=0, held_out=cfg.held_out)
    (cfg.work_dir / "config.json").write_text(json.dumps({k: str(v) for k, v in asdict(cfg).items()}, indent=2))
    start = time.time()
    runners = {"vae": train_vae, "latents": encode_dataset, "denoiser": train_denoiser}
    for name in STAGES:
        if name in stages:
            runners[name](cfg, train_triples)
            print(f"[timing] {name} stage done at {time.time() - start:.0f}s", flush=True)
    if export_target is not None:
        print(json.dumps(export(cfg.work_dir, export_target), indent=2), flush=True)


if __name__ == "__main__":
    main()
