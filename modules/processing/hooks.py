"""The engine's own extension points: what `generate` lets a caller see and change on the way.

The A1111 Script API (modules/scripts.py and its processing facade) adapts Script methods and
script_callbacks to this protocol; the engine knows nothing of it. Every hook is a no-op by
default, so a caller overrides only what it needs. Hooks change things by assigning to the
fields of the argument object they get (prompts, image, x…), as A1111's callbacks do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image


@dataclass
class BatchHookArgs:
    """One batch before it is sampled: its prompts and seeds, which the hook may change."""

    iteration: int
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    subseeds: list[int]


@dataclass
class DenoiserHookArgs:
    """One denoiser call, before the model runs (A1111's CFGDenoiserParams): `x` may be replaced."""

    x: torch.Tensor
    image_cond: torch.Tensor | None
    sigma: torch.Tensor
    sampling_step: int
    total_sampling_steps: int
    denoiser: Any = None


@dataclass
class DenoisedHookArgs:
    """The denoiser's output (A1111's CFGDenoisedParams): `x` (the x0 estimate) may be replaced."""

    x: torch.Tensor
    sampling_step: int
    total_sampling_steps: int
    denoiser: Any = None


@dataclass
class ImageHookArgs:
    """One decoded image (number: its index in the job's images); `image` may be replaced."""

    image: Image.Image
    number: int
    iteration: int
    batch_index: int


@dataclass
class SaveHookArgs:
    """An image about to be saved; `image`/`infotext` may be changed; `path` is set once saved."""

    image: Image.Image
    infotext: str
    number: int  # -1 for the grid
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class GenerationHooks:
    """No-op hooks; subclass and override. `pipeline.generate` calls them in this order:
    before_batch → on_denoiser/on_denoised per model call → after_batch_images →
    infotext_extra + after_image per image → before_save/after_save → after_all."""

    def before_batch(self, batch: BatchHookArgs) -> None:
        """Before a batch's noise and conditioning are made: change prompts or seeds here."""

    def on_denoiser(self, step: DenoiserHookArgs) -> None:
        """Before each denoiser call."""

    def on_denoised(self, step: DenoisedHookArgs) -> None:
        """After each denoiser call."""

    def after_batch_images(self, iteration: int, images: list[Image.Image]) -> list[Image.Image]:
        """A batch's decoded images (before overlays); returns the list to go on with."""
        return images

    def infotext_extra(self) -> dict[str, Any]:
        """Extra infotext fields ("Key: value") for the images made from now on."""
        return {}

    def after_image(self, image: ImageHookArgs) -> None:
        """Each finished image (after inpaint overlay), before its infotext and saving."""

    def before_save(self, saving: SaveHookArgs) -> None:
        """An image (sample or grid) about to be written."""

    def after_save(self, saving: SaveHookArgs) -> None:
        """An image written to `saving.path`."""

    def after_all(self, result: Any) -> None:
        """The finished GenerationResult."""

    @property
    def watches_denoiser(self) -> bool:
        """Whether the denoiser needs wrapping (skipped when nothing listens, to keep it lean)."""
        return type(self).on_denoiser is not GenerationHooks.on_denoiser or \
            type(self).on_denoised is not GenerationHooks.on_denoised


NO_HOOKS = GenerationHooks()


def run_before_batch(hooks: GenerationHooks, iteration: int, batch: slice, prompts: list[str],
                     negatives: list[str], seeds: list[int], subseeds: list[int]) -> None:
    """Let the hooks change one batch's slice of the job's lists (in place); a hook that changes
    a list's length would misalign every later image, so that is refused."""
    args = BatchHookArgs(iteration, prompts[batch], negatives[batch], seeds[batch], subseeds[batch])
    hooks.before_batch(args)
    size = batch.stop - batch.start
    for name, source, target in (("prompts", args.prompts, prompts), ("negative_prompts", args.negative_prompts,
                                                                     negatives),
                                 ("seeds", args.seeds, seeds), ("subseeds", args.subseeds, subseeds)):
        if len(source) != size:
            raise ValueError(f"a generation hook gave {len(source)} {name} for a batch of {size}")
        target[batch] = list(source)


class HookedDenoiser:
    """Wraps a CFG denoiser so the hooks see (and may change) every call's input and output."""

    def __init__(self, denoiser: Any, hooks: GenerationHooks, total_steps: int):
        self.denoiser = denoiser
        self.hooks = hooks
        self.total_steps = total_steps

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs: Any) -> Any:
        step = getattr(self.denoiser, "step", 0)
        before = DenoiserHookArgs(x, getattr(self.denoiser, "image_cond", None), sigma, step, self.total_steps,
                                  self.denoiser)
        self.hooks.on_denoiser(before)
        out = self.denoiser(before.x, before.sigma, **kwargs)
        if isinstance(out, tuple):  # return_uncond: only the x0 estimate goes to the hook
            after = DenoisedHookArgs(out[0], step, self.total_steps, self.denoiser)
            self.hooks.on_denoised(after)
            return (after.x, *out[1:])
        after = DenoisedHookArgs(out, step, self.total_steps, self.denoiser)
        self.hooks.on_denoised(after)
        return after.x

    def __getattr__(self, name: str) -> Any:  # samplers may read the wrapped denoiser's attributes
        return getattr(self.denoiser, name)
