"""One readable path from parameters to saved images: txt2img, img2img, inpaint, outpaint.

    params → seeds, prompts → first pass: initial latent → sampler loop (CFG denoiser;
           the SDXL refiner takes over at its switch) → [hires fix: upscale → second pass]
           → VAE decode → inpaint overlay → infotext + save → GenerationResult
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modules import images, sampling
from modules.sampling import flow
from modules.processing import face_restore
from modules.processing import latents as latent_ops
from modules.processing.conditioning import build_prompt_encoder, encode_batch
from modules.processing.extra_networks import ExtraNetworks, strip_network_tags
from modules.processing.denoiser import CFGDenoiser, FlowDenoiser, ModelDenoiser, SDXLConditions
from modules.processing.hooks import (NO_HOOKS, GenerationHooks, HookedDenoiser, ImageHookArgs, SaveHookArgs,
                                      run_before_batch)
from modules.processing.hires import HiresPlan, hires_infotext, plan_hires, upscale_between_passes
from modules.processing.img2img import Img2ImgPlan, prepare_img2img
from modules.processing.infotext import create_infotext
from modules.processing.params import GenerationParams, Img2ImgParams, ParamsError, Txt2ImgParams
from modules.processing.progress import NullProgress, ProgressSink
from modules.processing.refiner import check_refiner, refiner_infotext, refiner_passes
from modules.processing.refiner import switch_index as refiner_switch_index
from modules.processing.rng import ImageRNG, resolve_seed
from modules.processing.tiling import seamless
from modules.sd_models.loader import LoadedModel
from modules.version import VERSION

log = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    images: list[Image.Image]
    infotexts: list[str]
    seeds: list[int]
    subseeds: list[int]
    prompts: list[str]
    negative_prompts: list[str]
    params: GenerationParams
    settings: dict[str, Any]
    model: LoadedModel
    paths: list[Path] = field(default_factory=list)
    grid: Image.Image | None = None
    grid_path: Path | None = None
    interrupted: bool = False
    job_timestamp: str = ""
    warnings: list[str] = field(default_factory=list)  # for the user: e.g. a LoRA that matched nothing

    def warn(self, messages: Iterable[str]) -> None:
        """Add (and log) the messages not already given: each batch repeats the same ones."""
        for message in messages:
            if message not in self.warnings:
                log.warning("%s", message)
                self.warnings.append(message)

    def info(self) -> dict[str, Any]:
        """The `info` object A1111's API returns (as a dict; the API serialises it)."""
        p = self.params
        return {
            "prompt": self.prompts[0] if self.prompts else p.prompt,
            "all_prompts": self.prompts,
            "negative_prompt": self.negative_prompts[0] if self.negative_prompts else p.negative_prompt,
            "all_negative_prompts": self.negative_prompts,
            "seed": self.seeds[0] if self.seeds else p.seed,
            "all_seeds": self.seeds,
            "subseed": self.subseeds[0] if self.subseeds else p.subseed,
            "all_subseeds": self.subseeds,
            "subseed_strength": p.subseed_strength,
            "width": p.width,
            "height": p.height,
            "sampler_name": p.sampler_name,
            "cfg_scale": p.cfg_scale,
            "steps": p.steps,
            "batch_size": p.batch_size,
            "restore_faces": face_restore.wants_restore(p.restore_faces, self.settings),
            "face_restoration_model": (self.settings.get("face_restoration_model")
                                       if face_restore.wants_restore(p.restore_faces, self.settings) else None),
            "sd_model_name": self.model.info.model_name,
            "sd_model_hash": self.model.info.shorthash,
            "sd_vae_name": None if self.model.vae_source == "built-in" else Path(self.model.vae_source).name,
            "sd_vae_hash": None,
            "seed_resize_from_w": p.seed_resize_from_w,
            "seed_resize_from_h": p.seed_resize_from_h,
            "denoising_strength": getattr(p, "denoising_strength", None),
            "extra_generation_params": {},
            "index_of_first_image": 1 if self.grid is not None else 0,
            "infotexts": ([self.infotexts[0]] if self.grid is not None else []) + self.infotexts,
            "styles": list(p.styles),
            "job_timestamp": self.job_timestamp,
            "clip_skip": self.settings.get("CLIP_stop_at_last_layers", 1),
            "is_using_inpainting_conditioning": self.model.arch.variant == "inpaint",
            "version": VERSION,
        }


