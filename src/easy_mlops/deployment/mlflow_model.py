"""A deployment as an MLflow model: ``mlflow_model/``, a pyfunc over our preprocessor and model.

``mlflow.pyfunc.load_model(<deployment>/mlflow_model)`` and ``mlflow models
serve -m <deployment>/mlflow_model --env-manager local`` predict what
``make-mlops-easy predict`` does: the same columns reconciled the same way,
the original labels. The pyfunc is a model from code (``mlflow_pyfunc.py``,
copied into the model), so loading it unpickles nothing but our own artifacts.
"""

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from easy_mlops.errors import ConfigError

MLFLOW_MODEL_DIR = "mlflow_model"
MISSING_EXTRA = "MLflow is not installed: pip install 'make-mlops-easy[mlflow]'"
# Our input kinds as MLflow column types, when no training rows tell the dtypes.
COLUMN_TYPES = {"numeric": "double", "categorical": "string"}
# MLflow's advice while saving, about choices made here on purpose: integer columns stay ``long`` as
# MLflow's own flavors infer them, and its own pandas deprecation is its to fix.
QUIET_WARNINGS = ("Hint: Inferred schema contains integer", "Operation with range is deprecated")


def require_mlflow(what: str) -> None:
    """Fail before any work when MLflow is missing, naming the extra that brings it."""
    from importlib.util import find_spec

    if find_spec("mlflow") is None:
        raise ConfigError(f"{what}: {MISSING_EXTRA}")


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables set for the time of a block, then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's INFO lines, progress bars, run links and advice, and urllib3's "Retrying" lines, stay
    out of our output (stdout may be JSON; a failure is one line of ours); other warnings show."""
    levels = {"mlflow": logging.WARNING, "urllib3": logging.ERROR}
    saved = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        with (
            environment(
                MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true"
            ),
            warnings.catch_warnings(),
        ):
            for advice in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=advice)
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def signature(input_schema: list[dict[str, str]], example: pd.DataFrame | None) -> Any:
    """The model's input signature: column types as MLflow infers them from training rows (an integer
    column is ``long``, as MLflow's own flavors say), else numbers as doubles and categories as text."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    if example is not None:
        return infer_signature(example)
    columns = [ColSpec(COLUMN_TYPES.get(column["kind"], "string"), column["name"]) for column in input_schema]
    return ModelSignature(inputs=Schema(columns))


def save_mlflow_model(
    path: Path,
    model_path: Path,
    preprocessor_path: Path,
    target_column: str | None,
    input_schema: list[dict[str, str]],
    example: Any = None,
    libraries: tuple[str, ...] = (),
) -> None:
    """Write the MLflow model of a deployment's model and preprocessor files into ``path``.

    ``libraries`` are the distributions loading the model needs besides ours
    and scikit-learn's (``xgboost``, ``skops``): pinned in its requirements.
    """
    from importlib.metadata import PackageNotFoundError, version

    import mlflow

    if example is not None:
        example = pd.DataFrame(example)  # the few training rows the trainer kept
    requirements = []
    for name in ("make-mlops-easy", "scikit-learn", "pandas", "numpy", "joblib", *libraries):
        try:
            requirements.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    with quiet_mlflow():
        mlflow.pyfunc.save_model(
            str(path),
            python_model=str(Path(__file__).with_name("mlflow_pyfunc.py")),
            artifacts={"model": str(model_path), "preprocessor": str(preprocessor_path)},
            model_config={"target_column": target_column},
            signature=signature(input_schema, example),
            input_example=example,
            pip_requirements=requirements,  # given, not inferred: inferring loads the model in a subprocess
        )
