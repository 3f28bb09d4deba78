"""Tokenize a prompt into CLIP-sized chunks: 75 prompt tokens + BOS + EOS, with per-token weights.

Follows A1111's tokenize_line: a chunk that fills up moves the text after its last comma into the
next chunk when that comma is within `comma_padding_backtrack` tokens of the end; `BREAK` closes
the chunk early; short chunks are padded with EOS (the encoder swaps padding for its own pad id).
Textual-inversion embeddings are found through an optional EmbeddingLookup and placed as
placeholder tokens whose input vectors the encoder overwrites.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, Sequence

import torch

from .attention import WeightedText, parse_prompt_attention
from .emphasis import check_emphasis_mode
from .schedules import prompt_schedules
from .composable import split_composable_prompt

CHUNK_LENGTH = 75
DEFAULT_COMMA_PADDING_BACKTRACK = 20
EMBEDDING_PLACEHOLDER_ID = 0


@dataclass(frozen=True, eq=False)  # identity equality: comparing tensors has no single truth value
class EmbeddingMatch:
    """A textual-inversion embedding whose name starts at a token position in the prompt."""

    name: str
    token_length: int  # how many prompt tokens spell the name
    vectors: torch.Tensor  # [vector_count, hidden] for this text encoder

    def __post_init__(self) -> None:
        if self.token_length < 1:
            raise ValueError(f"embedding {self.name!r}: token_length must be >= 1, got {self.token_length}")
        if self.vectors.ndim != 2 or self.vectors.shape[0] < 1:
            raise ValueError(f"embedding {self.name!r}: vectors must be [count >= 1, dim], got {tuple(self.vectors.shape)}")


class EmbeddingLookup(Protocol):
    def find_at(self, tokens: Sequence[int], position: int) -> EmbeddingMatch | None: ...


@dataclass(frozen=True)
class EmbeddingFix:
    offset: int  # index in the 77-token chunk of the first vector
    embedding: EmbeddingMatch


@dataclass(frozen=True)
class SpecialTokens:
    bos: int
    eos: int
    comma: int | None

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "SpecialTokens":
        comma = tokenizer.convert_tokens_to_ids(",</w>")
        return cls(tokenizer.bos_token_id, tokenizer.eos_token_id, comma if comma != tokenizer.unk_token_id else None)


@dataclass(frozen=True)
class PromptChunk:
    tokens: tuple[int, ...]  # CHUNK_LENGTH + 2 ids: BOS, 75 prompt/padding ids, EOS
    multipliers: tuple[float, ...]
    fixes: tuple[EmbeddingFix, ...] = ()


class TokenizedPrompt(NamedTuple):
    chunks: list[PromptChunk]
    token_count: int  # A1111's count: 75 per closed chunk + the tokens of the last one


class TokenCount(NamedTuple):
    token_count: int
    max_length: int  # token_count rounded up to a multiple of 75 (at least 75)


def empty_chunk(special: SpecialTokens) -> PromptChunk:
    """The chunk an empty prompt becomes; also fills batches whose prompts have fewer chunks."""
    return PromptChunk((special.bos,) + (special.eos,) * (CHUNK_LENGTH + 1), (1.0,) * (CHUNK_LENGTH + 2))


@dataclass
class _ChunkBuilder:
    special: SpecialTokens
    backtrack: int
    chunks: list[PromptChunk] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, EmbeddingMatch]] = field(default_factory=list)
    token_count: int = 0
    last_comma: int = -1

    def close(self, is_last: bool = False) -> None:
        self.token_count += len(self.tokens) if is_last else CHUNK_LENGTH
        padding = CHUNK_LENGTH - len(self.tokens)
        tokens = [self.special.bos, *self.tokens, *[self.special.eos] * padding, self.special.eos]
        multipliers = [1.0, *self.multipliers, *[1.0] * padding, 1.0]
        fixes = tuple(EmbeddingFix(offset + 1, match) for offset, match in self.fixes)
        self.chunks.append(PromptChunk(tuple(tokens), tuple(multipliers), fixes))
        self.tokens, self.multipliers, self.fixes, self.last_comma = [], [], [], -1

    def make_room(self, token: int) -> None:
        """Called before each prompt token (or embedding starting at it): comma bookkeeping,
        comma backtracking and closing a full chunk."""
        if token == self.special.comma:
            self.last_comma = len(self.tokens)
        elif self._should_backtrack():
            self._move_text_after_last_comma()
        if len(self.tokens) == CHUNK_LENGTH:
            self.close()

    def add_token(self, token: int, weight: float) -> None:
        self.tokens.append(token)
        self.multipliers.append(weight)

    def add_embedding(self, match: EmbeddingMatch, weight: float) -> None:
        count = int(match.vectors.shape[0])
        if count > CHUNK_LENGTH:
            raise ValueError(f"embedding {match.name!r} has {count} vectors; at most {CHUNK_LENGTH} fit a chunk")
        if len(self.tokens) + count > CHUNK_LENGTH:
            self.close()
        self.fixes.append((len(self.tokens), match))
        self.tokens += [EMBEDDING_PLACEHOLDER_ID] * count
        self.multipliers += [weight] * count

    def _should_backtrack(self) -> bool:
        return (
            self.backtrack != 0
            and len(self.tokens) == CHUNK_LENGTH
            and self.last_comma != -1
            and len(self.tokens) - self.last_comma <= self.backtrack
        )

    def _move_text_after_last_comma(self) -> None:
        cut = self.last_comma + 1
        moved_tokens, moved_multipliers = self.tokens[cut:], self.multipliers[cut:]
        moved_fixes = [(offset - cut, match) for offset, match in self.fixes if offset >= cut]
        self.tokens, self.multipliers = self.tokens[:cut], self.multipliers[:cut]
        self.fixes = [(offset, match) for offset, match in self.fixes if offset < cut]
        self.close()
        self.tokens, self.multipliers, self.fixes = moved_tokens, moved_multipliers, moved_fixes


def tokenize_prompt(
    text: str,
    tokenizer: Any,
    *,
    emphasis: str = "Original",
    comma_padding_backtrack: int = DEFAULT_COMMA_PADDING_BACKTRACK,
    embeddings: EmbeddingLookup | None = None,
) -> TokenizedPrompt:
    """Chunks for one (already scheduled, single sub-prompt) text, A1111's tokenize_line.

    With emphasis "None" the brackets are literal text and BREAK is not recognised (as in A1111).
    """
    check_emphasis_mode(emphasis)
    if not 0 <= comma_padding_backtrack < CHUNK_LENGTH:
        raise ValueError(f"comma_padding_backtrack must be in 0..{CHUNK_LENGTH - 1}, got {comma_padding_backtrack}")
    runs = parse_prompt_attention(text) if emphasis != "None" else [WeightedText(text, 1.0)]
    token_lists = tokenizer([run.text for run in runs], truncation=False, add_special_tokens=False)["input_ids"]

    builder = _ChunkBuilder(SpecialTokens.from_tokenizer(tokenizer), comma_padding_backtrack)
    for tokens, run in zip(token_lists, runs):
        if run.is_break:
            builder.close()
            continue
        position = 0
        while position < len(tokens):
            builder.make_room(tokens[position])
            match = embeddings.find_at(tokens, position) if embeddings is not None else None
            if match is None:
                builder.add_token(tokens[position], run.weight)
                position += 1
            else:
                builder.add_embedding(match, run.weight)
                position += match.token_length
    if builder.tokens or not builder.chunks:
        builder.close(is_last=True)
    return TokenizedPrompt(builder.chunks, builder.token_count)


def target_token_count(token_count: int) -> int:
    """Tokens the prompt may hold before it needs another chunk (multiple of 75, at least 75)."""
    return math.ceil(max(token_count, 1) / CHUNK_LENGTH) * CHUNK_LENGTH


def count_tokens(
    prompt: str,
    tokenizer: Any,
    steps: int,
    *,
    is_positive: bool = True,
    emphasis: str = "Original",
    comma_padding_backtrack: int = DEFAULT_COMMA_PADDING_BACKTRACK,
    embeddings: EmbeddingLookup | None = None,
) -> TokenCount:
    """The UI token counter: the longest scheduled variant of any AND part (only positive prompts
    are split on AND). Strip extra-network tags (`<lora:…>`) before calling, as A1111 does.
    """
    texts = [sub.text for sub in split_composable_prompt(prompt)] if is_positive else [prompt]
    variants = [entry.text for schedule in prompt_schedules(texts, steps) for entry in schedule]
    token_count = max(
        tokenize_prompt(
            text,
            tokenizer,
            emphasis=emphasis,
            comma_padding_backtrack=comma_padding_backtrack,
            embeddings=embeddings,
        ).token_count
        for text in dict.fromkeys(variants)
    )
    return TokenCount(token_count, target_token_count(token_count))
