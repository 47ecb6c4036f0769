"""Score new data with a deployment and log every prediction delivered.

Used by ``make-mlops-easy predict``, ``MLOpsPipeline.predict`` and the endpoint
script alike, so all three behave the same: they predict through
:class:`~easy_mlops.deployment.loading.Deployment` and log through the
deployment's own observability config.
"""

import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from easy_mlops.data.loaders import check_data_file, load_table
from easy_mlops.deployment.loading import Deployment, Scores
from easy_mlops.deployment.storage import is_remote
from easy_mlops.errors import DataError
from easy_mlops.files import write_text_atomic
from easy_mlops.jsonsafe import json_values
from easy_mlops.log_shipping import save_segment, ship
from easy_mlops.monitoring import SegmentLogging, deployment_monitor, segment_logging

log = logging.getLogger(__name__)


def record_predictions(
    deployment: Deployment, predictions: Any, source: str | None = None, inputs: Any = None
) -> None:
    """Append delivered predictions to the deployment's logs, with where they came from.

    ``inputs`` (the scored table) reaches custom steps' per-row hooks; the log keeps predictions only.
    A deployment with a log location gets them shipped there at once.
    """
    deployment_monitor(deployment.directory).log_predictions(
        predictions, deployment.version, {"source": source} if source else None, inputs
    )
    ship(deployment.directory)


def predict_frame(
    frame: pd.DataFrame,
    reference: str | Path,
    log_predictions: bool = True,
    verify: bool = True,
    source: str | None = None,
) -> np.ndarray:
    """One prediction per row of ``frame``, in order, logged to the deployment's ``logs/``."""
    deployment = Deployment.load(reference, verify)
    predictions = deployment.predict(frame, source)
    if log_predictions:
        record_predictions(deployment, predictions, source, frame)
    return predictions


def predict_file(
    data_path: str | Path,
    reference: str | Path,
    log_predictions: bool = True,
    verify: bool = True,
    output: str | Path | TextIO | None = None,
    proba: bool = False,
) -> list[Any] | dict[str, Any]:
    """Predictions for a data file as JSON-ready values; ``reference`` may be ``latest`` or a URL.

    With ``proba``, the document ``{"predictions", "classes", "probabilities"}``
    instead (see :func:`score_file`, which does the work).
    """
    scores = score_file(data_path, reference, log_predictions, verify, output, proba)
    if proba:
        return scores_document(scores)
    return json_values(scores.predictions)


def score_file(
    data_path: str | Path,
    reference: str | Path,
    log_predictions: bool = True,
    verify: bool = True,
    output: str | Path | TextIO | None = None,
    proba: bool = False,
) -> Scores:
    """Score a data file with a deployment, write the JSON to ``output`` and log the predictions.

    With ``output`` (a file path or a text stream such as stdout),
    ``{"predictions": [...]}`` is written there, plus ``"classes"`` and
    ``"probabilities"`` (one list per row, in class order) with ``proba``. The
    cheap checks come first (the data file exists, the output file can be
    written, the deployment has class probabilities when asked for them), and
    predictions (the labels) are logged only once they were delivered.
    """
    deployment = _load_for_scoring(data_path, reference, verify, output, proba)
    if log_predictions and is_remote(reference):
        log.warning(
            "%s is remote: its predictions are logged locally in %s, then shipped beside it (logs/segments)",
            reference,
            deployment.log_dir,
        )
    frame = load_table(data_path, encoding=deployment.data_encoding)
    scores = deployment.score(frame, source=str(data_path), proba=proba)
    if output is not None:
        values = json_values(scores.predictions)
        deliver(scores_json(values, scores) if proba else {"predictions": values}, output)
    if log_predictions:
        record_predictions(deployment, scores.predictions, str(data_path), frame)
    return scores


def _load_for_scoring(
    data_path: str | Path,
    reference: str | Path,
    verify: bool,
    output: str | Path | TextIO | None,
    proba: bool,
) -> Deployment:
    """The cheap checks, then the deployment: a bad one fails before a large file is read, and
    unpickling's scratch memory is freed before the table takes its share."""
    check_data_file(data_path)
    if isinstance(output, (str, Path)):
        check_output_file(output)
    deployment = Deployment.load(reference, verify)
    if proba:
        deployment.check_probabilities()
    return deployment


# Data files larger than this are scored a chunk of rows at a time (see stream_file).
STREAM_ABOVE_BYTES = 256 << 20
CHUNK_ROWS = 100_000


