"""Checkpoint manager on random-weight models: listing, hashing, switching, failures, VAE."""

import hashlib
import shutil

import pytest
import safetensors.torch
import torch

from modules import paths as paths_module
from modules.cmd_args import parse_args
from modules.engine_state import EngineState
from modules.options import OptionError
from modules.sd_models import checkpoints
from modules.sd_models.ldm_layout import vae_to_ldm
from modules.sd_models.random_weights import build_modules
from modules.sd_models.safe_load import CheckpointLoadError, UnsafeCheckpointError
from tests.helpers import TINY_ARCHITECTURES, install_checkpoint, make_args
from tests.unit.foundation.test_safe_load import write_malicious_ckpt


def new_state(data_dir, *flags):
    return EngineState.create(make_args(data_dir, *flags))


def test_titles_and_hashes_follow_a1111(data_dir, tiny_checkpoints):
    path = install_checkpoint(data_dir, tiny_checkpoints["sd1"], "sub/one.safetensors")
    state = new_state(data_dir)
    [info] = state.models.checkpoints
    assert info.name == "sub/one.safetensors" and info.model_name == "sub_one" and info.title == info.name
    model = state.models.load(info.title)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert model.info.sha256 == sha
    assert model.info.title == f"sub/one.safetensors [{sha[:10]}]"
    assert state.options.sd_model_checkpoint == model.info.title
    for query in ("one", "sub/one", sha[:10], sha, model.info.legacy_hash, str(path)):
        assert state.models.find(query).path == path


def test_hash_cache_survives_a_restart(data_dir, tiny_checkpoints, monkeypatch):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "m.safetensors")
    new_state(data_dir).models.load("m")
    calls = []
    monkeypatch.setattr(checkpoints, "sha256_of_file", lambda p: calls.append(p) or "0" * 64)
    restarted = new_state(data_dir)
    assert restarted.models.checkpoints[0].shorthash is not None  # known from cache.json at listing
    restarted.models.load("m")
    assert calls == []


def test_unknown_checkpoint_names_suggest_close_matches(data_dir, tiny_checkpoints):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "dreamy.safetensors")
    state = new_state(data_dir)
    with pytest.raises(CheckpointLoadError, match="did you mean dreamy.safetensors"):
        state.models.load("dreamy2")


def test_switching_keeps_at_most_the_limit_in_memory(data_dir, tiny_checkpoints):
    for name in ("sd1", "sd2", "sdxl"):
        install_checkpoint(data_dir, tiny_checkpoints[name])
    state = new_state(data_dir)
    state.models.load("sd1")
    state.models.load("sd2")
    assert [m.info.name for m in state.models.loaded] == ["sd2.safetensors"]
    state.options.set("sd_checkpoints_limit", 2)
    state.models.load("sdxl")
    cached = state.models.load("sd2")
    assert [m.info.name for m in state.models.loaded] == ["sdxl.safetensors", "sd2.safetensors"]
    assert state.models.current() is cached
    state.models.load("sd1")  # least recently used (sdxl) goes
    assert [m.info.name for m in state.models.loaded] == ["sd2.safetensors", "sd1.safetensors"]


@pytest.mark.parametrize("make_bad", ["malicious", "truncated", "missing", "not_a_model", "incomplete"])
def test_a_bad_file_leaves_the_previous_model_usable(data_dir, tiny_checkpoints, tmp_path, make_bad):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "good.safetensors")
    folder = data_dir / "models" / "Stable-diffusion"
    marker = tmp_path / "code-ran"
    if make_bad == "malicious":
        write_malicious_ckpt(folder / "bad.ckpt", marker)
    elif make_bad == "truncated":
        (folder / "bad.safetensors").write_bytes(tiny_checkpoints["sd2"].read_bytes()[:5000])
    elif make_bad == "missing":
        shutil.copyfile(tiny_checkpoints["sd2"], folder / "bad.safetensors")
    elif make_bad == "not_a_model":
        safetensors.torch.save_file({"lora_unet_x.lora_up.weight": torch.zeros(2, 2)}, str(folder / "bad.safetensors"))
    else:  # every key a known family has, but the UNet is missing half its blocks
        state_dict = safetensors.torch.load_file(str(tiny_checkpoints["sd2"]))
        pruned = {k: v for k, v in state_dict.items() if "output_blocks" not in k}
        safetensors.torch.save_file(pruned, str(folder / "bad.safetensors"))
    state = new_state(data_dir)
    good = state.models.load("good")
    if make_bad == "missing":
        (folder / "bad.safetensors").unlink()
    with pytest.raises(CheckpointLoadError, match="bad"):
        state.models.load(state.models.checkpoints[0] if make_bad == "missing" else "bad")
    assert state.models.current() is good or state.models.current().info.path == good.info.path
    assert state.options.sd_model_checkpoint == good.info.title
    assert "bad" in state.models.last_error or make_bad == "missing"
    assert not marker.exists()


