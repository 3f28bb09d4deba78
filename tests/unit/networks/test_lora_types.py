"""Each LoRA-family type against a direct computation of its formula."""

import pytest
import torch

from modules.networks.lora_types import (
    BOFT,
    IA3,
    OFT,
    FullDiff,
    GLoRA,
    LoHa,
    LoKr,
    LoraUpDown,
    NormDiff,
    UnsupportedNetworkType,
    parse_module,
    with_dyn_dim,
)
from tests.network_reference import boft_delta, cayley, glora_delta, oft_delta, old_glora_delta

g = torch.Generator().manual_seed(0)


def rand(*shape):
    return torch.randn(*shape, generator=g)


def test_linear_lora_is_scaled_up_times_down():
    weight, up, down = rand(6, 5), rand(6, 2), rand(2, 5)
    module = parse_module({"lora_up.weight": up, "lora_down.weight": down, "alpha": torch.tensor(1.0)})
    assert isinstance(module, LoraUpDown)
    assert torch.allclose(module.deltas(weight, None)["weight"], 0.5 * up @ down)


def test_conv_locon_and_linear_lora_on_a_1x1_conv():
    weight, up, down = rand(6, 4, 3, 3), rand(6, 2, 1, 1), rand(2, 4, 3, 3)
    want = torch.einsum("or,rikl->oikl", up[:, :, 0, 0], down)
    assert torch.allclose(LoraUpDown(up, down).deltas(weight, None)["weight"], want, atol=1e-6)
    pointwise, up, down = rand(6, 4, 1, 1), rand(6, 2), rand(2, 4)
    assert torch.allclose(LoraUpDown(up, down).deltas(pointwise, None)["weight"], (up @ down)[:, :, None, None])


def test_cp_locon_with_mid_equals_its_tucker_product():
    weight, up, down, mid = rand(6, 4, 3, 3), rand(6, 2, 1, 1), rand(2, 4, 1, 1), rand(2, 2, 3, 3)
    want = torch.einsum("abkl,oa,bi->oikl", mid, up[:, :, 0, 0], down[:, :, 0, 0]) * (3.0 / 2)
    got = LoraUpDown(up, down, mid, torch.tensor(3.0)).deltas(weight, None)["weight"]
    assert torch.allclose(got, want, atol=1e-5)


def test_dora_rescales_the_merged_weight_per_input_column():
    weight, up, down = rand(6, 5), rand(6, 2), rand(2, 5)
    magnitude = rand(1, 5).abs()
    merged = weight + up @ down
    want = merged * (magnitude / merged.norm(dim=0, keepdim=True)) - weight
    got = LoraUpDown(up, down, dora_scale=magnitude).deltas(weight, None)["weight"]
    assert torch.allclose(got, want, atol=1e-5)


def test_loha_is_the_hadamard_product_of_two_low_rank_products():
    weight = rand(6, 5)
    w1a, w1b, w2a, w2b = rand(6, 3), rand(3, 5), rand(6, 3), rand(3, 5)
    module = parse_module({"hada_w1_a": w1a, "hada_w1_b": w1b, "hada_w2_a": w2a, "hada_w2_b": w2b,
                           "alpha": torch.tensor(1.5)})
    assert isinstance(module, LoHa)
    assert torch.allclose(module.deltas(weight, None)["weight"], (w1a @ w1b) * (w2a @ w2b) * 0.5, atol=1e-5)


def test_lokr_is_a_kronecker_product_linear_and_conv():
    weight, w1, w2a, w2b = rand(6, 8), rand(2, 2), rand(3, 1), rand(1, 4)
    module = parse_module({"lokr_w1": w1, "lokr_w2_a": w2a, "lokr_w2_b": w2b, "alpha": torch.tensor(2.0)})
    assert isinstance(module, LoKr)
    assert torch.allclose(module.deltas(weight, None)["weight"], torch.kron(w1, w2a @ w2b) * 2.0, atol=1e-6)
    conv, w2 = rand(6, 8, 3, 3), rand(3, 4, 3, 3)
    got = LoKr(w1=w1, w2=w2).deltas(conv, None)["weight"]
    assert torch.allclose(got, torch.kron(w1[:, :, None, None], w2), atol=1e-6)
    assert torch.allclose(got[3:6, 0:4], w1[1, 0] * w2)  # block (1, 0) of the Kronecker product


