"""Run the configured deployment steps and publish the result atomically.

The guide's ``ModelDeployer`` (:mod:`easy_mlops.deployment.guide`) adds the
original package's names to :class:`Deployer`.
"""

import dataclasses
import logging
import shutil
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from easy_mlops.config.config import DeploymentConfig
from easy_mlops.config.guide_format import typed_section
from easy_mlops.config.instantiate import instantiate_steps
from easy_mlops.deployment import steps as builtin
from easy_mlops.deployment.metadata import DEFAULT_METADATA, build_metadata
from easy_mlops.errors import DeploymentError, MLOpsError
from easy_mlops.files import write_json_atomic

log = logging.getLogger(__name__)


class Deployer:
    """Materialise a trained model as a versioned, self-describing directory.

    Steps come from ``deployment.steps`` (a name-keyed mapping of ``_target_``
    nodes, or the guide's list of names). Names resolve through the registry
    beside the steps (:data:`~easy_mlops.deployment.steps.STEP_REGISTRY`);
    :func:`~easy_mlops.deployment.steps.register_step` adds custom steps to it.
    """

    def __init__(
        self,
        config: Any = None,
        trusted_modules: Iterable[str] = (),
        clock: Callable[[], datetime] = builtin.utc_now,
    ) -> None:
        self.config: DeploymentConfig = typed_section(DeploymentConfig, config, "deployment")
        self.trusted_modules = tuple(trusted_modules)
        self.clock = clock  # names deployments and records when they were made; tests pin it
        self.steps = self._initialize_steps()

    def _initialize_steps(self) -> list[builtin.DeploymentStep]:
        built = instantiate_steps(
            self.config.steps,
            "deployment.steps",
            builtin.STEP_REGISTRY,
            builtin.DeploymentStep,
            self.trusted_modules,
        )
        steps = [step for _, step in built if step.enabled]
        return self._with_endpoint_step(steps) if self.config.create_endpoint else steps

    def _with_endpoint_step(self, steps: list[builtin.DeploymentStep]) -> list[builtin.DeploymentStep]:
        """``steps`` plus an endpoint script step from the flat keys, unless one is there.

        The guide's ``create_endpoint`` injects the step even into an explicit
        step list without one.
        """
        if any(isinstance(step, builtin.EndpointScriptStep) for step in steps):
            return steps
        endpoint = builtin.EndpointScriptStep(self.config.endpoint_filename, self.config.endpoint_template)
        return [*steps, endpoint]

    def deploy(
        self,
        model: Any,
        preprocessor: Any,
        training_results: Mapping[str, Any],
        create_endpoint: bool | None = None,
        output_dir: str | Path | None = None,
        run_info: Mapping[str, Any] | None = None,
        on_published: Callable[[Path], None] | None = None,
    ) -> dict[str, Any]:
        """Run every step, then publish the staged directory under its final name.

        Returns the artifacts map (``deployment_dir``, ``model_path``, ...). If a
        step fails, the staging directory (and with it the name's claim) is
        removed and the error names the step. ``on_published(deployment_dir)``
        runs between publishing and the ``after_publish`` steps (the pipeline
        logs the training metrics there, so uploads carry them).
        """
        from easy_mlops.training.trainer import TrainedModel

        if not hasattr(model, "save_model"):
            results = dict(training_results)
            model = TrainedModel(
                model,
                results.get("problem_type", ""),
                results.get("target_column", ""),
                results.get("metrics", {}),
            )
        context = builtin.DeploymentContext(
            model=model,
            preprocessor=preprocessor,
            training_results=dict(training_results),
            config=dataclasses.asdict(self.config),
            output_dir=Path(output_dir or self.config.output_dir).resolve(),
            run_info=dict(run_info or {}),
            create_endpoint=create_endpoint,
            clock=self.clock,
        )
        steps = self._with_endpoint_step(self.steps) if create_endpoint else self.steps
        context.embed_preprocessor = preprocessor is not None and not any(
            isinstance(step, builtin.SavePreprocessorStep) for step in steps
        )
        try:
            for step in steps:
                if not step.after_publish:
                    self._run_step(step, context)
            self._publish(context)
        except BaseException:
            self._discard(context)
            raise
        log.info("deployed to %s", context.final_dir)
        if on_published is not None:
            on_published(context.final_dir)
        for step in steps:
            if step.after_publish:
                self._run_step(step, context)
        return context.artifacts

    @staticmethod
    def _run_step(step: builtin.DeploymentStep, context: builtin.DeploymentContext) -> None:
        name = step.name or type(step).__name__
        try:
            step.run(context)
        except MLOpsError:
            raise
        except Exception as exc:
            detail = str(exc)
            if context.staging_dir is not None and context.final_dir is not None:
                detail = detail.replace(str(context.staging_dir), str(context.final_dir))
            raise DeploymentError(f"deployment step '{name}' failed: {type(exc).__name__}: {detail}") from exc

    def _metadata(self, context: builtin.DeploymentContext) -> dict[str, Any]:
        """What the metadata file says about the deployment in ``context``."""
        metadata_path = context.artifacts.get("metadata_path", DEFAULT_METADATA)
        preprocessor = context.preprocessor
        return build_metadata(
            name=context.artifacts.get("deployment_name"),
            directory=context.require_directory("save_metadata"),
            metadata_name=Path(metadata_path).name,
            version=self.config.version,
            deployment_time=self.config.deployment_time,
            training_results=context.training_results,
            artifacts=context.artifacts,
            input_schema=preprocessor.input_schema() if hasattr(preprocessor, "input_schema") else None,
            run_info=context.run_info,
            created_at=context.clock(),
        )

    def _publish(self, context: builtin.DeploymentContext) -> None:
        """Write the metadata (checksums of every artifact), then rename the staging folder into place."""
        if context.staging_dir is None or context.final_dir is None:
            raise DeploymentError("no deployment directory was created: include the 'create_directory' step")
        metadata_path = context.artifacts.get("metadata_path")
        if metadata_path:
            context.metadata = self._metadata(context)
            write_json_atomic(context.staging_dir / Path(metadata_path).name, context.metadata)
        else:
            log.warning("no save_metadata step: %s will not be listed or loadable", context.final_dir)
        context.staging_dir.rename(context.final_dir)
        context.published = True
        context.staging_dir.parent.rmdir()  # the claim on the name, now empty

    @staticmethod
    def _discard(context: builtin.DeploymentContext) -> None:
        if context.staging_dir is not None and not context.published:
            shutil.rmtree(context.staging_dir.parent, ignore_errors=True)
