"""Form-level checks (no browser) of img2img "Resize by", the extra-network cards reading the
engine's lists, and training previews read from the txt2img tab."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from modules.processing import ParamsError, UnknownNameError
from modules.training import create_embedding
from modules.training.params import TrainParams
from modules.ui import extra_networks, img2img, train
from modules.ui.img2img_size import RESIZE_BY, RESIZE_TO, SizeChoice
from tests.helpers import api_client

IMG2IMG_FORM = {"prompt": "a cat", "width": 512, "height": 768, "steps": 3}
TXT2IMG_FORM = {"prompt": "a purple circle", "negative_prompt": "blurry", "steps": 7.0, "sampler_name": "Euler a",
                "cfg_scale": 4.5, "seed": 1234, "width": 72.0, "height": 64.0}
TRAIN_FORM = {"embedding_name": "shape", "data_root": "train-data", "learn_rate": "0.005",
              "log_directory": "textual_inversion"}


def write_lora(path) -> None:
    """A small kohya-style LoRA; the API reads its header, the cards only list it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": torch.zeros(1, 4),
               "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight": torch.zeros(4, 1)},
              str(path), metadata={"ss_output_name": path.stem})


def test_resize_by_takes_the_output_size_from_the_init_image():
    image = {"image": Image.new("RGB", (260, 160), (10, 200, 30))}
    scaled = img2img.build_params("img2img", IMG2IMG_FORM, image, SizeChoice(RESIZE_BY, 0.5))
    assert (scaled.width, scaled.height) == (128, 80)  # 130x80, each side down to a multiple of 8
    sliders = img2img.build_params("img2img", IMG2IMG_FORM, image, SizeChoice(RESIZE_TO, 0.5))
    assert (sliders.width, sliders.height) == (512, 768)


def test_resize_by_in_a_batch_scales_each_image_by_its_own_size(tmp_path):
    sizes = {"wide.png": (320, 160), "tall.png": (128, 256)}
    for name, size in sizes.items():
        Image.new("RGB", size).save(tmp_path / name)
    scaled = {name: img2img.batch_params(IMG2IMG_FORM, tmp_path / name, None, SizeChoice(RESIZE_BY, 0.5))
              for name in sizes}
    assert {name: (p.width, p.height) for name, p in scaled.items()} == {"wide.png": (160, 80),
                                                                          "tall.png": (64, 128)}


def test_resize_by_to_a_size_the_engine_refuses_names_the_scale():
    with pytest.raises(ParamsError) as error:
        img2img.build_params("img2img", IMG2IMG_FORM, {"image": Image.new("RGB", (100, 60))},
                             SizeChoice(RESIZE_BY, 0.5))
    assert error.value.field == "scale_by"
    assert str(error.value).startswith("scale_by: 100x60 resized by 0.5 is 48x24; width: must be between 64")


def test_training_previews_read_from_txt2img_take_its_values():
    params = train.build_train_params(dict(TRAIN_FORM, preview_from_txt2img=True), TXT2IMG_FORM)
    assert params.preview_from_txt2img is True
    assert (params.preview_prompt, params.preview_negative_prompt) == ("a purple circle", "blurry")
    assert (params.preview_steps, params.preview_cfg_scale, params.preview_seed) == (7, 4.5, 1234)
    assert (params.preview_width, params.preview_height) == (72, 64)
    assert params.preview_sampler_name == "Euler a"
    assert isinstance(params.preview_steps, int) and isinstance(params.preview_width, int)


def test_training_previews_not_read_from_txt2img_keep_the_defaults():
    params = train.build_train_params(dict(TRAIN_FORM, preview_from_txt2img=False), TXT2IMG_FORM)
    defaults = TrainParams()
    assert (params.preview_prompt, params.preview_steps, params.preview_width) == (
        defaults.preview_prompt, defaults.preview_steps, defaults.preview_width)


def test_a_bad_txt2img_value_names_the_preview_field_and_where_it_came_from():
    form = dict(TRAIN_FORM, preview_from_txt2img=True)
    unknown = train.build_train_params(form, dict(TXT2IMG_FORM, sampler_name="No such sampler"))
    assert unknown.preview_sampler_name == "No such sampler"  # looked up with the other names (resolve_inputs)
    explained = train.from_txt2img(UnknownNameError("preview_sampler_name", "No such sampler"), True)
    assert str(explained) == "preview_sampler_name: No such sampler (read from the txt2img tab's sampler_name)"
    with pytest.raises(ParamsError) as error:
        train.build_train_params(form, dict(TXT2IMG_FORM, width=100.0))
    explained = train.from_txt2img(error.value, preview_from_txt2img=True)
    assert str(explained) == "preview_width: must be a multiple of 8, got 100 (read from the txt2img tab's width)"
    assert train.from_txt2img(error.value, preview_from_txt2img=False) is error.value


def test_cards_show_the_engine_lists_the_api_shows(tmp_path, tiny_checkpoints):
    with api_client(tmp_path, {"tiny.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        create_embedding("easel-word", 1, "circle", state.models.current(), state.paths.embeddings_dir)
        write_lora(state.paths.lora_dir / "added-later.safetensors")
        assert "added-later" not in names(extra_networks.all_cards(state)["lora"])  # not rescanned yet
        extra_networks.refresh_engine_lists(state)  # the panel's Refresh button
        cards = extra_networks.all_cards(state)
        assert names(cards["lora"]) == ["added-later"]
        assert [item["name"] for item in client.get("/sdapi/v1/loras").json()] == ["added-later"]
        assert names(cards["embedding"]) == sorted(client.get("/sdapi/v1/embeddings").json()["loaded"]) == [
            "easel-word"]
        assert cards["lora"][0].prompt_text == "<lora:added-later:1>"


def test_a_lora_card_inserts_the_preferred_weight_of_its_user_metadata(tmp_path):
    from modules.networks import LoraLibrary
    from modules.ui.network_cards import lora_cards

    for name in ("plain", "preferred", "broken"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"only listed")
    (tmp_path / "preferred.json").write_text(json.dumps({"preferred weight": 0.6, "activation text": "cyan"}))
    (tmp_path / "broken.json").write_text("{not json")
    tags = {card.name: card.prompt_text for card in lora_cards(LoraLibrary([tmp_path]))}
    assert tags == {"broken": "<lora:broken:1>", "plain": "<lora:plain:1>", "preferred": "<lora:preferred:0.6>"}


def names(cards) -> list[str]:
    return [card.name for card in cards]
