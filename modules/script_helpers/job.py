"""The generation job a script runs in: its settings (override_settings applied), its
progress plan, interrupt/skip, and saving a script's own grids and samples."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from PIL import Image

from modules import images


def _job() -> Any:
    from modules.a1111_processing import running_job

    job = running_job()
    if job is None:
        raise RuntimeError("this helper works inside a generation job (a script's run())")
    return job


def job_settings() -> dict[str, Any]:
    """The job's settings: saved ones with the request's override_settings on top."""
    return dict(_job().settings)


def setting(name: str, default: Any = None) -> Any:
    return _job().settings.get(name, default)


def job_state() -> Any:
    """The EngineState (model manager, styles…) for what `p` does not carry."""
    return _job().state


def announce_jobs(image_count: int, steps_per_image: int) -> None:
    """Tell /progress how many images the script will make (A1111's state.job_count)."""
    _job().progress.set_total(max(1, int(image_count)), max(0, int(steps_per_image)))


def stopped(include_skip: bool = False) -> bool:
    """The user pressed Interrupt (or Skip, when asked)."""
    progress = _job().progress
    return bool(progress.interrupted or (include_skip and progress.skipped))


def _save_options(settings: dict[str, Any]) -> images.SaveOptions:
    names = {f.name for f in fields(images.SaveOptions)} - {"naming"}
    return images.SaveOptions(**{name: settings[name] for name in names if name in settings})


def save_grid(p: Any, grid: Image.Image, basename: str, infotext: str | None, prompt: str | None = None,
              seed: int | None = None) -> None:
    """Save a script's grid into the grids folder when "Always save all generated image grids" is on."""
    settings = _job().settings
    if not settings.get("grid_save", True) or getattr(p, "outpath_grids", None) is None:
        return
    images.save_image(grid, p.outpath_grids, basename, seed=seed, prompt=prompt,
                      extension=settings.get("grid_format", "png"), infotext=infotext,
                      options=_save_options(settings), grid=True)


def save_sample(p: Any, image: Image.Image, infotext: str | None, prompt: str | None = None,
                seed: int | None = None) -> None:
    """Save an image a script assembled (upscaled, outpainted) when "Always save" is on."""
    settings = _job().settings
    if not settings.get("samples_save", True) or getattr(p, "outpath_samples", None) is None:
        return
    images.save_image(image, p.outpath_samples, "", seed=seed, prompt=prompt,
                      extension=settings.get("samples_format", "png"), infotext=infotext,
                      options=_save_options(settings))
