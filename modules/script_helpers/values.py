"""A1111's X/Y/Z plot value lists: comma-separated (CSV, so "a, b" quotes work), with
ranges for numbers: "1-5" (every integer), "1-5 (+2)" (a step), "1-10 [5]" (a count,
evenly spaced); "Prompt order" values become every permutation of the listed words."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

_INT = r"[+-]?\s*\d+"
_FLOAT = r"[+-]?\s*\d+(?:\.\d*)?"
RANGE_STEP = re.compile(rf"\s*({_INT})\s*-\s*({_INT})(?:\s*\(([+-]\d+)\s*\))?\s*")
RANGE_STEP_FLOAT = re.compile(rf"\s*({_FLOAT})\s*-\s*({_FLOAT})(?:\s*\(([+-]\d+(?:\.\d*)?)\s*\))?\s*")
RANGE_COUNT = re.compile(rf"\s*({_INT})\s*-\s*({_INT})(?:\s*\[(\d+)\s*])?\s*")
RANGE_COUNT_FLOAT = re.compile(rf"\s*({_FLOAT})\s*-\s*({_FLOAT})(?:\s*\[(\d+(?:\.\d*)?)\s*])?\s*")
MAX_VALUES = 1000  # a typo such as "1-100000" must not queue a day of work


def csv_list(text: str) -> list[str]:
    """'a, "b, c", d' → ['a', 'b, c', 'd'] (A1111's csv_string_to_list_strip)."""
    rows = csv.reader(io.StringIO(text or ""), skipinitialspace=True)
    return [value.strip() for value in itertools.chain.from_iterable(rows)]


def to_csv(values: list[Any]) -> str:
    with io.StringIO() as out:
        csv.writer(out).writerow(values)
        return out.getvalue().strip()


def _number(text: str) -> str:
    return text.replace(" ", "")


def _expand_int(value: str) -> list[int]:
    if match := RANGE_STEP.fullmatch(value):
        start, end = int(_number(match[1])), int(_number(match[2]))
        step = int(match[3]) if match[3] is not None else 1
        if step == 0:
            raise ValueError(f"{value!r}: the step must not be 0")
        return list(range(start, end + (1 if step > 0 else -1), step))  # the end included either way
    if match := RANGE_COUNT.fullmatch(value):
        start, end = int(_number(match[1])), int(_number(match[2]))
        count = int(match[3]) if match[3] is not None else 1
        return [int(x) for x in np.linspace(start, end, count).tolist()]
    try:
        return [int(value)]
    except ValueError:
        try:  # "5.0" is 5, as A1111's int(float) paths accept
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number or range (e.g. 1-5, 1-5 (+2), 1-10 [5])") from None
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number") from None
        return [int(number)]


def _expand_float(value: str) -> list[float]:
    if match := RANGE_STEP_FLOAT.fullmatch(value):
        start, end = float(_number(match[1])), float(_number(match[2]))
        step = float(match[3]) if match[3] is not None else 1.0
        if step == 0:
            raise ValueError(f"{value!r}: the step must not be 0")
        return [round(x, 8) for x in np.arange(start, end + step / 2, step).tolist()]
    if match := RANGE_COUNT_FLOAT.fullmatch(value):
        start, end = float(_number(match[1])), float(_number(match[2]))
        count = int(float(match[3])) if match[3] is not None else 1
        return [round(x, 8) for x in np.linspace(start, end, count).tolist()]
    try:
        return [float(value)]
    except ValueError:
        raise ValueError(f"{value!r} is not a number or range (e.g. 0.5-1 (+0.25), 1-10 [4])") from None


EXPANDERS: dict[str, Callable[[str], list[Any]]] = {"int": _expand_int, "float": _expand_float,
                                                    "str": lambda value: [value]}


def parse_values(text: str | list, kind: str) -> list[Any]:
    """The values of one axis. `text` is the textbox's text, or a list (the dropdown's
    picks); `kind` is "int", "float", "str" or "permutations". ValueError says what is wrong."""
    entries = [str(v).strip() for v in text] if isinstance(text, (list, tuple)) else csv_list(str(text or ""))
    entries = [entry for entry in entries if entry != ""] if kind != "str" else entries
    if kind == "permutations":
        values: list[Any] = list(itertools.permutations(entries))
    elif kind in EXPANDERS:
        values = [value for entry in entries for value in EXPANDERS[kind](entry)]
    else:
        raise ValueError(f"unknown value kind {kind!r}")
    if not values:
        raise ValueError("no values given")
    if len(values) > MAX_VALUES:
        raise ValueError(f"{len(values)} values; at most {MAX_VALUES} per axis")
    return values