def effective_settings(base: dict[str, Any], params: GenerationParams) -> dict[str, Any]:
    """Settings for this job: the saved ones with the request's override_settings on top."""
    overrides = {k: v for k, v in params.override_settings.items() if k != "sd_model_checkpoint"}
    return {**base, **overrides}


def generate(params: GenerationParams, model: LoadedModel, settings: dict[str, Any], data_dir: Path,
             progress: ProgressSink | None = None, styles: Any = None,
             refiner: LoadedModel | None = None, extra_networks: ExtraNetworks | None = None,
             hooks: GenerationHooks | None = None) -> GenerationResult:
    """Run a validated txt2img/img2img request on a loaded model and save its images.

    `refiner` is the loaded `refiner_checkpoint` (the job layer loads it): it takes over each
    pass from `refiner_switch_at` on (refiner.py). Txt2img with `enable_hr` adds the hires
    fix's second pass (hires.py). `extra_networks` applies `<lora:…>` tags and embeddings.
    `hooks` (hooks.py) let a caller such as the Script API see and change each step."""
    params.validate()
    progress = progress or NullProgress()
    hooks = hooks or NO_HOOKS
    extra_networks = extra_networks or ExtraNetworks()
    job_timestamp = time.strftime("%Y%m%d%H%M%S")
    total = params.batch_size * params.n_iter
    seed, subseed = resolve_seed(params.seed), resolve_seed(params.subseed)
    vary_subseed = params.subseed_strength > 0
    all_seeds = [seed + (0 if vary_subseed else i) for i in range(total)]
    all_subseeds = [subseed + i for i in range(total)]
    prompt, negative = _styled(styles, params, params.prompt, params.negative_prompt)
    sampler, schedule = sampling.resolve_sampler_and_schedule(params.sampler_name, params.scheduler)
    check_sampler_fits(sampler, model)
    hires = plan_hires(params, sampler, schedule, model.latent_downscale) if _hires_enabled(params) else None
    hr_prompt, hr_negative = (prompt, negative) if hires is None else _styled(
        styles, params, params.hr_prompt or params.prompt, params.hr_negative_prompt or params.negative_prompt)
    refiner = check_refiner(params, model, refiner)
    refine_first, refine_hires = refiner_passes(settings, hires is not None)
    img2img = prepare_img2img(params, model) if isinstance(params, Img2ImgParams) else None
    restorer = face_restore.generation_restorer(settings) if face_restore.wants_restore(
        params.restore_faces, settings) else None
    first_steps = params.steps if img2img is None else sampling.img2img_steps(
        params.steps, max(params.denoising_strength, 1e-3))[1] + 1
    progress.set_total(params.n_iter, first_steps + (hires.steps_run if hires else 0))

    result = GenerationResult([], [], all_seeds, all_subseeds, [prompt] * total, [negative] * total, params,
                              settings, model, job_timestamp=job_timestamp)
    encoders: dict[int, Any] = {}  # one prompt encoder per model (base, refiner)
    # the hires pass uses the networks its own prompt names (A1111: hr_prompt's tags replace the prompt's)
    first_uses = extra_networks.uses(prompt)
    hr_uses = extra_networks.uses(hr_prompt) if hires is not None else []
    reports: dict[str, Any] = {}
    with seamless(model, bool(params.tiling)):
        for iteration in range(params.n_iter):
            if progress.interrupted:
                break
            batch = slice(iteration * params.batch_size, (iteration + 1) * params.batch_size)
            run_before_batch(hooks, iteration, batch, result.prompts, result.negative_prompts, all_seeds, all_subseeds)
            run = _BatchRun(params, settings, all_seeds[batch], all_subseeds[batch], progress, encoders,
                            extra_networks, hooks=hooks)
            with extra_networks.applied(model, first_uses) as reports["first"]:
                first = _first_pass(run, model, sampler, schedule, result.prompts[batch],
                                    result.negative_prompts[batch], img2img, iteration)
                latent, latent_model = _denoise(run, first, model, refiner if refine_first else None)
            if hires is not None and not run.stopped:
                with extra_networks.applied(model, hr_uses) as reports["hires"]:
                    second = _hires_pass(run, hires, model, latent, latent_model,
                                         _hires_prompts(params.hr_prompt, hr_prompt, result.prompts[batch]),
                                         _hires_prompts(params.hr_negative_prompt, hr_negative,
                                                        result.negative_prompts[batch]))
                    latent, latent_model = _denoise(run, second, model, refiner if refine_hires else None)
            network_fields = extra_networks.infotext_fields(model, list(reports.values()),
                                                            [prompt, negative, hr_prompt, hr_negative])
            result.warn(w for report in reports.values() if report is not None for w in report.warnings)
            pixels = latent_ops.decode(latent_model.vae, latent)
            for index, image in enumerate(hooks.after_batch_images(iteration, latent_ops.tensor_to_images(pixels))):
                number = iteration * params.batch_size + index
                if restorer is not None:  # A1111: faces are restored before the inpaint overlay
                    image = restorer.restore(image, weight=settings.get("code_former_weight", 0.5))
                if img2img is not None:
                    image = img2img.overlay(image, number)
                hooked = ImageHookArgs(image, number, iteration, index)
                hooks.after_image(hooked)
                image = hooked.image
                added: dict[str, Any] = {}  # standard_fields arguments: A1111's hires and refiner fields
                if restorer is not None:
                    added["face_restoration"] = restorer.name
                if hires is not None:
                    added.update(hires_infotext(hires, params, sampler, schedule, (prompt, negative),
                                                (hr_prompt, hr_negative)))
                extra = {**network_fields, **hooks.infotext_extra()}
                if model.flow_shift is not None:
                    extra["Shift"] = model.flow_shift  # SD3's sigma shift (ComfyUI/Forge "shift")
                if run.refined:
                    extra.update(refiner_infotext(refiner, params, settings, hires is not None))
                if extra:
                    added["extra"] = extra
                infotext = create_infotext(params, model, settings, result, number, sampler, schedule, **added)
                result.images.append(image)
                result.infotexts.append(infotext)
                if settings.get("samples_save", True) and not params.do_not_save_samples:
                    saving = SaveHookArgs(image, infotext, number)
                    hooks.before_save(saving)
                    saving.path = _save(saving.image, saving.infotext, params, settings, data_dir, result, number)
                    result.paths.append(saving.path)
                    hooks.after_save(saving)
            result.interrupted = progress.interrupted
            progress.next_job()  # also clears a skip, which applies to one batch only
    _make_grid(result, params, settings, data_dir, hooks)
    hooks.after_all(result)
    return result


