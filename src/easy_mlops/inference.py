"""Score new data with a deployment, logging every prediction.

Used by ``make-mlops-easy predict``, ``MLOpsPipeline.predict`` and the endpoint
script alike, so all three behave the same.
"""

import json
import logging
import os
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from easy_mlops.data.loaders import check_data_file, load_table
from easy_mlops.deployment.loading import load_deployment
from easy_mlops.errors import DataError
from easy_mlops.files import write_text_atomic
from easy_mlops.observability.monitor import deployment_monitor
from easy_mlops.observability.steps import json_values

log = logging.getLogger(__name__)


def predict_frame(
    frame: pd.DataFrame,
    deployment_dir: str | Path,
    log_predictions: bool = True,
    verify: bool = True,
    source: str | None = None,
) -> np.ndarray:
    """One prediction per row of ``frame``, in order, logged to the deployment's ``logs/``."""
    deployment = load_deployment(deployment_dir, verify=verify)
    return _score(frame, deployment, deployment_dir, log_predictions, source)


def predict_file(
    data_path: str | Path,
    deployment_dir: str | Path,
    log_predictions: bool = True,
    verify: bool = True,
    output: str | Path | TextIO | None = None,
) -> list[Any]:
    """Predictions for a data file as JSON-ready values; ``deployment_dir`` may be a URL.

    With ``output`` (a file path or a text stream such as stdout),
    ``{"predictions": [...]}`` is written there. The cheap checks come first
    (the data file exists, the output file can be written), and predictions
    are logged only once they were delivered.
    """
    from easy_mlops.deployment.remote import fetch_deployment, is_remote

    check_data_file(data_path)
    if isinstance(output, (str, Path)):
        check_output_file(output)
    if is_remote(deployment_dir):
        local = fetch_deployment(str(deployment_dir))
        if log_predictions:
            log.warning(
                "%s is remote: its predictions are logged locally in %s "
                "(object storage is not an append log)",
                deployment_dir,
                local / "logs",
            )
        deployment_dir = local
    # The deployment first: a bad one fails before a large file is read, and
    # unpickling's scratch memory is freed before the table takes its share.
    deployment = load_deployment(deployment_dir, verify=verify)
    frame = load_table(data_path)
    predictions = _score(frame, deployment, deployment_dir, False, source=str(data_path))
    values = json_values(predictions)
    if output is not None:
        deliver({"predictions": values}, output)
    if log_predictions:
        _log(predictions, deployment, deployment_dir, str(data_path))
    return values


def deliver(document: dict[str, Any], output: str | Path | TextIO) -> None:
    """Write a JSON document to a file (atomically) or a stream (flushed)."""
    text = json.dumps(document) + "\n"
    if isinstance(output, (str, Path)):
        write_text_atomic(Path(output), text)
    else:
        output.write(text)
        output.flush()


def check_output_file(path: str | Path) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a file name for the predictions")
    if not folder.is_dir():
        raise DataError(f"{path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise DataError(f"{path}: output folder {folder} is not writable")


def _score(
    frame: pd.DataFrame,
    deployment: tuple[dict[str, Any], Any, dict[str, Any]],
    deployment_dir: str | Path,
    log_predictions: bool,
    source: str | None,
) -> np.ndarray:
    model_data, preprocessor, metadata = deployment
    if len(frame) == 0:
        raise DataError(f"{source or 'input'}: no rows to score")
    target = metadata.get("target_column")
    if target in frame.columns:
        frame = frame.drop(columns=[target])
    try:
        features, _ = preprocessor.prepare_data(frame)
    except DataError as exc:
        raise DataError(f"{source}: {exc}" if source else str(exc)) from exc
    predictions = model_data["model"].predict(features)
    if log_predictions:
        _log(predictions, deployment, deployment_dir, source)
    return predictions


def _log(
    predictions: np.ndarray,
    deployment: tuple[dict[str, Any], Any, dict[str, Any]],
    deployment_dir: str | Path,
    source: str | None,
) -> None:
    metadata = deployment[2]
    deployment_monitor(deployment_dir).log_predictions(
        predictions, str(metadata.get("version", "")), {"source": source} if source else None
    )
