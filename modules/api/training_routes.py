"""A1111's textual-inversion routes: create an embedding, train one (through the job queue).

    POST /sdapi/v1/create/embedding  {name, num_vectors_per_token, overwrite_old, init_text}
    POST /sdapi/v1/train/embedding   {embedding_name, learn_rate, data_root, …}  (waits for the job)

Both answer {"info": "..."} as A1111 does. Bad input is a 422 naming the field, checked before
anything is written or queued; training runs as a "train" job, so generations wait for it.
"""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from modules.api.auth import basic_auth_dependency
from modules.api.errors import params_http_error
from modules.api.generation_routes import request_owner
from modules.cmd_args import parse_credentials
from modules.engine_state import EngineState
from modules.jobs import JobStatus
from modules.processing.params import ParamsError
from modules.sd_models.manager import NoModelLoadedError
from modules.training import TRAIN_JOB_KIND, TrainParams, create_embedding, resolve_inputs, trainable_embedding
from modules.training.params import LEGACY_SAMPLER_FIELD

SCHEDULE_FIELDS = ("learn_rate", "clip_grad_value")  # A1111 sends text; a plain number is accepted too


class CreateEmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="file name of the new embedding (letters, digits, . _ - and spaces)")
    num_vectors_per_token: int = Field(default=1, description="vectors the embedding's name stands for (1-75)")
    overwrite_old: bool = False
    init_text: str = Field(default="*", description="text whose token embeddings start the vectors; empty: zeros")


class InfoResponse(BaseModel):
    info: str


def _train_request_model() -> type[BaseModel]:
    hints = typing.get_type_hints(TrainParams)
    spec: dict[str, Any] = {f.name: (str | float if f.name in SCHEDULE_FIELDS else hints[f.name], f.default)
                            for f in fields(TrainParams)}
    spec["id_task"] = (str | None, Field(default=None, description="A1111 UI task id; ignored"))
    spec[LEGACY_SAMPLER_FIELD] = (int | None, Field(default=None, description="A1111 before 1.6: the preview "
                                                                              "sampler's index; preview_sampler_name wins"))
    return create_model("TrainEmbeddingRequest", __config__=ConfigDict(extra="forbid"), **spec)


TrainEmbeddingRequest = _train_request_model()


def create_router(state: EngineState) -> APIRouter:
    users = parse_credentials(state.args.api_auth)
    dependencies = [Depends(basic_auth_dependency(users))] if users else []
    router = APIRouter(dependencies=dependencies)

    def current_model():
        try:
            return state.models.current(timeout=600)
        except NoModelLoadedError as e:
            raise HTTPException(409, str(e)) from e

    @router.post("/sdapi/v1/create/embedding", response_model=InfoResponse)
    def create(body: CreateEmbeddingRequest) -> InfoResponse:
        try:
            path = create_embedding(body.name, body.num_vectors_per_token, body.init_text, current_model(),
                                    state.paths.embeddings_dir, overwrite=body.overwrite_old)
        except ParamsError as e:
            raise params_http_error(e) from e
        return InfoResponse(info=f"create embedding filename: {path}")

    @router.post("/sdapi/v1/train/embedding", response_model=InfoResponse)
    def train(body: TrainEmbeddingRequest, request: Request) -> InfoResponse:  # type: ignore[valid-type]
        try:
            params = TrainParams.from_dict(body.model_dump(exclude={"id_task"}, exclude_unset=True))
            resolve_inputs(params, state.paths.data_dir)
            trainable_embedding(state.extra_networks.embeddings, current_model(), params.embedding_name)
        except ParamsError as e:
            raise params_http_error(e) from e
        job = state.jobs.wait(state.jobs.submit(TRAIN_JOB_KIND, params.to_dict(), owner=request_owner(request)))
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED) or job.result is None:
            raise HTTPException(500, f"train embedding error: {job.error or job.status.value}")
        return InfoResponse(info=job.result["info"])

    return router


def add_training_api(app: FastAPI, state: EngineState) -> None:
    app.include_router(create_router(state))
