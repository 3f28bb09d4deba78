"""A1111's Script API: the `Script` class extensions subclass, the loader, and the runners.

Built-in scripts (the repo's scripts/) and extension scripts load the same way:
`load_scripts([(basedir, file), ...])` imports each file and keeps its `Script` subclasses;
a file that fails is recorded (`load_failures()`), logged and skipped. `ScriptHost` (made by
webui.create_app, handed to the engine state) runs them in generation jobs through the
processing facade (modules/a1111_processing.py): the selected script's `run(p, *args)`, and
every AlwaysVisible script's hooks around each `process_images(p)`.

Script arguments follow A1111's layout: one flat list per tab, index 0 the selected script
(0 = None, i = the i-th selectable script), then each script's slice `args_from:args_to`
(AlwaysVisible scripts first, then selectable ones), filled from the components its `ui()`
returns. `ui()` runs once per tab: inside the UI's Blocks, or in a private one for the API.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from modules.cmd_args import REPO_ROOT
from modules.processing.params import ParamsError, UnknownNameError

log = logging.getLogger(__name__)

AlwaysVisible = object()  # show() returns this for scripts that run on every generation
TABS = ("txt2img", "img2img")


class PostprocessImageArgs:
    """postprocess_image's argument: assign `image` to replace the image."""

    def __init__(self, image: Any):
        self.image = image


class PostprocessBatchListArgs:
    """postprocess_batch_list's argument: the batch's images (PIL), which a script may replace."""

    def __init__(self, images: list):
        self.images = images


class Script:
    """Base class of A1111 scripts. Override `title`, `show`, `ui` and either `run` (a script
    picked in the Script dropdown) or the `process*`/`postprocess*` hooks (AlwaysVisible)."""

    name: str | None = None  # the title, lower-cased (API script_name)
    filename: str | None = None
    args_from: int | None = None
    args_to: int | None = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    tabname: str | None = None
    group: Any = None
    controls: list | None = None
    infotext_fields: list | None = None
    paste_field_names: list | None = None
    api_info: Any = None
    engine_state: Any = None  # Easel: the EngineState, set by ScriptHost (models, styles for ui() choices)

    def title(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define title()")

    def ui(self, is_img2img: bool) -> list | None:
        """Gradio components whose values become this script's arguments."""

    def show(self, is_img2img: bool) -> bool | object:
        """True: selectable; False: hidden on this tab; AlwaysVisible: runs on every generation."""
        return True

    def run(self, p: Any, *args: Any) -> Any:
        """A selected script's job: usually calls process_images(p), returns a Processed."""

    def setup(self, p: Any, *args: Any) -> None:
        """Before anything else of a process_images call."""

    def before_process(self, p: Any, *args: Any) -> None:
        """Before prompts and seeds are set up."""

    def process(self, p: Any, *args: Any) -> None:
        """After p.all_prompts/all_seeds are set, before any batch."""

    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """kwargs: batch_number, prompts, seeds, subseeds (lists a script may change in place)."""

    def process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """As before_process_batch, just before the batch is sampled."""

    def postprocess_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """kwargs: images (the batch's PIL images), batch_number."""

    def postprocess_batch_list(self, p: Any, pp: PostprocessBatchListArgs, *args: Any, **kwargs: Any) -> None:
        """pp.images may be replaced; kwargs: batch_number."""

    def postprocess_image(self, p: Any, pp: PostprocessImageArgs, *args: Any) -> None:
        """Each image: assign pp.image to replace it."""

    def postprocess(self, p: Any, processed: Any, *args: Any) -> None:
        """After the images are made: `processed` is the Processed process_images returns."""

    def before_component(self, component: Any, **kwargs: Any) -> None:
        pass

    def after_component(self, component: Any, **kwargs: Any) -> None:
        pass

    def describe(self) -> str:
        return ""

    def check_args(self, request: dict[str, Any], *args: Any) -> None:
        """Easel's addition: called when a job selecting this script is queued, with the
        request (A1111 API fields; the UI sends only the script fields) and this script's
        arguments; raise ParamsError for a bad value so the API answers 422 naming it (A1111
        would fail the job later)."""

    def elem_id(self, item_id: str) -> str:
        """A1111's element id for a component of this script: <tab>_script_<title>_<item>."""
        title = "".join(c if c.isalnum() else "_" for c in self.title().lower())
        return f"{'img2img' if self.is_img2img else 'txt2img'}_script_{title}_{item_id}"


# --- loading --------------------------------------------------------------------------------

_loading_basedir: ContextVar[Path | None] = ContextVar("loading_basedir", default=None)


def basedir() -> str:
    """The folder of the extension whose script is being loaded (the repo root for built-in
    scripts and outside loading), as A1111's scripts.basedir()."""
    return str(_loading_basedir.get() or REPO_ROOT)


@dataclass(frozen=True)
class ScriptClassData:
    script_class: type[Script]
    path: Path
    basedir: Path
    module: ModuleType


@dataclass
class ScriptRegistry:
    """The Script classes of every loaded file, in load order, and the files that failed."""

    classes: list[ScriptClassData] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)

    def load(self, files: list[tuple[Path, Path]]) -> None:
        for base, path in files:
            self._load_file(Path(base), Path(path))

    def _load_file(self, base: Path, path: Path) -> None:
        token = _loading_basedir.set(base)
        try:
            module = _import_file(path)
        except BaseException as e:  # a broken script must never stop the app (SystemExit included)
            if isinstance(e, KeyboardInterrupt):
                raise
            self.fail(path, f"{type(e).__name__}: {e}", traceback.format_exc())
            return
        finally:
            _loading_basedir.reset(token)
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, Script) and value is not Script \
                    and value.__module__ == module.__name__:
                self.classes.append(ScriptClassData(value, path, base, module))

    def fail(self, path: Path, message: str, details: str = "") -> None:
        log.error("Script %s failed: %s\n%s", path, message, details)
        self.failures.append((path, message))


