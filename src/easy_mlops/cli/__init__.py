"""The ``make-mlops-easy`` console script."""

from easy_mlops.cli.main import main

__all__ = ["main"]
