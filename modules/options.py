"""Typed settings with A1111 option keys, persisted atomically to config.json.

`OptionInfo` describes one setting (default, label, section, validation, UI hint); the
registry is the single list the Settings tab and `/sdapi/v1/options` are built from.
Extensions may register more options. `Options` holds the values of one running app.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.fileio import atomic_write_json, read_json_object

log = logging.getLogger(__name__)


class OptionError(ValueError):
    """A setting that cannot be applied; the message names the key."""


@dataclass(frozen=True)
class OptionInfo:
    key: str
    default: Any
    label: str
    section: str
    component: str = "auto"  # UI hint: textbox, checkbox, slider, number, dropdown, radio
    choices: tuple[Any, ...] | None = None  # fixed choices; dynamic ones are checked by on_change
    # choices computed when the UI shows them (extension settings: A1111's component_args lambda)
    dynamic_choices: Callable[[], Any] | None = field(default=None, compare=False)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    def validate(self, value: Any) -> Any:
        """The value in canonical form, or OptionError saying what is wrong."""
        expected = type(self.default)
        if expected is bool:
            ok = isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif expected is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise OptionError(f"setting {self.key!r} must be {_type_name(expected)}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise OptionError(f"setting {self.key!r} must be one of {list(self.choices)}, got {value!r}")
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            raise OptionError(f"setting {self.key!r} must be between {self.minimum} and {self.maximum}, got {value}")
        return value


def _type_name(t: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text",
            list: "a list of text"}.get(t, t.__name__)


S_MODELS = "Stable Diffusion"
S_SAVING = "Saving images/grids"
S_PATHS = "Paths for saving"
S_UI = "User interface"
S_SAMPLING = "Sampler parameters"
S_UPSCALING = "Upscaling"
S_FACE = "Face restoration"


def _face_restorer_choices() -> list[str]:
    from modules.processing.face_restore import face_restorer_names  # local: options import nothing heavy

    return face_restorer_names()


def _tile_options(prefix: str, label: str, tile: int) -> tuple[OptionInfo, OptionInfo]:
    """A1111's <prefix>_tile / <prefix>_tile_overlap pair for one family of model upscalers."""
    return (OptionInfo(f"{prefix}_tile", tile, f"Tile size for {label} upscalers (0 = no tiling)", S_UPSCALING,
                       "slider", minimum=0, maximum=512, step=16),
            OptionInfo(f"{prefix}_tile_overlap", 8, f"Tile overlap for {label} upscalers (pixels)", S_UPSCALING,
                       "slider", minimum=0, maximum=48, step=1))

