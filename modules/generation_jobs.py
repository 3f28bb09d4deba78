"""Generations as queue jobs: JSON params in, saved files and A1111 info out.

Every face (API, UI) submits here; the queue's worker runs `GenerationRunner`, which picks
the checkpoint (honouring a per-request `sd_model_checkpoint` override), calls the engine
and keeps the images under outputs/jobs/<id>/ so finished results stay retrievable.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from PIL import Image

from modules import processing, sampling
from modules.fileio import atomic_write_bytes
from modules.images import encode_image, read_infotext
from modules.options import OptionError
from modules.processing import GenerationParams, Img2ImgParams, ParamsError, Txt2ImgParams, UnknownNameError
from modules.sd_models.manager import CheckpointNotFoundError
from modules.sd_models.safe_load import CheckpointLoadError

log = logging.getLogger(__name__)
PARAM_CLASSES: dict[str, type[GenerationParams]] = {"txt2img": Txt2ImgParams, "img2img": Img2ImgParams}
IMAGE_FIELDS = ("init_images", "mask")
# A1111's script fields travel with a job's params (JSON) and go to EngineState.scripts
SCRIPT_FIELDS = ("script_name", "script_args", "alwayson_scripts")


def split_script_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the params proper, the script request) of a job's JSON params."""
    params = {k: v for k, v in data.items() if k not in SCRIPT_FIELDS}
    return params, {k: data[k] for k in SCRIPT_FIELDS if k in data}


def decode_image(data: str, field_name: str) -> Image.Image:
    """A base64 image (optionally a data: URL), as A1111's API takes them."""
    try:
        payload = data.split(",", 1)[1] if data.startswith("data:") else data
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=False)))
        image.load()
        return image
    except Exception as e:  # PIL raises many types for bad data
        raise ParamsError(field_name, f"not a valid base64-encoded image ({e.__class__.__name__})") from None


def encode_png(image: Image.Image, infotext: str | None = None) -> str:
    return base64.b64encode(png_bytes(image, infotext)).decode("ascii")


def png_bytes(image: Image.Image, infotext: str | None) -> bytes:
    buffer = io.BytesIO()
    encode_image(image, buffer, "png", infotext)
    return buffer.getvalue()


