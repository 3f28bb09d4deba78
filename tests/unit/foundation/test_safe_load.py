import os
import pickle

import pytest
import safetensors.torch
import torch

from modules.sd_models.safe_load import (
    CheckpointLoadError,
    UnsafeCheckpointError,
    load_state_dict,
    read_safetensors_header,
)


class RunsCode:
    """A pickle payload that creates a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_malicious_ckpt(path, marker):
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": RunsCode(marker)}, path)
    return path


def test_malicious_ckpt_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = write_malicious_ckpt(tmp_path / "evil.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError, match="evil.ckpt: refused to load"):
        load_state_dict(ckpt)
    assert not marker.exists()


def test_unsafe_unpickle_only_when_the_user_allows_it(tmp_path):
    marker = tmp_path / "ran"
    ckpt = write_malicious_ckpt(tmp_path / "trusted.ckpt", marker)
    state, _ = load_state_dict(ckpt, allow_unsafe=True)
    assert marker.exists()  # proves the payload is real, so the refusal above is meaningful
    assert torch.equal(state["w"], torch.zeros(2))


def test_plain_ckpt_with_nested_state_dict_loads(tmp_path):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"a": torch.ones(3), "step": 5}, "global_step": 10}, path)
    state, meta = load_state_dict(path)
    assert list(state) == ["a"] and meta == {}


def test_safetensors_header_gives_shapes_and_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(2, 3)}, str(path), metadata={"k": "v"})
    shapes, meta = read_safetensors_header(path)
    assert shapes == {"x": (2, 3)} and meta == {"k": "v"}


def test_truncated_and_corrupt_files_get_clear_errors(tmp_path):
    good = tmp_path / "good.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(1000)}, str(good))
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointLoadError, match="cut.safetensors: file is truncated"):
        load_state_dict(truncated)
    garbage = tmp_path / "junk.safetensors"
    garbage.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{{{{{")
    with pytest.raises(CheckpointLoadError, match="junk.safetensors: not a valid .safetensors"):
        load_state_dict(garbage)
    bad_ckpt = tmp_path / "bad.ckpt"
    bad_ckpt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointLoadError, match="bad.ckpt"):
        load_state_dict(bad_ckpt)
    with pytest.raises(CheckpointLoadError, match="missing.safetensors: file not found"):
        load_state_dict(tmp_path / "missing.safetensors")


def test_legacy_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "legacy-ran"
    path = tmp_path / "old.pt"
    with open(path, "wb") as f:
        pickle.dump(RunsCode(marker), f)
    with pytest.raises(CheckpointLoadError):
        load_state_dict(path)
    assert not marker.exists()