def test_malicious_checkpoint_via_settings_never_runs(data_dir, tiny_checkpoints, tmp_path):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "good.safetensors")
    marker = tmp_path / "code-ran"
    write_malicious_ckpt(data_dir / "models" / "Stable-diffusion" / "evil.ckpt", marker)
    state = new_state(data_dir)
    state.models.load("good")
    with pytest.raises(UnsafeCheckpointError, match="evil.ckpt: refused"):
        state.options.set("sd_model_checkpoint", "evil.ckpt")
    state.models.refresh()
    assert not marker.exists()
    assert state.models.current().info.name == "good.safetensors"


def test_background_load_picks_the_first_user_checkpoint(data_dir, tiny_checkpoints):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "b.safetensors")
    install_checkpoint(data_dir, tiny_checkpoints["sd2"], "a.safetensors")
    state = new_state(data_dir)
    state.models.start_background_load().join(60)
    assert state.models.current(timeout=1).info.name == "a.safetensors"


def test_cli_ckpt_outside_the_models_folder(data_dir, tiny_checkpoints):
    state = new_state(data_dir, "--ckpt", str(tiny_checkpoints["sdxl"]))
    state.models.start_background_load(str(tiny_checkpoints["sdxl"])).join(60)
    assert state.models.current(timeout=1).arch.family == "sdxl"


def decode(model):
    latent = torch.linspace(-1, 1, 4 * 8 * 8).reshape(1, 4, 8, 8)
    with torch.no_grad():
        return model.vae.decode(latent).sample


def test_external_vae_swaps_in_place_and_none_restores_exactly(data_dir, tiny_checkpoints):
    install_checkpoint(data_dir, tiny_checkpoints["sd1"], "m.safetensors")
    state = new_state(data_dir)
    model = state.models.load("m")
    builtin = decode(model)
    other = build_modules(model.arch, tiny=True, seed=123)["vae"]
    (data_dir / "models" / "VAE").mkdir(exist_ok=True)
    bare_ldm = {k.removeprefix("first_stage_model."): v for k, v in vae_to_ldm(other).items()}
    safetensors.torch.save_file(bare_ldm, str(data_dir / "models" / "VAE" / "other.safetensors"))
    state.models.refresh()
    state.options.set("sd_vae", "other.safetensors")
    assert state.models.current() is model  # no checkpoint reload
    swapped = decode(model)
    with torch.no_grad():
        expected = other.decode(torch.linspace(-1, 1, 256).reshape(1, 4, 8, 8)).sample
    assert torch.allclose(swapped, expected, atol=1e-6) and not torch.allclose(swapped, builtin)
    state.options.set("sd_vae", "None")
    assert torch.equal(decode(model), builtin)
    with pytest.raises(OptionError, match="unknown VAE"):
        state.options.set("sd_vae", "nope.safetensors")


def test_automatic_vae_uses_the_same_named_file(data_dir, tiny_checkpoints):
    ckpt = install_checkpoint(data_dir, tiny_checkpoints["sd1"], "m.safetensors")
    other = build_modules(TINY_ARCHITECTURES["sd1"], tiny=True, seed=5)["vae"]
    safetensors.torch.save_file(vae_to_ldm(other), str(ckpt.with_name("m.vae.safetensors")))
    state = new_state(data_dir)
    model = state.models.load("m")
    assert model.vae_source.endswith("m.vae.safetensors")


def test_demo_model_is_listed_unless_hidden(data_dir, tmp_path, tiny_checkpoints, monkeypatch):
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    shutil.copyfile(tiny_checkpoints["sd1"], demo_dir / "shapes-demo.safetensors")
    monkeypatch.setattr(paths_module, "DEMO_MODEL_DIR", demo_dir)
    state = EngineState.create(parse_args(["--data-dir", str(data_dir)]))
    assert [c.name for c in state.models.checkpoints] == ["shapes-demo.safetensors"]
    assert state.models.default_checkpoint().is_demo
    state.options.set("hide_demo_model", True)
    assert state.models.checkpoints == []
    hidden = EngineState.create(parse_args(["--data-dir", str(data_dir), "--no-demo-model"]))
    assert hidden.models.checkpoints == []
