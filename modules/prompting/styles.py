"""Prompt styles in A1111's styles.csv format (name,prompt,negative_prompt).

A style prompt containing `{prompt}` wraps the user's prompt; otherwise it is appended after a
comma. Saving writes a temporary file next to the target and renames it over the target, so a
failed save never loses the existing file.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from modules.fileio import write_text_stream_atomically

PLACEHOLDER = "{prompt}"
FIELDS = ("name", "prompt", "negative_prompt")


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge_style_prompt(style_prompt: str, prompt: str) -> str:
    if PLACEHOLDER in style_prompt:
        return style_prompt.replace(PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_prompt.strip()) if part)


def apply_style_prompts(prompt: str, style_prompts: Iterable[str]) -> str:
    """Apply style texts in order; each wraps or extends the result of the previous one."""
    for style_prompt in style_prompts:
        prompt = merge_style_prompt(style_prompt, prompt)
    return prompt


def extract_style_text(style_text: str, prompt: str) -> tuple[bool, str]:
    """Undo merge_style_prompt: (True, prompt without the style) when the style is present."""
    stripped_prompt = prompt.strip()
    stripped_style = style_text.strip()
    if PLACEHOLDER in stripped_style:
        left, right = stripped_style.split(PLACEHOLDER, 1)
        if stripped_prompt.startswith(left) and stripped_prompt.endswith(right):
            return True, stripped_prompt[len(left) : len(stripped_prompt) - len(right)]
    elif stripped_prompt.endswith(stripped_style):
        remaining = stripped_prompt[: len(stripped_prompt) - len(stripped_style)]
        return True, remaining[:-2] if remaining.endswith(", ") else remaining
    return False, prompt


def _extract_style(style: PromptStyle, prompt: str, negative_prompt: str) -> tuple[str, str] | None:
    if not style.prompt and not style.negative_prompt:
        return None
    matched, new_prompt = extract_style_text(style.prompt, prompt)
    if not matched:
        return None
    matched, new_negative = extract_style_text(style.negative_prompt, negative_prompt)
    return (new_prompt, new_negative) if matched else None


def read_styles_csv(path: str | Path) -> dict[str, PromptStyle]:
    """Parse a styles file; rows whose name starts with `#` are comments. Raises ValueError
    naming the file and line for a malformed row. Accepts the old `name,text` header."""
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as file:
        return _parse_styles(path, csv.DictReader(file, skipinitialspace=True))


def _parse_styles(path: Path, reader: csv.DictReader) -> dict[str, PromptStyle]:
    try:
        header = reader.fieldnames or []
    except csv.Error as error:
        raise ValueError(f"{path} line {reader.line_num}: {error}") from None
    prompt_field = "prompt" if "prompt" in header else "text" if "text" in header else None
    if header and ("name" not in header or prompt_field is None):
        raise ValueError(f"{path}: header must have 'name' and 'prompt' columns, got {header}")

    styles: dict[str, PromptStyle] = {}
    try:
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if None in row:
                raise ValueError(f"{where}: {len(header) + len(row[None])} fields, expected at most {len(header)}")
            name = row["name"] or ""
            if not name.strip():
                raise ValueError(f"{where}: style has no name")
            if name.startswith("#"):
                continue
            styles[name] = PromptStyle(name, row[prompt_field] or "", row.get("negative_prompt") or "")
    except csv.Error as error:
        raise ValueError(f"{path} line {reader.line_num}: {error}") from None
    return styles


def write_styles_csv(path: str | Path, styles: Iterable[PromptStyle]) -> None:
    """Atomic: a failed save leaves the old file as it was."""

    def write(file) -> None:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        for style in styles:
            writer.writerow({"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt})

    write_text_stream_atomically(path, write, encoding="utf-8-sig", newline="")


class StyleDatabase:
    """The styles of one styles.csv; a missing file is an empty database."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.styles: dict[str, PromptStyle] = {}
        self.reload()

    def reload(self) -> None:
        self.styles = read_styles_csv(self.path) if self.path.exists() else {}

    def save(self, path: str | Path | None = None) -> None:
        write_styles_csv(path if path is not None else self.path, self.styles.values())

    def names(self) -> list[str]:
        return list(self.styles)

    def get(self, name: str) -> PromptStyle:
        try:
            return self.styles[name]
        except KeyError:
            raise ValueError(f"unknown style {name!r}; known styles: {self.names()}") from None

    def put(self, style: PromptStyle) -> None:
        if not style.name.strip() or style.name.strip().startswith("#"):
            raise ValueError(f"style name must be non-empty and not start with '#', got {style.name!r}")
        self.styles[style.name] = style

    def remove(self, name: str) -> None:
        self.get(name)
        del self.styles[name]

    def apply_styles_to_prompt(self, prompt: str, names: Sequence[str]) -> str:
        return apply_style_prompts(prompt, [self.get(name).prompt for name in names])

    def apply_negative_styles_to_prompt(self, negative_prompt: str, names: Sequence[str]) -> str:
        return apply_style_prompts(negative_prompt, [self.get(name).negative_prompt for name in names])

    def extract_styles_from_prompt(self, prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
        """Find styles whose texts end (or wrap) both prompts, peel them off, and return the
        style names in application order with the remaining prompts (A1111 semantics)."""
        extracted: list[str] = []
        candidates = list(self.styles.values())
        while True:
            for style in candidates:
                result = _extract_style(style, prompt, negative_prompt)
                if result is not None:
                    prompt, negative_prompt = result
                    candidates.remove(style)
                    extracted.append(style.name)
                    break
            else:
                break
        return list(reversed(extracted)), prompt, negative_prompt
