"""Turning a trained model into a versioned deployment directory, and back."""

from easy_mlops.deployment.deployer import ModelDeployer
from easy_mlops.deployment.loading import Deployment, load_deployment
from easy_mlops.deployment.metadata import read_metadata
from easy_mlops.deployment.steps import (
    CreateDeploymentDirectoryStep,
    DeploymentContext,
    DeploymentStep,
    EndpointScriptStep,
    SaveMetadataStep,
    SaveModelStep,
    SavePreprocessorStep,
    UploadStep,
    register_step,
)

__all__ = [
    "CreateDeploymentDirectoryStep",
    "Deployment",
    "DeploymentContext",
    "DeploymentStep",
    "EndpointScriptStep",
    "ModelDeployer",
    "SaveMetadataStep",
    "SaveModelStep",
    "SavePreprocessorStep",
    "UploadStep",
    "load_deployment",
    "read_metadata",
    "register_step",
]
