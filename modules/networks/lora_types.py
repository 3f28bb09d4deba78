"""The LoRA family's weight updates, one small class per type (LyCORIS / kohya conventions).

Each `deltas(weight, bias)` returns the fp32 change to a module's parameters for multiplier 1,
already scaled by alpha / rank; the patcher multiplies by the prompt weight and adds.
`parse_module(params)` picks the type from a module's parameter names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

Tensor = torch.Tensor

# Parameter names that mark a type this module does not implement.
UNSUPPORTED_MARKERS = {"oft_blocks": "OFT", "oft_diag": "OFT", "oft_R": "BOFT", "a1.weight": "GLoRA"}


class UnsupportedNetworkType(ValueError):
    """A module whose parameters belong to no implemented type; the message names the type."""


class NetworkModule(Protocol):
    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]: ...


def _on(tensor: Tensor, weight: Tensor) -> Tensor:
    """A file's tensor in fp32 on the weight's device (the update is computed where the weight is)."""
    return tensor.to(device=weight.device, dtype=torch.float32)


def _scale(alpha: Tensor | None, rank: int | None) -> float:
    return float(alpha) / rank if alpha is not None and rank else 1.0


def _fit(delta: Tensor, weight: Tensor, what: str) -> Tensor:
    """A delta reshaped to the weight (a linear LoRA on a 1x1 conv has the same numbers)."""
    if delta.numel() != weight.numel():
        raise ValueError(f"{what} update has shape {tuple(delta.shape)}, the weight {tuple(weight.shape)}")
    return delta.reshape(weight.shape)


def _tucker(core: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """[out, in, kh, kw] from a Tucker core [r, r, kh, kw] and factors left [r, out], right [r, in]
    (LyCORIS make_weight_cp)."""
    return torch.einsum("i j k l, i p, j r -> p r k l", core, left.flatten(1), right.flatten(1))


def _weight_decompose(weight: Tensor, delta: Tensor, dora_scale: Tensor) -> Tensor:
    """DoRA: rescale W + ΔW to the stored magnitude (per input column when dora_scale is
    [1, in, …] as LyCORIS/kohya write it, per output row when it is [out, 1, …])."""
    merged = weight + delta
    per_output = dora_scale.shape[0] == weight.shape[0] and weight.shape[0] != 1
    dims = [d for d in range(weight.ndim) if d != (0 if per_output else 1)]
    norm = merged.norm(dim=dims, keepdim=True)
    return merged * (dora_scale.reshape(norm.shape) / norm) - weight


@dataclass
class LoraUpDown:
    """LoRA / LoCon: ΔW = up @ down (convolutions flattened), Tucker-mid for CP LoCon."""

    up: Tensor
    down: Tensor
    mid: Tensor | None = None
    alpha: Tensor | None = None
    dora_scale: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        up, down = _on(self.up, weight), _on(self.down, weight)
        if self.mid is not None:
            delta = _tucker(_on(self.mid, weight), up.flatten(1).T, down.flatten(1))
        else:
            delta = up.flatten(1) @ down.flatten(1)
        delta = _fit(delta, weight, "LoRA") * _scale(self.alpha, down.shape[0])
        if self.dora_scale is not None:
            delta = _weight_decompose(weight.float(), delta, _on(self.dora_scale, weight))
        return {"weight": delta}


@dataclass
class LoHa:
    """LoHa: ΔW = (w1a @ w1b) ⊙ (w2a @ w2b), Tucker cores t1/t2 for convolutions."""

    w1a: Tensor
    w1b: Tensor
    w2a: Tensor
    w2b: Tensor
    t1: Tensor | None = None
    t2: Tensor | None = None
    alpha: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        def product(a: Tensor, b: Tensor, t: Tensor | None) -> Tensor:
            a, b = _on(a, weight), _on(b, weight)
            return _tucker(_on(t, weight), a, b) if t is not None else a.flatten(1) @ b.flatten(1)

        delta = _fit(product(self.w1a, self.w1b, self.t1), weight, "LoHa") * _fit(
            product(self.w2a, self.w2b, self.t2), weight, "LoHa")
        return {"weight": delta * _scale(self.alpha, self.w1b.shape[0])}


@dataclass
class LoKr:
    """LoKr: ΔW = w1 ⊗ w2 (Kronecker), each factor full or a low-rank product."""

    w1: Tensor | None = None
    w1a: Tensor | None = None
    w1b: Tensor | None = None
    w2: Tensor | None = None
    w2a: Tensor | None = None
    w2b: Tensor | None = None
    t2: Tensor | None = None
    alpha: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        w1 = _on(self.w1, weight) if self.w1 is not None else _on(self.w1a, weight) @ _on(self.w1b, weight)
        if self.w2 is not None:
            w2 = _on(self.w2, weight)
        elif self.t2 is not None:
            w2 = _tucker(_on(self.t2, weight), _on(self.w2a, weight), _on(self.w2b, weight))
        else:
            w2 = _on(self.w2a, weight) @ _on(self.w2b, weight).flatten(1)
        if weight.ndim == 4:  # w2 carries the kernel: [out/o1, in/i1, kh, kw]
            shape = (weight.shape[0] // w1.shape[0], weight.shape[1] // w1.shape[1], *weight.shape[2:])
            if w2.numel() != torch.Size(shape).numel():
                raise ValueError(f"LoKr factor w2 has shape {tuple(w2.shape)}, the weight needs {shape}")
            w2, w1 = w2.reshape(shape), w1[:, :, None, None]
        rank = self.w1b.shape[0] if self.w1b is not None else self.w2b.shape[0] if self.w2b is not None else None
        return {"weight": _fit(torch.kron(w1, w2), weight, "LoKr") * _scale(self.alpha, rank)}


@dataclass
class IA3:
    """(IA)³: scales each output row (or input column with on_input) of W by `w`."""

    w: Tensor
    on_input: bool = False

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        w = _on(self.w, weight).flatten()
        shape = [1, -1] if self.on_input else [-1, 1]
        return {"weight": weight.float() * w.reshape(*shape, *[1] * (weight.ndim - 2))}


@dataclass
class FullDiff:
    """A stored difference for the weight (and bias)."""

    diff: Tensor
    diff_b: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        out = {"weight": _fit(_on(self.diff, weight), weight, "full diff")}
        if self.diff_b is not None:
            out["bias"] = _bias(self.diff_b, bias, "full diff")
        return out


@dataclass
class NormDiff:
    """Differences for a LayerNorm / GroupNorm's weight and bias."""

    w_norm: Tensor
    b_norm: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        out = {"weight": _fit(_on(self.w_norm, weight), weight, "norm")}
        if self.b_norm is not None:
            out["bias"] = _bias(self.b_norm, bias, "norm")
        return out


