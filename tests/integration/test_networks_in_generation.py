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


def generate(client, prompt, **fields):
    body = client.post("/sdapi/v1/txt2img", json={**BASE, "prompt": prompt, **fields}).json()
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


def test_hires_pass_uses_the_networks_its_own_prompt_names(api):
    client, _ = api
    hires = {"enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 2,
             "denoising_strength": 0.6}
    plain, _ = generate(client, "a circle", **hires)
    lora_in_hires_only, infotext = generate(client, "a circle", hr_prompt="a circle <lora:sharp:1>", **hires)
    assert not np.array_equal(lora_in_hires_only, plain)
    assert 'Lora hashes: "sharp: ' in infotext and 'Hires prompt: "a circle <lora:sharp:1>"' in infotext
    # the other way round: the LoRA shapes the first pass only, so the result differs from both
    lora_everywhere, _ = generate(client, "a circle <lora:sharp:1>", **hires)
    lora_in_first_only, _ = generate(client, "a circle <lora:sharp:1>", hr_prompt="a circle", **hires)
    assert not np.array_equal(lora_in_first_only, lora_everywhere)
    assert not np.array_equal(lora_in_first_only, plain)
    # two batches switch back and forth; each comes out as it would alone
    body = client.post("/sdapi/v1/txt2img", json={**BASE, **hires, "prompt": "a circle", "n_iter": 2,
                                                  "hr_prompt": "a circle <lora:sharp:1>"}).json()
    second = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][1])))).astype(int)
    alone, _ = generate(client, "a circle", hr_prompt="a circle <lora:sharp:1>", **{**hires, "seed": BASE["seed"] + 1})
    assert np.array_equal(second, alone)
    assert np.array_equal(generate(client, "a circle", **hires)[0], plain)  # weights restored


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


def test_pasted_infotext_with_a_renamed_lora_names_the_new_file_and_uses_it(api, data_dir):
    from modules.processing import Txt2ImgParams
    from modules.ui.send_to import PasteTarget, field_updates

    client, state = api
    with_lora, infotext = generate(client, "a circle <lora:sharp:0.8>")
    lora_folder = data_dir / "models" / "Lora"
    (lora_folder / "renamed").mkdir()
    (lora_folder / "sharp.safetensors").rename(lora_folder / "renamed" / "crisp.safetensors")
    target = PasteTarget("txt2img", Txt2ImgParams, {"prompt": "prompt box", "steps": "steps slider"})
    pasted = field_updates(target, infotext, state)  # what ↙️ puts into the txt2img form
    assert pasted["prompt box"] == "a circle <lora:crisp:0.8>" and pasted["steps slider"] == 3
    again, new_infotext = generate(client, pasted["prompt box"])
    assert np.array_equal(again, with_lora)  # the same weights, found under the new name
    old_hash = infotext.split('Lora hashes: "sharp: ')[1][:12]
    assert f'Lora hashes: "crisp: {old_hash}"' in new_infotext


def test_loras_route_shows_header_and_user_metadata(api, data_dir):
    client, _ = api
    folder = data_dir / "models" / "Lora"
    (folder / "sharp.json").write_text(json.dumps({"activation text": "sharp edges", "preferred weight": 0.7}),
                                       encoding="utf-8")
    safetensors.torch.save_file({"lora_unet_x.diff": torch.ones(1)}, str(folder / "tagged.safetensors"),
                                metadata={"ss_output_name": "tagged"})
    (folder / "tagged.json").write_text("{broken", encoding="utf-8")  # a warning in the log, not an error
    listed = {item["name"]: item for item in client.get("/sdapi/v1/loras").json()}
    assert listed["sharp"] == {"name": "sharp", "alias": "sharp", "path": str(folder / "sharp.safetensors"),
                               "metadata": {}, "user_metadata": {"activation text": "sharp edges",
                                                                 "preferred weight": 0.7}}
    assert listed["tagged"]["metadata"] == {"ss_output_name": "tagged"} and listed["tagged"]["user_metadata"] == {}


def test_networks_that_cannot_apply_are_reported_once_per_job_naming_the_file(api, data_dir, caplog):
    client, state = api
    stray = {"lora_unet_no_such_block.lora_down.weight": torch.ones(4, 8),
             "lora_unet_no_such_block.lora_up.weight": torch.ones(8, 4)}
    safetensors.torch.save_file(stray, str(data_dir / "models" / "Lora" / "stray.safetensors"))
    params = {**BASE, "prompt": "a circle <lora:stray:1> <lora:absent:1>", "n_iter": 2}
    with caplog.at_level("WARNING"):
        job_id = client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": params}).json()["id"]
        state.jobs.wait(job_id, timeout=120)
    view = client.get(f"/easel/v1/jobs/{job_id}").json()
    assert view["status"] == "done" and len(view["result_urls"]) == 2  # the images are still made
    warnings = view["result"]["warnings"]
    assert len(warnings) == 2  # two batches, each warning once
    assert warnings[0].startswith("LoRA 'absent' not found in ")
    assert warnings[1].startswith("stray.safetensors: 1 of 1 modules match nothing in the loaded sd1 model")
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == warnings
    plain = client.post("/easel/v1/jobs", json={"kind": "txt2img", "params": BASE}).json()["id"]
    assert state.jobs.wait(plain, timeout=120).result["warnings"] == []
