"""Prompt editing `[from:to:when]`, `[to:when]`, `[from::when]` and alternation `[a|b]`.

A prompt becomes a list of (end_at_step, text): the text to use up to and including that step,
like A1111's get_learned_conditioning_prompt_schedules. A hand-written parser follows A1111's
grammar: brackets that do not form a construct are kept as literal text at the top level (the
emphasis parser reads them later); a stray `|` or a trailing lone backslash at the top level
makes the prompt unschedulable, and it is then used verbatim for every step.

`when` semantics (A1111 default): a number written with a dot is a fraction of the steps, an
integer is a step number. In the hires pass (hires_steps given) steps are counted in the second
pass: integers are offset by the base steps and fractions by 1.0, so `[a:b:1.5]` switches
halfway through the hires pass. legacy_scheduling=True gives the old rule: below 1 is a
fraction, otherwise a step, always counted in the base pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Sequence, Union


class ScheduledText(NamedTuple):
    end_at_step: int
    text: str


@dataclass(frozen=True)
class _Edit:
    before: tuple | None
    after: tuple
    when: str


@dataclass(frozen=True)
class _Alternate:
    options: tuple[tuple, ...]


_Node = Union[str, tuple, _Edit, _Alternate]

_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
_WHEN = re.compile(r"\s*([+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)\s*\]")
_TOP_LEVEL_LITERALS = "[]():"


@dataclass(frozen=True)
class _StepRule:
    """Converts a written `when` into an end step, following A1111's scheduling modes."""

    steps: int
    int_offset: int
    fraction_offset: float
    legacy: bool

    def resolve(self, raw: str) -> int:
        value = float(raw)
        if self.legacy:
            value = value * self.steps if value < 1 else value
        elif "." in raw:
            value = (value - self.fraction_offset) * self.steps
        else:
            value = value - self.int_offset
        return min(self.steps, int(value))


def prompt_schedule(
    prompt: str, steps: int, hires_steps: int | None = None, legacy_scheduling: bool = False
) -> list[ScheduledText]:
    """The (end_at_step, text) list for one prompt; the last entry always ends at the step count."""
    _check_steps("steps", steps)
    if hires_steps is not None:
        _check_steps("hires_steps", hires_steps)
    if hires_steps is None or legacy_scheduling:
        rule = _StepRule(steps, 0, 0.0, legacy_scheduling)
    else:
        rule = _StepRule(hires_steps, steps, 1.0, False)

    tree = _parse_top_level(prompt)
    if tree is None:
        return [ScheduledText(rule.steps, prompt)]
    end_steps = sorted(_collect_end_steps(tree, rule) | {rule.steps})
    return [ScheduledText(step, _render(tree, step, rule)) for step in end_steps]


def prompt_schedules(
    prompts: Sequence[str], steps: int, hires_steps: int | None = None, legacy_scheduling: bool = False
) -> list[list[ScheduledText]]:
    """prompt_schedule for each prompt (identical prompts are parsed once)."""
    unique = {p: prompt_schedule(p, steps, hires_steps, legacy_scheduling) for p in dict.fromkeys(prompts)}
    return [unique[p] for p in prompts]


def _check_steps(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _collect_end_steps(node: _Node, rule: _StepRule) -> set[int]:
    if isinstance(node, str):
        return set()
    if isinstance(node, tuple):
        return set().union(*(_collect_end_steps(child, rule) for child in node))
    if isinstance(node, _Alternate):
        nested = set().union(*(_collect_end_steps(option, rule) for option in node.options))
        return nested | set(range(1, rule.steps + 1))
    found = _collect_end_steps(node.after, rule)
    if node.before is not None:
        found |= _collect_end_steps(node.before, rule)
    when = rule.resolve(node.when)
    return found | {when} if when >= 1 else found


def _render(node: _Node, step: int, rule: _StepRule) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, tuple):
        return "".join(_render(child, step, rule) for child in node)
    if isinstance(node, _Alternate):
        return _render(node.options[(step - 1) % len(node.options)], step, rule)
    if step <= rule.resolve(node.when):
        return _render(node.before, step, rule) if node.before is not None else ""
    return _render(node.after, step, rule)


def _parse_top_level(text: str) -> tuple | None:
    parser = _Parser(text)
    nodes: list[_Node] = []
    position = 0
    while position < len(text):
        parsed, position = parser.prompt(position)
        nodes.extend(parsed)
        if position >= len(text):
            break
        if text[position] not in _TOP_LEVEL_LITERALS:
            return None
        nodes.append(text[position])
        position += 1
    return tuple(nodes)


class _Parser:
    """Recursive descent over A1111's prompt grammar; constructs that fail return None."""

    def __init__(self, text: str):
        self.text = text

    def _at(self, position: int, char: str) -> bool:
        return position < len(self.text) and self.text[position] == char

    def prompt(self, position: int) -> tuple[list[_Node], int]:
        nodes: list[_Node] = []
        while position < len(self.text):
            plain = _PLAIN.match(self.text, position)
            if plain:
                nodes.append(plain.group(0))
                position = plain.end()
                continue
            char = self.text[position]
            parsed = self.round(position) if char == "(" else self.square(position) if char == "[" else None
            if parsed is None:
                break
            nodes.append(parsed[0])
            position = parsed[1]
        return nodes, position

    def round(self, position: int) -> tuple[_Node, int] | None:
        inner, end = self.prompt(position + 1)
        if self._at(end, ")"):
            return ("(", tuple(inner), ")"), end + 1
        if self._at(end, ":"):
            weight, weight_end = self.prompt(end + 1)
            if self._at(weight_end, ")"):
                return ("(", tuple(inner), ":", tuple(weight), ")"), weight_end + 1
        return None

    def square(self, position: int) -> tuple[_Node, int] | None:
        first, end = self.prompt(position + 1)
        if self._at(end, "]"):
            return ("[", tuple(first), "]"), end + 1
        if self._at(end, "|"):
            return self._alternate(first, end)
        if self._at(end, ":"):
            return self._edit(first, end)
        return None

    def _alternate(self, first: list[_Node], position: int) -> tuple[_Node, int] | None:
        options = [tuple(first)]
        while self._at(position, "|"):
            option, position = self.prompt(position + 1)
            options.append(tuple(option))
        if self._at(position, "]"):
            return _Alternate(tuple(options)), position + 1
        return None

    def _edit(self, first: list[_Node], colon: int) -> tuple[_Node, int] | None:
        when = _WHEN.match(self.text, colon + 1)
        if when:  # [to:when]
            return _Edit(None, tuple(first), when.group(1)), when.end()
        second, end = self.prompt(colon + 1)
        if self._at(end, ":"):
            when = _WHEN.match(self.text, end + 1)
            if when:  # [from:to:when]
                return _Edit(tuple(first), tuple(second), when.group(1)), when.end()
        return None