def test_ia3_full_diff_and_norm():
    weight, bias, scale = rand(4, 3), rand(4), rand(4)
    ia3 = parse_module({"weight": scale, "on_input": torch.tensor(False)})
    assert isinstance(ia3, IA3) and torch.allclose(ia3.deltas(weight, None)["weight"], weight * scale[:, None])
    diff, diff_b = rand(4, 3), rand(4)
    full = parse_module({"diff": diff, "diff_b": diff_b})
    assert isinstance(full, FullDiff)
    assert all(torch.equal(a, b) for a, b in zip(full.deltas(weight, bias).values(), (diff, diff_b)))
    norm = parse_module({"w_norm": rand(4), "b_norm": rand(4)})
    assert isinstance(norm, NormDiff) and set(norm.deltas(rand(4), rand(4))) == {"weight", "bias"}


def test_shape_mismatch_and_unsupported_types_are_clear_errors():
    with pytest.raises(ValueError, match=r"LoRA update has shape \(6, 5\), the weight \(7, 5\)"):
        LoraUpDown(rand(6, 2), rand(2, 5)).deltas(rand(7, 5), None)
    with pytest.raises(UnsupportedNetworkType, match="OFT modules with oft_diag and rescale"):
        parse_module({"oft_diag": rand(2, 3, 3), "rescale": rand(2, 3, 1)})
    with pytest.raises(UnsupportedNetworkType, match="not square"):
        parse_module({"oft_blocks": rand(2, 3, 4)})
    with pytest.raises(UnsupportedNetworkType, match="unknown network type"):
        parse_module({"lora_up.weight": rand(2, 2)})
    with pytest.raises(ValueError, match="bias update but the module has no bias"):
        FullDiff(rand(2, 2), rand(2)).deltas(rand(2, 2), None)


def test_dyn_dim_uses_the_first_ranks_with_the_full_rank_scale():
    weight, up, down = rand(6, 5), rand(6, 4), rand(4, 5)
    module = with_dyn_dim(parse_module({"lora_up.weight": up, "lora_down.weight": down,
                                        "alpha": torch.tensor(2.0)}), 3)
    assert torch.allclose(module.deltas(weight, None)["weight"], up[:, :3] @ down[:3] * (2.0 / 4), atol=1e-6)
    conv, up4, down4 = rand(6, 5, 3, 3), rand(6, 4, 1, 1), rand(4, 5, 3, 3)
    got = with_dyn_dim(LoraUpDown(up4, down4), 2).deltas(conv, None)["weight"]
    want = torch.einsum("or,rikl->oikl", up4[:, :2, 0, 0], down4[:2])
    assert torch.allclose(got, want, atol=1e-6)
    loha = LoHa(rand(6, 2), rand(2, 5), rand(6, 2), rand(2, 5))
    assert with_dyn_dim(loha, 1) is loha  # A1111 limits plain LoRA only


@pytest.mark.parametrize("alpha, binds", [(1e-3, True), (10.0, False)])
def test_kohya_oft_rotates_row_blocks_by_the_cayley_transform(alpha, binds):
    weight, blocks = rand(8, 5), rand(2, 4, 4)
    module = parse_module({"oft_blocks": blocks, "alpha": torch.tensor(alpha)})
    assert isinstance(module, OFT)
    rotations = cayley(blocks, alpha)
    assert torch.allclose(rotations[0] @ rotations[0].T, torch.eye(4), atol=1e-5)  # orthogonal
    skew = blocks - blocks.transpose(1, 2)
    assert (skew.norm() > alpha * 8) == binds  # both branches of the norm cap are exercised
    got = module.deltas(weight, None)["weight"]
    assert torch.allclose(got, oft_delta(weight, rotations), atol=1e-5)
    unconstrained = parse_module({"oft_blocks": blocks}).deltas(weight, None)["weight"]
    assert torch.allclose(unconstrained, oft_delta(weight, cayley(blocks)), atol=1e-5)


