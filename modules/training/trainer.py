"""Textual-inversion training of one embedding (A1111's train_embedding), as a queue job's body.

    inputs checked → images encoded → for each optimizer step: `gradient_step` batches of
    template prompts → text encoders with the trainable vectors placed → denoising loss on the
    model's noise schedule → AdamW on the vectors only → snapshots, loss log, previews
    → the embedding file updated (step count, checkpoint hash) + optimizer state beside it.

SD1/SD2 embeddings have one set of vectors; SDXL ones one per text encoder (clip_l, clip_g),
trained together, with SDXL's pooled-text and size conditioning in the loss.

Steps count over the embedding's life: a run resumes at the step stored in the file and stops
at `steps` (or where the learning-rate schedule ends). An interrupt ends the run after the
current step and saves what is done. Every file is written atomically.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import random
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.fileio import write_text_atomically
from modules.networks.embedding_lookup import one_embedding_lookups
from modules.networks.embeddings import PARTS_PER_ENCODER, EmbeddingDatabase
from modules.processing.conditioning import build_prompt_encoder
from modules.processing.denoiser import SDXLConditions
from modules.processing.params import ParamsError
from modules.prompting import PromptEncoder
from modules.training import dataset as ds
from modules.training import embedding_files as files
from modules.training import previews
from modules.training.inputs import TrainingInputs, resolve_inputs, trainable_embedding
from modules.training.loss import clip_gradient, denoising_loss, frozen
from modules.training.params import TrainParams

log = logging.getLogger(__name__)
LOSS_CSV_NAME = "textual_inversion_loss.csv"
LOSS_CSV_FIELDS = ("step", "epoch", "epoch_step", "loss", "learn_rate")


@dataclass
class StepRecord:
    step: int  # optimizer steps done after this one (the embedding's step count)
    epoch: int
    epoch_step: int
    loss: float
    learn_rate: float


@dataclass
class TrainingResult:
    embedding_name: str
    filename: Path  # the updated embedding file
    initial_step: int
    step: int
    records: list[StepRecord] = field(default_factory=list)
    log_dir: Path | None = None
    snapshots: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def losses(self) -> list[float]:
        return [r.loss for r in self.records]

    def info(self) -> str:
        """A1111's /sdapi/v1/train/embedding `info` text."""
        return f"train embedding complete: filename: {self.filename} error: None"

    def to_json(self) -> dict[str, Any]:
        return {"embedding_name": self.embedding_name, "filename": str(self.filename),
                "initial_step": self.initial_step, "step": self.step, "losses": self.losses,
                "records": [asdict(r) for r in self.records], "log_dir": str(self.log_dir) if self.log_dir else None,
                "snapshots": [str(p) for p in self.snapshots], "images": [str(p) for p in self.images],
                "interrupted": self.interrupted, "seconds": self.seconds, "info": self.info()}


def embedding_prompt_encoder(model: Any, settings: dict[str, Any], name: str,
                             vectors: Sequence[torch.Tensor]) -> PromptEncoder:
    """A prompt encoder that places `vectors` (one tensor per text encoder, trainable or not)
    wherever `name` is written."""
    return build_prompt_encoder(model, settings, embeddings=one_embedding_lookups(model.tokenizers, name, vectors))


