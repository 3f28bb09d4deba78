"""Prompt text → conditioning tensors with one or two transformers CLIP text encoders.

A TextEncoderSpec says how one encoder is used (padding id, which hidden state, clip skip);
a PromptEncoder combines one (SD1, SD2) or two (SDXL) specs and encodes a batch of texts the
way A1111's FrozenCLIPEmbedderWithCustomWords does: every text is split into 77-token chunks,
chunk i of all texts is encoded as one batch, emphasis is applied per chunk batch, and the
chunks are joined along the token axis. Encoders of one model are concatenated along features.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch

from .chunking import (
    DEFAULT_COMMA_PADDING_BACKTRACK,
    EmbeddingFix,
    EmbeddingLookup,
    PromptChunk,
    SpecialTokens,
    TokenizedPrompt,
    empty_chunk,
    tokenize_prompt,
)
from .emphasis import apply_emphasis, check_emphasis_mode


@dataclass(frozen=True)
class Conditioning:
    cross_attn: torch.Tensor  # [batch, 77 * chunks, dim]
    pooled: torch.Tensor | None = None  # [batch, projection_dim] (SDXL)


@dataclass(frozen=True)
class TextEncoderSpec:
    """How to use one CLIP text encoder.

    pad_token_id: None pads with EOS (OpenAI CLIP, SD1 / SDXL CLIP-L); 0 for OpenCLIP (SD2, bigG).
    layer_from_end: hidden state used without clip skip (1 = last layer, 2 = penultimate).
    final_layer_norm: apply the encoder's final LayerNorm to that hidden state.
    follows_clip_skip: clip skip N moves the layer N-1 further from the end.
    """

    tokenizer: Any
    text_encoder: torch.nn.Module
    pad_token_id: int | None = None
    layer_from_end: int = 1
    final_layer_norm: bool = True
    follows_clip_skip: bool = True
    embeddings: EmbeddingLookup | None = None

    def __post_init__(self) -> None:
        if self.layer_from_end < 1 or self.layer_from_end > self.layer_count:
            raise ValueError(f"layer_from_end must be in 1..{self.layer_count}, got {self.layer_from_end}")

    @property
    def layer_count(self) -> int:
        return int(self.text_encoder.config.num_hidden_layers)

    def hidden_layer(self, clip_skip: int) -> int:
        """Layer counted from the end (1 = last) that this encoder reads for a clip skip."""
        layer = self.layer_from_end + (clip_skip - 1 if self.follows_clip_skip else 0)
        if layer > self.layer_count:
            raise ValueError(f"clip_skip={clip_skip} needs layer {layer} from the end, but the encoder has {self.layer_count}")
        return layer


def sd1_text_encoder(tokenizer: Any, text_encoder: torch.nn.Module, embeddings: EmbeddingLookup | None = None) -> TextEncoderSpec:
    """OpenAI CLIP-L: EOS padding, last layer, clip skip reads earlier layers + final LayerNorm."""
    return TextEncoderSpec(tokenizer, text_encoder, None, 1, True, True, embeddings)


def sd2_text_encoder(
    tokenizer: Any, text_encoder: torch.nn.Module, embeddings: EmbeddingLookup | None = None, layer_from_end: int = 2
) -> TextEncoderSpec:
    """OpenCLIP-H: zero padding, penultimate layer + final LayerNorm, clip skip ignored (A1111).

    Use layer_from_end=1 for an encoder built without its last layer (diffusers' SD2 conversion).
    """
    return TextEncoderSpec(tokenizer, text_encoder, 0, layer_from_end, True, False, embeddings)


def sdxl_text_encoders(
    tokenizer: Any,
    clip_l: torch.nn.Module,
    clip_g: torch.nn.Module,
    embeddings_l: EmbeddingLookup | None = None,
    embeddings_g: EmbeddingLookup | None = None,
) -> tuple[TextEncoderSpec, TextEncoderSpec]:
    """SDXL: both encoders' penultimate hidden state without final LayerNorm; CLIP-L pads with
    EOS, bigG (a CLIPTextModelWithProjection, source of the pooled vector) with 0. Clip skip is
    ignored, as with A1111's default `sdxl_clip_l_skip=False`."""
    return (
        TextEncoderSpec(tokenizer, clip_l, None, 2, False, False, embeddings_l),
        TextEncoderSpec(tokenizer, clip_g, 0, 2, False, False, embeddings_g),
    )


@dataclass(frozen=True)
class EncodingOptions:
    """Per-generation settings (A1111 option names: emphasis, CLIP_stop_at_last_layers,
    comma_padding_backtrack)."""

    emphasis: str = "Original"
    clip_skip: int = 1
    comma_padding_backtrack: int = DEFAULT_COMMA_PADDING_BACKTRACK

    def __post_init__(self) -> None:
        check_emphasis_mode(self.emphasis)
        if isinstance(self.clip_skip, bool) or not isinstance(self.clip_skip, int) or self.clip_skip < 1:
            raise ValueError(f"clip_skip must be an integer >= 1, got {self.clip_skip!r}")


@dataclass(frozen=True)
class PromptEncoder:
    """Encodes texts (already free of schedules and AND) into Conditioning.

    pooled_from: index of the encoder whose projected EOS state (first chunk) is the pooled
    vector, None when the model takes no pooled input.
    """

    encoders: tuple[TextEncoderSpec, ...]
    pooled_from: int | None = None
    options: EncodingOptions = field(default_factory=EncodingOptions)

    def __post_init__(self) -> None:
        if not self.encoders:
            raise ValueError("PromptEncoder needs at least one TextEncoderSpec")
        if self.pooled_from is not None and not 0 <= self.pooled_from < len(self.encoders):
            raise ValueError(f"pooled_from={self.pooled_from} is not an encoder index (have {len(self.encoders)})")
        for spec in self.encoders:
            spec.hidden_layer(self.options.clip_skip)

    def tokenize(self, text: str, encoder_index: int = 0) -> TokenizedPrompt:
        spec = self.encoders[encoder_index]
        return tokenize_prompt(
            text,
            spec.tokenizer,
            emphasis=self.options.emphasis,
            comma_padding_backtrack=self.options.comma_padding_backtrack,
            embeddings=spec.embeddings,
        )

    def encode_texts(self, texts: Sequence[str]) -> Conditioning:
        if not texts:
            raise ValueError("encode_texts needs at least one text")
        outputs = [self._encode_with(index, texts) for index in range(len(self.encoders))]
        lengths = {z.shape[1] for z, _ in outputs}
        if len(lengths) > 1:
            raise ValueError(f"text encoders produced different token lengths {sorted(lengths)} for {list(texts)!r}")
        cross_attn = torch.cat([z for z, _ in outputs], dim=-1)
        pooled = outputs[self.pooled_from][1] if self.pooled_from is not None else None
        return Conditioning(cross_attn, pooled)

    def _encode_with(self, index: int, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        spec = self.encoders[index]
        tokenized = {text: self.tokenize(text, index).chunks for text in dict.fromkeys(texts)}
        chunk_lists = [tokenized[text] for text in texts]
        filler = empty_chunk(SpecialTokens.from_tokenizer(spec.tokenizer))
        zs, pooled = [], None
        for position in range(max(len(chunks) for chunks in chunk_lists)):
            batch = [chunks[position] if position < len(chunks) else filler for chunks in chunk_lists]
            z, chunk_pooled = _encode_chunk_batch(spec, batch, self.options)
            zs.append(z)
            if position == 0:
                pooled = chunk_pooled
        return torch.cat(zs, dim=1), pooled


def _encode_chunk_batch(
    spec: TextEncoderSpec, batch: list[PromptChunk], options: EncodingOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    model = spec.text_encoder
    device = next(model.parameters()).device
    input_ids = torch.tensor([chunk.tokens for chunk in batch], device=device)
    if spec.pad_token_id is not None:
        input_ids = _pad_after_first_eos(input_ids, spec.tokenizer.eos_token_id, spec.pad_token_id)

    with _embedding_fixes(model, [chunk.fixes for chunk in batch]):
        output = model(input_ids=input_ids, output_hidden_states=True)

    hidden = output.hidden_states[-spec.hidden_layer(options.clip_skip)]
    if spec.final_layer_norm:
        hidden = _final_layer_norm(model)(hidden)
    pooled = output.text_embeds if getattr(output, "text_embeds", None) is not None else output.pooler_output
    multipliers = torch.tensor([chunk.multipliers for chunk in batch], device=device)
    return apply_emphasis(hidden, multipliers, options.emphasis), pooled


def _pad_after_first_eos(input_ids: torch.Tensor, eos_id: int, pad_id: int) -> torch.Tensor:
    """OpenCLIP pads with `pad_id` after the end-of-text token instead of repeating it."""
    is_eos = input_ids == eos_id
    after_first_eos = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return input_ids.masked_fill(after_first_eos, pad_id)


def _final_layer_norm(model: torch.nn.Module) -> torch.nn.Module:
    # transformers 5: CLIPTextModel owns it; CLIPTextModelWithProjection (and 4.x) via .text_model
    return getattr(model, "text_model", model).final_layer_norm


@contextlib.contextmanager
def _embedding_fixes(model: torch.nn.Module, batch_fixes: list[tuple[EmbeddingFix, ...]]) -> Iterator[None]:
    """Overwrite token-embedding outputs at textual-inversion placeholder positions."""
    if not any(batch_fixes):
        yield
        return

    def replace_vectors(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        for row, fixes in enumerate(batch_fixes):
            for fix in fixes:
                vectors = fix.embedding.vectors.to(device=output.device, dtype=output.dtype)
                output[row, fix.offset : fix.offset + vectors.shape[0]] = vectors
        return output

    handle = model.get_input_embeddings().register_forward_hook(replace_vectors)
    try:
        yield
    finally:
        handle.remove()
