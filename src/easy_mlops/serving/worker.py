"""One worker process's serving state, without the web framework.

The deployment it serves (swapped on reload), the micro-batcher scoring for
it, its metrics, and the thread that logs what it scored: every served
prediction goes to the deployment's ``logs/`` exactly as ``predict`` logs it
(records with ``"source": "serve"``), one append per batch, so the event loop
never waits on a disk. On :meth:`Worker.stop` the queued batches are scored
and every answered prediction is written first.
"""

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.deployment.catalog import LATEST, resolve_deployment
from easy_mlops.deployment.loading import Deployment, Scores
from easy_mlops.errors import MLOpsError
from easy_mlops.log_shipping import Shipper
from easy_mlops.monitoring import deployment_monitor
from easy_mlops.serving.batching import Batch, MicroBatcher
from easy_mlops.serving.handlers import Answer, invocations
from easy_mlops.serving.metrics import ServerMetrics

log = logging.getLogger(__name__)

SOURCE = {"source": "serve"}
# Served batches are small and many: the steps bring their files (the log's
# index, drift counts) up to date at most this often; status reads the rest.
WRITE_EVERY_S = 1.0


class PredictionLogWriter:
    """Appends served batches to their deployment's logs from one thread, in the order they were scored.

    Batches that queued up while the last append ran are written together.
    Idle, it writes what the steps gathered within ``WRITE_EVERY_S``. A
    deployment with a log location (:mod:`easy_mlops.log_shipping`) gets its
    spool shipped when the writer starts (what a killed server left), as
    often as its run says, and when the writer closes.
    """

    def __init__(self, served: Deployment | None = None) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.logs: dict[Path, tuple[Any, Shipper]] = {}
        self.unflushed: set[Path] = set()
        self.thread = threading.Thread(target=self._run, args=(served,), name="easy-mlops-log", daemon=True)
        self.thread.start()

    def put(self, deployment: Deployment, predictions: np.ndarray, frames: list[pd.DataFrame]) -> None:
        self.queue.put((deployment, predictions, frames))

    def close(self) -> None:
        """Write everything queued, ship it, then stop."""
        self.queue.put(None)
        self.thread.join()

    def _run(self, served: Deployment | None) -> None:
        if served is not None:
            self._guarded(lambda: self._logs_of(served))
        stopping = False
        while not stopping:
            try:
                queued = [self.queue.get(timeout=WRITE_EVERY_S)]
            except queue.Empty:
                self._guarded(self._idle)
                continue
            while not self.queue.empty():  # whatever else waits goes in the same append
                queued.append(self.queue.get_nowait())
            stopping = queued[-1] is None
            for group in _by_deployment([item for item in queued if item is not None]):
                self._guarded(partial(self._log, *group), len(group[1]))
        for monitor, shipper in self.logs.values():  # what was gathered since the last write
            self._guarded(monitor.flush)
            self._guarded(shipper.ship)

    def _logs_of(self, deployment: Deployment) -> tuple[Any, Shipper]:
        if deployment.directory not in self.logs:
            monitor = deployment_monitor(deployment.directory)
            monitor.defer_writes(WRITE_EVERY_S)
            shipper = Shipper(deployment.directory)
            shipper.ship()  # rows a killed server left in this machine's spool
            self.logs[deployment.directory] = (monitor, shipper)
        return self.logs[deployment.directory]

    def _log(self, deployment: Deployment, predictions: np.ndarray, inputs: pd.DataFrame) -> None:
        monitor, shipper = self._logs_of(deployment)
        monitor.log_predictions(predictions, deployment.version, SOURCE, inputs)
        self.unflushed.add(deployment.directory)
        if shipper.logged_rows(len(predictions)):
            monitor.flush()
            shipper.ship()

    def _idle(self) -> None:
        """Nothing queued for a while: write what the steps gathered, ship what is due."""
        for directory in self.unflushed:
            self.logs[directory][0].flush()
        self.unflushed.clear()
        for _, shipper in self.logs.values():
            if shipper.due():
                shipper.ship()

    @staticmethod
    def _guarded(work: Callable[[], Any], rows: int | None = None) -> None:
        try:
            work()
        except Exception:  # the server keeps answering; the failure is said once per write
            what = "write the served predictions' logs" if rows is None else f"log {rows} served predictions"
            log.exception("could not %s", what)


