"""Build and serve the app: engine state, FastAPI routes and the Gradio UI on one port.

Heavy imports happen here, after launch.py has installed requirements; each startup
phase is timed. The checkpoint loads in the background so the page answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from modules.cmd_args import open_access_warning, parse_args, parse_credentials, server_address
from modules.timer import StartupTimer

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("easel")

# main's exit status that asks launch.py to start the app again (sysexits' EX_TEMPFAIL)
RESTART_EXIT_CODE = 75
# seconds a stop or restart waits for open requests (a browser's event stream never ends by itself)
GRACEFUL_SHUTDOWN_SECONDS = 10


class ServerControl:
    """What /sdapi/v1/server-restart needs from the running server (kept in `app.state`)."""

    def __init__(self, server: uvicorn.Server, restartable: bool):
        self.server = server
        self.restartable = restartable
        self.exit_code = 0

    def stop(self, exit_code: int = 0) -> None:
        """Stop serving (open requests finish, the lifespan stops the job queue; queued jobs stay
        in SQLite) and make main return `exit_code`."""
        self.exit_code = exit_code
        self.server.should_exit = True

    def restart(self) -> None:
        from modules import script_callbacks

        script_callbacks.app_reload_callback()
        self.stop(RESTART_EXIT_CODE)


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("httpx", "httpcore", "urllib3", "diffusers", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def create_app(args: argparse.Namespace, timer: StartupTimer | None = None, load_checkpoint: bool = False):
    """The FastAPI app with API and UI, and the engine state behind them. `load_checkpoint`:
    start loading the default checkpoint in the background (main does; tests load their own)."""
    timer = timer or StartupTimer()
    with timer.phase("import torch"):
        import torch  # noqa: F401  (timed on its own: the largest import)
    with timer.phase("import fastapi"):
        from fastapi import FastAPI
        from fastapi.middleware.cors import CORSMiddleware
    with timer.phase("settings and model list"):
        from modules.engine_state import EngineState

        state = EngineState.create(args)
    from modules import script_callbacks, shared

    shared.bind(state)  # before any extension script imports modules.shared

    @asynccontextmanager
    async def lifespan(_app):
        yield
        if state.jobs is not None:  # finish the running job; queued ones wait for the next start
            state.jobs.stop()
        script_callbacks.script_unloaded_callback()

    app = FastAPI(title="Easel", docs_url="/docs", lifespan=lifespan)
    if args.cors_allow_origins:
        origins = [o.strip() for o in args.cors_allow_origins.split(",") if o.strip()]
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"],
                           allow_credentials=True)
    if load_checkpoint:  # before the queue starts, so jobs left queued by the last run wait for the model
        state.models.start_background_load(args.ckpt)
    with timer.phase("load scripts"):
        attach_scripts(state)
        script_callbacks.ui_settings_callback()  # extension settings, for the API without the UI too
    state.start_jobs()
    if args.api or args.nowebui:
        from modules.api.generation_routes import add_generation_api
        from modules.api.routes import add_api
        from modules.api.training_routes import add_training_api

        add_api(app, state)
        add_generation_api(app, state)
        add_training_api(app, state)
    if not args.nowebui:
        with timer.phase("import gradio"):
            import gradio as gr
        with timer.phase("create ui"):
            from modules.ui.app import create_ui

            script_callbacks.before_ui_callback()
            blocks = shared.demo = create_ui(state)
        auth = list(parse_credentials(args.gradio_auth).items()) or None
        app = gr.mount_gradio_app(app, blocks, path="/", auth=auth, footer_links=["api"] if args.api else [])
    app.state.engine = state
    script_callbacks.app_started_callback(None if args.nowebui else blocks, app)
    _mount_last(app)
    return app, state


def _mount_last(app) -> None:
    """Routes extensions add in on_app_started come after the UI's catch-all mount at "/":
    move the mount last, so theirs are reached (in A1111 they share Gradio's own app)."""
    from starlette.routing import Mount

    routes = app.router.routes
    routes[:] = [r for r in routes if not isinstance(r, Mount)] + [r for r in routes if isinstance(r, Mount)]


def attach_scripts(state) -> None:
    """Extensions first (install.py where new or changed), then the Script API's scripts
    (built-in scripts/, then enabled extensions'); the engine state gets its ScriptHost and
    the model manager announces each loaded model to on_model_loaded, before any job runs."""
    from modules import extensions, script_callbacks, scripts

    found = extensions.installed(state.paths, state.args)
    extensions.check_requirements(found)
    extensions.run_pending_installers(found, state.paths.data_dir)
    script_callbacks.clear_callbacks()  # scripts register theirs again as they load (A1111)
    scripts.load_scripts(extensions.script_files(state.paths, state.args))
    state.scripts = scripts.ScriptHost(state)
    announce = _ModelAnnouncer(script_callbacks.model_loaded_callback)
    state.models.add_load_listener(announce)
    if (model := state.models.current_or_none) is not None:  # loaded before the scripts were
        announce(model)


class _ModelAnnouncer:
    """Calls on_model_loaded once per model made current (a model loaded while scripts were
    still loading is announced once, not twice)."""

    def __init__(self, callback):
        import threading

        self.callback = callback
        self.last = None
        self.lock = threading.Lock()

    def __call__(self, model) -> None:
        with self.lock:
            if model is self.last:
                return
            self.last = model
        self.callback(model)


def main(argv: list[str] | None = None, restartable: bool = False) -> int:
    """Serve until stopped; the exit status. `restartable`: the caller (launch.py) starts the
    app again when this returns RESTART_EXIT_CODE, so /sdapi/v1/server-restart may ask for it."""
    args = parse_args(argv)
    setup_logging(args.loglevel)
    timer = StartupTimer()
    app, _ = create_app(args, timer, load_checkpoint=True)
    host, port = server_address(args)
    if warning := open_access_warning(args):
        log.warning(warning)

    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=args.loglevel.lower(), timeout_keep_alive=60,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    server = uvicorn.Server(config)
    control = app.state.server_control = ServerControl(server, restartable)
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"

    original_startup = server.startup

    async def startup(sockets=None):  # log once the socket accepts connections
        await original_startup(sockets)
        log.info("%s", timer.summary())
        log.info("Running on %s%s", url, "" if not args.nowebui else " (API only)")
        if args.autolaunch:
            import webbrowser

            webbrowser.open(url)

    server.startup = startup
    server.run()
    if control.exit_code == RESTART_EXIT_CODE:
        log.info("Server stopped for a restart")
    return control.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
