"""UniPC (Zhao et al. 2023): multistep predictor-corrector on the data prediction, written in
k-diffusion space with lambda = -log(sigma).

Defaults follow A1111 (variant "bh1", order 3, lower order on the final steps).  Each step
costs one denoiser call; the corrector reuses the call made at the predicted point, as in
the paper.  A final step to sigma = 0 returns the last x0 estimate.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from modules.sampling.common import denoise, float_sigmas
from modules.sampling.interface import Denoiser, NoiseSampler, StepReporter


def _coefficients(rks: list[float], h: float, variant: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """R (powers of the step ratios), b, B(h) and h*phi_1 of the UniPC-bh update."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1.0
    b_h = hh if variant == "bh1" else math.expm1(hh)
    rows, b = [], []
    factorial = 1
    for k in range(1, len(rks) + 1):
        rows.append([r ** (k - 1) for r in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    return np.array(rows), np.array(b), b_h, h_phi_1


def _combine(weights: np.ndarray | list[float], tensors: list[Tensor]) -> Tensor | float:
    return sum((float(w) * t for w, t in zip(weights, tensors)), 0.0)


def sample_unipc(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, noise_sampler: NoiseSampler,
                 reporter: StepReporter, order: int = 3, variant: str = "bh1",
                 lower_order_final: bool = True) -> Tensor:
    if order < 1:
        raise ValueError(f"UniPC order must be >= 1, got {order}")
    if variant not in ("bh1", "bh2"):
        raise ValueError(f"UniPC variant must be 'bh1' or 'bh2', got {variant!r}")
    sig = float_sigmas(sigmas)
    n = len(sig) - 1
    lambdas = [-math.log(sig[0])]
    models = [denoise(denoiser, x, sig[0])]
    for i in range(n):
        sigma, sigma_next = sig[i], sig[i + 1]
        m0 = models[-1]
        if sigma_next == 0:
            x = m0
            reporter.step(i, x, sigma, sigma_next, m0)
            continue
        p = min(order, len(models))
        if lower_order_final:
            p = min(p, n - i)  # the last steps use lower orders (a final jump to 0 counts as one)
        lambda_next = -math.log(sigma_next)
        h = lambda_next - lambdas[-1]
        rks = [(lambdas[-(k + 1)] - lambdas[-1]) / h for k in range(1, p)] + [1.0]
        d1s = [(models[-(k + 1)] - m0) / rks[k - 1] for k in range(1, p)]
        r_mat, b, b_h, h_phi_1 = _coefficients(rks, h, variant)

        x_base = (sigma_next / sigma) * x - h_phi_1 * m0
        if p == 1:
            rhos_p: np.ndarray | list[float] = []
        elif p == 2:
            rhos_p = [0.5]
        else:
            rhos_p = np.linalg.solve(r_mat[:-1, :-1], b[:-1])
        x_pred = x_base - b_h * _combine(rhos_p, d1s)

        if i + 1 < n:
            m_t = denoise(denoiser, x_pred, sigma_next)
            rhos_c = [0.5] if p == 1 else np.linalg.solve(r_mat, b)
            x = x_base - b_h * (_combine(rhos_c[:-1], d1s) + float(rhos_c[-1]) * (m_t - m0))
            models = (models + [m_t])[-order:]
            lambdas = (lambdas + [lambda_next])[-order:]
        else:
            x = x_pred
        reporter.step(i, x, sigma, sigma_next, m0)
    return x
