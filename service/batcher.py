"""Asyncio dynamic batcher between the HTTP handlers and one engine.

Shape taken from Ray Serve's batcher: a queue of small records (image + future); the loop blocks on
the first item, then waits until `max_batch_size` items of the same shape bucket are there or
`max_wait_s` has passed since that first item (event-driven, no polling). Requests whose future was
cancelled (client left, deadline passed) are dropped before the engine sees them.

Admission is bounded: `submit` refuses at once with `QueueFullError` when `max_queue` items wait,
instead of queueing without limit (text-embeddings-inference's admission).

Two priorities share one engine: `Priority.FIRST` items (photos: someone waits for each) are taken
before any `Priority.FILL` item (video frames), which only fill the room a batch has left. FILL
items are not counted against `max_queue` and never refused for it: their owner bounds them (a clip
has at most `video_frames_in_flight` frames queued), so bulk work neither starves photos in the
engine nor takes their places in the queue. Batches run in a
dedicated executor with `concurrency` workers: 1 for a GPU engine, so one batch at a time owns the
device, more for CPU engines such as GrabCut.

A failed batch is retried item by item before anything is failed, so one poisoned image costs only
its own result (and only it falls back to GrabCut). With `stall_timeout_s`, an engine call that has
not returned in that time (and no other call returned meanwhile) marks the batcher `stalled`: every
item it holds fails with `EngineStalledError`, and so does every new submit, until the engine
returns; /readyz reports it, the pipeline serves those items with GrabCut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor

from service.batch_queue import Bucket, Item, Priority, fail, resolve
from service.contract import Alpha, EngineError, MattingEngine, RGBImage
from service.metrics import Metrics

log = logging.getLogger(__name__)


class QueueFullError(Exception):
    """Admission refused: `max_queue` items are already waiting."""


class BatcherClosedError(Exception):
    """The batcher is draining or stopped and admits nothing new."""


class EngineStalledError(EngineError):
    """The engine has not returned from a call within `stall_timeout_s`."""

    fallback_reason = "engine_timeout"


class DynamicBatcher:
    def __init__(
        self,
        engine: MattingEngine,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        metrics: Metrics,
        concurrency: int = 1,
        stall_timeout_s: float | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or concurrency < 1:
            raise ValueError("max_batch_size, max_queue and concurrency must be >= 1")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._metrics = metrics
        self._buckets: dict[Hashable, Bucket] = {}
        self._waiting = 0
        self._waiting_first = 0  # the FIRST items among them: what `max_queue` bounds
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix=f"engine-{engine.name}")
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False
        self.stall_timeout_s = stall_timeout_s
        self._stalled = False
        self._last_return = time.monotonic()  # when an engine call last returned (or raised)
        self._in_engine: set[Item] = set()  # items of the batches being run now

    # ------------------------------------------------------------------ public API
    @property
    def depth(self) -> int:
        """Items admitted and not yet handed to the engine."""
        return self._waiting

    @property
    def first_depth(self) -> int:
        """`Priority.FIRST` items (photos) waiting: what a new photo queues behind."""
        return self._waiting_first

    @property
    def stalled(self) -> bool:
        """An engine call has been running longer than `stall_timeout_s` with no other returning."""
        return self._stalled

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(
                self._batch_loop(), name=f"batcher-{self.engine.name}"
            )

    def submit(self, image: RGBImage, priority: Priority = Priority.FIRST) -> asyncio.Future[Alpha]:
        """Admit one image; the returned future resolves to its alpha. Cancel the future to withdraw
        the item: it is then dropped before inference. A FIRST item is refused with
        `QueueFullError` when `max_queue` FIRST items wait; a FILL item is never refused for that."""
        if self._closing:
            raise BatcherClosedError("not accepting new work: shutting down")
        if self._stalled:
            raise EngineStalledError(f"{self.engine.name} is not answering (stalled engine call)")
        if priority is Priority.FIRST and self._waiting_first >= self.max_queue:
            self._purge_cancelled()
            if self._waiting_first >= self.max_queue:
                raise QueueFullError(f"{self._waiting_first} items already waiting for {self.engine.name}")
        key = self.engine.bucket_key(image)
        item = Item(image, asyncio.get_running_loop().create_future(), priority)
        self._buckets.setdefault(key, Bucket()).queues[priority].append(item)
        self._count(item, +1)
        self._arrived.set()
        return item.future

    async def stop(self, timeout_s: float) -> None:
        """Drain: admit nothing new, finish everything admitted within `timeout_s`, then fail the
        rest (nothing is silently lost: each leftover future gets an error)."""
        self._closing = True
        self._arrived.set()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._loop_task), timeout_s)
            except TimeoutError:
                log.warning(
                    "%s batcher: drain timed out with %d items waiting", self.engine.name, self._waiting
                )
                self._loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop_task
        for bucket in self._buckets.values():
            for item in bucket:
                if not item.future.done():
                    item.future.set_exception(BatcherClosedError("shut down before this item ran"))
        self._buckets.clear()
        self._waiting_first = 0
        self._set_waiting(0)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ the loop
    async def _batch_loop(self) -> None:
        while True:
            if self._waiting == 0:
                if self._closing:
                    break
                self._arrived.clear()
                await self._arrived.wait()
                continue
            # Take a worker slot *before* forming the batch: while the engine is busy, items keep
            # arriving, so the batch we form when it frees up is as full as it can be.
            await self._slots.acquire()
            batch = await self._collect_batch()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._batch_done)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _collect_batch(self) -> list[Item]:
        if not self._buckets:  # purged by `submit` while we waited for a slot
            return []
        key, first = self._oldest()
        window_end = first.enqueued_at + self.max_wait_s
        while len(self._buckets.get(key, ())) < self.max_batch_size and not self._closing:
            remaining = window_end - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        bucket = self._buckets.get(key)
        batch: list[Item] = []
        while bucket and len(batch) < self.max_batch_size:
            item = bucket.popleft()
            self._count(item, -1)
            if item.future.done():  # cancelled: the client left or its deadline passed
                self._metrics.dropped.labels(self.engine.name, "cancelled").inc()
                continue
            batch.append(item)
        if bucket is not None and not bucket:
            del self._buckets[key]
        return batch

    async def _run_batch(self, batch: list[Item]) -> None:
        started = time.monotonic()
        for item in batch:
            self._metrics.queue_wait.labels(self.engine.name).observe(started - item.enqueued_at)
        self._in_engine.update(batch)
        try:
            alphas = await self._call([item.image for item in batch])
        except Exception as exc:
            if len(batch) == 1:
                fail(batch[0], exc)
            else:
                log.warning(
                    "%s batch of %d failed (%r); retrying each item alone", self.engine.name, len(batch), exc
                )
                await self._retry_alone(batch)
        else:
            for item, alpha in zip(batch, alphas, strict=True):
                resolve(item, alpha)
        finally:
            self._in_engine.difference_update(batch)

    async def _retry_alone(self, batch: list[Item]) -> None:
        """One bad image must not take its batch-mates down with it: only an item that fails on its
        own gets the error (and the GrabCut fallback)."""
        for item in batch:
            if item.future.done():  # withdrawn meanwhile, or failed over by the stall watchdog
                continue
            try:
                (alpha,) = await self._call([item.image])
            except Exception as exc:
                fail(item, exc)
            else:
                resolve(item, alpha)

    async def _call(self, images: list[RGBImage]) -> list[Alpha]:
        """One engine call in the executor, watched for stalls."""
        name = self.engine.name
        self._metrics.batch_size.labels(name).observe(len(images))
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        watchdog = None
        if self.stall_timeout_s is not None:
            watchdog = loop.call_later(self.stall_timeout_s, self._on_stall, started)
        try:
            alphas = await loop.run_in_executor(self._executor, self.engine.predict_batch, images)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self._last_return = time.monotonic()
            if self._stalled:
                log.warning("%s engine answered again after a stall", name)
                self._stalled = False
            self._metrics.inference_duration.labels(name).observe(time.monotonic() - started)
        if len(alphas) != len(images):
            raise EngineError(f"{name} returned {len(alphas)} results for a batch of {len(images)}")
        return alphas

    def _on_stall(self, call_started: float) -> None:
        if self._last_return > call_started:  # another worker's call returned: the engine moves
            return
        self._stalled = True
        error = EngineStalledError(f"{self.engine.name} has not answered in {self.stall_timeout_s:g} s")
        held = [*self._in_engine, *(item for bucket in self._buckets.values() for item in bucket)]
        log.error("%s engine stalled: failing over %d items", self.engine.name, len(held))
        for item in held:
            fail(item, error)
        self._buckets.clear()
        self._waiting_first = 0
        self._set_waiting(0)

    # ------------------------------------------------------------------ helpers
    def _oldest(self) -> tuple[Hashable, Item]:
        """The bucket to batch next: the one whose head has the highest priority, oldest first."""
        heads = ((k, b.head()) for k, b in self._buckets.items() if b)
        return min(heads, key=lambda kv: (kv[1].priority, kv[1].enqueued_at))

    def _purge_cancelled(self) -> None:
        for key in list(self._buckets):
            dropped = self._buckets[key].drop_done()
            for item in dropped:
                self._count(item, -1)
            if dropped:
                self._metrics.dropped.labels(self.engine.name, "cancelled").inc(len(dropped))
            if not self._buckets[key]:
                del self._buckets[key]

    def _count(self, item: Item, change: int) -> None:
        if item.priority is Priority.FIRST:
            self._waiting_first += change
        self._set_waiting(self._waiting + change)

    def _set_waiting(self, value: int) -> None:
        self._waiting = value
        self._metrics.queue_depth.labels(self.engine.name).set(value)
