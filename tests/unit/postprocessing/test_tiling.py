"""Tiled inference: tiles cover the image, align for pixel-unshuffle models, and blend
without seams (equal to the untiled result when the overlap covers the receptive field)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from modules.postprocessing.model_upscalers import run_image_model
from modules.postprocessing.spandrel_models import registry
from modules.postprocessing.tiling import tile_spans, upscale_tiled
from tests import image_models


@pytest.mark.parametrize("length, tile, overlap, multiple", [(150, 64, 16, 1), (130, 64, 16, 4), (65, 64, 8, 1),
                                                             (64, 64, 8, 1), (500, 192, 8, 2)])
def test_spans_cover_the_length_overlapping_and_aligned(length, tile, overlap, multiple):
    spans = tile_spans(length, tile, overlap, multiple)
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start - start > 0 and end - next_start >= overlap
        assert next_start % multiple == 0
    assert all(end - start <= tile + multiple for start, end in spans)


def test_tiled_equals_untiled_when_the_overlap_covers_the_receptive_field():
    model = image_models.compact(2)  # receptive field: 4 px, overlap/4 = 4 px
    image = torch.rand(1, 3, 130, 150, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model(image)
        tiled = upscale_tiled(model, image, 2, tile=64, overlap=16)
    assert tiled.shape == whole.shape == (1, 3, 260, 300)
    assert (tiled - whole).abs().max() < 1e-5


def test_a_deep_model_shows_no_seam_at_tile_borders():
    """ESRGAN's receptive field is wider than the overlap: tiles differ from the whole image
    a little, far less than hard tile borders do."""
    model = image_models.rrdbnet(4)
    with torch.no_grad():
        for module in model.modules():  # larger weights than the random init, so borders would show
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(3)
    x = torch.linspace(0, 1, 96)
    image = torch.stack([x[None, :].expand(80, 96), x[:80, None].expand(80, 96), torch.full((80, 96), 0.4)])[None]
    with torch.no_grad():
        whole = model(image)
        tiled = upscale_tiled(model, image, 4, tile=48, overlap=16)
        hard = upscale_tiled(model, image, 4, tile=48, overlap=0)
    # hard tile borders (no overlap) are where the error is; the cross-fade takes ~99% of it away
    assert (tiled - whole).abs().mean() < 0.05 * (hard - whole).abs().mean()
    assert (tiled - whole).abs().max() < 0.5 * (hard - whole).abs().max()


def test_run_image_model_tiled_matches_untiled_and_greyscale_models_work():
    descriptor = registry().load(image_models.compact(2).state_dict())
    source = Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    whole = np.asarray(run_image_model(descriptor, source, tile=0, overlap=0), dtype=np.int16)
    tiled = np.asarray(run_image_model(descriptor, source, tile=32, overlap=16), dtype=np.int16)
    assert whole.shape == (140, 180, 3) and np.abs(whole - tiled).max() <= 1
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    grey = registry().load(Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=2).state_dict())
    assert run_image_model(grey, source, tile=32, overlap=8).mode == "RGB"
