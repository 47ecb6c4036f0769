"""Rebuild a deployment from its config snapshot and check the result is identical.

``metadata.json`` records the data file's path, size and SHA-256, the library
versions and the seed; ``config.yaml`` the fully resolved config. Replay says
what changed before it runs, retrains without deploying, then compares the
metrics and the predictions on the original hold-out rows exactly.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from easy_mlops.config.config import Config, schema_node
from easy_mlops.config.experiment import Experiment, build_experiment
from easy_mlops.config.instantiate import first_line
from easy_mlops.config.snapshot import snapshot_config
from easy_mlops.data.loaders import load_dataset
from easy_mlops.deployment.loading import Deployment
from easy_mlops.deployment.metadata import SNAPSHOT
from easy_mlops.errors import ConfigError, DeploymentError
from easy_mlops.files import file_fingerprint
from easy_mlops.training.trainer import split, train
from easy_mlops.versions import version_drift


@dataclass
class ReplayReport:
    """What changed since the deployment was made, and what differs after retraining."""

    changes: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    compared_predictions: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not self.differences


def snapshot_experiment(deployment: Deployment, data_path: str | Path | None = None) -> Experiment:
    """The deployment's ``config.yaml``, validated against today's schema, as a typed experiment
    (``data_path``: the training data moved there)."""
    path = deployment.directory / SNAPSHOT
    snapshot = snapshot_config(deployment.snapshot())
    if snapshot is None:
        raise DeploymentError(f"{path}: missing; replay needs the config snapshot of the run")
    try:
        cfg = OmegaConf.merge(schema_node(Config), snapshot)
        for key in OmegaConf.missing_keys(cfg):  # ??? written by a run that did not need the value
            OmegaConf.update(cfg, key, None)
        if data_path is not None:
            cfg.data.path, cfg.data.dataset = str(data_path), None
        return build_experiment(cfg)
    except (OmegaConfBaseException, ConfigError) as exc:
        raise DeploymentError(f"{path}: does not fit the current config schema ({first_line(exc)})") from exc


def data_changes(recorded: dict[str, Any], path: str | None) -> list[str]:
    """How the data file differs from the one the deployment was trained on."""
    if "sha256" not in recorded or path is None:
        return []
    if not Path(path).is_file():
        return [f"data file {path} is missing (it was {recorded.get('path')})"]
    now = file_fingerprint(path)
    changes = []
    if now["size"] != recorded["size"]:
        changes.append(f"data file {path}: size {recorded['size']} -> {now['size']} bytes")
    if now["sha256"] != recorded["sha256"]:
        changes.append(f"data file {path}: SHA-256 {recorded['sha256'][:12]}... -> {now['sha256'][:12]}...")
    return changes


def replay(deployment_dir: str | Path, data_path: str | Path | None = None) -> ReplayReport:
    """Retrain from the snapshot and compare with the stored model."""
    deployment = Deployment.load(deployment_dir)
    metadata = deployment.metadata
    cfg = snapshot_experiment(deployment, data_path).config
    report = ReplayReport()
    recorded_data = metadata.get("run", {}).get("data", {})
    report.changes += data_changes(recorded_data, cfg.data.path)
    report.changes += [
        f"{name} {then} -> {now}"
        for name, (then, now) in sorted(version_drift(metadata.get("versions", {})).items())
    ]
    trusted = tuple(cfg.trusted_modules)
    frame, target, _ = load_dataset(cfg.data)
    problem_type = str(metadata.get("problem_type") or cfg.trainer.problem_type)
    model, preprocessor, training = train(
        frame, target, cfg.preprocessing, cfg.trainer, problem_type, trusted, cfg.optimized_metric
    )
    report.metrics = training["metrics"]
    stored_metrics = metadata.get("metrics", {})
    for name in sorted(set(stored_metrics) | set(training["metrics"])):
        then, now = stored_metrics.get(name), training["metrics"].get(name)
        if then != now:
            report.differences.append(f"metric {name}: {then} -> {now}")
    _, hold_out = split(frame, target, problem_type, cfg.trainer.test_size, cfg.trainer.random_state)
    features = hold_out.drop(columns=[target])
    stored = deployment.predict(features)
    retrained = model.predict(preprocessor.transform(features))
    report.compared_predictions = len(stored)
    mismatched = int(np.sum(np.asarray(stored) != np.asarray(retrained)))
    if mismatched:
        report.differences.append(f"{mismatched} of {len(stored)} hold-out predictions differ")
    return report
