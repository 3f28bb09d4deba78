"""Helpers for tests: argument sets, checkpoint files placed as a user would."""

from __future__ import annotations

import shutil
from pathlib import Path

from modules.sd_models.architecture import ModelArchitecture

TINY_ARCHITECTURES = {
    "sd1": ModelArchitecture("sd1"),
    "sd1-inpaint": ModelArchitecture("sd1", "inpaint"),
    "sd1-ip2p": ModelArchitecture("sd1", "instruct-pix2pix"),
    "sd2": ModelArchitecture("sd2"),
    "sd2-v": ModelArchitecture("sd2", prediction_type="v_prediction"),
    "sdxl": ModelArchitecture("sdxl"),
    "sdxl-inpaint": ModelArchitecture("sdxl", "inpaint"),
    "sdxl-refiner": ModelArchitecture("sdxl_refiner"),
}


def make_args(data_dir: Path, *extra: str):
    from modules.cmd_args import parse_args

    return parse_args(["--data-dir", str(data_dir), "--no-demo-model", *extra])


def install_checkpoint(data_dir: Path, source: Path, name: str | None = None) -> Path:
    """Copy a checkpoint into the data dir's models/Stable-diffusion (as a user would)."""
    target = data_dir / "models" / "Stable-diffusion" / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
