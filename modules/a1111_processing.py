"""A1111's processing objects over the engine, for scripts and extensions.

`StableDiffusionProcessingTxt2Img` / `Img2Img` (`p`) carry A1111's attribute names; each
`process_images(p)` turns `p` into validated GenerationParams, runs the engine through the
running job (its model, progress and interrupt), and returns A1111's `Processed`. The
AlwaysVisible scripts' hooks and script_callbacks reach the engine through
`modules.processing.hooks`, so the engine itself never imports this module.

Reached from `modules.processing` lazily (`from modules.processing import process_images`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from PIL import Image

from modules import images, script_callbacks
from modules.processing.hooks import (BatchHookArgs, DenoisedHookArgs, DenoiserHookArgs, GenerationHooks,
                                      ImageHookArgs, SaveHookArgs)
from modules.processing.params import GenerationParams, Img2ImgParams, ParamsError, Txt2ImgParams
from modules.processing.rng import MAX_SEED

# A1111 constructor arguments with no engine field: kept on `p` for the scripts that read them.
A1111_ONLY_ARGS: dict[str, Any] = {
    "outpath_samples": None, "outpath_grids": None, "sd_model": None, "scripts": None, "script_args": list,
    "extra_generation_params": dict, "sampler_index": None, "do_not_reload_embeddings": False,
    "prompt_for_display": None, "comments": dict, "user": None, "is_api": False, "disable_extra_networks": False,
    "firstphase_width": 0, "firstphase_height": 0, "s_min_uncond": 0.0, "s_churn": 0.0, "s_tmax": None,
    "s_tmin": 0.0, "s_noise": 1.0, "latent_mask": None, "color_corrections": None, "paste_to": None,
}


def get_fixed_seed(seed: Any) -> Any:
    """A1111: '' / None / -1 → a random seed; a numeric string → int; a list stays a list."""
    if isinstance(seed, list):
        return seed
    if seed is None or seed == "":
        seed = -1
    if isinstance(seed, str):
        try:
            seed = int(float(seed))
        except ValueError:
            seed = -1
    if isinstance(seed, float):
        seed = int(seed)
    return random.randrange(MAX_SEED) if seed is None or seed < 0 else seed


def fix_seed(p: Any) -> None:
    p.seed = get_fixed_seed(p.seed)
    p.subseed = get_fixed_seed(p.subseed)


class StableDiffusionProcessing:
    """A1111's `p`: every GenerationParams field as an attribute, plus A1111's run-time lists
    (all_prompts, all_seeds…, set by process_images) and script bookkeeping."""

    params_class: ClassVar[type[GenerationParams]] = GenerationParams

    def __init__(self, **kwargs: Any):
        names = set(self.params_class.field_names())
        unknown = sorted(set(kwargs) - names - set(A1111_ONLY_ARGS) - {"mask"})
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        for f in fields(self.params_class):
            default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
            setattr(self, f.name, kwargs.get(f.name, default))
        for name, default in A1111_ONLY_ARGS.items():
            setattr(self, name, kwargs.get(name, default() if callable(default) else default))
        if self.sampler_index and "sampler_name" not in kwargs:
            self.sampler_name = self.sampler_index
        self.all_prompts: list[str] | None = None
        self.all_negative_prompts: list[str] | None = None
        self.all_seeds: list[int] | None = None
        self.all_subseeds: list[int] | None = None
        self.prompts: list[str] = []
        self.negative_prompts: list[str] = []
        self.seeds: list[int] = []
        self.subseeds: list[int] = []
        self.iteration = 0
        self.batch_index = 0
        self.job_timestamp = ""

    @classmethod
    def from_params(cls, params: GenerationParams, **extra: Any) -> "StableDiffusionProcessing":
        values = {name: _copied(getattr(params, name)) for name in cls.params_class.field_names()}
        return cls(**values, **extra)

    @property
    def sd_model_name(self) -> str | None:
        return getattr(getattr(self.sd_model, "info", None), "model_name", None)

    @property
    def sd_model_hash(self) -> str | None:
        return getattr(getattr(self.sd_model, "info", None), "shorthash", None)

    def to_params(self, prompt: str, negative_prompt: str, seed: int, subseed: int) -> GenerationParams:
        """Validated engine params for one process_images call (ParamsError names a bad field)."""
        values = {name: _copied(getattr(self, name)) for name in self.params_class.field_names()}
        values.update(prompt=prompt, negative_prompt=negative_prompt, seed=seed, subseed=subseed)
        values["styles"] = list(values["styles"] or [])
        return self.params_class(**values).validate()


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    params_class = Txt2ImgParams


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    params_class = Img2ImgParams

    @property
    def image_mask(self) -> Image.Image | None:  # A1111's name for the mask
        return self.mask

    @image_mask.setter
    def image_mask(self, value: Image.Image | None) -> None:
        self.mask = value


def _copied(value: Any) -> Any:
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


class Processed:
    """A1111's result of process_images (and of a script's run)."""

    def __init__(self, p: Any, images_list: list, seed: Any = -1, info: str = "", subseed: Any = None,
                 all_prompts: list[str] | None = None, all_negative_prompts: list[str] | None = None,
                 all_seeds: list[int] | None = None, all_subseeds: list[int] | None = None,
                 index_of_first_image: int = 0, infotexts: list[str] | None = None, comments: str = ""):
        self.images = images_list
        self.prompt = p.prompt[0] if isinstance(p.prompt, list) else p.prompt
        self.negative_prompt = p.negative_prompt[0] if isinstance(p.negative_prompt, list) else p.negative_prompt
        self.seed = int(seed[0] if isinstance(seed, list) else seed) if seed is not None else -1
        subseed = p.subseed if subseed is None else subseed
        self.subseed = int(subseed[0] if isinstance(subseed, list) else subseed) if subseed is not None else -1
        self.subseed_strength = p.subseed_strength
        self.info = info
        self.comments = comments
        self.width, self.height = p.width, p.height
        self.sampler_name = p.sampler_name
        self.cfg_scale = p.cfg_scale
        self.image_cfg_scale = getattr(p, "image_cfg_scale", None)
        self.steps = p.steps
        self.batch_size = p.batch_size
        self.restore_faces = p.restore_faces
        self.sd_model_name, self.sd_model_hash = p.sd_model_name, p.sd_model_hash
        self.seed_resize_from_w, self.seed_resize_from_h = p.seed_resize_from_w, p.seed_resize_from_h
        self.denoising_strength = getattr(p, "denoising_strength", None)
        self.extra_generation_params = dict(p.extra_generation_params)
        self.index_of_first_image = index_of_first_image
        self.styles = list(p.styles or [])
        self.job_timestamp = getattr(p, "job_timestamp", "")
        self.eta = p.eta
        self.all_prompts = all_prompts or p.all_prompts or [self.prompt]
        self.all_negative_prompts = all_negative_prompts or p.all_negative_prompts or [self.negative_prompt]
        self.all_seeds = all_seeds or p.all_seeds or [self.seed]
        self.all_subseeds = all_subseeds or p.all_subseeds or [self.subseed]
        self.infotexts = infotexts or [info] * len(images_list)

    def js_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt, "all_prompts": self.all_prompts, "negative_prompt": self.negative_prompt,
            "all_negative_prompts": self.all_negative_prompts, "seed": self.seed, "all_seeds": self.all_seeds,
            "subseed": self.subseed, "all_subseeds": self.all_subseeds, "subseed_strength": self.subseed_strength,
            "width": self.width, "height": self.height, "sampler_name": self.sampler_name,
            "cfg_scale": self.cfg_scale, "steps": self.steps, "batch_size": self.batch_size,
            "restore_faces": bool(self.restore_faces), "sd_model_name": self.sd_model_name,
            "sd_model_hash": self.sd_model_hash, "seed_resize_from_w": self.seed_resize_from_w,
            "seed_resize_from_h": self.seed_resize_from_h, "denoising_strength": self.denoising_strength,
            "extra_generation_params": _json_safe(self.extra_generation_params),
            "index_of_first_image": self.index_of_first_image, "infotexts": self.infotexts,
            "styles": self.styles, "job_timestamp": self.job_timestamp, "comments": self.comments,
        }

    def js(self) -> str:
        return json.dumps(self.js_dict())

    def infotext(self, p: Any, index: int) -> str:
        return self.infotexts[index] if index < len(self.infotexts) else self.info


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in values.items()}


# --- the running job ------------------------------------------------------------------------

Engine = Callable[[GenerationParams, GenerationHooks, Any], Any]  # (params, hooks, progress) → GenerationResult


class _JobProgress:
    """The job's progress across every process_images call of a script: image counts add up
    (a plan a script announced first, e.g. through shared.state.job_count, is kept)."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.done = 0

    @property
    def interrupted(self) -> bool:
        return self.ctx.interrupted

    @property
    def skipped(self) -> bool:
        return self.ctx.skipped

    def set_total(self, job_count: int, steps_per_job: int) -> None:
        progress = getattr(self.ctx, "progress", None)
        planned = progress().job_count if callable(progress) else 0
        self.ctx.set_total(max(planned, self.done + job_count), steps_per_job)

    def next_job(self) -> None:
        self.done += 1
        self.ctx.next_job()

    def step(self, step: int) -> None:
        self.ctx.step(step)

    def set_preview(self, image: Any) -> None:
        self.ctx.set_preview(image)


