"""A1111-style extensions: discovery, enabled state, install.py / preload.py, script files.

An extension is a folder in the repo's `extensions-builtin/` or the data dir's `extensions/`
with any of: `scripts/*.py` (Script API files), `javascript/*.js`, `style.css`,
`install.py` (run once in the venv, again only when it changes), `preload.py`
(`preload(parser)` adds command-line flags) and `metadata.ini` ([Extension] Name, Requires).

Which extensions are off is stored in `<data dir>/extensions-state.json` under A1111's
`disabled_extensions` key. Nothing an extension does wrong stops the app: every failure is
recorded in `problems` (an explicit singleton, shown in the Extensions tab) and logged.

Standard library only: `cmd_args.parse_args` runs preload.py before anything is installed.
"""

from __future__ import annotations

import configparser
import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.fileio import atomic_write_json, read_json_object

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_DIR = REPO_ROOT / "extensions-builtin"
STATE_FILE_NAME = "extensions-state.json"
DISABLED_KEY = "disabled_extensions"  # A1111's key
INSTALL_STAMPS_FILE_NAME = "extensions-installed.json"
INSTALL_TIMEOUT_SECONDS = 30 * 60  # install.py may pip-install large packages


# --- problems --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    extension: str  # folder name, or "" when it is not known
    stage: str  # metadata, preload, install, script, callback
    message: str


class ProblemLog:
    """Every extension failure of this process (thread-safe), for the Extensions tab."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Problem] = []

    def add(self, extension: str, stage: str, message: str, details: str = "") -> None:
        log.error("Extension %s: %s failed: %s%s", extension or "?", stage, message, f"\n{details}" if details else "")
        with self._lock:
            self._items.append(Problem(extension, stage, message))

    def clear(self, stage: str, extension: str | None = None) -> None:
        """Forget one stage's problems (before it runs again), for one extension or all."""
        with self._lock:
            self._items = [p for p in self._items
                           if p.stage != stage or (extension is not None and p.extension != extension)]

    def all(self) -> list[Problem]:
        with self._lock:
            return list(self._items)


problems = ProblemLog()


# --- what an extension is ----------------------------------------------------------------------

@dataclass(frozen=True)
class ExtensionMetadata:
    """metadata.ini's [Extension] section (unreadable files give empty metadata and a problem)."""

    display_name: str = ""
    requires: tuple[str, ...] = ()
    error: str | None = None

    @classmethod
    def read(cls, path: Path) -> "ExtensionMetadata":
        if not path.is_file():
            return cls()
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError) as e:
            return cls(error=f"metadata.ini is unreadable: {type(e).__name__}: {e}")
        section = parser["Extension"] if parser.has_section("Extension") else {}
        requires = tuple(name.strip() for name in str(section.get("Requires", "")).split(",") if name.strip())
        return cls(str(section.get("Name", "")).strip(), requires)


@dataclass(frozen=True)
class Extension:
    name: str  # the folder name (what A1111's disabled_extensions holds)
    path: Path
    enabled: bool
    is_builtin: bool = False
    metadata: ExtensionMetadata = field(default_factory=ExtensionMetadata)

    @property
    def canonical_name(self) -> str:
        return (self.metadata.display_name or self.name).lower()

    @property
    def scripts(self) -> list[Path]:
        return sorted((self.path / "scripts").glob("*.py"), key=lambda p: p.name.lower())

    @property
    def javascript(self) -> list[Path]:
        return sorted((self.path / "javascript").glob("*.js"), key=lambda p: p.name.lower())

    @property
    def style(self) -> Path | None:
        css = self.path / "style.css"
        return css if css.is_file() else None

    @property
    def install_script(self) -> Path | None:
        script = self.path / "install.py"
        return script if script.is_file() else None

    @property
    def preload_script(self) -> Path | None:
        script = self.path / "preload.py"
        return script if script.is_file() else None

    def owns(self, path: str | Path) -> bool:
        try:
            Path(path).resolve().relative_to(self.path.resolve())
        except ValueError:
            return False
        return True


# --- enabled state ------------------------------------------------------------------------------

