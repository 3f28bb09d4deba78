"""Face restoration: GFPGAN, CodeFormer and RestoreFormer through spandrel, faces found,
aligned and pasted back by facexlib (as A1111 does it, without the gfpgan package).

facexlib's detector (RetinaFace) and face parser (ParseNet) come from LOCAL files only:
detection_Resnet50_Final.pth and parsing_parsenet.pth in models/facexlib, or in
models/GFPGAN where A1111 keeps them. facexlib is handed the folder that holds both, so
its download helper finds them and never fetches; a missing file is a clear error naming
it and the folder. The restorer models are found in models/GFPGAN, models/Codeformer and
models/RestoreFormer by what spandrel detects in them (the last file by name wins, e.g.
GFPGANv1.4 over GFPGANv1.3).

Restoring pastes each restored face back through facexlib's soft face mask: pixels outside
the faces come back unchanged and the image keeps its size.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.postprocessing import spandrel_models
from modules.processing import face_restore
from modules.sd_models.safe_load import CheckpointLoadError, load_pickle_tree

log = logging.getLogger(__name__)

DETECTION_FILE = "detection_Resnet50_Final.pth"
PARSING_FILE = "parsing_parsenet.pth"
FACEXLIB_WEIGHTS = (DETECTION_FILE, PARSING_FILE)
FACE_SIZE = 512  # the aligned crop every restorer here takes

# restorer name (A1111's) -> (spandrel architecture, folder under models/, device/--use-cpu name)
RESTORERS: dict[str, tuple[str, str, str]] = {
    "CodeFormer": ("CodeFormer", "Codeformer", "codeformer"),
    "GFPGAN": ("GFPGAN", "GFPGAN", "gfpgan"),
    "RestoreFormer": ("RestoreFormer", "RestoreFormer", "gfpgan"),
}


class FaceRestorationError(ValueError):
    """Face restoration cannot run: the message names the missing file and where it goes."""


def _call_net(architecture: str, net: torch.nn.Module, face: torch.Tensor, weight: float | None) -> torch.Tensor:
    """One aligned face in [-1, 1] through the raw network (as A1111 calls each)."""
    if architecture == "GFPGAN":
        return net(face, return_rgb=False)[0]
    if architecture == "CodeFormer":
        return net(face, weight=0.5 if weight is None else weight)[0]
    return net(face)[0]


class FaceHelperSource:
    """facexlib's FaceRestoreHelper built from local weight files, one per device."""

    def __init__(self, folders: list[Path], allow_unsafe: bool = False):
        self.folders = folders  # searched in order; the first that holds both files is used
        self.allow_unsafe = allow_unsafe
        self._helpers: dict[str, Any] = {}
        self._verified: dict[Path, tuple[int, int]] = {}  # file -> (size, mtime) when it was found safe
        self._lock = threading.Lock()

    def check(self) -> Path:
        """The folder with both weight files, each read once with the weights-only unpickler
        (facexlib unpickles them itself later); FaceRestorationError says what is wrong."""
        folder = self.weights_folder()
        for name in FACEXLIB_WEIGHTS:
            path = folder / name
            stat = path.stat()
            if self._verified.get(path) == (stat.st_size, stat.st_mtime_ns):
                continue
            try:
                load_pickle_tree(path, self.allow_unsafe)
            except CheckpointLoadError as e:
                raise FaceRestorationError(str(e)) from None
            self._verified[path] = (stat.st_size, stat.st_mtime_ns)
        return folder

    def weights_folder(self) -> Path:
        for folder in self.folders:
            if all((folder / name).is_file() for name in FACEXLIB_WEIGHTS):
                return folder
        missing = [name for name in FACEXLIB_WEIGHTS
                   if not any((folder / name).is_file() for folder in self.folders)]
        where = " or ".join(str(folder) for folder in self.folders)
        if not missing:
            raise FaceRestorationError(f"face detection needs {' and '.join(FACEXLIB_WEIGHTS)} in the same folder; "
                                       f"put both in {self.folders[0]}")
        raise FaceRestorationError(f"face detection needs facexlib's {' and '.join(missing)}: put "
                                   f"{'it' if len(missing) == 1 else 'them'} in {where} "
                                   "(Easel never downloads weights)")

    def helper(self, device: torch.device):
        with self._lock:
            key = str(device)
            if key not in self._helpers:
                self._helpers[key] = self._create(device)
            return self._helpers[key]

    def _create(self, device: torch.device):
        from facexlib.utils.face_restoration_helper import FaceRestoreHelper

        folder = self.check()
        log.info("face detection: facexlib weights from %s on %s", folder, device)
        return FaceRestoreHelper(upscale_factor=1, face_size=FACE_SIZE, crop_ratio=(1, 1),
                                 det_model="retinaface_resnet50", save_ext="png", use_parse=True,
                                 device=device, model_rootpath=str(folder))


