"""A1111's `modules.shared` for extensions: `opts`, `OptionInfo`, `cmd_opts`, `state`, `sd_model`.

A thin facade, and one explicit singleton: webui.create_app calls `bind(engine_state)` once,
before any script loads; every name here then reads the engine state (settings, flags, the
model manager, the running job). The engine itself never imports this module.

- `opts.<key>` reads a setting, `opts.<key> = v` / `opts.set(key, v)` changes and saves it;
  `opts.add_option(key, OptionInfo(...))` registers a real setting (Settings tab, config.json,
  /sdapi/v1/options); `opts.onchange(key, fn)` runs `fn()` after each change.
- `cmd_opts`: the parsed command line; A1111 flags Easel does not have read as None.
- `state`: the running job (interrupted, skipped, job_count, sampling_step…, interrupt(), skip());
  inside a job's scripts it is that job, elsewhere the one the queue runs now.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from modules.options import OptionError
from modules.options import OptionInfo as EngineOptionInfo

log = logging.getLogger(__name__)

_engine: Any = None  # the EngineState bound by webui.create_app
demo: Any = None  # the Gradio Blocks, once built (A1111's shared.demo)


def bind(engine_state: Any) -> None:
    """Point the facade at the app's engine state (webui.create_app; tests making apps rebind)."""
    global _engine
    _engine = engine_state
    vars(cmd_opts).clear()
    vars(cmd_opts).update(vars(engine_state.args))


def _bound() -> Any:
    if _engine is None:
        raise RuntimeError("modules.shared is not bound to a running Easel app yet (webui.create_app binds it)")
    return _engine


# --- settings ------------------------------------------------------------------------------------

class OptionInfo:
    """A1111's setting description, as extensions write it (chained .info()/.needs_restart()…)."""

    def __init__(self, default: Any = None, label: str = "", component: Any = None, component_args: Any = None,
                 onchange: Callable[[], Any] | None = None, section: Any = None, refresh: Any = None,
                 comment_before: str = "", comment_after: str = "", infotext: str | None = None,
                 restrict_api: bool = False, category_id: str | None = None):
        self.default, self.label = default, label
        self.component, self.component_args = component, component_args
        self.onchange, self.section, self.refresh = onchange, section, refresh
        self.comment_before, self.comment_after = comment_before, comment_after
        self.infotext, self.restrict_api, self.category_id = infotext, restrict_api, category_id
        self.do_not_save = False

    def link(self, label: str, url: str) -> "OptionInfo":
        self.comment_before += f"[<a href='{url}' target='_blank'>{label}</a>]"
        return self

    def js(self, label: str, js_func: str) -> "OptionInfo":
        self.comment_before += f"[<a onclick='{js_func}(); return false'>{label}</a>]"
        return self

    def info(self, info: str) -> "OptionInfo":
        self.comment_after += f"<span class='info'>({info})</span>"
        return self

    def html(self, html: str) -> "OptionInfo":
        self.comment_after += html
        return self

    def needs_restart(self) -> "OptionInfo":
        self.comment_after += " <span class='info'>(requires restart)</span>"
        return self

    def needs_reload_ui(self) -> "OptionInfo":
        self.comment_after += " <span class='info'>(requires Reload UI)</span>"
        return self


class OptionHTML(OptionInfo):
    """A block of text between settings in A1111; Easel's Settings tab has no such item, so
    add_option skips it (it holds no value)."""

    def __init__(self, text: str):
        super().__init__(str(text).strip(), label="")
        self.do_not_save = True


def options_section(section_identifier: tuple, options_dict: dict[str, OptionInfo]) -> dict[str, OptionInfo]:
    for info in options_dict.values():
        info.section = tuple(section_identifier[:2])
        if len(section_identifier) == 3:
            info.category_id = section_identifier[2]
    return options_dict


_COMPONENT_KINDS = {"Slider": "slider", "Checkbox": "checkbox", "Dropdown": "dropdown", "Radio": "radio",
                    "Textbox": "textbox", "Number": "number", "CheckboxGroup": "dropdown"}


