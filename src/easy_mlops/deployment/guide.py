"""The guide's ``ModelDeployer``: the core :class:`~easy_mlops.deployment.deployer.Deployer` under the
names scripts written for the original package call.

The core deploys (``deploy``) and loads through
:class:`~easy_mlops.deployment.loading.Deployment`; the guide's
``save_deployment_artifacts``, ``create_model_metadata``,
``load_deployed_model`` and class-level step registry are here.
"""

from pathlib import Path
from typing import Any

from easy_mlops.config.registry import register, step_registry_attribute
from easy_mlops.deployment import steps as builtin
from easy_mlops.deployment.deployer import Deployer
from easy_mlops.deployment.loading import Deployment
from easy_mlops.preprocessing.preprocessor import DataPreprocessor


class ModelDeployer(Deployer, metaclass=step_registry_attribute(builtin.STEP_REGISTRY)):
    """A :class:`Deployer` with the guide's API (``load_deployed_model``, ``register_step``...).

    ``ModelDeployer.STEP_REGISTRY`` is the registry beside the steps (name -> class);
    a mapping assigned to it becomes the registry's content.
    """

    STEP_REGISTRY = builtin.STEP_REGISTRY  # read through an instance too, as a class attribute is

    @classmethod
    def register_step(cls, step_cls: type) -> type:
        """Make a :class:`DeploymentStep` subclass nameable in ``deployment.steps``."""
        return register(cls.STEP_REGISTRY, builtin.DeploymentStep, step_cls)

    def save_deployment_artifacts(
        self,
        model: Any,
        preprocessor: Any,
        training_results: Any,
        output_dir: str | Path | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """:meth:`deploy`, with the output directory chosen at call time."""
        return self.deploy(model, preprocessor, training_results, output_dir=output_dir, **options)

    def create_model_metadata(self, context: builtin.DeploymentContext) -> dict[str, Any]:
        """What the metadata file says about the deployment in ``context``."""
        return super()._metadata(context)

    def _metadata(self, context: builtin.DeploymentContext) -> dict[str, Any]:
        # The guide writes metadata.json through create_model_metadata: a subclass overriding it is heard.
        return self.create_model_metadata(context)

    def load_deployed_model(
        self, deployment_dir: str | Path, verify: bool = True
    ) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """``(model_data, preprocessor, metadata)`` of a deployment directory, ``latest`` or a URL.

        The preprocessor is the guide's :class:`DataPreprocessor` (``prepare_data``,
        ``target_column``), whichever version of the package fitted it.
        """
        deployment = Deployment.load(deployment_dir, verify, self.config.output_dir)
        target = deployment.metadata.get("target_column")
        preprocessor = DataPreprocessor.from_fitted(deployment.preprocessor, target)
        return deployment.model_data, preprocessor, deployment.metadata
