"""save_image: A1111 names and layout, sidecar, atomic writes."""

import datetime
import os
from pathlib import Path

import pytest
from PIL import Image

from modules.images import (
    FilenameData,
    OutputDirOptions,
    OutputKind,
    SaveOptions,
    output_directory,
    output_root,
    read_infotext,
    save_image,
)

NOW = datetime.datetime(2024, 3, 9, 12, 0, 0)
DATA = FilenameData(now=NOW, steps=20, sampler="Euler a")
IMAGE = Image.new("RGB", (32, 32), (50, 100, 150))


def files_in(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def test_default_layout_is_dated_folder_with_counter_and_seed(tmp_path):
    first = save_image(IMAGE, tmp_path, "", 1234, "a cat", "png", "info", data=DATA)
    second = save_image(IMAGE, tmp_path, "", 99, "a cat", "png", "info", data=DATA)
    assert first.path == tmp_path / "2024-03-09" / "00000-1234.png"
    assert second.path == tmp_path / "2024-03-09" / "00001-99.png"
    assert first.txt_path is None


def test_without_sub_folders_name_has_prompt_spaces(tmp_path):
    saved = save_image(IMAGE, tmp_path, "", 7, "a cat: cute?", "jpg", None, options=SaveOptions(save_to_dirs=False))
    assert saved.path == tmp_path / "00000-7-a cat_ cute_.jpg"


def test_counter_continues_after_existing_files(tmp_path):
    (tmp_path / "00041-1.png").write_bytes(b"")
    saved = save_image(IMAGE, tmp_path, "", 5, "p", "png", None, options=SaveOptions(save_to_dirs=False, samples_filename_pattern="[seed]"))
    assert saved.path.name == "00042-5.png"


def test_grid_name_and_grid_folder_option(tmp_path):
    saved = save_image(IMAGE, tmp_path, "grid", 1, "p", "png", "info", data=DATA, short_filename=True, grid=True)
    assert saved.path == tmp_path / "2024-03-09" / "grid-0000.png"
    flat = save_image(IMAGE, tmp_path, "grid", 1, "p", "png", "info", short_filename=True, grid=True,
                      options=SaveOptions(grid_save_to_dirs=False))
    assert flat.path == tmp_path / "grid-0000.png"


def test_custom_patterns_suffix_and_no_counter(tmp_path):
    options = SaveOptions(samples_filename_pattern="[seed]-[steps]-[sampler]", directories_filename_pattern="[date]/[prompt_words]")
    saved = save_image(IMAGE, tmp_path, "", 3, "red fox", "webp", None, data=DATA, options=options, suffix="-before-highres-fix")
    assert saved.path == tmp_path / "2024-03-09" / "red fox" / "00000-3-20-Euler a-before-highres-fix.webp"
    plain = save_image(IMAGE, tmp_path, "", 3, "p", "png", None, options=SaveOptions(save_images_add_number=False, save_to_dirs=False))
    assert plain.path == tmp_path / "3-p.png"


def test_replace_action(tmp_path):
    options = SaveOptions(save_images_add_number=False, save_to_dirs=False, samples_filename_pattern="[seed]")
    first = save_image(IMAGE, tmp_path, "", 8, "p", "png", "one", options=options)
    again = save_image(IMAGE, tmp_path, "", 8, "p", "png", "two", options=options)
    assert first.path == again.path
    with Image.open(again.path) as image:
        assert read_infotext(image)[0] == "two"
    suffixed = save_image(IMAGE, tmp_path, "", 8, "p", "png", "three",
                          options=SaveOptions(save_images_add_number=False, save_to_dirs=False, samples_filename_pattern="[seed]",
                                              save_images_replace_action="Add number suffix"))
    assert suffixed.path.name == "8-1.png"


def test_forced_filename_and_txt_sidecar(tmp_path):
    saved = save_image(IMAGE, tmp_path, "", 1, "p", "png", "cat\nSteps: 1", data=DATA, forced_filename="fixed",
                       options=SaveOptions(save_txt=True))
    assert saved.path == tmp_path / "2024-03-09" / "fixed.png"
    assert saved.txt_path == saved.path.with_suffix(".txt")
    assert saved.txt_path.read_text(encoding="utf8") == "cat\nSteps: 1\n"
    no_info = save_image(IMAGE, tmp_path, "", 1, "p", "png", None, options=SaveOptions(save_txt=True))
    assert no_info.txt_path is None
    with pytest.raises(ValueError, match="forced_filename"):
        save_image(IMAGE, tmp_path, forced_filename="")


def test_long_and_unicode_prompts_fit_the_file_system(tmp_path):
    for prompt in ["word " * 200, "猫" * 300]:
        saved = save_image(IMAGE, tmp_path, "", 1, prompt, "png", "i",
                           options=SaveOptions(save_to_dirs=False, save_txt=True))
        assert len(saved.path.name.encode()) <= 255
        assert saved.txt_path.exists()


def test_directory_pattern_cannot_escape_the_output_folder(tmp_path):
    root = tmp_path / "out"
    options = SaveOptions(directories_filename_pattern="../../[seed]/./x")
    saved = save_image(IMAGE, root, "", 5, "p", "png", None, options=options)
    assert saved.path.parent == root / "5" / "x"
    options = SaveOptions(save_to_dirs=False, samples_filename_pattern="a/../../b")
    saved = save_image(IMAGE, root, "", 5, "p", "png", None, options=options)
    assert saved.path.parent == root and "/" not in saved.path.name


def test_too_wide_for_webp_is_saved_as_png(tmp_path):
    saved = save_image(Image.new("RGB", (16400, 1)), tmp_path, "", 1, "p", "webp", "i", options=SaveOptions(save_to_dirs=False))
    assert saved.path.suffix == ".png"


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="extension 'bmp'"):
        save_image(IMAGE, tmp_path, "", 1, "p", "bmp")
    with pytest.raises(ValueError, match="image must be a PIL image"):
        save_image("not an image", tmp_path)
    with pytest.raises(ValueError, match="save_images_replace_action"):
        SaveOptions(save_images_replace_action="Overwrite")
    with pytest.raises(ValueError, match="jpeg_quality"):
        SaveOptions(jpeg_quality=0)


