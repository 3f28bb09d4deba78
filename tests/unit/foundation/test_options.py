import json

import pytest

from modules.options import OptionError, Options, OptionsRegistry


def make(path, frozen=False):
    return Options(OptionsRegistry.builtin(), path, frozen=frozen)


def test_defaults_use_a1111_keys(tmp_path):
    opts = make(tmp_path / "config.json")
    for key in ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers", "samples_save", "samples_format",
                "outdir_samples", "outdir_txt2img_samples", "save_to_dirs", "grid_save", "enable_pnginfo",
                "sd_checkpoints_limit"):
        assert opts.get(key) == opts.registry.infos[key].default
    assert opts.samples_format == "png"  # attribute access, as extensions write it


def test_changes_persist_atomically_and_reload(tmp_path):
    path = tmp_path / "config.json"
    opts = make(path)
    assert opts.update({"samples_format": "jpg", "CLIP_stop_at_last_layers": 2}) == ["samples_format",
                                                                                      "CLIP_stop_at_last_layers"]
    assert json.loads(path.read_text())["samples_format"] == "jpg"
    assert make(path).CLIP_stop_at_last_layers == 2
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp files left


@pytest.mark.parametrize("changes, message", [
    ({"no_such_key": 1}, "unknown setting(s): 'no_such_key'"),
    ({"samples_save": "yes"}, "'samples_save' must be true or false"),
    ({"CLIP_stop_at_last_layers": 2.5}, "must be a whole number"),
    ({"CLIP_stop_at_last_layers": 40}, "between 1 and 12"),
    ({"samples_format": "bmp"}, "must be one of"),
])
def test_bad_values_are_rejected_with_the_key_named_and_nothing_changes(tmp_path, changes, message):
    opts = make(tmp_path / "config.json")
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        opts.update({"samples_format": "webp", **changes})
    assert opts.samples_format == "png"  # all-or-nothing
    assert not (tmp_path / "config.json").exists()


def test_corrupt_config_is_backed_up_and_defaults_used(tmp_path, caplog):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    opts = make(path)
    assert opts.samples_format == "png"
    backups = list(tmp_path.glob("config.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{not json"
    assert "not valid JSON" in caplog.text


def test_stored_values_of_wrong_type_or_unknown_keys_are_ignored(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"samples_format": 3, "some_extension_key": 1, "jpeg_quality": 95}))
    opts = make(path)
    assert opts.samples_format == "png" and opts.jpeg_quality == 95


def test_frozen_settings_refuse_changes(tmp_path):
    opts = make(tmp_path / "config.json", frozen=True)
    with pytest.raises(OptionError, match="frozen"):
        opts.set("samples_format", "jpg")


def test_on_change_handler_can_veto_or_canonicalise(tmp_path):
    opts = make(tmp_path / "config.json")

    def handler(value):
        if value == "bad":
            raise OptionError("no")
        return value.upper()

    opts.on_change("sd_model_checkpoint", handler)
    with pytest.raises(OptionError):
        opts.set("sd_model_checkpoint", "bad")
    assert opts.sd_model_checkpoint == ""
    opts.set("sd_model_checkpoint", "good")
    assert opts.sd_model_checkpoint == "GOOD"
