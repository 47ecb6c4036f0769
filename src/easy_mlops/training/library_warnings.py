"""Library warnings raised while training, as one line each through logging.

scikit-learn warns through :mod:`warnings`, which prints a file, a line
number and a line of its source, once per cross-validation fold.
:func:`relaying_warnings` records them around fitting and evaluation (the
warnings filters in force still decide which are kept) and logs each distinct
one once, saying what to change where we know it.
"""

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def relaying_warnings(estimator: Any) -> Iterator[None]:
    """Log the warnings raised inside the block once training succeeded, one line per distinct one.

    On an error they are dropped: the error is the one line that matters.
    """
    with warnings.catch_warnings(record=True) as caught:
        yield
    for line in dict.fromkeys(describe_warning(record, estimator) for record in caught):
        log.warning("%s", line)


def describe_warning(record: warnings.WarningMessage, estimator: Any) -> str:
    """One line: what happened and, for a known warning, which config key to change."""
    from sklearn.exceptions import ConvergenceWarning

    name = type(estimator).__name__
    lines = str(record.message).strip().splitlines()
    message = lines[0].strip() if lines else ""
    if issubclass(record.category, ConvergenceWarning):
        params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
        if params.get("max_iter") is not None:
            return f"{name} did not converge in {params['max_iter']} iterations; raise trainer.model.max_iter"
        return f"{name} did not converge: {message}"
    return f"{record.category.__name__} while training {name}: {message}"
