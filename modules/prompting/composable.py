"""Composable diffusion: `a cat :1.2 AND a dog` → weighted sub-prompts (A1111's `AND` syntax).

Splitting happens before schedule parsing, so `AND` separates sub-prompts wherever it appears.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Sequence

_AND = re.compile(r"\bAND\b")
# A sub-prompt may end with `:weight`; leading whitespace of the text is kept, as in A1111.
_TRAILING_WEIGHT = re.compile(r"^([\s\S]*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


class SubPrompt(NamedTuple):
    text: str
    weight: float


def split_composable_prompt(prompt: str) -> list[SubPrompt]:
    """Split on `AND`; each part's trailing `:number` is its weight (default 1.0)."""
    parts = []
    for part in _AND.split(prompt):
        match = _TRAILING_WEIGHT.match(part)
        text, weight = match.group(1), match.group(2)
        parts.append(SubPrompt(text, float(weight) if weight is not None else 1.0))
    return parts


class ComposablePrompts(NamedTuple):
    """Sub-prompts of a batch, deduplicated: `texts` to encode, and per prompt (index, weight)."""

    texts: list[str]
    indexes: list[list[tuple[int, float]]]


def flatten_composable_prompts(prompts: Sequence[str]) -> ComposablePrompts:
    texts: list[str] = []
    position: dict[str, int] = {}
    indexes = []
    for prompt in prompts:
        entry = []
        for sub in split_composable_prompt(prompt):
            if sub.text not in position:
                position[sub.text] = len(texts)
                texts.append(sub.text)
            entry.append((position[sub.text], sub.weight))
        indexes.append(entry)
    return ComposablePrompts(texts, indexes)
