"""The guide's ``MLOpsPipeline``: the Python entry point beside the CLI and the Hydra app.

Like them it is a thin shell over the application's functions
(:func:`~easy_mlops.pipeline.run_experiment`, ``predict_file``,
``evaluate_file``, ``deployment_status``), under the names scripts written for
the original package call. The guide's other classes live beside the core
class of their package: ``ModelDeployer`` in :mod:`easy_mlops.deployment.guide`,
``ModelMonitor`` in :mod:`easy_mlops.observability.guide`, ``DataPreprocessor``
in :mod:`easy_mlops.preprocessing.preprocessor`.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from easy_mlops.config.experiment import build_experiment
from easy_mlops.pipeline import compose_experiment, data_overrides, run_experiment


class MLOpsPipeline:
    """The guide's Python API over the same composition as ``python -m easy_mlops.run``.

    ``config`` may be a dict in the guide's format, a DictConfig or the
    :class:`~easy_mlops.config.config.Config` dataclass; ``config_path`` a YAML
    file in the guide's format; ``overrides`` Hydra overrides, applied last.
    """

    def __init__(
        self,
        config: Any = None,
        config_path: str | Path | None = None,
        overrides: Sequence[str] | None = None,
    ) -> None:
        self.config_source, self.config_path = config, config_path
        self.overrides = list(overrides or [])
        self.config = self._compose(self.overrides)

    def _compose(self, overrides: list[str]) -> DictConfig:
        return compose_experiment(overrides, config_file=self.config_path, config=self.config_source)

    def run(
        self, data_path: str | Path | None = None, target_column: str | None = None, deploy: bool = True
    ) -> dict[str, Any]:
        """Train on ``data_path`` (or the configured data) and deploy unless ``deploy=False``."""
        overrides = data_overrides(data_path, target_column) + self.overrides
        cfg = self._compose(overrides) if data_path or target_column else self.config
        experiment = build_experiment(cfg, overrides)
        return run_experiment(experiment, run_info={"overrides": overrides}, deploy=deploy)

    def predict(
        self, data_path: str | Path, model_dir: str | Path, log_predictions: bool = True, proba: bool = False
    ) -> list[Any] | dict[str, Any]:
        """Predictions for ``data_path`` from a deployment (a directory, ``latest`` or a URL),
        logged to its ``logs/`` unless ``log_predictions=False``.

        With ``proba=True``, what ``make-mlops-easy predict --proba`` prints:
        ``{"predictions": [...], "classes": [...], "probabilities": [[...], ...]}``
        (the labels are logged, as without it).
        """
        from easy_mlops.inference import predict_file

        return predict_file(data_path, model_dir, log_predictions, proba=proba)

    def evaluate(
        self, data_path: str | Path, model_dir: str | Path, target_column: str | None = None
    ) -> dict[str, Any]:
        """Metrics of a deployment on labelled live data, logged with ``source: live`` and checked
        against its thresholds: what ``make-mlops-easy evaluate DATA MODEL_DIR --json`` prints."""
        from easy_mlops.evaluation import evaluate_file

        return evaluate_file(data_path, model_dir, target_column)

    def get_status(self, model_dir: str | Path) -> dict[str, Any]:
        """What ``make-mlops-easy status MODEL_DIR --json`` prints, as a dict."""
        from easy_mlops.status import deployment_status

        return deployment_status(model_dir)

    def observe(self, model_dir: str | Path) -> str:
        """What ``make-mlops-easy observe MODEL_DIR`` prints: the monitoring report."""
        from easy_mlops.status import deployment_report

        return deployment_report(model_dir)
