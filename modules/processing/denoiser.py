"""The denoiser samplers call: UNet + eps/v-prediction in sigma space + classifier-free guidance.

`ModelDenoiser` turns the UNet into k-diffusion's `D(x, sigma) -> x0` for one conditioning
batch; `CFGDenoiser` batches conditional and unconditional passes, combines AND-prompts
(composable diffusion) and adds what inpainting / instruct-pix2pix / SDXL models need.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modules.prompting import Conditioning, ScheduledConditioning, pad_to_length, stack_at_step
from modules.sampling import DiscreteSigmas


def _pad_batch(cross_attn: torch.Tensor, length: int) -> torch.Tensor:
    """Prompts of different chunk counts share one batch: repeat each one's last vector."""
    if cross_attn.shape[1] == length:
        return cross_attn
    return torch.stack([pad_to_length(item, length) for item in cross_attn])


@dataclass
class ModelDenoiser:
    """k-diffusion's CompVisDenoiser / CompVisVDenoiser around a diffusers UNet."""

    unet: torch.nn.Module
    sigmas: DiscreteSigmas
    v_prediction: bool = False
    dtype: torch.dtype = torch.float32

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor,
                 image_cond: torch.Tensor | None = None, added: dict | None = None) -> torch.Tensor:
        s = sigma.to(x.dtype)[:, None, None, None]
        c_in = 1 / (s**2 + 1) ** 0.5
        model_in = x * c_in
        if image_cond is not None:  # inpainting (9 ch) and instruct-pix2pix (8 ch) models
            model_in = torch.cat([model_in, image_cond.to(x.dtype)], dim=1)
        t = self.sigmas.sigma_to_t(sigma.float()).to(x.device)
        out = self.unet(model_in.to(self.dtype), t, encoder_hidden_states=context.to(self.dtype),
                        added_cond_kwargs=added).sample.to(x.dtype)
        if self.v_prediction:
            return x / (s**2 + 1) - out * s / (s**2 + 1) ** 0.5
        return x - out * s


@dataclass
class FlowDenoiser:
    """SD3's MMDiT predicts the flow velocity v: x0 = x - sigma * v, timestep = sigma * 1000."""

    transformer: torch.nn.Module
    dtype: torch.dtype = torch.float32

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor,
                 image_cond: torch.Tensor | None = None, added: dict | None = None) -> torch.Tensor:
        if added is None or "pooled" not in added:
            raise ValueError("SD3 needs the pooled text vector (CFGDenoiser.pooled_input)")
        out = self.transformer(hidden_states=x.to(self.dtype), encoder_hidden_states=context.to(self.dtype),
                               pooled_projections=added["pooled"].to(self.dtype),
                               timestep=(sigma.float() * 1000).to(x.device)).sample.to(x.dtype)
        return x - out * sigma.to(x.dtype)[:, None, None, None]


@dataclass
class SDXLConditions:
    """Micro-conditioning of SDXL (size and crop; aesthetic score for the refiner)."""

    original_size: tuple[int, int]
    target_size: tuple[int, int]
    crop: tuple[int, int] = (0, 0)
    aesthetic_score: float | None = None  # refiner only: 6.0 for the prompt, 2.5 negative
    negative_aesthetic_score: float = 2.5

    def time_ids(self, negative: bool, batch: int) -> torch.Tensor:
        if self.aesthetic_score is None:
            ids = [*self.original_size, *self.crop, *self.target_size]
        else:
            ids = [*self.original_size, *self.crop,
                   self.negative_aesthetic_score if negative else self.aesthetic_score]
        return torch.tensor([ids], dtype=torch.float32).repeat(batch, 1)


