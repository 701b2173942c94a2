"""Server-side batching, after TF Serving's shared batch scheduler and batching session.

Requests to the same servable and signature whose inputs agree on dtype and on every
dimension but the first join one queue. A queue's open batch closes when the next
request would overflow `max_batch_size`; a batch is scheduled when it is closed, full,
or its first request has waited `batch_timeout_micros`, and at most
`num_batch_threads` batches run at once (shared by every queue). The batch runs once
on the inputs concatenated along dimension 0 and each caller gets its own rows back.
Requests that cannot be concatenated (a scalar input, inputs that disagree on their
first dimension) run alone.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from concurrent.futures import Executor
from typing import Mapping

import numpy as np

from serving import errors
from serving.config import BatchingOptions
from serving.inference import Tensors
from serving.metrics import ServingMetrics
from serving.servable import SavedModelServable

QueueKey = tuple[SavedModelServable, str, tuple]


@dataclasses.dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    size: int
    future: asyncio.Future
    enqueued_at: float


@dataclasses.dataclass
class _Queue:
    batches: collections.deque = dataclasses.field(default_factory=lambda: collections.deque([[]]))
    open_since: float = 0.0
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    @property
    def open_batch(self) -> list[_Task]:
        return self.batches[-1]

    def open_size(self) -> int:
        return sum(task.size for task in self.open_batch)


def batch_size_of(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The shared first dimension of all inputs, or None when they cannot be batched."""
    sizes = {value.shape[0] if value.ndim else None for value in inputs.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()


def _shape_key(inputs: Mapping[str, np.ndarray]) -> tuple:
    return tuple(sorted((name, value.dtype.str, value.shape[1:]) for name, value in inputs.items()))


class BatchScheduler:
    """A Runner that merges concurrent requests into batches."""

    def __init__(self, options: BatchingOptions, executor: Executor, metrics: ServingMetrics):
        self._options = options
        self._executor = executor
        self._metrics = metrics
        self._timeout = options.batch_timeout_micros / 1e6
        self._queues: dict[QueueKey, _Queue] = {}
        self._threads = asyncio.Semaphore(options.num_batch_threads)
        self._running: set[asyncio.Task] = set()

    async def run(self, servable: SavedModelServable, signature_name: str, inputs: Mapping[str, np.ndarray]) -> Tensors:
        size = batch_size_of(inputs)
        if not size:
            return await self._run_alone(servable, signature_name, inputs)
        if size > self._options.max_batch_size:
            raise errors.invalid_argument(
                f"Task size {size} is larger than maximum input batch size {self._options.max_batch_size}")
        loop = asyncio.get_running_loop()
        key = (servable, signature_name, _shape_key(inputs))
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
            self._spawn(self._dispatch(key, queue))
        if queue.open_size() + size > self._options.max_batch_size:
            if len(queue.batches) >= self._options.max_enqueued_batches:
                raise errors.unavailable(
                    f"The batch scheduling queue to which this task was submitted is full; currently "
                    f"{len(queue.batches)} batches enqueued and max_enqueued_batches is "
                    f"{self._options.max_enqueued_batches}")
            queue.batches.append([])
        if not queue.open_batch:
            queue.open_since = loop.time()
        task = _Task(inputs, size, loop.create_future(), time.perf_counter())
        queue.open_batch.append(task)
        queue.changed.set()
        self._metrics.input_batch_size.observe(size)
        return await task.future

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _dispatch(self, key: QueueKey, queue: _Queue) -> None:
        """Schedules the queue's batches until it is empty, then retires the queue."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                if len(queue.batches) == 1:
                    if not queue.open_batch:
                        return
                    deadline = queue.open_since + self._timeout
                    while (len(queue.batches) == 1 and queue.open_size() < self._options.max_batch_size
                           and loop.time() < deadline):
                        queue.changed.clear()
                        try:
                            await asyncio.wait_for(queue.changed.wait(), deadline - loop.time())
                        except asyncio.TimeoutError:
                            pass
                await self._threads.acquire()
                # Taken after a thread is free, so requests that arrived meanwhile ride along.
                batch = queue.batches.popleft()
                if not queue.batches:
                    queue.batches.append([])
                self._spawn(self._process(key, batch))
        finally:
            del self._queues[key]

    async def _process(self, key: QueueKey, batch: list[_Task]) -> None:
        servable, signature_name, _ = key
        try:
            await self._run_batch(servable, signature_name, batch)
        except Exception as exc:  # every caller must get an answer
            failure = exc if isinstance(exc, errors.ServingError) else errors.internal(f"{type(exc).__name__}: {exc}")
            for task in batch:
                _settle(task.future, exc=failure)
        finally:
            self._threads.release()

    async def _run_batch(self, servable: SavedModelServable, signature_name: str, batch: list[_Task]) -> None:
        started = time.perf_counter()
        for task in batch:
            self._metrics.queuing_latency.labels(self._options.thread_pool_name).observe(
                (started - task.enqueued_at) * 1e6)
        total = sum(task.size for task in batch)
        merged = batch[0].inputs if len(batch) == 1 else {
            name: np.concatenate([task.inputs[name] for task in batch]) for name in batch[0].inputs
        }
        self._metrics.batch_runs.inc()
        self._metrics.processed_batch_size.observe(total)
        outputs = await self._run_alone(servable, signature_name, merged)
        if all(value.ndim and value.shape[0] == total for value in outputs.values()):
            offset = 0
            for task in batch:
                _settle(task.future, {name: value[offset:offset + task.size] for name, value in outputs.items()})
                offset += task.size
            return
        # Outputs are not batch-major, so they cannot be split: give each request its own run.
        for task in batch:
            try:
                _settle(task.future, await self._run_alone(servable, signature_name, task.inputs))
            except errors.ServingError as exc:
                _settle(task.future, exc=exc)

    async def _run_alone(self, servable: SavedModelServable, signature_name: str,
                         inputs: Mapping[str, np.ndarray]) -> Tensors:
        return await asyncio.get_running_loop().run_in_executor(self._executor, servable.run, signature_name, inputs)


def _settle(future: asyncio.Future, result: Tensors | None = None, exc: Exception | None = None) -> None:
    if future.done():  # the caller went away
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
