"""ui-config.json: users' own defaults for the generation widgets (A1111's convention).

Keys are "<tab>/<label>/<attribute>", e.g. "txt2img/Sampling steps/value" or
"txt2img/Width/maximum". At start-up a stored value replaces the widget's default; missing
keys are written with the built-in defaults so users find them to edit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modules.fileio import atomic_write_json, read_json_object

log = logging.getLogger(__name__)
SLIDER_ATTRIBUTES = ("minimum", "maximum", "step")


def _attributes(component: Any) -> tuple[str, ...]:
    return ("value", *SLIDER_ATTRIBUTES) if type(component).__name__ == "Slider" else ("value",)


def _acceptable(component: Any, attribute: str, value: Any) -> bool:
    """A stored value of the right kind (a choice the widget offers, a number for a number)."""
    current = getattr(component, attribute)
    if attribute == "value" and getattr(component, "choices", None):
        offered = [choice[1] if isinstance(choice, tuple) else choice for choice in component.choices]
        return value in offered or (isinstance(value, list) and all(v in offered for v in value))
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, (int, float)):
        return isinstance(value, (int, float))
    return current is None or isinstance(value, type(current))


def apply_ui_config(path: Path, tab: str, components: Iterable[Any]) -> int:
    """Apply stored defaults to the labelled components of a tab; add missing keys to the file.
    Returns how many stored values were applied. A bad stored value is logged and skipped."""
    stored = read_json_object(path)
    applied, added = 0, False
    for component in components:
        label = getattr(component, "label", None)
        if not label:
            continue
        for attribute in _attributes(component):
            key = f"{tab}/{label}/{attribute}"
            if key not in stored:
                stored[key] = getattr(component, attribute)
                added = True
            elif stored[key] != getattr(component, attribute):
                if _acceptable(component, attribute, stored[key]):
                    setattr(component, attribute, stored[key])
                    applied += 1
                else:
                    log.warning("ui-config.json: ignoring %s = %r (not a valid %s)", key, stored[key], attribute)
    if added:
        try:
            atomic_write_json(path, stored)
        except OSError as e:  # a read-only data dir keeps working with the built-in defaults
            log.warning("could not write %s: %s", path, e)
    return applied
