"""/sdapi/v1 routes: convert HTTP to engine calls and back; no logic of their own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException

from modules import devices
from modules.api.auth import basic_auth_dependency
from modules.api.models import MemoryResponse, SDModelItem, SDVaeItem
from modules.cmd_args import parse_credentials
from modules.engine_state import EngineState
from modules.options import OptionError
from modules.sd_models.manager import NoModelLoadedError
from modules.sd_models.safe_load import CheckpointLoadError

PREFIX = "/sdapi/v1"


def create_router(state: EngineState) -> APIRouter:
    users = parse_credentials(state.args.api_auth)
    dependencies = [Depends(basic_auth_dependency(users))] if users else []
    router = APIRouter(prefix=PREFIX, dependencies=dependencies)
    models, options = state.models, state.options

    @router.get("/sd-models", response_model=list[SDModelItem])
    def sd_models() -> list[SDModelItem]:
        return [
            SDModelItem(title=c.title, model_name=c.model_name, hash=c.shorthash, sha256=c.sha256,
                        filename=str(c.path), config=str(c.config_path) if c.config_path else None)
            for c in models.checkpoints
        ]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> None:
        models.refresh()

    @router.get("/sd-vae", response_model=list[SDVaeItem])
    def sd_vae() -> list[SDVaeItem]:
        return [SDVaeItem(model_name=name, filename=str(path)) for name, path in models.vaes.items()]

    @router.post("/refresh-vae")
    def refresh_vae() -> None:
        models.refresh()

    @router.get("/options")
    def get_options() -> dict[str, Any]:
        return options.as_dict()

    @router.post("/options")
    def set_options(changes: dict[str, Any] = Body(...)) -> None:
        try:
            options.update(changes)
        except (OptionError, CheckpointLoadError) as e:
            raise HTTPException(400, str(e)) from e

    @router.post("/reload-checkpoint")
    def reload_checkpoint() -> None:
        try:
            models.reload()
        except (NoModelLoadedError, CheckpointLoadError) as e:
            raise HTTPException(400, str(e)) from e

    @router.post("/unload-checkpoint")
    def unload_checkpoint() -> None:
        models.unload()

    @router.get("/cmd-flags")
    def cmd_flags() -> dict[str, Any]:
        secret = ("api_auth", "gradio_auth")  # A1111 echoes these; passwords stay private here
        return {k: ("<hidden>" if k in secret and v else v) for k, v in vars(state.args).items()}

    @router.get("/memory", response_model=MemoryResponse)
    def memory() -> MemoryResponse:
        return MemoryResponse(**devices.memory_stats())

    return router


def add_api(app: FastAPI, state: EngineState) -> None:
    app.include_router(create_router(state))
