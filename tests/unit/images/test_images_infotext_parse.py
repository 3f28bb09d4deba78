"""parse_infotext reads A1111 infotexts like A1111's parse_generation_parameters."""

import pytest

from modules.images import parse_infotext
from modules.images.infotext_parse import old_hires_fix_first_pass_dimensions, parse_version

A1111_HIRES_LORA = (
    "masterpiece, best quality, 1girl, <lora:add_detail:0.8>, (red hair:1.2)\n"
    "Negative prompt: (worst quality, low quality:1.4), EasyNegative\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3170153371, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, "
    'Hires upscale: 2, Hires steps: 15, Hires upscaler: R-ESRGAN 4x+ Anime6B, '
    'Lora hashes: "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef", TI hashes: "EasyNegative: c74b4e810b03", '
    "Version: v1.10.1"
)

A1111_OLD_MULTILINE = (
    "girl with an artist's beret, determined, blue eyes, desert scene,\n"
    "by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish)\n"
    "Negative prompt: ugly, fat, (((deformed))), [blurry]\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b"
)

A1111_HIRES_RESIZE_ADETAILER = (
    "portrait of a knight\n"
    "Steps: 25, Sampler: Euler, Schedule type: Automatic, CFG scale: 5.5, Seed: 7, Size: 832x1216, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, VAE hash: 235745af8d, VAE: sdxl_vae.safetensors, "
    'Denoising strength: 0.3, Hires resize: 1024x1536, Hires upscaler: Latent, '
    'ADetailer model: face_yolov8n.pt, ADetailer prompt: "detailed face,\\nsmiling", ADetailer version: 24.9.0, '
    "Version: v1.9.4"
)