def _by_deployment(items: list[tuple]) -> list[tuple[Deployment, np.ndarray, pd.DataFrame]]:
    """Consecutive batches of one deployment joined, in order: one lock, one append, one fsync."""
    groups: list[tuple[Deployment, list[np.ndarray], list[pd.DataFrame]]] = []
    for deployment, predictions, frames in items:
        if groups and groups[-1][0] is deployment:
            groups[-1][1].append(predictions)
            groups[-1][2].extend(frames)
        else:
            groups.append((deployment, [predictions], list(frames)))
    return [
        (deployment, np.concatenate(parts), pd.concat(frames, ignore_index=True))
        for deployment, parts, frames in groups
    ]


class Worker:
    """The deployment one worker serves, the batcher scoring for it, its metrics and its log writer.

    :meth:`start` and :meth:`stop` run in the worker's event loop (the web
    app's lifespan calls them); :meth:`invoke` answers ``POST /invocations``.
    """

    def __init__(
        self,
        deployment: Deployment,
        reference: str,
        settings: Any,
        output_dir: str | None = None,
        on_reloaded: Callable[[Deployment], None] | None = None,
        on_refused: Callable[[Path, str], None] | None = None,
    ) -> None:
        """``on_reloaded`` and ``on_refused`` hear how a reload went (the server's parent says it once
        for all its workers); without them, this worker logs it."""
        self.deployment, self.reference, self.settings = deployment, reference, settings
        self.output_dir = output_dir
        self.on_reloaded = on_reloaded or (
            lambda loaded: log.warning("reloaded: now serving %s (version %s)", loaded.name, loaded.version)
        )
        self.on_refused = on_refused or (
            lambda directory, reason: log.warning("not reloading %s: %s", directory, reason)
        )
        self.reloading = asyncio.Lock()
        self.scored_by = deployment

    def start(self) -> None:
        """Metrics, the log writer and the batcher (in the running event loop)."""
        self.metrics = ServerMetrics()
        self.metrics.serving(self.deployment.name, self.deployment.version)
        self.writer = PredictionLogWriter(self.deployment)
        self.batcher = MicroBatcher(
            self.score, self.settings.max_batch_rows, self.settings.max_wait_ms / 1000, self.scored
        )
        self.batcher.start()

    async def stop(self) -> None:
        """Score what is queued, then write every answered prediction."""
        await self.batcher.stop()
        self.writer.close()

    async def invoke(self, body: bytes, content_type: str, query: Mapping[str, str]) -> Answer:
        """``POST /invocations``, by the deployment served now."""
        return await invocations(
            body, content_type, query, self.deployment, self.batcher.predict, self.settings.timeout_s
        )

    def score(self, frame: pd.DataFrame, proba: bool) -> Scores:
        """The scoring thread's call: the deployment served now scores the whole batch."""
        self.scored_by = deployment = self.deployment
        return deployment.score(frame, proba=proba)

    def scored(self, batch: Batch) -> None:
        self.writer.put(self.scored_by, batch.predictions, batch.frames)
        self.metrics.scoring_seconds.observe(batch.seconds)
        self.metrics.batch_rows.observe(batch.rows)
        self.metrics.served(
            batch.predictions, self.deployment.metadata.get("problem_type") == "classification"
        )

    async def reload(self) -> bool:
        """Take a newer deployment under ``latest``: verified and loaded first, then swapped in.

        Batches being scored finish on the model they started with.
        """
        if self.reference != LATEST:
            return False
        async with self.reloading:
            newest = await asyncio.to_thread(resolve_deployment, LATEST, self.output_dir)
            if newest.resolve() == self.deployment.directory.resolve():
                return False
            try:
                loaded = await asyncio.to_thread(Deployment.load, newest)
            except MLOpsError as exc:
                self.on_refused(newest, str(exc))
                return False
            previous = (self.deployment.name, self.deployment.version)
            self.deployment = loaded
            self.metrics.serving(loaded.name, loaded.version, previous)
            self.on_reloaded(loaded)
            return True
