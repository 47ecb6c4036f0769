"""Runs in MLflow (``tracking=mlflow``): one per deployment, a parent per sweep, live evaluations as steps.

A run is logged from what its deployment holds once published (metadata.json,
config.yaml, overrides.yaml, ``mlflow_model/``), so a tracking server that
cannot be reached costs no training: the deployment stays complete and
verified, ``metadata.json`` records ``tracking.status: failed`` with the
error, and ``make-mlops-easy track MODEL_DIR`` logs it later. Params come from
``config.yaml``, whose secrets are already masked. Nothing here imports MLflow
until a run is logged.
"""

import dataclasses
import json
import logging
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from easy_mlops.config.experiment import resolvable
from easy_mlops.config.instantiate import first_line
from easy_mlops.config.secrets import MASK, mask_overrides, mask_url_password, safe_snapshot
from easy_mlops.config.snapshot import resolved_section
from easy_mlops.deployment.metadata import find_metadata_file, read_metadata, read_snapshot_data
from easy_mlops.deployment.mlflow_model import MLFLOW_MODEL_DIR, quiet_mlflow, require_mlflow
from easy_mlops.errors import TrackingError, one_line
from easy_mlops.files import write_json_atomic

log = logging.getLogger(__name__)

PARENT_RUN_FILE = "mlflow_parent_run.json"  # in the sweep directory: where jobs find their parent run
# Unless the user set them: MLflow retries a refused request 7 times over about two minutes, where a
# run should fail in seconds; and it prints run links to stdout, which may be our JSON.
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
# What requests says when nothing answers, as one would say it.
UNREACHABLE = {
    "Connection refused": "connection refused",
    "Name or service not known": "unknown host",
    "Read timed out": "timed out",
    "Connect timeout": "timed out",
    "Max retries exceeded": "no answer",
}
MAX_PARAM_LENGTH = 6000  # MLflow's limit for one param value
TAG = "easy_mlops."


def tracking_uri(uri: str | None) -> str:
    """The configured URI, else ``$MLFLOW_TRACKING_URI``, else ``./mlruns``.

    A local path (``./mlruns``, ``/srv/mlruns``, ``~/mlruns``, ``file:./mlruns``), MLflow's usual
    spelling of a file store, becomes an absolute ``file://`` URI, which MLflow's client takes for
    one; anything with a scheme (``http://``, ``sqlite:///``, ``databricks``) is left as it is.
    """
    uri = str(uri or os.environ.get("MLFLOW_TRACKING_URI") or "mlruns")
    if uri.startswith("file:") and not uri.startswith("file://"):
        uri = uri.removeprefix("file:")
    elif uri == "databricks" or re.match(r"^[A-Za-z][\w+.-]*:", uri):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def mlflow_client(uri: str) -> Any:
    for name, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if uri.startswith("file:"):
        # MLflow keeps its file store "in maintenance" behind this switch; it is our default, ./mlruns.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def tracking_failure(exc: BaseException) -> str:
    """A tracking failure in a few words: the server unreachable, or MLflow's own first line."""
    text = one_line(exc) or type(exc).__name__
    for cause, words in UNREACHABLE.items():
        if cause in text:
            return f"server unreachable ({words})"
    return mask_url_password(text)


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """``{"trainer.model.C": "1.0", ...}``: every leaf of a config as an MLflow param."""
    if isinstance(node, dict) and node:
        params: dict[str, str] = {}
        for key, value in node.items():
            params.update(flatten(value, f"{prefix}{key}."))
        return params
    value = json.dumps(node) if isinstance(node, (list, dict)) else "null" if node is None else str(node)
    return {prefix.rstrip("."): value[:MAX_PARAM_LENGTH]}


def config_params(config: dict[str, Any]) -> list[Any]:
    """Every leaf of a (masked) config as an MLflow ``Param``."""
    from mlflow.entities import Param

    return [Param(key, value) for key, value in flatten(config).items()]


