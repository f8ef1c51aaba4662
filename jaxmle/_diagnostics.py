"""Diagnostics of a fit beyond the solver's own result code: data the model refuses, and estimates
on the boundary of the parameter space. Both are traceable, so a fit's status is the same on
every path (``fit``, ``fit_many``, ``jit(vmap(fit))``) and at every batch size.

Examples:
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> from jaxmle._problem import Problem
    >>> bool(valid_problem(jm.Gamma(), Problem.build(jnp.array([1.0, -2.0]))))
    False
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._model import Model
from ._problem import Problem

__all__ = ["BOUNDARY_SE", "on_boundary", "valid_problem"]


def valid_problem(model: Model, problem: Problem) -> jax.Array:
    """Whether a (traced) dataset is one the eager checks would accept: every included row inside
    the model's support (:meth:`~jaxmle.Model.valid_rows`), weights finite and non-negative,
    some weight positive, and no NaN cluster label."""
    weights = problem.weights
    rows = jnp.where(problem.included, model.valid_rows(problem.data), True)
    weights_ok = jnp.all(jnp.isfinite(weights) & (weights >= 0)) & jnp.any(weights > 0)
    return jnp.all(rows) & weights_ok & _labels_ok(problem.groups)


def _labels_ok(groups) -> jax.Array:
    """Cluster labels without NaN (the eager checks refuse NaN labels: a NaN row is no cluster)."""
    if groups is None or not jnp.issubdtype(jnp.asarray(groups).dtype, jnp.floating):
        return jnp.asarray(True)
    return ~jnp.any(jnp.isnan(groups))


#: Unconstrained standard error beyond which a bounded coordinate counts as on its boundary.
BOUNDARY_SE = 1e3


def on_boundary(model: Model, cov_u: jax.Array) -> jax.Array:
    """Whether an estimate sits on an edge of a bounded parameter's domain.

    For ``Positive`` (``theta = exp(u)``) and ``Interval`` (a logistic ``u``) coordinates, an
    estimate at the edge (a variance at 0, a shape at infinity, a probability at 1) has run off
    to ``|u| -> inf`` where the log-likelihood is flat in ``u``, and the solver stops once the
    remaining gain is below its tolerance: there ``se(u)`` is huge (about ``1e6`` at the default
    tolerance) while the natural-scale standard error looks deceptively small. An interior
    estimate has ``se(u)`` of order ``1 / sqrt(n)``: ``se(u) > BOUNDARY_SE`` means the data leave
    the coordinate undetermined over a factor ``exp(1000)``, i.e. the MLE is on the boundary.
    """
    coords, start = [], 0
    for spec in model.specs.values():
        stop = start + spec.unconstrained_size
        if spec.bounded and spec.elementwise:
            coords.extend(range(start, stop))
        start = stop
    if not coords:
        return jnp.asarray(False)
    se_u = jnp.sqrt(jnp.diagonal(cov_u)[jnp.asarray(coords)])
    return jnp.any(se_u > BOUNDARY_SE)