def read_disabled(data_dir: Path) -> list[str]:
    stored = read_json_object(Path(data_dir) / STATE_FILE_NAME).get(DISABLED_KEY, [])
    return [name for name in stored if isinstance(name, str)] if isinstance(stored, list) else []


def _folders(root: Path | None) -> list[Path]:
    if root is None or not root.is_dir():
        return []
    return sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda p: p.name.lower())


def list_extensions(extensions_dir: Path, data_dir: Path, builtin_dir: Path | None = None,
                    disable: str = "none") -> list[Extension]:
    """Built-in extensions, then the user's, each by name (A1111's order), with their enabled
    flag. `disable`: "extra" switches off the user's extensions, "all" every one (A1111's
    --disable-extra-extensions / --disable-all-extensions), without changing what is stored."""
    disabled = set(read_disabled(data_dir))
    found = []
    for root, builtin in ((builtin_dir, True), (Path(extensions_dir), False)):
        forced_off = disable == "all" or (disable == "extra" and not builtin)
        for folder in _folders(root):
            found.append(Extension(folder.name, folder, folder.name not in disabled and not forced_off, builtin,
                                   ExtensionMetadata.read(folder / "metadata.ini")))
    return found


def save_enabled(extensions_dir: Path, data_dir: Path, enabled: Iterable[str],
                 builtin_dir: Path | None = None) -> list[str]:
    """Store which installed extensions are on; returns the disabled names written.
    Raises ValueError naming an enabled name that is not installed."""
    installed = [ext.name for ext in list_extensions(extensions_dir, data_dir, builtin_dir)]
    enabled = set(enabled)
    unknown = sorted(enabled - set(installed))
    if unknown:
        raise ValueError(f"extension {unknown[0]!r} is not installed in {extensions_dir}")
    # names of extensions no longer present stay disabled, so a re-install keeps the choice
    gone = [name for name in read_disabled(data_dir) if name not in installed]
    disabled = gone + [name for name in installed if name not in enabled]
    atomic_write_json(Path(data_dir) / STATE_FILE_NAME, {DISABLED_KEY: disabled})
    return disabled


def disable_mode(args: Any) -> str:
    if getattr(args, "disable_all_extensions", False):
        return "all"
    return "extra" if getattr(args, "disable_extra_extensions", False) else "none"


def installed(paths: Any, args: Any = None) -> list[Extension]:
    """The extensions of a running app (DataPaths), with the command line's switches applied."""
    return list_extensions(paths.extensions_dir, paths.data_dir, BUILTIN_DIR, disable_mode(args))


def active() -> list[Extension]:
    """A1111's extensions.active(): the running app's enabled extensions (needs modules.shared bound)."""
    from modules import shared

    engine = shared._bound()
    return [ext for ext in installed(engine.paths, engine.args) if ext.enabled]


def find_extension(filename: str | Path) -> Extension | None:
    """A1111's extensions.find_extension(): the enabled extension a file belongs to."""
    return next((ext for ext in active() if ext.owns(filename)), None)


def check_requirements(extensions: list[Extension]) -> None:
    """Record metadata problems and missing `Requires` (A1111 warns and loads anyway)."""
    problems.clear("metadata")
    enabled = {ext.canonical_name for ext in extensions if ext.enabled} | \
        {ext.name.lower() for ext in extensions if ext.enabled}
    for ext in extensions:
        if ext.metadata.error:
            problems.add(ext.name, "metadata", ext.metadata.error)
        if ext.enabled:
            for needed in ext.metadata.requires:
                if needed.lower() not in enabled:
                    problems.add(ext.name, "metadata", f"requires extension {needed!r}, which is not installed "
                                                       "or not enabled")


def script_files(paths: Any, args: Any = None) -> list[tuple[Path, Path]]:
    """(basedir, file) for the Script API, in A1111's order: the repo's scripts/, then each
    enabled extension's scripts/ (built-in extensions first, then the user's, by name)."""
    from modules.scripts import builtin_script_files

    files = list(builtin_script_files())
    for ext in installed(paths, args):
        if ext.enabled:
            files += [(ext.path, script) for script in ext.scripts]
    return files


# --- install.py ---------------------------------------------------------------------------------

