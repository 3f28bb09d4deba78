import pytest

from modules.networks import NetworkUse, extract_networks, extract_networks_from_prompts


def test_tags_are_removed_and_parsed_with_a1111_defaults():
    text, uses = extract_networks("a <lora:cat:0.7> dog, <lyco:style> <lora:both:0.5:0.25>, <lora:named:te=0.2:unet=0.9>")
    assert text == "a  dog,  , "
    assert uses == [
        NetworkUse("cat", 0.7, 0.7),
        NetworkUse("style", 1.0, 1.0),
        NetworkUse("both", 0.5, 0.25),
        NetworkUse("named", 0.2, 0.9),
    ]
    assert all(use.is_lora for use in uses)


def test_other_kinds_are_removed_and_reported_as_not_lora():
    text, [use] = extract_networks("x <hypernet:old:1> y")
    assert text == "x  y" and use.kind == "hypernet" and not use.is_lora


def test_text_without_tags_is_unchanged():
    assert extract_networks("a <3 heart, (red:1.2)") == ("a <3 heart, (red:1.2)", [])


@pytest.mark.parametrize("prompt, message", [
    ("<lora:cat:strong>", "te weight 'strong' is not a number"),
    ("<lora:cat:1:x>", "unet weight 'x' is not a number"),
    ("<lora::1>", "network name is missing"),
])
def test_bad_tags_are_clear_errors(prompt, message):
    with pytest.raises(ValueError, match=message):
        extract_networks(prompt)


def test_a_batch_uses_the_first_prompts_networks_as_a1111():
    cleaned, uses = extract_networks_from_prompts(["<lora:a:1> one", "<lora:b:1> two"])
    assert cleaned == [" one", " two"] and [u.name for u in uses] == ["a"]


def test_dyn_is_the_fourth_positional_or_named_argument():
    _, uses = extract_networks("<lora:a:0.5:0.25:4> <lora:b:1:dyn=8> <lora:c:te=0.3:dyn=2:unet=0.6> <lora:d:1>")
    assert [(u.name, u.te_multiplier, u.unet_multiplier, u.dyn_dim) for u in uses] == [
        ("a", 0.5, 0.25, 4), ("b", 1.0, 1.0, 8), ("c", 0.3, 0.6, 2), ("d", 1.0, 1.0, None)]


@pytest.mark.parametrize("prompt", ["<lora:a:1:dyn=0>", "<lora:a:1:dyn=x>", "<lora:a:1:1:2.5>", "<lora:a:1:dyn=-1>"])
def test_dyn_must_be_a_positive_whole_number(prompt):
    with pytest.raises(ValueError, match="dyn .* is not a positive whole number"):
        extract_networks(prompt)
