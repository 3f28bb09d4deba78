"""Check a training request against the file system and the loaded model, before any work.

Everything a request can get wrong (missing folder, no images, unknown template or
embedding, an embedding of another model) is a ParamsError naming the field, raised here so
the API answers 422 and no job, file or folder is created.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules import networks, sampling
from modules.networks.embeddings import Embedding, EmbeddingDatabase
from modules.processing.params import ParamsError, UnknownNameError
from modules.training import dataset as ds
from modules.images.image_folders import find_images
from modules.training.dataset import BUNDLED_TEMPLATES_DIR, list_templates, read_template
from modules.training.params import TrainParams

TRAINABLE_FAMILIES = ("sd1", "sd2", "sdxl")  # A1111 trains SD1/SD2 only; Easel also SDXL (both encoders)
USER_TEMPLATES_DIR = "textual_inversion_templates"  # A1111's folder, under the data dir


@dataclass(frozen=True)
class TrainingInputs:
    data_root: Path
    images: list[Path]
    template_lines: list[str]
    log_root: Path | None  # <log_directory>; the run writes to <log_root>/<date>/<name>/


def template_dirs(data_dir: Path) -> tuple[Path, ...]:
    """Where template files are looked up: the user's folder first, then the bundled ones."""
    return Path(data_dir) / USER_TEMPLATES_DIR, BUNDLED_TEMPLATES_DIR


def resolve_inputs(params: TrainParams, data_dir: Path, templates: Sequence[Path] | None = None) -> TrainingInputs:
    params.validate()
    data_root = _resolve(data_dir, params.data_root)
    if not data_root.is_dir():
        raise ParamsError("data_root", f"{params.data_root!r} is not a folder")
    images = find_images(data_root)
    if not images:
        raise ParamsError("data_root", f"{params.data_root!r} holds no images (.png, .jpg, .jpeg, .webp, .bmp)")
    check_batches(params, images)
    available = list_templates(templates if templates is not None else template_dirs(data_dir))
    template = available.get(params.template_filename)
    if template is None:
        raise UnknownNameError("template_filename", f"{params.template_filename!r} not found; available: "
                                               f"{', '.join(sorted(available)) or 'none'}")
    if params.create_image_every and params.preview_from_txt2img:
        try:
            sampling.resolve_sampler_and_schedule(params.preview_sampler_name)
        except ValueError as e:
            raise UnknownNameError("preview_sampler_name", str(e)) from None
        for field_name in ("preview_prompt", "preview_negative_prompt"):
            if networks.extract_networks(getattr(params, field_name))[1]:
                raise ParamsError(field_name, "LoRA tags are not available in training previews")
    log_root = _resolve(data_dir, params.log_directory) if params.log_directory else None
    if log_root is not None and log_root.exists() and not log_root.is_dir():
        raise ParamsError("log_directory", f"{params.log_directory!r} is a file, not a folder")
    return TrainingInputs(data_root, images, read_template(template), log_root)


def check_batches(params: TrainParams, images: Sequence[Path]) -> None:
    """An epoch must hold at least one optimizer step: `gradient_step` whole batches, a batch
    being images of one training size. Sizes come from the files' headers, so an unreadable
    image is refused here too."""
    sizes = [_training_size(params, path) for path in images]
    batches = ds.count_batches(sizes, params.batch_size)
    if batches == 0:
        raise ParamsError("batch_size", _too_few_images(params, sizes))
    if batches < params.gradient_step:
        raise ParamsError("gradient_step", f"{params.gradient_step} batches of {params.batch_size} per step, but "
                                           f"the images of {params.data_root!r} make only {batches} batches")


def _training_size(params: TrainParams, path: Path) -> tuple[int, int]:
    return ds.training_size(ds.image_size(path), params.training_width, params.training_height, params.varsize, path)


def _too_few_images(params: TrainParams, sizes: Sequence[tuple[int, int]]) -> str:
    if not params.varsize:
        return f"is {params.batch_size}, but {params.data_root!r} holds only {len(sizes)} images"
    counts = ", ".join(f"{count} of {w}x{h}" for (w, h), count in sorted(Counter(sizes).items()))
    return (f"is {params.batch_size}, but with varsize a batch holds images of one size, and {params.data_root!r} "
            f"holds {counts}")


def trainable_embedding(embeddings: EmbeddingDatabase, model: Any, name: str) -> Embedding:
    """The loaded embedding `name`, checked to be one this model can train and save back."""
    check_trainable_model(model)
    found = embeddings.load(model)
    if name not in found.loaded:
        skipped = found.skipped.get(name)
        reason = f" (skipped: {skipped.reason})" if skipped else ""
        raise UnknownNameError("embedding_name", f"no embedding named {name!r} is loaded for this model{reason}")
    embedding = found.loaded[name]
    if embedding.path.suffix.lower() != ".pt":
        raise ParamsError("embedding_name", f"{embedding.path.name} is not an A1111 .pt embedding; create a new "
                                            "embedding to train (training writes .pt files)")
    return embedding


def check_trainable_model(model: Any) -> None:
    arch = model.arch
    if arch.family not in TRAINABLE_FAMILIES:
        raise ParamsError("sd_model_checkpoint", f"textual-inversion training supports SD1, SD2 and SDXL models, "
                                                 f"not {arch.label}")
    if arch.variant != "base":
        raise ParamsError("sd_model_checkpoint", f"textual-inversion training needs a base model, not {arch.label}")


def _resolve(data_dir: Path, path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(data_dir) / candidate
