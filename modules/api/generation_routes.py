"""Generation routes: A1111's synchronous txt2img/img2img (enqueue and wait), progress,
interrupt/skip, samplers, schedulers, png-info; and Easel's async /easel/v1/jobs."""

from __future__ import annotations

import base64
import json
import typing
from dataclasses import MISSING, fields
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from modules import images, sampling
from modules.api.auth import basic_auth_dependency
from modules.api.errors import failed_job_error, params_http_error
from modules.cmd_args import parse_credentials
from modules.engine_state import EngineState
from modules.generation_jobs import (SCRIPT_FIELDS, decode_image, encode_png, extras_params, load_result_images,
                                     split_script_fields)
from modules.jobs import JobNotFound, JobStatus
from modules.postprocessing.extras import ExtrasParams
from modules.processing import Img2ImgParams, ParamsError, Txt2ImgParams
from modules.processing.upscalers import upscaler_names

IMAGE_TYPES = {"init_images": (list[str], Field(default_factory=list, description="base64 images")),
               "mask": (str | None, Field(default=None, description="base64 image, white = repaint"))}

# A1111 fields for features Easel does not have. Clients such as webuiapi send them on every
# request, with the values that change nothing in A1111 either: those are accepted and
# dropped; any other value is refused, naming the field.
INERT_A1111_FIELDS: dict[str, tuple[float, ...]] = {
    "firstphase_width": (0,), "firstphase_height": (0,),  # the pre-1.0 hires fix's first pass size
    "s_churn": (0,), "s_tmin": (0,), "s_tmax": (0,),  # A1111 reads s_tmax 0 as infinity
    "s_noise": (1,), "s_min_uncond": (0,),
}


def _request_model(name: str, cls: type) -> type[BaseModel]:
    """A pydantic model with the dataclass's A1111 fields plus the API-only ones."""
    hints = typing.get_type_hints(cls)
    spec: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in IMAGE_TYPES:
            spec[f.name] = IMAGE_TYPES[f.name]
        elif f.default is not MISSING:
            spec[f.name] = (hints[f.name], f.default)
        else:
            spec[f.name] = (hints[f.name], Field(default_factory=f.default_factory))  # type: ignore[arg-type]
    spec.update(
        sampler_index=(str | None, Field(default=None, description="old name of sampler_name")),
        send_images=(bool, True), save_images=(bool, False),
        script_name=(str | None, None), script_args=(list, Field(default_factory=list)),
        alwayson_scripts=(dict, Field(default_factory=dict)),
        **{key: (float | None, Field(default=None, description=f"A1111 only: {values[0]} (no effect) or absent"))
           for key, values in INERT_A1111_FIELDS.items()},
    )
    if "init_images" in spec:
        spec["include_init_images"] = (bool, Field(default=False, description="echo init_images in parameters"))
    return create_model(name, __config__=ConfigDict(extra="forbid"), **spec)


Txt2ImgRequest = _request_model("StableDiffusionProcessingTxt2Img", Txt2ImgParams)
Img2ImgRequest = _request_model("StableDiffusionProcessingImg2Img", Img2ImgParams)
JOB_PARAM_MODELS = {"txt2img": Txt2ImgRequest, "img2img": Img2ImgRequest}


def _check_job_param_types(kind: str, params: dict[str, Any]) -> None:
    """/easel/v1/jobs params get the sync routes' type checks: a 422 naming the field, as there."""
    try:
        JOB_PARAM_MODELS[kind].model_validate(params)
    except ValidationError as e:
        raise RequestValidationError([{**error, "loc": ("body", "params", *error["loc"])}
                                      for error in e.errors(include_url=False)]) from None


class GenerationResponse(BaseModel):
    images: list[str] = Field(description="base64 PNGs with infotext")
    parameters: dict[str, Any]
    info: str = Field(description="JSON string, as A1111 returns it")


class PngInfoRequest(BaseModel):
    image: str = Field(description="base64 image")


def _extras_model(name: str, image_field: dict[str, Any]) -> type[BaseModel]:
    hints = typing.get_type_hints(ExtrasParams)
    spec: dict[str, Any] = {f.name: (hints[f.name], f.default) for f in fields(ExtrasParams)}
    spec.update(image_field, show_extras_results=(bool, True), upscale_first=(bool, False))
    return create_model(name, __config__=ConfigDict(extra="forbid"), **spec)


class ImageItem(BaseModel):
    data: str = Field(description="base64 image")
    name: str = ""


ExtrasSingleRequest = _extras_model("ExtrasSingleImageRequest", {"image": (str, Field(description="base64 image"))})
ExtrasBatchRequest = _extras_model("ExtrasBatchImagesRequest", {"imageList": (list[ImageItem], ...)})


