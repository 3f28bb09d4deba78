import pytest
import safetensors.torch
import torch

from modules.networks import parse_lora_state, read_lora_file
from modules.networks.lora_keys import normalize_module_name, split_key
from modules.networks.lora_types import LoraUpDown
from modules.sd_models.safe_load import UnsafeCheckpointError


@pytest.mark.parametrize("key, module, param", [
    ("lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", "lora_unet_mid_block_attentions_0_proj_in",
     "lora_down.weight"),
    ("lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha", "lora_te1_text_model_encoder_layers_0_mlp_fc1", "alpha"),
    ("unet.down_blocks.0.attentions.0.proj_in.lora_B.weight", "unet.down_blocks.0.attentions.0.proj_in",
     "lora_up.weight"),
    ("unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.down.weight",
     "unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0", "lora_down.weight"),
    ("lora_unet_x.hada_w1_a", "lora_unet_x", "hada_w1_a"),
    ("lora_unet_x.diff_b", "lora_unet_x", "diff_b"),
    ("lora_unet_x.oft_blocks", "lora_unet_x", "oft_blocks"),
    ("lora_te_x.rescale", "lora_te_x", "rescale"),
    ("lycoris_x.b1.weight", "lycoris_x", "b1.weight"),
    ("lycoris_x.bm.weight", "lycoris_x", "bm.weight"),
])
def test_split_key_finds_module_and_parameter(key, module, param):
    assert split_key(key) == (module, param)


def test_split_key_rejects_unknown_parameters():
    assert split_key("lora_unet_x.something") is None


@pytest.mark.parametrize("name, family, want", [
    ("unet.down_blocks.0.resnets.0.conv1", "sd1", "lora_unet_down_blocks_0_resnets_0_conv1"),
    ("text_encoder.text_model.encoder.layers.0.self_attn.q_proj", "sd1",
     "lora_te_text_model_encoder_layers_0_self_attn_q_proj"),
    ("text_encoder.text_model.encoder.layers.0.self_attn.q_proj", "sdxl",
     "lora_te1_text_model_encoder_layers_0_self_attn_q_proj"),
    ("text_encoder_2.text_model.encoder.layers.0.mlp.fc1", "sdxl", "lora_te2_text_model_encoder_layers_0_mlp_fc1"),
    ("model.diffusion_model.input_blocks.1.1.proj_in", "sd1", "lora_unet_input_blocks_1_1_proj_in"),
    ("lora_unet_output_blocks_2_1_proj_out", "sdxl", "lora_unet_output_blocks_2_1_proj_out"),
])
def test_module_names_normalise_to_the_kohya_form(name, family, want):
    assert normalize_module_name(name, family) == want


def test_parse_groups_keys_per_module_and_lists_the_rest(tmp_path):
    state = {"lora_unet_a.lora_up.weight": torch.zeros(4, 2), "lora_unet_a.lora_down.weight": torch.zeros(2, 3),
             "lora_unet_a.alpha": torch.tensor(1.0), "lora_unet_b.hada_w1_a": torch.zeros(1, 2, 2),
             "weird": torch.zeros(1)}
    parsed = parse_lora_state(state, "x", tmp_path / "x.safetensors")
    assert list(parsed.modules) == ["lora_unet_a"] and isinstance(parsed.modules["lora_unet_a"], LoraUpDown)
    assert parsed.unsupported == {"lora_unet_b": "unknown network type with parameters ['hada_w1_a']"}
    assert parsed.unknown_keys == ["weird"]


def test_files_are_read_safely_with_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    safetensors.torch.save_file({"lora_unet_a.diff": torch.ones(2, 2)}, str(path), metadata={"ss_network_dim": "4"})
    parsed = read_lora_file(path)
    assert parsed.name == "m" and parsed.metadata == {"ss_network_dim": "4"}

    class RunsCode:
        def __reduce__(self):
            return print, ("ran",)

    torch.save({"lora_unet_a.diff": torch.ones(2), "x": RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError, match="evil.pt: refused to load"):
        read_lora_file(tmp_path / "evil.pt")