def vectors_by_part(model: Any, vectors: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The per-encoder vectors under the part names an embedding file uses ("" or clip_l/clip_g)."""
    return dict(zip(PARTS_PER_ENCODER[model.arch.family], vectors, strict=True))


def embedding_loss(model: Any, encoder: PromptEncoder, latents: torch.Tensor, texts: list[str], noise: torch.Tensor,
                   timesteps: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The training loss of one batch (also usable to evaluate an embedding on a fixed batch)."""
    device = model.policy.device
    conditioning = encoder.encode_texts(texts)
    added = None
    if conditioning.pooled is not None:  # SDXL: pooled text and size conditioning (the picture as it is)
        size = tuple(side * model.latent_downscale for side in latents.shape[-2:])
        time_ids = SDXLConditions(original_size=size, target_size=size).time_ids(False, len(latents))
        added = {"text_embeds": conditioning.pooled, "time_ids": time_ids.to(device)}
    return denoising_loss(model.unet, latents.to(device), conditioning.cross_attn, noise.to(device),
                          timesteps.to(device), model.alphas_cumprod, model.arch.prediction_type,
                          None if weights is None else weights.to(device), added)


def train_embedding(params: TrainParams, model: Any, ctx: Any, *, embeddings: EmbeddingDatabase, data_dir: Path,
                    settings: dict[str, Any] | None = None, templates: list[Path] | None = None) -> TrainingResult:
    """Train `params.embedding_name` on `model`. `ctx` is the job's context (set_total, step,
    interrupted, textinfo, set_preview); `embeddings` finds the embedding file by name;
    relative `data_root` / `log_directory` are under `data_dir`."""
    started = time.perf_counter()
    if model.arch.is_sd3:  # the loss here is the noise/v objective; SD3's flow objective is not written
        raise ParamsError("model", f"textual inversion training does not support {model.arch.label}; load an SD1, "
                                   "SD2 or SDXL base model")
    settings = settings or {}
    inputs = resolve_inputs(params, data_dir, templates)
    source = trainable_embedding(embeddings, model, params.embedding_name)
    initial_step = source.data.step or 0
    schedule = params.learn_rate_schedule
    end_step = schedule.end_step(params.steps)
    result = TrainingResult(params.embedding_name, source.path, initial_step, initial_step)
    if initial_step >= end_step:
        ctx.textinfo = f"{params.embedding_name} has already been trained to step {initial_step} (max {end_step})"
        return result

    run = _Run(params, model, settings, inputs, source.path, initial_step, data_dir)
    vectors = [torch.nn.Parameter(part.clone().to(model.policy.device, torch.float32)) for part in source.vectors]
    optimizer = torch.optim.AdamW(vectors, lr=schedule.rate_at(initial_step), weight_decay=0.0)
    saved_state = files.load_optimizer_state(source.path, vectors)
    if saved_state is not None:
        try:
            optimizer.load_state_dict(saved_state)
        except (ValueError, KeyError, RuntimeError) as e:
            log.warning("Ignoring the saved optimizer state of %s: %s", params.embedding_name, e)
    ctx.textinfo = f"Preparing dataset from {inputs.data_root}..."
    with frozen(model.modules().values()):
        images = ds.load_images(inputs.images, model, params.training_width, params.training_height, params.varsize,
                                params.latent_sampling_method, params.use_weight, run.generator)
        # resolve_inputs made sure an epoch holds at least one step
        steps_per_epoch = ds.batches_per_epoch(images, params.batch_size) // params.gradient_step
        batches = ds.batch_stream(images, params.batch_size, steps_per_epoch * params.gradient_step, run.rng)
        ctx.set_total(1, end_step - initial_step)
        step = initial_step
        encoder = embedding_prompt_encoder(model, settings, params.embedding_name, vectors)
        scaler = torch.amp.GradScaler(model.policy.device.type, enabled=model.unet.dtype == torch.float16
                                      and model.policy.device.type == "cuda")
        while step < end_step and not ctx.interrupted:
            rate = schedule.rate_at(step)
            for group in optimizer.param_groups:
                group["lr"] = rate
            loss, last_prompt = run.backward(images, batches, encoder, inputs.template_lines, scaler)
            _clip(params, scaler, optimizer, vectors, step)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            record = StepRecord(step, (step - 1) // steps_per_epoch, (step - 1) % steps_per_epoch, loss, rate)
            result.records.append(record)
            ctx.step(step - initial_step)
            ctx.textinfo = f"Loss: {loss:.7f}, Step: {step}/{end_step}, Last prompt: {last_prompt}"
            run.after_step(record, vectors, optimizer, result, last_prompt, ctx)
    result.step = step
    result.interrupted = bool(ctx.interrupted)
    result.log_dir = run.log_dir if run.loss_rows else None
    checkpoint = model.info
    files.save_embedding(source.path, vectors_by_part(model, vectors), params.embedding_name, step,
                         checkpoint.shorthash, checkpoint.model_name)
    files.save_optimizer_state(source.path, vectors, optimizer.state_dict())
    run.write_losses()
    result.seconds = time.perf_counter() - started
    log.info("Trained %s to step %d in %.1fs%s", params.embedding_name, step, result.seconds,
             " (interrupted)" if result.interrupted else "")
    return result


def _clip(params: TrainParams, scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer,
          vectors: list[torch.Tensor], step: int) -> None:
    schedule = params.clip_grad_schedule
    if schedule is None:
        return
    limit = schedule.rate_at(step)
    if limit is None:  # the clipping schedule ended before training: keep its last value
        limit = schedule.phases[-1].rate
    scaler.unscale_(optimizer)  # clip the true gradient, not the fp16 loss-scaled one
    clip_gradient(vectors, params.clip_grad_mode, limit)


class _Run:
    """One training run's randomness (seeded), its batches' gradients, and what it writes besides
    the embedding: snapshots, previews, the loss log."""

    def __init__(self, params: TrainParams, model: Any, settings: dict[str, Any], inputs: TrainingInputs,
                 embedding_file: Path, initial_step: int, data_dir: Path):
        self.params, self.model, self.settings, self.data_dir = params, model, settings, data_dir
        self.embedding_file = embedding_file
        seed = params.seed if params.seed is not None else secrets.randbelow(2**32)
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)
        date = datetime.datetime.now().strftime("%Y-%m-%d")
        self.log_dir = inputs.log_root / date / params.embedding_name if inputs.log_root is not None else None
        self.loss_rows = self._earlier_rows(initial_step)
        self.last_snapshot: Path | None = None

    def backward(self, images: list[ds.TrainingImage], batches: Iterator[list[int]], encoder: PromptEncoder,
                 template_lines: list[str], scaler: torch.amp.GradScaler) -> tuple[float, str]:
        """Gradients of one optimizer step (`gradient_step` batches, each loss divided by that
        count); returns the step's loss and its first prompt."""
        p, model = self.params, self.model
        loss, first_prompt = 0.0, ""
        for _ in range(p.gradient_step):
            batch = [images[i] for i in next(batches)]
            texts = [ds.prompt_text(self.rng.choice(template_lines), p.embedding_name, image.caption, self.rng,
                                    p.shuffle_tags, p.tag_drop_out) for image in batch]
            latents = torch.stack([image.latent(self.generator) for image in batch])
            noise = torch.randn(latents.shape, generator=self.generator)
            timesteps = torch.randint(0, len(model.alphas_cumprod), (len(batch),), generator=self.generator)
            weights = torch.stack([image.weight for image in batch]) if p.use_weight else None
            part = embedding_loss(model, encoder, latents, texts, noise, timesteps, weights) / p.gradient_step
            scaler.scale(part).backward()
            loss += part.item()
            first_prompt = first_prompt or texts[0]
        return loss, first_prompt

    def after_step(self, record: StepRecord, vectors: list[torch.Tensor], optimizer: torch.optim.Optimizer,
                   result: TrainingResult, prompt: str, ctx: Any) -> None:
        p, step = self.params, record.step
        if self.log_dir is not None:
            self.loss_rows.append({"step": step, "epoch": record.epoch, "epoch_step": record.epoch_step,
                                   "loss": f"{record.loss:.7f}", "learn_rate": record.learn_rate})
        if self.log_dir is not None and p.save_embedding_every and step % p.save_embedding_every == 0:
            name = f"{p.embedding_name}-{step}"
            snapshot = self.log_dir / "embeddings" / f"{name}.pt"
            info = self.model.info
            files.save_embedding(snapshot, vectors_by_part(self.model, vectors), name, step, info.shorthash,
                                 info.model_name)
            files.save_optimizer_state(snapshot, vectors, optimizer.state_dict())
            result.snapshots.append(snapshot)
            self.last_snapshot = snapshot
            self.write_losses()
        if self.log_dir is not None and p.create_image_every and step % p.create_image_every == 0:
            result.images += self._preview(step, vectors, prompt, ctx)

    def _preview(self, step: int, vectors: list[torch.Tensor], prompt: str, ctx: Any) -> list[Path]:
        p = self.params
        request = previews.preview_params(p, prompt, self.rng.randrange(2**32))
        image, infotext = previews.render_preview(request, self.model, self.settings, self.data_dir,
                                                  p.embedding_name, vectors)
        ctx.set_preview(image)
        name = f"{p.embedding_name}-{step}"
        written = [previews.write_preview(self.log_dir / "images" / f"{name}.png", image, infotext)]
        if p.save_image_with_stored_embedding and self.last_snapshot is not None:
            tree = files.embedding_tree(vectors_by_part(self.model, vectors), name, step, self.model.info.shorthash,
                                        self.model.info.model_name)
            written.append(previews.write_preview(self.log_dir / "image_embeddings" / f"{name}.png", image,
                                                  infotext, tree))
            self.last_snapshot = None  # A1111: one embedding image per saved snapshot
        return written

    def _earlier_rows(self, initial_step: int) -> list[dict[str, Any]]:
        """Rows of an earlier run of today's log up to where this run resumes."""
        path = self.csv_path
        if path is None or not path.is_file():
            return []
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                return [row for row in csv.DictReader(handle) if row.get("step", "").isdigit()
                        and int(row["step"]) <= initial_step]
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            log.warning("Starting a new loss log: %s is unreadable (%s)", path, e)
            return []

    @property
    def csv_path(self) -> Path | None:
        return self.log_dir / LOSS_CSV_NAME if self.log_dir is not None else None

    def write_losses(self) -> None:
        if self.csv_path is None or not self.loss_rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LOSS_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.loss_rows)
        write_text_atomically(self.csv_path, buffer.getvalue())
