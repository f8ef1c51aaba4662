"""The built-in models the command line knows by name: those built without arguments."""

from __future__ import annotations

import inspect


def _needs_arguments(factory) -> bool:
    """True for a model that cannot be built as ``Factory()`` (a wrapper, ``Mixture(family)``,
    ``Categorical(n_classes)``, ...): the command line has no way to give its arguments."""
    parameters = list(inspect.signature(factory.__init__).parameters.values())[1:]  # not self
    return any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )


def find_model(name: str):
    """The built-in model class called ``name``; ``ValueError`` listing the valid names."""
    import jaxmle as jm

    def by_name(candidate: str) -> bool:
        factory = getattr(jm, candidate, None)
        return (
            isinstance(factory, type)
            and issubclass(factory, jm.Model)
            and not _needs_arguments(factory)
        )

    if name not in jm.__all__ or not by_name(name):
        models = sorted(candidate for candidate in jm.__all__ if by_name(candidate))
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(models)}")
    return getattr(jm, name)
