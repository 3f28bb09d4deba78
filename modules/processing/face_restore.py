"""Face restorers by name (A1111's "GFPGAN", "CodeFormer", ...), as generation uses them.

`restore_faces` in txt2img/img2img runs the restorer the `face_restoration_model` setting
names, with `code_former_weight` for CodeFormer. The restorers themselves (spandrel models
plus facexlib's face detection) live in modules/postprocessing/face_restoration.py, which
registers them here, as model upscalers register in upscalers.py.
"""

from __future__ import annotations

from typing import Any, Protocol

from PIL import Image


class FaceRestorer(Protocol):
    name: str

    def check(self) -> None:
        """Raise ValueError naming what is missing (a weight file) if it cannot run."""

    def restore(self, image: Image.Image, weight: float | None = None) -> Image.Image:
        """The image with its faces restored, same size; `weight` is CodeFormer's fidelity."""


_RESTORERS: dict[str, FaceRestorer] = {}


def set_face_restorers(restorers: list[FaceRestorer]) -> None:
    """Replace the installed restorers (postprocessing re-scans models/ and sets them all)."""
    _RESTORERS.clear()
    _RESTORERS.update((restorer.name, restorer) for restorer in restorers)


def face_restorer_names() -> list[str]:
    return list(_RESTORERS)


def get_face_restorer(name: str) -> FaceRestorer:
    """The restorer called `name`; ValueError naming the installed ones if there is none."""
    restorer = _RESTORERS.get(name)
    if restorer is None:
        installed = ", ".join(_RESTORERS) or "none (put GFPGAN or CodeFormer models in models/GFPGAN, models/Codeformer)"
        raise ValueError(f"face restoration model {name!r} is not installed; installed: {installed}")
    return restorer


def generation_restorer(settings: dict[str, Any]) -> FaceRestorer:
    """The restorer txt2img/img2img use for restore_faces (setting face_restoration_model);
    ValueError if it is missing or cannot run."""
    restorer = get_face_restorer(settings.get("face_restoration_model", "CodeFormer"))
    restorer.check()
    return restorer


def restore_for_generation(image: Image.Image, settings: dict[str, Any]) -> Image.Image:
    restorer = generation_restorer(settings)
    weight = settings.get("code_former_weight", 0.5)
    return restorer.restore(image, weight=weight)


def wants_restore(restore_faces: bool | None, settings: dict[str, Any]) -> bool:
    """A1111: restore_faces None follows the `face_restoration` setting."""
    return bool(settings.get("face_restoration", False)) if restore_faces is None else bool(restore_faces)
