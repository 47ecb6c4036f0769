"""What the server answers, without the web framework: MLflow's ``invocations()`` and the other endpoints.

As in MLflow's scoring server, handling a request is a function of plain
inputs (the body's bytes, its content type, the query's parameters, the
deployment being served and the batcher that scores for it) that returns a
plain :class:`Answer`: the status code, the JSON document (or an error
message) and what the server should log about it. ``app.py`` only routes,
reads headers and turns answers into responses, so everything a client can
get back is tested here without a server, and the protocol stays the same
whatever serves it. Nothing here imports Starlette (an import-linter
contract in ``pyproject.toml`` keeps it so).
"""

import asyncio
import hmac
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from easy_mlops.deployment.loading import Deployment, Scores
from easy_mlops.errors import DataError, DeploymentError, one_line
from easy_mlops.jsonsafe import json_values
from easy_mlops.serving.requests import RequestError, parse_body, wants_probabilities

JSON = "application/json"
# Scores a request's rows, with or without class probabilities: the micro-batcher's predict.
Predict = Callable[[pd.DataFrame, bool], Awaitable[Scores]]


@dataclass(frozen=True)
class Answer:
    """One request's answer: its status, its document, and a line for the server's log (or None).

    ``document`` is what :meth:`body` serialises: a JSON value (numpy arrays
    included, as orjson writes them), or ``bytes`` sent as they are.
    """

    status: int
    document: Any
    media_type: str = JSON
    warning: str | None = None

    def body(self) -> bytes:
        if isinstance(self.document, bytes):
            return self.document
        return orjson.dumps(self.document, option=orjson.OPT_SERIALIZE_NUMPY)


def error(status: int, message: str, warning: str | None = None) -> Answer:
    """``{"error": "..."}`` on one line; never a traceback."""
    return Answer(status, {"error": one_line(message)}, warning=warning)


UNAUTHORIZED = error(401, "missing or wrong bearer token")
NO_RELOAD = error(404, "POST /reload needs serve.token_env; without a token, send the server SIGHUP")
PING = Answer(200, b"\n", "text/plain")


def authorized(authorization: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries the bearer token (anything goes without a token)."""
    if token is None:
        return True
    scheme, _, value = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


async def read_body(chunks: AsyncIterable[bytes], declared_length: str | None, max_body_mb: float) -> bytes:
    """The whole body, read chunk by chunk; a :class:`RequestError` (413) as soon as it is known to pass
    ``serve.max_body_mb``, by its ``Content-Length`` or by what arrived, so no oversized body is held."""
    limit = int(max_body_mb * 1024 * 1024)
    too_large = RequestError(413, f"body over serve.max_body_mb ({max_body_mb} MB)")
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def invocations(
    body: bytes,
    content_type: str,
    query: Mapping[str, str],
    deployment: Deployment,
    predict: Predict,
    timeout_s: float,
) -> Answer:
    """``POST /invocations``: one prediction per row of ``body``, in order, scored by ``predict``.

    ``deployment`` is the one served when the request came in: its input
    schema names positional rows, picks and orders the columns, and says
    whether it has class probabilities. 400 a body that is no table (or asks
    for probabilities a deployment lacks), 415 another content type, 422
    missing or unusable columns, 500 a failure inside the model (with a
    warning to log), 503 not scored within ``timeout_s``.
    """
    columns = deployment.input_columns
    try:
        frame, params = parse_body(body, content_type, columns)
        proba = wants_probabilities(params, query)
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
        scores = await asyncio.wait_for(predict(frame, proba), timeout_s)
    except TimeoutError:
        return error(503, f"not scored within serve.timeout_s ({timeout_s} s)")
    except DataError as exc:
        return error(422, str(exc))
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        return error(500, f"the model failed: {failure}", warning=f"predict failed: {failure}")
    return Answer(200, predictions_document(scores, proba))


def predictions_document(scores: Scores, proba: bool) -> dict[str, Any]:
    """``{"predictions": [...]}``, and with ``proba`` the ``classes`` and each row's ``probabilities``
    (float64 and row-major, as orjson wants them and as ``predict --proba`` writes them)."""
    document: dict[str, Any] = {"predictions": json_values(scores.predictions)}
    if proba:
        document["classes"] = json_values(scores.classes)
        document["probabilities"] = np.ascontiguousarray(scores.probabilities, dtype=float)
    return document


def health_document(deployment: Deployment) -> dict[str, Any]:
    """``GET /health``: up, and what it serves."""
    return {"status": "ok", "deployment": deployment.name}


def version_document(deployment: Deployment) -> dict[str, Any]:
    """``GET /version``."""
    return {"name": deployment.name, "version": deployment.version}


def metadata_document(deployment: Deployment) -> dict[str, Any]:
    """``GET /metadata``: what a client needs to call the deployment, and how it scored in training."""
    metadata = deployment.metadata
    return {
        "name": deployment.name,
        "version": deployment.version,
        "problem_type": metadata.get("problem_type"),
        "target_column": metadata.get("target_column"),
        "input_schema": deployment.input_schema,
        "training_metrics": metadata.get("metrics", {}),
        "created_at": metadata.get("created_at"),
    }


def reload_document(reloaded: bool, deployment: Deployment) -> dict[str, Any]:
    """``POST /reload``: whether a newer deployment was taken, and the one served now."""
    return {"reloaded": reloaded, "name": deployment.name, "version": deployment.version}
