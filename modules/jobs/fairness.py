"""Fair order across owners: round-robin by owner, FIFO within one owner.

The order is derived from what the store already records (submission and start sequence
numbers), so it survives a restart and needs no scheduler state of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OwnerTurn:
    """One owner with work waiting.

    oldest_seq: submission number of the owner's oldest queued job (FIFO within the owner).
    last_served: start number of the owner's most recently started job; None if never served.
    """

    owner: str
    oldest_seq: int
    last_served: int | None


def turn_order_key(turn: OwnerTurn) -> tuple[bool, int, int]:
    # never served first, then least recently served; ties go to the longest wait
    return (turn.last_served is not None, turn.last_served or 0, turn.oldest_seq)


def next_owner(turns: Iterable[OwnerTurn]) -> OwnerTurn | None:
    """The owner whose oldest queued job runs next, or None when nothing waits."""
    return min(turns, key=turn_order_key, default=None)
