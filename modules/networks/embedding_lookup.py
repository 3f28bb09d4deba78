"""Find textual-inversion embedding names in a prompt's token ids (prompting's EmbeddingLookup).

As A1111's find_embedding_at_position: each name is tokenized once; candidates are indexed by
their first token and tried longest first, so "cat-toy-v2" wins over "cat" at the same place.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

import torch

from modules.prompting import EmbeddingMatch


def name_token_ids(tokenizer: Any, name: str) -> tuple[int, ...]:
    return tuple(tokenizer(name, add_special_tokens=False, truncation=False)["input_ids"])


class TokenPrefixLookup:
    """One text encoder's view of the loaded embeddings: token ids → that encoder's vectors."""

    def __init__(self, entries: Iterable[tuple[tuple[int, ...], str, torch.Tensor]]):
        by_first: dict[int, list[tuple[tuple[int, ...], EmbeddingMatch]]] = defaultdict(list)
        for ids, name, vectors in entries:
            if not ids:
                raise ValueError(f"embedding {name!r}: its name has no tokens")
            by_first[ids[0]].append((ids, EmbeddingMatch(name, len(ids), vectors)))
        self._by_first = {token: sorted(matches, key=lambda m: -len(m[0])) for token, matches in by_first.items()}

    def __len__(self) -> int:
        return sum(len(matches) for matches in self._by_first.values())

    def find_at(self, tokens: Sequence[int], position: int) -> EmbeddingMatch | None:
        for ids, match in self._by_first.get(tokens[position], ()):
            if tuple(tokens[position:position + len(ids)]) == ids:
                return match
        return None


def one_embedding_lookups(tokenizers: Sequence[Any], name: str,
                          vectors: Sequence[torch.Tensor]) -> list[TokenPrefixLookup]:
    """One lookup per text encoder placing a single embedding (one [count, width] tensor per
    encoder, trainable or not) wherever `name` is written: what training and its previews use."""
    if len(vectors) != len(tokenizers):
        raise ValueError(f"embedding {name!r}: {len(vectors)} vector sets for {len(tokenizers)} text encoders")
    return [TokenPrefixLookup([(name_token_ids(tokenizer, name), name, part)])
            for tokenizer, part in zip(tokenizers, vectors)]
