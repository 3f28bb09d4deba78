"""Client-side files the page loads: Easel's javascript/, enabled extensions' javascript/
and style.css, and the user's user.css (A1111 conventions).

They run from one page-load handler, as inline <script>/<style> elements, so scripts share
the global scope as in A1111 (extensions call gradioApp(), onUiLoaded(), …).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from modules.extensions import Extension

CORE_SCRIPT = "easel.js"  # defines the A1111 helpers the others use; runs first
UI_STYLE = Path(__file__).with_name("style.css")


@dataclass(frozen=True)
class PageAssets:
    scripts: list[tuple[str, str]] = field(default_factory=list)  # (name, source)
    styles: list[tuple[str, str]] = field(default_factory=list)

    def load_js(self) -> str:
        """A JS function for a Gradio load event: add the styles, run the scripts in order,
        then the onUiLoaded callbacks."""
        return (
            "() => {\n"
            f"  const styles = {json.dumps(self.styles)};\n"
            f"  const scripts = {json.dumps(self.scripts)};\n"
            "  for (const [name, css] of styles) {\n"
            "    const el = document.createElement('style'); el.dataset.source = name;\n"
            "    el.textContent = css; document.head.appendChild(el);\n"
            "  }\n"
            "  for (const [name, code] of scripts) {\n"
            "    const el = document.createElement('script'); el.dataset.source = name;\n"
            "    el.textContent = code + '\\n//# sourceURL=' + name; document.head.appendChild(el);\n"
            "  }\n"
            "  if (typeof easelUiLoaded === 'function') easelUiLoaded();\n"
            "}"
        )


def _script_order(path: Path) -> tuple[int, str]:
    return (0 if path.name == CORE_SCRIPT else 1, path.name.lower())


def collect_assets(javascript_dir: Path, data_dir: Path, extensions: Iterable[Extension]) -> PageAssets:
    """Everything the page should load, in A1111's order: core scripts, then extensions'
    (by name); Easel's CSS, extensions' style.css, then user.css (so the user wins)."""
    scripts = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(javascript_dir.glob("*.js"), key=_script_order)]
    styles = [("easel", UI_STYLE.read_text(encoding="utf-8"))]
    for ext in extensions:
        if not ext.enabled:
            continue
        scripts += [(f"{ext.name}/{p.name}", p.read_text(encoding="utf-8")) for p in ext.javascript]
        if ext.style is not None:
            styles.append((f"{ext.name}/style.css", ext.style.read_text(encoding="utf-8")))
    user_css = data_dir / "user.css"
    if user_css.is_file():
        styles.append(("user.css", user_css.read_text(encoding="utf-8")))
    return PageAssets(scripts, styles)
