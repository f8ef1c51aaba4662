"""Eager input checks for :func:`~jaxmle.fit` and :func:`~jaxmle.fit_many`.

Outside ``jit`` the inputs are concrete, so problems with them raise a ``ValueError`` (or
``TypeError``) that names the argument, the model and what was expected; traced inputs cannot be
checked here and a problem with their values becomes the fit's status code instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._model import Model

__all__ = [
    "check_init_names",
    "is_traced",
    "leaf_label",
    "validate_groups",
    "validate_init",
    "validate_inputs",
]


def is_traced(tree) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def leaf_label(path) -> str:
    """``data``, ``data['X']``, ... for error messages."""
    return "data" + jax.tree_util.keystr(path)


def validate_inputs(model: Model, data, weights, where: str = "") -> None:
    """Eager checks: shapes agree, values finite, weights valid, data in the model's support.

    Messages start with ``where`` (e.g. ``"dataset 3: "``) and name the model and the argument.
    """
    prefix = where
    where = f"{where}{model.name}: "
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    if not leaves:
        raise ValueError(f"{where}data is empty: it must hold at least one array")
    lengths = {}
    for path, leaf in leaves:
        label = leaf_label(path)
        if leaf.ndim == 0:
            raise ValueError(
                f"{where}{label} is a scalar; every leaf needs a leading observation axis"
            )
        lengths[label] = leaf.shape[0]
        if not (jnp.issubdtype(leaf.dtype, jnp.number) or leaf.dtype == bool):
            raise TypeError(f"{where}{label} has non-numeric dtype {leaf.dtype}")
        values = np.asarray(leaf)
        may_be_infinite = _top_key(path) in model.infinite_data_keys
        invalid = np.isnan(values) if may_be_infinite else ~np.isfinite(values)
        if np.any(invalid):
            bad = np.argwhere(invalid)
            kind = "NaN" if may_be_infinite else "non-finite value(s) (NaN or inf)"
            raise ValueError(
                f"{where}{label} contains {len(bad)} {kind}, first at "
                f"index {tuple(int(i) for i in bad[0])}"
            )
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{where}data leaves disagree on the number of observations (leading axis): "
            + ", ".join(f"{k} has {v}" for k, v in lengths.items())
        )
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"{where}data has no observations")
    if weights is not None:
        w = np.asarray(weights)
        if w.shape != (n,):
            raise ValueError(f"{where}weights must have shape ({n},) to match data, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{where}weights contain non-finite values (NaN or inf)")
        if np.any(w < 0):
            raise ValueError(
                f"{where}weights must be non-negative; found {int(np.sum(w < 0))} negative "
                f"weight(s), first at index {int(np.argmax(w < 0))}"
            )
        if not np.any(w > 0):
            raise ValueError(f"{where}weights are all zero: nothing to fit")
    try:
        model.validate_data(data)
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None


def validate_groups(groups, n: int, where: str = "") -> None:
    """Cluster labels: shape ``(n,)`` and no NaN."""
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"{where}groups must have shape ({n},) to match data, got {labels.shape}")
    if np.issubdtype(labels.dtype, np.floating) and np.any(np.isnan(labels)):
        raise ValueError(f"{where}groups contain NaN labels")


def _top_key(path):
    """The top-level dict key of a leaf path (``None`` for other containers)."""
    return getattr(path[0], "key", None) if path else None


def check_init_names(model: Model, init: dict) -> None:
    """``init`` names only parameters of ``model``."""
    if not isinstance(init, dict):
        raise TypeError(f"init must be a dict of starting values, got {type(init).__name__}")
    unknown = set(init) - set(model.specs)
    if unknown:
        raise ValueError(
            f"init names unknown parameter(s) {sorted(unknown)}; the model has {list(model.specs)}"
        )


def validate_init(model: Model, init: dict) -> None:
    """Starting values: known names, the parameter's shape, inside its domain."""
    check_init_names(model, init)
    for key, value in init.items():
        model.specs[key].check(value, f"init[{key!r}]")
