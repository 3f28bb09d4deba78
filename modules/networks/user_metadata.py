"""A1111's user metadata: `<name>.json` beside a network file, written by its card's edit dialog.

Keys A1111 writes for a LoRA: "description", "activation text", "preferred weight", "negative text",
"notes", "sd version" (other keys are kept as they are). The file is the user's: it is only read,
and a broken one gives a warning, never an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 1 << 20  # a hand-written description, not a data file
TEXT_KEYS = ("description", "activation text", "negative text", "notes", "sd version")
PREFERRED_WEIGHT = "preferred weight"


@dataclass
class UserMetadata:
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def preferred_weight(self) -> float | None:
        """The weight a card should insert; None when unset (A1111 stores 0 for unset)."""
        weight = self.values.get(PREFERRED_WEIGHT)
        return float(weight) if weight else None


def user_metadata_path(network_file: Path) -> Path:
    return Path(network_file).with_suffix(".json")


def read_user_metadata(network_file: Path) -> UserMetadata:
    """The user metadata beside `network_file`; empty when there is none."""
    path = user_metadata_path(network_file)
    if not path.is_file():
        return UserMetadata()
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return UserMetadata(warnings=[f"{path.name}: user metadata not read ({e})"])
    if not isinstance(data, dict):
        return UserMetadata(warnings=[f"{path.name}: user metadata is not a JSON object"])
    return _checked(data, path.name)


def _checked(data: dict[str, Any], file_name: str) -> UserMetadata:
    """Known keys of the wrong type are dropped with a warning; "preferred weight" may be a
    number written as text."""
    values, warnings = dict(data), []
    for key in TEXT_KEYS:
        if key in values and not isinstance(values[key], str):
            warnings.append(f"{file_name}: {key!r} should be text, found {type(values.pop(key)).__name__}")
    if PREFERRED_WEIGHT in values:
        weight = _weight(values[PREFERRED_WEIGHT])
        if weight is None:
            warnings.append(f"{file_name}: {PREFERRED_WEIGHT!r} {values.pop(PREFERRED_WEIGHT)!r} is not a number")
        else:
            values[PREFERRED_WEIGHT] = weight
    return UserMetadata(values, warnings)


def _weight(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        weight = float(value)
    except (TypeError, ValueError):
        return None
    return weight if math.isfinite(weight) else None