BUILTIN_OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo("sd_model_checkpoint", "", "Stable Diffusion checkpoint", S_MODELS, "dropdown"),
    OptionInfo("sd_checkpoints_limit", 1, "Maximum number of checkpoints loaded at the same time", S_MODELS,
               "slider", minimum=1, maximum=10, step=1),
    OptionInfo("sd_vae", "Automatic", "SD VAE", S_MODELS, "dropdown"),
    OptionInfo("CLIP_stop_at_last_layers", 1, "Clip skip", S_MODELS, "slider", minimum=1, maximum=12, step=1),
    OptionInfo("emphasis", "Original", "Emphasis mode", S_MODELS, "radio",
               choices=("Original", "No norm", "Ignore", "None")),
    OptionInfo("comma_padding_backtrack", 20, "Prompt word wrap length limit", S_MODELS, "slider",
               minimum=0, maximum=74, step=1),
    OptionInfo("eta_noise_seed_delta", 0, "Eta noise seed delta (ENSD)", S_SAMPLING, "number", minimum=0),
    OptionInfo("hires_fix_refiner_pass", "second pass", "Hires fix: which pass the refiner runs on", S_SAMPLING,
               "radio", choices=("first pass", "second pass", "both passes")),
    OptionInfo("refiner_switch_by_sample_steps", False, "Switch to refiner by sampling steps instead of noise level",
               S_SAMPLING, "checkbox"),
    OptionInfo("sdxl_refiner_high_aesthetic_score", 6.0, "SDXL refiner: aesthetic score for the prompt",
               S_SAMPLING, "number", minimum=0.0, maximum=10.0),
    OptionInfo("sdxl_refiner_low_aesthetic_score", 2.5, "SDXL refiner: aesthetic score for the negative prompt",
               S_SAMPLING, "number", minimum=0.0, maximum=10.0),
    OptionInfo("show_progress_every_n_steps", 10, "Live preview every N sampling steps (0 = off)", S_UI, "slider",
               minimum=0, maximum=32, step=1),
    OptionInfo("show_progress_type", "Approx cheap", "Live preview method", S_UI, "radio",
               choices=("Approx cheap", "Full")),
    OptionInfo("send_seed", True, "Send seed when sending prompt or image to other interface", S_UI, "checkbox"),
    OptionInfo("send_size", True, "Send size when sending prompt or image to another interface", S_UI, "checkbox"),
    OptionInfo("hide_demo_model", False, "Hide the bundled shapes-demo checkpoint", S_MODELS, "checkbox"),
    OptionInfo("samples_save", True, "Always save all generated images", S_SAVING, "checkbox"),
    OptionInfo("samples_format", "png", "File format for images", S_SAVING, "radio", choices=("png", "jpg", "webp")),
    OptionInfo("samples_filename_pattern", "", "Images filename pattern", S_SAVING, "textbox"),
    OptionInfo("grid_save", True, "Always save all generated image grids", S_SAVING, "checkbox"),
    OptionInfo("grid_format", "png", "File format for grids", S_SAVING, "radio", choices=("png", "jpg", "webp")),
    OptionInfo("enable_pnginfo", True, "Save text information about generation parameters into files",
               S_SAVING, "checkbox"),
    OptionInfo("save_txt", False, "Create a text file next to every image with generation parameters",
               S_SAVING, "checkbox"),
    OptionInfo("jpeg_quality", 80, "Quality for saved jpeg and webp images", S_SAVING, "slider",
               minimum=1, maximum=100, step=1),
    OptionInfo("save_to_dirs", True, "Save images to a subdirectory", S_SAVING, "checkbox"),
    OptionInfo("directories_filename_pattern", "[date]", "Directory name pattern", S_SAVING, "textbox"),
    OptionInfo("outdir_samples", "", "Output directory for images; if empty, defaults to three directories below",
               S_PATHS, "textbox"),
    OptionInfo("outdir_txt2img_samples", "outputs/txt2img-images", "Output directory for txt2img images",
               S_PATHS, "textbox"),
    OptionInfo("outdir_img2img_samples", "outputs/img2img-images", "Output directory for img2img images",
               S_PATHS, "textbox"),
    OptionInfo("outdir_extras_samples", "outputs/extras-images", "Output directory for images from extras tab",
               S_PATHS, "textbox"),
    OptionInfo("outdir_grids", "", "Output directory for grids; if empty, defaults to two directories below",
               S_PATHS, "textbox"),
    OptionInfo("outdir_txt2img_grids", "outputs/txt2img-grids", "Output directory for txt2img grids",
               S_PATHS, "textbox"),
    OptionInfo("outdir_img2img_grids", "outputs/img2img-grids", "Output directory for img2img grids",
               S_PATHS, "textbox"),
    *_tile_options("ESRGAN", "ESRGAN (also Real-ESRGAN, HAT, other)", 192),
    *_tile_options("DAT", "DAT", 192),
    *_tile_options("SWIN", "SwinIR", 192),
    *_tile_options("SCUNET", "ScuNET", 256),
    OptionInfo("face_restoration", False, "Restore faces", S_FACE, "checkbox"),
    OptionInfo("face_restoration_model", "CodeFormer", "Face restoration model", S_FACE, "radio",
               dynamic_choices=_face_restorer_choices),
    OptionInfo("code_former_weight", 0.5, "CodeFormer weight (0 = maximum effect, 1 = minimum effect)", S_FACE,
               "slider", minimum=0.0, maximum=1.0, step=0.01),
    OptionInfo("quicksettings_list", ["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"],
               "Quicksettings list (settings shown in the top bar)", S_UI, "dropdown"),
)


