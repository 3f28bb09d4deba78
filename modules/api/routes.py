"""/sdapi/v1 routes: convert HTTP to engine calls and back; no logic of their own."""

from __future__ import annotations

import os
import signal
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request

from modules import devices
from modules.api.auth import basic_auth_dependency
from modules.api.interrogate_routes import add_interrogate_route
from modules.api.models import (FaceRestorerItem, MemoryResponse, RealesrganItem, ScriptInfo, ScriptsList,
                                SDModelItem, SDVaeItem)
from modules.cmd_args import parse_credentials
from modules.engine_state import EngineState
from modules.options import OptionError
from modules.processing.upscalers import LATENT_UPSCALE_MODES, is_latent_mode, upscaler_names
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
        values = options.as_dict()
        # at start the setting may be empty (first run) while the default model loads: name it
        values["sd_model_checkpoint"] = models.current_title or values["sd_model_checkpoint"]
        return values

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

    def current_model():
        try:
            return models.current(timeout=600)
        except NoModelLoadedError as e:
            raise HTTPException(409, str(e)) from e

    @router.get("/embeddings")
    def embeddings() -> dict[str, Any]:
        return state.extra_networks.embeddings.load(current_model()).api_dict()

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> None:
        state.extra_networks.embeddings.load(current_model())

    @router.get("/loras")
    def loras() -> list[dict[str, Any]]:
        library = state.extra_networks.loras
        library.refresh()
        described = (library.describe(name) for name in library.names())
        return [description.api_dict() for description in described if description is not None]

    @router.post("/refresh-loras")
    def refresh_loras() -> None:
        state.extra_networks.loras.refresh()

    @router.get("/prompt-styles")
    def prompt_styles() -> list[dict[str, str]]:
        state.styles.reload()
        return [{"name": name, "prompt": state.styles.get(name).prompt,
                 "negative_prompt": state.styles.get(name).negative_prompt} for name in state.styles.names()]

    def model_upscalers() -> dict[str, Any]:
        """name -> entry of the model files in models/ESRGAN, RealESRGAN... (re-scanned now)."""
        return {e.name: e for e in state.postprocessing.upscaler_entries()} if state.postprocessing else {}

    @router.get("/upscalers")
    def upscalers() -> list[dict[str, Any]]:
        found = model_upscalers()
        return [found[name].api_dict() if name in found else
                {"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": None}
                for name in upscaler_names() if not is_latent_mode(name)]

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes() -> list[dict[str, str]]:
        return [{"name": name} for name in LATENT_UPSCALE_MODES]

    @router.get("/hypernetworks")
    def hypernetworks() -> list:
        return []  # A1111's hypernetworks are not supported; the route exists for clients that ask

    # what is installed in models/: restore_faces and the extras' visibilities need these
    @router.get("/face-restorers", response_model=list[FaceRestorerItem])
    def face_restorers() -> list[FaceRestorerItem]:
        restorers = state.postprocessing.restorer_list() if state.postprocessing else []
        return [FaceRestorerItem(name=r.name, cmd_dir=r.cmd_dir) for r in restorers]

    @router.get("/realesrgan-models", response_model=list[RealesrganItem])
    def realesrgan_models() -> list[RealesrganItem]:
        return [RealesrganItem(name=e.name, path=str(e.path), scale=e.scale)
                for e in model_upscalers().values() if e.folder == "RealESRGAN"]

    @router.get("/scripts", response_model=ScriptsList)
    def scripts() -> ScriptsList:
        if state.scripts is None:
            return ScriptsList(txt2img=[], img2img=[])
        return ScriptsList(**state.scripts.script_list())

    @router.get("/script-info", response_model=list[ScriptInfo])
    def script_info() -> list[ScriptInfo]:
        return [] if state.scripts is None else [ScriptInfo(**info) for info in state.scripts.script_info()]

    @router.get("/extensions")
    def extensions() -> list[dict[str, Any]]:
        folder = state.paths.extensions_dir
        return [{"name": d.name, "remote": None, "branch": None, "commit_hash": None, "version": None,
                 "commit_date": None, "enabled": True}
                for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")] if folder.is_dir() else []

    add_interrogate_route(router)

    if state.args.api_server_stop:
        @router.post("/server-kill")
        def server_kill() -> None:
            os.kill(os.getpid(), signal.SIGTERM)

        def server_control(request: Request, route: str, restart: bool = False):
            # webui.main keeps its ServerControl here (none under a test client); only launch.py restarts
            control = getattr(request.app.state, "server_control", None)
            if control is None or (restart and not control.restartable):
                raise HTTPException(501, f"{route}: only a server started by launch.py can restart" if restart
                                    else f"{route}: only a server started by launch.py or webui.py can stop")
            return control

        @router.post("/server-stop")
        def server_stop(request: Request) -> None:
            server_control(request, "server-stop").stop()  # a clean exit: status 0

        @router.post("/server-restart")
        def server_restart(request: Request) -> None:
            server_control(request, "server-restart", restart=True).restart()

    @router.get("/memory", response_model=MemoryResponse)
    def memory() -> MemoryResponse:
        return MemoryResponse(**devices.memory_stats())

    return router


def add_api(app: FastAPI, state: EngineState) -> None:
    app.include_router(create_router(state))
