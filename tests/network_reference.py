"""The LyCORIS types' weight changes written out the long way (whole matrices, explicit
permutations, loops over blocks), to check modules.networks.lora_types against something
computed differently."""

import torch


def cayley(q_raw, alpha=None):
    """R = (I + Q)(I - Q)^-1 per block, Q the skew part, its norm capped at alpha * rows
    (rows = blocks * block size) when alpha > 0."""
    q = q_raw - q_raw.transpose(-1, -2)
    rows = q.shape[-3] * q.shape[-1]
    if alpha and q.norm() > alpha * rows:
        q = q * (alpha * rows / q.norm())
    eye = torch.eye(q.shape[-1])
    return torch.linalg.solve((eye - q).transpose(-1, -2), (eye + q).transpose(-1, -2)).transpose(-1, -2)


def oft_delta(weight, rotations):
    """W' = diag(R_1 … R_k)ᵀ W."""
    full = torch.block_diag(*rotations)
    return (full.T @ weight.flatten(1)).reshape(weight.shape) - weight


def boft_delta(weight, rotations):
    """W' = M_{m-1} … M_0 W with M_i = P_iᵀ diag(R_i) P_i, P_i interleaving runs of 2^i · b/2 rows."""
    rows, size = weight.shape[0], rotations.shape[-1]
    product = torch.eye(rows)
    for i, factor in enumerate(rotations):
        run = 2 ** i * size // 2
        order = torch.arange(rows).reshape(-1, 2, run).transpose(1, 2).flatten()
        permutation = torch.eye(rows)[order]
        product = permutation.T @ torch.block_diag(*factor) @ permutation @ product
    return (product @ weight.flatten(1)).reshape(weight.shape) - weight


def glora_delta(weight, a1, a2, b1, b2, alpha, bm=None):
    """Current LyCORIS layout: (W·(a1 a2) on the input channels + b1 b2) · alpha / rank."""
    mixed = torch.einsum("oi...,ij->oj...", weight, a1.flatten(1) @ a2.flatten(1))
    if bm is None:
        low_rank = (b1.flatten(1) @ b2.flatten(1)).reshape(weight.shape)
    else:
        low_rank = torch.einsum("abkl,oa,bi->oikl", bm, b1.flatten(1), b2.flatten(1))
    return (mixed + low_rank) * (alpha / a1.shape[1])


def old_glora_delta(weight, a1, a2, b1, b2, alpha):
    """Older LyCORIS layout (A1111's network_glora): (W a2 a1 + b2 b1) · alpha / rank."""
    flat = weight.flatten(1)
    return ((flat @ a2 @ a1 + b2 @ b1) * (alpha / a1.shape[0])).reshape(weight.shape)


def tucker_product(core, left, right):
    """[out, in, kh, kw] = Σ_ab core[a, b] · left[a, out] · right[b, in], one kernel position at a time
    (LoHa's hada_t, LoKr's lokr_t2, CP-LoCon's lora_mid)."""
    kh, kw = core.shape[2:]
    out = torch.empty(left.shape[1], right.shape[1], kh, kw)
    for k in range(kh):
        for l in range(kw):
            out[:, :, k, l] = left.T @ core[:, :, k, l] @ right
    return out


def loha_delta(shape, w1a, w1b, w2a, w2b, alpha, t1=None, t2=None):
    """(W1 ⊙ W2) · alpha / rank, each W = a b, or the Tucker product of core t with a and b."""
    def factor(a, b, t):
        return (a @ b if t is None else tucker_product(t, a, b)).reshape(shape)

    return factor(w1a, w1b, t1) * factor(w2a, w2b, t2) * (alpha / w1b.shape[0])


def kronecker(w1, w2):
    """w1 ⊗ w2 block by block: block (p, q) is w1[p, q] · w2 (w2 may carry a kernel)."""
    rows, columns = w2.shape[:2]
    out = torch.empty(w1.shape[0] * rows, w1.shape[1] * columns, *w2.shape[2:])
    for p in range(w1.shape[0]):
        for q in range(w1.shape[1]):
            out[p * rows:(p + 1) * rows, q * columns:(q + 1) * columns] = w1[p, q] * w2
    return out


def ia3_delta(weight, scale, on_input=False):
    """(IA)³: diag(s) W, or W diag(s) with on_input (a linear weight then)."""
    flat = weight.flatten(1)
    scaled = flat @ torch.diag(scale) if on_input else torch.diag(scale) @ flat
    return scaled.reshape(weight.shape)


def dora_delta(weight, delta, magnitude):
    """DoRA, kohya/LyCORIS layout (magnitude [1, in, …]): each input column of W + ΔW rescaled
    to its stored length."""
    merged = weight + delta
    lengths = torch.stack([merged[:, i].norm() for i in range(merged.shape[1])])
    ratio = (magnitude.flatten() / lengths).reshape(1, -1, *[1] * (weight.ndim - 2))
    return merged * ratio - weight
