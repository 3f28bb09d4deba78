"""Between pixels and latents: VAE encode/decode (fp32 fallback on NaN) and cheap previews."""

from __future__ import annotations

import logging

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

# A1111's "Approx cheap" factors: latent channels → RGB, for live previews without the VAE.
SD_LATENT_RGB = torch.tensor([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173],
                              [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]])
SDXL_LATENT_RGB = torch.tensor([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068],
                                [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]])


def images_to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """RGB PIL images → [-1, 1] float tensor [B, 3, H, W]."""
    arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 127.5 - 1.0 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def tensor_to_images(x: torch.Tensor) -> list[Image.Image]:
    """[-1, 1] tensor [B, 3, H, W] → RGB PIL images."""
    x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in x]


def _run_vae(vae: torch.nn.Module, fn, x: torch.Tensor) -> torch.Tensor:
    """Run in the VAE's dtype; half-precision VAEs can overflow to NaN, then redo in fp32."""
    with torch.no_grad():
        out = fn(x.to(vae.device, vae.dtype))
        if vae.dtype != torch.float32 and torch.isnan(out).any():
            log.warning("VAE produced NaNs in %s; retrying in fp32", vae.dtype)
            original = vae.dtype
            vae.to(torch.float32)
            try:
                out = fn(x.to(vae.device, torch.float32))
            finally:
                vae.to(original)
    return out.float()


def _shift(vae: torch.nn.Module) -> float:
    """SD3's VAE latents are shifted as well as scaled (shift_factor 0.0609); SD/SDXL have none."""
    return float(getattr(vae.config, "shift_factor", None) or 0.0)


def decode(vae: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    scale, shift = vae.config.scaling_factor, _shift(vae)
    return _run_vae(vae, lambda z: vae.decode(z / scale + shift).sample, latents)


def encode(vae: torch.nn.Module, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pixels [-1, 1] → scaled latents (the posterior's mean, deterministic like A1111's img2img)."""
    scale, shift = vae.config.scaling_factor, _shift(vae)
    return _run_vae(vae, lambda p: (vae.encode(p).latent_dist.mode() - shift) * scale, pixels)


def cheap_preview(latents: torch.Tensor, is_sdxl: bool) -> Image.Image:
    """First image of the batch as RGB, from a linear map of the 4 latent channels."""
    factors = SDXL_LATENT_RGB if is_sdxl else SD_LATENT_RGB
    rgb = torch.einsum("chw,cr->rhw", latents[0, :4].float().cpu(), factors)
    return tensor_to_images(rgb[None])[0]


PREVIEW_TYPES = ("Approx cheap", "Full")


def preview(latents: torch.Tensor, model, kind: str | None) -> Image.Image:
    """Live preview of the first image: A1111's "Approx cheap" linear map, or a full VAE decode."""
    if kind == "Full" or latents.shape[1] != 4:  # SD3's 16 channels have no linear RGB map here: decode
        return tensor_to_images(decode(model.vae, latents[:1]))[0]
    return cheap_preview(latents, model.arch.is_sdxl)
