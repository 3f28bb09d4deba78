"""Image metadata: where A1111 keeps the infotext in PNG, JPEG and WEBP files.

PNG: a text chunk named "parameters". JPEG/WEBP: the EXIF UserComment, written by
piexif with the "unicode" (UTF-16) encoding. GIF: the comment.
"""

from __future__ import annotations

import piexif
import piexif.helper
from PIL import Image, PngImagePlugin

PNG_INFOTEXT_KEY = "parameters"

# Keys PIL puts in image.info that are format details, not user metadata (as A1111).
IGNORED_INFO_KEYS = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background",
    "timestamp", "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
})


def exif_user_comment(exif_data: bytes) -> str:
    """The EXIF UserComment as text ('' when missing or unreadable EXIF)."""
    try:
        exif = piexif.load(exif_data)
    except Exception:  # piexif raises several types on malformed data; unreadable means no comment
        return ""
    comment = exif.get("Exif", {}).get(piexif.ExifIFD.UserComment, b"")
    if not comment:
        return ""
    try:
        return piexif.helper.UserComment.load(comment)
    except ValueError:  # no known encoding prefix: A1111 reads it as UTF-8
        return comment.decode("utf8", errors="ignore")


def read_infotext(image: Image.Image) -> tuple[str | None, dict[str, object]]:
    """(infotext or None, other metadata) of an opened image, like A1111's read_info_from_image."""
    items = dict(image.info or {})
    infotext = items.pop(PNG_INFOTEXT_KEY, None)
    if "exif" in items:
        comment = exif_user_comment(items["exif"])
        if comment:
            infotext = comment
    elif "comment" in items:  # GIF
        comment = items["comment"]
        infotext = comment.decode("utf8", errors="ignore") if isinstance(comment, bytes) else comment
    for key in IGNORED_INFO_KEYS:
        items.pop(key, None)
    return infotext, items


def png_text_chunks(pnginfo: dict[str, object]) -> PngImagePlugin.PngInfo:
    """PNG text chunks; non-Latin-1 text goes to an iTXt chunk (UTF-8), as PIL decides."""
    chunks = PngImagePlugin.PngInfo()
    for key, value in pnginfo.items():
        chunks.add_text(key, str(value))
    return chunks


def exif_with_user_comment(text: str) -> bytes:
    """EXIF bytes holding ``text`` as UserComment, for JPEG and WEBP."""
    comment = piexif.helper.UserComment.dump(text, encoding="unicode")
    return piexif.dump({"Exif": {piexif.ExifIFD.UserComment: comment}})
