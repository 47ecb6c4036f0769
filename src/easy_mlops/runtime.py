"""The garbage collector around a command's work.

Everything a command has imported and composed before its work starts lives
until the work ends: modules, Hydra's state, the config (OmegaConf's nodes are
many small linked objects). Each full collection during the work would walk
all of it again; frozen, it is left out of them (0.1 s of a 1,000-row training
run, measured with ``gc.callbacks``: bench/PROFILING.md). Objects without
cycles are still freed by reference counting.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def settle() -> None:
    """Leave every object alive now out of later collections, for the rest of the process."""
    gc.freeze()


@contextmanager
def settled() -> Iterator[None]:
    """:func:`settle` for one job of a process that may run more (a sweep's jobs in one worker).

    On exit the objects join the oldest generation again, so what the job
    left behind can be collected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