def check_sampler_fits(sampler: sampling.SamplerSpec, model: LoadedModel) -> None:
    """Flow models (SD3) refuse samplers written for the variance-exploding form (ParamsError)."""
    if model.flow_shift is not None and not flow.runs_on_flow(sampler):
        raise ParamsError("sampler_name", f"{sampler.name!r} does not support SD3 (flow) models; "
                                          f"use {flow.FLOW_SAMPLERS_HINT}")


def _hires_prompts(own: str, styled: str, batch_prompts: list[str]) -> list[str]:
    """The second pass's prompts: its own when given, else the batch's (which hooks may have
    made differ per image, as A1111's all_hr_prompts follow all_prompts)."""
    return [styled] * len(batch_prompts) if own else list(batch_prompts)


def _hires_enabled(params: GenerationParams) -> bool:
    return isinstance(params, Txt2ImgParams) and params.enable_hr


def _styled(styles: Any, params: GenerationParams, prompt: str, negative: str) -> tuple[str, str]:
    if styles is None or not params.styles:
        return prompt, negative
    return (styles.apply_styles_to_prompt(prompt, params.styles),
            styles.apply_negative_styles_to_prompt(negative, params.styles))


@dataclass
class _Pass:
    """One sampling pass over a batch: where it starts, its schedule, prompts and image conditioning."""

    sampler: sampling.SamplerSpec
    sigmas: torch.Tensor
    x: torch.Tensor  # the start latent, already at noise level sigmas[0]
    rng: ImageRNG
    width: int
    height: int
    prompts: list[str]
    negatives: list[str]
    prompt_steps: int  # steps prompt schedules ([from:to:when]) are spread over
    image_cond: torch.Tensor | None = None
    attach: Callable[[CFGDenoiser], None] | None = None  # img2img: masks, inpainting/pix2pix conditioning


