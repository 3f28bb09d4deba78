"""SD3 / SD3.5 single files on tiny random-weight models built from the bundled configs:
detection, a faithful load (the loaded modules are the ones written), generation in every mode,
reproducible seeds, infotext round trip, T5 optional, separate text-encoder files, networks, API."""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from modules.cmd_args import parse_args
from modules.devices import decide_policy
from modules.processing import latents as latent_ops
from modules.processing import Img2ImgParams, NullProgress, ParamsError, Txt2ImgParams, generate
from modules.sd_models.checkpoints import CheckpointInfo
from modules.sd_models.loader import load_model
from modules.sd_models.sd3_architecture import MissingTextEncoderError
from modules.sd_models.sd3_random_weights import write_sd3_checkpoint, write_tiny_t5_tokenizer
from modules.ui.params_form import values_from_infotext
from tests.helpers import TINY_SD3_RELEASES, api_client

BASE = {"prompt": "a red circle", "negative_prompt": "", "steps": 3, "width": 64, "height": 64, "seed": 7,
        "sampler_name": "Euler"}


def load(path, *flags):
    return load_model(CheckpointInfo(path, path.name), decide_policy(parse_args(list(flags))))


@pytest.fixture(scope="module")
def sd3(tiny_sd3_checkpoints):
    return load(tiny_sd3_checkpoints["sd3"])


def run(model, settings, tmp_path, params):
    return generate(params, model, settings, tmp_path, NullProgress())


def pixels(image):
    return np.asarray(image).astype(int)


@pytest.mark.parametrize("name", TINY_SD3_RELEASES)
def test_each_release_loads_the_modules_it_was_written_from(name, tmp_path):
    release = TINY_SD3_RELEASES[name]
    path = tmp_path / f"{name}.safetensors"
    written = write_sd3_checkpoint(path, release, tiny=True, seed=3)
    write_tiny_t5_tokenizer(tmp_path / "t5_tokenizer")
    model = load(path)
    assert (model.arch.family, model.arch.release, model.arch.label) == ("sd3", release, f"SD{release}")
    assert model.latent_downscale == 8 and model.vae.config.latent_channels == 16
    pairs = [(model.unet, written["transformer"]), (model.vae, written["vae"]),
             (model.text_encoders[1], written["clip_g"]), (model.text_encoders[2], written["t5"])]
    for loaded, original in pairs:
        expected = original.state_dict()
        for key, value in loaded.state_dict().items():
            if key in expected:
                assert torch.equal(value, expected[key]), (name, key)
    clip_l = written["clip_l"].state_dict()
    assert all(torch.equal(v, clip_l[k]) for k, v in model.text_encoders[0].state_dict().items()
               if k.startswith("text_model."))
    if release == "3.5 Medium":
        assert model.unet.config.dual_attention_layers == [0]
    assert (model.unet.config.qk_norm == "rms_norm") == (release != "3 Medium")


def test_txt2img_is_reproducible_and_the_seed_and_prompt_matter(sd3, settings, tmp_path):
    first = run(sd3, settings, tmp_path, Txt2ImgParams(**BASE))
    again = run(sd3, settings, tmp_path, Txt2ImgParams(**BASE))
    other_seed = run(sd3, settings, tmp_path, Txt2ImgParams(**{**BASE, "seed": 8}))
    other_prompt = run(sd3, settings, tmp_path, Txt2ImgParams(**{**BASE, "prompt": "a blue square"}))
    image = pixels(first.images[0])
    assert first.images[0].size == (64, 64) and image.std() > 0
    assert np.array_equal(image, pixels(again.images[0]))
    assert not np.array_equal(image, pixels(other_seed.images[0]))
    assert not np.array_equal(image, pixels(other_prompt.images[0]))
    assert "Shift: 3.0" in first.infotexts[0] and "Model: sd3" in first.infotexts[0]


