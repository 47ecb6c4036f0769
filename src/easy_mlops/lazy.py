"""Packages whose public names are imported on first use.

The CLI starts by importing the package; importing the whole public API with
it would load scikit-learn, pandas and Hydra for commands that only read JSON.
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports each name of ``exports`` from its module when asked."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
