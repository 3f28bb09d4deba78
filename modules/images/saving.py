"""Save generated images as A1111 does: names, counters, sub-folders, metadata, .txt sidecar.

Every file is written atomically (temp file + rename): an interrupt or a crash never
leaves a half-written image behind.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from modules.fileio import write_atomically, write_text_atomically
from modules.images.filenames import (
    FilenameData,
    FilenamePattern,
    NamingRules,
    get_next_sequence_number,
    max_filename_bytes,
    truncate_to_bytes,
)
from modules.images.metadata import PNG_INFOTEXT_KEY, exif_with_user_comment, png_text_chunks
from modules.images.output_dirs import pattern_subdirectory

PIL_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
MAX_SIDE = {"JPEG": 65535, "WEBP": 16383}  # larger images are saved as PNG, as A1111 does
REPLACE_ACTIONS = ("Replace", "Add number suffix")
MAX_COUNTER_TRIES = 500
MAX_JPEG_EXIF_BYTES = 65533  # one JPEG APP1 segment


@dataclass(frozen=True)
class SaveOptions:
    """A1111 settings for saving, under A1111's option names."""

    samples_filename_pattern: str = ""
    save_images_add_number: bool = True
    save_to_dirs: bool = True
    grid_save_to_dirs: bool = True
    directories_filename_pattern: str = "[date]"
    save_txt: bool = False
    enable_pnginfo: bool = True
    jpeg_quality: int = 80
    webp_lossless: bool = False
    save_images_replace_action: str = "Replace"
    naming: NamingRules = field(default_factory=NamingRules)

    def __post_init__(self) -> None:
        if self.save_images_replace_action not in REPLACE_ACTIONS:
            raise ValueError(
                f"save_images_replace_action must be one of {REPLACE_ACTIONS}, got {self.save_images_replace_action!r}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {self.jpeg_quality!r}")


@dataclass(frozen=True)
class SavedImage:
    path: Path
    txt_path: Path | None

    def __iter__(self):  # A1111's save_image returns (fullfn, txt_fullfn): scripts unpack it
        return iter((str(self.path), None if self.txt_path is None else str(self.txt_path)))


def normalize_extension(extension: str) -> str:
    ext = extension.lower().lstrip(".")
    if ext not in PIL_FORMATS:
        raise ValueError(f"image extension {extension!r} is not supported; use one of {sorted(PIL_FORMATS)}")
    return ext


def _fits_format(image: Image.Image, extension: str) -> str:
    limit = MAX_SIDE.get(PIL_FORMATS[extension])
    if limit is not None and max(image.size) > limit:
        return "png"
    return extension


def _image_for_lossy_format(image: Image.Image, pil_format: str) -> Image.Image:
    """JPEG/WEBP take fewer modes; A1111 drops alpha for both."""
    if image.mode == "I;16":
        image = image.point(lambda value: value * (255 / 65535))
        return image.convert("L" if pil_format == "JPEG" else "RGB")
    if pil_format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
        return image
    if pil_format == "WEBP" and image.mode == "RGB":
        return image
    return image.convert("RGB")


def encode_image(
    image: Image.Image,
    handle: BinaryIO,
    extension: str,
    infotext: str | None,
    *,
    options: SaveOptions = SaveOptions(),
    existing_pnginfo: dict[str, object] | None = None,
    pnginfo_section_name: str = PNG_INFOTEXT_KEY,
) -> None:
    """Encode ``image`` into ``handle`` with the infotext where A1111 puts it for the format."""
    pil_format = PIL_FORMATS[normalize_extension(extension)]
    if pil_format == "PNG":
        chunks = None
        if options.enable_pnginfo:
            pnginfo = dict(existing_pnginfo or {})
            if infotext is not None:
                pnginfo[pnginfo_section_name] = infotext
            chunks = png_text_chunks(pnginfo)
        image.save(handle, format="PNG", pnginfo=chunks)
        return
    params: dict[str, object] = {"quality": options.jpeg_quality}
    if pil_format == "WEBP":
        params["lossless"] = options.webp_lossless
    if options.enable_pnginfo and infotext is not None:
        exif = exif_with_user_comment(infotext)
        if pil_format == "JPEG" and len(exif) > MAX_JPEG_EXIF_BYTES:
            raise ValueError(
                f"infotext of {len(infotext)} characters is too long for JPEG EXIF "
                f"({len(exif)} bytes, at most {MAX_JPEG_EXIF_BYTES}); save as png or webp"
            )
        params["exif"] = exif
    _image_for_lossy_format(image, pil_format).save(handle, format=pil_format, **params)


def _file_stem_fitting(stem: str, extension: str, max_bytes: int) -> str:
    """No path separators in a file name; cut to the file system limit, leaving room for ".txt"."""
    stem = stem.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    return truncate_to_bytes(stem, max_bytes - max(4, len(extension) + 1))