def test_infotext_round_trip_gives_the_same_image(sd3, settings, tmp_path):
    params = Txt2ImgParams(**{**BASE, "prompt": "a (red:1.2) circle", "cfg_scale": 5.0, "seed": 11,
                              "sampler_name": "DPM++ 2M", "scheduler": "Karras"})
    first = run(sd3, settings, tmp_path, params)
    values = values_from_infotext(first.infotexts[0], Txt2ImgParams)
    assert values["sampler_name"] == "DPM++ 2M" and values["scheduler"] == "Karras" and values["seed"] == 11
    pasted = run(sd3, settings, tmp_path, Txt2ImgParams(**{**values, "enable_hr": False}))
    assert np.array_equal(pixels(first.images[0]), pixels(pasted.images[0]))


def test_samplers_that_assume_a_variance_exploding_model_are_refused_by_name(sd3, settings, tmp_path):
    for name in ("Euler a", "DDIM", "DPM++ 2M SDE"):
        with pytest.raises(ParamsError, match="sampler_name: .* does not support SD3"):
            run(sd3, settings, tmp_path, Txt2ImgParams(**{**BASE, "sampler_name": name}))
    for name in ("Heun", "DPM++ 2M", "UniPC", "LMS"):
        assert run(sd3, settings, tmp_path, Txt2ImgParams(**{**BASE, "sampler_name": name})).images


def test_hires_fix_doubles_the_size(sd3, settings, tmp_path):
    for upscaler in ("Latent", "Lanczos"):
        result = run(sd3, settings, tmp_path, Txt2ImgParams(**BASE, enable_hr=True, hr_scale=2, hr_upscaler=upscaler,
                                                            denoising_strength=0.5, hr_second_pass_steps=2))
        assert result.images[0].size == (128, 128) and "Hires upscale: 2" in result.infotexts[0]


def test_img2img_follows_the_init_image_and_inpainting_keeps_the_unmasked_area(sd3, settings, tmp_path):
    init = Image.new("RGB", (64, 64), (200, 30, 30))
    light = run(sd3, settings, tmp_path, Img2ImgParams(**BASE, init_images=[init], denoising_strength=0.05))
    strong = run(sd3, settings, tmp_path, Img2ImgParams(**BASE, init_images=[init], denoising_strength=1.0))
    # random VAE weights do not reconstruct the image: compare with the init image's VAE round trip
    pixel_batch = latent_ops.images_to_tensor([init])
    round_trip = latent_ops.tensor_to_images(latent_ops.decode(sd3.vae, latent_ops.encode(sd3.vae, pixel_batch)))[0]
    near, far = (np.abs(pixels(r.images[0]) - pixels(round_trip)).mean() for r in (light, strong))
    assert near < far / 3, (near, far)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    inpainted = run(sd3, settings, tmp_path, Img2ImgParams(**BASE, init_images=[init], mask=mask, mask_blur=0,
                                                          denoising_strength=1.0, inpaint_full_res=False))
    image = pixels(inpainted.images[0])
    assert np.array_equal(image[:8, :8], pixels(init)[:8, :8])  # outside the mask: the init pixels
    assert np.abs(image[24:40, 24:40] - pixels(init)[24:40, 24:40]).mean() > 10  # inside: generated


def test_t5_is_optional_with_a_flag(tiny_sd3_checkpoints, sd3, settings, tmp_path):
    without = load(tiny_sd3_checkpoints["sd3"], "--sd3-no-t5")
    assert len(without.text_encoders) == 2 and len(sd3.text_encoders) == 3
    a = run(sd3, settings, tmp_path, Txt2ImgParams(**BASE))
    b = run(without, settings, tmp_path, Txt2ImgParams(**BASE))
    assert not np.array_equal(pixels(a.images[0]), pixels(b.images[0]))  # T5's tokens were in the context


def test_text_encoders_from_separate_files(tmp_path):
    models = tmp_path / "models"
    path = models / "Stable-diffusion" / "bare.safetensors"
    written = write_sd3_checkpoint(path, "3.5 Large", tiny=True, seed=5, with_t5=False, with_clips=False)
    with pytest.raises(MissingTextEncoderError, match="bare.safetensors: SD3 checkpoint without clip_l; put "
                                                      "clip_l.safetensors in .*text_encoder"):
        load(path)
    encoders = models / "text_encoder"
    encoders.mkdir()
    for name in ("clip_l", "clip_g"):
        safetensors.torch.save_file({k: v.contiguous() for k, v in written[name].state_dict().items()},
                                    str(encoders / f"{name}.safetensors"))
    model = load(path)
    assert len(model.text_encoders) == 2  # no T5 file: CLIP-L and CLIP-G only
    clip_g = written["clip_g"].state_dict()
    assert all(torch.equal(v, clip_g[k]) for k, v in model.text_encoders[1].state_dict().items())