@dataclass
class CFGDenoiser:
    model: ModelDenoiser
    cond: ScheduledConditioning
    uncond: list  # CondSchedule per image (negative prompts)
    cfg_scale: float
    image_cond: torch.Tensor | None = None
    image_cfg_scale: float | None = None  # instruct-pix2pix's second guidance scale
    sdxl: SDXLConditions | None = None
    init_latent: torch.Tensor | None = None  # inpainting with a normal model: keep these latents...
    keep_mask: torch.Tensor | None = None  # ...where this is 1 (blended into every x0 estimate)
    step: int = 0
    pooled_input: bool = False  # SD3: the model takes the pooled text vector (no SDXL time ids)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, return_uncond: bool = False):
        batch = self.cond.at_step(self.step)
        uncond = stack_at_step(self.uncond, self.step)
        self.step += 1
        repeats = [len(conds) for conds in batch.conds_list]
        skip_uncond = self.cfg_scale == 1.0 and all(r == 1 for r in repeats) and not return_uncond \
            and self.image_cfg_scale is None
        x_in = torch.cat([x[i:i + 1].expand(r, *x.shape[1:]) for i, r in enumerate(repeats)]
                         + ([] if skip_uncond else [x]))
        sigma_in = torch.cat([sigma[i:i + 1].expand(r) for i, r in enumerate(repeats)]
                             + ([] if skip_uncond else [sigma]))
        cond_tensor = batch.cond
        texts = [cond_tensor] if skip_uncond else [cond_tensor, uncond]
        length = max(t.cross_attn.shape[1] for t in texts)
        context = torch.cat([_pad_batch(t.cross_attn, length) for t in texts])
        image_cond = self._image_cond(repeats, skip_uncond)
        added = self._added(texts, repeats, skip_uncond)
        out = self.model(x_in, sigma_in, context, image_cond, added)
        if skip_uncond:
            return self._keep_unmasked(out)
        n_cond = sum(repeats)
        cond_out, uncond_out = out[:n_cond], out[n_cond:]
        denoised = uncond_out.clone()
        for i, conds in enumerate(batch.conds_list):
            for index, weight in conds:
                denoised[i] += (cond_out[index] - uncond_out[i]) * (weight * self.cfg_scale)
        if self.image_cfg_scale is not None and self.image_cond is not None:
            denoised = self._pix2pix(x, sigma, batch, uncond, cond_out, uncond_out, repeats)
        denoised = self._keep_unmasked(denoised)
        return (denoised, uncond_out) if return_uncond else denoised

    def _keep_unmasked(self, denoised: torch.Tensor) -> torch.Tensor:
        if self.keep_mask is None:
            return denoised
        return self.init_latent * self.keep_mask + denoised * (1 - self.keep_mask)

    def _image_cond(self, repeats: list[int], skip_uncond: bool) -> torch.Tensor | None:
        if self.image_cond is None:
            return None
        parts = [self.image_cond[i:i + 1].expand(r, *self.image_cond.shape[1:]) for i, r in enumerate(repeats)]
        return torch.cat(parts + ([] if skip_uncond else [self.image_cond]))

    def _added(self, texts: list[Conditioning], repeats: list[int], skip_uncond: bool) -> dict | None:
        if self.sdxl is None:
            return {"pooled": torch.cat([t.pooled for t in texts])} if self.pooled_input else None
        pooled = torch.cat([t.pooled for t in texts])
        n_cond, n_uncond = sum(repeats), (0 if skip_uncond else len(repeats))
        time_ids = torch.cat([self.sdxl.time_ids(False, n_cond)]
                             + ([] if skip_uncond else [self.sdxl.time_ids(True, n_uncond)]))
        return {"text_embeds": pooled, "time_ids": time_ids.to(pooled.device)}

    def _pix2pix(self, x, sigma, batch, uncond, cond_out, uncond_out, repeats):
        """instruct-pix2pix: a third pass without the image gives the image guidance."""
        no_image = torch.zeros_like(self.image_cond)
        plain = self.model(x, sigma, uncond.cross_attn, no_image, None)
        guided = []
        for i, conds in enumerate(batch.conds_list):
            text = cond_out[conds[0][0]]
            guided.append(plain[i] + self.cfg_scale * (text - uncond_out[i])
                          + self.image_cfg_scale * (uncond_out[i] - plain[i]))
        return torch.stack(guided)
