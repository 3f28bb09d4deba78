"""Image-model files (upscalers, face restorers) read safely and recognised by spandrel.

Weight files are untrusted: `.safetensors` are read directly, `.pth`/`.ckpt` only with the
weights-only unpickler of `modules.sd_models.safe_load` (spandrel's own loader would also
run TorchScript for `.pt`, which is never offered here). spandrel then detects the
architecture from the keys and shapes and builds the network; spandrel_extra_arches adds
CodeFormer and friends to a private copy of spandrel's registry (the global one is left alone).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from modules.sd_models.safe_load import CheckpointLoadError, load_pickle_tree, load_state_dict

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".pth", ".safetensors", ".ckpt")
# spandrel architectures that restore faces (aligned 512x512 crops), not whole images
FACE_ARCHITECTURES = frozenset({"GFPGAN", "CodeFormer", "RestoreFormer"})
# facexlib's own weights, which A1111 users keep in models/GFPGAN beside the restorers
FACEXLIB_FILES = frozenset({"detection_Resnet50_Final.pth", "detection_mobilenet0.25_Final.pth",
                            "parsing_parsenet.pth", "parsing_bisenet.pth"})


class ImageModelError(CheckpointLoadError):
    """A model file that cannot serve as an upscaler or face restorer; says which and why."""


@functools.cache
def registry():
    """spandrel's architectures plus spandrel_extra_arches' (CodeFormer...), in a copy."""
    import spandrel
    import spandrel_extra_arches

    arches = spandrel.MAIN_REGISTRY.copy()
    arches.add(*spandrel_extra_arches.EXTRA_REGISTRY, ignore_duplicates=True)
    return arches


def read_state_dict(path: Path, allow_unsafe: bool = False) -> dict[str, torch.Tensor]:
    """The file's tensors with spandrel's key clean-up ('params_ema', 'module.' ...)."""
    import spandrel

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        state_dict, _ = load_state_dict(path)
    elif path.suffix.lower() in (".pth", ".ckpt"):
        state_dict = load_pickle_tree(path, allow_unsafe)  # nested dicts kept: GFPGAN nests 'params_ema'
        if not isinstance(state_dict, dict):
            raise ImageModelError(f"{path.name}: expected a dict of tensors, found {type(state_dict).__name__}")
    else:
        raise ImageModelError(f"{path.name}: unsupported file type {path.suffix!r}; use one of {MODEL_SUFFIXES}")
    return spandrel.canonicalize_state_dict(state_dict)


def detect_architecture(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The id of the first spandrel architecture that recognises these keys, or None."""
    for support in registry().architectures("detection"):
        try:
            if support.detect(state_dict):
                return str(support.architecture.id)
        except Exception:  # a detector that trips on foreign keys simply does not match
            continue
    return None


@dataclass(frozen=True)
class ModelFile:
    """A weight file and what spandrel recognised in it (None: nothing it knows)."""

    path: Path
    architecture: str | None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_face_restorer(self) -> bool:
        return self.architecture in FACE_ARCHITECTURES


class ModelFileScanner:
    """Lists model files in folders and detects each one once (cached by size and mtime)."""

    def __init__(self, allow_unsafe: bool = False):
        self.allow_unsafe = allow_unsafe
        self._seen: dict[Path, tuple[tuple[int, int], ModelFile]] = {}

    def scan(self, folders: list[Path]) -> list[ModelFile]:
        found = []
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
                if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES and path.name not in FACEXLIB_FILES:
                    found.append(self.inspect(path))
        return found

    def inspect(self, path: Path) -> ModelFile:
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._seen.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            architecture = detect_architecture(read_state_dict(path, self.allow_unsafe))
        except CheckpointLoadError as e:  # unreadable or refused (code in a pickle): listed nowhere
            log.warning("skipping model file %s", e)
            architecture = None
        if architecture is None:
            log.info("%s: not a model architecture spandrel knows; skipped", path.name)
        entry = ModelFile(path, architecture)
        self._seen[path] = (key, entry)
        return entry


def load_image_model(path: Path, device: torch.device, allow_unsafe: bool = False):
    """A spandrel ImageModelDescriptor (eval mode, on `device`) for an image-to-image file."""
    import spandrel

    try:
        descriptor = registry().load(read_state_dict(path, allow_unsafe))
    except spandrel.UnsupportedModelError:
        raise ImageModelError(f"{path.name}: not a model architecture spandrel knows") from None
    except (RuntimeError, KeyError, ValueError, AssertionError) as e:  # shapes that do not fit the architecture
        raise ImageModelError(f"{path.name}: cannot build the model ({e.__class__.__name__}: {e})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ImageModelError(f"{path.name}: a {descriptor.architecture.name} model needs a mask; "
                              "only image-to-image models can upscale or restore")
    if descriptor.input_channels not in (1, 3) or descriptor.output_channels != descriptor.input_channels:
        raise ImageModelError(f"{path.name}: {descriptor.input_channels}->{descriptor.output_channels} channel "
                              "models are not supported (RGB or greyscale only)")
    return descriptor.to(device).eval()


def model_dtype(descriptor, device: torch.device, preferred: torch.dtype) -> torch.dtype:
    """Half precision on an accelerator when the policy asks for it and the model allows it."""
    if device.type == "cpu":
        return torch.float32
    if preferred == torch.float16 and descriptor.supports_half:
        return torch.float16
    if preferred == torch.bfloat16 and descriptor.supports_bfloat16:
        return torch.bfloat16
    return torch.float32
