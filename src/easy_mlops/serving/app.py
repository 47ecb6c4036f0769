"""The ASGI application one worker process runs: MLflow's scoring protocol plus health, metadata,
metrics and the OpenAPI document.

Every served prediction is logged to the deployment's ``logs/`` exactly as
``predict`` logs (records with ``"source": "serve"``), one append per batch,
by a writer thread: the event loop never waits on a disk. On shutdown the
queued batches are scored and every answered prediction is written first.
"""

import asyncio
import hmac
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from easy_mlops.deployment.catalog import LATEST, resolve_deployment
from easy_mlops.deployment.loading import Deployment, Scores
from easy_mlops.errors import DataError, DeploymentError, MLOpsError
from easy_mlops.jsonsafe import json_values
from easy_mlops.monitoring import deployment_monitor
from easy_mlops.serving.batching import Batch, MicroBatcher
from easy_mlops.serving.metrics import CONTENT_TYPE, ServerMetrics, scrape
from easy_mlops.serving.openapi import openapi_document
from easy_mlops.serving.requests import RequestError, parse_body, wants_probabilities

log = logging.getLogger(__name__)

SOURCE = {"source": "serve"}
# Served batches are small and many: the steps bring their files (the log's
# index, drift counts) up to date at most this often; status reads the rest.
WRITE_EVERY_S = 1.0


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json")


def error(status: int, message: str) -> Response:
    """One line of JSON; never a traceback."""
    return json_response({"error": " ".join(str(message).split())}, status)


