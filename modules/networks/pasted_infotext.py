"""Pasted infotext: `<lora:name:…>` tags whose file has been renamed since are pointed at it again.

The infotext's `Lora hashes` ("name: hash, name2: hash2") says which file each tag meant; a name
that is no longer in the library but whose hash matches a file there is replaced by that file's
name (A1111's Lora infotext_pasted callback). Tags whose name still exists are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from modules.networks.lora_files import LoraLibrary
from modules.networks.lora_patching import hash_list_name

LORA_TAG_NAME = re.compile(r"<(lora|lyco):([^:>]+)")
PROMPT_FIELDS = ("Prompt", "Hires prompt")  # the fields whose tags a generation applies
HASHES_FIELD = "Lora hashes"


def parse_lora_hashes(text: str) -> dict[str, str]:
    """{name: hash} from an infotext's `Lora hashes` value; malformed items are skipped."""
    hashes = {}
    for item in text.strip().strip('"').split(","):
        name, colon, digest = item.partition(":")
        if colon and name.strip() and digest.strip():
            hashes[name.strip()] = digest.strip()
    return hashes


def relink_lora_tags(prompt: str, hashes: Mapping[str, str], library: LoraLibrary) -> str:
    """`prompt` with each tag naming a missing LoRA renamed to the file that has its hash."""

    def relinked(match: re.Match) -> str:
        kind, name = match.group(1), match.group(2)
        digest = hashes.get(hash_list_name(name))
        if digest is None or library.find(name) is not None:
            return match.group(0)
        current = library.find_by_hash(digest)
        return f"<{kind}:{current}" if current is not None else match.group(0)

    return LORA_TAG_NAME.sub(relinked, prompt)


def relink_pasted_loras(fields: Mapping[str, object], library: LoraLibrary) -> dict[str, object]:
    """Parsed infotext fields (images.parse_infotext) with their prompts' LoRA tags relinked."""
    relinked = dict(fields)
    hashes = parse_lora_hashes(str(fields.get(HASHES_FIELD) or ""))
    if not hashes:
        return relinked
    for key in PROMPT_FIELDS:
        text = fields.get(key)
        if isinstance(text, str):
            relinked[key] = relink_lora_tags(text, hashes, library)
    return relinked
