"""Emphasis syntax: `(a)`, `[a]`, `(a:1.3)`, escapes and `BREAK`, as AUTOMATIC1111 reads them.

The result is a list of text runs with their attention multiplier; the chunker tokenizes each
run and gives every token of the run that multiplier.
"""
from __future__ import annotations

import re
from typing import NamedTuple

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
BREAK_WEIGHT = -1.0


class WeightedText(NamedTuple):
    text: str
    weight: float

    @property
    def is_break(self) -> bool:
        return self.text == "BREAK" and self.weight == BREAK_WEIGHT


BREAK_MARKER = WeightedText("BREAK", BREAK_WEIGHT)

# One lexeme per match; order matters (escapes before brackets, `:w)` before plain text).
_LEXEME = re.compile(
    r"\\[()\[\]\\]"  # escaped bracket or backslash: a literal character
    r"|\\"  # any other backslash is dropped
    r"|[(\[]"  # opening bracket
    r"|:\s*([+-]?[.\d]+)\s*\)"  # explicit weight closing a round bracket
    r"|[)\]]"  # closing bracket
    r"|[^\\()\[\]:]+"  # plain text
    r"|:"  # a colon that does not close a weight
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_prompt_attention(text: str) -> list[WeightedText]:
    """Split `text` into runs of equal attention weight; `BREAK` yields BREAK_MARKER.

    Unbalanced opening brackets apply to the rest of the prompt; unmatched closing brackets are
    literal text (A1111 behaviour). Raises ValueError for an unreadable weight such as `(a:1.2.3)`.
    """
    runs: list[list] = []
    round_starts: list[int] = []
    square_starts: list[int] = []

    def multiply_from(start: int, multiplier: float) -> None:
        for run in runs[start:]:
            run[1] *= multiplier

    for match in _LEXEME.finditer(text):
        lexeme, raw_weight = match.group(0), match.group(1)
        if lexeme.startswith("\\"):
            runs.append([lexeme[1:], 1.0])
        elif lexeme == "(":
            round_starts.append(len(runs))
        elif lexeme == "[":
            square_starts.append(len(runs))
        elif raw_weight is not None and round_starts:
            multiply_from(round_starts.pop(), _parse_weight(raw_weight, text))
        elif lexeme == ")" and round_starts:
            multiply_from(round_starts.pop(), ROUND_MULTIPLIER)
        elif lexeme == "]" and square_starts:
            multiply_from(square_starts.pop(), SQUARE_MULTIPLIER)
        else:
            for index, part in enumerate(_BREAK.split(lexeme)):
                if index > 0:
                    runs.append(list(BREAK_MARKER))
                runs.append([part, 1.0])

    for start in round_starts:
        multiply_from(start, ROUND_MULTIPLIER)
    for start in square_starts:
        multiply_from(start, SQUARE_MULTIPLIER)

    return _merge_equal_weights(runs) or [WeightedText("", 1.0)]


def _parse_weight(raw: str, prompt: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"invalid emphasis weight {raw!r} in prompt {prompt!r}") from None


def _merge_equal_weights(runs: list[list]) -> list[WeightedText]:
    merged: list[WeightedText] = []
    for text, weight in runs:
        current = WeightedText(text, weight)
        previous = merged[-1] if merged else None
        if previous is not None and previous.weight == weight and not current.is_break and not previous.is_break:
            merged[-1] = WeightedText(previous.text + text, weight)
        else:
            merged.append(current)
    return merged