def stream_file(
    data_path: str | Path,
    reference: str | Path,
    output: str | Path | TextIO,
    chunk_rows: int = CHUNK_ROWS,
    log_predictions: bool = True,
    verify: bool = True,
    proba: bool = False,
) -> int:
    """:func:`score_file` for a file larger than memory: read, scored and written ``chunk_rows`` rows
    at a time, so memory is bounded by a chunk; returns the number of rows.

    ``output`` receives the same JSON, once whole: a file is replaced by a
    temporary one, a stream is written from a scratch file, so a row that
    breaks half-way leaves nothing half-written. The predictions' log is
    gathered as one log segment on disk and stored (in the deployment's log
    location, else its ``logs/segments/``) only once the output was
    delivered; with ``proba`` the probabilities wait in a scratch file until
    every row's label is written.
    """
    deployment = _load_for_scoring(data_path, reference, verify, output, proba)
    logged = segment_logging(deployment.directory) if log_predictions else SegmentLogging(False, None)
    source = str(data_path)
    with (
        logged.builder(f"predict-{uuid.uuid4().hex[:12]}", 0) as segment,
        tempfile.TemporaryFile("w+", encoding="utf-8") as probabilities,
        tempfile.TemporaryFile("w+", encoding="utf-8") as delivered,  # for the user's steps, after
    ):
        rows, classes = 0, None

        def pieces() -> Iterator[str]:
            nonlocal rows, classes
            yield '{"predictions": ['
            for chunk in deployment.read_in_chunks(data_path, chunk_rows):
                scores = deployment.score(chunk, source=source, proba=proba)
                values = json_values(scores.predictions)
                separator = ", " if rows else ""
                yield separator + json.dumps(values)[1:-1]
                if proba:
                    classes = scores.classes
                    probabilities.write(separator + json.dumps(scores.probabilities.tolist())[1:-1])
                segment.add(scores.predictions, deployment.version, {"source": source}, chunk)
                if logged.own_steps:
                    delivered.write(json.dumps(values) + "\n")
                rows += len(scores)
            if not proba:
                yield "]}\n"
                return
            yield f'], "classes": {json.dumps(json_values(classes))}, "probabilities": ['
            probabilities.seek(0)
            yield from iter(lambda: probabilities.read(1 << 20), "")
            yield "]}\n"

        if isinstance(output, (str, Path)):
            deliver(pieces(), output)
        else:
            with tempfile.TemporaryFile("w+", encoding="utf-8") as staged:
                staged.writelines(pieces())
                staged.seek(0)
                deliver(iter(lambda: staged.read(1 << 20), ""), output)
        save_segment(deployment.directory, segment)
        if logged.own_steps:
            delivered.seek(0)
            hand_delivered_rows(logged.own_steps, deployment, data_path, chunk_rows, delivered)
    return rows


def hand_delivered_rows(
    steps: list, deployment: Deployment, data_path: str | Path, chunk_rows: int, delivered: TextIO
) -> None:
    """Give the user's own observability steps the rows a streamed ``predict`` delivered, a chunk at
    a time, as a whole-file ``predict`` gives them the table: the file is read again and paired with
    the predictions delivered (``delivered``: a JSON list per chunk), so a run that failed half-way
    told them nothing."""
    metadata = {"source": str(data_path)}
    for chunk, line in zip(deployment.read_in_chunks(data_path, chunk_rows), delivered, strict=True):
        for step in steps:
            step.on_log_predictions(json.loads(line), deployment.version, metadata, chunk)
    for step in steps:
        step.flush()


# Rows of probabilities encoded at a time: a million rows never sit in memory as Python lists at once.
PROBABILITY_ROWS_PER_PIECE = 65_536


def scores_document(scores: Scores) -> dict[str, Any]:
    """``{"predictions", "classes", "probabilities"}`` as JSON-ready values."""
    return {
        "predictions": json_values(scores.predictions),
        "classes": json_values(scores.classes),
        "probabilities": scores.probabilities.tolist(),
    }


def scores_json(predictions: list[Any], scores: Scores) -> Iterator[str]:
    """:func:`scores_document` as JSON text, in pieces: the probabilities a block of rows at a time."""
    head = {"predictions": predictions, "classes": json_values(scores.classes)}
    yield json.dumps(head)[:-1] + ', "probabilities": ['
    for start in range(0, len(scores), PROBABILITY_ROWS_PER_PIECE):
        rows = scores.probabilities[start : start + PROBABILITY_ROWS_PER_PIECE].tolist()
        yield (", " if start else "") + json.dumps(rows)[1:-1]
    yield "]}\n"


def deliver(document: dict[str, Any] | Iterable[str], output: str | Path | TextIO) -> None:
    """Write a JSON document (or its text, in pieces) to a file (atomically) or a stream (flushed)."""
    pieces = [json.dumps(document) + "\n"] if isinstance(document, dict) else document
    if isinstance(output, (str, Path)):
        write_text_atomic(Path(output), pieces)
    else:
        for piece in pieces:
            output.write(piece)
        output.flush()


def check_output_file(path: str | Path, what: str = "the predictions") -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a file name for {what}")
    if not folder.is_dir():
        raise DataError(f"{path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise DataError(f"{path}: output folder {folder} is not writable")
