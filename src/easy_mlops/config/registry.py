"""Registries of step classes: name -> class, kept beside the steps of each stage.

Apart from :mod:`easy_mlops.config.instantiate` so that defining steps needs
no OmegaConf: ``list`` and ``status`` import the observability steps to read
their logs.
"""

from collections.abc import Mapping, MutableMapping


def register(registry: MutableMapping[str, type], base: type, step_cls: type) -> type:
    """Add ``step_cls`` to ``registry`` under its ``name``; returns it, so it serves as a decorator.

    Any subclass of ``base`` is accepted, one defined inside a function too:
    a registered name is built from the class itself, never imported by path.
    """
    if not (isinstance(step_cls, type) and issubclass(step_cls, base)):
        raise TypeError(f"{step_cls!r} is not a subclass of {base.__name__}")
    name = getattr(step_cls, "name", "")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{step_cls.__name__}.name must be an identifier, got {name!r}")
    registry[name] = step_cls
    return step_cls


def target_path(cls: type) -> str:
    """The dotted path a ``_target_`` names ``cls`` by."""
    return f"{cls.__module__}.{cls.__qualname__}"


def step_registry_attribute(registry: MutableMapping[str, type]) -> type:
    """A metaclass whose classes' ``STEP_REGISTRY`` is ``registry`` itself: the guide's class attribute.

    Scripts written for the guide read ``ModelDeployer.STEP_REGISTRY``, register
    into it, and copy it and assign the copy back to restore it. Assigning here
    replaces the registry's content rather than rebinding the name, so the
    registry every stage builds its steps from stays the one scripts see.
    """

    class StepRegistryAttribute(type):
        @property
        def STEP_REGISTRY(cls) -> MutableMapping[str, type]:
            return registry

        @STEP_REGISTRY.setter
        def STEP_REGISTRY(cls, mapping: Mapping[str, type]) -> None:
            if mapping is not registry:
                content = dict(mapping)
                registry.clear()
                registry.update(content)

    return StepRegistryAttribute
