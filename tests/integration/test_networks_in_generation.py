"""LoRA tags and embeddings used by real generations through the API (queue → engine → infotext)."""

import base64
import io
import json

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from tests.helpers import api_client

BASE = {"negative_prompt": "", "seed": 3, "steps": 3, "width": 64, "height": 64, "sampler_name": "Euler"}


@pytest.fixture
def api(data_dir, tiny_checkpoints):
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        write_networks(data_dir, state.models.current())
        yield client, state


def write_networks(data_dir, model):
    # a kohya LoRA on one attention projection and an A1111 embedding, sized for this model
    target = model.unet.get_submodule("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k")
    g = torch.Generator().manual_seed(0)
    lora = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight":
            torch.randn(4, target.weight.shape[1], generator=g),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight":
            torch.randn(target.weight.shape[0], 4, generator=g),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.alpha": torch.tensor(4.0)}
    safetensors.torch.save_file(lora, str(data_dir / "models" / "Lora" / "sharp.safetensors"))
    width = model.text_encoders[0].config.hidden_size
    torch.save({"string_to_param": {"*": torch.randn(2, width, generator=g) * 5}, "step": 10},
               data_dir / "embeddings" / "glowy.pt")


def generate(client, prompt):
    body = client.post("/sdapi/v1/txt2img", json={**BASE, "prompt": prompt}).json()
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][0])))).astype(int)
    return image, json.loads(body["info"])["infotexts"][0]


def test_lora_tag_changes_the_image_and_weight_zero_does_not(api):
    client, state = api
    plain, _ = generate(client, "a circle")
    zero, _ = generate(client, "a circle <lora:sharp:0>")
    assert np.array_equal(plain, zero)
    with_lora, infotext = generate(client, "a circle <lora:sharp:1>")
    assert np.abs(with_lora - plain).mean() > 0
    assert 'Lora hashes: "sharp: ' in infotext and "<lora:sharp:1>" in infotext  # tag kept in the prompt
    again, _ = generate(client, "a circle")
    assert np.array_equal(again, plain)  # weights restored for the next job


def test_embedding_word_changes_the_image(api):
    client, _ = api
    with_embedding, infotext = generate(client, "a glowy circle")
    replaced, _ = generate(client, "a shiny circle")
    assert not np.array_equal(with_embedding, replaced)
    assert "TI hashes: " in infotext and "glowy: " in infotext


def test_embeddings_and_loras_routes(api):
    client, _ = api
    listed = client.get("/sdapi/v1/embeddings").json()
    assert listed["loaded"]["glowy"]["vectors"] == 2 and listed["skipped"] == {}
    assert [l["name"] for l in client.get("/sdapi/v1/loras").json()] == ["sharp"]
    assert client.post("/sdapi/v1/refresh-loras").status_code == 200
    assert client.post("/sdapi/v1/refresh-embeddings").status_code == 200


def test_a_malformed_lora_tag_is_a_clear_error(api):
    client, _ = api
    response = client.post("/sdapi/v1/txt2img", json={**BASE, "prompt": "x <lora:sharp:abc>"})
    assert response.status_code in (422, 500) and "sharp" in response.text
