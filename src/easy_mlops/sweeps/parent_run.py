"""A sweep's parent run in MLflow (``tracking=mlflow``): its jobs' runs are children of it.

The parent is created when the sweep starts and its id written to the sweep
directory, where each job (in any launcher's process) finds it; when the
sweep ends, the leaderboard's best value is logged on it.
"""

import json
import logging
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from easy_mlops.config.secrets import mask_overrides, mask_url_password
from easy_mlops.deployment.mlflow_model import quiet_mlflow
from easy_mlops.files import write_json_atomic
from easy_mlops.sweeps.board import SUMMARY_JSON, read_leaderboard
from easy_mlops.tracking import (
    PARENT_RUN_FILE,
    TAG,
    build_tracker,
    mlflow_client,
    tracking_failure,
    tracking_uri,
)

log = logging.getLogger(__name__)


class SweepRunCallback(Callback):
    """With ``tracking=mlflow``, a parent run per sweep: its jobs' runs are its children, and the
    leaderboard's best value is logged on it when the sweep ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        tracker = build_tracker(config.get("tracking"))
        if tracker is None:
            return
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        try:
            with quiet_mlflow():
                client = mlflow_client(tracker.uri)
                experiment_id = tracker.experiment_id(client, config.get("data"))
                overrides = mask_overrides(list(config.hydra.overrides.task), config)
                run = client.create_run(
                    experiment_id,
                    run_name=tracker.run_name or f"sweep {sweep_dir.parent.name}/{sweep_dir.name}",
                    tags={f"{TAG}sweep_dir": str(sweep_dir), f"{TAG}overrides": " ".join(overrides)},
                )
        except Exception as exc:
            log.warning("tracking: no parent run for this sweep (%s): %s", tracker.uri, tracking_failure(exc))
            return
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            sweep_dir / PARENT_RUN_FILE,
            {
                "run_id": run.info.run_id,
                "experiment_id": experiment_id,
                "uri": mask_url_password(tracker.uri),
            },
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish_sweep_run(
            Path(config.hydra.sweep.dir), failed=False, uri=tracking_uri(config.tracking.get("uri"))
        )


def finish_sweep_run(sweep_dir: str | Path, failed: bool, uri: str | None = None) -> None:
    """End a sweep's parent run with the leaderboard's best value (FAILED when a job failed)."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / PARENT_RUN_FILE
    if not path.is_file():
        return
    parent = json.loads(path.read_text(encoding="utf-8"))
    try:
        with quiet_mlflow():
            client = mlflow_client(uri or parent["uri"])
            board = read_leaderboard(sweep_dir) if (sweep_dir / SUMMARY_JSON).is_file() else {}
            best = next((row for row in board.get("rows", []) if row.get("status") == "ok"), None)
            metric = board.get("metric")
            if best is not None and metric in best.get("metrics", {}):
                from mlflow.entities import Metric

                value = float(best["metrics"][metric])
                client.log_batch(
                    parent["run_id"], metrics=[Metric(f"best_{metric}", value, int(time.time() * 1000), 0)]
                )
                client.set_tag(parent["run_id"], f"{TAG}best_job", str(best["job"]))
                if best.get("deployment_dir"):
                    client.set_tag(parent["run_id"], f"{TAG}best_deployment", str(best["deployment_dir"]))
            jobs = board.get("rows", [])
            client.set_tag(parent["run_id"], f"{TAG}jobs", str(len(jobs)))
            client.set_tag(
                parent["run_id"], f"{TAG}failed_jobs", str(sum(row.get("status") == "failed" for row in jobs))
            )
            client.set_terminated(parent["run_id"], "FAILED" if failed else "FINISHED")
    except Exception as exc:
        log.warning("tracking: could not end the sweep's parent run: %s", tracking_failure(exc))
