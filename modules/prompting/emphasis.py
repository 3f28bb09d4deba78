"""How token multipliers act on the text encoder output (A1111's `emphasis` option)."""
from __future__ import annotations

import torch

EMPHASIS_MODES: dict[str, str] = {
    "None": "disable the mechanism entirely and treat (:1.1) as literal characters",
    "Ignore": "treat all emphasised words as if they have no emphasis",
    "Original": "the original emphasis implementation",
    "No norm": "same as original, but without normalization (seems to work better for SDXL)",
}


def check_emphasis_mode(mode: str) -> str:
    if mode not in EMPHASIS_MODES:
        raise ValueError(f"emphasis must be one of {list(EMPHASIS_MODES)}, got {mode!r}")
    return mode


def apply_emphasis(z: torch.Tensor, multipliers: torch.Tensor, mode: str) -> torch.Tensor:
    """z: [batch, tokens, dim] encoder output; multipliers: [batch, tokens].

    "Original" scales each token vector, then rescales the whole batch so its mean is unchanged
    (A1111: keeps artifacts away); "No norm" only scales; "Ignore" and "None" leave z alone.
    """
    check_emphasis_mode(mode)
    if mode in ("None", "Ignore"):
        return z
    weighted = z * multipliers.to(dtype=z.dtype, device=z.device).unsqueeze(-1)
    new_mean = weighted.mean()
    if mode == "No norm" or new_mean == 0:  # a zero mean cannot be restored by scaling
        return weighted
    return weighted * (z.mean() / new_mean)
