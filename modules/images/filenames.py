"""A1111 file name patterns ([seed]-[prompt_spaces], [date]...), sanitising and counters."""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image

INVALID_FILENAME_CHARS = '#<>:"/\\|?*\n\r\t\x00'
UNIX_INVALID_FILENAME_CHARS = "/\x00"  # A1111 --unix-filenames-sanitization
INVALID_FILENAME_PREFIX = " "
INVALID_FILENAME_POSTFIX = " ."
MAX_FILENAME_PART_LENGTH = 128  # A1111 --filenames-max-length default
DEFAULT_TIME_FORMAT = "%Y%m%d%H%M%S"
DEFAULT_MAX_PROMPT_WORDS = 8  # A1111 directories_max_prompt_words

_NON_LETTERS_RE = re.compile(r"[\s" + re.escape(string.punctuation) + "]+")
_PATTERN_RE = re.compile(r"(.*?)(?:\[([^\[\]]+)\]|$)")
_PATTERN_ARG_RE = re.compile(r"(.*)<([^>]*)>$")


class _SkipPreviousText:
    """Replacement result meaning: drop this pattern and the literal text before it."""


SKIP_PREVIOUS_TEXT = _SkipPreviousText()


def sanitize_filename_part(
    text: str | None,
    replace_spaces: bool = True,
    *,
    unix: bool = False,
    max_length: int = MAX_FILENAME_PART_LENGTH,
) -> str | None:
    """A1111's sanitize_filename_part: safe for a file name on any OS, at most ``max_length`` chars."""
    if text is None:
        return None
    if replace_spaces:
        text = text.replace(" ", "_")
    invalid = UNIX_INVALID_FILENAME_CHARS if unix else INVALID_FILENAME_CHARS
    text = text.translate({ord(char): "_" for char in invalid})
    text = text.lstrip(INVALID_FILENAME_PREFIX)[:max_length]
    return text.rstrip(INVALID_FILENAME_POSTFIX)


@dataclass(frozen=True)
class FilenameData:
    """What the file name patterns may use; None means unknown (the [pattern] stays as written)."""

    seed: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    prompt_no_styles: str | None = None  # prompt without the applied styles; None: same as prompt
    styles: Sequence[str] = ()
    all_seeds: Sequence[int] = ()
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    scheduler: str | None = None  # resolved label (not "Automatic") for [scheduler]
    model_name: str | None = None
    model_hash: str | None = None
    vae_filename: str | None = None
    job_timestamp: str | None = None  # A1111: YYYYmmddHHMMSS of the job start
    batch_index: int = 0
    batch_size: int = 1
    iteration: int = 0
    n_iter: int = 1
    denoising_strength: float | None = None
    clip_skip: int | None = None
    user: str | None = None
    basename: str = ""
    now: datetime.datetime | None = None  # fixed clock for [date]/[datetime]; None: now


@dataclass(frozen=True)
class NamingRules:
    """A1111 settings that shape file names."""

    unix_sanitization: bool = False  # --unix-filenames-sanitization
    max_part_length: int = MAX_FILENAME_PART_LENGTH  # --filenames-max-length
    max_prompt_words: int = DEFAULT_MAX_PROMPT_WORDS  # directories_max_prompt_words


