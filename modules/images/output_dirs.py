"""A1111's output folder layout: outputs/txt2img-images/2024-01-31/00000-123.png and friends.

The engine passes its option values; relative folders are taken from ``data_dir``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from modules.images.filenames import FilenameData, FilenamePattern, NamingRules


class OutputKind(str, Enum):
    TXT2IMG_SAMPLES = "txt2img-images"
    IMG2IMG_SAMPLES = "img2img-images"
    TXT2IMG_GRIDS = "txt2img-grids"
    IMG2IMG_GRIDS = "img2img-grids"
    EXTRAS_SAMPLES = "extras-images"

    @property
    def is_grid(self) -> bool:
        return self in (OutputKind.TXT2IMG_GRIDS, OutputKind.IMG2IMG_GRIDS)


@dataclass(frozen=True)
class OutputDirOptions:
    """A1111 output folder settings, under A1111's option names and defaults."""

    outdir_samples: str = ""  # when set, all samples go here
    outdir_txt2img_samples: str = "outputs/txt2img-images"
    outdir_img2img_samples: str = "outputs/img2img-images"
    outdir_extras_samples: str = "outputs/extras-images"
    outdir_grids: str = ""  # when set, all grids go here
    outdir_txt2img_grids: str = "outputs/txt2img-grids"
    outdir_img2img_grids: str = "outputs/img2img-grids"


def output_root(kind: OutputKind, options: OutputDirOptions, data_dir: str | os.PathLike[str]) -> Path:
    """The folder A1111 saves ``kind`` into (before the [date] sub-folder)."""
    specific = {
        OutputKind.TXT2IMG_SAMPLES: options.outdir_txt2img_samples,
        OutputKind.IMG2IMG_SAMPLES: options.outdir_img2img_samples,
        OutputKind.EXTRAS_SAMPLES: options.outdir_extras_samples,
        OutputKind.TXT2IMG_GRIDS: options.outdir_txt2img_grids,
        OutputKind.IMG2IMG_GRIDS: options.outdir_img2img_grids,
    }[kind]
    override = options.outdir_grids if kind.is_grid else options.outdir_samples
    chosen = override or specific
    if not chosen:
        raise ValueError(f"no output folder set for {kind.value}: set outdir for it or the common one")
    return Path(data_dir) / chosen  # an absolute option value wins over data_dir


def safe_relative_dir(name: str) -> Path:
    """A directory pattern's result as a relative path that stays inside the output folder."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return Path(*parts) if parts else Path()


def pattern_subdirectory(pattern: str, names: FilenamePattern) -> Path:
    """The sub-folder A1111 makes from directories_filename_pattern (empty pattern: [prompt_words])."""
    dirname = names.apply(pattern or "[prompt_words]").lstrip(" ").rstrip("\\ /")
    return safe_relative_dir(dirname)


def output_directory(
    kind: OutputKind,
    options: OutputDirOptions,
    data_dir: str | os.PathLike[str],
    *,
    save_to_dirs: bool = True,
    directories_filename_pattern: str = "[date]",
    data: FilenameData = FilenameData(),
    rules: NamingRules = NamingRules(),
) -> Path:
    """Where an image of ``kind`` lands, e.g. outputs/txt2img-images/2024-01-31 (not created here).

    Pass ``save_to_dirs`` = A1111's save_to_dirs for samples, grid_save_to_dirs for grids.
    """
    root = output_root(kind, options, data_dir)
    if not save_to_dirs:
        return root
    return root / pattern_subdirectory(directories_filename_pattern, FilenamePattern(data, None, rules))
