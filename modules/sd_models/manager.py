"""The model manager: which checkpoints exist, which are loaded, which one is current.

One instance per app (an explicit singleton made in webui.py). Loading is serialised by a
lock; a failed load leaves the previous model current and usable. Up to
`sd_checkpoints_limit` models stay in RAM, least recently used evicted first.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from modules.devices import DevicePolicy, release_memory
from modules.options import OptionError, Options
from modules.paths import DataPaths
from modules.sd_models import vae as vae_files
from modules.sd_models.checkpoints import CheckpointInfo, HashCache, legacy_model_hash, scan_checkpoints
from modules.sd_models.loader import LoadedModel, load_model
from modules.sd_models.safe_load import CheckpointLoadError

log = logging.getLogger(__name__)


class CheckpointNotFoundError(CheckpointLoadError):
    pass


class NoModelLoadedError(RuntimeError):
    pass


class ModelManager:
    def __init__(self, paths: DataPaths, options: Options, policy: DevicePolicy, allow_unsafe: bool = False):
        self.paths = paths
        self.options = options
        self.policy = policy
        self.allow_unsafe = allow_unsafe
        self.hashes = HashCache(paths.cache_file)
        self._lock = threading.RLock()
        self._loaded: OrderedDict[Path, LoadedModel] = OrderedDict()
        self._current: LoadedModel | None = None
        self.loading: CheckpointInfo | None = None  # the checkpoint a load in progress reads
        self._idle = threading.Event()
        self._idle.set()
        self._busy = 0  # loads in progress (the start-up load counts as one across its fallbacks)
        self.last_error: str | None = None
        self.checkpoints: list[CheckpointInfo] = []
        self.vaes: dict[str, Path] = {}
        # called with each model that becomes current (webui hands the Script API's
        # on_model_loaded dispatcher in here; the engine does not know who listens)
        self._load_listeners: list[Callable[[LoadedModel], None]] = []
        self.refresh()
        options.on_change("sd_model_checkpoint", lambda value: self.load(value).info.title)
        options.on_change("sd_vae", self._apply_vae_choice)
        options.on_change("sd_checkpoints_limit", lambda limit: self._evict(limit))
        options.on_change("hide_demo_model", lambda hide: self.refresh(hide_demo=hide))

    # listing ---------------------------------------------------------------------------------

    def refresh(self, hide_demo: bool | None = None) -> list[CheckpointInfo]:
        hide = self.options.hide_demo_model if hide_demo is None else hide_demo
        dirs = [self.paths.sd_models_dir] + ([self.paths.extra_ckpt_dir] if self.paths.extra_ckpt_dir else [])
        found = scan_checkpoints(dirs, None if hide else self.paths.demo_model_dir)
        for info in found:
            info.sha256 = self.hashes.cached(info.path)
        with self._lock:
            self.checkpoints = found
            self.vaes = vae_files.scan_vaes(self.paths.vae_dir, dirs)
        return found

    def find(self, query: str | Path, any_file: bool = False) -> CheckpointInfo:
        """A listed checkpoint by title, name, file name, path or hash (A1111's lookup rules).
        ``any_file``: a file outside the model folders too, for --ckpt only; names from
        settings and requests must never reach other files."""
        text = str(query)
        for info in self.checkpoints:
            if info.matches(text) or Path(text).resolve() == info.path:
                return info
        path = Path(text)
        if any_file and path.is_file():
            return CheckpointInfo(path.resolve(), path.name)
        names = [c.title for c in self.checkpoints]
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; available: {', '.join(names) or 'none'}"
        raise CheckpointNotFoundError(f"checkpoint {text!r} not found{hint}")

    def default_checkpoint(self, requested: str | None = None) -> CheckpointInfo | None:
        """--ckpt, else the saved setting, else the first user checkpoint, else the demo model."""
        for query, from_command_line in ((requested, True), (self.options.sd_model_checkpoint, False)):
            if query:
                try:
                    return self.find(query, any_file=from_command_line)
                except CheckpointNotFoundError as e:
                    log.warning("%s; using the default checkpoint instead", e)
        own = [c for c in self.checkpoints if not c.is_demo]
        return (own or self.checkpoints or [None])[0]

    # loading ---------------------------------------------------------------------------------

    def load(self, query: str | Path | CheckpointInfo) -> LoadedModel:
        """Make a checkpoint current, loading it unless cached. Raises CheckpointLoadError."""
        info = query if isinstance(query, CheckpointInfo) else self.find(query)
        with self._lock:
            self._begin_load()
            self.loading = info
            try:
                model = self._loaded.get(info.path)
                if model is None:
                    model = self._load_new(info)
                self._loaded.move_to_end(info.path)
                self._current = model
                self.last_error = None
                self._evict(self.options.sd_checkpoints_limit)
                self.options.record("sd_model_checkpoint", model.info.title)
                self._announce(model)
                return model
            except CheckpointLoadError as e:
                self.last_error = str(e)
                log.error("Could not load checkpoint: %s", e)
                raise
            finally:
                self.loading = None
                self._end_load()

    def add_load_listener(self, listener: Callable[[LoadedModel], None]) -> None:
        self._load_listeners.append(listener)

    def _announce(self, model: LoadedModel) -> None:
        for listener in list(self._load_listeners):
            try:
                listener(model)
            except Exception:  # a listener's failure must not fail the load
                log.exception("Model load listener %r failed", listener)

    def _begin_load(self) -> None:
        with self._lock:
            self._busy += 1
            self._idle.clear()

    def _end_load(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    def load_aside(self, query: str | Path) -> LoadedModel:
        """A second model for one job (e.g. the SDXL refiner) that does not become current
        and is not kept: a loaded one is reused, otherwise it is freed with the job."""
        info = self.find(query)
        with self._lock:
            if info.path in self._loaded:
                return self._loaded[info.path]
            info.sha256 = self.hashes.sha256(info.path)
            return load_model(info, self.policy, allow_unsafe=self.allow_unsafe)

    def _load_new(self, info: CheckpointInfo) -> LoadedModel:
        evicted = None
        if len(self._loaded) >= self.options.sd_checkpoints_limit:
            # Make room first so two models never sit in RAM at once with a limit of 1. The
            # file is checked before anything is released, and if building it still fails,
            # the model that made room is loaded again.
            self.check_loadable(info)
            evicted = self._current.info if self._current else None
            self._evict(self.options.sd_checkpoints_limit - 1, keep_current=False)
        try:
            info.sha256 = self.hashes.sha256(info.path)
            info.legacy_hash = legacy_model_hash(info.path)
            model = load_model(info, self.policy, allow_unsafe=self.allow_unsafe)
        except CheckpointLoadError:
            if evicted is not None:
                log.info("Restoring %s after the failed load", evicted.title)
                self._current = self._loaded[evicted.path] = load_model(evicted, self.policy, self.allow_unsafe)
            raise
        self._loaded[info.path] = model
        try:
            self._apply_vae_choice(self.options.sd_vae, model)
        except (OptionError, CheckpointLoadError) as e:
            log.warning("Keeping the built-in VAE: %s", e)
        return model

    def check_loadable(self, info: CheckpointInfo) -> None:
        """Cheap checks that catch missing, truncated, unsafe and unsupported files early
        (nothing to check for a model already in memory). Raises CheckpointLoadError."""
        if info.path in self._loaded:
            return
        from modules.sd_models.architecture import detect_architecture
        from modules.sd_models.loader import read_yaml_config
        from modules.sd_models.safe_load import load_state_dict, read_safetensors_header

        if not info.path.is_file():
            raise CheckpointLoadError(f"{info.path.name}: file not found ({info.path})")
        if info.path.suffix.lower() == ".safetensors":
            shapes, metadata = read_safetensors_header(info.path)
        else:  # a pickle must be fully unpickled (safely) to learn anything about it
            state, metadata = load_state_dict(info.path, allow_unsafe=self.allow_unsafe)
            shapes = {k: tuple(v.shape) for k, v in state.items()}
            del state
        detect_architecture(shapes, metadata, read_yaml_config(info.config_path), filename=info.path.name)

    def _evict(self, limit: int, keep_current: bool = True) -> None:
        with self._lock:
            while len(self._loaded) > max(limit, 0):
                path, model = next(iter(self._loaded.items()))
                if keep_current and model is self._current:
                    self._loaded.move_to_end(path)
                    if len(self._loaded) == 1:
                        break
                    continue
                del self._loaded[path]
                if model is self._current:
                    self._current = None
                log.info("Unloaded %s", model.info.title)
                del model
            release_memory()

    def unload(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._current = None
            release_memory()

    def reload(self) -> LoadedModel:
        with self._lock:
            if self._current is None:
                raise NoModelLoadedError("no checkpoint is loaded")
            info = self._current.info
            self._loaded.pop(info.path, None)
            self._current = None
            release_memory()
            return self.load(info)

    def startup_candidates(self, requested: str | None = None) -> list[CheckpointInfo]:
        """The default checkpoint first, then every other listed one (user files before the
        demo model): a refused or broken default must not leave a new user with no model."""
        first = self.default_checkpoint(requested)
        rest = sorted(self.checkpoints, key=lambda c: c.is_demo)
        return [c for c in [first, *rest] if c is not None and (c is first or c.path != first.path)]

    def start_background_load(self, requested: str | None = None) -> threading.Thread:
        """Serve pages first; requests that need the model wait in `current()` until it has
        loaded (or every candidate has failed)."""
        self._begin_load()

        def run() -> None:
            try:
                candidates = self.startup_candidates(requested)
                if not candidates:
                    self.last_error = "no checkpoint found: put a .safetensors file in " + str(self.paths.sd_models_dir)
                    log.warning(self.last_error)
                    return
                errors = []
                for info in candidates:
                    try:
                        self.load(info)
                        break
                    except CheckpointLoadError as e:  # logged by load(); try the next one
                        errors.append(str(e))
                if errors:  # the default's own failure says why it was passed over
                    fallback = f" (loaded {self._current.info.title} instead)" if self._current else ""
                    self.last_error = errors[0] + fallback
            finally:
                self._end_load()

        thread = threading.Thread(target=run, name="checkpoint-loader", daemon=True)
        thread.start()
        return thread

    @property
    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no load is in progress; False on timeout."""
        return self._idle.wait(timeout)

    def current(self, timeout: float | None = None) -> LoadedModel:
        """The current model, waiting for a load in progress."""
        if not self.wait_idle(timeout):
            raise NoModelLoadedError("the checkpoint is still loading")
        if self._current is None:
            raise NoModelLoadedError(self.last_error or "no checkpoint is loaded")
        return self._current

    @property
    def current_or_none(self) -> LoadedModel | None:
        return self._current

    @property
    def current_title(self) -> str:
        """What sd_model_checkpoint should say now: the checkpoint being loaded while a load
        runs (also the first one at start), else the current one, else ''."""
        target = self.loading or (self._current.info if self._current else None)
        return target.title if target else ""

    # VAE ---------------------------------------------------------------------------------------

    def vae_choices(self) -> list[str]:
        return [vae_files.AUTOMATIC, vae_files.BUILT_IN, *self.vaes]

    def _apply_vae_choice(self, choice: str, model: LoadedModel | None = None) -> None:
        """Swap VAE weights in place; on failure the model keeps the VAE it had."""
        model = model or self._current
        if choice not in self.vae_choices():
            raise OptionError(f"unknown VAE {choice!r}; choose one of {self.vae_choices()}")
        if model is None:
            return
        if choice == vae_files.AUTOMATIC:
            path = vae_files.automatic_vae_for(model.info.path, self.vaes)
        elif choice == vae_files.BUILT_IN:
            path = None
        else:
            path = self.vaes[choice]
        source = str(path) if path else "built-in"
        if source == model.vae_source:
            return
        with self._lock:
            state = vae_files.vae_state_for_diffusers(path or model.info.path, model.vae, self.allow_unsafe)
            vae_files.assign_vae_weights(model.vae, state)
            model.vae_source = source
            log.info("VAE for %s: %s", model.info.title, source)
