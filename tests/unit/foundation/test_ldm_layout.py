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


SD1_TINY_YAML = """
model:
  params:
    linear_start: 0.00085
    linear_end: 0.012
    timesteps: 1000
    scale_factor: 0.5
    unet_config:
      params:
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [1, 2]
        num_res_blocks: 1
        channel_mult: [1, 2]
        num_heads: 8
        transformer_depth: 1
        context_dim: 64
        use_linear_in_transformer: false
    first_stage_config:
      params:
        embed_dim: 4
        ddconfig: {double_z: true, z_channels: 4, resolution: 64, in_channels: 3, out_ch: 3, ch: 32,
                   ch_mult: [1, 1, 2, 2], num_res_blocks: 1, attn_resolutions: []}
"""


def test_a1111_yaml_beside_the_checkpoint_builds_the_model(tmp_path):
    path = tmp_path / "custom.safetensors"
    original = write_checkpoint(path, TINY_ARCHITECTURES["sd1"], tiny=True, seed=3)
    path.with_suffix(".yaml").write_text(SD1_TINY_YAML)
    info = CheckpointInfo(path, path.name)
    assert info.config_path == path.with_suffix(".yaml")
    model = load_model(info, decide_policy(parse_args([])))
    assert model.scaling_factor == 0.5  # from the yaml, not the family default
    for key, value in model.unet.state_dict().items():
        assert torch.equal(original["unet"].state_dict()[key], value), key


def test_a_yaml_that_does_not_fit_is_a_clear_error(tmp_path):
    from modules.sd_models.safe_load import CheckpointLoadError

    path = tmp_path / "odd.safetensors"
    write_checkpoint(path, TINY_ARCHITECTURES["sd1"], tiny=True)
    path.with_suffix(".yaml").write_text(SD1_TINY_YAML.replace("channel_mult: [1, 2]", "channel_mult: [1, 2, 4]"))
    with pytest.raises(CheckpointLoadError, match="odd.safetensors"):
        load_model(CheckpointInfo(path, path.name), decide_policy(parse_args([])))
