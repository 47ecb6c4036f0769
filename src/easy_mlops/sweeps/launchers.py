"""A Hydra callback that checks, before a sweep starts, that its launcher can run here.

Launchers fail late and loudly: submitit's SLURM executor raises a bare
``RuntimeError`` from deep inside the sweep when ``srun`` is missing, with no
type of its own to catch. The callback asks submitit the same question first
(``SlurmExecutor.affinity()``) and stops the sweep with a
:class:`LauncherUnavailable`, which the app reports as one line.
"""

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

SUBMITIT_LAUNCHERS = "hydra_plugins.hydra_submitit_launcher."


class LauncherUnavailable(BaseException):
    """The sweep's launcher cannot run on this machine; the message says what to use instead.

    A ``BaseException`` because Hydra turns an ``Exception`` raised by a callback
    into a warning and starts the sweep anyway; the app re-raises it as a
    :class:`~easy_mlops.errors.ConfigError`.
    """


class LauncherCheckCallback(Callback):
    """Refuse a sweep whose launcher cannot start on this machine, before any job runs."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_launcher(config.hydra)


def check_launcher(hydra_cfg: DictConfig) -> None:
    """Raise :class:`LauncherUnavailable` when ``hydra.launcher`` is SLURM and there is no SLURM here."""
    target = OmegaConf.select(hydra_cfg, "launcher._target_", default=None)
    if not isinstance(target, str) or not target.startswith(SUBMITIT_LAUNCHERS):
        return
    from hydra.utils import get_class
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    try:
        launcher_class = get_class(target)
    except ImportError:
        return  # Hydra names the missing launcher when it instantiates it
    if not issubclass(launcher_class, SlurmLauncher):
        return
    from submitit import SlurmExecutor

    if SlurmExecutor.affinity() > 0:  # submitit's own test: is srun on PATH
        return
    choice = hydra_cfg.runtime.choices.get("hydra/launcher") or "slurm"
    raise LauncherUnavailable(
        f'hydra/launcher={choice}: Could not detect "srun" (no SLURM on this machine?); '
        "use hydra/launcher=submitit_local to run the jobs here"
    )
