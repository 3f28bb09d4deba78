"""The bundled A1111 config must rebuild exactly the networks the training tool trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.train_demo_model import UNET_CONFIG, VAE_CONFIG, ldm_yaml

YAML_PATH = Path(__file__).resolve().parents[3] / "assets" / "shapes-demo" / "shapes-demo.yaml"


def _as_lists(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.fixture(scope="module")
def bundled_yaml() -> dict:
    return yaml.safe_load(YAML_PATH.read_text())


def test_yaml_reproduces_the_unet_config(bundled_yaml: dict) -> None:
    from diffusers.loaders.single_file_utils import create_unet_diffusers_config_from_ldm

    config = create_unet_diffusers_config_from_ldm(bundled_yaml, {}, image_size=64)
    for key, expected in UNET_CONFIG.items():
        assert _as_lists(config[key]) == expected, key


def test_yaml_reproduces_the_vae_config_and_its_scaling_factor(bundled_yaml: dict) -> None:
    from diffusers.loaders.single_file_utils import create_vae_diffusers_config_from_ldm

    config = create_vae_diffusers_config_from_ldm(bundled_yaml, {}, image_size=64)
    for key, expected in VAE_CONFIG.items():
        assert _as_lists(config[key]) == expected, key
    scale = bundled_yaml["model"]["params"]["scale_factor"]
    assert config["scaling_factor"] == scale and 0.05 < scale < 20


def test_yaml_keeps_sd1_noise_schedule_and_text_width(bundled_yaml: dict) -> None:
    params = bundled_yaml["model"]["params"]
    assert (params["linear_start"], params["linear_end"], params["timesteps"]) == (0.00085, 0.012, 1000)
    assert params["unet_config"]["params"]["context_dim"] == 128


def test_generated_yaml_matches_the_bundled_one_apart_from_scale(bundled_yaml: dict) -> None:
    scale = bundled_yaml["model"]["params"]["scale_factor"]
    assert yaml.safe_load(ldm_yaml(scale)) == bundled_yaml
