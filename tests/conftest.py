"""Shared fixtures: random-weight checkpoints of every architecture, app state in a temp data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be fetched, ever
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

torch.set_num_threads(1)  # small models: threads cost more than they give, and CI has 2 cores

from tests.helpers import TINY_ARCHITECTURES  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """One tiny random-weight .safetensors per architecture (A1111 key layout), built once."""
    from modules.sd_models.random_weights import write_checkpoint

    folder = tmp_path_factory.mktemp("tiny-checkpoints")
    paths = {}
    for seed, (name, arch) in enumerate(TINY_ARCHITECTURES.items()):
        paths[name] = folder / f"{name}.safetensors"
        write_checkpoint(paths[name], arch, tiny=True, seed=seed)
    return paths


@pytest.fixture(scope="session")
def tiny_sd3_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny random SD3 single files (with T5 and a stand-in T5 tokenizer beside them)."""
    from modules.sd_models.sd3_random_weights import write_sd3_checkpoint, write_tiny_t5_tokenizer
    from tests.helpers import TINY_SD3_RELEASES

    folder = tmp_path_factory.mktemp("tiny-sd3")
    write_tiny_t5_tokenizer(folder / "t5_tokenizer")
    paths = {}
    for seed, (name, release) in enumerate(TINY_SD3_RELEASES.items()):
        paths[name] = folder / f"{name}.safetensors"
        write_sd3_checkpoint(paths[name], release, tiny=True, seed=seed)
    return paths


@pytest.fixture
def data_dir(tmp_path) -> Path:
    (tmp_path / "models" / "Stable-diffusion").mkdir(parents=True)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoints):
    """`tiny_models(name)` → the LoadedModel of a tiny checkpoint (loaded once, hashed like the manager)."""
    from modules.cmd_args import parse_args
    from modules.devices import decide_policy
    from modules.sd_models.checkpoints import CheckpointInfo, HashCache
    from modules.sd_models.loader import load_model

    loaded = {}

    def get(name):
        if name not in loaded:
            path = tiny_checkpoints[name]
            info = CheckpointInfo(path, path.name, sha256=HashCache(None).sha256(path))
            loaded[name] = load_model(info, decide_policy(parse_args([])))
        return loaded[name]

    return get


@pytest.fixture
def settings():
    """Default settings as a generation sees them."""
    from modules.options import Options, OptionsRegistry

    return Options(OptionsRegistry.builtin(), None).as_dict()


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The bundled shapes-demo checkpoint, loaded through the ordinary manager as the default
    checkpoint of an empty data dir (as a new user gets it): (model, settings, data_dir)."""
    from modules.cmd_args import parse_args
    from modules.engine_state import EngineState
    from modules.paths import DEMO_MODEL_DIR

    assert (DEMO_MODEL_DIR / "shapes-demo.safetensors").is_file(), "the demo checkpoint is missing from assets/"
    data_dir = tmp_path_factory.mktemp("demo-data")
    state = EngineState.create(parse_args(["--data-dir", str(data_dir)]))
    info = state.models.default_checkpoint()
    assert info is not None and info.is_demo and "shapes-demo" in info.title
    return state.models.load(info), state.options.as_dict(), data_dir
