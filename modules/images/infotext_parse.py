"""Parse A1111 infotext back into fields, like A1111's parse_generation_parameters.

Returns "Prompt", "Negative prompt" and every ``Key: value`` of the last line as
strings (unquoted); ``WxH`` values are split into ``Key-1`` / ``Key-2``. Then the
defaults A1111 adds for missing keys, its old hires-fix conversion and its
version back-compat flags. Not done here: style extraction (needs the styles
database; the prompting module does it on the result) and sampler/scheduler
name splitting (the sampler registry does it).

Lossy spots of the format itself (A1111 has the same): each prompt line is
stripped, leading blank prompt lines vanish, and a prompt line starting with
"Negative prompt:" starts the negative prompt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from modules.images.infotext import INFOTEXT_KEY_RE, unquote

# A1111's re_param: key, then a JSON-quoted or comma-free value.
PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
SIZE_VALUE_RE = re.compile(r"(\d+)x(\d+)")
NEGATIVE_PREFIX = "Negative prompt:"
# The last line holds the parameters only if it has at least this many Key: value items.
MIN_PARAMS_IN_LAST_LINE = 3

# Defaults A1111 adds for keys missing from an infotext, in its order and with its types.
MISSING_KEY_DEFAULTS: tuple[tuple[str, object], ...] = (
    ("Hires sampler", "Use same sampler"),
    ("Hires checkpoint", "Use same checkpoint"),
    ("Hires prompt", ""),
    ("Hires negative prompt", ""),
    ("Mask mode", "Inpaint masked"),
    ("Masked content", "original"),
    ("Inpaint area", "Whole picture"),
    ("Masked area padding", 32),
)
LATE_MISSING_KEY_DEFAULTS: tuple[tuple[str, object], ...] = (
    ("RNG", "GPU"),
    ("Schedule type", "Automatic"),
    ("Schedule max sigma", 0),
    ("Schedule min sigma", 0),
    ("Schedule rho", 0),
    ("VAE Encoder", "Full"),
    ("VAE Decoder", "Full"),
    ("FP8 weight", "Disable"),
)


def split_prompt_lines(lines: list[str]) -> tuple[str, str]:
    """Prompt and negative prompt from the lines before the parameters line."""
    prompt = ""
    negative_prompt = ""
    in_negative = False
    for raw_line in lines:
        line = raw_line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].strip()
        if in_negative:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    return prompt, negative_prompt


def _flags_in_gap(gap: str) -> list[str]:
    """Bare keys (A1111 writes a field whose value equals its key as just the key)."""
    pieces = (piece.strip() for piece in gap.split(","))
    return [piece for piece in pieces if INFOTEXT_KEY_RE.fullmatch(piece)]


def parse_params_line(line: str) -> dict[str, str]:
    """``Key: value`` items of the parameters line; ``WxH`` values split into Key-1/Key-2."""
    result: dict[str, str] = {}
    position = 0
    for match in PARAM_RE.finditer(line):
        for flag in _flags_in_gap(line[position:match.start()]):
            result[flag] = flag
        position = match.end()
        key, value = match.groups()
        if value == "":
            continue  # A1111 skips an empty unquoted value
        if value[0] == '"' and value[-1] == '"':
            value = unquote(value)
        size = SIZE_VALUE_RE.fullmatch(value)
        if size is not None:
            result[f"{key}-1"] = size.group(1)
            result[f"{key}-2"] = size.group(2)
        else:
            result[key] = value
    for flag in _flags_in_gap(line[position:]):
        result[flag] = flag
    return result


def old_hires_fix_first_pass_dimensions(width: int, height: int) -> tuple[int, int]:
    """A1111's old rule for the automatic first pass size: about 512x512 pixels, multiples of 64."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def restore_old_hires_fix_params(res: dict[str, object], use_old_hires_fix_width_height: bool = False) -> None:
    """Infotexts with the old "First pass size" field: turn it into size + hires resize."""
    if use_old_hires_fix_width_height:
        hires_width = int(res.get("Hires resize-1", 0))
        hires_height = int(res.get("Hires resize-2", 0))
        if hires_width and hires_height:
            res["Size-1"] = hires_width
            res["Size-2"] = hires_height
            return

    firstpass_width = res.get("First pass size-1")
    firstpass_height = res.get("First pass size-2")
    if firstpass_width is None or firstpass_height is None:
        return
    firstpass_width, firstpass_height = int(firstpass_width), int(firstpass_height)
    width = int(res.get("Size-1", 512))
    height = int(res.get("Size-2", 512))
    if firstpass_width == 0 or firstpass_height == 0:
        firstpass_width, firstpass_height = old_hires_fix_first_pass_dimensions(width, height)
    res["Size-1"] = firstpass_width
    res["Size-2"] = firstpass_height
    res["Hires resize-1"] = width
    res["Hires resize-2"] = height