class FilenamePattern:
    """Fills an A1111 file name pattern for one image (A1111's FilenameGenerator)."""

    def __init__(self, data: FilenameData, image: Image.Image | None = None, rules: NamingRules = NamingRules()):
        self.data = data
        self.image = image
        self.rules = rules

    def sanitize(self, text: str | None, replace_spaces: bool = True) -> str | None:
        return sanitize_filename_part(
            text, replace_spaces, unix=self.rules.unix_sanitization, max_length=self.rules.max_part_length
        )

    # -- replacements: return a value, None (unknown: keep "[name]") or SKIP_PREVIOUS_TEXT
    def _seed_first(self) -> object:
        data = self.data
        return data.seed if data.batch_size == 1 or not data.all_seeds else data.all_seeds[0]

    def _seed_last(self) -> object:
        data = self.data
        return SKIP_PREVIOUS_TEXT if data.batch_size == 1 or not data.all_seeds else data.all_seeds[-1]

    def _styles(self) -> str | None:
        return self.sanitize(", ".join(s for s in self.data.styles if s != "None") or "None", False)

    def _sampler_scheduler(self, with_sampler: bool) -> object:
        data = self.data
        if data.sampler is None or data.scheduler is None:
            return SKIP_PREVIOUS_TEXT
        scheduler = data.scheduler.capitalize()  # as A1111's get_scheduler_str
        return self.sanitize(f"{data.sampler} {scheduler}" if with_sampler else scheduler, False)

    def _prompt_no_styles(self) -> str | None:
        text = self.data.prompt_no_styles if self.data.prompt_no_styles is not None else self.data.prompt
        return self.sanitize(text, False)

    def _prompt_words(self) -> str | None:
        words = [word for word in _NON_LETTERS_RE.split(self.data.prompt or "") if word] or ["empty"]
        return self.sanitize(" ".join(words[: self.rules.max_prompt_words]), False)

    def _batch_number(self) -> object:
        data = self.data
        return SKIP_PREVIOUS_TEXT if data.batch_size == 1 else data.batch_index + 1

    def _generation_number(self) -> object:
        data = self.data
        if data.n_iter == 1 and data.batch_size == 1:
            return SKIP_PREVIOUS_TEXT
        return data.iteration * data.batch_size + data.batch_index + 1

    def _now(self) -> datetime.datetime:
        return self.data.now or datetime.datetime.now()

    def _datetime(self, time_format: str = "", zone_name: str | None = None) -> str | None:
        zone = None
        if zone_name:
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                zone = None  # unknown zone: local time, as A1111
        moment = self._now().astimezone(zone)
        try:
            text = moment.strftime(time_format or DEFAULT_TIME_FORMAT)
        except (ValueError, TypeError):
            text = moment.strftime(DEFAULT_TIME_FORMAT)
        return self.sanitize(text, False)

    def _hasprompt(self, *args: str) -> str | None:
        if self.data.prompt is None:
            return None
        lower = self.data.prompt.lower()
        result = ""
        for arg in args:
            if arg == "":
                continue
            expected, _, default = arg.partition("|")
            expected = expected.lower()
            if expected in lower:
                result += expected
            elif default:
                result += default
        return self.sanitize(result)

    def _image_hash(self, length: str = "") -> str | None:
        if self.image is None:
            return None
        return hashlib.sha256(self.image.tobytes()).hexdigest()[: int(length) if length else None]

    @staticmethod
    def _string_hash(text: str | None, length: str = "") -> str | None:
        if text is None:
            return None
        return hashlib.sha256(text.encode()).hexdigest()[: int(length) if length else 8]

    def _full_prompt_hash(self, length: str = "") -> str | None:
        data = self.data
        if data.prompt is None or data.negative_prompt is None:
            return None
        return self._string_hash(f"{data.prompt} {data.negative_prompt}", length)

    def _vae_filename(self) -> str:
        if not self.data.vae_filename:
            return "NoneType"  # A1111's text when no VAE file is loaded
        parts = os.path.basename(self.data.vae_filename).split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "" else parts[0]

    def _replacements(self) -> dict[str, Callable[..., object]]:
        data = self.data
        return {
            "basename": lambda: data.basename or "img",
            "seed": lambda: data.seed if data.seed is not None else "",
            "seed_first": self._seed_first,
            "seed_last": self._seed_last,
            "steps": lambda: data.steps,
            "cfg": lambda: data.cfg_scale,
            "width": lambda: self.image.width if self.image is not None else None,
            "height": lambda: self.image.height if self.image is not None else None,
            "styles": self._styles,
            "sampler": lambda: self.sanitize(data.sampler, False),
            "sampler_scheduler": lambda: self._sampler_scheduler(True),
            "scheduler": lambda: self._sampler_scheduler(False),
            "model_hash": lambda: data.model_hash,
            "model_name": lambda: self.sanitize(data.model_name, False),
            "date": lambda: self._now().strftime("%Y-%m-%d"),
            "datetime": self._datetime,
            "job_timestamp": lambda: data.job_timestamp,
            "prompt_hash": lambda length="": self._string_hash(data.prompt, length),
            "negative_prompt_hash": lambda length="": self._string_hash(data.negative_prompt, length),
            "full_prompt_hash": self._full_prompt_hash,
            "prompt": lambda: self.sanitize(data.prompt),
            "prompt_no_styles": self._prompt_no_styles,
            "prompt_spaces": lambda: self.sanitize(data.prompt, False),
            "prompt_words": self._prompt_words,
            "batch_number": self._batch_number,
            "batch_size": lambda: data.batch_size,
            "generation_number": self._generation_number,
            "hasprompt": self._hasprompt,
            "clip_skip": lambda: data.clip_skip,
            "denoising": lambda: data.denoising_strength if data.denoising_strength else SKIP_PREVIOUS_TEXT,
            "user": lambda: self.sanitize(data.user, False),
            "vae_filename": self._vae_filename,
            "none": lambda: "",  # lets a pattern be just the counter
            "image_hash": self._image_hash,
        }

    def apply(self, pattern: str) -> str:
        """The pattern with every known [name] / [name<arg>...] replaced; unknown ones kept."""
        replacements = self._replacements()
        result = ""
        for match in _PATTERN_RE.finditer(pattern):
            text, name = match.groups()
            if name is None:
                result += text
                continue
            args: list[str] = []
            while (arg_match := _PATTERN_ARG_RE.match(name)) is not None:
                name, arg = arg_match.groups()
                args.insert(0, arg)
            replace = replacements.get(name.lower())
            value = None
            if replace is not None:
                try:
                    value = replace(*args)
                except (TypeError, ValueError) as error:
                    raise ValueError(f"file name pattern [{match.group(2)}]: {error}") from error
            if value is SKIP_PREVIOUS_TEXT:
                continue
            result += text + (f"[{match.group(2)}]" if value is None else str(value))
        return result


def get_next_sequence_number(directory: str | os.PathLike[str], basename: str = "") -> int:
    """A1111's counter: one more than the largest leading number of files named [basename-]NNNNN...

    Starts at 0; a missing directory counts as empty.
    """
    prefix = f"{basename}-" if basename else ""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    largest = -1
    for name in names:
        if not name.startswith(prefix):
            continue
        first_part = os.path.splitext(name[len(prefix):])[0].split("-")[0]
        if first_part.isascii() and first_part.isdigit():
            largest = max(largest, int(first_part))
    return largest + 1


def truncate_to_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def max_filename_bytes(directory: str | os.PathLike[str]) -> int:
    """Longest file name the file system takes in ``directory`` (255 where unknown)."""
    try:
        return os.statvfs(directory).f_namemax
    except (AttributeError, OSError):
        return 255