@dataclass
class OptionsRegistry:
    infos: dict[str, OptionInfo] = field(default_factory=dict)

    def add(self, info: OptionInfo) -> None:
        if info.key in self.infos:
            raise OptionError(f"setting {info.key!r} is registered twice")
        info.validate(info.default)
        self.infos[info.key] = info

    @classmethod
    def builtin(cls) -> "OptionsRegistry":
        registry = cls()
        for info in BUILTIN_OPTIONS:
            registry.add(info)
        return registry


class Options:
    """The values of all settings; changes are validated, applied, then saved."""

    def __init__(self, registry: OptionsRegistry, path: Path | None, frozen: bool = False):
        self._registry = registry
        self._path = path
        self._frozen = frozen
        self._lock = threading.RLock()
        self._values: dict[str, Any] = {k: info.default for k, info in registry.infos.items()}
        self._on_change: dict[str, Callable[[Any], None]] = {}
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        # stored keys not registered (yet): an extension registers them later, or is switched
        # off; kept in config.json either way, as A1111 does
        self._unregistered: dict[str, Any] = {}
        if path is not None:
            self._load(read_json_object(path))

    def _load(self, stored: dict[str, Any]) -> None:
        for key, value in stored.items():
            info = self._registry.infos.get(key)
            if info is None:
                self._unregistered[key] = value  # A1111 and extension keys: kept, not fatal
                continue
            try:
                self._values[key] = info.validate(value)
            except OptionError as e:
                log.warning("ignoring stored value: %s", e)

    @property
    def registry(self) -> OptionsRegistry:
        return self._registry

    def register(self, info: OptionInfo) -> None:
        """Add a setting while running (extensions): its stored value, if valid, else the default."""
        with self._lock:
            self._registry.add(info)
            value = info.default
            if info.key in self._unregistered:
                try:
                    value = info.validate(self._unregistered.pop(info.key))
                except OptionError as e:
                    log.warning("ignoring stored value: %s", e)
            self._values[info.key] = value

    def add_listener(self, key: str, listener: Callable[[], None]) -> None:
        """`listener()` runs after a change of `key` is stored (A1111's onchange); its errors
        are logged, the change stays."""
        self._listeners.setdefault(key, []).append(listener)

    def get(self, key: str) -> Any:
        if key not in self._values:
            raise OptionError(f"unknown setting {key!r}")
        return self._values[key]

    def __getattr__(self, key: str) -> Any:  # `opts.samples_format`, as extensions write it
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self.get(key)
        except OptionError:
            raise AttributeError(key) from None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def on_change(self, key: str, handler: Callable[[Any], Any]) -> None:
        """`handler(new_value)` runs before a change is stored; if it raises, nothing changes.
        A non-None return value is stored instead (e.g. the canonical checkpoint title)."""
        self._on_change[key] = handler

    def validate(self, changes: dict[str, Any]) -> dict[str, Any]:
        if self._frozen:
            raise OptionError("settings are frozen (--freeze-settings)")
        unknown = [k for k in changes if k not in self._registry.infos]
        if unknown:
            raise OptionError(f"unknown setting(s): {', '.join(map(repr, unknown))}")
        return {key: self._registry.infos[key].validate(value) for key, value in changes.items()}

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply several settings: all are validated first. Returns the keys that changed."""
        with self._lock:
            checked = self.validate(changes)
            changed = []
            try:
                for key, value in checked.items():
                    if self._values[key] == value:
                        continue
                    if handler := self._on_change.get(key):
                        canonical = handler(value)
                        value = value if canonical is None else canonical
                    self._values[key] = value
                    changed.append(key)
            finally:
                if changed:
                    self.save()
        for key in changed:
            for listener in list(self._listeners.get(key, ())):
                try:
                    listener()
                except Exception:
                    log.exception("onchange of setting %r failed", key)
        return changed

    def set(self, key: str, value: Any) -> bool:
        return bool(self.update({key: value}))

    def save(self) -> None:
        if self._path is not None:
            with self._lock:
                atomic_write_json(self._path, {**self._unregistered, **self._values})

    def record(self, key: str, value: Any) -> None:
        """Store a value the engine decided (e.g. the checkpoint that actually loaded), no handler."""
        with self._lock:
            self._values[key] = self._registry.infos[key].validate(value)
            self.save()

    @staticmethod
    def section_order(infos: Iterable[OptionInfo]) -> list[str]:
        return list(dict.fromkeys(info.section for info in infos))