class PredictionLogWriter:
    """Appends served batches to their deployment's logs from one thread, in the order they were scored.

    Batches that queued up while the last append ran are written together.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="easy-mlops-log", daemon=True)
        self.thread.start()

    def put(self, deployment: Deployment, predictions: np.ndarray, frames: list[pd.DataFrame]) -> None:
        self.queue.put((deployment, predictions, frames))

    def close(self) -> None:
        """Write everything queued, then stop."""
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        monitors: dict[Path, Any] = {}
        stopping = False
        while not stopping:
            queued = [self.queue.get()]
            while not self.queue.empty():  # whatever else waits goes in the same append
                queued.append(self.queue.get_nowait())
            stopping = queued[-1] is None
            for deployment, predictions, inputs in _by_deployment(
                [item for item in queued if item is not None]
            ):
                try:
                    monitor = monitors.get(deployment.directory)
                    if monitor is None:
                        monitor = monitors[deployment.directory] = deployment_monitor(deployment.directory)
                        monitor.defer_writes(WRITE_EVERY_S)
                    monitor.log_predictions(predictions, deployment.version, SOURCE, inputs)
                except Exception:  # the server keeps answering; the failure is said once per write
                    log.exception("could not log %d served predictions", len(predictions))
        for monitor in monitors.values():  # what was gathered since the last write
            monitor.flush()


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


class Serving:
    """One worker's state: the deployment it serves (swapped on reload), its batcher and its metrics."""

    def __init__(
        self,
        deployment: Deployment,
        reference: str,
        settings: Any,
        token: str | None,
        output_dir: str | None = None,
        on_ready: Callable[[], None] | None = None,
        on_reloaded: Callable[[Deployment], None] | None = None,
        on_refused: Callable[[Path, str], None] | None = None,
    ) -> None:
        """``on_reloaded`` and ``on_refused`` hear how a reload went (the server's parent says it once
        for all its workers); without them, this worker logs it."""
        self.deployment, self.reference, self.settings = deployment, reference, settings
        self.token, self.output_dir, self.on_ready = token, output_dir, on_ready
        self.on_reloaded = on_reloaded or (
            lambda loaded: log.warning("reloaded: now serving %s (version %s)", loaded.name, loaded.version)
        )
        self.on_refused = on_refused or (
            lambda directory, reason: log.warning("not reloading %s: %s", directory, reason)
        )
        self.max_body = int(settings.max_body_mb * 1024 * 1024)
        self.reloading = asyncio.Lock()
        self.scored_by = deployment

    # ------------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def lifespan(self, app: Starlette):
        self.metrics = ServerMetrics()
        self.metrics.serving(self.deployment.name, self.deployment.version)
        self.writer = PredictionLogWriter()
        self.batcher = MicroBatcher(
            self.score, self.settings.max_batch_rows, self.settings.max_wait_ms / 1000, self.scored
        )
        self.batcher.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        if self.on_ready is not None:
            self.on_ready()
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await self.batcher.stop()
            self.writer.close()

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

    # ------------------------------------------------------------------ endpoints

    def authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)

    async def invocations(self, request: Request) -> Response:
        if not self.authorized(request):
            return error(401, "missing or wrong bearer token")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return error(413, f"body over serve.max_body_mb ({self.settings.max_body_mb} MB)")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                return error(413, f"body over serve.max_body_mb ({self.settings.max_body_mb} MB)")
        deployment = self.deployment
        columns = [column["name"] for column in deployment.input_schema or []]
        try:
            frame, params = parse_body(bytes(body), request.headers.get("content-type", ""), columns)
            proba = wants_probabilities(params, request.query_params)
            if proba:
                deployment.check_probabilities()
        except RequestError as exc:
            return error(exc.status, str(exc))
        except DeploymentError as exc:  # class probabilities asked of a deployment without them
            return error(400, str(exc))
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            return error(422, f"missing feature column(s): {', '.join(missing)}")
        if columns:
            frame = frame[columns]  # extra columns dropped, the training order
        try:
            scores = await asyncio.wait_for(self.batcher.predict(frame, proba), self.settings.timeout_s)
        except TimeoutError:
            return error(503, f"not scored within serve.timeout_s ({self.settings.timeout_s} s)")
        except DataError as exc:
            return error(422, str(exc))
        except Exception as exc:
            log.warning("predict failed: %s: %s", type(exc).__name__, exc)
            return error(500, f"the model failed: {type(exc).__name__}: {exc}")
        if not proba:
            return Response(
                b'{"predictions":' + orjson.dumps(json_values(scores.predictions)) + b"}",
                media_type="application/json",
            )
        document = {
            "predictions": json_values(scores.predictions),
            "classes": json_values(scores.classes),
            # float64 and row-major, as orjson wants and as `predict --proba` writes them
            "probabilities": np.ascontiguousarray(scores.probabilities, dtype=float),
        }
        return Response(
            orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
        )

    async def ping(self, request: Request) -> Response:
        return Response(b"\n", media_type="text/plain")

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok", "deployment": self.deployment.name})

    async def version(self, request: Request) -> Response:
        deployment = self.deployment
        return json_response({"name": deployment.name, "version": deployment.version})

    async def metadata(self, request: Request) -> Response:
        if not self.authorized(request):
            return error(401, "missing or wrong bearer token")
        metadata = self.deployment.metadata
        return json_response(
            {
                "name": self.deployment.name,
                "version": self.deployment.version,
                "problem_type": metadata.get("problem_type"),
                "target_column": metadata.get("target_column"),
                "input_schema": self.deployment.input_schema,
                "training_metrics": metadata.get("metrics", {}),
                "created_at": metadata.get("created_at"),
            }
        )

    async def openapi(self, request: Request) -> Response:
        if not self.authorized(request):
            return error(401, "missing or wrong bearer token")
        return json_response(openapi_document(self.deployment, secured=self.token is not None))

    async def prometheus(self, request: Request) -> Response:
        if not self.authorized(request):
            return error(401, "missing or wrong bearer token")
        return Response(scrape(), media_type=CONTENT_TYPE)

    async def reload_endpoint(self, request: Request) -> Response:
        if self.token is None:
            return error(404, "POST /reload needs serve.token_env; without a token, send the server SIGHUP")
        if not self.authorized(request):
            return error(401, "missing or wrong bearer token")
        reloaded = await self.reload()
        return json_response(
            {"reloaded": reloaded, "name": self.deployment.name, "version": self.deployment.version}
        )

    def app(self) -> Starlette:
        routes = [
            Route("/invocations", self.invocations, methods=["POST"], name="invocations"),
            Route("/ping", self.ping, methods=["GET"], name="ping"),
            Route("/health", self.health, methods=["GET"], name="health"),
            Route("/version", self.version, methods=["GET"], name="version"),
            Route("/metadata", self.metadata, methods=["GET"], name="metadata"),
            Route("/metrics", self.prometheus, methods=["GET"], name="metrics"),
            Route("/reload", self.reload_endpoint, methods=["POST"], name="reload"),
            Route("/openapi.json", self.openapi, methods=["GET"], name="openapi"),
        ]
        measured = Middleware(
            Measured, metrics=lambda: self.metrics, endpoints={r.path: r.name for r in routes}
        )
        return Starlette(routes=routes, middleware=[measured], lifespan=self.lifespan)


class Measured:
    """ASGI middleware: every HTTP request counted by endpoint and status code, and timed.

    It sits outside the router, so the router's own answers count too: 405 for
    a wrong method (under the route's name) and 404 for an unknown path (under
    ``other``: paths clients make up must not become label values).
    """

    def __init__(self, app: ASGIApp, metrics: Callable[[], ServerMetrics], endpoints: dict[str, str]) -> None:
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = self.endpoints.get(scope["path"], "other")
        status = 500  # unless a response starts: an exception becomes ServerErrorMiddleware's 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics()
        started = time.perf_counter()
        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.in_flight.dec()
            metrics.request_seconds.labels(endpoint=name).observe(time.perf_counter() - started)
            metrics.requests.labels(endpoint=name, code=str(status)).inc()