def install_hash(ext: Extension) -> str | None:
    """What decides whether install.py must run again: install.py and requirements.txt."""
    if ext.install_script is None:
        return None
    digest = hashlib.sha256()
    for name in ("install.py", "requirements.txt"):
        file = ext.path / name
        if file.is_file():
            digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _stamp_key(ext: Extension) -> str:
    return f"{'builtin' if ext.is_builtin else 'user'}/{ext.name}"


@dataclass(frozen=True)
class InstallRun:
    extension: str
    ran: bool
    ok: bool
    output: str = ""


def run_installer(ext: Extension, data_dir: Path, force: bool = False) -> InstallRun:
    """Run the extension's install.py in this venv (cwd: the extension, repo root on
    PYTHONPATH so `import launch` works, as in A1111) unless this content already ran well.
    A failure is recorded in `problems`; it never raises."""
    digest = install_hash(ext)
    if digest is None:
        return InstallRun(ext.name, False, True)
    stamps_file = Path(data_dir) / INSTALL_STAMPS_FILE_NAME
    stamps = read_json_object(stamps_file)
    key = _stamp_key(ext)
    if not force and stamps.get(key) == digest:
        return InstallRun(ext.name, False, True)
    problems.clear("install", ext.name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["EASEL_EXTENSION_DIR"] = str(ext.path)
    log.info("Running install.py of extension %s", ext.name)
    try:
        done = subprocess.run([sys.executable, str(ext.install_script)], cwd=ext.path, env=env, capture_output=True,
                              text=True, timeout=INSTALL_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        problems.add(ext.name, "install", f"install.py could not run: {type(e).__name__}: {e}")
        return InstallRun(ext.name, True, False, str(e))
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        last = output.splitlines()[-1] if output else "no output"
        problems.add(ext.name, "install", f"install.py exited with status {done.returncode}: {last}", output)
        return InstallRun(ext.name, True, False, output)
    stamps = read_json_object(stamps_file)  # re-read: another install may have written meanwhile
    stamps[key] = digest
    atomic_write_json(stamps_file, stamps)
    if output:
        log.info("install.py of %s:\n%s", ext.name, output)
    return InstallRun(ext.name, True, True, output)


def run_pending_installers(extensions: list[Extension], data_dir: Path) -> list[InstallRun]:
    """install.py of every enabled extension whose install.py is new or changed."""
    return [run_installer(ext, data_dir) for ext in extensions if ext.enabled and ext.install_script is not None]


# --- preload.py ----------------------------------------------------------------------------------

def _import_file(path: Path, prefix: str) -> Any:
    name = f"{prefix}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def preload_extensions(parser: Any, data_dir: Path, disable: str = "none") -> None:
    """Let each enabled extension's preload.py add its flags (`preload(parser)`) before the
    command line is parsed. A broken preload.py is recorded and skipped."""
    problems.clear("preload")
    for ext in list_extensions(Path(data_dir) / "extensions", Path(data_dir), BUILTIN_DIR, disable):
        if not ext.enabled or ext.preload_script is None:
            continue
        try:
            module = _import_file(ext.preload_script, "easel_preload")
            preload = getattr(module, "preload", None)
            if preload is not None:
                preload(parser)
        except BaseException as e:  # SystemExit included: a preload must never end the start
            if isinstance(e, KeyboardInterrupt):
                raise
            import traceback

            problems.add(ext.name, "preload", f"preload.py failed: {type(e).__name__}: {e}", traceback.format_exc())


# --- every failure, per extension -------------------------------------------------------------

def problems_by_extension(extensions: list[Extension]) -> dict[str, list[str]]:
    """Recorded problems plus failed script files and callbacks, by extension name ("" for
    files outside any extension)."""
    from modules import script_callbacks, scripts

    found: dict[str, list[str]] = {}

    def owner(path: str | Path) -> str:
        return next((ext.name for ext in extensions if ext.owns(path)), "")

    for problem in problems.all():
        found.setdefault(problem.extension, []).append(f"{problem.stage}: {problem.message}")
    for path, message in scripts.load_failures():
        found.setdefault(owner(path), []).append(f"script {Path(path).name}: {message}")
    for failure in script_callbacks.failures():
        found.setdefault(owner(failure.script), []).append(
            f"callback {failure.event} in {Path(failure.script).name}: {failure.message}")
    return found
