"""Helpers for tests: argument sets, checkpoint files placed as a user would."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

from modules.processing.progress import NullProgress
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
# SD3 releases (tests/conftest.py `tiny_sd3_checkpoints`): single files with CLIP-L, CLIP-G and T5
TINY_SD3_RELEASES = {"sd3": "3 Medium", "sd35-large": "3.5 Large", "sd35-medium": "3.5 Medium"}


def make_args(data_dir: Path, *extra: str):
    from modules.cmd_args import parse_args

    return parse_args(["--data-dir", str(data_dir), "--no-demo-model", *extra])


def install_checkpoint(data_dir: Path, source: Path, name: str | None = None) -> Path:
    """Copy a checkpoint into the data dir's models/Stable-diffusion (as a user would)."""
    target = data_dir / "models" / "Stable-diffusion" / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


@contextmanager
def api_client(data_dir: Path, checkpoints: dict[str, Path] | None = None, *flags: str):
    """The API app on `data_dir` with `checkpoints` (name → source file) installed and the
    default one loaded; yields (TestClient, EngineState) and stops the job worker after."""
    from fastapi.testclient import TestClient

    from webui import create_app

    for name, source in (checkpoints or {}).items():
        install_checkpoint(data_dir, source, name)
    app, state = create_app(make_args(data_dir, "--api", "--nowebui", *flags))
    state.models.start_background_load().join(60)
    try:
        with TestClient(app) as client:
            yield client, state
    finally:
        state.jobs.stop()


def fixed_batch_loss(model, images_dir: Path, name: str, prompt: str, vectors, repeats: int = 16) -> float:
    """Textual-inversion loss of `vectors` (one tensor per text encoder, placed for `name` in
    `prompt`) on a fixed batch:
    every image of `images_dir`, `repeats` fixed noise/timestep draws each, so two embeddings
    are compared on the same work."""
    import torch

    from modules.training import embedding_loss, embedding_prompt_encoder
    from modules.images.image_folders import find_images
    from modules.training import dataset as ds

    generator = torch.Generator().manual_seed(0)
    images = ds.load_images(find_images(images_dir), model, 64, 64, False, "deterministic", False, generator)
    latents = torch.stack([image.mean for image in images]).repeat(repeats, 1, 1, 1)
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = torch.randint(0, len(model.alphas_cumprod), (len(latents),), generator=generator)
    encoder = embedding_prompt_encoder(model, {}, name, vectors)
    with torch.no_grad():
        return embedding_loss(model, encoder, latents, [prompt] * len(latents), noise, timesteps).item()


class InterruptAfter(NullProgress):
    """A job context whose Interrupt is pressed once `steps` steps are done."""

    def __init__(self, steps: int):
        super().__init__()
        self.after = steps

    def step(self, step: int) -> None:
        super().step(step)
        self.interrupted = step >= self.after
