"""Writing and reading artifacts as joblib pickles or as skops files.

skops files are not unpickled: loading lists the types a file would create
and refuses any outside the trusted module prefixes, so a tampered or hostile
file cannot run code. The format follows the file's extension.
"""

from pathlib import Path
from typing import Any

import joblib

from easy_mlops.errors import ConfigError, DeploymentError

FORMATS = {"joblib": ".joblib", "skops": ".skops"}
# Types a deployment's skops files may create.
SKOPS_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "easy_mlops.")
# xgboost's and lightgbm's estimators, and the boosters inside them (restored from their own model
# format, not unpickled); LightGBM keeps some state in an OrderedDict.
SKOPS_TRUSTED_TYPES = frozenset(
    {
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.core.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
    }
)


def check_format(value: str, key: str) -> str:
    if value not in FORMATS:
        raise ConfigError(f"config key '{key}': '{value}' is not one of {', '.join(FORMATS)}")
    return value


def dump(obj: Any, path: Path) -> None:
    """Write ``obj`` in the format of ``path``'s extension."""
    if path.suffix == FORMATS["skops"]:
        try:
            import skops.io
        except ImportError as exc:
            raise ConfigError("the skops format needs skops: pip install 'make-mlops-easy[skops]'") from exc
        skops.io.dump(obj, path)
    else:
        joblib.dump(obj, path)


def load(path: Path, what: str) -> Any:
    """Read an artifact; a damaged or untrusted file is one line naming it."""
    if not path.is_file():
        raise DeploymentError(f"{path}: {what} file is missing")
    if path.stat().st_size == 0:
        raise DeploymentError(f"{path}: {what} file is empty")
    if path.suffix == FORMATS["skops"]:
        return _load_skops(path, what)
    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling errors come in every type
        raise DeploymentError(f"{path}: cannot load the {what} ({type(exc).__name__}: {exc})") from exc


def _load_skops(path: Path, what: str) -> Any:
    try:
        import skops.io
    except ImportError as exc:
        raise DeploymentError(
            f"{path}: reading skops files needs skops: pip install 'make-mlops-easy[skops]'"
        ) from exc
    try:
        types = skops.io.get_untrusted_types(file=path)
    except Exception as exc:
        raise DeploymentError(f"{path}: cannot read the {what} ({type(exc).__name__}: {exc})") from exc
    refused = [
        name
        for name in types
        if not name.startswith(SKOPS_TRUSTED_PREFIXES) and name not in SKOPS_TRUSTED_TYPES
    ]
    if refused:
        raise DeploymentError(f"{path}: refusing to load untrusted type(s) {', '.join(refused)}")
    try:
        return skops.io.load(path, trusted=types)
    except Exception as exc:
        raise DeploymentError(f"{path}: cannot load the {what} ({type(exc).__name__}: {exc})") from exc
