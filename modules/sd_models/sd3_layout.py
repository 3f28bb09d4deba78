"""diffusers SD3 modules → the single-file SD3 layout (inverse of diffusers' converter).

Used to write random-weight SD3 checkpoints for tests and benchmarks as users have them.
"""

from __future__ import annotations

import torch

from modules.sd_models.ldm_layout import text_model_state, vae_to_ldm
from modules.sd_models.sd3_architecture import CLIP_G_PREFIX, CLIP_L_PREFIX, MMDIT_PREFIX, T5_PREFIX, VAE_PREFIX

_FIXED = {
    "pos_embed.pos_embed": "pos_embed",
    "pos_embed.proj": "x_embedder.proj",
    "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
    "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
    "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
    "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2",
    "context_embedder": "context_embedder",
    "proj_out": "final_layer.linear",
}
_BLOCK = {
    "attn.to_out.0": "x_block.attn.proj", "attn.to_add_out": "context_block.attn.proj",
    "attn.norm_q": "x_block.attn.ln_q", "attn.norm_k": "x_block.attn.ln_k",
    "attn.norm_added_q": "context_block.attn.ln_q", "attn.norm_added_k": "context_block.attn.ln_k",
    "attn2.to_out.0": "x_block.attn2.proj", "attn2.norm_q": "x_block.attn2.ln_q", "attn2.norm_k": "x_block.attn2.ln_k",
    "norm1.linear": "x_block.adaLN_modulation.1", "norm1_context.linear": "context_block.adaLN_modulation.1",
    "ff.net.0.proj": "x_block.mlp.fc1", "ff.net.2": "x_block.mlp.fc2",
    "ff_context.net.0.proj": "context_block.mlp.fc1", "ff_context.net.2": "context_block.mlp.fc2",
}
_QKV = {"attn.to_": "x_block.attn.qkv", "attn.add_": "context_block.attn.qkv", "attn2.to_": "x_block.attn2.qkv"}


def _swap_halves(weight: torch.Tensor) -> torch.Tensor:
    """diffusers' AdaLayerNormContinuous orders (scale, shift); SD3's original (shift, scale)."""
    first, second = weight.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def transformer_to_sd3(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    last = model.config.num_layers - 1
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        module, _, part = key.rpartition(".")
        if key.startswith("norm_out.linear."):
            out[f"final_layer.adaLN_modulation.1.{part}"] = _swap_halves(value)
        elif module in _FIXED or key in _FIXED:
            out[_FIXED.get(key) or f"{_FIXED[module]}.{part}"] = value
        elif key.startswith("transformer_blocks."):
            _, index, rest = key.split(".", 2)
            rest_module = rest.rpartition(".")[0]
            if rest_module in _BLOCK:
                new = f"joint_blocks.{index}.{_BLOCK[rest_module]}.{part}"
                if rest_module == "norm1_context.linear" and int(index) == last:
                    value = _swap_halves(value)
                out[new] = value
            elif any(rest.startswith(p) for p in _QKV) and rest_module.endswith(("_q_proj", "_k_proj", "_v_proj",
                                                                                   "to_q", "to_k", "to_v")):
                continue  # fused below
            else:
                raise ValueError(f"no SD3 name known for MMDiT key {key!r}")
        else:
            raise ValueError(f"no SD3 name known for MMDiT key {key!r}")
    for i in range(model.config.num_layers):
        b = f"transformer_blocks.{i}."
        for names, target in ((("attn.to_q", "attn.to_k", "attn.to_v"), "x_block.attn.qkv"),
                              (("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"), "context_block.attn.qkv"),
                              (("attn2.to_q", "attn2.to_k", "attn2.to_v"), "x_block.attn2.qkv")):
            for part in ("weight", "bias"):
                if f"{b}{names[0]}.{part}" in sd:
                    out[f"joint_blocks.{i}.{target}.{part}"] = torch.cat([sd[f"{b}{n}.{part}"] for n in names])
    return {MMDIT_PREFIX + k: v for k, v in out.items()}


def sd3_state_dict(transformer: torch.nn.Module, vae: torch.nn.Module, clip_l: torch.nn.Module | None,
                   clip_g: torch.nn.Module | None, t5: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """A whole SD3 single file; CLIP-L is saved without its (identity) projection, as SAI's are."""
    out = transformer_to_sd3(transformer) | vae_to_ldm(vae, VAE_PREFIX)
    if clip_l is not None:
        out |= {CLIP_L_PREFIX + k: v for k, v in text_model_state(clip_l).items() if k.startswith("text_model.")}
    if clip_g is not None:
        out |= {CLIP_G_PREFIX + k: v for k, v in text_model_state(clip_g).items()}
    if t5 is not None:
        out |= {T5_PREFIX + k: v for k, v in t5.state_dict().items() if k != "encoder.embed_tokens.weight"}
    return out
