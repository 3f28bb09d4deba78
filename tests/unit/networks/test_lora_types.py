"""Each LoRA-family type against a direct computation of its formula."""

import pytest
import torch

from modules.networks.lora_types import (
    IA3,
    FullDiff,
    LoHa,
    LoKr,
    LoraUpDown,
    NormDiff,
    UnsupportedNetworkType,
    parse_module,
)

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
    with pytest.raises(UnsupportedNetworkType, match="OFT modules are not supported"):
        parse_module({"oft_blocks": rand(2, 3, 3)})
    with pytest.raises(UnsupportedNetworkType, match="unknown network type"):
        parse_module({"lora_up.weight": rand(2, 2)})
    with pytest.raises(ValueError, match="bias update but the module has no bias"):
        FullDiff(rand(2, 2), rand(2)).deltas(rand(2, 2), None)
