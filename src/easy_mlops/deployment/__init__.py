"""Turning a trained model into a versioned deployment directory, and back."""

from easy_mlops.deployment.deployer import ModelDeployer
from easy_mlops.deployment.loading import load_deployment
from easy_mlops.deployment.metadata import read_metadata
from easy_mlops.deployment.steps import (
    CreateDeploymentDirectoryStep,
    DeploymentContext,
    DeploymentStep,
    EndpointScriptStep,
    SaveMetadataStep,
    SaveModelStep,
    SavePreprocessorStep,
)

__all__ = [
    "CreateDeploymentDirectoryStep",
    "DeploymentContext",
    "DeploymentStep",
    "EndpointScriptStep",
    "ModelDeployer",
    "SaveMetadataStep",
    "SaveModelStep",
    "SavePreprocessorStep",
    "load_deployment",
    "read_metadata",
]
