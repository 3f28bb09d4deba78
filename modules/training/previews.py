"""Preview images during training: a txt2img run with the embedding as trained so far.

The preview prompt is the last batch's first prompt at the training size and 20 steps, or,
with `preview_from_txt2img`, the request's own preview prompt and settings (A1111).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modules.fileio import atomic_write_bytes
from modules.images import encode_image
from modules.networks import TokenPrefixLookup, encode_png_embedding
from modules.networks.embedding_formats import PNG_TEXT_KEY
from modules.networks.embedding_lookup import one_embedding_lookups
from modules.processing import NullProgress, Txt2ImgParams, generate
from modules.processing.extra_networks import ExtraNetworks, strip_network_tags
from modules.training.params import TrainParams

DEFAULT_PREVIEW_STEPS = 20


@dataclass
class _TrainedEmbedding(ExtraNetworks):
    """Extra networks for a preview: just the embedding being trained (no LoRA, no files)."""

    trained: list[TokenPrefixLookup] | None = None  # one per text encoder

    def lookups(self, model: Any) -> list | None:
        return self.trained


def preview_params(params: TrainParams, batch_prompt: str, seed: int) -> Txt2ImgParams:
    if params.preview_from_txt2img:
        return Txt2ImgParams(prompt=params.preview_prompt, negative_prompt=params.preview_negative_prompt,
                             steps=params.preview_steps, cfg_scale=params.preview_cfg_scale,
                             sampler_name=params.preview_sampler_name,
                             seed=params.preview_seed, width=params.preview_width, height=params.preview_height,
                             do_not_save_samples=True, do_not_save_grid=True)
    # a caption may hold <lora:…> text; previews never patch weights in the middle of training
    return Txt2ImgParams(prompt=strip_network_tags(batch_prompt), steps=DEFAULT_PREVIEW_STEPS, seed=seed,
                         width=params.training_width, height=params.training_height, do_not_save_samples=True,
                         do_not_save_grid=True)


def render_preview(p: Txt2ImgParams, model: Any, settings: dict[str, Any], data_dir: Path, name: str,
                   vectors: Sequence[torch.Tensor]) -> tuple[Image.Image, str]:
    """(image, infotext) of one preview with `vectors` (one per text encoder) placed for `name`."""
    lookups = one_embedding_lookups(model.tokenizers, name, [part.detach().clone() for part in vectors])
    result = generate(p, model, settings, data_dir, NullProgress(), extra_networks=_TrainedEmbedding(trained=lookups))
    return result.images[0], result.infotexts[0]


def write_preview(path: Path, image: Image.Image, infotext: str, embedding_tree: dict[str, Any] | None = None) -> Path:
    """PNG with its infotext; with `embedding_tree` also the embedding in A1111's
    "sd-ti-embedding" text chunk, so the image itself loads as the embedding."""
    extra = {PNG_TEXT_KEY: encode_png_embedding(embedding_tree)} if embedding_tree is not None else None
    buffer = io.BytesIO()
    encode_image(image, buffer, "png", infotext, existing_pnginfo=extra)
    return atomic_write_bytes(path, buffer.getvalue())