def test_api_generation_with_lora_and_embedding(tiny_sd3_checkpoints, data_dir):
    shutil.copytree(tiny_sd3_checkpoints["sd3"].parent / "t5_tokenizer",
                    data_dir / "models" / "Stable-diffusion" / "t5_tokenizer")
    with api_client(data_dir, {"sd3.safetensors": tiny_sd3_checkpoints["sd3"]}) as (client, state):
        model = state.models.current()
        assert model.arch.is_sd3
        listed = client.get("/sdapi/v1/sd-models").json()
        assert [m["model_name"] for m in listed] == ["sd3"]
        write_sd3_networks(data_dir, model)

        def txt2img(prompt):
            response = client.post("/sdapi/v1/txt2img", json={**BASE, "prompt": prompt})
            assert response.status_code == 200, response.text
            body = response.json()
            return pixels(Image.open(io.BytesIO(base64.b64decode(body["images"][0])))), json.loads(body["info"])

        plain, info = txt2img("a red circle")
        assert info["sd_model_name"] == "sd3" and "Shift: 3.0" in info["infotexts"][0]
        with_lora, info = txt2img("a red circle <lora:mmdit:1>")
        assert not np.array_equal(plain, with_lora) and 'Lora hashes: "mmdit: ' in info["infotexts"][0]
        with_embedding, info = txt2img("a red circle glowy")
        assert not np.array_equal(plain, with_embedding) and "TI hashes" in info["infotexts"][0]
        assert np.array_equal(plain, txt2img("a red circle")[0])  # networks undone afterwards
        refused = client.post("/sdapi/v1/txt2img", json={**BASE, "sampler_name": "Euler a"})
        assert refused.status_code == 422 and "sampler_name" in refused.text
        # with a per-request checkpoint the sampler is checked only once the job has the model: still a 422
        late = client.post("/sdapi/v1/txt2img", json={**BASE, "sampler_name": "Euler a",
                                                       "override_settings": {"sd_model_checkpoint": "sd3"}})
        assert late.status_code == 422 and late.json()["detail"].startswith("sampler_name: 'Euler a'"), late.text


def write_sd3_networks(data_dir, model):
    """A diffusers/peft-style LoRA on one MMDiT projection and an SDXL-style (clip_l/clip_g) embedding."""
    g = torch.Generator().manual_seed(0)
    target = model.unet.get_submodule("transformer_blocks.0.attn.to_q")
    key = "transformer.transformer_blocks.0.attn.to_q"
    lora = {f"{key}.lora_A.weight": torch.randn(4, target.weight.shape[1], generator=g),
            f"{key}.lora_B.weight": torch.randn(target.weight.shape[0], 4, generator=g)}
    (data_dir / "models" / "Lora").mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(lora, str(data_dir / "models" / "Lora" / "mmdit.safetensors"))
    widths = [te.config.hidden_size for te in model.text_encoders[:2]]
    embedding = {"clip_l": torch.randn(2, widths[0], generator=g) * 5, "clip_g": torch.randn(2, widths[1], generator=g) * 5}
    (data_dir / "embeddings").mkdir(exist_ok=True)
    safetensors.torch.save_file(embedding, str(data_dir / "embeddings" / "glowy.safetensors"))


def test_textual_inversion_refuses_sd3_by_name(sd3, tmp_path):
    from modules.training.embedding_files import create_embedding
    from modules.training.trainer import train_embedding

    with pytest.raises(ParamsError, match="model: cannot create embeddings for SD3 Medium"):
        create_embedding("mine", 1, "a cat", sd3, tmp_path)
    with pytest.raises(ParamsError, match="model: textual inversion training does not support SD3 Medium"):
        train_embedding(None, sd3, None, embeddings=None, data_dir=tmp_path)