def git_commit(directory: Path | None = None) -> str | None:
    """The commit checked out where the run started, when that is inside a git repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def data_name(data: Any) -> str:
    """The default experiment: the data file's stem, or the built-in dataset's name."""
    data = data or {}
    path = data.get("path")
    return Path(str(path)).stem if path else str(data.get("name") or data.get("dataset") or "easy_mlops")


def millis(timestamp: str | None) -> int:
    try:
        return int(datetime.fromisoformat(str(timestamp)).timestamp() * 1000)
    except ValueError:
        return int(time.time() * 1000)


class MlflowTracker:
    """Log each deployment as an MLflow run (the ``tracking`` node's ``_target_``)."""

    def __init__(
        self,
        uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        register_model: str | None = None,
        log_artifacts: bool = True,
    ) -> None:
        require_mlflow("tracking=mlflow")  # before any data is read
        self.uri = tracking_uri(uri)
        self.experiment = experiment
        self.run_name = run_name
        self.register_model = register_model
        self.log_artifacts = log_artifacts

    def experiment_id(self, client: Any, data: Any) -> str:
        """The configured experiment's id, else the data's name's; created when new."""
        name = self.experiment or data_name(data)
        found = client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else client.create_experiment(name)

    def log_deployment(self, directory: str | Path, parent: dict[str, Any] | None = None) -> dict[str, Any]:
        """Log a published deployment as a finished run; record the outcome in its metadata.json.

        ``parent`` (a sweep's parent run) makes the run its child, in the
        parent's experiment. Raises :class:`TrackingError` (one line) when
        the server cannot record it; the deployment is left as it was.
        """
        directory = Path(directory)
        metadata_path = find_metadata_file(directory)
        metadata = read_metadata(directory)
        previous = metadata.get("tracking") or {}
        if previous.get("status") == "logged":
            return previous
        record: dict[str, Any] = {"uri": mask_url_password(self.uri)}
        try:
            with quiet_mlflow():
                self._log_run(directory, metadata_path, metadata, record, previous, parent)
        except Exception as exc:
            error = tracking_failure(exc)
            metadata["tracking"] = {**record, "status": "failed", "error": error}
            write_json_atomic(metadata_path, metadata)
            raise TrackingError(
                f"tracking: could not log {directory.name} to {record['uri']}: {error}; the deployment is "
                f"complete, retry with `make-mlops-easy track {directory}`"
            ) from exc
        log.info("logged %s as MLflow run %s", directory.name, record["run_id"])
        return record

    def _log_run(
        self,
        directory: Path,
        metadata_path: Path,
        metadata: dict[str, Any],
        record: dict[str, Any],
        previous: dict[str, Any],
        parent: dict[str, Any] | None,
    ) -> None:
        """Create (or, on a retry, resume) the run and log everything; ``record`` fills in as it goes."""
        client = mlflow_client(self.uri)
        if parent:
            experiment_id = parent["experiment_id"]
        else:
            run = metadata.get("run", {})
            experiment_id = self.experiment_id(client, run.get("data"))
        record["experiment_id"] = experiment_id
        run_id = previous.get("run_id") if previous.get("uri") == record["uri"] else None
        if run_id is None:
            run_id = client.create_run(
                experiment_id,
                start_time=millis(metadata.get("created_at")),
                tags=self._tags(metadata, directory, parent),
                run_name=self.run_name or metadata.get("name") or directory.name,
            ).info.run_id
        record["run_id"] = run_id
        self._log_values(client, run_id, directory, metadata)
        if self.log_artifacts:
            for name in ("config.yaml", "overrides.yaml"):
                if (directory / name).is_file():
                    client.log_artifact(run_id, str(directory / name))
            if (directory / MLFLOW_MODEL_DIR).is_dir():
                client.log_artifacts(run_id, str(directory / MLFLOW_MODEL_DIR), "model")
        if self.register_model:
            record["registered_model"] = self._register(client, run_id, metadata)
        record["status"] = "logged"
        metadata["tracking"] = record
        write_json_atomic(metadata_path, metadata)
        if self.log_artifacts:
            client.log_artifact(run_id, str(metadata_path))
        client.set_terminated(run_id, "FINISHED")

    def _tags(
        self, metadata: dict[str, Any], directory: Path, parent: dict[str, Any] | None
    ) -> dict[str, str]:
        run = metadata.get("run", {})
        hydra = run.get("hydra") or {}
        data = run.get("data") or {}
        tags = {
            f"{TAG}deployment": str(metadata.get("name") or directory.name),
            f"{TAG}deployment_dir": str(directory.resolve()),
            f"{TAG}version": str(metadata.get("version", "")),
            f"{TAG}overrides": " ".join(run.get("overrides") or []),
            f"{TAG}data": str(data.get("path") or data.get("name") or ""),
            f"{TAG}data_sha256": str(data.get("sha256") or ""),
            f"{TAG}problem_type": str(metadata.get("problem_type") or ""),
            f"{TAG}estimator": str((metadata.get("training") or {}).get("estimator") or ""),
        }
        if run.get("git_commit"):
            tags["mlflow.source.git.commit"] = run["git_commit"]
        return {key: value for key, value in {**tags, **job_tags(hydra, parent)}.items() if value}

    def _log_values(self, client: Any, run_id: str, directory: Path, metadata: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        config = read_snapshot_data(directory) or {}  # secrets as their interpolation or ***
        when = millis(metadata.get("created_at"))
        metrics = [
            Metric(name, float(value), when, 0) for name, value in (metadata.get("metrics") or {}).items()
        ]
        client.log_batch(run_id, metrics=metrics, params=config_params(config))

    def _register(self, client: Any, run_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        from mlflow.exceptions import MlflowException

        name = self.register_model
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{client.get_run(run_id).info.artifact_uri}/model"
        version = client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags={
                f"{TAG}deployment": str(metadata.get("name")),
                f"{TAG}version": str(metadata.get("version")),
            },
        )
        return {"name": name, "version": str(version.version)}

    def log_failure(self, cfg: DictConfig, error: BaseException, run_info: dict[str, Any]) -> None:
        """A run that ended FAILED with ``error`` (a job whose training failed); a warning if unreachable."""
        try:
            self._log_failed_run(cfg, error, run_info)
        except Exception as exc:  # the job's own error is what the user must see
            log.warning(
                "tracking: could not record the failed run in %s: %s", self.uri, tracking_failure(exc)
            )

    def _log_failed_run(self, cfg: DictConfig, error: BaseException, run_info: dict[str, Any]) -> None:
        with quiet_mlflow():
            client = mlflow_client(self.uri)
            parent = parent_run(run_info)
            experiment_id = parent["experiment_id"] if parent else self.experiment_id(client, cfg.get("data"))
            tags = {
                f"{TAG}overrides": " ".join(mask_overrides(run_info.get("overrides", []), cfg)),
                f"{TAG}error": mask_url_password(first_line(error))[:5000],  # the job's own error, as is
                **job_tags(run_info.get("hydra") or {}, parent),
            }
            run_id = client.create_run(experiment_id, tags=tags, run_name=self.run_name).info.run_id
            # The run may have failed before it found the problem type its estimator depends on.
            config = OmegaConf.to_container(safe_snapshot(resolvable(cfg)), resolve=False)
            client.log_batch(run_id, params=config_params(config))
            client.set_terminated(run_id, "FAILED")


def job_tags(hydra: dict[str, Any], parent: dict[str, Any] | None) -> dict[str, str]:
    """Where a sweep's job comes from: its sweep directory, job number and parent run."""
    tags = {}
    if "sweep_dir" in hydra:
        tags = {f"{TAG}sweep_dir": str(hydra["sweep_dir"]), f"{TAG}job": str(hydra.get("job_num"))}
    if parent:
        tags["mlflow.parentRunId"] = parent["run_id"]
    return tags


def build_tracker(tracking: Any) -> MlflowTracker | None:
    """The configured tracker (the typed ``tracking`` section, or its keys as a mapping), or None when
    ``tracking._target_`` is null (nothing of MLflow is imported)."""
    if dataclasses.is_dataclass(tracking):
        tracking = dataclasses.asdict(tracking)
    if tracking is None or not tracking.get("_target_"):
        return None
    from easy_mlops.config.instantiate import instantiate

    return instantiate(tracking, "tracking")


def log_failed_run(cfg: DictConfig, error: BaseException, run_info: dict[str, Any]) -> None:
    """Record a run whose training failed, when tracking is on; never hides ``error`` behind its own."""
    if isinstance(error, TrackingError):
        return  # the run trained and deployed; the server itself is what failed
    try:
        tracker = build_tracker(cfg.get("tracking"))
    except Exception:  # a missing extra: the run's own error says enough
        return
    if tracker is not None:
        tracker.log_failure(cfg, error, run_info)


def parent_run(run_info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The sweep's parent run, for a job of a tracked sweep."""
    sweep_dir = ((run_info or {}).get("hydra") or {}).get("sweep_dir")
    if not sweep_dir:
        return None
    path = Path(sweep_dir) / PARENT_RUN_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def track_deployment(directory: str | Path, uri: str | None = None) -> dict[str, Any]:
    """Log (again) a deployment whose tracking failed, with the tracking settings of its snapshot."""
    directory = Path(directory)
    settings = resolved_section(read_snapshot_data(directory), "tracking") or {}  # absent: made before
    settings.pop("_target_", None)
    metadata = read_metadata(directory)
    recorded = (metadata.get("tracking") or {}).get("uri")
    configured = settings.pop("uri", None)
    usable = next((u for u in (configured, recorded) if u and MASK not in u), None)
    tracker = MlflowTracker(uri=uri or usable, **settings)
    return tracker.log_deployment(directory, parent_run(metadata.get("run", {})))


def log_live_metrics(directory: str | Path, metrics: dict[str, float]) -> dict[str, Any] | None:
    """Add a live evaluation to the deployment's run, one step after the last; None when untracked."""
    record = read_metadata(directory).get("tracking") or {}
    if record.get("status") != "logged" or MASK in str(record.get("uri")):
        return None
    require_mlflow("tracking")
    from mlflow.entities import Metric

    try:
        with quiet_mlflow():
            client = mlflow_client(record["uri"])
            first = next(iter(metrics))
            step = max((m.step for m in client.get_metric_history(record["run_id"], first)), default=0) + 1
            now = int(time.time() * 1000)
            client.log_batch(
                record["run_id"],
                metrics=[Metric(name, float(value), now, step) for name, value in metrics.items()],
            )
    except Exception as exc:
        raise TrackingError(
            f"tracking: could not log the evaluation to run {record['run_id']} at {record['uri']}: "
            f"{tracking_failure(exc)}; the evaluation is recorded in the deployment's logs"
        ) from exc
    return {"run_id": record["run_id"], "step": step}