def params_from_json(kind: str, data: dict[str, Any]) -> GenerationParams:
    """Typed, validated params from a job's JSON (images as base64)."""
    if kind not in PARAM_CLASSES:
        raise ParamsError("kind", f"unknown generation kind {kind!r}")
    cls = PARAM_CLASSES[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParamsError(unknown[0], f"unknown field for {kind}")
    values = dict(data)
    if "init_images" in values:
        values["init_images"] = [decode_image(v, "init_images") for v in values["init_images"] or []]
    if values.get("mask"):
        values["mask"] = decode_image(values["mask"], "mask")
    try:
        params = cls(**values)
    except TypeError as e:
        raise ParamsError(kind, str(e)) from None
    return params.validate()


def check_references(params: GenerationParams, state: Any) -> None:
    """Names a job refers to (styles, settings, checkpoints, VAE) must exist when it is
    queued, so a typo or a file path is refused up front instead of failing in the worker."""
    known_styles = state.styles.names()
    for name in params.styles:
        if name not in known_styles:
            raise UnknownNameError("styles", f"unknown style {name!r}; known styles: {known_styles}")
    for key, value in params.override_settings.items():
        _check_override(key, value, state)
    if params.refiner_checkpoint:
        _check_checkpoint("refiner_checkpoint", params.refiner_checkpoint, state)
    settings = {**state.options.as_dict(), **params.override_settings}
    if processing.face_restore.wants_restore(params.restore_faces, settings):
        try:  # the restorer face_restoration_model names, and facexlib's detection weights
            processing.face_restore.generation_restorer(settings)
        except ValueError as e:
            raise ParamsError("restore_faces", str(e)) from None
    model = state.models.current_or_none
    if model is not None and not params.override_settings.get("sd_model_checkpoint"):
        sampler, _ = sampling.resolve_sampler_and_schedule(params.sampler_name, params.scheduler)
        processing.check_sampler_fits(sampler, model)  # e.g. "Euler a" on SD3: a 422 now, not a failed job


def _check_override(key: str, value: Any, state: Any) -> None:
    info = state.options.registry.infos.get(key)
    if info is None:
        raise ParamsError("override_settings", f"unknown setting {key!r}")
    try:
        info.validate(value)
    except OptionError as e:
        raise ParamsError("override_settings", str(e)) from None
    if key == "sd_model_checkpoint" and value:
        _check_checkpoint("override_settings", value, state)
    if key == "sd_vae" and value not in state.models.vae_choices():
        raise UnknownNameError("override_settings", f"unknown VAE {value!r}; choose one of {state.models.vae_choices()}")


def _check_checkpoint(field_name: str, name: str, state: Any) -> None:
    try:
        info = state.models.find(name)
    except CheckpointNotFoundError as e:
        raise UnknownNameError(field_name, str(e)) from None
    try:  # a file the loader would refuse (code in a pickle, truncated, no model) fails here, not as a 500
        state.models.check_loadable(info)
    except CheckpointLoadError as e:
        raise ParamsError(field_name, str(e)) from None


def params_to_json(params: GenerationParams) -> dict[str, Any]:
    data = {f.name: getattr(params, f.name) for f in fields(params)}
    if isinstance(params, Img2ImgParams):
        data["init_images"] = [encode_png(im) for im in params.init_images]
        data["mask"] = encode_png(params.mask) if params.mask is not None else None
    return data


class GenerationRunner:
    """The queue runner for "txt2img" and "img2img" jobs."""

    def __init__(self, state: Any):  # EngineState; typed loosely to avoid an import cycle
        self.state = state

    def __call__(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        kind = ctx.job.kind
        params, script_request = split_script_fields(params)
        p = params_from_json(kind, params)
        ctx.set_total(p.n_iter, p.steps)  # the plan shows in /progress while the model or scripts get ready
        scripts = getattr(self.state, "scripts", None)
        if scripts is None:  # no Script API attached (engine-only use): plain generation
            if any(script_request.values()):
                raise ParamsError("script_name", "scripts are not available here")
            return self._store(ctx.job.id, self.generate(p, None, ctx))
        # every job goes through the scripts: AlwaysVisible ones run on plain generations too
        return self._store(ctx.job.id, scripts.run_job(kind, p, script_request, self.generate, ctx))

    def generate(self, p: GenerationParams, hooks: Any, progress: Any) -> processing.GenerationResult:
        """One engine run on the job's model (a per-request checkpoint loaded, then restored)."""
        models = self.state.models
        previous = models.current_or_none
        override = p.override_settings.get("sd_model_checkpoint")
        model = models.load(override) if override else models.current(timeout=600)
        try:
            refiner = models.load_aside(p.refiner_checkpoint) if p.refiner_checkpoint else None
            settings = processing.effective_settings(self.state.options.as_dict(), p)
            return processing.generate(p, model, settings, self.state.paths.data_dir, progress,
                                       styles=self.state.styles, refiner=refiner,
                                       extra_networks=self.state.extra_networks, hooks=hooks)
        finally:
            if override and previous is not None and p.override_settings_restore_afterwards:
                models.load(previous.info)

    def _store(self, job_id: str, result: Any) -> dict[str, Any]:  # GenerationResult or the scripts' outcome
        """Keep every image of the job (saved copy or, if not saved, one in outputs/jobs/)."""
        files = [store_job_image(self.state.paths.outputs_dir, job_id, index, image, infotext)
                 for index, (image, infotext) in enumerate(zip(result.images, result.infotexts))]
        return {"images": files, "saved": [str(p) for p in result.paths], "infotexts": result.infotexts,
                "info": result.info(), "interrupted": result.interrupted, "warnings": result.warnings}


def store_job_image(outputs_dir: Path, job_id: str, index: int, image: Image.Image, infotext: str | None) -> str:
    """A job's result image as a PNG (with infotext) under outputs/jobs/<id>/, where the
    async API serves it from."""
    target = outputs_dir / "jobs" / job_id / f"{index:02d}.png"
    atomic_write_bytes(target, png_bytes(image, infotext))
    return str(target)


def load_result_images(result: dict[str, Any]) -> list[Path]:
    return [Path(p) for p in result.get("images", [])]


class ExtrasRunner:
    """The queue runner for "extras" jobs (upscaling, face restoration of finished images)."""

    def __init__(self, state: Any):
        self.state = state

    def __call__(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        from modules.images import OutputKind, save_image
        from modules.postprocessing.extras import postprocessing_infotext, run_extras

        data = dict(params)
        sources = [decode_image(item, "image") for item in data.pop("images", [])]
        save = data.pop("save", False)
        extras = extras_params(data)
        ctx.set_total(max(len(sources), 1), 0)
        files, infotexts = [], []
        for index, source in enumerate(sources):
            if ctx.interrupted:
                break
            image, info = run_extras(source, extras)
            text = postprocessing_infotext(info)
            existing = _kept_metadata(source)  # A1111 keeps the source's "parameters" and adds "postprocessing"
            target = self.state.paths.outputs_dir / "jobs" / ctx.job.id / f"{index:02d}.png"
            atomic_write_bytes(target, _png_with_sections(image, {**existing, "postprocessing": text}))
            files.append(str(target))
            infotexts.append(text)
            if save:
                save_image(image, self.state.paths.outputs_dir / OutputKind.EXTRAS_SAMPLES.value, infotext=text,
                           pnginfo_section_name="extras", existing_pnginfo={**existing, "postprocessing": text})
            ctx.next_job()
        return {"images": files, "infotexts": infotexts,
                "html_info": plaintext_to_html(infotexts[-1]) if infotexts else ""}


def _kept_metadata(image: Image.Image) -> dict[str, str]:
    text, items = read_infotext(image)
    kept = {k: v for k, v in items.items() if isinstance(v, str)}
    if text:
        kept["parameters"] = text
    return kept


def _png_with_sections(image: Image.Image, sections: dict[str, str]) -> bytes:
    from modules.images.metadata import png_text_chunks

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=png_text_chunks(sections))
    return buffer.getvalue()


def plaintext_to_html(text: str) -> str:
    """A1111's html_info: the text escaped, one paragraph."""
    import html

    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


def extras_params(data: dict[str, Any]):
    from modules.postprocessing.extras import ExtrasParams

    known = {f.name for f in fields(ExtrasParams)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParamsError(unknown[0], "unknown field for extras")
    try:
        return ExtrasParams(**data).validate()
    except TypeError as e:
        raise ParamsError("extras", str(e)) from None
