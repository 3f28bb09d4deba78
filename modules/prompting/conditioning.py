"""Scheduled conditioning: prompts → per-step conditioning lookups (A1111's prompt_parser API).

`encode_prompts` is A1111's get_multicond_learned_conditioning (positive prompts: AND parts with
weights); `encode_prompt_schedules` is get_learned_conditioning (negative prompts: no AND).
Lookups take the sampler's step index as A1111's CFG denoiser passes it (0-based): the first
schedule entry with step <= end_at_step is used, and the first entry when none matches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from .composable import flatten_composable_prompts
from .schedules import prompt_schedules
from .text_encoder import Conditioning


class TextConditioner(Protocol):
    """Anything that turns plain texts into Conditioning, e.g. a PromptEncoder."""

    def encode_texts(self, texts: Sequence[str]) -> Conditioning: ...


@dataclass(frozen=True)
class ScheduledCond:
    end_at_step: int
    cross_attn: torch.Tensor  # [77 * chunks, dim]
    pooled: torch.Tensor | None = None  # [projection_dim]


CondSchedule = tuple[ScheduledCond, ...]


@dataclass(frozen=True)
class WeightedCondSchedule:
    """One AND part of a prompt: its schedule and its weight."""

    schedule: CondSchedule
    weight: float


@dataclass(frozen=True)
class MulticondBatch:
    """Conditioning for one step: rows of `cond`, and per image the (row, weight) of its parts."""

    conds_list: list[list[tuple[int, float]]]
    cond: Conditioning


@dataclass(frozen=True)
class ScheduledConditioning:
    """Per image of the batch, its AND parts (A1111's MulticondLearnedConditioning)."""

    batch: tuple[tuple[WeightedCondSchedule, ...], ...]

    def at_step(self, step: int) -> MulticondBatch:
        entries: list[ScheduledCond] = []
        conds_list = []
        for parts in self.batch:
            image_rows = []
            for part in parts:
                image_rows.append((len(entries), part.weight))
                entries.append(cond_at_step(part.schedule, step))
            conds_list.append(image_rows)
        return MulticondBatch(conds_list, _stack_entries(entries))


def cond_at_step(schedule: CondSchedule, step: int) -> ScheduledCond:
    for entry in schedule:
        if step <= entry.end_at_step:
            return entry
    return schedule[0]


def stack_at_step(schedules: Sequence[CondSchedule], step: int) -> Conditioning:
    """A batch (e.g. of negative prompts) at one step, A1111's reconstruct_cond_batch."""
    return _stack_entries([cond_at_step(schedule, step) for schedule in schedules])


def pad_to_length(cross_attn: torch.Tensor, length: int) -> torch.Tensor:
    """Lengthen [tokens, dim] to `length` tokens by repeating the last vector (A1111's stack_conds)."""
    missing = length - cross_attn.shape[0]
    if missing <= 0:
        return cross_attn
    return torch.cat([cross_attn, cross_attn[-1:].expand(missing, -1)], dim=0)


def _stack_entries(entries: list[ScheduledCond]) -> Conditioning:
    length = max(entry.cross_attn.shape[0] for entry in entries)
    cross_attn = torch.stack([pad_to_length(entry.cross_attn, length) for entry in entries])
    pooled = None
    if all(entry.pooled is not None for entry in entries):
        pooled = torch.stack([entry.pooled for entry in entries])
    return Conditioning(cross_attn, pooled)


def encode_prompt_schedules(
    encoder: TextConditioner,
    prompts: Sequence[str],
    steps: int,
    hires_steps: int | None = None,
    legacy_scheduling: bool = False,
) -> list[CondSchedule]:
    """Each prompt's schedule with its conditioning; each prompt's variants are encoded as one
    batch (so "Original" emphasis normalises over them together, as in A1111)."""
    if not prompts:
        raise ValueError("prompts must not be empty")
    schedules = prompt_schedules(prompts, steps, hires_steps, legacy_scheduling)
    encoded: dict[str, CondSchedule] = {}
    for prompt, schedule in zip(prompts, schedules):
        if prompt in encoded:
            continue
        cond = encoder.encode_texts([entry.text for entry in schedule])
        encoded[prompt] = tuple(
            ScheduledCond(entry.end_at_step, cond.cross_attn[i], None if cond.pooled is None else cond.pooled[i])
            for i, entry in enumerate(schedule)
        )
    return [encoded[prompt] for prompt in prompts]


def encode_prompts(
    encoder: TextConditioner,
    prompts: Sequence[str],
    steps: int,
    hires_steps: int | None = None,
    legacy_scheduling: bool = False,
) -> ScheduledConditioning:
    """Positive prompts: split on AND (weights `text :1.2`), schedule and encode every part."""
    if not prompts:
        raise ValueError("prompts must not be empty")
    flat = flatten_composable_prompts(prompts)
    schedules = encode_prompt_schedules(encoder, flat.texts, steps, hires_steps, legacy_scheduling)
    batch = tuple(
        tuple(WeightedCondSchedule(schedules[index], weight) for index, weight in parts) for parts in flat.indexes
    )
    return ScheduledConditioning(batch)