def test_lycoris_oft_diag_is_the_rotation_itself_and_works_on_convolutions():
    conv, rotations = rand(6, 4, 3, 3), rand(3, 2, 2)
    module = parse_module({"oft_diag": rotations})
    assert isinstance(module, OFT) and module.holds_rotation
    assert torch.allclose(module.deltas(conv, None)["weight"], oft_delta(conv, rotations), atol=1e-5)


def test_oft_rescale_scales_each_output_row():
    weight, blocks, rescale = rand(4, 3), rand(2, 2, 2), rand(4, 1)
    got = parse_module({"oft_blocks": blocks, "rescale": rescale}).deltas(weight, None)["weight"]
    rotated = oft_delta(weight, cayley(blocks)) + weight
    assert torch.allclose(got, rescale * rotated - weight, atol=1e-5)


def test_boft_is_the_product_of_interleaved_block_rotations():
    weight, blocks = rand(16, 3), rand(3, 4, 4, 4)  # 3 factors of 4 blocks of 4 rows
    module = parse_module({"oft_blocks": blocks, "alpha": torch.tensor(0.0)})
    assert isinstance(module, BOFT)
    got = module.deltas(weight, None)["weight"]
    assert torch.allclose(got, boft_delta(weight, cayley(blocks)), atol=1e-4)
    merged = got + weight  # orthogonal: every column keeps its length
    assert torch.allclose(merged.norm(dim=0), weight.norm(dim=0), atol=1e-4)
    conv = rand(16, 2, 3, 3)
    got = BOFT(blocks, torch.tensor(0.01)).deltas(conv, None)["weight"]
    assert torch.allclose(got, boft_delta(conv, cayley(blocks, 0.01)), atol=1e-4)


def test_glora_current_and_older_layouts():
    weight, alpha = rand(6, 5), torch.tensor(1.5)
    a1, a2, b1, b2 = rand(5, 2), rand(2, 5), rand(6, 2), rand(2, 5)
    module = parse_module({"a1.weight": a1, "a2.weight": a2, "b1.weight": b1, "b2.weight": b2, "alpha": alpha})
    assert isinstance(module, GLoRA)
    assert torch.allclose(module.deltas(weight, None)["weight"], glora_delta(weight, a1, a2, b1, b2, 1.5), atol=1e-5)
    old = GLoRA(a1=rand(2, 5), a2=rand(5, 2), b1=rand(2, 5), b2=rand(6, 2), alpha=alpha)
    want = old_glora_delta(weight, old.a1, old.a2, old.b1, old.b2, 1.5)
    assert torch.allclose(old.deltas(weight, None)["weight"], want, atol=1e-5)


def test_glora_on_a_convolution_with_a_tucker_core():
    conv = rand(6, 4, 3, 3)
    a1, a2, b1, b2, bm = rand(4, 2, 1, 1), rand(2, 4, 1, 1), rand(6, 2, 1, 1), rand(2, 4, 1, 1), rand(2, 2, 3, 3)
    got = GLoRA(a1, a2, b1, b2, bm, torch.tensor(2.0)).deltas(conv, None)["weight"]
    assert torch.allclose(got, glora_delta(conv, a1, a2, b1, b2, 2.0, bm), atol=1e-5)
    full_kernel_b2 = rand(2, 4, 3, 3)  # no core: b2 carries the kernel
    got = GLoRA(a1, a2, b1, full_kernel_b2, alpha=torch.tensor(1.0)).deltas(conv, None)["weight"]
    assert torch.allclose(got, glora_delta(conv, a1, a2, b1, full_kernel_b2, 1.0), atol=1e-5)


@pytest.mark.parametrize("module, message", [
    (OFT(rand(3, 4, 4)), "OFT has 3 blocks of 4 rows, the weight 8 rows"),
    (BOFT(rand(3, 2, 4, 4)), "BOFT with 3 factors of 2 blocks of 4 rows does not fit a weight of 8 rows"),
    (GLoRA(rand(3, 2), rand(2, 3), rand(8, 2), rand(2, 3)), r"GLoRA factors a1 \(3, 2\)"),
    (OFT(rand(2, 4, 4), rescale=rand(3)), "rescale has 3 values, the weight 8 rows"),
])
def test_oft_boft_glora_that_do_not_fit_are_clear_errors(module, message):
    with pytest.raises(ValueError, match=message):
        module.deltas(rand(8, 5), None)
