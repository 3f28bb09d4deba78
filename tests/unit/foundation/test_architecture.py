import pytest
import torch

from modules.sd_models.architecture import ModelArchitecture, UnsupportedModelError, detect_architecture
from modules.sd_models.loader import uses_v_prediction
from modules.sd_models.safe_load import read_safetensors_header
from tests.helpers import TINY_ARCHITECTURES


@pytest.mark.parametrize("name", list(TINY_ARCHITECTURES))
def test_every_architecture_is_detected_from_its_keys(tiny_checkpoints, name):
    shapes, metadata = read_safetensors_header(tiny_checkpoints[name])
    assert detect_architecture(shapes, metadata) == TINY_ARCHITECTURES[name]


def test_v_prediction_from_modelspec_metadata(tiny_checkpoints):
    shapes, _ = read_safetensors_header(tiny_checkpoints["sd2"])
    arch = detect_architecture(shapes, {"modelspec.prediction_type": "v"})
    assert arch == ModelArchitecture("sd2", prediction_type="v_prediction")
    assert arch.label == "SD2.x v-prediction"


def test_yaml_beside_the_checkpoint_overrides_detection(tiny_checkpoints):
    shapes, _ = read_safetensors_header(tiny_checkpoints["sd2-v"])
    yaml = {"model": {"params": {"parameterization": "eps"}}}
    assert detect_architecture(shapes, {}, yaml).prediction_type == "epsilon"
    yaml = {"model": {"params": {"parameterization": "v"}}}
    shapes, _ = read_safetensors_header(tiny_checkpoints["sd2"])
    assert detect_architecture(shapes, {}, yaml).prediction_type == "v_prediction"


def test_sd3_without_the_single_file_layout_or_vae_is_refused_with_a_clear_message():
    block = "model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias"
    with pytest.raises(UnsupportedModelError, match="sd3.safetensors: an SD3 MMDiT without the single-file layout"):
        detect_architecture({block: (9216,)}, filename="sd3.safetensors")
    mmdit_only = {block: (9216,), "model.diffusion_model.x_embedder.proj.weight": (1536, 16, 2, 2)}
    with pytest.raises(UnsupportedModelError, match="sd3.safetensors: SD3 checkpoint without its VAE"):
        detect_architecture(mmdit_only, filename="sd3.safetensors")


@pytest.mark.parametrize("extra,release", [((), "3 Medium"), ((".attn.ln_q.",), "3.5 Large"),
                                           ((".attn.ln_q.", ".x_block.attn2."), "3.5 Medium")])
def test_sd3_releases_are_told_apart_by_their_keys(extra, release):
    p = "model.diffusion_model."
    shapes = {p + "joint_blocks.0.context_block.adaLN_modulation.1.bias": (9216,),
              p + "x_embedder.proj.weight": (1536, 16, 2, 2), "first_stage_model.decoder.conv_in.weight": (1,),
              **{f"{p}joint_blocks.0.x_block{part}weight": (64,) for part in extra}}
    arch = detect_architecture(shapes, filename="x.safetensors")
    assert (arch.family, arch.prediction_type, arch.release, arch.label) == ("sd3", "flow", release, f"SD{release}")


def test_files_without_a_unet_are_explained():
    with pytest.raises(UnsupportedModelError, match="is it a LoRA, VAE or embedding"):
        detect_architecture({"lora_unet_down_blocks_0.lora_up.weight": (4, 4)}, filename="x.safetensors")


class FakeUNet(torch.nn.Module):
    """Mimics the behaviour A1111's SD2 v-check relies on."""

    def __init__(self, v_model: bool):
        super().__init__()
        self.v_model = v_model
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.config = type("C", (), {"in_channels": 4, "cross_attention_dim": 8})()

    @property
    def dtype(self):
        return torch.float32

    @property
    def device(self):
        return torch.device("cpu")

    def forward(self, x, t, encoder_hidden_states):
        out = -3 * x if self.v_model else x * 0.99
        return type("Out", (), {"sample": out})()


def test_behavioural_v_check_for_unmarked_sd2_files():
    assert uses_v_prediction(FakeUNet(v_model=True))
    assert not uses_v_prediction(FakeUNet(v_model=False))
