"""A1111's user metadata JSON beside a LoRA, and what the library tells the UI and API about a file."""

import json
import logging

import safetensors.torch
import torch

from modules.networks import LoraLibrary, read_user_metadata

A1111_FIELDS = {"description": "cyan shapes", "activation text": "cyan", "preferred weight": 0.8,
                "negative text": "red", "notes": "trained on 30 images", "sd version": "SD1"}


def lora_file(folder, name, metadata=None):
    path = folder / f"{name}.safetensors"
    safetensors.torch.save_file({"lora_unet_a.diff": torch.ones(2, 2)}, str(path), metadata=metadata)
    return path


def test_a1111_fields_are_read_as_written(tmp_path):
    path = lora_file(tmp_path, "cyan")
    (tmp_path / "cyan.json").write_text(json.dumps({**A1111_FIELDS, "extra": [1, 2]}), encoding="utf-8")
    user = read_user_metadata(path)
    assert user.values == {**A1111_FIELDS, "extra": [1, 2]} and user.warnings == []
    assert user.preferred_weight == 0.8


def test_no_file_is_empty_and_zero_weight_means_unset(tmp_path):
    path = lora_file(tmp_path, "plain")
    assert read_user_metadata(path).values == {} and read_user_metadata(path).preferred_weight is None
    (tmp_path / "plain.json").write_text('{"preferred weight": 0}', encoding="utf-8")
    assert read_user_metadata(path).preferred_weight is None


def test_broken_files_give_warnings_naming_the_file(tmp_path):
    path = lora_file(tmp_path, "broken")
    json_path = tmp_path / "broken.json"
    for content, message in [("{not json", "broken.json: user metadata not read"),
                             ("[1, 2]", "broken.json: user metadata is not a JSON object"),
                             (b"\xff\xfe", "broken.json: user metadata not read")]:
        json_path.write_bytes(content if isinstance(content, bytes) else content.encode())
        user = read_user_metadata(path)
        assert user.values == {} and len(user.warnings) == 1 and user.warnings[0].startswith(message)


def test_fields_of_the_wrong_type_are_dropped_and_text_weights_read(tmp_path):
    path = lora_file(tmp_path, "odd")
    (tmp_path / "odd.json").write_text(json.dumps({"description": 5, "notes": "ok", "preferred weight": "0.6"}),
                                       encoding="utf-8")
    user = read_user_metadata(path)
    assert user.values == {"notes": "ok", "preferred weight": 0.6}
    assert user.warnings == ["odd.json: 'description' should be text, found int"]
    (tmp_path / "odd.json").write_text('{"preferred weight": "strong"}', encoding="utf-8")
    user = read_user_metadata(path)
    assert user.values == {} and user.warnings == ["odd.json: 'preferred weight' 'strong' is not a number"]


def test_describe_gives_header_and_user_metadata_and_logs_problems(tmp_path, caplog):
    lora_file(tmp_path, "cyan", metadata={"ss_network_dim": "8"})
    (tmp_path / "cyan.json").write_text(json.dumps(A1111_FIELDS), encoding="utf-8")
    (tmp_path / "bad.safetensors").write_bytes(b"\x05")  # not a safetensors file
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    library = LoraLibrary([tmp_path])
    assert library.describe("cyan").api_dict() == {
        "name": "cyan", "alias": "cyan", "path": str(tmp_path / "cyan.safetensors"),
        "metadata": {"ss_network_dim": "8"}, "user_metadata": A1111_FIELDS}
    with caplog.at_level(logging.WARNING):
        bad = library.describe("bad")
    assert bad.metadata == {} and bad.user_metadata.values == {}
    assert "bad.safetensors: not a valid .safetensors file" in caplog.text and "bad.json" in caplog.text
    assert library.describe("nothing") is None
