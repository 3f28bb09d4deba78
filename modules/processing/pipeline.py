"""One readable path from parameters to saved images: txt2img, img2img, inpaint, outpaint.

    params → seeds, prompts → conditioning → initial latent → sampler loop (CFG denoiser)
           → VAE decode → inpaint overlay → infotext + save → GenerationResult
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modules import images, sampling
from modules.processing import latents as latent_ops
from modules.processing.conditioning import build_prompt_encoder, encode_batch
from modules.processing.denoiser import CFGDenoiser, ModelDenoiser, SDXLConditions
from modules.processing.img2img import prepare_img2img
from modules.processing.infotext import create_infotext
from modules.processing.params import GenerationParams, Img2ImgParams
from modules.processing.progress import NullProgress, ProgressSink
from modules.processing.rng import ImageRNG, resolve_seed
from modules.sd_models.loader import LoadedModel
from modules.version import VERSION


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
            "restore_faces": bool(p.restore_faces),
            "face_restoration_model": None,
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
             progress: ProgressSink | None = None, styles: Any = None) -> GenerationResult:
    """Run a validated txt2img/img2img request on a loaded model and save its images."""
    params.validate()
    progress = progress or NullProgress()
    job_timestamp = time.strftime("%Y%m%d%H%M%S")
    total = params.batch_size * params.n_iter
    seed, subseed = resolve_seed(params.seed), resolve_seed(params.subseed)
    vary_subseed = params.subseed_strength > 0
    all_seeds = [seed + (0 if vary_subseed else i) for i in range(total)]
    all_subseeds = [subseed + i for i in range(total)]
    prompt, negative = params.prompt, params.negative_prompt
    if styles is not None and params.styles:
        prompt = styles.apply_styles_to_prompt(prompt, params.styles)
        negative = styles.apply_negative_styles_to_prompt(negative, params.styles)
    sampler, schedule = sampling.resolve_sampler_and_schedule(params.sampler_name, params.scheduler)
    model_sigmas = sampling.DiscreteSigmas.from_alphas_cumprod(model.alphas_cumprod)
    encoder = build_prompt_encoder(model, settings)
    img2img = prepare_img2img(params, model) if isinstance(params, Img2ImgParams) else None
    steps_per_job = params.steps if img2img is None else sampling.img2img_steps(
        params.steps, max(params.denoising_strength, 1e-3))[1] + 1
    progress.set_total(params.n_iter, steps_per_job)

    result = GenerationResult([], [], all_seeds, all_subseeds, [prompt] * total, [negative] * total, params,
                              settings, model, job_timestamp=job_timestamp)
    for iteration in range(params.n_iter):
        if progress.interrupted:
            break
        batch = slice(iteration * params.batch_size, (iteration + 1) * params.batch_size)
        seeds, subseeds = all_seeds[batch], all_subseeds[batch]
        cond, uncond = encode_batch(encoder, result.prompts[batch], result.negative_prompts[batch], params.steps)
        latent = _sample_batch(params, model, model_sigmas, sampler, schedule, cond, uncond, seeds, subseeds,
                               settings, img2img, iteration, progress)
        pixels = latent_ops.decode(model.vae, latent)
        for index, image in enumerate(latent_ops.tensor_to_images(pixels)):
            number = iteration * params.batch_size + index
            if img2img is not None:
                image = img2img.overlay(image, number)
            infotext = create_infotext(params, model, settings, result, number, sampler, schedule)
            result.images.append(image)
            result.infotexts.append(infotext)
            if settings.get("samples_save", True) and not params.do_not_save_samples:
                result.paths.append(_save(image, infotext, params, settings, data_dir, result, number))
        result.interrupted = progress.interrupted
        progress.next_job()  # also clears a skip, which applies to one batch only
    _make_grid(result, params, settings, data_dir)
    return result


def _sample_batch(params, model, model_sigmas, sampler, schedule, cond, uncond, seeds, subseeds, settings,
                  img2img, iteration, progress) -> torch.Tensor:
    height, width = (img2img.size[1], img2img.size[0]) if img2img is not None else (params.height, params.width)
    shape = (model.unet.config.out_channels, height // model.latent_downscale, width // model.latent_downscale)
    seed_resize = (params.seed_resize_from_h, params.seed_resize_from_w)
    rng = ImageRNG(shape, seeds, subseeds, params.subseed_strength, seed_resize,
                   eta_noise_seed_delta=settings.get("eta_noise_seed_delta", 0) if sampler.uses_ensd else 0,
                   downscale=model.latent_downscale)
    noise = rng.first()
    denoiser = CFGDenoiser(
        ModelDenoiser(model.unet, model_sigmas, model.arch.prediction_type == "v_prediction", model.unet.dtype),
        cond, uncond, params.cfg_scale * sampler.cfg_scale_multiplier,
        sdxl=_sdxl_conditions(model, width, height),
    )
    if img2img is None:
        sigmas = sampling.build_sigmas(sampler, params.steps, schedule, model_sigmas=model_sigmas)
        x = noise * sigmas[0]
        denoiser.image_cond = _txt2img_image_cond(model, len(seeds), height, width)
    else:
        sigmas = sampling.sigmas_for_denoise(sampler, params.steps, params.denoising_strength, schedule,
                                             model_sigmas=model_sigmas)
        x = img2img.start_latent(iteration, noise, sigmas[0], rng)
        img2img.attach(denoiser, iteration)
    options = {}
    if sampler.eta_option and params.eta is not None:
        options["eta"] = params.eta
    noise_sampler = None if sampler.brownian_noise else (lambda sigma, sigma_next: rng.next())
    preview_every = settings.get("show_progress_every_n_steps", 10)

    def on_step(info: sampling.StepInfo) -> None:
        progress.step(info.i + 1)
        if preview_every > 0 and (info.i + 1) % preview_every == 0:
            progress.set_preview(latent_ops.cheap_preview(info.denoised, model.arch.is_sdxl))

    return sampling.sample(sampler, denoiser, x, sigmas, noise_sampler=noise_sampler, seed=seeds,
                           callback=on_step, should_stop=lambda: progress.interrupted or progress.skipped,
                           **options)


def _sdxl_conditions(model: LoadedModel, width: int, height: int) -> SDXLConditions | None:
    if model.arch.family == "sdxl":
        return SDXLConditions(original_size=(height, width), target_size=(height, width))
    if model.arch.family == "sdxl_refiner":
        return SDXLConditions(original_size=(height, width), target_size=(height, width), aesthetic_score=6.0)
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


def _make_grid(result: GenerationResult, params: GenerationParams, settings: dict[str, Any], data_dir: Path) -> None:
    if len(result.images) < 2 or params.do_not_save_grid:  # A1111: the API asks for no grid this way
        return
    result.grid = images.image_grid(result.images, batch_size=params.batch_size)
    if settings.get("grid_save", True) and not params.do_not_save_grid:
        kind = images.OutputKind.TXT2IMG_GRIDS if params.kind == "txt2img" else images.OutputKind.IMG2IMG_GRIDS
        saved = images.save_image(result.grid, _output_dir(kind, settings, data_dir), basename="grid",
                                  seed=result.seeds[0], prompt=result.prompts[0],
                                  extension=settings.get("grid_format", "png"), infotext=result.infotexts[0],
                                  options=_save_options(settings), grid=True)
        result.grid_path = saved.path
