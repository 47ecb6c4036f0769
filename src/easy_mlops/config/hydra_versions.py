"""What this package asks of Hydra where Hydra 1.3 and 1.4 differ, in one place.

The code runs on Hydra 1.3 (``pyproject.toml`` pins it) and is ready for 1.4:

- ``version_base``: on 1.3 it must be ``"1.3"`` (leaving it out selects
  Hydra 1.1's behaviour: chdir into the output dir, two warnings); 1.4 has
  only that behaviour, warns for any value and 1.5 removes the parameter.
- Execution whitelists: 1.4 warns (1.5 refuses) when it resolves a config's
  ``_target_`` (``instantiate``, ``hydra.callbacks``, logging handlers) that
  trusted code did not whitelist. On 1.3 ``@hydra.main`` has no such parameter
  and ``instantiate`` passes ``_execution_whitelist_`` on to the target.

Each helper is called where Hydra is imported already.
"""

from collections.abc import Iterable
from functools import cache
from typing import Any

# What conf/ has Hydra build in a run: our callbacks and logging handler
# (Hydra permits its own logging targets, such as logging.FileHandler).
APP_TARGETS = ("easy_mlops.*",)


@cache
def hydra_1_3() -> bool:
    """Whether the installed Hydra is a 1.3 release (or older)."""
    from hydra import __version__

    major, minor = (int(part) for part in __version__.split(".")[:2])
    return (major, minor) < (1, 4)


def main_options() -> dict[str, Any]:
    """``@hydra.main`` keywords besides where the config is."""
    return {"version_base": "1.3"} if hydra_1_3() else {"execution_whitelist": APP_TARGETS}


def initialize_options() -> dict[str, Any]:
    """``initialize_config_dir`` keywords besides the directory and job name."""
    return {"version_base": "1.3"} if hydra_1_3() else {}


def instantiate_options(prefixes: Iterable[str], targets: Iterable[str]) -> dict[str, Any]:
    """``instantiate`` keywords that whitelist what our own allowlist let through.

    ``prefixes`` are module prefixes ending in ``.`` (``sklearn.``), ``targets``
    exact dotted paths; Hydra 1.4 spells a prefix ``sklearn.*``.
    """
    if hydra_1_3():
        return {}
    return {"_execution_whitelist_": [*(f"{prefix}*" for prefix in prefixes), *sorted(targets)]}