@dataclass
class ScriptJob:
    """What process_images needs from the job running it."""

    engine: Engine
    progress: _JobProgress
    styles: Any = None
    results: list = field(default_factory=list)  # every engine call's GenerationResult
    state: Any = None  # the EngineState (models, options) for scripts that need more than `p`
    settings: dict[str, Any] = field(default_factory=dict)  # the job's settings (override_settings applied)


_current_job: ContextVar[ScriptJob | None] = ContextVar("current_script_job", default=None)


def running_job() -> ScriptJob | None:
    """The job whose scripts run in this context (modules.shared.state reads it)."""
    return _current_job.get()


def process_images(p: StableDiffusionProcessing) -> Processed:
    """Generate what `p` describes (A1111's process_images), with the AlwaysVisible scripts'
    hooks around it; only inside a generation job (a script's run or the job itself)."""
    job = _current_job.get()
    if job is None:
        raise RuntimeError("process_images(p) runs inside a generation job (a script's run() or the job itself)")
    runner = p.scripts
    if runner is not None:
        runner.before_process(p)
    fix_seed(p)
    _setup_prompts(p, job.styles)
    if runner is not None:
        runner.process(p)
    wanted, total = _check_lists(p)
    params = p.to_params(_first(p.prompt), _first(p.negative_prompt), p.all_seeds[0], p.all_subseeds[0])
    result = job.engine(params, _ScriptHooks(p, runner, total), job.progress)
    job.results.append(result)
    p.job_timestamp = result.job_timestamp
    p.sd_model = result.model  # a per-request checkpoint (override_settings) made these images
    count = min(wanted, len(result.images))
    processed = Processed(p, list(result.images[:count]), seed=result.seeds[0], subseed=result.subseeds[0],
                          info=result.infotexts[0] if result.infotexts else "",
                          all_prompts=result.prompts[:wanted], all_negative_prompts=result.negative_prompts[:wanted],
                          all_seeds=result.seeds[:wanted], all_subseeds=result.subseeds[:wanted],
                          infotexts=list(result.infotexts[:count]))
    if runner is not None:
        runner.postprocess(p, processed)
    return processed


