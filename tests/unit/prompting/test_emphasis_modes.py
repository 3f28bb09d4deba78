import pytest
import torch

from modules.prompting import EMPHASIS_MODES, apply_emphasis


def test_modes_match_a1111_option_names():
    assert list(EMPHASIS_MODES) == ["None", "Ignore", "Original", "No norm"]


def test_original_scales_tokens_then_restores_the_batch_mean():
    z = torch.tensor([[[1.0, 3.0], [2.0, 2.0]]])
    multipliers = torch.tensor([[2.0, 1.0]])
    weighted = torch.tensor([[[2.0, 6.0], [2.0, 2.0]]])
    torch.testing.assert_close(apply_emphasis(z, multipliers, "No norm"), weighted)
    torch.testing.assert_close(apply_emphasis(z, multipliers, "Original"), weighted * (2.0 / 3.0))
    assert apply_emphasis(z, multipliers, "Ignore") is z


def test_zero_mean_output_is_not_turned_into_nan():
    z = torch.tensor([[[1.0, -1.0], [2.0, -2.0]]])
    result = apply_emphasis(z, torch.tensor([[1.1, 1.0]]), "Original")
    assert torch.isfinite(result).all()


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="emphasis"):
        apply_emphasis(torch.zeros(1, 1, 1), torch.ones(1, 1), "Strong")