def _section_name(section: Any) -> str:
    if isinstance(section, (tuple, list)) and len(section) >= 2 and section[1]:
        return str(section[1])
    if isinstance(section, str) and section:
        return section
    return "Uncategorized"


def _choice_values(choices: Any) -> list[Any]:
    return [c[1] if isinstance(c, (tuple, list)) and len(c) == 2 else c for c in (choices or [])]


def engine_option(key: str, info: OptionInfo) -> EngineOptionInfo:
    """The engine's typed setting for an A1111 OptionInfo. Choices are shown, not enforced
    (A1111 does not check them either; extensions often compute them on the fly)."""
    args = info.component_args
    static = (args() if callable(args) else dict(args or {})) or {}
    kind = _COMPONENT_KINDS.get(getattr(info.component, "__name__", ""), "auto")
    default = info.default
    if default is None:
        default = ""
    if isinstance(default, tuple):
        default = list(default)
    step = static.get("step")
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(step, float) \
            and not step.is_integer():
        default = float(default)
    choices_fn = None
    if "choices" in static:
        choices_fn = (lambda: _choice_values((args() or {}).get("choices"))) if callable(args) \
            else (lambda values=_choice_values(static["choices"]): values)
    return EngineOptionInfo(key, default, info.label or key, _section_name(info.section), kind,
                            minimum=static.get("minimum"), maximum=static.get("maximum"), step=step,
                            dynamic_choices=choices_fn)


