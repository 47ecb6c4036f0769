"""A Hydra callback that keeps a library's chatter out of a sweep's output.

optuna sets up its own logger (INFO, on stderr, in colour) when it is first
imported, after Hydra has applied ``hydra_logging``, so a level set there
cannot reach it: "A new study created..." would be the only line on stderr
of a good search. The callback sets optuna's level before the sweeper imports
it; warnings still show. (alembic's "setup plugin" lines are silenced in
``conf/config.yaml``.)
"""

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

OPTUNA_SWEEPERS = "hydra_plugins.hydra_optuna_sweeper."


class QuietOptunaCallback(Callback):
    """Only optuna's warnings and errors, when the sweeper is optuna's."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        target = OmegaConf.select(config, "hydra.sweeper._target_", default=None)
        if isinstance(target, str) and target.startswith(OPTUNA_SWEEPERS):
            import optuna

            optuna.logging.set_verbosity(logging.WARNING)
