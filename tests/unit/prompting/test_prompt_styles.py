import os

import pytest

from modules.prompting import PromptStyle, StyleDatabase, apply_style_prompts, extract_style_text, merge_style_prompt

CSV = (
    "name,prompt,negative_prompt\n"
    'wrap,"masterpiece, {prompt}, detailed",blurry\n'
    'append,"oil painting, (canvas:1.2)","photo, {prompt}"\n'
    "# comment,ignored,ignored\n"
)


@pytest.fixture
def styles_file(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_merge_wraps_with_placeholder_or_appends_with_comma():
    assert merge_style_prompt("best, {prompt}, sharp", "a cat") == "best, a cat, sharp"
    assert merge_style_prompt(" sharp ", " a cat ") == "a cat, sharp"
    assert merge_style_prompt("sharp", "") == "sharp"
    assert apply_style_prompts("a cat", ["x {prompt}", "y"]) == "x a cat, y"


def test_load_reads_styles_and_skips_comments(styles_file):
    db = StyleDatabase(styles_file)
    assert db.names() == ["wrap", "append"]
    assert db.get("append") == PromptStyle("append", "oil painting, (canvas:1.2)", "photo, {prompt}")


def test_missing_file_is_an_empty_database(tmp_path):
    assert StyleDatabase(tmp_path / "none.csv").names() == []


def test_apply_styles_to_prompt_and_negative(styles_file):
    db = StyleDatabase(styles_file)
    assert db.apply_styles_to_prompt("a cat", ["wrap", "append"]) == "masterpiece, a cat, detailed, oil painting, (canvas:1.2)"
    assert db.apply_negative_styles_to_prompt("ugly", ["wrap", "append"]) == "photo, ugly, blurry"
    with pytest.raises(ValueError, match="unknown style 'nope'"):
        db.apply_styles_to_prompt("a cat", ["nope"])


def test_extract_styles_undoes_apply(styles_file):
    db = StyleDatabase(styles_file)
    prompt = db.apply_styles_to_prompt("a cat", ["wrap", "append"])
    negative = db.apply_negative_styles_to_prompt("ugly", ["wrap", "append"])
    assert db.extract_styles_from_prompt(prompt, negative) == (["wrap", "append"], "a cat", "ugly")
    assert db.extract_styles_from_prompt("a cat", "ugly") == ([], "a cat", "ugly")


def test_extract_style_text():
    assert extract_style_text("masterpiece", "1girl, art by greg, masterpiece") == (True, "1girl, art by greg")
    assert extract_style_text("masterpiece, {prompt}", "masterpiece, 1girl") == (True, "1girl")
    assert extract_style_text("masterpiece, {prompt}", "exquisite, 1girl") == (False, "exquisite, 1girl")


def test_save_round_trips_including_quotes_and_newlines(styles_file, tmp_path):
    db = StyleDatabase(styles_file)
    db.put(PromptStyle("tricky", 'say "hi", then\nleave', ""))
    db.remove("wrap")
    db.save()
    reloaded = StyleDatabase(styles_file)
    assert reloaded.styles == db.styles
    assert styles_file.read_bytes().startswith(b"\xef\xbb\xbfname,prompt,negative_prompt")
    assert sorted(os.listdir(tmp_path)) == ["styles.csv"]


def test_old_name_text_format_loads(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("name,text\nold,ancient style\n", encoding="utf-8")
    assert StyleDatabase(path).get("old") == PromptStyle("old", "ancient style", "")


def test_malformed_row_is_named(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text("name,prompt,negative_prompt\nok,a,b\nbad,a,b,extra\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"styles.csv line 3: 4 fields"):
        StyleDatabase(path)
    path.write_text("name,prompt,negative_prompt\n,a,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: style has no name"):
        StyleDatabase(path)
    path.write_text("title,prompt\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'name' and 'prompt' columns"):
        StyleDatabase(path)


def test_failed_save_keeps_the_old_file(styles_file, tmp_path, monkeypatch):
    db = StyleDatabase(styles_file)
    db.put(PromptStyle("new", "x", "y"))

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        db.save()
    assert styles_file.read_text(encoding="utf-8") == CSV
    assert sorted(os.listdir(tmp_path)) == ["styles.csv"]


def test_invalid_style_names_are_rejected(styles_file):
    db = StyleDatabase(styles_file)
    with pytest.raises(ValueError, match="style name"):
        db.put(PromptStyle("  ", "x"))
    with pytest.raises(ValueError, match="unknown style"):
        db.remove("missing")
