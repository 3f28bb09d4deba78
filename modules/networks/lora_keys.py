"""Which module of a loaded model each key of a LoRA file means.

Files name modules in several ways: kohya (`lora_unet_<path>`, `lora_te_<path>`, `lora_te1_`/
`lora_te2_` for SDXL, with `_` for `.`; the UNet path either diffusers' or LDM's), diffusers/peft
(`unet.<path>`, `text_encoder.<path>`, `text_encoder_2.<path>`, old attention-processor keys) and
LDM checkpoint prefixes (`model.diffusion_model.`, `cond_stage_model.transformer.`). The encoder
that is OpenCLIP in LDM checkpoints (SD2's, SDXL's second) is also known by its OpenCLIP names
(`resblocks`, `mlp.c_fc`; bare, as A1111 names them, or after the kohya prefix). Every key is
normalised to the kohya form and looked up in a table of every name each module is known by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from modules.sd_models.ldm_layout import unet_key_to_ldm

# file parameter suffix → canonical parameter name (checked in this order)
PARAM_SUFFIXES = {
    ".lora_down.weight": "lora_down.weight", ".lora_up.weight": "lora_up.weight",
    ".lora_mid.weight": "lora_mid.weight",
    ".lora_A.weight": "lora_down.weight", ".lora_B.weight": "lora_up.weight",
    ".lora.down.weight": "lora_down.weight", ".lora.up.weight": "lora_up.weight",
    ".lora_linear_layer.down.weight": "lora_down.weight", ".lora_linear_layer.up.weight": "lora_up.weight",
    ".lora_magnitude_vector.weight": "dora_scale", ".lora_magnitude_vector": "dora_scale",
    ".alpha": "alpha", ".dora_scale": "dora_scale",
    **{f".{n}": n for n in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2",
                            "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2",
                            "diff_b", "diff", "w_norm", "b_norm", "on_input", "oft_blocks", "oft_diag", "rescale")},
    **{f".{n}.weight": f"{n}.weight" for n in ("a1", "a2", "b1", "b2", "bm")},  # GLoRA
    ".weight": "weight",  # (IA)³ vectors
}
_PROCESSOR_KEY = re.compile(r"^(.*)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$")
TEXT_ENCODER_PREFIXES = {"sd1": ("lora_te_",), "sd2": ("lora_te_",), "sdxl": ("lora_te1_", "lora_te2_"),
                         "sdxl_refiner": ("lora_te2_",), "sd3": ("lora_te1_", "lora_te2_", "lora_te3_")}
# The text encoder that was OpenCLIP in the LDM checkpoint (diffusers converts it to transformers
# CLIP) and A1111's own name prefix for its modules (`cond_stage_model.wrapped` names).
OPEN_CLIP_ENCODER = {"sd2": (0, "model_"), "sdxl": (1, "1_model_"), "sdxl_refiner": (0, None)}
# transformers CLIP layer parts → OpenCLIP's; q/k/v as A1111 names the slices of the fused in_proj
_OPEN_CLIP_LAYER_PARTS = {
    "self_attn_q_proj": "attn_q_proj", "self_attn_k_proj": "attn_k_proj", "self_attn_v_proj": "attn_v_proj",
    "self_attn_out_proj": "attn_out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
    "mlp_fc1": "mlp_c_fc", "mlp_fc2": "mlp_c_proj",
}


@dataclass(frozen=True, eq=False)
class TargetModule:
    component: str  # "unet", "text_encoder_0", "text_encoder_1"
    path: str  # the module's name inside its component
    module: torch.nn.Module

    @property
    def is_text_encoder(self) -> bool:
        return self.component != "unet"

    @property
    def label(self) -> str:
        return f"{self.component}.{self.path}"


def split_key(key: str) -> tuple[str, str] | None:
    """(module name as in the file, canonical parameter name), None for an unknown parameter."""
    if m := _PROCESSOR_KEY.match(key):
        module = f"{m[1]}.{m[2]}" + (".0" if m[2] == "to_out" else "")
        return module, f"lora_{m[3]}.weight"
    for suffix, param in PARAM_SUFFIXES.items():
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], param
    return None


def normalize_module_name(name: str, family: str) -> str:
    """A file's module name in the kohya form (`lora_unet_…`, `lora_te1_…`)."""
    te_first = TEXT_ENCODER_PREFIXES.get(family, ("lora_te_",))[0]
    dotted = (("unet.", "lora_unet_"), ("transformer.", "lora_unet_"), ("model.diffusion_model.", "lora_unet_"),
              ("text_encoder_2.", "lora_te2_"), ("text_encoder_3.", "lora_te3_"),
              ("text_encoder.", te_first), ("cond_stage_model.transformer.", "lora_te_"),
              ("conditioner.embedders.0.transformer.", "lora_te1_"), ("cond_stage_model.model.", "lora_te_model_"),
              ("conditioner.embedders.1.model.", "lora_te2_model_"),
              ("conditioner.embedders.0.model.", "lora_te2_model_"))  # the refiner's only encoder
    for prefix, kohya in dotted:
        if name.startswith(prefix):
            return kohya + name[len(prefix):].replace(".", "_")
    return name.replace(".", "_")