def _first(value: Any) -> str:
    return (value[0] if value else "") if isinstance(value, list) else value


def _setup_prompts(p: StableDiffusionProcessing, styles: Any) -> None:
    """A1111's setup_prompts and seeds: p.prompt may be one prompt or one per image (prompt
    matrix), p.seed one seed (counted up per image) or a list."""
    total = p.batch_size * p.n_iter
    prompts = list(p.prompt) if isinstance(p.prompt, list) else [p.prompt] * total
    negatives = list(p.negative_prompt) if isinstance(p.negative_prompt, list) else [p.negative_prompt] * len(prompts)
    if styles is not None and p.styles:
        prompts = [styles.apply_styles_to_prompt(text, p.styles) for text in prompts]
        negatives = [styles.apply_negative_styles_to_prompt(text, p.styles) for text in negatives]
    p.all_prompts, p.all_negative_prompts = prompts, negatives
    vary = p.subseed_strength > 0
    p.all_seeds = list(p.seed) if isinstance(p.seed, list) else \
        [int(p.seed) + (0 if vary else i) for i in range(len(prompts))]
    p.all_subseeds = list(p.subseed) if isinstance(p.subseed, list) else \
        [int(p.subseed) + i for i in range(len(prompts))]


def _check_lists(p: StableDiffusionProcessing) -> tuple[int, int]:
    """(images wanted, images the engine makes): batch_size × n_iter, the last batch padded
    with the last prompt/seed when the lists are shorter (the padding images are dropped)."""
    total = p.batch_size * p.n_iter
    for name in ("all_prompts", "all_negative_prompts"):
        values = getattr(p, name)
        if not values or not all(isinstance(v, str) for v in values):
            raise ParamsError(name, "must be a non-empty list of text")
    for name in ("all_seeds", "all_subseeds"):
        values = getattr(p, name)
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in values):
            raise ParamsError(name, "must be a non-empty list of seeds (whole numbers from 0 to 2**32-1)")
    wanted = min(total, len(p.all_prompts))
    for name in ("all_prompts", "all_negative_prompts", "all_seeds", "all_subseeds"):
        values = getattr(p, name)
        setattr(p, name, (values + [values[-1]] * total)[:total])
    return wanted, total