class SpandrelFaceRestorer:
    """One restorer (GFPGAN, CodeFormer or RestoreFormer) for face_restore's registry."""

    def __init__(self, name: str, path: Path, helpers: FaceHelperSource, device: torch.device,
                 allow_unsafe: bool = False):
        self.name, self.path, self.helpers, self.device = name, path, helpers, device
        self.architecture = RESTORERS[name][0]
        self.allow_unsafe = allow_unsafe
        self._descriptor = None
        self._lock = threading.Lock()

    @property
    def cmd_dir(self) -> str:
        return str(self.path.parent)

    def check(self) -> None:
        self.helpers.check()

    def model(self):
        if self._descriptor is None:
            descriptor = spandrel_models.load_image_model(self.path, self.device, self.allow_unsafe)
            if descriptor.architecture.id != self.architecture:
                raise FaceRestorationError(f"{self.path.name} is a {descriptor.architecture.name} model, "
                                           f"not {self.architecture}")
            self._descriptor = descriptor
        return self._descriptor

    def unload(self) -> None:
        self._descriptor = None

    def restore(self, image: Image.Image, weight: float | None = None) -> Image.Image:
        with self._lock:
            net = self.model().model
            dtype = next(net.parameters()).dtype

            def restore_face(face: torch.Tensor) -> torch.Tensor:
                return _call_net(self.architecture, net, face.to(self.device, dtype), weight).float()

            return restore_with_helper(image, self.helpers.helper(self.device), restore_face)


def restore_with_helper(image: Image.Image, helper: Any,
                        restore_face: Callable[[torch.Tensor], torch.Tensor]) -> Image.Image:
    """Find faces with facexlib's helper, restore each aligned crop ([-1, 1] RGB tensor in
    and out), paste them back through the face mask. Same size; outside the faces unchanged."""
    rgb = np.array(image.convert("RGB"))
    helper.clean_all()
    try:
        helper.read_image(np.ascontiguousarray(rgb[:, :, ::-1]))  # facexlib works in BGR
        helper.get_face_landmarks_5(only_center_face=False, resize=640, eye_dist_threshold=5)
        helper.align_warp_face()
        if not helper.cropped_faces:
            return image.convert("RGB").copy()
        for cropped in helper.cropped_faces:  # BGR uint8, FACE_SIZE square
            face = torch.from_numpy(cropped[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
            with torch.inference_mode():
                restored = restore_face(face)
            restored = ((restored[0].clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
            helper.add_restored_face(np.ascontiguousarray(restored[:, :, ::-1]))
        helper.get_inverse_affine(None)
        pasted = helper.paste_faces_to_input_image()[:, :, ::-1]
    finally:
        helper.clean_all()
    out = Image.fromarray(np.ascontiguousarray(pasted))
    return out if out.size == image.size else out.resize(image.size, Image.Resampling.LANCZOS)


class FaceRestorers:
    """The face restorers of one data dir, registered in processing.face_restore."""

    def __init__(self, models_dir: Path, device_for: Callable[[str], torch.device],
                 scanner: spandrel_models.ModelFileScanner, allow_unsafe: bool = False):
        self.models_dir = models_dir
        self.device_for = device_for
        self.scanner = scanner
        self.allow_unsafe = allow_unsafe
        self.helpers = FaceHelperSource([models_dir / "facexlib", models_dir / "GFPGAN"], allow_unsafe)
        self.restorers: dict[str, SpandrelFaceRestorer] = {}

    def refresh(self) -> list[SpandrelFaceRestorer]:
        found: dict[str, SpandrelFaceRestorer] = {}
        for name, (architecture, folder, device_name) in RESTORERS.items():
            files = [f for f in self.scanner.scan([self.models_dir / folder]) if f.architecture == architecture]
            if not files:
                continue
            path = files[-1].path
            known = self.restorers.get(name)
            found[name] = known if known is not None and known.path == path else SpandrelFaceRestorer(
                name, path, self.helpers, self.device_for(device_name), self.allow_unsafe)
        face_restore.set_face_restorers(list(found.values()))
        self.restorers = found
        return list(found.values())

    def unregister_all(self) -> None:
        face_restore.set_face_restorers([])
        self.restorers = {}
