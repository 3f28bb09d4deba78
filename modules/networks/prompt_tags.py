"""Extra-network tags in prompts: `<lora:name:weight>`, `<lora:name:te:unet:dyn>`, `<lyco:…>`.

As A1111's extra_networks.parse_prompt: every `<kind:args>` tag is removed from the text; args
split on ":"; `key=value` items are named (te=, unet=, dyn=) and win over the positional ones.
`dyn` is DyLoRA's rank limit (the first `dyn` ranks of each plain LoRA module are used).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXTRA_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")


@dataclass(frozen=True)
class NetworkUse:
    name: str
    te_multiplier: float = 1.0
    unet_multiplier: float = 1.0
    kind: str = "lora"  # "lyco" is read as "lora"; other kinds (hypernet…) are reported, not applied
    dyn_dim: int | None = None  # DyLoRA: use only this many ranks

    @property
    def is_lora(self) -> bool:
        return self.kind == "lora"


def extract_networks(prompt: str) -> tuple[str, list[NetworkUse]]:
    """(prompt without any extra-network tag, the tags in prompt order)."""
    uses = [_parse_tag(m.group(1), m.group(2), m.group(0)) for m in EXTRA_NETWORK_TAG.finditer(prompt)]
    return EXTRA_NETWORK_TAG.sub("", prompt), uses


def extract_networks_from_prompts(prompts: list[str]) -> tuple[list[str], list[NetworkUse]]:
    """A batch's prompts without tags, and the networks to apply: those of the first prompt, as
    A1111's parse_prompts does (one set of weights serves the whole batch)."""
    cleaned, first = [], None
    for prompt in prompts:
        text, found = extract_networks(prompt)
        cleaned.append(text)
        first = found if first is None else first
    return cleaned, first or []


def _parse_tag(kind: str, args: str, tag: str) -> NetworkUse:
    positional, named = [], {}
    for item in args.split(":"):
        key, eq, value = item.partition("=")
        if eq:
            named[key.strip()] = value.strip()
        else:
            positional.append(item.strip())
    if not positional or not positional[0]:
        raise ValueError(f"prompt tag {tag}: the network name is missing")
    kind = "lora" if kind in LORA_KINDS else kind
    te = _number(named.get("te", positional[1] if len(positional) > 1 else "1"), tag, "te weight")
    unet = _number(named.get("unet", positional[2] if len(positional) > 2 else str(te)), tag, "unet weight")
    dyn = named.get("dyn", positional[3] if len(positional) > 3 else None)
    return NetworkUse(positional[0], te, unet, kind, _rank(dyn, tag) if dyn is not None else None)


def _number(text: str, tag: str, field_name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"prompt tag {tag}: {field_name} {text!r} is not a number") from None


def _rank(text: str, tag: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"prompt tag {tag}: dyn {text!r} is not a positive whole number")
    return int(text)