def test_real_a1111_sample_with_hires_lora_and_ti_hashes():
    res = parse_infotext(A1111_HIRES_LORA)
    assert res["Prompt"] == "masterpiece, best quality, 1girl, <lora:add_detail:0.8>, (red hair:1.2)"
    assert res["Negative prompt"] == "(worst quality, low quality:1.4), EasyNegative"
    assert res["Steps"] == "28"
    assert res["Sampler"] == "DPM++ 2M"
    assert res["Schedule type"] == "Karras"
    assert res["CFG scale"] == "7"
    assert res["Seed"] == "3170153371"
    assert (res["Size-1"], res["Size-2"]) == ("512", "768")
    assert "Size" not in res
    assert res["Model hash"] == "6ce0161689"
    assert res["Clip skip"] == "2"
    assert res["Hires upscale"] == "2"
    assert res["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert res["Lora hashes"] == "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef"
    assert res["TI hashes"] == "EasyNegative: c74b4e810b03"
    assert res["Version"] == "v1.10.1"
    assert (res["Hires resize-1"], res["Hires resize-2"]) == (0, 0)  # A1111 default when absent


def test_old_multiline_sample_and_a1111_defaults():
    res = parse_infotext(A1111_OLD_MULTILINE)
    assert res["Prompt"] == (
        "girl with an artist's beret, determined, blue eyes, desert scene,\n"
        "by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish)"
    )
    assert res["Negative prompt"] == "ugly, fat, (((deformed))), [blurry]"
    expected_defaults = {
        "Clip skip": "1", "Hires sampler": "Use same sampler", "Hires checkpoint": "Use same checkpoint",
        "Hires prompt": "", "Hires negative prompt": "", "Mask mode": "Inpaint masked", "Masked content": "original",
        "Inpaint area": "Whole picture", "Masked area padding": 32, "RNG": "GPU", "Schedule type": "Automatic",
        "Schedule max sigma": 0, "Schedule min sigma": 0, "Schedule rho": 0, "VAE Encoder": "Full",
        "VAE Decoder": "Full", "FP8 weight": "Disable", "Hires resize-1": 0, "Hires resize-2": 0,
    }
    for key, value in expected_defaults.items():
        assert res[key] == value, key
    assert "Cache FP16 weight for LoRA" not in res
    assert "Downcast alphas_cumprod" not in res  # no Version: no back-compat flags


def test_hires_resize_split_and_quoted_newline_value():
    res = parse_infotext(A1111_HIRES_RESIZE_ADETAILER)
    assert (res["Hires resize-1"], res["Hires resize-2"]) == ("1024", "1536")
    assert (res["Size-1"], res["Size-2"]) == ("832", "1216")
    assert res["ADetailer prompt"] == "detailed face,\nsmiling"
    assert res["VAE"] == "sdxl_vae.safetensors"
    assert res["Negative prompt"] == ""


def test_prompt_lines_that_look_like_parameters_stay_in_the_prompt():
    text = (
        "style: anime, lighting: soft, mood: calm\n"
        "Steps: 5, Sampler: fake, CFG scale: 1\n"
        "Negative prompt: quality: low, text: none, watermark: yes\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64"
    )
    res = parse_infotext(text)
    assert res["Prompt"] == "style: anime, lighting: soft, mood: calm\nSteps: 5, Sampler: fake, CFG scale: 1"
    assert res["Negative prompt"] == "quality: low, text: none, watermark: yes"
    assert res["Steps"] == "20" and res["Sampler"] == "Euler a"


def test_last_line_with_fewer_than_three_params_is_prompt():
    res = parse_infotext("a photo\nhello: world, foo: bar")
    assert res["Prompt"] == "a photo\nhello: world, foo: bar"
    assert "hello" not in res


def test_last_line_without_steps_but_three_params_is_parameters():
    res = parse_infotext("a photo\nSampler: Euler, Seed: 5, CFG scale: 3")
    assert res["Prompt"] == "a photo"
    assert (res["Sampler"], res["Seed"], res["CFG scale"]) == ("Euler", "5", "3")
    assert "Steps" not in res


def test_text_with_only_a_prompt():
    res = parse_infotext("  just a prompt, nothing else  \n")
    assert res["Prompt"] == "just a prompt, nothing else"
    assert res["Negative prompt"] == ""


def test_bare_flag_is_read_back():
    res = parse_infotext("p\nSteps: 20, Hires fix, Seed: 3, Sampler: Euler")
    assert res["Hires fix"] == "Hires fix"
    assert res["Steps"] == "20" and res["Seed"] == "3"


def test_hypernet_is_appended_to_prompt():
    res = parse_infotext("a cat\nSteps: 20, Seed: 1, Sampler: Euler, Hypernet: anime, Hypernet strength: 0.5")
    assert res["Prompt"] == "a cat<hypernet:anime:0.5>"


def test_old_first_pass_size_becomes_hires_resize():
    res = parse_infotext("p\nSteps: 20, Sampler: Euler, Seed: 1, Size: 1024x768, First pass size: 0x0")
    assert old_hires_fix_first_pass_dimensions(1024, 768) == (640, 448)
    assert (res["Size-1"], res["Size-2"]) == (640, 448)
    assert (res["Hires resize-1"], res["Hires resize-2"]) == (1024, 768)


def test_use_old_hires_fix_width_height_option():
    text = "p\nSteps: 20, Sampler: Euler, Seed: 1, Size: 512x512, Hires resize: 1024x1024"
    res = parse_infotext(text, use_old_hires_fix_width_height=True)
    assert (res["Size-1"], res["Size-2"]) == (1024, 1024)


def test_version_backcompat_flags():
    res = parse_infotext("a [cat:dog:5]\nSteps: 20, Sampler: DDIM, Seed: 1, Version: v1.5.1")
    assert res["Old prompt editing timelines"] is True
    assert res["Pad conds v0"] is True
    assert res["Downcast alphas_cumprod"] is True
    res = parse_infotext("a [cat:dog:5]\nSteps: 20, Sampler: DDIM, Seed: 1, Version: v1.10.1")
    assert "Old prompt editing timelines" not in res and "Downcast alphas_cumprod" not in res
    res = parse_infotext("a\nSteps: 20, Sampler: DDIM, Seed: 1, Version: v1.5.1", auto_backcompat=False)
    assert "Pad conds v0" not in res


@pytest.mark.parametrize(
    ("older", "newer"),
    [("1.6.0", "v1.10.1"), ("v1.7.0-224-gabc", "v1.7.0-225"), ("1.8.0-RC", "1.8.0"), ("v1.5.1", "1.6.0"), ("1.7.0", "1.7.0-1")],
)
def test_version_ordering(older, newer):
    assert parse_version(older) < parse_version(newer)


def test_unreadable_version_means_no_flags():
    assert parse_version("f2.0.1v1.10.1-previous-669-gdfdcbab6") is None
    res = parse_infotext("a [x]\nSteps: 1, Sampler: DDIM, Seed: 1, Version: forge-thing")
    assert "Pad conds v0" not in res


def test_fp8_weight_adds_cache_default_and_skip_fields():
    res = parse_infotext("p\nSteps: 1, Sampler: Euler, Seed: 1, FP8 weight: Enable for SDXL", skip_fields=["Seed"])
    assert res["Cache FP16 weight for LoRA"] is False
    assert "Seed" not in res


def test_non_string_input_raises():
    with pytest.raises(ValueError, match="infotext"):
        parse_infotext(None)
