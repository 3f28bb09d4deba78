"""Build A1111 infotext: the "parameters" text stored in every generated image.

Format (what civitai, PNG Info and other UIs read):

    <prompt>
    Negative prompt: <negative prompt>          (line omitted when empty)
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ...

Field values are written with ``str()``; values that would confuse the reader are
JSON-quoted (see ``quote``). A value equal to its key is written as the bare key,
as A1111 does for flags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

# Keys A1111's reader reads back (its re_param key group), without trailing spaces.
INFOTEXT_KEY_RE = re.compile(r"\w[\w \-/]*[\w\-/]")
# Keys the reader reserves for the prompt lines.
RESERVED_KEYS = frozenset({"Prompt", "Negative prompt"})

_CHARS_NEEDING_QUOTES = (",", ":", '"', "\n")


def needs_quotes(text: str) -> bool:
    """True when ``text`` would not survive the A1111 reader unquoted.

    A1111 quotes values with ``,`` ``:`` or newlines. We also quote values with a
    ``"`` (an unquoted one that starts and ends with ``"`` would be unquoted by the
    reader), empty values (the reader drops them) and values with leading or
    trailing whitespace (the reader strips it). The reader handles all of these.
    """
    return text == "" or text != text.strip() or any(c in text for c in _CHARS_NEEDING_QUOTES)


def quote(value: object) -> str:
    """A1111's quote(): the value as text, JSON-quoted when it needs it."""
    text = str(value)
    if not needs_quotes(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(text: str) -> str:
    """A1111's unquote(): undo ``quote``; text that is not a JSON string is returned as is."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def validate_infotext_key(key: object) -> str:
    """Return ``key`` if A1111's reader can read it back, else raise ValueError naming it."""
    if not isinstance(key, str) or INFOTEXT_KEY_RE.fullmatch(key) is None:
        raise ValueError(
            f"infotext key {key!r} cannot be read back: a key must start with a letter or digit, "
            "have at least 2 characters, contain only letters, digits, '_', spaces, '-' and '/', "
            "and not end with a space"
        )
    if key in RESERVED_KEYS:
        raise ValueError(f"infotext key {key!r} is reserved for the prompt lines")
    return key


def format_field(key: str, value: object) -> str:
    """One ``Key: value`` item of the parameters line (bare ``Key`` for a flag)."""
    if isinstance(value, str) and value == key:
        return key
    return f"{key}: {quote(value)}"


def build_infotext(
    prompt: str | None,
    negative_prompt: str | None,
    fields: Mapping[str, object],
    *,
    strict: bool = True,
) -> str:
    """The infotext for one image, exactly as A1111's create_infotext writes it.

    ``fields`` are written in the given order; None values are skipped. With
    ``strict`` (default) a key the reader could not read back raises ValueError;
    ``strict=False`` writes it anyway, as A1111 does (e.g. for an extension's key).
    """
    items = []
    for key, value in fields.items():
        if value is None:
            continue
        if strict:
            validate_infotext_key(key)
        items.append(format_field(key, value))
    params_line = ", ".join(items)
    prompt_text = prompt or ""
    negative_text = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt_text}{negative_text}\n{params_line}".strip()
