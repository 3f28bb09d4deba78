"""Finding a LoRA by its hash, and pasted `<lora:old:…>` tags pointed at the renamed file."""

import os

import pytest
import safetensors.torch
import torch

from modules.networks import LoraLibrary, relink_pasted_loras
from modules.networks.lora_files import addnet_hash
from modules.networks.pasted_infotext import parse_lora_hashes, relink_lora_tags


def write(path, seed):
    g = torch.Generator().manual_seed(seed)
    safetensors.torch.save_file({"lora_unet_a.diff": torch.randn(3, 3, generator=g)}, str(path))
    return addnet_hash(path)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_find_by_hash_finds_the_renamed_file_by_a_hash_prefix(folder):
    digest = write(folder / "old.safetensors", 1)
    write(folder / "sub" / "other.safetensors", 2)
    library = LoraLibrary([folder])
    assert library.shorthash(folder / "old.safetensors") == digest[:12]
    os.replace(folder / "old.safetensors", folder / "sub" / "new.safetensors")
    assert library.find("old") is None  # a scan older than the rename is not trusted
    assert library.find_by_hash(digest[:12]) == "new"
    assert library.find_by_hash(digest[:8].upper()) == "new"
    assert library.find_by_hash(digest[:7]) is None  # too short to trust
    assert library.find_by_hash("not-a-hash-at-all") is None
    assert library.find_by_hash("0" * 12) is None


def test_a_changed_file_is_hashed_again(folder):
    path = folder / "x.safetensors"
    first = write(path, 1)
    library = LoraLibrary([folder])
    assert library.find_by_hash(first[:12]) == "x"
    second = write(path, 2)
    os.utime(path, ns=(1, 1))  # a new stamp even on coarse clocks
    assert library.find_by_hash(first[:12]) is None and library.find_by_hash(second[:12]) == "x"


def test_lora_hashes_are_parsed_as_a1111_writes_them():
    assert parse_lora_hashes('"a: 0123456789ab, b c: ba9876543210"') == {"a": "0123456789ab",
                                                                          "b c": "ba9876543210"}
    assert parse_lora_hashes("broken, : x, y:") == {}


def test_only_missing_names_with_a_matching_hash_are_relinked(folder):
    digest = write(folder / "renamed.safetensors", 1)
    write(folder / "kept.safetensors", 2)
    library = LoraLibrary([folder])
    hashes = {"gone": digest[:12], "kept": digest[:12], "lost": "0" * 12}
    prompt = "a <lora:gone:0.5> b <lyco:gone> <lora:kept:1> <lora:lost:1> <lora:unlisted:1>"
    assert relink_lora_tags(prompt, hashes, library) == \
        "a <lora:renamed:0.5> b <lyco:renamed> <lora:kept:1> <lora:lost:1> <lora:unlisted:1>"


def test_relink_pasted_fields_touches_the_prompts_only(folder):
    digest = write(folder / "renamed.safetensors", 1)
    fields = {"Prompt": "<lora:gone:1> cat", "Hires prompt": "<lora:gone:0.2>", "Negative prompt": "<lora:gone:1>",
              "Lora hashes": f"gone: {digest[:12]}", "Steps": "20"}
    relinked = relink_pasted_loras(fields, LoraLibrary([folder]))
    assert relinked == {**fields, "Prompt": "<lora:renamed:1> cat", "Hires prompt": "<lora:renamed:0.2>"}
    assert fields["Prompt"] == "<lora:gone:1> cat"  # the input is left as it was
    assert relink_pasted_loras({"Prompt": "<lora:gone:1>"}, LoraLibrary([folder])) == {"Prompt": "<lora:gone:1>"}
