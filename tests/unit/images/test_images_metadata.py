"""Infotext is stored where A1111 stores it and read back from png/jpg/webp."""

import io

import piexif
import piexif.helper
import pytest
from PIL import Image, PngImagePlugin

from modules.images import SaveOptions, encode_image, read_infotext, save_image

INFOTEXT = (
    "猫, café ✓, (masterpiece:1.2)\nNegative prompt: ugly\n"
    'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x48, Lora hashes: "add_detail: 7c6bad76eb54"'
)


def encoded(image, extension, infotext, **kwargs):
    buffer = io.BytesIO()
    encode_image(image, buffer, extension, infotext, **kwargs)
    buffer.seek(0)
    return Image.open(buffer)


@pytest.mark.parametrize("extension", ["png", "jpg", "jpeg", "webp"])
def test_saved_file_reads_back_exact_infotext(tmp_path, extension):
    image = Image.new("RGB", (64, 48), (200, 10, 10))
    saved = save_image(image, tmp_path, "", 1, "cat", extension, INFOTEXT)
    with Image.open(saved.path) as reopened:
        infotext, other = read_infotext(reopened)
        assert reopened.size == (64, 48)
    assert infotext == INFOTEXT
    assert "exif" not in other and "parameters" not in other


def test_png_uses_parameters_text_chunk_and_keeps_existing_info():
    image = encoded(Image.new("RGB", (8, 8)), "png", INFOTEXT, existing_pnginfo={"postprocessing": "Postprocess upscale by: 2"})
    assert image.info["parameters"] == INFOTEXT  # non-Latin-1 text: PIL writes an iTXt chunk
    infotext, other = read_infotext(image)
    assert infotext == INFOTEXT
    assert other == {"postprocessing": "Postprocess upscale by: 2"}


@pytest.mark.parametrize("extension", ["jpg", "webp"])
def test_jpeg_and_webp_use_unicode_exif_user_comment(extension):
    image = encoded(Image.new("RGB", (8, 8)), extension, INFOTEXT)
    raw = piexif.load(image.info["exif"])["Exif"][piexif.ExifIFD.UserComment]
    assert raw.startswith(b"UNICODE\x00")
    assert piexif.helper.UserComment.load(raw) == INFOTEXT


@pytest.mark.parametrize("extension", ["jpg", "webp"])
def test_rgba_becomes_rgb_for_jpeg_and_webp(extension):
    image = encoded(Image.new("RGBA", (8, 8), (0, 255, 0, 128)), extension, "x")
    assert image.mode == "RGB"


def test_reads_a1111_style_jpeg_written_with_piexif_insert(tmp_path):
    path = tmp_path / "a1111.jpg"
    Image.new("RGB", (16, 16), "blue").save(path, quality=80)
    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(INFOTEXT, encoding="unicode")}})
    piexif.insert(exif, str(path))
    with Image.open(path) as image:
        assert read_infotext(image)[0] == INFOTEXT


def test_exif_user_comment_without_encoding_prefix_is_read_as_utf8():
    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: "plain: text ✓".encode("utf8")}})
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG", exif=exif)
    buffer.seek(0)
    assert read_infotext(Image.open(buffer))[0] == "plain: text ✓"


def test_no_metadata_and_broken_exif_give_none():
    assert read_infotext(encoded(Image.new("RGB", (8, 8)), "png", None)) == (None, {})
    assert read_infotext(encoded(Image.new("RGB", (8, 8)), "jpg", None))[0] is None
    broken = Image.new("RGB", (8, 8))
    broken.info["exif"] = b"Exif\x00\x00garbage"
    assert read_infotext(broken)[0] is None


def test_enable_pnginfo_false_writes_no_metadata():
    options = SaveOptions(enable_pnginfo=False)
    assert read_infotext(encoded(Image.new("RGB", (8, 8)), "png", INFOTEXT, options=options))[0] is None
    assert read_infotext(encoded(Image.new("RGB", (8, 8)), "jpg", INFOTEXT, options=options))[0] is None


def test_gif_comment_is_read():
    buffer = io.BytesIO()
    Image.new("P", (4, 4)).save(buffer, format="GIF", comment="Steps: 1, Seed: 2, Sampler: Euler")
    buffer.seek(0)
    assert read_infotext(Image.open(buffer))[0] == "Steps: 1, Seed: 2, Sampler: Euler"


def test_png_written_by_a1111_is_read(tmp_path):
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("parameters", "cat\nSteps: 20, Sampler: Euler a, Seed: 5")
    path = tmp_path / "00000-5.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=chunks)
    with Image.open(path) as image:
        assert read_infotext(image)[0] == "cat\nSteps: 20, Sampler: Euler a, Seed: 5"


def test_infotext_too_long_for_jpeg_raises_clear_error(tmp_path):
    with pytest.raises(ValueError, match="too long for JPEG EXIF"):
        save_image(Image.new("RGB", (8, 8)), tmp_path, "", 1, "p", "jpg", "x" * 40000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    saved = save_image(Image.new("RGB", (8, 8)), tmp_path, "", 1, "p", "webp", "x" * 40000)
    with Image.open(saved.path) as image:
        assert read_infotext(image)[0] == "x" * 40000