class _OptionsData(MutableMapping):
    """`opts.data`: the current values; writing a key changes the setting."""

    def __getitem__(self, key: str) -> Any:
        values = _bound().options.as_dict()
        if key not in values:
            raise KeyError(key)
        return values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        _bound().options.set(key, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError("settings cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(_bound().options.as_dict())

    def __len__(self) -> int:
        return len(_bound().options.as_dict())


class Options:
    """A1111's `shared.opts` over the engine's settings."""

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        options = _bound().options
        if key not in options.registry.infos:
            raise AttributeError(f"no setting {key!r}")
        return options.get(key)

    def __setattr__(self, key: str, value: Any) -> None:
        _bound().options.set(key, value)  # OptionError (a ValueError) names a bad value

    @property
    def data(self) -> _OptionsData:
        return _OptionsData()

    @property
    def data_labels(self) -> dict[str, EngineOptionInfo]:
        return dict(_bound().options.registry.infos)

    def add_option(self, key: str, info: OptionInfo) -> None:
        """Register an extension's setting: shown in the Settings tab, saved in config.json."""
        if info.do_not_save:
            return
        options = _bound().options
        if key in options.registry.infos:
            raise OptionError(f"setting {key!r} is already registered; pick a name of your own")
        options.register(engine_option(key, info))
        if info.onchange is not None:
            options.add_listener(key, info.onchange)

    def set(self, key: str, value: Any, is_api: bool = False, run_callbacks: bool = True) -> bool:
        """True when the value changed (the A1111 signature; onchange runs either way)."""
        try:
            return _bound().options.set(key, value)
        except OptionError as e:
            log.warning("opts.set: %s", e)
            return False

    def onchange(self, key: str, func: Callable[[], Any], call: bool = True) -> None:
        options = _bound().options
        if key not in options.registry.infos:
            raise OptionError(f"unknown setting {key!r}")
        options.add_listener(key, func)
        if call:
            func()

    def get_default(self, key: str) -> Any:
        info = _bound().options.registry.infos.get(key)
        return None if info is None else info.default

    def save(self, filename: str | None = None) -> None:
        _bound().options.save()

    def cast_value(self, key: str, value: Any) -> Any:
        if value is None:
            return None
        default = self.get_default(key)
        if default is None:
            return None
        if isinstance(default, bool) and value in ("False", "false"):
            return False
        return type(default)(value)

    def dumpjson(self) -> str:
        return json.dumps(_bound().options.as_dict())


# --- command line ----------------------------------------------------------------------------------

class _CommandLine(argparse.Namespace):
    """`cmd_opts`: Easel's parsed flags; A1111 flags Easel lacks read as None (extensions test
    many of them, e.g. `cmd_opts.xformers`), and `disable_extension_access` is derived as A1111 does."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "disable_extension_access":
            from modules.extension_install import install_allowed

            return install_allowed(self) is not None
        return None


cmd_opts = _CommandLine()


# --- the running job ---------------------------------------------------------------------------------

def _job_context() -> Any:
    """The JobContext of the job whose scripts are running in this thread, if any."""
    from modules.a1111_processing import running_job

    job = running_job()
    return job.progress.ctx if job is not None else None


class State:
    """A1111's `shared.state` over the job queue (begin/end/nextjob are no-ops: the queue
    tracks jobs itself)."""

    def _snapshot(self) -> dict[str, Any]:
        ctx = _job_context()
        if ctx is not None:
            return ctx.progress_response()
        jobs = _bound().jobs
        return jobs.progress_snapshot() if jobs is not None else {"state": {}, "textinfo": None}

    def _state(self, name: str, default: Any) -> Any:
        return self._snapshot()["state"].get(name, default)

    @property
    def interrupted(self) -> bool:
        return bool(self._state("interrupted", False))

    @property
    def skipped(self) -> bool:
        return bool(self._state("skipped", False))

    @property
    def job(self) -> str:
        return self._state("job", "") or ""

    @property
    def job_no(self) -> int:
        return int(self._state("job_no", 0))

    @property
    def job_count(self) -> int:
        return int(self._state("job_count", 0))

    @job_count.setter
    def job_count(self, value: int) -> None:
        """Scripts announce their plan (e.g. X/Y/Z: one image per cell) so /progress adds up."""
        ctx = _job_context()
        if ctx is not None and isinstance(value, int) and value >= 1:
            ctx.set_total(value, ctx.progress().sampling_steps)

    @property
    def sampling_step(self) -> int:
        return int(self._state("sampling_step", 0))

    @property
    def sampling_steps(self) -> int:
        return int(self._state("sampling_steps", 0))

    @property
    def textinfo(self) -> str | None:
        return self._snapshot().get("textinfo")

    @textinfo.setter
    def textinfo(self, text: str | None) -> None:
        ctx = _job_context()
        if ctx is not None:
            ctx.textinfo = text

    @property
    def current_image(self) -> Any:
        ctx = _job_context()
        return ctx.preview if ctx is not None else None

    def assign_current_image(self, image: Any) -> None:
        ctx = _job_context()
        if ctx is not None:
            ctx.set_preview(image)

    def interrupt(self) -> None:
        ctx = _job_context()
        if ctx is not None:
            ctx.interrupt()
        elif _bound().jobs is not None:
            _bound().jobs.interrupt()

    def skip(self) -> None:
        ctx = _job_context()
        if ctx is not None:
            ctx.skip()
        elif _bound().jobs is not None:
            _bound().jobs.skip()

    def begin(self, job: str = "(unknown)") -> None:
        pass

    def end(self) -> None:
        pass

    def nextjob(self) -> None:
        pass


opts = Options()
state = State()


# --- the rest, read from the engine when asked (PEP 562) -------------------------------------------------

def __getattr__(name: str) -> Any:
    if name == "sd_model":  # the current checkpoint (Easel's LoadedModel), None while none is loaded
        return _bound().models.current_or_none
    if name == "prompt_styles":
        return _bound().styles
    if name == "data_path":
        return str(_bound().paths.data_dir)
    if name == "models_path":
        return str(_bound().paths.models_dir)
    if name == "script_path":
        from modules.cmd_args import REPO_ROOT

        return str(REPO_ROOT)
    raise AttributeError(f"module 'modules.shared' has no attribute {name!r}")
