"""A1111's script_callbacks: extensions register functions (`on_ui_tabs(fn)`…) that Easel
calls at the matching moment through the `*_callback` dispatchers.

Who calls what: webui.create_app → app_started (demo, app), before_ui, ui_settings (also
without the web UI, so API-only servers have extension settings); modules/ui/app.py →
ui_tabs; the model manager's load listener (set by webui) → model_loaded; the processing
facade (modules/a1111_processing.py) → cfg_denoiser, cfg_denoised, cfg_after_cfg,
before_image_saved, image_saved; server stop / restart → script_unloaded / before_reload.

Registered but never called, because Easel has no such moment (registration still works,
so extensions load; a warning names them): ui_train_tabs, extra_noise, before_component,
after_component, image_grid, infotext_pasted, list_optimizers, list_unets,
before_token_counter.

A callback that raises is logged and recorded (`failures()`, shown in the Extensions tab);
the job or page it ran for goes on. `callback_map` is one explicit singleton, as in A1111.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ImageSaveParams:
    def __init__(self, image, p, filename, pnginfo):
        self.image = image  # the PIL image
        self.p = p  # the processing object (StableDiffusionProcessing)
        self.filename = filename  # the file the image is (to be) saved to
        self.pnginfo = pnginfo  # PNG text chunks; the infotext is under "parameters"


class ExtraNoiseParams:
    def __init__(self, noise, x, xi):
        self.noise, self.x, self.xi = noise, x, xi


class CFGDenoiserParams:
    def __init__(self, x, image_cond, sigma, sampling_step, total_sampling_steps, text_cond, text_uncond,
                 denoiser=None):
        self.x = x  # the latent being denoised; assign to replace it
        self.image_cond = image_cond
        self.sigma = sigma
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.text_cond = text_cond
        self.text_uncond = text_uncond
        self.denoiser = denoiser


class CFGDenoisedParams:
    def __init__(self, x, sampling_step, total_sampling_steps, inner_model):
        self.x = x
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps
        self.inner_model = inner_model


class AfterCFGCallbackParams:
    def __init__(self, x, sampling_step, total_sampling_steps):
        self.x = x
        self.sampling_step = sampling_step
        self.total_sampling_steps = total_sampling_steps


class UiTrainTabParams:
    def __init__(self, txt2img_preview_params):
        self.txt2img_preview_params = txt2img_preview_params


class ImageGridLoopParams:
    def __init__(self, imgs, cols, rows):
        self.imgs, self.cols, self.rows = imgs, cols, rows


@dataclasses.dataclass
class BeforeTokenCounterParams:
    prompt: str
    steps: int
    styles: list
    is_positive: bool = True


@dataclasses.dataclass
class ScriptCallback:
    script: str  # the file that registered it
    callback: Callable
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class CallbackFailure:
    event: str
    script: str
    message: str


callback_map: dict[str, list[ScriptCallback]] = dict(
    callbacks_app_started=[], callbacks_model_loaded=[], callbacks_ui_tabs=[], callbacks_ui_train_tabs=[],
    callbacks_ui_settings=[], callbacks_before_image_saved=[], callbacks_image_saved=[], callbacks_extra_noise=[],
    callbacks_cfg_denoiser=[], callbacks_cfg_denoised=[], callbacks_cfg_after_cfg=[],
    callbacks_before_component=[], callbacks_after_component=[], callbacks_image_grid=[],
    callbacks_infotext_pasted=[], callbacks_script_unloaded=[], callbacks_before_ui=[], callbacks_on_reload=[],
    callbacks_list_optimizers=[], callbacks_list_unets=[], callbacks_before_token_counter=[],
)
NEVER_CALLED = ("ui_train_tabs", "extra_noise", "before_component", "after_component", "image_grid",
                "infotext_pasted", "list_optimizers", "list_unets", "before_token_counter")
MAX_FAILURES = 200  # a callback failing on every step must not grow the list forever

_failures: list[CallbackFailure] = []
_failures_lock = threading.Lock()


def failures() -> list[CallbackFailure]:
    with _failures_lock:
        return list(_failures)


def report_exception(c: ScriptCallback, job: str) -> None:
    exc = sys.exc_info()[1]
    message = f"{type(exc).__name__}: {exc}" if exc else "failed"
    log.error("Error executing callback %s for %s: %s\n%s", job, c.script, message, traceback.format_exc())
    with _failures_lock:
        if len(_failures) < MAX_FAILURES:
            _failures.append(CallbackFailure(job, c.script, message))


def _caller_file() -> str:
    """The file outside this module that called into it (the registering script)."""
    frame = sys._getframe(1)
    here = os.path.normcase(__file__)
    while frame is not None and os.path.normcase(frame.f_code.co_filename) == here:
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else "unknown file"


def add_callback(callbacks: list[ScriptCallback], fun: Callable, *, name: str | None = None,
                 category: str = "unknown") -> None:
    if not callable(fun):
        raise TypeError(f"script_callbacks.on_{category}: {fun!r} is not callable")
    filename = _caller_file()
    if category in NEVER_CALLED:
        log.warning("%s registers an on_%s callback, which Easel never calls", filename, category)
    base = f"{os.path.basename(filename)}/{category}" + (f"/{name}" if name is not None else "")
    unique = base
    for index in range(1000):
        if not any(c.name == unique for c in callbacks):
            break
        unique = f"{base}-{index + 1}"
    callbacks.append(ScriptCallback(filename, fun, unique))


def clear_callbacks() -> None:
    for callbacks in callback_map.values():
        callbacks.clear()


def remove_current_script_callbacks() -> None:
    """Drop every callback the calling file registered (A1111: scripts call it before
    registering again on reload)."""
    filename = _caller_file()
    if filename == "unknown file":
        return
    for callbacks in callback_map.values():
        callbacks[:] = [c for c in callbacks if c.script != filename]


def remove_callbacks_for_function(callback_func: Callable) -> None:
    for callbacks in callback_map.values():
        callbacks[:] = [c for c in callbacks if c.callback != callback_func]


def has_callbacks(*categories: str) -> bool:
    return any(callback_map[f"callbacks_{category}"] for category in categories)


def _each(category: str, job: str, *args: Any, reverse: bool = False, **kwargs: Any) -> list[Any]:
    results = []
    callbacks = list(callback_map[f"callbacks_{category}"])  # a callback may register or remove others
    for c in reversed(callbacks) if reverse else callbacks:
        try:
            results.append(c.callback(*args, **kwargs))
        except Exception:
            report_exception(c, job)
    return results


# --- dispatchers (A1111's names) -----------------------------------------------------------------

def app_started_callback(demo: Any, app: Any) -> None:
    _each("app_started", "app_started_callback", demo, app)


def app_reload_callback() -> None:
    _each("on_reload", "callbacks_on_reload")


def model_loaded_callback(sd_model: Any) -> None:
    _each("model_loaded", "model_loaded_callback", sd_model)


def ui_tabs_callback() -> list:
    tabs: list = []
    for c in list(callback_map["callbacks_ui_tabs"]):
        try:
            tabs += list(c.callback() or [])
        except Exception:
            report_exception(c, "ui_tabs_callback")
    return tabs


def ui_train_tabs_callback(params: UiTrainTabParams) -> None:
    _each("ui_train_tabs", "callbacks_ui_train_tabs", params)


def ui_settings_callback() -> None:
    _each("ui_settings", "ui_settings_callback")


def before_image_saved_callback(params: ImageSaveParams) -> None:
    _each("before_image_saved", "before_image_saved_callback", params)


def image_saved_callback(params: ImageSaveParams) -> None:
    _each("image_saved", "image_saved_callback", params)


def extra_noise_callback(params: ExtraNoiseParams) -> None:
    _each("extra_noise", "callbacks_extra_noise", params)


def cfg_denoiser_callback(params: CFGDenoiserParams) -> None:
    _each("cfg_denoiser", "cfg_denoiser_callback", params)


def cfg_denoised_callback(params: CFGDenoisedParams) -> None:
    _each("cfg_denoised", "cfg_denoised_callback", params)


def cfg_after_cfg_callback(params: AfterCFGCallbackParams) -> None:
    _each("cfg_after_cfg", "cfg_after_cfg_callback", params)


def before_component_callback(component: Any, **kwargs: Any) -> None:
    _each("before_component", "before_component_callback", component, **kwargs)


def after_component_callback(component: Any, **kwargs: Any) -> None:
    _each("after_component", "after_component_callback", component, **kwargs)


def image_grid_callback(params: ImageGridLoopParams) -> None:
    _each("image_grid", "image_grid", params)


def infotext_pasted_callback(infotext: str, params: dict[str, Any]) -> None:
    _each("infotext_pasted", "infotext_pasted", infotext, params)


def script_unloaded_callback() -> None:
    _each("script_unloaded", "script_unloaded", reverse=True)


def before_ui_callback() -> None:
    _each("before_ui", "before_ui", reverse=True)


def list_optimizers_callback() -> list:
    found: list = []
    _each("list_optimizers", "list_optimizers", found)
    return found


def list_unets_callback() -> list:
    found: list = []
    _each("list_unets", "list_unets", found)
    return found


def before_token_counter_callback(params: BeforeTokenCounterParams) -> None:
    _each("before_token_counter", "before_token_counter", params)


# --- registration (A1111's names) -------------------------------------------------------------------

def _register(category: str) -> Callable[..., None]:
    def register(callback: Callable, *, name: str | None = None) -> None:
        add_callback(callback_map[f"callbacks_{category}"], callback, name=name, category=category)

    register.__name__ = f"on_{category}"
    return register


on_app_started = _register("app_started")  # callback(demo: gr.Blocks | None, app: FastAPI)
on_before_reload = _register("on_reload")  # callback(): before /sdapi/v1/server-restart restarts
on_model_loaded = _register("model_loaded")  # callback(sd_model): each checkpoint made current
on_ui_tabs = _register("ui_tabs")  # callback() -> [(gr.Blocks, title, elem_id)]
on_ui_train_tabs = _register("ui_train_tabs")
on_ui_settings = _register("ui_settings")  # callback(): shared.opts.add_option(key, shared.OptionInfo(...))
on_before_image_saved = _register("before_image_saved")  # callback(ImageSaveParams), may change it
on_image_saved = _register("image_saved")  # callback(ImageSaveParams) after the file is written
on_extra_noise = _register("extra_noise")
on_cfg_denoiser = _register("cfg_denoiser")  # callback(CFGDenoiserParams) before each model call
on_cfg_denoised = _register("cfg_denoised")  # callback(CFGDenoisedParams) after each model call
on_cfg_after_cfg = _register("cfg_after_cfg")  # callback(AfterCFGCallbackParams) after CFG
on_before_component = _register("before_component")
on_after_component = _register("after_component")
on_image_grid = _register("image_grid")
on_infotext_pasted = _register("infotext_pasted")
on_script_unloaded = _register("script_unloaded")  # callback(): the server is stopping
on_before_ui = _register("before_ui")  # callback(): before the web UI is built
on_list_optimizers = _register("list_optimizers")
on_list_unets = _register("list_unets")
on_before_token_counter = _register("before_token_counter")
