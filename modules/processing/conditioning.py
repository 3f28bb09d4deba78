"""The text side of a generation: a PromptEncoder for the loaded model's family."""

from __future__ import annotations

from typing import Any, Sequence

from modules import prompting
from modules.sd_models.loader import LoadedModel


def build_prompt_encoder(model: LoadedModel, settings: dict[str, Any],
                         embeddings: Sequence[prompting.EmbeddingLookup | None] | None = None
                         ) -> prompting.PromptEncoder:
    """`embeddings`: one textual-inversion lookup per text encoder, in the model's order
    (networks.EmbeddingSet.lookups: SDXL's clip_l vectors for encoder 0, clip_g for 1)."""
    tokenizers, encoders = model.tokenizers, model.text_encoders
    lookups = tuple(embeddings) if embeddings is not None else (None,) * len(encoders)
    if model.arch.is_sd3:  # T5 takes no textual-inversion embeddings: CLIP-L and CLIP-G lookups only
        lookups = lookups[:2]
    elif len(lookups) != len(encoders):
        raise ValueError(f"embeddings: got {len(lookups)} lookups for a model with {len(encoders)} text encoders")
    options = prompting.EncodingOptions(
        emphasis=settings.get("emphasis", "Original"),
        clip_skip=settings.get("CLIP_stop_at_last_layers", 1),
        comma_padding_backtrack=settings.get("comma_padding_backtrack", 20),
    )
    family = model.arch.family
    if family == "sd3":
        from modules.prompting.sd3_conditioning import sd3_conditioner

        lookups = lookups + (None,) * (len(encoders) - len(lookups))
        return sd3_conditioner(tokenizers, encoders, model.unet.config.joint_attention_dim, options, lookups)
    if family == "sd1":
        specs, pooled_from = (prompting.sd1_text_encoder(tokenizers[0], encoders[0], lookups[0]),), None
    elif family == "sd2":  # the loader already dropped OpenCLIP's last block: read the new last one
        specs, pooled_from = (prompting.sd2_text_encoder(tokenizers[0], encoders[0], lookups[0], layer_from_end=1),), None
    elif family == "sdxl":
        specs, pooled_from = prompting.sdxl_text_encoders(tokenizers[0], encoders[0], encoders[1], *lookups), 1
    else:  # the SDXL refiner has only the bigG encoder
        refiner = prompting.TextEncoderSpec(tokenizers[0], encoders[0], 0, 2, False, False, lookups[0])
        specs, pooled_from = (refiner,), 0
    return prompting.PromptEncoder(tuple(specs), pooled_from, options)


def encode_batch(encoder: prompting.PromptEncoder, prompts: list[str], negatives: list[str], steps: int):
    """(scheduled positive conditioning with AND weights, negative schedules per image)."""
    return (prompting.encode_prompts(encoder, prompts, steps),
            prompting.encode_prompt_schedules(encoder, negatives, steps))
