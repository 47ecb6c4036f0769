"""The Hydra app's callback that keeps secrets out of the files Hydra writes.

Apart from :mod:`easy_mlops.config.secrets`, which masks snapshots and
overrides for every command, because only the Hydra app needs Hydra.
"""

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from easy_mlops.config.secrets import MASK, redact_files, secret_override_values, task_overrides


class RedactSecretsCallback(Callback):
    """Mask secrets given as overrides in the files Hydra writes itself.

    Hydra saves ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``
    (and a sweep's ``multirun.yaml``) with the overrides as typed; this
    rewrites them with ``***`` before the job starts.
    """

    def __init__(self) -> None:
        self.replaced_factory: Any = None  # the log record factory in place before the sweep

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Sweeps log each job's overrides ("Launching jobs"): redact every log record.

        Launchers reconfigure logging handlers, so the redaction sits in the
        record factory, which they leave alone; the sweep's end puts back the
        factory it replaced.
        """
        values = secret_override_values(task_overrides(config.hydra), config)
        if values:
            import logging

            make_record = self.replaced_factory = logging.getLogRecordFactory()

            def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = make_record(*args, **kwargs)
                message = record.getMessage()
                for value in values:
                    message = message.replace(value, MASK)
                record.msg, record.args = message, ()
                return record

            logging.setLogRecordFactory(redacted_record)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.replaced_factory is not None:
            import logging

            logging.setLogRecordFactory(self.replaced_factory)
            self.replaced_factory = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        values = secret_override_values(task_overrides(config.hydra), config)
        if values and config.hydra.output_subdir is not None:
            hydra_dir = Path(config.hydra.runtime.output_dir) / config.hydra.output_subdir
            redact_files(hydra_dir.glob("*.yaml"), values)
            redact_files([Path(config.hydra.sweep.dir) / "multirun.yaml"], values)