def _import_file(path: Path) -> ModuleType:
    """Import one script file as its own module (registered, so dataclasses and pickling work)."""
    name = f"easel_script_{abs(hash(str(path.resolve()))):x}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# The one registry the app loads into (an explicit singleton: A1111 extensions and webui
# share it through load_scripts / load_failures; tests make their own ScriptRegistry).
_registry = ScriptRegistry()


def load_scripts(files: list[tuple[Path, Path]]) -> None:
    """Import every (basedir, file) in order, replacing what an earlier call loaded."""
    global _registry
    registry = ScriptRegistry()
    registry.load(files)
    _registry = registry


def load_failures() -> list[tuple[Path, str]]:
    """(file, "ErrorType: message") for each script file or class that failed to load."""
    return list(_registry.failures)


def loaded_registry() -> ScriptRegistry:
    return _registry


def builtin_script_files() -> list[tuple[Path, Path]]:
    """The repo's scripts/*.py with the repo root as basedir (A1111's order: by name)."""
    return [(REPO_ROOT, path) for path in sorted((REPO_ROOT / "scripts").glob("*.py"))]


# --- arguments in job JSON ------------------------------------------------------------------

IMAGE_ARG = "__image_png_base64__"


def encode_arg(value: Any) -> Any:
    """A component value as JSON for the job queue: images (from the UI) become tagged PNGs."""
    from PIL import Image

    if isinstance(value, Image.Image):
        import base64
        import io

        buffer = io.BytesIO()
        value.save(buffer, "PNG")
        return {IMAGE_ARG: base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, dict):
        return {k: encode_arg(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_arg(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return value


def decode_arg(value: Any) -> Any:
    """The inverse of encode_arg, in the worker."""
    if isinstance(value, dict):
        if set(value) == {IMAGE_ARG}:
            import base64
            import io

            from PIL import Image

            image = Image.open(io.BytesIO(base64.b64decode(value[IMAGE_ARG])))
            image.load()
            return image
        return {k: decode_arg(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_arg(v) for v in value]
    return value


# --- one tab's scripts ----------------------------------------------------------------------

class ScriptError(RuntimeError):
    """A script raised: the job fails with this message, which names the script."""


@dataclass(frozen=True)
class ScriptArg:
    """One ui() component as /sdapi/v1/script-info lists it."""

    label: str | None
    value: Any
    minimum: Any = None
    maximum: Any = None
    step: Any = None
    choices: list | None = None
    component: str = ""

    def as_api(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "minimum": self.minimum, "maximum": self.maximum,
                "step": self.step, "choices": self.choices}

    def check(self, value: Any, field_name: str) -> None:
        """Refuse a value of the wrong type for number and checkbox components (bad args → 422)."""
        if self.component in ("Slider", "Number") and value is not None and \
                (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ParamsError(field_name, f"{self.label or 'argument'} must be a number, got {value!r}")
        if self.component == "Checkbox" and not isinstance(value, bool):
            raise ParamsError(field_name, f"{self.label or 'argument'} must be true or false, got {value!r}")


def _arg_from_component(component: Any) -> ScriptArg:
    choices = getattr(component, "choices", None)
    if choices is not None:  # Gradio keeps (label, value) pairs; the API lists the values
        choices = [c[1] if isinstance(c, (tuple, list)) and len(c) == 2 else c for c in choices]
    value = getattr(component, "value", None)
    return ScriptArg(getattr(component, "label", None), value if _json_plain(value) else None,
                     getattr(component, "minimum", None), getattr(component, "maximum", None),
                     getattr(component, "step", None), choices, type(component).__name__)


def _json_plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


class ScriptRunner:
    """One tab's scripts (A1111's scripts_txt2img / scripts_img2img)."""

    def __init__(self, is_img2img: bool, classes: list[ScriptClassData], registry: ScriptRegistry | None = None):
        self.is_img2img = is_img2img
        self.scripts: list[Script] = []
        self.selectable_scripts: list[Script] = []
        self.alwayson_scripts: list[Script] = []
        self.inputs: list[Any] = [None]  # index 0: the Script dropdown
        self.args: list[ScriptArg] = [ScriptArg("Script", "None", component="Dropdown")]
        self.ui_created = False
        self._registry = registry
        for data in classes:
            self._add(data)

    def _add(self, data: ScriptClassData) -> None:
        try:
            script = data.script_class()
            script.filename = str(data.path)
            script.is_img2img, script.is_txt2img = self.is_img2img, not self.is_img2img
            script.tabname = "img2img" if self.is_img2img else "txt2img"
            visibility = script.show(self.is_img2img)
            script.name = script.title().lower() if visibility else None
        except Exception as e:
            self._fail(Path(data.path), f"{data.script_class.__name__}: {type(e).__name__}: {e}")
            return
        if visibility is AlwaysVisible:
            script.alwayson = True
            self.alwayson_scripts.append(script)
        elif visibility:
            self.selectable_scripts.append(script)
        else:
            return
        self.scripts.append(script)

    def _fail(self, path: Path, message: str) -> None:
        if self._registry is not None:
            self._registry.fail(path, message, traceback.format_exc())
        else:
            log.error("Script %s failed: %s", path, message)

    @property
    def tabname(self) -> str:
        return "img2img" if self.is_img2img else "txt2img"

    def titles(self) -> list[str]:
        return [script.title() for script in self.selectable_scripts]

    # --- ui ---

    def create_ui(self, wrap_selectable: Callable[[Script], AbstractContextManager] | None = None) -> None:
        """Run every script's ui() once (inside the caller's Blocks), recording its components and
        argument slice. `wrap_selectable` gives the container a selectable script's UI goes in."""
        if self.ui_created:
            raise RuntimeError(f"the {self.tabname} scripts' UI is already created")
        for script in list(self.alwayson_scripts) + list(self.selectable_scripts):
            context = nullcontext() if script.alwayson or wrap_selectable is None else wrap_selectable(script)
            try:
                with context as group:
                    controls = script.ui(self.is_img2img)
            except Exception as e:
                self._fail(Path(script.filename or "?"), f"{script.title()}: ui() raised {type(e).__name__}: {e}")
                self._drop(script)
                continue
            script.group = group
            controls = [] if controls is None else list(controls.values()) if isinstance(controls, dict) \
                else [controls] if not isinstance(controls, (list, tuple)) else list(controls)
            script.controls = controls
            script.args_from = len(self.inputs)
            self.inputs.extend(controls)
            self.args.extend(_arg_from_component(c) for c in controls)
            script.args_to = len(self.inputs)
        self.args[0] = ScriptArg("Script", "None", choices=["None", *self.titles()], component="Dropdown")
        self.ui_created = True

    def _drop(self, script: Script) -> None:
        for scripts in (self.scripts, self.selectable_scripts, self.alwayson_scripts):
            if script in scripts:
                scripts.remove(script)

    def ensure_ui(self) -> None:
        """Without the web UI (--nowebui), run ui() in a private Blocks: the API needs the args."""
        if self.ui_created:
            return
        if not self.scripts:  # nothing to build: no need to import Gradio
            self.create_ui()
            return
        import gradio as gr

        with gr.Blocks():
            self.create_ui()

    # --- arguments ---

    def find(self, title: str, scripts: list[Script]) -> Script | None:
        wanted = title.lower()
        return next((s for s in scripts if s.title().lower() == wanted), None)

    def default_args(self) -> list[Any]:
        self.ensure_ui()
        return [0] + [arg.value for arg in self.args[1:]]

    def resolve_args(self, script_name: str | None, script_args: Any, alwayson_scripts: Any) -> list[Any]:
        """The full argument list for a request in A1111's API form; ParamsError naming the field."""
        args = self.default_args()
        if script_name:
            script = self.find(str(script_name), self.selectable_scripts)
            if script is None:
                raise UnknownNameError("script_name", f"script {script_name!r} not found; {self.tabname} scripts: "
                                                      f"{self.titles()}")
            args[0] = self.selectable_scripts.index(script) + 1
            self._place(args, script, script_args, "script_args")
        elif script_args:
            raise ParamsError("script_args", "given without script_name")
        if not isinstance(alwayson_scripts, dict):
            raise ParamsError("alwayson_scripts", "must be an object: {\"<script title>\": {\"args\": [...]}}")
        for title, entry in alwayson_scripts.items():
            script = self.find(str(title), self.alwayson_scripts)
            if script is None:
                if self.find(str(title), self.selectable_scripts) is not None:
                    raise ParamsError("alwayson_scripts", f"{title!r} is a selectable script; use script_name")
                raise UnknownNameError("alwayson_scripts", f"script {title!r} not found; AlwaysVisible "
                                                           f"{self.tabname} scripts: "
                                                           f"{[s.title() for s in self.alwayson_scripts]}")
            if not isinstance(entry, dict):
                raise ParamsError("alwayson_scripts", f"{title!r}: must be an object with \"args\"")
            self._place(args, script, entry.get("args", []), f"alwayson_scripts.{title}.args")
        return args

    def _place(self, args: list[Any], script: Script, values: Any, field_name: str) -> None:
        if not isinstance(values, (list, tuple)):
            raise ParamsError(field_name, f"must be a list of arguments, got {type(values).__name__}")
        size = script.args_to - script.args_from
        if len(values) > size:
            raise ParamsError(field_name, f"script {script.title()!r} takes {size} arguments, got {len(values)}")
        for offset, value in enumerate(values):
            self.args[script.args_from + offset].check(value, f"{field_name}[{offset}]")
            args[script.args_from + offset] = value

    def selected(self, args: list[Any]) -> Script | None:
        index = args[0] if args else 0
        if not isinstance(index, int) or not 0 <= index <= len(self.selectable_scripts):
            raise ParamsError("script_args", f"script index {index!r} out of range")
        return self.selectable_scripts[index - 1] if index else None

    # --- running ---

    def run(self, p: Any, *args: Any) -> Any:
        """The selected script's run(p, *its args); None when no script is selected."""
        script = self.selected(list(args))
        if script is None:
            return None
        with _reported(script, "run"):
            return script.run(p, *args[script.args_from:script.args_to])

    def _each_alwayson(self, p: Any, method: str, *leading: Any, **kwargs: Any) -> None:
        script_args = list(getattr(p, "script_args", None) or [])
        for script in self.alwayson_scripts:
            args = script_args[script.args_from:script.args_to]
            with _reported(script, method):
                getattr(script, method)(p, *leading, *args, **kwargs)

    def setup_scripts(self, p: Any) -> None:
        self._each_alwayson(p, "setup")

    def before_process(self, p: Any) -> None:
        self._each_alwayson(p, "before_process")

    def process(self, p: Any) -> None:
        self._each_alwayson(p, "process")

    def before_process_batch(self, p: Any, **kwargs: Any) -> None:
        self._each_alwayson(p, "before_process_batch", **kwargs)

    def process_batch(self, p: Any, **kwargs: Any) -> None:
        self._each_alwayson(p, "process_batch", **kwargs)

    def postprocess_batch(self, p: Any, images: list, **kwargs: Any) -> None:
        self._each_alwayson(p, "postprocess_batch", images=images, **kwargs)

    def postprocess_batch_list(self, p: Any, pp: PostprocessBatchListArgs, **kwargs: Any) -> None:
        self._each_alwayson(p, "postprocess_batch_list", pp, **kwargs)

    def postprocess_image(self, p: Any, pp: PostprocessImageArgs) -> None:
        self._each_alwayson(p, "postprocess_image", pp)

    def postprocess(self, p: Any, processed: Any) -> None:
        self._each_alwayson(p, "postprocess", processed)


@contextmanager
def _reported(script: Script, method: str) -> Iterator[None]:
    try:
        yield
    except ScriptError:
        raise
    except Exception as e:
        log.exception("Script %r (%s) failed in %s()", script.title(), script.filename, method)
        raise ScriptError(f"script {script.title()!r} ({Path(script.filename or '?').name}) failed in {method}(): "
                          f"{type(e).__name__}: {e}") from e


# --- the engine state's handle on scripts -----------------------------------------------------

class ScriptHost:
    """What the job layer and the API reach scripts through (EngineState.scripts): one runner
    per tab, request checks at queue time, and running a job through the processing facade."""

    def __init__(self, state: Any, registry: ScriptRegistry | None = None):
        self.state = state
        self.registry = registry or _registry
        self.runners = {"txt2img": ScriptRunner(False, self.registry.classes, self.registry),
                        "img2img": ScriptRunner(True, self.registry.classes, self.registry)}
        for runner in self.runners.values():  # Easel's addition: what built-in scripts list (checkpoints…)
            for script in runner.scripts:
                script.engine_state = state

    def runner(self, kind: str) -> ScriptRunner:
        return self.runners[kind]

    def check(self, kind: str, request: dict[str, Any]) -> None:
        """Unknown script → UnknownNameError, bad args → ParamsError, before the job is queued.
        A selected script may define Easel's `check_args(request, *args)` to refuse bad values
        (ParamsError naming the argument) now rather than fail in the worker."""
        runner = self.runner(kind)
        args = self.resolve(kind, request)
        script = runner.selected(args)
        check_args = getattr(script, "check_args", None)
        if callable(check_args):
            check_args(request, *[decode_arg(value) for value in args[script.args_from:script.args_to]])

    def resolve(self, kind: str, request: dict[str, Any]) -> list[Any]:
        return self.runner(kind).resolve_args(request.get("script_name"), request.get("script_args") or [],
                                              request.get("alwayson_scripts") or {})

    def run_job(self, kind: str, params: Any, request: dict[str, Any], engine: Callable, progress: Any) -> Any:
        from modules.a1111_processing import run_script_job

        args = [decode_arg(value) for value in self.resolve(kind, request)]
        return run_script_job(self, kind, params, args, engine, progress)

    def script_list(self) -> dict[str, list[str]]:
        """/sdapi/v1/scripts: selectable titles per tab, lower-cased as A1111 lists them."""
        return {f"{kind}": [t.lower() for t in self.runners[kind].titles()] for kind in TABS}

    def script_info(self) -> list[dict[str, Any]]:
        """/sdapi/v1/script-info: every script of both tabs with its ui() arguments."""
        info = []
        for kind in TABS:
            runner = self.runners[kind]
            runner.ensure_ui()
            for script in runner.scripts:
                info.append({"name": script.name, "is_alwayson": script.alwayson, "is_img2img": runner.is_img2img,
                             "args": [a.as_api() for a in runner.args[script.args_from:script.args_to]]})
        return info