class _ScriptHooks(GenerationHooks):
    """The engine's hooks, turned into A1111's Script methods and script_callbacks."""

    def __init__(self, p: StableDiffusionProcessing, runner: Any, total: int):
        self.p = p
        self.runner = runner
        self.callbacks = script_callbacks
        # wrapping the denoiser costs a little per step: only when an extension listens
        self._watch = script_callbacks.has_callbacks("cfg_denoiser", "cfg_denoised", "cfg_after_cfg")

    @property
    def watches_denoiser(self) -> bool:
        return self._watch

    def before_batch(self, batch: BatchHookArgs) -> None:
        p, n = self.p, batch.iteration
        part = slice(n * p.batch_size, (n + 1) * p.batch_size)
        p.iteration = n
        p.prompts, p.negative_prompts = p.all_prompts[part], p.all_negative_prompts[part]
        p.seeds, p.subseeds = p.all_seeds[part], p.all_subseeds[part]
        if self.runner is not None:
            kwargs = dict(batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds)
            self.runner.before_process_batch(p, **kwargs)
            self.runner.process_batch(p, **kwargs)
        batch.prompts, batch.negative_prompts = list(p.prompts), list(p.negative_prompts)
        batch.seeds, batch.subseeds = list(p.seeds), list(p.subseeds)

    def on_denoiser(self, step: DenoiserHookArgs) -> None:
        denoiser = step.denoiser
        params = self.callbacks.CFGDenoiserParams(
            x=step.x, image_cond=step.image_cond, sigma=step.sigma, sampling_step=step.sampling_step,
            total_sampling_steps=step.total_sampling_steps, text_cond=getattr(denoiser, "cond", None),
            text_uncond=getattr(denoiser, "uncond", None), denoiser=denoiser)
        self.callbacks.cfg_denoiser_callback(params)
        step.x, step.sigma = params.x, params.sigma
        step.image_cond = params.image_cond

    def on_denoised(self, step: DenoisedHookArgs) -> None:
        params = self.callbacks.CFGDenoisedParams(x=step.x, sampling_step=step.sampling_step,
                                                  total_sampling_steps=step.total_sampling_steps,
                                                  inner_model=getattr(step.denoiser, "model", None))
        self.callbacks.cfg_denoised_callback(params)
        # Easel's denoiser output is already the CFG result, so after_cfg sees the same x
        after = self.callbacks.AfterCFGCallbackParams(params.x, step.sampling_step, step.total_sampling_steps)
        self.callbacks.cfg_after_cfg_callback(after)
        step.x = after.x

    def after_batch_images(self, iteration: int, batch_images: list[Image.Image]) -> list[Image.Image]:
        if self.runner is None:
            return batch_images
        from modules.scripts import PostprocessBatchListArgs

        self.runner.postprocess_batch(self.p, images=batch_images, batch_number=iteration)
        pp = PostprocessBatchListArgs(list(batch_images))
        self.runner.postprocess_batch_list(self.p, pp, batch_number=iteration)
        if len(pp.images) != len(batch_images):
            raise ParamsError("postprocess_batch_list", f"a script changed the batch from {len(batch_images)} "
                                                        f"to {len(pp.images)} images; Easel keeps one image per seed")
        return [_as_image(image) for image in pp.images]

    def infotext_extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.p.extra_generation_params.items() if v is not None}

    def after_image(self, image: ImageHookArgs) -> None:
        self.p.batch_index = image.batch_index
        if self.runner is None:
            return
        from modules.scripts import PostprocessImageArgs

        pp = PostprocessImageArgs(image.image)
        self.runner.postprocess_image(self.p, pp)
        image.image = _as_image(pp.image)

    def before_save(self, saving: SaveHookArgs) -> None:
        params = self.callbacks.ImageSaveParams(saving.image, self.p, "", {"parameters": saving.infotext})
        self.callbacks.before_image_saved_callback(params)
        saving.image = _as_image(params.image)
        saving.infotext = params.pnginfo.get("parameters", saving.infotext)

    def after_save(self, saving: SaveHookArgs) -> None:
        self.callbacks.image_saved_callback(
            self.callbacks.ImageSaveParams(saving.image, self.p, str(saving.path), {"parameters": saving.infotext}))


