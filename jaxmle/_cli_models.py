"""The built-in models the command line knows by name."""

from __future__ import annotations

# Wrappers and models that need arguments the command line cannot give.
NOT_BY_NAME = ("Model", "Censored", "Truncated", "GLM", "MultinomialLogit")


def find_model(name: str):
    """The built-in model class called ``name``; ``ValueError`` listing the valid names."""
    import jaxmle as jm

    factory = getattr(jm, name, None)
    if not isinstance(factory, type) or not issubclass(factory, jm.Model) or name in NOT_BY_NAME:
        models = sorted(
            candidate
            for candidate in jm.__all__
            if isinstance(getattr(jm, candidate), type)
            and issubclass(getattr(jm, candidate), jm.Model)
            and candidate not in NOT_BY_NAME
        )
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(models)}")
    return factory
