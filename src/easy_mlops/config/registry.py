"""Step names that may stand for a ``_target_`` node.

A registry maps a step name to its class. Writing the name in config (the
guide's ``steps:`` list, or a mapping entry without ``_target_``) resolves to
that step's default node from the schema, or to ``{_target_: module.Class}``
for steps registered later: one mechanism, the same as any ``_target_``.
"""

from collections.abc import Callable
from typing import Any

from easy_mlops.errors import ConfigError


class StepRegistry(dict):
    """``name -> step class`` for one kind of pipeline (deployment, observability)."""

    def __init__(self, kind: str, base: type, default_nodes: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.kind, self.base, self.default_nodes = kind, base, default_nodes

    def register(self, step_cls: type) -> type:
        """Make ``step_cls`` nameable in config under its ``name``; usable as a decorator."""
        if not (isinstance(step_cls, type) and issubclass(step_cls, self.base)):
            raise TypeError(f"{step_cls!r} is not a subclass of {self.base.__name__}")
        name = getattr(step_cls, "name", "")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{step_cls.__name__}.name must be an identifier, got {name!r}")
        self[name] = step_cls
        return step_cls

    def node(self, name: str) -> dict[str, Any]:
        """The ``_target_`` node a bare step name stands for."""
        if name not in self:
            raise ConfigError(f"unknown {self.kind} step '{name}'; known steps: {', '.join(sorted(self))}")
        defaults = self.default_nodes()
        if name in defaults and defaults[name]["_target_"] == target_path(self[name]):
            return dict(defaults[name])
        return {"_target_": target_path(self[name])}

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {name: self.node(name) for name in self}

    def trusted_targets(self) -> list[str]:
        """Registering a class is trusting it: its exact path may be instantiated."""
        return [target_path(cls) for cls in self.values()]


def target_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
