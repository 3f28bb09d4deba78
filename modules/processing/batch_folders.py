"""Batch from a folder (img2img Batch, Extras "Batch from Directory"): which input files to
process, their inpaint masks, and copying each job's results to the output folder as
<input name>.png. Callers submit one queued job per input image."""

from __future__ import annotations

from pathlib import Path

from modules.fileio import atomic_write_bytes
from modules.images.image_folders import IMAGE_SUFFIXES, find_by_stem, find_images
from modules.processing.params import ParamsError


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
    files = find_images(folder)
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
    return None if masks is None else find_by_stem(masks, image_path.stem)


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