@dataclass
class _BatchRun:
    """What the passes over one batch share; `refined` records that the refiner took over."""

    params: GenerationParams
    settings: dict[str, Any]
    seeds: list[int]
    subseeds: list[int]
    progress: ProgressSink
    encoders: dict[int, Any]
    extra_networks: ExtraNetworks
    hooks: GenerationHooks = NO_HOOKS
    refined: bool = False
    steps_done: int = 0  # progress counts on across the passes and the refiner switch
    conditioning: dict[tuple, Any] = field(default_factory=dict)

    @property
    def stopped(self) -> bool:
        return self.progress.interrupted or self.progress.skipped

    def image_rng(self, sampler: sampling.SamplerSpec, model: LoadedModel, width: int, height: int) -> ImageRNG:
        p = self.params
        shape = (model.unet.config.out_channels, height // model.latent_downscale, width // model.latent_downscale)
        ensd = self.settings.get("eta_noise_seed_delta", 0) if sampler.uses_ensd else 0
        return ImageRNG(shape, self.seeds, self.subseeds, p.subseed_strength,
                        (p.seed_resize_from_h, p.seed_resize_from_w), eta_noise_seed_delta=ensd,
                        downscale=model.latent_downscale)

    def denoiser(self, model: LoadedModel, run_pass: _Pass) -> CFGDenoiser:
        key = (id(model), tuple(run_pass.prompts), tuple(run_pass.negatives), run_pass.prompt_steps)
        if key not in self.conditioning:  # the hires pass reuses the first pass's unless its prompts differ
            if id(model) not in self.encoders:
                self.encoders[id(model)] = build_prompt_encoder(model, self.settings,
                                                                embeddings=self.extra_networks.lookups(model))
            self.conditioning[key] = encode_batch(self.encoders[id(model)],
                                                  [strip_network_tags(p) for p in run_pass.prompts],
                                                  [strip_network_tags(p) for p in run_pass.negatives],
                                                  run_pass.prompt_steps)
        cond, uncond = self.conditioning[key]
        if model.flow_shift is not None:  # SD3
            inner = FlowDenoiser(model.unet, model.unet.dtype)
        else:
            inner = ModelDenoiser(model.unet, _model_sigmas(model), model.arch.prediction_type == "v_prediction",
                                  model.unet.dtype)
        return CFGDenoiser(inner, cond, uncond, self.params.cfg_scale * run_pass.sampler.cfg_scale_multiplier,
                           sdxl=_sdxl_conditions(model, run_pass.width, run_pass.height, self.settings),
                           pooled_input=model.flow_shift is not None)


def _model_sigmas(model: LoadedModel) -> sampling.DiscreteSigmas:
    if model.flow_shift is not None:  # SD3: shifted rectified-flow sigmas in (0, 1]
        return flow.flow_sigmas(model.flow_shift)
    return sampling.DiscreteSigmas.from_alphas_cumprod(model.alphas_cumprod)


def _first_pass(run: _BatchRun, model: LoadedModel, sampler, schedule, prompts: list[str], negatives: list[str],
                img2img: Img2ImgPlan | None, iteration: int) -> _Pass:
    params = run.params
    width, height = img2img.size if img2img is not None else (params.width, params.height)
    rng = run.image_rng(sampler, model, width, height)
    noise = rng.first()
    if img2img is None:
        sigmas = sampling.build_sigmas(sampler, params.steps, schedule, model_sigmas=_model_sigmas(model))
        return _Pass(sampler, sigmas, noise * sigmas[0], rng, width, height, prompts, negatives, params.steps,
                     image_cond=_txt2img_image_cond(model, len(run.seeds), height, width))
    sigmas = sampling.sigmas_for_denoise(sampler, params.steps, params.denoising_strength, schedule,
                                         model_sigmas=_model_sigmas(model))
    x = img2img.start_latent(iteration, noise, sigmas[0], rng)
    return _Pass(sampler, sigmas, x, rng, width, height, prompts, negatives, params.steps,
                 attach=lambda denoiser: img2img.attach(denoiser, iteration))


def _hires_pass(run: _BatchRun, plan: HiresPlan, model: LoadedModel, latent: torch.Tensor,
                latent_model: LoadedModel, prompts: list[str], negatives: list[str]) -> _Pass:
    """The hires fix's img2img-style second pass from the upscaled first-pass latent."""
    start = upscale_between_passes(plan, latent, latent_model, model)
    height, width = start.shape[2] * model.latent_downscale, start.shape[3] * model.latent_downscale
    rng = run.image_rng(plan.sampler, model, width, height)  # the same seeds again, as A1111 does
    sigmas = plan.sigmas(_model_sigmas(model))
    noise = rng.first().to(start.device)
    x = flow.noised(start, noise, sigmas[0]) if model.flow_shift is not None else start + noise * sigmas[0]
    return _Pass(plan.sampler, sigmas, x, rng, width, height, prompts, negatives, plan.steps,
                 image_cond=_txt2img_image_cond(model, len(run.seeds), height, width))


def _denoise(run: _BatchRun, run_pass: _Pass, model: LoadedModel,
             refiner: LoadedModel | None) -> tuple[torch.Tensor, LoadedModel]:
    """Sample a pass: the model down to the refiner's switch sigma (all the way without a
    refiner), then the refiner on from the same latent. Returns the latent and its model."""
    sigmas = run_pass.sigmas
    steps = len(sigmas) - 1
    switch = steps if refiner is None else refiner_switch_index(
        sigmas, _model_sigmas(model), run.params.refiner_switch_at,
        run.settings.get("refiner_switch_by_sample_steps", False))
    noise_sampler = (sampling.default_noise_sampler(run_pass.sampler, run_pass.x, sigmas, run.seeds)
                     if run_pass.sampler.brownian_noise else (lambda sigma, sigma_next: run_pass.rng.next()))
    denoiser = run.denoiser(model, run_pass)
    denoiser.image_cond = run_pass.image_cond
    if run_pass.attach is not None:
        run_pass.attach(denoiser)
    x = _run_sampler(run, run_pass, model, denoiser, run_pass.x, sigmas[:switch + 1], noise_sampler)
    if switch == steps or run.stopped:
        return x, model
    refined = run.denoiser(refiner, run_pass)
    refined.step = denoiser.step  # prompt schedules go on where the model stopped
    refined.init_latent, refined.keep_mask = denoiser.init_latent, denoiser.keep_mask  # masked img2img
    run.refined = True
    return _run_sampler(run, run_pass, refiner, refined, x, sigmas[switch:], noise_sampler), refiner


def _run_sampler(run: _BatchRun, run_pass: _Pass, model: LoadedModel, denoiser: CFGDenoiser, x: torch.Tensor,
                 sigmas: torch.Tensor, noise_sampler) -> torch.Tensor:
    options = {}
    if run_pass.sampler.eta_option and run.params.eta is not None:
        options["eta"] = run.params.eta
    preview_every = run.settings.get("show_progress_every_n_steps", 10)

    def on_step(info: sampling.StepInfo) -> None:
        run.steps_done += 1
        run.progress.step(run.steps_done)
        if preview_every > 0 and run.steps_done % preview_every == 0:
            run.progress.set_preview(latent_ops.preview(info.denoised, model, run.settings.get("show_progress_type")))

    if run.hooks.watches_denoiser:
        denoiser = HookedDenoiser(denoiser, run.hooks, len(run_pass.sigmas) - 1)
    return sampling.sample(run_pass.sampler, denoiser, x, sigmas, noise_sampler=noise_sampler, seed=run.seeds,
                           callback=on_step, should_stop=lambda: run.stopped, **options)


def _sdxl_conditions(model: LoadedModel, width: int, height: int, settings: dict[str, Any]) -> SDXLConditions | None:
    if model.arch.family == "sdxl":
        return SDXLConditions(original_size=(height, width), target_size=(height, width))
    if model.arch.family == "sdxl_refiner":
        return SDXLConditions(original_size=(height, width), target_size=(height, width),
                              aesthetic_score=settings.get("sdxl_refiner_high_aesthetic_score", 6.0),
                              negative_aesthetic_score=settings.get("sdxl_refiner_low_aesthetic_score", 2.5))
    return None


def _txt2img_image_cond(model: LoadedModel, batch: int, height: int, width: int) -> torch.Tensor | None:
    """Inpainting models get "repaint everything" (mask 1, grey image); pix2pix a zero image."""
    latent_size = (height // model.latent_downscale, width // model.latent_downscale)
    if model.arch.variant == "inpaint":
        grey = torch.zeros(batch, 3, height, width)
        image_latent = latent_ops.encode(model.vae, grey)
        return torch.cat([torch.ones(batch, 1, *latent_size), image_latent], dim=1)
    if model.arch.variant == "instruct-pix2pix":
        return torch.zeros(batch, 4, *latent_size)
    return None


def _output_dir(kind: images.OutputKind, settings: dict[str, Any], data_dir: Path) -> Path:
    fields = {f: settings[f] for f in images.OutputDirOptions.__dataclass_fields__ if f in settings}
    return images.output_root(kind, images.OutputDirOptions(**fields), data_dir)


def _save_options(settings: dict[str, Any]) -> images.SaveOptions:
    keys = ("samples_filename_pattern", "save_to_dirs", "directories_filename_pattern", "save_txt",
            "enable_pnginfo", "jpeg_quality")
    return images.SaveOptions(**{k: settings[k] for k in keys if k in settings})


def _save(image, infotext, params, settings, data_dir, result, number) -> Path:
    kind = images.OutputKind.TXT2IMG_SAMPLES if params.kind == "txt2img" else images.OutputKind.IMG2IMG_SAMPLES
    data = images.FilenameData(
        seed=result.seeds[number], prompt=result.prompts[number], negative_prompt=result.negative_prompts[number],
        steps=params.steps, cfg_scale=params.cfg_scale, sampler=params.sampler_name,
        model_name=result.model.info.model_name, model_hash=result.model.info.shorthash,
        job_timestamp=result.job_timestamp, batch_index=number % params.batch_size, batch_size=params.batch_size,
        iteration=number // params.batch_size, n_iter=params.n_iter, styles=tuple(params.styles),
    )
    saved = images.save_image(image, _output_dir(kind, settings, data_dir), seed=result.seeds[number],
                              prompt=result.prompts[number], extension=settings.get("samples_format", "png"),
                              infotext=infotext, data=data, options=_save_options(settings))
    return saved.path


def _make_grid(result: GenerationResult, params: GenerationParams, settings: dict[str, Any], data_dir: Path,
               hooks: GenerationHooks = NO_HOOKS) -> None:
    if len(result.images) < 2 or params.do_not_save_grid:  # A1111: the API asks for no grid this way
        return
    result.grid = images.image_grid(result.images, batch_size=params.batch_size)
    if settings.get("grid_save", True) and not params.do_not_save_grid:
        kind = images.OutputKind.TXT2IMG_GRIDS if params.kind == "txt2img" else images.OutputKind.IMG2IMG_GRIDS
        saving = SaveHookArgs(result.grid, result.infotexts[0], -1)
        hooks.before_save(saving)
        saved = images.save_image(saving.image, _output_dir(kind, settings, data_dir), basename="grid",
                                  seed=result.seeds[0], prompt=result.prompts[0],
                                  extension=settings.get("grid_format", "png"), infotext=saving.infotext,
                                  options=_save_options(settings), grid=True)
        result.grid_path = saving.path = saved.path
        hooks.after_save(saving)
