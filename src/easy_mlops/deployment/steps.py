"""The deployment step catalogue and the context the steps share.

Steps run in order inside a staging directory; each reads and enriches the
:class:`DeploymentContext`. The deployer publishes the staged directory under
its final name only after every step succeeded, so a failure never leaves
something that looks like a finished deployment.
"""

import json
import stat
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml

from easy_mlops.config.registry import register
from easy_mlops.deployment.catalog import collect_garbage, staging_root
from easy_mlops.deployment.storage import filesystem, push_deployment
from easy_mlops.errors import ConfigError, StepPrerequisiteError
from easy_mlops.files import write_text_atomic
from easy_mlops.serialization import FORMATS, check_format, dump

# name -> step class: what a bare name in ``deployment.steps`` stands for.
STEP_REGISTRY: dict[str, type["DeploymentStep"]] = {}


def register_step(step_cls: type) -> type:
    """Make a :class:`DeploymentStep` subclass nameable in ``deployment.steps`` (a decorator too)."""
    return register(STEP_REGISTRY, DeploymentStep, step_cls)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeploymentContext:
    """Shared state of one deployment run.

    Steps write into ``staging_dir`` (``.<name>.partial/<name>``) until the
    run is published as ``final_dir`` (``<output_dir>/<name>``);
    ``deployment_dir`` is whichever of the two holds the files now, so its
    name is always the deployment's. Paths recorded in ``artifacts`` and the
    metadata point to ``final_dir``. ``clock`` gives the time that names the
    deployment and records when it was made.
    """

    model: Any
    preprocessor: Any
    training_results: dict[str, Any]
    config: dict[str, Any]
    output_dir: Path
    run_info: dict[str, Any] = field(default_factory=dict)
    create_endpoint: bool | None = None
    staging_dir: Path | None = None
    final_dir: Path | None = None
    published: bool = False
    clock: Callable[[], datetime] = utc_now
    metadata: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    # No save_preprocessor step: the model file carries the preprocessor, as the guide's "backend
    # that embeds preprocessing" does, so the deployment still predicts.
    embed_preprocessor: bool = False

    @property
    def deployment_dir(self) -> Path | None:
        return self.final_dir if self.published else self.staging_dir

    def require_directory(self, step: str) -> Path:
        """Where files go now, or a clear error if ``create_directory`` has not run."""
        if self.deployment_dir is None:
            raise StepPrerequisiteError(
                f"deployment step '{step}' needs a deployment directory: run 'create_directory' before it"
            )
        return self.deployment_dir

    def published_path(self, path: Path) -> Path:
        """Where a file written under ``deployment_dir`` lives once published."""
        assert self.deployment_dir is not None and self.final_dir is not None
        return self.final_dir / path.relative_to(self.deployment_dir)


def safe_filename(value: str, key: str) -> str:
    """Refuse names that could write outside the deployment directory."""
    if (
        not value
        or value in (".", "..")
        or "/" in value
        or "\\" in value
        or "\x00" in value
        or value.startswith("~")
    ):
        raise ConfigError(
            f"config key '{key}': {value!r} must be a plain file name "
            "(no path separators, '..' or '~'); it is written inside the deployment directory"
        )
    return value


class DeploymentStep:
    """One action of the deployment pipeline; subclasses set ``name`` and ``run``.

    Steps run in the staging directory; those with ``after_publish = True``
    (uploads, notifications) run once the deployment is published, on the
    final directory, and their failure leaves the deployment in place.
    """

    name: ClassVar[str] = ""
    after_publish: ClassVar[bool] = False

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def run(self, context: DeploymentContext) -> None:
        raise NotImplementedError


