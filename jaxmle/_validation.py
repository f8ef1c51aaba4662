"""Eager input checks for :func:`~jaxmle.fit` and :func:`~jaxmle.fit_many`.

Outside ``jit`` the inputs are concrete, so problems with them raise a ``ValueError`` (or
``TypeError``) that names the argument, the model and what was expected; traced inputs cannot be
checked here and a problem with their values becomes the fit's status code instead.
"""

from __future__ import annotations

import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._model import Model

__all__ = [
    "as_data",
    "check_dtype",
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
    """Eager checks: structure and shapes (the model's contract), dtypes, finite values, weights,
    data in the model's support.

    Messages start with ``where`` (e.g. ``"dataset 3: "``) and name the model and the argument.
    """
    prefix = where
    where = f"{where}{model.name}: "
    try:
        model.check_shapes(data)
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    for path, leaf in leaves:
        label = leaf_label(path)
        check_dtype(leaf.dtype, label, where)
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
    n = leaves[0][1].shape[0]
    if n == 0:
        raise ValueError(f"{where}data has no observations")
    if weights is not None:
        w = np.asarray(weights)
        check_dtype(w.dtype, "weights", where)
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
    # The traceable rule decides what a fit under jit refuses (Status.INVALID_DATA): whatever it
    # refuses is refused here too, even where the detailed checks above had nothing to say.
    rows = np.asarray(model.valid_rows(jax.tree_util.tree_map(np.asarray, data)))
    if not np.all(rows):
        bad = np.flatnonzero(~rows)
        raise ValueError(
            f"{where}{len(bad)} row(s) of data lie outside the model's support, first at index "
            f"{int(bad[0])}"
        )


def check_dtype(dtype, label: str, where: str = "") -> None:
    """Real numbers or booleans only: strings, objects and complex numbers raise ``TypeError``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biuf":  # bool, signed and unsigned integers, floats
        return
    raise TypeError(
        f"{where}{label} has dtype {dtype}; expected real numbers (float, int or bool)"
        + (": a text column? convert it to numbers first" if dtype.kind in "OUS" else "")
    )


def as_data(data, where: str = ""):
    """``data`` with every leaf a JAX array; dtypes checked first (a clear ``TypeError`` instead of
    JAX's own), and a flat list of numbers taken as one 1-D array."""
    if isinstance(data, (list, tuple)) and data and all(np.ndim(x) == 0 for x in data):
        data = np.asarray(data)
    check_aligned(data, where)

    def convert(path, leaf):
        if not is_traced(leaf):
            dtype = np.asarray(leaf).dtype
            check_dtype(dtype, leaf_label(path), where)
            warn_if_downcast(dtype)
        return jnp.asarray(leaf)

    return jax.tree_util.tree_map_with_path(convert, data)


def check_aligned(data, where: str = "") -> None:
    """pandas objects in one data dict must share their row index: they are paired by position,
    so differently ordered rows would be fitted silently mismatched (statsmodels refuses too)."""
    if not isinstance(data, dict):
        return
    indexed = [(key, value.index) for key, value in data.items() if _is_pandas(value)]
    if not indexed:
        return
    first, first_index = indexed[0]
    for key, index in indexed[1:]:
        if not index.equals(first_index):
            raise ValueError(
                f"{where}data[{first!r}] and data[{key!r}] have different row indexes; rows are "
                "paired by position, so align them first (e.g. y = y.loc[X.index]) or pass "
                "arrays"
            )


def _is_pandas(value) -> bool:
    """A pandas Series or DataFrame (duck-typed: pandas is not a dependency)."""
    return hasattr(value, "index") and hasattr(value, "iloc")


_warned_downcast = False


def warn_if_downcast(dtype) -> None:
    """Warn, once per process, when float64 data will be computed in float32 because JAX's
    ``jax_enable_x64`` is off (jaxmle never changes that setting itself)."""
    global _warned_downcast
    if _warned_downcast or np.dtype(dtype) != np.float64 or jax.config.jax_enable_x64:
        return
    _warned_downcast = True
    warnings.warn(
        "jaxmle: float64 data are computed in float32 because jax_enable_x64 is off; standard "
        "errors and p-values can lose digits. Call jax.config.update('jax_enable_x64', True) "
        "at the start of the program (see the README, 'Why float64').",
        UserWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside jaxmle and JAX (the user's call)."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "jaxmle",
        "jax",
    ):
        frame, level = frame.f_back, level + 1
    return level


def validate_groups(groups, n: int, where: str = "") -> None:
    """Cluster labels: shape ``(n,)`` and no NaN."""
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"{where}groups must have shape ({n},) to match data, got {labels.shape}")
    if np.issubdtype(labels.dtype, np.floating) and np.any(np.isnan(labels)):
        raise ValueError(f"{where}groups contain NaN labels")


def validate_sandwich(cov_type: str, k: int, n: int, weights=None, groups=None) -> None:
    """Enough data for the sandwich corrections: ``n > k`` for ``"HC1"`` and ``"cluster"`` (``n``
    the weighted number of observations), and at least two clusters with positive weight."""
    if cov_type not in ("HC1", "cluster"):
        return
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    nobs = float(np.sum(np.where(w > 0, w, 0.0)))
    if nobs <= k:
        raise ValueError(
            f"cov_type={cov_type!r} needs more observations than free parameters: "
            f"sum of weights {nobs:g} <= {k} (its correction divides by n - k)"
        )
    if cov_type == "cluster" and groups is not None:
        clusters = np.unique(np.asarray(groups)[w > 0])
        if clusters.size < 2:
            raise ValueError(
                "cov_type='cluster' needs at least two clusters with positive weight, got "
                f"{clusters.size} (its correction divides by G - 1)"
            )


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
