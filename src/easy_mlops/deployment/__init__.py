"""Turning a trained model into a versioned deployment directory, and back.

The names below are imported on first use, so that reading a deployment's
metadata (``status``, ``list``) does not load the steps that write one.
"""

from easy_mlops.lazy import lazy_attributes

_EXPORTS = {
    "Deployer": "easy_mlops.deployment.deployer",
    "ModelDeployer": "easy_mlops.deployment.guide",  # the guide's name, over Deployer
    "Deployment": "easy_mlops.deployment.loading",
    "load_deployment": "easy_mlops.deployment.loading",
    "read_metadata": "easy_mlops.deployment.metadata",
    **{
        name: "easy_mlops.deployment.steps"
        for name in (
            "CreateDeploymentDirectoryStep",
            "DeploymentContext",
            "DeploymentStep",
            "EndpointScriptStep",
            "SaveMetadataStep",
            "SaveModelStep",
            "SavePreprocessorStep",
            "UploadStep",
            "register_step",
        )
    },
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
