"""Export diffusers/transformers modules to the single-file A1111/LDM key layout.

Loading goes the other way through diffusers' own single-file converters
(`diffusers.loaders.single_file_utils`); this module is their inverse. It is used to
write checkpoints the way users have them: the bundled demo model, training output and
the random-weight models the tests build. A round-trip test keeps both directions in step.
"""

from __future__ import annotations

import re

import torch

# Where each component lives in a single-file checkpoint, per model family.
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIXES = {
    "sd1": ("cond_stage_model.transformer.", None),
    "sd2": (None, "cond_stage_model.model."),
    "sdxl": ("conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."),
    "sdxl_refiner": (None, "conditioner.embedders.0.model."),
}

_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_FIXED = {"conv_norm_out": "norm_out"}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_OPEN_CLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def _rename_module(key: str, table: dict[str, str]) -> str:
    """Rename the leading module path of `key` by the first matching table entry."""
    for old, new in table.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old):]
    return key


def unet_key_to_ldm(key: str, layers_per_block: int, up_blocks_with_attention: set[int]) -> str:
    """One diffusers UNet2DConditionModel key → its LDM `openaimodel.UNetModel` key."""
    per_level = layers_per_block + 1
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        level, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = level * per_level + j + 1
        if kind == "resnets":
            return f"input_blocks.{index}.0.{_rename_module(rest, _UNET_RESNET)}"
        return f"input_blocks.{index}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m[1]) + 1) * per_level}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_rename_module(m[2], _UNET_RESNET)}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        level, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = level * per_level + j
        if kind == "resnets":
            return f"output_blocks.{index}.0.{_rename_module(rest, _UNET_RESNET)}"
        return f"output_blocks.{index}.1.{rest}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        level = int(m[1])
        slot = 2 if level in up_blocks_with_attention else 1
        return f"output_blocks.{level * per_level + layers_per_block}.{slot}.conv.{m[2]}"
    renamed = _rename_module(key, _UNET_FIXED)
    if renamed == key:
        raise ValueError(f"no LDM name known for UNet key {key!r}")
    return renamed


def unet_to_ldm(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    config = unet.config
    with_attention = {i for i, t in enumerate(config.up_block_types) if "CrossAttn" in t}
    return {
        UNET_PREFIX + unet_key_to_ldm(k, config.layers_per_block, with_attention): v
        for k, v in unet.state_dict().items()
    }


def vae_key_to_ldm(key: str, num_levels: int) -> tuple[str, bool]:
    """One diffusers AutoencoderKL key → (LDM key, whether it is a linear→1x1-conv weight)."""
    if m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", key):
        rest = _rename_module(m[2], _VAE_ATTENTION)
        is_proj_weight = rest.endswith(".weight") and not rest.startswith("norm.")
        return f"{m[1]}.mid.attn_1.{rest}", is_proj_weight
    if m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}", False
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}", False
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}", False
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        level = num_levels - 1 - int(m[1])
        return f"decoder.up.{level}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}", False
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        return f"decoder.up.{num_levels - 1 - int(m[1])}.upsample.conv.{m[2]}", False
    if m := re.match(r"(encoder|decoder)\.(.*)", key):
        return f"{m[1]}.{_rename_module(m[2], _VAE_FIXED)}", False
    return key, False  # quant_conv, post_quant_conv


def vae_to_ldm(vae: torch.nn.Module, prefix: str = VAE_PREFIX) -> dict[str, torch.Tensor]:
    num_levels = len(vae.config.block_out_channels)
    out = {}
    for key, value in vae.state_dict().items():
        ldm_key, is_linear = vae_key_to_ldm(key, num_levels)
        out[prefix + ldm_key] = value[:, :, None, None] if is_linear and value.ndim == 2 else value
    return out


def text_model_state(text_encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CLIP text model's weights with `text_model.` keys: transformers 5's CLIPTextModel
    dropped that prefix while CLIPTextModelWithProjection and checkpoints keep it."""
    return {k if k.startswith(("text_model.", "text_projection.")) else f"text_model.{k}": v
            for k, v in text_encoder.state_dict().items() if not k.endswith("position_ids")}


def clip_to_ldm(text_encoder: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """transformers CLIPTextModel (OpenAI CLIP layout) keys are kept under a prefix."""
    return {prefix + k: v for k, v in text_model_state(text_encoder).items() if k.startswith("text_model.")}


def open_clip_to_ldm(text_encoder: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """transformers CLIPTextModel(WithProjection) → OpenCLIP keys (fused qkv, `resblocks`)."""
    sd = text_model_state(text_encoder)
    out: dict[str, torch.Tensor] = {
        prefix + "positional_embedding": sd["text_model.embeddings.position_embedding.weight"],
        prefix + "token_embedding.weight": sd["text_model.embeddings.token_embedding.weight"],
        prefix + "ln_final.weight": sd["text_model.final_layer_norm.weight"],
        prefix + "ln_final.bias": sd["text_model.final_layer_norm.bias"],
    }
    if "text_projection.weight" in sd:
        out[prefix + "text_projection"] = sd["text_projection.weight"].T.contiguous()
    for i in range(text_encoder.config.num_hidden_layers):
        src = f"text_model.encoder.layers.{i}."
        dst = f"{prefix}transformer.resblocks.{i}."
        for part in ("weight", "bias"):
            qkv = [sd[f"{src}self_attn.{p}_proj.{part}"] for p in "qkv"]
            out[f"{dst}attn.in_proj_{part}"] = torch.cat(qkv, dim=0)
            for old, new in _OPEN_CLIP_LAYER.items():
                out[f"{dst}{new}.{part}"] = sd[f"{src}{old}.{part}"]
    return out


def ldm_state_dict(
    unet: torch.nn.Module,
    vae: torch.nn.Module,
    text_encoder: torch.nn.Module | None = None,
    text_encoder_2: torch.nn.Module | None = None,
    family: str = "sd1",
) -> dict[str, torch.Tensor]:
    """A whole single-file checkpoint: UNet, VAE and the family's text encoder(s).

    `text_encoder` is the OpenAI-CLIP-layout encoder (SD1, SDXL's first);
    `text_encoder_2` the OpenCLIP-layout one (SD2 passes it here, SDXL's second, refiner).
    """
    if family not in TEXT_ENCODER_PREFIXES:
        raise ValueError(f"unknown model family {family!r}; expected one of {sorted(TEXT_ENCODER_PREFIXES)}")
    clip_prefix, open_clip_prefix = TEXT_ENCODER_PREFIXES[family]
    out = unet_to_ldm(unet) | vae_to_ldm(vae)
    for encoder, prefix, convert in (
        (text_encoder, clip_prefix, clip_to_ldm),
        (text_encoder_2, open_clip_prefix, open_clip_to_ldm),
    ):
        if (encoder is None) != (prefix is None):
            raise ValueError(f"family {family!r} needs text encoders at {TEXT_ENCODER_PREFIXES[family]}")
        if encoder is not None:
            out |= convert(encoder, prefix)
    return out