def module_aliases(model: Any) -> dict[str, TargetModule]:
    """Every kohya-form name of every weight-carrying module of a LoadedModel."""
    table: dict[str, TargetModule] = {}
    unet = model.unet
    config = unet.config
    with_attention = {i for i, t in enumerate(getattr(config, "up_block_types", ())) if "CrossAttn" in t}
    for path, module in _weighted_modules(unet):
        target = TargetModule("unet", path, module)
        table.setdefault("lora_unet_" + path.replace(".", "_"), target)
        if model.arch.is_sd3:  # the MMDiT by diffusers' names only (`transformer.…`, peft's form)
            continue
        try:
            ldm = unet_key_to_ldm(path + ".weight", config.layers_per_block, with_attention)[: -len(".weight")]
        except ValueError:
            continue
        table.setdefault("lora_unet_" + ldm.replace(".", "_"), target)
    family = model.arch.family
    prefixes = TEXT_ENCODER_PREFIXES.get(family, ("lora_te_",))
    open_clip_index, a1111_prefix = OPEN_CLIP_ENCODER.get(family, (None, None))
    for index, (encoder, prefix) in enumerate(zip(model.text_encoders, prefixes)):
        for path, module in _weighted_modules(encoder):
            target = TargetModule(f"text_encoder_{index}", path, module)
            core = path.removeprefix("text_model.").replace(".", "_")
            table.setdefault(f"{prefix}text_model_{core}", target)
            table.setdefault(f"{prefix}{core}", target)
            open_clip = _open_clip_name(core) if index == open_clip_index else None
            if open_clip is not None:
                table.setdefault(f"{prefix}model_{open_clip}", target)
                if a1111_prefix is not None:
                    table.setdefault(a1111_prefix + open_clip, target)
    return table


def _open_clip_name(core: str) -> str | None:
    """OpenCLIP's name for a transformers CLIP module (`encoder_layers_0_mlp_fc1` →
    `transformer_resblocks_0_mlp_c_fc`), None for one OpenCLIP has no module for."""
    if core == "final_layer_norm":
        return "ln_final"
    m = re.fullmatch(r"encoder_layers_(\d+)_(.+)", core)
    if m is None or m[2] not in _OPEN_CLIP_LAYER_PARTS:
        return None
    return f"transformer_resblocks_{m[1]}_{_OPEN_CLIP_LAYER_PARTS[m[2]]}"


def _weighted_modules(root: torch.nn.Module):
    for path, module in root.named_modules():
        if isinstance(module._parameters.get("weight"), torch.nn.Parameter):
            yield path, module