@register_step
class CreateDeploymentDirectoryStep(DeploymentStep):
    """Claim ``<prefix>_<YYYYmmdd_HHMMSS>[_N]`` and open its staging directory.

    The name is claimed by creating the hidden ``.<name>.partial`` folder with
    an atomic ``mkdir`` (no check-then-create race between processes); the run
    is assembled in ``.<name>.partial/<name>``, so every step sees the final
    name, and the deployer renames that folder into place when it publishes.
    """

    name = "create_directory"

    def __init__(self, prefix: str = "deployment", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.prefix = safe_filename(prefix, "deployment.deployment_prefix")

    def run(self, context: DeploymentContext) -> None:
        context.output_dir.mkdir(parents=True, exist_ok=True)
        collect_garbage(context.output_dir)  # leftovers of killed runs, past the grace period
        stamp = context.clock().astimezone().strftime("%Y%m%d_%H%M%S")  # local time, as people read it
        suffix = 0
        while True:
            name = f"{self.prefix}_{stamp}" + (f"_{suffix}" if suffix else "")
            claim = staging_root(context.output_dir, name)
            try:
                claim.mkdir()
            except FileExistsError:
                suffix += 1  # another process stages this name, or a killed one did
                continue
            if not (context.output_dir / name).exists():
                break
            claim.rmdir()  # published already
            suffix += 1
        context.staging_dir = claim / name
        context.staging_dir.mkdir()
        (context.staging_dir / "logs").mkdir()
        context.final_dir = context.output_dir / name
        context.artifacts["deployment_dir"] = str(context.final_dir)
        context.artifacts["deployment_name"] = name


@register_step
class SaveModelStep(DeploymentStep):
    """Persist the model through its trainer backend's ``save_model``.

    ``format: skops`` writes ``model.skops``, which loads without unpickling.
    """

    name = "save_model"

    def __init__(self, filename: str | None = None, format: str = "joblib", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.format = check_format(format, "deployment.steps.save_model.format")
        self.filename = safe_filename(
            filename or f"model{FORMATS[self.format]}", "deployment.steps.save_model.filename"
        )

    def run(self, context: DeploymentContext) -> None:
        path = context.require_directory(self.name) / self.filename
        if context.embed_preprocessor:
            context.model.save_model(path, preprocessor=context.preprocessor)
        else:
            context.model.save_model(path)
        context.artifacts["model_path"] = str(context.published_path(path))


@register_step
class SavePreprocessorStep(DeploymentStep):
    """Persist the fitted preprocessor so prediction transforms exactly as training did."""

    name = "save_preprocessor"

    def __init__(self, filename: str | None = None, format: str = "joblib", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.format = check_format(format, "deployment.steps.save_preprocessor.format")
        self.filename = safe_filename(
            filename or f"preprocessor{FORMATS[self.format]}", "deployment.steps.save_preprocessor.filename"
        )

    def run(self, context: DeploymentContext) -> None:
        path = context.require_directory(self.name) / self.filename
        dump(context.preprocessor, path)
        context.artifacts["preprocessor_path"] = str(context.published_path(path))


@register_step
class SaveProfileStep(DeploymentStep):
    """Write the training split's profile (``profile.json``), what drift is measured against.

    Checksummed with the other artifacts; skipped when the training results
    carry none (a model deployed by hand).
    """

    name = "save_profile"

    def __init__(self, filename: str = "profile.json", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.filename = safe_filename(filename, "deployment.steps.save_profile.filename")

    def run(self, context: DeploymentContext) -> None:
        profile = context.training_results.get("profile")
        if profile is None:
            return
        path = context.require_directory(self.name) / self.filename
        write_text_atomic(path, json.dumps(profile) + "\n")
        context.artifacts["profile_path"] = str(context.published_path(path))


@register_step
class MlflowModelStep(DeploymentStep):
    """Write ``mlflow_model/``: the deployment as an MLflow pyfunc (``deployment.mlflow_model=true``,
    or any run with ``tracking=mlflow``). Needs the model and preprocessor files written before it."""

    name = "mlflow_model"

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(enabled)
        if enabled:
            from easy_mlops.deployment.mlflow_model import require_mlflow

            require_mlflow("config key 'deployment.mlflow_model'")  # before training, not after

    def run(self, context: DeploymentContext) -> None:
        from easy_mlops.deployment.mlflow_model import MLFLOW_MODEL_DIR, save_mlflow_model

        directory = context.require_directory(self.name)
        written = {key: context.artifacts.get(key) for key in ("model_path", "preprocessor_path")}
        missing = [key.removesuffix("_path") for key, path in written.items() if path is None]
        if missing:
            raise StepPrerequisiteError(
                f"deployment step '{self.name}' needs the {' and '.join(missing)} saved before it"
            )
        path = directory / MLFLOW_MODEL_DIR
        save_mlflow_model(
            path,
            directory / Path(written["model_path"]).name,
            directory / Path(written["preprocessor_path"]).name,
            context.training_results.get("target_column"),
            context.preprocessor.input_schema(),
            context.training_results.get("input_example"),
            libraries=model_libraries(context.model, written["model_path"]),
        )
        context.artifacts["mlflow_model_path"] = str(context.published_path(path))


def model_libraries(model: Any, model_path: str) -> tuple[str, ...]:
    """Distributions a saved model needs besides ours and scikit-learn: the library its estimator
    comes from (``xgboost`` for our own subclass too), and ``skops`` for a ``.skops`` file."""
    estimator = getattr(model, "estimator", model)
    # The first class not of ours in its MRO (``object`` at the latest).
    origin = next(cls for cls in type(estimator).__mro__ if not cls.__module__.startswith("easy_mlops"))
    library = origin.__module__.split(".", 1)[0]
    needed = () if library in ("sklearn", "builtins") else (library,)
    return needed + (("skops",) if model_path.endswith(".skops") else ())


@register_step
class SaveMetadataStep(DeploymentStep):
    """Write the config snapshot and name the metadata file describing the deployment.

    The deployer writes the metadata itself when it publishes, once every
    step has run, so artifacts added by later steps (an endpoint script)
    are listed and checksummed too.
    """

    name = "save_metadata"

    def __init__(self, filename: str = "metadata.json", enabled: bool = True) -> None:
        super().__init__(enabled)
        self.filename = safe_filename(filename, "deployment.metadata_filename")

    def run(self, context: DeploymentContext) -> None:
        directory = context.require_directory(self.name)
        snapshot = context.run_info.get("config")  # config.yaml's text, made where the config was composed
        if snapshot is not None:
            write_text_atomic(directory / "config.yaml", snapshot)
        overrides = list(context.run_info.get("overrides", []))
        write_text_atomic(directory / "overrides.yaml", yaml.safe_dump(overrides, allow_unicode=True))
        context.artifacts["metadata_path"] = str(context.published_path(directory / self.filename))


# $filename is the script's configured name; a user's own template is written as given.
DEFAULT_ENDPOINT_TEMPLATE = '''#!/usr/bin/env python3
"""Score a data file with the model in this folder.

Usage: python $filename DATA_FILE   (CSV, JSON, JSON Lines or Parquet)
Prints {"predictions": [...]}, one prediction per input row, in order.
"""
import json
import sys
from pathlib import Path

from easy_mlops.inference import predict_file

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python $filename DATA_FILE")
    predictions = predict_file(sys.argv[1], Path(__file__).resolve().parent)
    print(json.dumps({"predictions": predictions}))
'''


@register_step
class EndpointScriptStep(DeploymentStep):
    """Write an executable helper script that scores new data with this deployment."""

    name = "endpoint_script"

    def __init__(
        self, filename: str = "predict.py", template: str | None = None, enabled: bool = True
    ) -> None:
        super().__init__(enabled)
        self.filename = safe_filename(filename, "deployment.endpoint_filename")
        self.template = template

    def run(self, context: DeploymentContext) -> None:
        if context.create_endpoint is False:
            return
        path = context.require_directory(self.name) / self.filename
        text = self.template or string.Template(DEFAULT_ENDPOINT_TEMPLATE).substitute(filename=self.filename)
        path.write_text(text, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        context.artifacts["endpoint_path"] = str(context.published_path(path))


@register_step
class UploadStep(DeploymentStep):
    """Copy the published deployment to object storage (``deployment.upload.uri``).

    Runs after the deployment is published, so a failed upload leaves a
    complete local deployment marked ``upload_failed``. Off when ``uri`` is null.
    """

    name = "upload"
    after_publish = True

    def __init__(
        self, uri: str | None = None, storage_options: dict[str, Any] | None = None, enabled: bool = True
    ):
        super().__init__(enabled and bool(uri))
        self.uri = uri
        self.storage_options = dict(storage_options or {})
        if self.enabled:
            if "://" not in uri:
                raise ConfigError(
                    f"config key 'deployment.upload.uri': {uri!r} is not a URL (e.g. s3://bucket/prefix)"
                )
            filesystem(uri, self.storage_options)  # a missing driver fails before training

    def run(self, context: DeploymentContext) -> None:
        remote_uri = push_deployment(context.require_directory(self.name), self.uri, self.storage_options)
        context.artifacts["remote_uri"] = remote_uri
        if remote_uri.startswith(("s3://", "s3a://")):
            context.artifacts["s3_uri"] = remote_uri
