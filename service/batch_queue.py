"""What the batcher queues: items with a priority, grouped into per-shape buckets, and the two ways an
item's future is settled (both tolerate a future already cancelled or failed over)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from service.contract import Alpha, RGBImage


class Priority(IntEnum):
    FIRST = 0  # someone waits for this item (a photo): taken before any FILL item
    FILL = 1  # bulk work (a video frame): fills the room a batch has left; bounded by its owner


@dataclass(eq=False)
class Item:
    image: RGBImage
    future: asyncio.Future[Alpha]
    priority: Priority = Priority.FIRST
    enqueued_at: float = field(default_factory=time.monotonic)


class Bucket:
    """The items of one shape bucket, one queue per priority, each in arrival order."""

    def __init__(self) -> None:
        self.queues: dict[Priority, deque[Item]] = {p: deque() for p in Priority}

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def __iter__(self) -> Iterator[Item]:
        for queue in self.queues.values():
            yield from queue

    def head(self) -> Item:
        """The item the next batch starts with: the oldest of the highest priority."""
        return next(q[0] for q in self.queues.values() if q)

    def drop_done(self) -> list[Item]:
        """Removes and returns the items whose future is already settled (withdrawn by their owner)."""
        dropped = [item for item in self if item.future.done()]
        for priority, queue in self.queues.items():
            self.queues[priority] = deque(item for item in queue if not item.future.done())
        return dropped

    def popleft(self) -> Item:
        return next(q for q in self.queues.values() if q).popleft()


def resolve(item: Item, alpha: Alpha) -> None:
    # A future cancelled (or failed over) while its call ran must not raise InvalidStateError.
    if not item.future.done():
        item.future.set_result(alpha)


def fail(item: Item, error: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(error)
