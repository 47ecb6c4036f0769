"""The ASGI application one worker process runs: Starlette around the framework-free serving code.

MLflow's scoring protocol plus health, metadata, metrics and the OpenAPI
document. What each endpoint answers is decided in
:mod:`easy_mlops.serving.handlers` and the worker's state (the deployment,
its batcher, its log writer) lives in :mod:`easy_mlops.serving.worker`; this
module only routes, reads the bearer token, streams the body in, turns
answers into responses (logging what they say to log), counts every request,
and starts and stops the worker with the app (its lifespan, with SIGHUP
for a reload).
"""

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from easy_mlops.deployment.loading import Deployment
from easy_mlops.serving.handlers import (
    NO_RELOAD,
    PING,
    UNAUTHORIZED,
    Answer,
    authorized,
    error,
    health_document,
    metadata_document,
    read_body,
    reload_document,
    version_document,
)
from easy_mlops.serving.metrics import CONTENT_TYPE, ServerMetrics, scrape
from easy_mlops.serving.openapi import openapi_document
from easy_mlops.serving.requests import RequestError
from easy_mlops.serving.worker import Worker

log = logging.getLogger(__name__)


def respond(answer: Answer) -> Response:
    """The HTTP response of an answer; what it says to log is logged here, once."""
    if answer.warning:
        log.warning("%s", answer.warning)
    return Response(answer.body(), status_code=answer.status, media_type=answer.media_type)


class Serving:
    """A worker's web app: routes onto its :class:`Worker`, guarded by the bearer token when there is one."""

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
        """``on_ready`` hears that the worker answers; ``on_reloaded`` and ``on_refused`` how a reload
        went (see :class:`Worker`)."""
        self.worker = Worker(deployment, reference, settings, output_dir, on_reloaded, on_refused)
        self.settings, self.token, self.on_ready = settings, token, on_ready

    @asynccontextmanager
    async def lifespan(self, app: Starlette):
        self.worker.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.worker.reload()))
        if self.on_ready is not None:
            self.on_ready()
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await self.worker.stop()

    # ------------------------------------------------------------------ endpoints

    async def invocations(self, request: Request) -> Answer:
        try:
            body = await read_body(
                request.stream(), request.headers.get("content-length"), self.settings.max_body_mb
            )
        except RequestError as exc:
            return error(exc.status, str(exc))
        return await self.worker.invoke(body, request.headers.get("content-type", ""), request.query_params)

    async def ping(self, request: Request) -> Answer:
        return PING

    async def health(self, request: Request) -> Answer:
        return Answer(200, health_document(self.worker.deployment))

    async def version(self, request: Request) -> Answer:
        return Answer(200, version_document(self.worker.deployment))

    async def metadata(self, request: Request) -> Answer:
        return Answer(200, metadata_document(self.worker.deployment))

    async def openapi(self, request: Request) -> Answer:
        return Answer(200, openapi_document(self.worker.deployment, secured=self.token is not None))

    async def metrics(self, request: Request) -> Answer:
        return Answer(200, scrape(), CONTENT_TYPE)

    async def reload(self, request: Request) -> Answer:
        if self.token is None:
            return NO_RELOAD
        reloaded = await self.worker.reload()
        return Answer(200, reload_document(reloaded, self.worker.deployment))

    def endpoint(self, answer: Callable[[Request], Awaitable[Answer]], guarded: bool) -> Callable:
        """A Starlette endpoint around ``answer``; ``guarded`` ones need the bearer token first."""

        async def handle(request: Request) -> Response:
            if guarded and not authorized(request.headers.get("authorization"), self.token):
                return respond(UNAUTHORIZED)
            return respond(await answer(request))

        return handle

    def app(self) -> Starlette:
        endpoints = [  # the label its requests are counted under, path, method, answer, guarded
            ("invocations", "/invocations", "POST", self.invocations, True),
            ("ping", "/ping", "GET", self.ping, False),
            ("health", "/health", "GET", self.health, False),
            ("version", "/version", "GET", self.version, False),
            ("metadata", "/metadata", "GET", self.metadata, True),
            ("metrics", "/metrics", "GET", self.metrics, True),
            ("reload", "/reload", "POST", self.reload, True),
            ("openapi", "/openapi.json", "GET", self.openapi, True),
        ]
        routes = [
            Route(path, self.endpoint(answer, guarded), methods=[method], name=name)
            for name, path, method, answer, guarded in endpoints
        ]
        measured = Middleware(
            Measured, metrics=lambda: self.worker.metrics, endpoints={r.path: r.name for r in routes}
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
