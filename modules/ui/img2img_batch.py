"""img2img Batch: which files of an input folder to process, their masks, output names.

Gradio-free; the img2img tab submits one queued job per input image.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from modules.fileio import atomic_write_bytes
from modules.processing import ParamsError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _folder(text: str, field_name: str, must_exist: bool) -> Path | None:
    text = (text or "").strip()
    if not text:
        if must_exist:
            raise ParamsError(field_name, "give a folder")
        return None
    folder = Path(text).expanduser()
    if must_exist and not folder.is_dir():
        raise ParamsError(field_name, f"{folder} is not a folder")
    return folder


def batch_inputs(input_dir: str) -> list[Path]:
    """The images of the input folder, by name; ParamsError when there are none."""
    folder = _folder(input_dir, "input directory", must_exist=True)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: p.name.lower())
    if not files:
        raise ParamsError("input directory", f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def mask_folder(mask_dir: str) -> Path | None:
    return _folder(mask_dir, "inpaint batch mask directory", must_exist=bool((mask_dir or "").strip()))


def output_folder(output_dir: str) -> Path | None:
    """None: results stay only in the usual outputs folder."""
    return _folder(output_dir, "output directory", must_exist=False)


def find_mask(masks: Path | None, image_path: Path) -> Path | None:
    """The mask with the image's name (any image suffix) in the mask folder, as in A1111."""
    if masks is None:
        return None
    for suffix in IMAGE_SUFFIXES:
        candidate = masks / f"{image_path.stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def load_image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image.copy()


def copy_results(files: list[str], source: Path, output: Path | None) -> list[str]:
    """Copy a job's PNGs (infotext inside) to the output folder as <input name>[-n].png."""
    if output is None:
        return list(files)
    output.mkdir(parents=True, exist_ok=True)
    copied = []
    for index, file in enumerate(files):
        target = output / (f"{source.stem}.png" if index == 0 else f"{source.stem}-{index}.png")
        atomic_write_bytes(target, Path(file).read_bytes())
        copied.append(str(target))
    return copied