def _as_image(value: Any) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    try:
        import numpy as np

        return Image.fromarray(np.asarray(value).astype("uint8"))
    except (TypeError, ValueError):
        raise ParamsError("image", f"a script returned {type(value).__name__}, not an image") from None


# --- a job run through the scripts ------------------------------------------------------------

@dataclass
class ScriptJobOutcome:
    """What GenerationRunner stores for a job run through scripts (GenerationResult's shape)."""

    images: list[Image.Image]
    infotexts: list[str]
    paths: list
    interrupted: bool
    warnings: list[str]
    info_dict: dict[str, Any]

    def info(self) -> dict[str, Any]:
        return self.info_dict


def run_script_job(host: Any, kind: str, params: GenerationParams, script_args: list[Any], engine: Engine,
                   ctx: Any) -> ScriptJobOutcome:
    """One generation job, A1111's way: `p` from the request, the selected script's run(p, *args)
    (or process_images(p)), AlwaysVisible hooks inside every process_images."""
    runner = host.runner(kind)
    cls = StableDiffusionProcessingTxt2Img if kind == "txt2img" else StableDiffusionProcessingImg2Img
    state = host.state
    p = cls.from_params(params, sd_model=state.models.current_or_none, script_args=list(script_args),
                        scripts=runner, **_outpaths(kind, state))
    from modules.processing.pipeline import effective_settings

    job = ScriptJob(engine, _JobProgress(ctx), styles=state.styles, state=state,
                    settings=effective_settings(state.options.as_dict(), params))
    token = _current_job.set(job)
    try:
        runner.setup_scripts(p)
        processed = runner.run(p, *p.script_args)
        if processed is None:
            processed = process_images(p)
    finally:
        _current_job.reset(token)
    if not isinstance(processed, Processed):
        raise ParamsError("script_name", f"the script returned {type(processed).__name__}, not Processed")
    return _outcome(processed, job, ctx)


def _outpaths(kind: str, state: Any) -> dict[str, str]:
    settings = state.options.as_dict()
    options = images.OutputDirOptions(**{f: settings[f] for f in images.OutputDirOptions.__dataclass_fields__
                                         if f in settings})
    samples, grids = ((images.OutputKind.TXT2IMG_SAMPLES, images.OutputKind.TXT2IMG_GRIDS) if kind == "txt2img"
                      else (images.OutputKind.IMG2IMG_SAMPLES, images.OutputKind.IMG2IMG_GRIDS))
    return {"outpath_samples": str(images.output_root(samples, options, state.paths.data_dir)),
            "outpath_grids": str(images.output_root(grids, options, state.paths.data_dir))}


def _outcome(processed: Processed, job: ScriptJob, ctx: Any) -> ScriptJobOutcome:
    pictures = [_as_image(image) for image in processed.images]
    infotexts = list(processed.infotexts[:len(pictures)])
    infotexts += [processed.info] * (len(pictures) - len(infotexts))
    info = job.results[-1].info() if job.results else {}
    info.update(processed.js_dict())
    warnings: list[str] = []
    for result in job.results:
        warnings += [w for w in result.warnings if w not in warnings]
    return ScriptJobOutcome(pictures, infotexts, [path for r in job.results for path in r.paths],
                            bool(ctx.interrupted), warnings, info)
