"""User-facing errors.

Anything raised as an :class:`MLOpsError` is a problem with the user's data,
configuration or deployment: the CLI and the Hydra app print its message as a
single line and exit with code 2. Any other exception is a bug and keeps its
traceback.
"""


class MLOpsError(Exception):
    """Base class for problems the user can fix (bad data, config or deployment)."""


class ConfigError(MLOpsError, ValueError):
    """The configuration names an unknown key, step, preset or value."""


class DataError(MLOpsError, ValueError):
    """A data file is missing, unreadable, empty or does not fit the model."""


class NoRowsError(DataError):
    """A data file holds no rows (it is empty, or a header only): an error for one file, an empty
    partition of a dataset."""


class DeploymentError(MLOpsError):
    """A deployment could not be written, is not a valid deployment, or cannot do what was asked
    (class probabilities from a regression)."""


class StepPrerequisiteError(DeploymentError, RuntimeError):
    """A deployment step ran before the step it depends on."""


class TrackingError(MLOpsError):
    """The tracking server could not record a run; the deployment itself is complete."""


def yaml_problem(exc: Exception) -> str:
    """A YAML parse error in one line: where and what (PyYAML's own message spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    return f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"


def one_line(text: object) -> str:
    """A message on one line and whole: a sentence wrapped over lines is joined, never cut."""
    return " ".join(str(text).split())
