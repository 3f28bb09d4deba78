"""build_infotext / quote / standard_fields write exactly A1111's infotext."""

import pytest

from modules.images import build_infotext, quote, standard_fields, unquote


def test_exact_infotext_with_negative_prompt():
    fields = {
        "Steps": 20, "Sampler": "Euler a", "Schedule type": "Karras", "CFG scale": 7, "Seed": 1,
        "Size": "512x512", "Model hash": "6ce0161689", "Model": "v1-5-pruned-emaonly", "Version": "v1.10.1",
    }
    text = build_infotext("a cat, (sitting:1.2)", "blurry, lowres", fields)
    assert text == (
        "a cat, (sitting:1.2)\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, "
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
    )


def test_negative_prompt_line_omitted_when_empty_and_none_skipped():
    text = build_infotext("a dog", "", {"Steps": 4, "Sampler": "DDIM", "Model": None, "CFG scale": 7.5, "Seed": 42})
    assert text == "a dog\nSteps: 4, Sampler: DDIM, CFG scale: 7.5, Seed: 42"


def test_empty_prompt_gives_only_the_parameters_line():
    assert build_infotext("", None, {"Steps": 1, "Sampler": "Euler", "Seed": 2}) == "Steps: 1, Sampler: Euler, Seed: 2"


def test_quoting_of_commas_colons_quotes_newlines():
    fields = {
        "Steps": 20,
        "Lora hashes": "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef",
        "Wildcard": 'say "hi"',
        "Template": "line one\nline two",
        "Plain": "DPM++ 2M (Karras) [x]",
    }
    text = build_infotext("p", "", fields)
    assert text == (
        'p\nSteps: 20, Lora hashes: "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef", '
        'Wildcard: "say \\"hi\\"", Template: "line one\\nline two", Plain: DPM++ 2M (Karras) [x]'
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("Euler a", "Euler a"),
        (7, "7"),
        (0.5, "0.5"),
        (True, "True"),
        ("a,b", '"a,b"'),
        ("a:b", '"a:b"'),
        ('a"b', '"a\\"b"'),
        ("a\nb", '"a\\nb"'),
        ("", '""'),
        (" lead", '" lead"'),
        ("trail ", '"trail "'),
        ("ünïcode: ✓", '"ünïcode: ✓"'),  # ensure_ascii=False, as A1111
    ],
)
def test_quote_rules_and_unquote_inverts_them(value, written):
    assert quote(value) == written
    assert unquote(written) == str(value)


def test_unquote_leaves_non_json_text_alone():
    assert unquote('"not json') == '"not json'
    assert unquote('"') == '"'
    assert unquote('"a" "b"') == '"a" "b"'


def test_flag_field_written_as_bare_key():
    text = build_infotext("p", "", {"Steps": 20, "Hires fix": "Hires fix", "Seed": 3})
    assert text == "p\nSteps: 20, Hires fix, Seed: 3"


@pytest.mark.parametrize("key", ["x", "Bad,key", "Bad:key", "(paren) key", "trailing ", " lead", "Prompt", "Negative prompt", 3])
def test_unreadable_or_reserved_keys_raise_naming_the_key(key):
    with pytest.raises(ValueError, match="infotext key"):
        build_infotext("p", "", {"Steps": 1, key: "v"})


def test_non_strict_writes_any_key_like_a1111():
    assert build_infotext("p", "", {"Steps": 1, "odd (key)": "v"}, strict=False) == "p\nSteps: 1, odd (key): v"


def test_standard_fields_order_and_omissions_match_a1111():
    fields = standard_fields(
        steps=30, sampler="DPM++ 2M", schedule_type="Karras", cfg_scale=6.5, seed=123, width=512, height=768,
        model_hash="6ce0161689", model_name="v1-5", variation_seed=99, variation_seed_strength=0.3,
        seed_resize_from=(256, 256), denoising_strength=0.45, clip_skip=2, ensd=31337, rng="CPU", tiling=True,
        hires_upscale=2, hires_steps=15, hires_upscaler="Latent", hires_sampler="Euler",
        extra={"Lora hashes": "add_detail: 7c6bad76eb54", "Denoising strength": 0.5},
        version="v1.10.1",
    )
    text = build_infotext("p", "n", fields)
    assert text == (
        "p\nNegative prompt: n\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 123, Size: 512x768, "
        "Model hash: 6ce0161689, Model: v1-5, Variation seed: 99, Variation seed strength: 0.3, "
        "Seed resize from: 256x256, Denoising strength: 0.5, Clip skip: 2, ENSD: 31337, RNG: CPU, Tiling: True, "
        "Hires sampler: Euler, Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent, "
        'Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
    )


def test_standard_fields_defaults_leave_out_what_a1111_leaves_out():
    fields = standard_fields(steps=20, sampler="Euler a", cfg_scale=7, seed=1, width=512, height=512,
                             variation_seed=5, variation_seed_strength=0, seed_resize_from=(0, 512), clip_skip=1)
    assert build_infotext("", "", fields) == "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"


def test_standard_fields_hires_resize_and_errors():
    fields = standard_fields(steps=1, sampler="Euler", cfg_scale=7, seed=1, width=512, height=512, hires_resize=(1024, 0))
    assert fields["Hires resize"] == "1024x0" and fields["Hires upscale"] is None
    with pytest.raises(ValueError, match="hires_upscale"):
        standard_fields(steps=1, sampler="E", cfg_scale=7, seed=1, width=8, height=8, hires_upscale=2, hires_resize=(8, 8))
    with pytest.raises(ValueError, match="width"):
        standard_fields(steps=1, sampler="E", cfg_scale=7, seed=1, width=0, height=8)
    with pytest.raises(ValueError, match="variation_seed"):
        standard_fields(steps=1, sampler="E", cfg_scale=7, seed=1, width=8, height=8, variation_seed_strength=0.5)