# Version keys as PEP 440 would order them: (release, pre-release rank, pre number, post number).
_VERSION_RE = re.compile(r"v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|rc|alpha|beta|c|pre|preview)[-_.]?(\d*))?(?:-(\d+))?", re.I)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "rc": 2, "c": 2, "pre": 2, "preview": 2}
VersionKey = tuple[tuple[int, ...], int, int, int]


def parse_version(text: object) -> VersionKey | None:
    """Sortable key for an infotext "Version" (``v1.10.1``, ``v1.7.0-225-g1234abc``), None if unreadable."""
    if not isinstance(text, str):
        return None
    trimmed = re.match(r"([^-]+-[^-]+)-.*", text)  # A1111 keeps "v1.7.0-225" of "v1.7.0-225-gabc"
    if trimmed:
        text = trimmed.group(1)
    match = _VERSION_RE.fullmatch(text.strip())
    if match is None:
        return None
    release_text, pre_label, pre_number, post_number = match.groups()
    release = tuple(int(part) for part in release_text.split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre_rank = _PRE_RANK[pre_label.lower()] if pre_label else 3
    return release, pre_rank, int(pre_number or 0), int(post_number) if post_number else -1


V160 = parse_version("1.6.0")
V170_TSNR = parse_version("v1.7.0-225")
V180 = parse_version("1.8.0")


def apply_version_backcompat(res: dict[str, object]) -> None:
    """A1111's infotext_versions.backcompat: flags for behaviour older versions had."""
    version = parse_version(res.get("Version"))
    if version is None:
        return
    if version < V160 and "[" in str(res.get("Prompt", "")):
        res["Old prompt editing timelines"] = True
    if version < V160 and res.get("Sampler", "") in ("DDIM", "PLMS"):
        res["Pad conds v0"] = True
    if version < V170_TSNR:
        res["Downcast alphas_cumprod"] = True
    if version < V180 and res.get("Refiner"):
        res["Refiner switch by sampling steps"] = True


def _set_missing(res: dict[str, object], defaults: Iterable[tuple[str, object]]) -> None:
    for key, value in defaults:
        res.setdefault(key, value)


def parse_infotext(
    text: str,
    *,
    use_old_hires_fix_width_height: bool = False,
    auto_backcompat: bool = True,
    skip_fields: Iterable[str] = (),
) -> dict[str, object]:
    """Fields of an A1111 infotext, like A1111's parse_generation_parameters.

    Options mirror A1111 settings: ``use_old_hires_fix_width_height``,
    ``auto_backcompat``, ``skip_fields`` (infotext_skip_pasting).
    """
    if not isinstance(text, str):
        raise ValueError(f"infotext must be a string, got {type(text).__name__}")
    *lines, last_line = text.strip().split("\n")
    if len(PARAM_RE.findall(last_line)) < MIN_PARAMS_IN_LAST_LINE:
        lines.append(last_line)
        last_line = ""

    prompt, negative_prompt = split_prompt_lines(lines)
    res: dict[str, object] = {"Prompt": prompt, "Negative prompt": negative_prompt}
    res.update(parse_params_line(last_line))

    res.setdefault("Clip skip", "1")  # missing means the default, 1
    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] = f"{res['Prompt']}<hypernet:{hypernet}:{res.get('Hypernet strength', '1.0')}>"
    if "Hires resize-1" not in res:
        res["Hires resize-1"] = 0
        res["Hires resize-2"] = 0
    _set_missing(res, MISSING_KEY_DEFAULTS)
    restore_old_hires_fix_params(res, use_old_hires_fix_width_height)
    _set_missing(res, LATE_MISSING_KEY_DEFAULTS)
    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False
    if auto_backcompat:
        apply_version_backcompat(res)

    skip = set(skip_fields)
    return {key: value for key, value in res.items() if key not in skip}