def _bias(delta: Tensor, bias: Tensor | None, what: str) -> Tensor:
    if bias is None:
        raise ValueError(f"{what} has a bias update but the module has no bias")
    return _fit(_on(delta, bias), bias, f"{what} bias")


def parse_module(params: dict[str, Tensor]) -> NetworkModule:
    """The network module for one target's parameters (names without the module prefix)."""
    p = params.get
    if "lora_up.weight" in params and "lora_down.weight" in params:
        return LoraUpDown(params["lora_up.weight"], params["lora_down.weight"], p("lora_mid.weight"),
                          p("alpha"), p("dora_scale"))
    if all(k in params for k in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")):
        return LoHa(params["hada_w1_a"], params["hada_w1_b"], params["hada_w2_a"], params["hada_w2_b"],
                    p("hada_t1"), p("hada_t2"), p("alpha"))
    has_w1 = "lokr_w1" in params or ("lokr_w1_a" in params and "lokr_w1_b" in params)
    has_w2 = "lokr_w2" in params or ("lokr_w2_a" in params and "lokr_w2_b" in params)
    if has_w1 and has_w2:
        return LoKr(p("lokr_w1"), p("lokr_w1_a"), p("lokr_w1_b"), p("lokr_w2"), p("lokr_w2_a"), p("lokr_w2_b"),
                    p("lokr_t2"), p("alpha"))
    if "diff" in params:
        return FullDiff(params["diff"], p("diff_b"))
    if "w_norm" in params:
        return NormDiff(params["w_norm"], p("b_norm"))
    if "weight" in params and "on_input" in params:
        return IA3(params["weight"], bool(params["on_input"].flatten()[0].item()))
    for marker, label in UNSUPPORTED_MARKERS.items():
        if marker in params:
            raise UnsupportedNetworkType(f"{label} modules are not supported")
    raise UnsupportedNetworkType(f"unknown network type with parameters {sorted(params)}")
