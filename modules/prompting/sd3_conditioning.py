"""SD3's joint text conditioning: CLIP-L + CLIP-G (77-token chunks, penultimate layer) and T5-XXL.

context = [CLIP-L ‖ CLIP-G padded with zeros to T5's width] followed by T5's tokens (zeros
when T5 is not loaded, as diffusers does); pooled = CLIP-L pooled ‖ CLIP-G pooled (2048).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .attention import parse_prompt_attention
from .text_encoder import Conditioning, EncodingOptions, PromptEncoder, TextEncoderSpec
from .chunking import EmbeddingLookup

T5_MAX_TOKENS = 256


@dataclass(frozen=True)
class SD3Conditioner:
    clip_l: PromptEncoder
    clip_g: PromptEncoder
    context_width: int  # the MMDiT's joint_attention_dim (4096)
    t5: torch.nn.Module | None = None
    t5_tokenizer: Any = None

    def encode_texts(self, texts: Sequence[str]) -> Conditioning:
        l, g = self.clip_l.encode_texts(texts), self.clip_g.encode_texts(texts)
        clip = torch.cat([l.cross_attn, g.cross_attn], dim=-1)
        clip = F.pad(clip, (0, self.context_width - clip.shape[-1]))
        t5 = self._t5(texts, clip)
        return Conditioning(torch.cat([clip, t5], dim=1), torch.cat([l.pooled, g.pooled], dim=-1))

    def _t5(self, texts: Sequence[str], like: torch.Tensor) -> torch.Tensor:
        if self.t5 is None:
            return like.new_zeros(len(texts), T5_MAX_TOKENS, self.context_width)
        rows = [self._t5_tokens(text) for text in texts]
        device = next(self.t5.parameters()).device
        ids = torch.tensor([r[0] for r in rows], device=device)
        weights = torch.tensor([r[1] for r in rows], device=device)
        hidden = self.t5(input_ids=ids).last_hidden_state.float()
        # A1111/Forge emphasis on T5 too: scale each token, then restore the mean ("Original")
        original_mean = hidden.mean()
        hidden = hidden * weights[..., None]
        hidden = hidden * (original_mean / hidden.mean())
        return hidden.to(like.dtype)

    def _t5_tokens(self, text: str) -> tuple[list[int], list[float]]:
        ids: list[int] = []
        weights: list[float] = []
        for run in parse_prompt_attention(text):
            if run.is_break:
                continue
            tokens = self.t5_tokenizer(run.text, add_special_tokens=False)["input_ids"]
            ids += tokens
            weights += [run.weight] * len(tokens)
        ids, weights = ids[:T5_MAX_TOKENS - 1] + [self.t5_tokenizer.eos_token_id], weights[:T5_MAX_TOKENS - 1] + [1.0]
        pad = T5_MAX_TOKENS - len(ids)
        return ids + [self.t5_tokenizer.pad_token_id] * pad, weights + [1.0] * pad


def sd3_conditioner(tokenizers: Sequence[Any], encoders: Sequence[torch.nn.Module], context_width: int,
                    options: EncodingOptions, lookups: Sequence[EmbeddingLookup | None]) -> SD3Conditioner:
    """CLIP-L pads with its end token, CLIP-G with 0; both read the penultimate layer without
    the final LayerNorm and ignore clip skip (as SDXL). Embeddings: clip_l / clip_g vectors."""
    clip_l = PromptEncoder((TextEncoderSpec(tokenizers[0], encoders[0], None, 2, False, False, lookups[0]),), 0, options)
    clip_g = PromptEncoder((TextEncoderSpec(tokenizers[1], encoders[1], 0, 2, False, False, lookups[1]),), 0, options)
    t5 = encoders[2] if len(encoders) > 2 else None
    return SD3Conditioner(clip_l, clip_g, context_width, t5, tokenizers[2] if t5 is not None else None)
