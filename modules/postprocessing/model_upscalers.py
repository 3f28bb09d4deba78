"""Model upscalers: every image-to-image model spandrel knows, found in A1111's folders.

Files in models/ESRGAN, RealESRGAN, SwinIR, DAT, HAT and ScuNET are detected (never run)
when listed, registered in `modules.processing.upscalers` under A1111's names (the file
stem; A1111's own names for the Real-ESRGAN / ScuNET / SwinIR files it downloads), and
loaded on first use, one at a time. Each run is tiled with the folder's A1111 options
(ESRGAN_tile / ESRGAN_tile_overlap, SWIN_..., DAT_..., SCUNET_...).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.postprocessing import spandrel_models
from modules.postprocessing.tiling import upscale_tiled
from modules.processing import upscalers

log = logging.getLogger(__name__)

# folder under models/ -> (A1111's model_name for it, prefix of its tile options)
UPSCALER_FOLDERS: dict[str, tuple[str, str]] = {
    "ESRGAN": ("ESRGAN", "ESRGAN"),
    "RealESRGAN": ("RealESRGAN", "ESRGAN"),
    "SwinIR": ("SwinIR", "SWIN"),
    "DAT": ("DAT", "DAT"),
    "HAT": ("HAT", "ESRGAN"),
    "ScuNET": ("ScuNET", "SCUNET"),
}
# the names A1111 gives the files it downloads itself (file stem -> upscaler name)
A1111_NAMES = {
    "RealESRGAN_x4plus": "R-ESRGAN 4x+",
    "RealESRGAN_x4plus_anime_6B": "R-ESRGAN 4x+ Anime6B",
    "RealESRGAN_x2plus": "R-ESRGAN 2x+",
    "realesr-general-x4v3": "R-ESRGAN General 4xV3",
    "realesr-general-wdn-x4v3": "R-ESRGAN General WDN 4xV3",
    "realesr-animevideov3": "R-ESRGAN AnimeVideo",
    "scunet_color_real_gan": "ScuNET GAN",
    "scunet_color_real_psnr": "ScuNET PSNR",
    "SwinIR_4x": "SwinIR 4x",
    "DAT_x2": "DAT x2",
    "DAT_x3": "DAT x3",
    "DAT_x4": "DAT x4",
}
MAX_PASSES = 3  # A1111: a 4x model asked for 8x runs twice, at most three times


def scale_from_name(name: str) -> int | None:
    """'4x-UltraSharp' -> 4, 'RealESRGAN_x2plus' -> 2 (A1111 reads the scale from names too)."""
    match = re.search(r"(\d)[xX]|[xX](\d)", name)
    return int(match.group(1) or match.group(2)) if match else None


@dataclass
class UpscalerEntry:
    name: str  # as users pick it (hr_upscaler, upscaler_1)
    path: Path
    folder: str  # key of UPSCALER_FOLDERS
    architecture: str
    scale: int | None  # from the name until the model is loaded, then the model's own

    @property
    def model_name(self) -> str:
        return UPSCALER_FOLDERS[self.folder][0]

    @property
    def tile_prefix(self) -> str:
        return UPSCALER_FOLDERS[self.folder][1]

    def api_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model_name": self.model_name, "model_path": str(self.path),
                "model_url": None, "scale": self.scale}


class ModelUpscalers:
    """The upscaler models of one data dir, registered in the processing registry."""

    def __init__(self, models_dir: Path, settings: Any, device: torch.device, dtype: torch.dtype,
                 scanner: spandrel_models.ModelFileScanner):
        self.models_dir = models_dir
        self.settings = settings  # Options (or a dict in tests): tile sizes are read at each run
        self.device, self.dtype = device, dtype
        self.scanner = scanner
        self.entries: dict[str, UpscalerEntry] = {}
        self._loaded: tuple[Path, Any] | None = None
        # a scan never waits for an upscale in progress (list calls stay quick during a long job)
        self._scan_lock = threading.Lock()
        self._run_lock = threading.RLock()

    @property
    def folders(self) -> list[Path]:
        return [self.models_dir / name for name in UPSCALER_FOLDERS]

    def refresh(self) -> list[UpscalerEntry]:
        """Re-scan the folders (new files detected once; known ones by size and mtime)."""
        with self._scan_lock:
            found: dict[str, UpscalerEntry] = {}
            for folder in UPSCALER_FOLDERS:
                for model_file in self.scanner.scan([self.models_dir / folder]):
                    if model_file.architecture is None or model_file.is_face_restorer:
                        continue
                    name = A1111_NAMES.get(model_file.name, model_file.name)
                    if name in found or upscalers.is_builtin(name):
                        log.warning("upscaler %s: the name %r is taken; file skipped", model_file.path, name)
                        continue
                    known = self.entries.get(name)
                    scale = known.scale if known and known.path == model_file.path else scale_from_name(name)
                    found[name] = UpscalerEntry(name, model_file.path, folder, model_file.architecture, scale)
            upscalers.set_model_upscalers({name: self._upscaler_fn(name) for name in found})
            self.entries = found
            return list(found.values())

    def unregister_all(self) -> None:
        with self._scan_lock:
            upscalers.set_model_upscalers({})
            self.entries = {}
        self.unload()

    def unload(self) -> None:
        self._loaded = None  # a run in progress keeps its own reference

    def _upscaler_fn(self, name: str) -> upscalers.PixelUpscaler:
        return lambda image, width, height: self.upscale(name, image, width, height)

    def model(self, name: str):
        """The loaded spandrel descriptor of an upscaler (loading it, and dropping the last one)."""
        with self._run_lock:
            entry = self.entries.get(name)
            if entry is None:
                raise ValueError(f"unknown model upscaler {name!r}")
            if self._loaded is None or self._loaded[0] != entry.path:
                self._loaded = None  # free the previous model before the next one loads
                descriptor = spandrel_models.load_image_model(entry.path, self.device)
                if descriptor.purpose not in ("SR", "Restoration"):
                    raise spandrel_models.ImageModelError(
                        f"{entry.path.name}: a {descriptor.purpose} model ({descriptor.architecture.name}); "
                        "upscalers must be super-resolution or restoration models")
                descriptor = descriptor.to(spandrel_models.model_dtype(descriptor, self.device, self.dtype))
                entry.scale = descriptor.scale
                log.info("loaded upscaler %s (%s, %dx) on %s", name, descriptor.architecture.name,
                         descriptor.scale, self.device)
                self._loaded = (entry.path, descriptor)
            return self._loaded[1]

    def upscale(self, name: str, image: Image.Image, width: int, height: int) -> Image.Image:
        """Run the model until the image reaches (width, height); the caller resizes the rest."""
        with self._run_lock:
            descriptor = self.model(name)
            entry = self.entries.get(name)  # a re-scan may have run meanwhile
            tile, overlap = self._tile_options(entry.tile_prefix if entry else "ESRGAN")
            current = image
            for done in range(MAX_PASSES):
                reached = current.width >= width and current.height >= height
                if reached and (done or (width, height) != image.size):  # "scale by 1" runs the model once
                    break
                before = current.size
                current = self.run_model(descriptor, current, tile, overlap)
                if current.size == before:  # a 1x restoration model: once is enough
                    break
            return current

    def _tile_options(self, prefix: str) -> tuple[int, int]:
        get = self.settings.get
        return int(get(f"{prefix}_tile")), int(get(f"{prefix}_tile_overlap"))

    def run_model(self, descriptor, image: Image.Image, tile: int, overlap: int) -> Image.Image:
        return run_image_model(descriptor, image, tile, overlap)


def run_image_model(descriptor, image: Image.Image, tile: int, overlap: int) -> Image.Image:
    """One pass of a spandrel image model over a PIL image, tiled."""
    import spandrel

    grey = descriptor.input_channels == 1
    pixels = np.asarray(image.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(pixels[..., None] if grey else pixels).permute(2, 0, 1)[None]
    tensor = tensor.to(descriptor.device, descriptor.dtype)
    requirements = descriptor.size_requirements
    if descriptor.tiling == spandrel.ModelTiling.INTERNAL:
        tile = 0  # the model tiles itself (or needs the whole image)
    elif tile > 0:
        tile = max(tile, requirements.minimum)
    with torch.inference_mode():
        out = upscale_tiled(descriptor, tensor, descriptor.scale, tile, overlap, requirements.multiple_of)
    array = (out[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array[..., 0] if grey else array, "L" if grey else "RGB").convert("RGB")