def _numbered_stem(directory: Path, basename: str, decoration: str, extension: str, max_bytes: int) -> str:
    first = get_next_sequence_number(directory, basename)
    stem = ""
    for offset in range(MAX_COUNTER_TRIES):
        number = first + offset
        counter = f"{number:05}" if basename == "" else f"{basename}-{number:04}"
        stem = _file_stem_fitting(f"{counter}{decoration}", extension, max_bytes)
        if not (directory / f"{stem}.{extension}").exists():
            break
    return stem


def _free_stem(directory: Path, stem: str, extension: str, max_bytes: int) -> str:
    """``stem`` or ``stem-1``, ``stem-2``... whichever is not taken (A1111 "Add number suffix")."""
    candidate, number = stem, 0
    while (directory / f"{candidate}.{extension}").exists():
        number += 1
        candidate = _file_stem_fitting(stem, extension, max_bytes - len(f"-{number}")) + f"-{number}"
    return candidate


def save_image(
    image: Image.Image,
    directory: str | os.PathLike[str],
    basename: str = "",
    seed: int | None = None,
    prompt: str | None = None,
    extension: str = "png",
    infotext: str | None = None,
    *,
    data: FilenameData | None = None,
    options: SaveOptions = SaveOptions(),
    short_filename: bool = False,
    no_prompt: bool = False,
    grid: bool = False,
    pnginfo_section_name: str = PNG_INFOTEXT_KEY,
    existing_pnginfo: dict[str, object] | None = None,
    forced_filename: str | None = None,
    suffix: str = "",
    save_to_dirs: bool | None = None,
    info: str | None = None,
    p: object = None,
    existing_info: dict[str, object] | None = None,
) -> SavedImage:
    """Save ``image`` under ``directory`` like A1111's images.save_image.

    ``basename`` is A1111's prefix ("grid" gives grid-0000.png). The name is
    ``NNNNN-<samples_filename_pattern>`` (default ``[seed]``, or ``[seed]-[prompt_spaces]``
    without sub-folders), inside ``directories_filename_pattern`` ([date]) when saving to
    sub-folders. ``seed``/``prompt`` fill ``data``'s fields; ``data`` holds the rest the
    patterns use. Grids pass ``short_filename=not grid_extended_filename``.
    ``info``, ``p`` and ``existing_info`` are A1111's keyword names (scripts call it so):
    ``info`` is ``infotext``, ``existing_info`` is ``existing_pnginfo``, ``p`` is not needed.
    """
    infotext = infotext if infotext is not None else info
    existing_pnginfo = existing_pnginfo if existing_pnginfo is not None else existing_info
    if not isinstance(image, Image.Image):
        raise ValueError(f"image must be a PIL image, got {type(image).__name__}")
    extension = _fits_format(image, normalize_extension(extension))
    data = data or FilenameData()
    if seed is not None:
        data = dataclasses.replace(data, seed=seed)
    if prompt is not None:
        data = dataclasses.replace(data, prompt=prompt)
    data = dataclasses.replace(data, basename=basename)
    names = FilenamePattern(data, image, options.naming)

    target_dir = Path(directory)
    if save_to_dirs is None:
        save_to_dirs = options.grid_save_to_dirs if grid else (options.save_to_dirs and not no_prompt)
    if save_to_dirs:
        target_dir = target_dir / pattern_subdirectory(options.directories_filename_pattern, names)
    target_dir.mkdir(parents=True, exist_ok=True)
    max_bytes = max_filename_bytes(target_dir)

    if forced_filename is not None:
        stem = _file_stem_fitting(forced_filename, extension, max_bytes)
        if not stem:
            raise ValueError(f"forced_filename {forced_filename!r} gives an empty file name")
    else:
        if short_filename or data.seed is None:
            decoration = ""
        else:
            decoration = options.samples_filename_pattern or ("[seed]" if options.save_to_dirs else "[seed]-[prompt_spaces]")
        decoration = names.apply(decoration) + suffix
        add_number = options.save_images_add_number or decoration == ""
        if add_number:
            stem = _numbered_stem(target_dir, basename, f"-{decoration}" if decoration else "", extension, max_bytes)
        else:
            stem = _file_stem_fitting(decoration, extension, max_bytes)
    if options.save_images_replace_action == "Add number suffix":
        stem = _free_stem(target_dir, stem, extension, max_bytes)

    path = target_dir / f"{stem}.{extension}"
    write_atomically(path, lambda handle: encode_image(
        image, handle, extension, infotext, options=options,
        existing_pnginfo=existing_pnginfo, pnginfo_section_name=pnginfo_section_name,
    ))

    txt_path = None
    if options.save_txt and infotext is not None:
        txt_path = write_text_atomically(target_dir / f"{stem}.txt", f"{infotext}\n")
    return SavedImage(path=path, txt_path=txt_path)
