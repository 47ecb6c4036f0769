"""Micro-batching: the rows of concurrent requests are scored together, one predict per batch.

Requests wait in a queue; one task takes everything waiting (up to
``max_rows``: a request that would pass it leads the next batch, and one
larger than it is a batch of its own, never split), concatenates it into one
DataFrame and scores it in a worker thread, so the event loop keeps
accepting. An idle server dispatches at once: a lone request is a batch of
one. While a batch is scored the next one gathers, which is where the
batching comes from (BentoML's adaptive batching and Ray Serve's
``@serve.batch`` work the same way). ``max_wait_s`` adds a wait for more
rows, only when other requests are in flight. A batch holding a request for
class probabilities is scored with them; each request takes its rows.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from easy_mlops.deployment.loading import Scores

log = logging.getLogger(__name__)

Scorer = Callable[[pd.DataFrame, bool], Scores]  # (rows, with class probabilities) -> scores


@dataclass
class Waiting:
    frame: pd.DataFrame
    future: asyncio.Future
    proba: bool = False
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class Batch:
    """What one predict scored: the requests' frames, their predictions, how long it took."""

    frames: list[pd.DataFrame]
    predictions: np.ndarray
    seconds: float

    @property
    def rows(self) -> int:
        return len(self.predictions)


class MicroBatcher:
    """Queue requests' frames and score them in batches with ``score`` (one thread, in order).

    ``on_batch(batch)`` runs in the scoring thread after each batch that
    succeeded (the server logs the predictions and counts them there); if it
    fails, that is logged and the batch's requests are answered all the same.
    """

    def __init__(
        self,
        score: Scorer,
        max_rows: int = 1024,
        max_wait_s: float = 0.0,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        self.score, self.max_rows, self.max_wait_s, self.on_batch = score, max_rows, max_wait_s, on_batch
        self.queue: asyncio.Queue[Waiting] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="easy-mlops-score")
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish what was queued, then stop."""
        await self.queue.join()
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=True)

    async def predict(self, frame: pd.DataFrame, proba: bool = False) -> Scores:
        """One prediction per row of ``frame`` (and, with ``proba``, its class probabilities),
        scored with whatever else is waiting."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(Waiting(frame, future, proba))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        leading: Waiting | None = None  # taken from the queue, too many rows for the last batch
        while True:
            batch = [leading if leading is not None else await self.queue.get()]
            leading = None
            rows = len(batch[0].frame)
            if self.max_wait_s and rows < self.max_rows and not self.queue.empty():
                await asyncio.sleep(self.max_wait_s)  # others are arriving: give them a moment
            while rows < self.max_rows and not self.queue.empty():
                waiting = self.queue.get_nowait()
                if rows + len(waiting.frame) > self.max_rows:
                    leading = waiting
                    break
                batch.append(waiting)
                rows += len(waiting.frame)
            try:
                await loop.run_in_executor(self.executor, self._score, batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _score(self, batch: list[Waiting]) -> None:
        """Score ``batch`` (in the scoring thread) and hand each request its predictions."""
        pending = [waiting for waiting in batch if not waiting.future.cancelled()]
        if not pending:
            return
        frames = [waiting.frame for waiting in pending]
        started = time.perf_counter()
        try:
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            scores = self.score(frame, any(waiting.proba for waiting in pending))
        except Exception as exc:
            if len(pending) == 1:
                self._resolve(pending[0], exception=exc)
                return
            # One bad request must not fail the others: score them one by one.
            for waiting in pending:
                self._score([waiting])
            return
        done = Batch(frames, scores.predictions, time.perf_counter() - started)
        if self.on_batch is not None:
            try:
                self.on_batch(done)
            except Exception:
                log.exception("could not record a batch of %d row(s)", done.rows)
        offset = 0
        for waiting in pending:
            rows = len(waiting.frame)
            self._resolve(waiting, result=scores[offset : offset + rows])
            offset += rows

    @staticmethod
    def _resolve(waiting: Waiting, result: Scores | None = None, exception: Exception | None = None) -> None:
        loop = waiting.future.get_loop()

        def settle() -> None:
            if waiting.future.done():
                return
            if exception is not None:
                waiting.future.set_exception(exception)
            else:
                waiting.future.set_result(result)

        loop.call_soon_threadsafe(settle)
