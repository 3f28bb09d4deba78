"""tools/train_demo_lora.py: new-colour pictures and reading, and a 2-step LoRA on a tiny random
SD1 model whose file Easel's LoRA loader applies without warnings, exactly as trained."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tools.shapes_dataset import PALETTE, ShapeScene, render
from tools.train_demo_lora import (
    DEFAULT_RGB,
    ColourScene,
    LoraConfig,
    check_new_colour,
    extended_palette,
    random_colour_scenes,
    read_colours,
    render_colour_scene,
    train_lora,
)


def test_default_cyan_is_far_from_every_palette_colour() -> None:
    distances = [np.linalg.norm(np.subtract(DEFAULT_RGB, rgb)) for rgb in PALETTE.values()]
    assert min(distances) >= 100
    check_new_colour("cyan", DEFAULT_RGB)


@pytest.mark.parametrize(("name", "rgb", "field"), [("red", (30, 120, 140), "colour"),
                                                    ("cyan", (40, 70, 210), "rgb"),
                                                    ("cyan", (30, 120, 300), "rgb")])
def test_bad_colours_are_refused_naming_the_field(name: str, rgb: tuple, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        check_new_colour(name, rgb)


def test_blended_scene_matches_the_dataset_renderer_for_palette_colours() -> None:
    scene = ShapeScene("orange", "triangle", "blue", (7, 9, 33))
    ours = render_colour_scene(ColourScene("orange", "triangle", "blue", (7, 9, 33)), dict(PALETTE))
    assert np.abs(ours.astype(int) - render(scene).astype(int)).max() <= 2  # uint8 rounding of the coverage


@pytest.mark.parametrize("shape", ["circle", "square", "triangle"])
def test_a_rendered_cyan_scene_reads_back_as_cyan(shape: str) -> None:
    palette = extended_palette("cyan", DEFAULT_RGB)
    image = render_colour_scene(ColourScene("cyan", shape, "white", (10, 12, 36)), palette)
    reading = read_colours(image, palette)
    assert (reading.fg, reading.shape, reading.bg) == ("cyan", shape, "white")


def test_new_colour_scenes_show_the_colour_and_are_deterministic() -> None:
    scenes, index = random_colour_scenes("cyan", 40, 0.25, seed=3)
    again, _ = random_colour_scenes("cyan", 40, 0.25, seed=3)
    assert scenes == again and len(index) == 40
    assert all("cyan" in (s.fg, s.bg) and s.fg != s.bg for s in scenes)
    assert any(s.bg == "cyan" for s in scenes) and sum(s.fg == "cyan" for s in scenes) > 20


@pytest.fixture(scope="module")
def tiny_lora(tmp_path_factory):
    from modules.sd_models.architecture import ModelArchitecture
    from modules.sd_models.random_weights import write_checkpoint
    from tools.train_demo_lora import load_base

    folder = tmp_path_factory.mktemp("lora")
    base = folder.parent / f"{folder.name}-base" / "tiny-sd1.safetensors"
    write_checkpoint(base, ModelArchitecture("sd1"), tiny=True, seed=5)
    model = load_base(base)
    cfg = LoraConfig(base=base, output=folder / "shapes-cyan.safetensors", work_dir=None,
                     rank=4, alpha=2.0, steps=2, batch=4, warmup=1, new_colour_images=6, palette_images=6,
                     encoder_steps=1, encoder_batch=2, log_every=1, lr=1e-2)
    summary = train_lora(cfg, model)
    return model, cfg, summary


def test_the_file_has_kohya_keys_and_metadata(tiny_lora) -> None:
    _, cfg, summary = tiny_lora
    with safe_open(str(cfg.output), "pt") as f:
        keys, metadata = list(f.keys()), f.metadata()
        alpha = f.get_tensor(next(k for k in keys if k.endswith(".alpha")))
    assert summary["training"]["steps"] == 2 and summary["bytes"] == cfg.output.stat().st_size
    assert {k.rsplit(".", 2)[0].split("_")[1] for k in keys} == {"unet", "te"}
    modules = {k.split(".")[0] for k in keys}
    assert len(keys) == 3 * len(modules) == 3 * summary["modules"]
    assert all(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for k in keys)
    assert "lora_te_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight" in keys
    assert any("attn2_to_v" in k for k in keys)
    assert float(alpha) == 2.0
    assert (metadata["ss_network_dim"], metadata["ss_network_alpha"], metadata["ss_output_name"]) == ("4", "2.0", "shapes-cyan")
    assert json.loads(metadata["easel_demo_colour"]) == {"name": "cyan", "rgb": list(DEFAULT_RGB)}


def test_easel_applies_every_module_without_warnings_and_restores(tiny_lora) -> None:
    from modules.networks import LoraLibrary, NetworkUse, apply_networks

    model, cfg, summary = tiny_lora
    library = LoraLibrary([cfg.output.parent])
    weight = model.unet.get_submodule("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k").weight
    before = weight.detach().clone()
    with safe_open(str(cfg.output), "pt") as f:
        name = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
        up, down = (f.get_tensor(f"{name}.lora_{p}.weight").float() for p in ("up", "down"))
    with apply_networks(model, [NetworkUse("shapes-cyan")], library, keep=False) as report:
        assert report.warnings == []
        assert report.patched_parameters == summary["modules"]
        expected = before + up @ down * (2.0 / 4)
        assert torch.allclose(weight, expected, atol=1e-6) and not torch.equal(weight, before)
    assert torch.equal(weight, before)


def test_training_is_deterministic(tiny_lora, tmp_path) -> None:
    model, cfg, _ = tiny_lora
    again = LoraConfig(**{**cfg.__dict__, "output": tmp_path / "again.safetensors"})
    train_lora(again, model)
    with safe_open(str(cfg.output), "pt") as a, safe_open(str(again.output), "pt") as b:
        assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())
