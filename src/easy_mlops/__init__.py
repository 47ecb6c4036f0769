"""Make MLOps Easy: train, deploy and observe a tabular model with one command.

The public API is imported lazily so that ``import easy_mlops`` and the CLI
start fast; ``from easy_mlops import MLOpsPipeline`` works as usual.
"""

from easy_mlops.lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    "MLOpsPipeline": "easy_mlops.guide",
    "ModelDeployer": "easy_mlops.deployment",
    "DeploymentStep": "easy_mlops.deployment",
    "DeploymentContext": "easy_mlops.deployment",
    "ModelMonitor": "easy_mlops.observability",
    "ObservabilityStep": "easy_mlops.observability",
    "DataPreprocessor": "easy_mlops.preprocessing",
    "Deployment": "easy_mlops.deployment",
    "MLOpsError": "easy_mlops.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
