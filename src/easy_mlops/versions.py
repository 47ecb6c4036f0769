"""Library versions recorded with every artifact, as scikit-learn does for its estimators."""

import platform
from functools import cache

RECORDED = ("make-mlops-easy", "scikit-learn", "pandas", "numpy", "joblib", "hydra-core", "omegaconf")


@cache
def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a deployment depends on."""
    from importlib import metadata  # 15 ms: only commands that record or compare versions pay it

    versions = {"python": platform.python_version()}
    for name in RECORDED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def version_drift(recorded: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Libraries whose installed version differs from ``recorded``: name -> (then, now)."""
    current = library_versions()
    return {
        name: (then, current.get(name, "not installed"))
        for name, then in recorded.items()
        if name != "python" and current.get(name) != then
    }