def _extras_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The ExtrasParams part of a request (display-only A1111 fields dropped)."""
    return {k: v for k, v in data.items() if k not in ("show_extras_results", "upscale_first")}


class JobSubmit(BaseModel):
    kind: str = Field(description="txt2img or img2img")
    params: dict[str, Any] = Field(default_factory=dict)


def request_owner(request: Request) -> str:
    """Fairness key: the authenticated user, else the client address."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            return "user:" + base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except ValueError:
            pass
    return "client:" + (request.client.host if request.client else "unknown")


def _drop_inert_fields(data: dict[str, Any]) -> None:
    for key, inert in INERT_A1111_FIELDS.items():
        value = data.pop(key)
        if value is not None and value not in inert:
            raise HTTPException(422, f"{key}: Easel does not implement this A1111 setting; "
                                     f"send {inert[0]} or leave it out (got {value})")


def _job_params(kind: str, body: BaseModel) -> dict[str, Any]:
    data = body.model_dump(exclude={"include_init_images"})
    for key in SCRIPT_FIELDS:  # travel with the job only when given (checked when it is queued)
        if not data[key]:
            data.pop(key)
    _drop_inert_fields(data)
    sampler_index = data.pop("sampler_index")
    if sampler_index and "sampler_name" not in body.model_fields_set:
        data["sampler_name"] = sampler_index
    save = data.pop("save_images")
    data.pop("send_images")
    data["do_not_save_samples"] = data["do_not_save_grid"] = not save
    return data


def _echoed_parameters(body: BaseModel) -> dict[str, Any]:
    """The request as A1111 answers it: images left out unless include_init_images asks."""
    images = set() if getattr(body, "include_init_images", False) else {"init_images", "mask"}
    return body.model_dump(exclude={"include_init_images", *images})


