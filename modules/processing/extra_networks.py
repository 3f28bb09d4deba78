"""Extra networks in a generation: `<lora:…>` tags patched into the weights, embeddings
looked up during text encoding, and their hashes in the infotext (A1111's behaviour)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from modules import networks
from modules.processing.params import ParamsError


def strip_network_tags(prompt: str) -> str:
    """The prompt the text encoder sees: tags removed (they stay in the saved infotext)."""
    return networks.extract_networks(prompt)[0]


@dataclass
class ExtraNetworks:
    embeddings: networks.EmbeddingDatabase | None = None
    loras: networks.LoraLibrary | None = None

    def uses(self, prompt: str) -> list[networks.NetworkUse]:
        try:
            return networks.extract_networks(prompt)[1]
        except ValueError as e:
            raise ParamsError("prompt", str(e)) from None

    def lookups(self, model: Any) -> list | None:
        return self.embeddings.load(model).lookups if self.embeddings is not None else None

    @contextlib.contextmanager
    def applied(self, model: Any, uses: list[networks.NetworkUse]) -> Iterator[networks.ApplyReport | None]:
        """`uses` patched into `model` for the body (kept afterwards, so applying the same set
        again costs nothing). The report's warnings name each file that did not apply cleanly."""
        if self.loras is None:
            if uses:
                raise ParamsError("prompt", "LoRA tags need a LoRA folder; none is configured")
            yield None
            return
        with networks.apply_networks(model, uses, self.loras) as report:
            yield report

    def infotext_fields(self, model: Any, reports: Sequence[networks.ApplyReport | None],
                        texts: list[str]) -> dict[str, Any]:
        """`Lora hashes` of every pass's networks (first pass first, no repeats) and `TI hashes`
        of the embeddings `texts` use."""
        fields: dict[str, Any] = {}
        lora_hashes = [h for r in reports if r is not None and r.lora_hashes for h in r.lora_hashes.split(", ")]
        if lora_hashes:
            fields["Lora hashes"] = ", ".join(dict.fromkeys(lora_hashes))
        if self.embeddings is not None:
            hashes = self.embeddings.load(model).ti_hashes([strip_network_tags(t) for t in texts])
            if hashes:
                fields["TI hashes"] = hashes
        return fields