def test_saved_file_keeps_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        saved = save_image(IMAGE, tmp_path, "", 1, "p", "png", None)
    finally:
        os.umask(old)
    assert saved.path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_encoder_failing_midway_leaves_no_file(tmp_path, monkeypatch, error):
    real_png_save = Image.SAVE["PNG"]

    def failing_save(image, handle, filename):
        handle.write(b"\x89PNG\r\n\x1a\n partial data")
        raise error

    monkeypatch.setitem(Image.SAVE, "PNG", failing_save)
    with pytest.raises(type(error)):
        save_image(IMAGE, tmp_path, "", 1, "p", "png", "info", options=SaveOptions(save_txt=True))
    assert files_in(tmp_path) == []

    # an existing file is untouched by a failed overwrite
    monkeypatch.setitem(Image.SAVE, "PNG", real_png_save)
    good = save_image(IMAGE, tmp_path, "", 1, "p", "png", "old", forced_filename="keep")
    before = good.path.read_bytes()
    monkeypatch.setitem(Image.SAVE, "PNG", failing_save)
    with pytest.raises(type(error)):
        save_image(IMAGE, tmp_path, "", 1, "p", "png", "new", forced_filename="keep")
    assert good.path.read_bytes() == before
    assert files_in(tmp_path) == [str(good.path.relative_to(tmp_path))]


def test_output_roots_follow_a1111_options(tmp_path):
    options = OutputDirOptions()
    assert output_root(OutputKind.TXT2IMG_SAMPLES, options, tmp_path) == tmp_path / "outputs" / "txt2img-images"
    assert output_root(OutputKind.IMG2IMG_GRIDS, options, tmp_path) == tmp_path / "outputs" / "img2img-grids"
    assert output_root(OutputKind.EXTRAS_SAMPLES, options, tmp_path) == tmp_path / "outputs" / "extras-images"
    shared = OutputDirOptions(outdir_samples="all", outdir_grids=str(tmp_path / "abs-grids"))
    assert output_root(OutputKind.IMG2IMG_SAMPLES, shared, tmp_path) == tmp_path / "all"
    assert output_root(OutputKind.EXTRAS_SAMPLES, shared, tmp_path) == tmp_path / "all"
    assert output_root(OutputKind.TXT2IMG_GRIDS, shared, tmp_path) == tmp_path / "abs-grids"
    with pytest.raises(ValueError, match="txt2img-images"):
        output_root(OutputKind.TXT2IMG_SAMPLES, OutputDirOptions(outdir_txt2img_samples=""), tmp_path)


def test_output_directory_matches_where_save_image_writes(tmp_path):
    options = OutputDirOptions()
    where = output_directory(OutputKind.TXT2IMG_SAMPLES, options, tmp_path, data=DATA)
    assert where == tmp_path / "outputs" / "txt2img-images" / "2024-03-09"
    saved = save_image(IMAGE, output_root(OutputKind.TXT2IMG_SAMPLES, options, tmp_path), "", 1, "p", "png", None, data=DATA)
    assert saved.path.parent == where
    flat = output_directory(OutputKind.TXT2IMG_GRIDS, options, tmp_path, save_to_dirs=False)
    assert flat == tmp_path / "outputs" / "txt2img-grids"
