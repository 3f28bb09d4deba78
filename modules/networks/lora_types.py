"""The LoRA family's weight updates, one small class per type (LyCORIS / kohya conventions).

Each `deltas(weight, bias)` returns the fp32 change to a module's parameters for multiplier 1,
already scaled by alpha / rank; the patcher multiplies by the prompt weight and adds (so the
rotation types, OFT and BOFT, blend linearly between the original and the rotated weight, as
A1111 does for OFT). `parse_module(params)` picks the type from a module's parameter names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import torch

Tensor = torch.Tensor


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
    norm = torch.linalg.vector_norm(merged, dim=dims, keepdim=True)  # Tensor.norm refuses 3 dims (convolutions)
    return merged * (dora_scale.reshape(norm.shape) / norm) - weight


@dataclass
class LoraUpDown:
    """LoRA / LoCon: ΔW = up @ down (convolutions flattened), Tucker-mid for CP LoCon.

    `dyn_dim` (the prompt's `dyn=`, for DyLoRA files) keeps only the first ranks of up and down,
    the scale staying alpha / full rank, as A1111's rebuild_conventional (CP files ignore it)."""

    up: Tensor
    down: Tensor
    mid: Tensor | None = None
    alpha: Tensor | None = None
    dora_scale: Tensor | None = None
    dyn_dim: int | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        up, down = _on(self.up, weight).flatten(1), _on(self.down, weight).flatten(1)
        rank = down.shape[0]
        if self.mid is not None:
            delta = _tucker(_on(self.mid, weight), up.T, down)
        elif self.dyn_dim is not None:
            delta = up[:, : self.dyn_dim] @ down[: self.dyn_dim]
        else:
            delta = up @ down
        delta = _fit(delta, weight, "LoRA") * _scale(self.alpha, rank)
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
        # kron needs contiguous factors; the Tucker product (einsum) is not
        product = torch.kron(w1.contiguous(), w2.contiguous())
        return {"weight": _fit(product, weight, "LoKr") * _scale(self.alpha, rank)}


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


@dataclass
class OFT:
    """OFT: W' = R W with R block-diagonal and orthogonal, each block turning a group of output
    rows (A1111 network_oft: block k of W' = R_kᵀ · block k of W).

    kohya's and LyCORIS' `oft_blocks` [blocks, size, size] hold Q: R is the Cayley transform of
    its skew part, that part's norm limited to alpha · out_dim when alpha > 0. LyCORIS' early
    unconstrained `oft_diag` holds R itself. LyCORIS' `rescale` [out, 1…] scales W' per row."""

    blocks: Tensor
    holds_rotation: bool = False  # oft_diag
    alpha: Tensor | None = None
    rescale: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        count, size = self.blocks.shape[:2]
        if count * size != weight.shape[0]:
            raise ValueError(f"OFT has {count} blocks of {size} rows, the weight {weight.shape[0]} rows")
        blocks = _on(self.blocks, weight)
        rotation = blocks if self.holds_rotation else _cayley(blocks, _constraint(self.alpha, weight))
        grouped = weight.float().unflatten(0, (count, size))
        rotated = torch.einsum("k n m, k n ... -> k m ...", rotation, grouped).flatten(0, 1)
        return {"weight": _rescaled(rotated, self.rescale, weight) - weight.float()}


@dataclass
class BOFT:
    """Butterfly OFT (LyCORIS boft): `oft_blocks` [m, blocks, b, b], m orthogonal factors applied
    in turn to W's output rows. Before factor i the rows are interleaved in pairs of runs of
    2^i · b/2 ("(c g k) -> (c k g)", g = 2), turned block by block (R x), and put back; so
    rows far apart mix after a few factors. Cayley transform and alpha as for OFT."""

    blocks: Tensor
    alpha: Tensor | None = None
    rescale: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        factors, count, size = self.blocks.shape[:3]
        rows = weight.shape[0]
        if count * size != rows or size % 2 or rows % (2 ** (factors - 1) * size):
            raise ValueError(f"BOFT with {factors} factors of {count} blocks of {size} rows "
                             f"does not fit a weight of {rows} rows")
        rotations = _cayley(_on(self.blocks, weight), _constraint(self.alpha, weight))
        x = weight.float()
        for i, rotation in enumerate(rotations):
            run = 2 ** i * size // 2
            x = x.unflatten(0, (-1, 2, run)).transpose(1, 2).flatten(0, 2)  # interleave
            x = torch.einsum("d i j, d j ... -> d i ...", rotation, x.unflatten(0, (count, size))).flatten(0, 1)
            x = x.unflatten(0, (-1, run, 2)).transpose(1, 2).flatten(0, 2)  # and back
        return {"weight": _rescaled(x, self.rescale, weight) - weight.float()}


def _constraint(alpha: Tensor | None, weight: Tensor) -> float | None:
    """OFT's alpha bounds the norm of Q at alpha · out_dim; none without a positive alpha."""
    return float(alpha) * weight.shape[0] if alpha is not None and float(alpha) > 0 else None


def _cayley(blocks: Tensor, constraint: float | None) -> Tensor:
    """Orthogonal R = (I + Q)(I - Q)⁻¹ from the skew part Q of each block (last two dims)."""
    q = blocks - blocks.transpose(-1, -2)
    if constraint is not None:
        norm = q.norm()
        if norm > constraint:
            q = q * (constraint / norm)
    eye = torch.eye(q.shape[-1], device=q.device, dtype=q.dtype)
    return (eye + q) @ torch.linalg.inv(eye - q)


def _rescaled(rotated: Tensor, rescale: Tensor | None, weight: Tensor) -> Tensor:
    if rescale is None:
        return rotated
    if rescale.numel() != weight.shape[0]:
        raise ValueError(f"rescale has {rescale.numel()} values, the weight {weight.shape[0]} rows")
    return rotated * _on(rescale, weight).reshape(-1, *[1] * (weight.ndim - 1))


@dataclass
class GLoRA:
    """GLoRA: ΔW = (W·A + B) · alpha / rank, A [in, in] and B low-rank (A acts on input channels).

    Two layouts: LyCORIS' current one, a1 [in, r], a2 [r, in], b1 [out, r], b2 [r, in·k] (A = a1 a2,
    B = b1 b2, or a Tucker core `bm` between them for convolutions), and the older one A1111 reads,
    a1 [r, in], a2 [in, r], b1 [r, in], b2 [out, r] (A = a2 a1, B = b2 b1). The shapes tell which."""

    a1: Tensor
    a2: Tensor
    b1: Tensor
    b2: Tensor
    bm: Tensor | None = None
    alpha: Tensor | None = None

    def deltas(self, weight: Tensor, bias: Tensor | None) -> dict[str, Tensor]:
        a1, a2 = _on(self.a1, weight).flatten(1), _on(self.a2, weight).flatten(1)
        b1, b2 = _on(self.b1, weight).flatten(1), _on(self.b2, weight).flatten(1)
        rows, inputs = weight.shape[:2]
        if _chain(a1, a2, inputs, inputs) and _chain(b1, b2, rows, None):  # current LyCORIS
            rank, mix = a1.shape[1], a1 @ a2
            if self.bm is not None:
                bm = _on(self.bm, weight)
                if bm.shape[:2] != (b1.shape[1], b2.shape[0]):
                    raise ValueError(f"GLoRA core bm {tuple(bm.shape)} does not fit b1 and b2")
                low_rank = _tucker(bm, b1.T, b2)
            else:
                low_rank = b1 @ b2
        elif _chain(a2, a1, inputs, inputs) and _chain(b2, b1, rows, None):  # older layout
            rank, mix, low_rank = a1.shape[0], a2 @ a1, b2 @ b1
        else:
            raise ValueError(f"GLoRA factors a1 {tuple(self.a1.shape)}, a2 {tuple(self.a2.shape)}, "
                             f"b1 {tuple(self.b1.shape)}, b2 {tuple(self.b2.shape)} do not fit the weight "
                             f"{tuple(weight.shape)}")
        through_weight = torch.einsum("o i ..., i j -> o j ...", weight.float(), mix)
        delta = through_weight + _fit(low_rank, weight, "GLoRA")
        return {"weight": delta * _scale(self.alpha, rank)}


def _chain(left: Tensor, right: Tensor, rows: int, columns: int | None) -> bool:
    """Whether left @ right is defined and has `rows` rows (and `columns` columns when given)."""
    fits = left.shape[0] == rows and left.shape[1] == right.shape[0]
    return fits and (columns is None or right.shape[1] == columns)


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
    if "oft_blocks" in params:
        return _orthogonal(params["oft_blocks"], p("alpha"), p("rescale"))
    if "oft_diag" in params:
        if "rescale" in params:  # early LyCORIS scaled R itself, in a shape of its own
            raise UnsupportedNetworkType("OFT modules with oft_diag and rescale are not supported")
        return OFT(params["oft_diag"], holds_rotation=True)
    if all(f"{k}.weight" in params for k in ("a1", "a2", "b1", "b2")):
        return GLoRA(params["a1.weight"], params["a2.weight"], params["b1.weight"], params["b2.weight"],
                     p("bm.weight"), p("alpha"))
    raise UnsupportedNetworkType(f"unknown network type with parameters {sorted(params)}")


def _orthogonal(blocks: Tensor, alpha: Tensor | None, rescale: Tensor | None) -> NetworkModule:
    if blocks.ndim in (3, 4) and blocks.shape[-1] != blocks.shape[-2]:
        raise UnsupportedNetworkType(f"oft_blocks of shape {tuple(blocks.shape)}: the blocks are not square")
    if blocks.ndim == 3:
        return OFT(blocks, alpha=alpha, rescale=rescale)
    if blocks.ndim == 4:
        return BOFT(blocks, alpha, rescale)
    raise UnsupportedNetworkType(f"oft_blocks of shape {tuple(blocks.shape)} (OFT needs 3 dims, BOFT 4)")


def with_dyn_dim(module: NetworkModule, dyn_dim: int | None) -> NetworkModule:
    """The module limited to the first `dyn_dim` ranks (prompt `dyn=`): plain LoRA only, as A1111."""
    if dyn_dim is None or not isinstance(module, LoraUpDown):
        return module
    return replace(module, dyn_dim=dyn_dim)