def create_router(state: EngineState) -> APIRouter:
    users = parse_credentials(state.args.api_auth)
    dependencies = [Depends(basic_auth_dependency(users))] if users else []
    router = APIRouter(dependencies=dependencies)
    queue = state.jobs

    def submit(kind: str, params: dict[str, Any], owner: str) -> str:
        from modules.generation_jobs import check_references, params_from_json

        upscaler = params.get("hr_upscaler")
        if state.postprocessing is not None and isinstance(upscaler, str) and upscaler not in upscaler_names():
            state.postprocessing.refresh()  # a model upscaler dropped into models/ since the last look
        try:  # reject bad input now, not inside the worker
            plain, script_request = split_script_fields(params)
            check_references(params_from_json(kind, plain), state)
            if state.scripts is not None:
                state.scripts.check(kind, params)  # the whole request: scripts check their args against it
            elif any(script_request.values()):
                raise ParamsError("script_name", "scripts are not available")
        except ParamsError as e:
            raise params_http_error(e) from e
        require_checkpoint(params)
        return queue.submit(kind, params, owner=owner)

    def require_checkpoint(params: dict[str, Any]) -> None:
        """No model loaded, none loading and none named in the request: a 409 now (as the other
        model routes answer) rather than a job that fails in the worker as a 500."""
        models = state.models
        override = params.get("override_settings")
        if isinstance(override, dict) and override.get("sd_model_checkpoint"):
            return
        if models.current_or_none is None and models.wait_idle(0):
            raise HTTPException(409, models.last_error or "no checkpoint is loaded; choose one in sd_model_checkpoint")

    def run_sync(kind: str, body: BaseModel, request: Request) -> GenerationResponse:
        params = _job_params(kind, body)
        job = queue.wait(submit(kind, params, request_owner(request)))
        if job.status == JobStatus.FAILED:
            raise failed_job_error(job.error, "generation failed")
        result = job.result or {}
        encoded = [base64.b64encode(p.read_bytes()).decode() for p in load_result_images(result)]
        return GenerationResponse(images=encoded if body.send_images else [], parameters=_echoed_parameters(body),
                                  info=json.dumps(result.get("info", {})))

    @router.post("/sdapi/v1/txt2img", response_model=GenerationResponse)
    def txt2img(body: Txt2ImgRequest, request: Request) -> GenerationResponse:  # type: ignore[valid-type]
        return run_sync("txt2img", body, request)

    @router.post("/sdapi/v1/img2img", response_model=GenerationResponse)
    def img2img(body: Img2ImgRequest, request: Request) -> GenerationResponse:  # type: ignore[valid-type]
        return run_sync("img2img", body, request)

    def run_extras(params: dict[str, Any], request: Request, image_field: str) -> tuple[list[str], str]:
        if state.postprocessing is not None:
            state.postprocessing.refresh()  # model files dropped in since the last look
        try:  # reject bad input now, not inside the worker
            extras_params({k: v for k, v in params.items() if k not in ("images", "save")})
            for image in params["images"]:
                decode_image(image, image_field)
        except ParamsError as e:
            raise params_http_error(e) from e
        job = queue.wait(queue.submit("extras", params, owner=request_owner(request)))
        if job.status == JobStatus.FAILED:
            raise failed_job_error(job.error, "extras failed")
        result = job.result or {}
        return ([base64.b64encode(p.read_bytes()).decode() for p in load_result_images(result)],
                result.get("html_info", ""))

    @router.post("/sdapi/v1/extra-single-image")
    def extra_single_image(body: ExtrasSingleRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        data = body.model_dump()
        params = {"images": [data.pop("image")], "save": False, **_extras_fields(data)}
        [image], html_info = run_extras(params, request, "image")
        return {"html_info": html_info, "image": image}

    @router.post("/sdapi/v1/extra-batch-images")
    def extra_batch_images(body: ExtrasBatchRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        data = body.model_dump()
        params = {"images": [item["data"] for item in data.pop("imageList")], "save": False, **_extras_fields(data)}
        images, html_info = run_extras(params, request, "imageList")
        return {"html_info": html_info, "images": images}

    @router.get("/sdapi/v1/progress")
    def progress(skip_current_image: bool = False) -> dict[str, Any]:
        snapshot = dict(queue.progress_snapshot())
        image = snapshot.get("current_image")
        snapshot["current_image"] = None if skip_current_image or image is None else encode_png(image)
        return snapshot

    @router.post("/sdapi/v1/interrupt")
    def interrupt(request: Request) -> None:
        queue.interrupt()

    @router.post("/sdapi/v1/skip")
    def skip(request: Request) -> None:
        queue.skip()

    @router.get("/sdapi/v1/samplers")
    def samplers() -> list[dict[str, Any]]:
        return [{"name": s.name, "aliases": list(s.aliases), "options": {}}
                for s in map(sampling.get_sampler, sampling.sampler_names())]

    @router.get("/sdapi/v1/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        return [{"name": s.name, "label": s.label, "aliases": list(s.aliases) or None}
                for s in map(sampling.get_schedule, sampling.schedule_names())]

    @router.post("/sdapi/v1/png-info")
    def png_info(body: PngInfoRequest) -> dict[str, Any]:
        try:
            image = decode_image(body.image, "image")
        except ParamsError as e:
            raise params_http_error(e) from e
        text, items = images.read_infotext(image)
        return {"info": text or "", "items": items, "parameters": images.parse_infotext(text) if text else {}}

    @router.post("/easel/v1/jobs")
    def create_job(body: JobSubmit, request: Request) -> dict[str, str]:
        if body.kind not in ("txt2img", "img2img"):
            raise HTTPException(422, f"kind: must be txt2img or img2img, got {body.kind!r}")
        _check_job_param_types(body.kind, body.params)
        return {"id": submit(body.kind, body.params, request_owner(request))}

    def own_job(job_id: str, request: Request):
        try:
            job = queue.get(job_id)
        except JobNotFound:
            raise HTTPException(404, f"no job {job_id!r}") from None
        if job.owner != request_owner(request):
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    def job_view(job) -> dict[str, Any]:
        view = job.to_dict()
        count = len(load_result_images(job.result or {}))
        view["result_urls"] = [f"/easel/v1/jobs/{job.id}/images/{i}" for i in range(count)]
        return view

    @router.get("/easel/v1/jobs/{job_id}")
    def get_job(job_id: str, request: Request) -> dict[str, Any]:
        return job_view(own_job(job_id, request))

    @router.get("/easel/v1/jobs/{job_id}/images/{index}")
    def job_image(job_id: str, index: int, request: Request) -> FileResponse:
        files = load_result_images(own_job(job_id, request).result or {})
        if not 0 <= index < len(files) or not files[index].is_file():
            raise HTTPException(404, "no such image")
        return FileResponse(files[index], media_type="image/png")

    @router.delete("/easel/v1/jobs/{job_id}")
    def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
        own_job(job_id, request)
        return job_view(queue.cancel(job_id))

    @router.get("/easel/v1/jobs")
    def my_jobs(request: Request) -> list[dict[str, Any]]:
        return [job_view(job) for job in queue.list(owner=request_owner(request))]

    return router


def add_generation_api(app: FastAPI, state: EngineState) -> None:
    app.include_router(create_router(state))
