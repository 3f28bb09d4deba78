"""Export (ldm_layout) and load (diffusers converters) must be exact inverses."""

import pytest
import torch

from modules.devices import decide_policy
from modules.cmd_args import parse_args
from modules.sd_models.checkpoints import CheckpointInfo
from modules.sd_models.ldm_layout import text_model_state
from modules.sd_models.loader import load_model
from modules.sd_models.random_weights import write_checkpoint
from tests.helpers import TINY_ARCHITECTURES


@pytest.mark.parametrize("name", ["sd1", "sd1-inpaint", "sd2-v", "sdxl", "sdxl-refiner"])
def test_round_trip_keeps_every_weight(tmp_path, name):
    arch = TINY_ARCHITECTURES[name]
    path = tmp_path / f"{name}.safetensors"
    original = write_checkpoint(path, arch, tiny=True, seed=7)
    model = load_model(CheckpointInfo(path, path.name), decide_policy(parse_args([])))
    assert model.arch == arch
    pairs = [(original["unet"].state_dict(), model.unet.state_dict()),
             (original["vae"].state_dict(), model.vae.state_dict())]
    sources = [m for m in (original["text_encoder"], original["text_encoder_2"]) if m is not None]
    pairs += [(text_model_state(a), text_model_state(b)) for a, b in zip(sources, model.text_encoders)]
    for expected, loaded in pairs:
        for key, value in loaded.items():
            assert torch.equal(expected[key], value), key
    if arch.family == "sd2":  # the file's last block is dropped: SD2 conditions on the penultimate layer
        assert model.text_encoders[0].config.num_hidden_layers == original["text_encoder_2"].config.num_hidden_layers - 1
