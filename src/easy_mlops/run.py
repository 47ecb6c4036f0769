"""The Hydra app: ``python -m easy_mlops.run [group=preset] [key=value] [-m]``.

Composes ``conf/`` and runs :func:`easy_mlops.pipeline.run_experiment`. Add
``debug=true`` (or ``hydra.verbose=true``) to see tracebacks of user errors.
"""

import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from easy_mlops.config.compose import config_dir
from easy_mlops.config.config import register_configs
from easy_mlops.config.experiment import build_experiment
from easy_mlops.config.hydra_versions import main_options
from easy_mlops.config.secrets import mask_overrides, task_overrides
from easy_mlops.console import USER_ERROR_EXIT, print_results, reporting_errors
from easy_mlops.errors import ConfigError
from easy_mlops.files import write_json_atomic
from easy_mlops.runtime import settle, settled
from easy_mlops.sweeps.board import RESULT_FILE, JobFailed, print_failed_sweep
from easy_mlops.sweeps.launchers import LauncherUnavailable
from easy_mlops.sweeps.parent_run import finish_sweep_run
from easy_mlops.tracking import log_failed_run

register_configs()

TRUE = ("true", "yes", "on", "1")


def hydra_run_info() -> dict:
    """What the deployment records about this Hydra run (overrides, job, directories)."""
    hydra_cfg = HydraConfig.get()
    info = {
        "overrides": task_overrides(hydra_cfg),
        "hydra": {
            "mode": hydra_cfg.mode.name,
            "output_dir": str(Path(hydra_cfg.runtime.output_dir).resolve()),
        },
    }
    if hydra_cfg.mode == RunMode.MULTIRUN:  # absolute: prune finds the sweep from anywhere
        info["hydra"].update(job_num=hydra_cfg.job.num, sweep_dir=str(Path(hydra_cfg.sweep.dir).resolve()))
    return info


def job_name(cfg: DictConfig) -> str | None:
    """``job 3: trainer=mlp trainer.test_size=0.3`` in a sweep (secrets masked); None in a single run."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    overrides = " ".join(mask_overrides(task_overrides(hydra_cfg), cfg))
    return f"job {hydra_cfg.job.num}" + (f": {overrides}" if overrides else "")


@hydra.main(config_path=str(config_dir()), config_name="config", **main_options())
def app(cfg: DictConfig) -> float | None:
    from easy_mlops.pipeline import run_experiment

    with settled():  # the imports and the composed config, left out of collections for this job
        return run_job(cfg, run_experiment)


def run_job(cfg: DictConfig, run_experiment: Callable[..., dict[str, Any]]) -> float | None:
    """One run or one sweep job: train, deploy, report; returns the optimized metric for sweepers."""
    # In a single run, report here: past this function Hydra adds its own
    # "Error executing job" line. In a sweep, the job fails and the sweep decides.
    single_run = HydraConfig.get().mode == RunMode.RUN
    run_info = hydra_run_info()
    with reporting_errors(cfg.debug or bool(HydraConfig.get().verbose) or not single_run):
        try:
            experiment = build_experiment(cfg, run_info["overrides"])
            results = run_experiment(
                experiment, run_info=run_info, report=partial(print_results, job=job_name(cfg))
            )
        except Exception as exc:
            log_failed_run(cfg, exc, run_info)  # with tracking=mlflow: a FAILED run, the error as a tag
            raise
    training = results["training"]
    # The sweep leaderboard reads this from the job's own output directory.
    write_json_atomic(
        Path(HydraConfig.get().runtime.output_dir) / RESULT_FILE,
        {
            "metrics": training["metrics"],
            "optimized_metric": training["optimized_metric"],
            "deployment_dir": results["deployment"].get("deployment_dir"),
        },
    )
    # What sweepers (optuna) optimise: set their direction to match optimized_metric.
    return training["metrics"][training["optimized_metric"]]


def debug_requested(arguments: list[str]) -> bool:
    """``debug=true`` or ``hydra.verbose=...`` among the command line's overrides."""
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key.lstrip("+") == "debug" and value.lower() in TRUE:
            return True
        if key == "hydra.verbose" and value.lower() not in ("false", "[]", ""):
            return True
    return False


class WithoutHydraJobErrors:
    """stderr without the line Hydra writes when a sweeper reads a failed job's result
    (``Error executing job with overrides: [...]``): it lists the overrides unmasked, secrets
    included, and the sweep's own report names the failed job (its overrides masked) anyway."""

    PREFIX = "Error executing job with overrides:"

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return len(text) if text.startswith(self.PREFIX) else self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main() -> None:
    arguments = sys.argv[1:]
    if "--debug" in arguments:
        print("error: python -m easy_mlops.run takes debug=true (a config key), not --debug", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    show_tracebacks = debug_requested(arguments)
    # Composition errors reach reporting_errors whole, instead of Hydra's multi-line report.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    settle()  # the imports, before Hydra composes
    sys.stderr = WithoutHydraJobErrors(sys.stderr)
    with reporting_errors(show_tracebacks, overrides=arguments):
        try:
            app()
        except LauncherUnavailable as refusal:
            raise ConfigError(str(refusal)) from refusal
        except JobFailed as failure:
            # Hydra skipped on_multirun_end: show the leaderboard and every failed job here.
            print_failed_sweep(failure.sweep_dir)
            finish_sweep_run(failure.sweep_dir, failed=True)
            if show_tracebacks:
                raise
            sys.exit(USER_ERROR_EXIT)


if __name__ == "__main__":
    main()
