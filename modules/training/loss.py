"""The denoising loss textual inversion minimises, on the model's own noise schedule.

x_t = sqrt(ᾱ_t)·x₀ + sqrt(1-ᾱ_t)·ε; the UNet predicts ε (epsilon models) or
v = sqrt(ᾱ_t)·ε - sqrt(1-ᾱ_t)·x₀ (v-prediction models); the loss is the mean squared error,
optionally weighted per latent cell (A1111's use_weight). Only the embedding's vectors get
gradients: every model weight is frozen while training runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import torch

PREDICTION_TYPES = ("epsilon", "v_prediction")


def _schedule_at(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    alpha_bar = alphas_cumprod.to(like.device, torch.float32)[timesteps.to(like.device)]
    shape = (-1,) + (1,) * (like.ndim - 1)
    return alpha_bar.sqrt().reshape(shape), (1 - alpha_bar).sqrt().reshape(shape)


def noised(latents: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor,
           timesteps: torch.Tensor) -> torch.Tensor:
    signal, sigma = _schedule_at(alphas_cumprod, timesteps, latents)
    return signal * latents + sigma * noise


def target_for(latents: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor,
               timesteps: torch.Tensor, prediction_type: str) -> torch.Tensor:
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        signal, sigma = _schedule_at(alphas_cumprod, timesteps, latents)
        return signal * noise - sigma * latents
    raise ValueError(f"prediction_type={prediction_type!r} is not one of {PREDICTION_TYPES}")


def denoising_loss(unet: torch.nn.Module, latents: torch.Tensor, context: torch.Tensor, noise: torch.Tensor,
                   timesteps: torch.Tensor, alphas_cumprod: torch.Tensor, prediction_type: str,
                   weights: torch.Tensor | None = None, added: dict[str, torch.Tensor] | None = None
                   ) -> torch.Tensor:
    """Scalar float32 loss for clean `latents` [B, C, h, w] under `context` [B, tokens, dim];
    `weights` [B, h, w] scales each latent cell's squared error; `added` is SDXL's
    added_cond_kwargs (pooled text, time ids)."""
    latents, noise = latents.float(), noise.float()
    x_t = noised(latents, noise, alphas_cumprod, timesteps)
    prediction = unet(x_t.to(unet.dtype), timesteps.to(x_t.device),
                      encoder_hidden_states=context.to(unet.dtype), added_cond_kwargs=_cast(added, unet.dtype)
                      ).sample.float()
    squared = (prediction - target_for(latents, noise, alphas_cumprod, timesteps, prediction_type)) ** 2
    if weights is not None:
        squared = squared * weights.to(squared.device, torch.float32)[:, None]
    return squared.mean()


def _cast(added: dict[str, torch.Tensor] | None, dtype: torch.dtype) -> dict[str, torch.Tensor] | None:
    return None if added is None else {key: value.to(dtype) for key, value in added.items()}


def clip_gradient(vectors: Sequence[torch.Tensor], mode: str, limit: float) -> None:
    """A1111's clip_grad_mode: "value" clamps each gradient entry to ±limit, "norm" scales the
    gradient down to a norm of at most limit."""
    if mode == "value":
        torch.nn.utils.clip_grad_value_(vectors, limit)
    elif mode == "norm":
        torch.nn.utils.clip_grad_norm_(vectors, limit)
    else:
        raise ValueError(f"clip_grad_mode={mode!r} is not 'value' or 'norm'")


@contextlib.contextmanager
def frozen(modules: Iterable[torch.nn.Module]) -> Iterator[None]:
    """No model weight takes gradients in the body; the previous flags come back afterwards."""
    previous = [(p, p.requires_grad) for module in modules for p in module.parameters()]
    for parameter, _ in previous:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in previous:
            parameter.requires_grad_(flag)
