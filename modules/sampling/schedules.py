"""Schedule types: sigma schedules of n steps.

Every function has the signature
``fn(n, sigma_min, sigma_max, model_sigmas, options) -> float32 tensor of n + 1 sigmas``,
decreasing from about ``sigma_max`` and ending in 0.  ``model_sigmas`` are the model's
discrete sigmas (used by the schedules that follow the trained timesteps) and ``options``
carries the few per-schedule knobs (rho, Beta alpha/beta, Align Your Steps table).

"DDIM" keeps A1111's grid of timesteps 1, 1 + 1000 // n, ...: when n does not divide the
number of training steps it has *more* than n steps (31 for n = 30), and for few steps it
starts well below sigma_max (n = 2 starts at timestep 501), exactly as A1111's DDIM does.

Deviations from A1111, on purpose: "KL Optimal" ends in 0 (A1111 stops at sigma_min and
leaves residual noise); for n = 1, "Align Your Steps" and "DDIM" start at the top of their
range (A1111 would run its single step at sigma_min, i.e. return noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from modules.sampling.discrete import DiscreteSigmas

# Align Your Steps (Sabour et al. 2024) 10-step tables, from NVIDIA's published values.
AYS_SIGMAS = {
    "sd1": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
    "sdxl": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
}


@dataclass(frozen=True)
class ScheduleOptions:
    rho: float | None = None  # Karras (default 7) and Polyexponential (default 1)
    beta_alpha: float = 0.6  # Beta schedule, A1111 "beta_dist_alpha"
    beta_beta: float = 0.6  # Beta schedule, A1111 "beta_dist_beta"
    model_family: str = "sd1"  # Align Your Steps table: "sd1" or "sdxl"

    def __post_init__(self) -> None:
        if self.rho is not None and not self.rho > 0:
            raise ValueError(f"rho must be > 0, got {self.rho}")
        if not (self.beta_alpha > 0 and self.beta_beta > 0):
            raise ValueError(f"beta_alpha and beta_beta must be > 0, got {self.beta_alpha}, {self.beta_beta}")
        if self.model_family not in AYS_SIGMAS:
            raise ValueError(f"model_family must be one of {sorted(AYS_SIGMAS)}, got {self.model_family!r}")


def _with_zero(sigmas: Tensor | np.ndarray | list[float]) -> Tensor:
    s = torch.as_tensor(np.asarray(sigmas, dtype=np.float64)).to(torch.float32)
    return torch.cat([s, s.new_zeros(1)])


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022): uniform in sigma^(1/rho)."""
    ramp = np.linspace(0.0, 1.0, n)
    min_inv, max_inv = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _with_zero((max_inv + ramp * (min_inv - max_inv)) ** rho)


def karras(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
           options: ScheduleOptions) -> Tensor:
    return karras_sigmas(n, sigma_min, sigma_max, options.rho or 7.0)


def exponential(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
                options: ScheduleOptions) -> Tensor:
    """Uniform in log-sigma."""
    return _with_zero(np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), n)))


def polyexponential(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
                    options: ScheduleOptions) -> Tensor:
    """Log-sigma following a polynomial ramp of degree rho (rho = 1 is Exponential)."""
    ramp = np.linspace(1.0, 0.0, n) ** (options.rho or 1.0)
    return _with_zero(np.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def uniform(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
            options: ScheduleOptions) -> Tensor:
    """Timesteps evenly spaced from the last trained one down to 0 (k-diffusion's default)."""
    t = torch.linspace(len(model_sigmas) - 1, 0, n, dtype=torch.float64)
    return _with_zero(model_sigmas.t_to_sigma(t).numpy())


def _timestep_range(model_sigmas: DiscreteSigmas, sigma_min: float, sigma_max: float) -> tuple[float, float]:
    return float(model_sigmas.sigma_to_t(sigma_max)), float(model_sigmas.sigma_to_t(sigma_min))


def sgm_uniform(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
                options: ScheduleOptions) -> Tensor:
    """n + 1 evenly spaced timesteps over [t(sigma_min), t(sigma_max)], the last replaced by 0."""
    start, end = _timestep_range(model_sigmas, sigma_min, sigma_max)
    t = torch.linspace(start, end, n + 1, dtype=torch.float64)[:-1]
    return _with_zero(model_sigmas.t_to_sigma(t).numpy())


def normal(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
           options: ScheduleOptions) -> Tensor:
    """n evenly spaced timesteps from t(sigma_max) to t(sigma_min), then 0."""
    start, end = _timestep_range(model_sigmas, sigma_min, sigma_max)
    t = torch.linspace(start, end, n, dtype=torch.float64)
    return _with_zero(model_sigmas.t_to_sigma(t).numpy())


def simple(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
           options: ScheduleOptions) -> Tensor:
    """Every (len / n)-th trained sigma, from the top."""
    table = model_sigmas.sigmas
    stride = len(table) / n
    return _with_zero([float(table[-(1 + int(k * stride))]) for k in range(n)])


def ddim(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
         options: ScheduleOptions) -> Tensor:
    """The trained sigmas at timesteps 1, 1 + stride, ... with stride = len // n (A1111's DDIM grid)."""
    table = model_sigmas.sigmas
    if n == 1:
        return _with_zero([float(table[-1])])
    stride = max(len(table) // n, 1)
    return _with_zero([float(table[t]) for t in range(1, len(table), stride)][::-1])


def kl_optimal(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
               options: ScheduleOptions) -> Tensor:
    """Uniform in arctan(sigma) (Kim et al. 2024, "KL-optimal" schedule)."""
    ramp = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    return _with_zero(np.tan(ramp * math.atan(sigma_min) + (1.0 - ramp) * math.atan(sigma_max)))


def beta(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
         options: ScheduleOptions) -> Tensor:
    """Beta-distribution quantiles mapped linearly onto [sigma_min, sigma_max] (Lee et al. 2024)."""
    from scipy import stats  # slow to import; only this schedule needs it

    quantiles = stats.beta.ppf(1.0 - np.linspace(0.0, 1.0, n), options.beta_alpha, options.beta_beta)
    return _with_zero(sigma_min + quantiles * (sigma_max - sigma_min))


def _loglinear_interp(values: list[float], count: int) -> np.ndarray:
    """Resample a decreasing sequence to ``count`` points, linearly in log space."""
    xs = np.linspace(0.0, 1.0, len(values))
    ys = np.log(np.asarray(values[::-1]))
    return np.exp(np.interp(np.linspace(0.0, 1.0, count), xs, ys))[::-1].copy()


def align_your_steps(n: int, sigma_min: float, sigma_max: float, model_sigmas: DiscreteSigmas,
                     options: ScheduleOptions) -> Tensor:
    """NVIDIA's optimised 10-step schedule for SD1/SDXL, log-linearly resampled to n steps."""
    table = AYS_SIGMAS[options.model_family]
    if n == 1:
        return _with_zero(table[:1])
    return _with_zero(table if n == len(table) else _loglinear_interp(table, n))
