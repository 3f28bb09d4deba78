"""Installed extensions (folders in extensions/) and which are switched off (Gradio-free).

The disabled names live in `<data dir>/extensions-state.json` as {"disabled_extensions": [...]},
A1111's key, in a file of their own because config.json holds only registered options.
(When an engine-side extension loader arrives it should own this; see the UI report.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modules.fileio import atomic_write_json, read_json_object

STATE_FILE_NAME = "extensions-state.json"
DISABLED_KEY = "disabled_extensions"


@dataclass(frozen=True)
class InstalledExtension:
    name: str
    path: Path
    enabled: bool

    @property
    def scripts(self) -> list[Path]:
        return sorted((self.path / "scripts").glob("*.py"))

    @property
    def javascript(self) -> list[Path]:
        return sorted((self.path / "javascript").glob("*.js"))

    @property
    def style(self) -> Path | None:
        css = self.path / "style.css"
        return css if css.is_file() else None


def read_disabled(data_dir: Path) -> list[str]:
    stored = read_json_object(data_dir / STATE_FILE_NAME).get(DISABLED_KEY, [])
    return [name for name in stored if isinstance(name, str)] if isinstance(stored, list) else []


def list_extensions(extensions_dir: Path, data_dir: Path) -> list[InstalledExtension]:
    """Every extension folder (hidden ones skipped), by name, with its enabled flag."""
    if not extensions_dir.is_dir():
        return []
    disabled = set(read_disabled(data_dir))
    return [InstalledExtension(d.name, d, d.name not in disabled)
            for d in sorted(extensions_dir.iterdir(), key=lambda p: p.name.lower())
            if d.is_dir() and not d.name.startswith(".")]


def save_enabled(extensions_dir: Path, data_dir: Path, enabled: Iterable[str]) -> list[str]:
    """Store which installed extensions are on; returns the disabled names written.
    Raises ValueError naming an enabled name that is not installed."""
    installed = [ext.name for ext in list_extensions(extensions_dir, data_dir)]
    enabled = set(enabled)
    unknown = sorted(enabled - set(installed))
    if unknown:
        raise ValueError(f"extension {unknown[0]!r} is not installed in {extensions_dir}")
    # names of extensions no longer present stay disabled, so a re-install keeps the choice
    gone = [name for name in read_disabled(data_dir) if name not in installed]
    disabled = gone + [name for name in installed if name not in enabled]
    atomic_write_json(data_dir / STATE_FILE_NAME, {DISABLED_KEY: disabled})
    return disabled
