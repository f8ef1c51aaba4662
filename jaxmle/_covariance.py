"""Covariance of the estimate on the unconstrained scale, and the delta method to the natural one.

With ``f(u) = -sum_i w_i l_i(u)`` the weighted negative log-likelihood, ``H`` its Hessian at the
optimum ``u_hat`` and ``s_i = d l_i / du`` the per-observation scores (unweighted), the
``cov_type`` choices are

* ``"observed"`` (default): ``H^{-1}``, the inverse observed information.
* ``"expected"``: ``I^{-1}`` with ``I`` the Fisher information from the model's
  :meth:`~jaxmle.Model.expected_information` hook; models without it raise ``ValueError``.
* ``"HC0"``: the sandwich ``H^{-1} M H^{-1}`` with meat ``M = sum_i w_i s_i s_i'``. With frequency
  weights a row of weight ``k`` contributes exactly what ``k`` copies of it would.
* ``"HC1"``: ``HC0 * n / (n - k)``, ``n = sum_i w_i`` and ``k`` the number of free parameters
  (the textbook correction for every model; statsmodels applies it only to OLS).
* ``"cluster"``: the sandwich with meat ``sum_g S_g S_g'``, ``S_g = sum_{i in g} w_i s_i`` summed
  over the clusters given by ``groups``, times statsmodels' default small-sample correction
  ``G / (G - 1) * (n - 1) / (n - k)``. ``G`` counts the clusters holding positive weight, so
  padding rows (weight 0) never add a cluster. Labels may be any integers (or floats), in any
  order; they are ranked inside ``jit`` without a Python-side ``unique``.

``"HC1"`` needs ``n > k`` and ``"cluster"`` needs ``G >= 2`` and ``n > k``: otherwise the
correction is undefined, the covariance is all NaN and ``ok=False`` (status ``SINGULAR_HESSIAN``,
never ``CONVERGED``); ``jm.fit`` on concrete data raises a ``ValueError`` instead.

Every choice is computed on the unconstrained scale and mapped to the natural one by the delta
method; at the optimum this equals computing it on the natural scale directly, because both the
information and the scores transform with the Jacobian ``J = dT/du`` (``H_u = J' H_theta J``,
``s_u = J' s_theta``). An information matrix that is not numerically positive definite gives an
all-NaN covariance and ``ok=False`` (the fit's status says so); nothing raises inside ``jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._linalg import cholesky_solve
from ._problem import Problem

COV_TYPES = ("observed", "expected", "HC0", "HC1", "cluster")


def inverse_information(information: jax.Array):
    """``(information^{-1}, ok)``; NaN and ``ok=False`` when not positive definite."""
    k = information.shape[-1]
    inv, ok = cholesky_solve(information, jnp.eye(k, dtype=information.dtype))
    return jnp.where(ok, inv, jnp.nan), ok


def unconstrained_covariance(model, u, problem: Problem, hessian, cov_type: str):
    """Covariance of ``u_hat`` for the requested ``cov_type``; returns ``(cov_u, ok)``.

    Args:
        model: the fitted model.
        u: the estimate on the unconstrained scale, ``(k,)``.
        problem: the dataset (data, frequency weights, and the cluster labels ``groups``,
            required for ``"cluster"`` and ignored otherwise).
        hessian: Hessian of the weighted negative log-likelihood at ``u``, ``(k, k)``.
        cov_type: one of ``COV_TYPES``.

    Raises:
        ValueError: at trace time, for an unknown ``cov_type``, ``"expected"`` on a model without
            expected information, or ``"cluster"`` without ``groups`` of shape ``(n,)``.
    """
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if cov_type == "observed":
        return inverse_information(hessian)
    if cov_type == "expected":
        information = model.expected_information(u, problem)
        if information is None:
            raise ValueError(
                f"cov_type='expected': model {model.name} does not supply expected_information; "
                "use cov_type='observed' or override Model.expected_information"
            )
        return inverse_information(information)
    bread, ok = inverse_information(hessian)
    scores = observation_scores(model, u, problem)
    weights, nobs = problem.effective_weights, problem.nobs
    k = u.shape[0]
    if cov_type == "cluster":
        meat, n_groups = _cluster_meat(scores, weights, problem.groups)
        correction = n_groups / (n_groups - 1.0) * (nobs - 1.0) / (nobs - k)
        defined = (n_groups >= 2) & (nobs > k)
    else:
        meat = jnp.einsum("n,ni,nj->ij", weights, scores, scores)
        correction = nobs / (nobs - k) if cov_type == "HC1" else jnp.ones((), u.dtype)
        defined = nobs > k if cov_type == "HC1" else jnp.asarray(True)
    # The small-sample corrections divide by G - 1 and n - k: with one cluster, or no more
    # observations than parameters, the covariance is undefined (NaN, and the fit says so).
    cov = jnp.where(defined, correction * (bread @ meat @ bread), jnp.nan)
    return cov, ok & defined


def observation_scores(model, u, problem: Problem) -> jax.Array:
    """Per-observation scores ``d logpdf_i / du``, ``(n, k)``; zero on excluded rows."""

    def terms(v):
        return model.logpdf(model.from_unconstrained(v), problem.data)

    scores = jax.jacfwd(terms)(u)
    return jnp.where(problem.included[:, None], scores, 0.0)


def _cluster_meat(scores, weights, groups):
    """``(sum_g S_g S_g', G)`` with ``S_g`` the weighted score total of cluster ``g``."""
    n = scores.shape[0]
    if groups is None:
        raise ValueError("cov_type='cluster' needs groups=: one integer cluster label per row")
    groups = jnp.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape ({n},) to match data, got {groups.shape}")
    labels = dense_labels(groups)
    totals = jax.ops.segment_sum(weights[:, None] * scores, labels, num_segments=n)
    mass = jax.ops.segment_sum(weights, labels, num_segments=n)
    n_groups = jnp.sum(mass > 0).astype(scores.dtype)
    return totals.T @ totals, n_groups


def dense_labels(groups: jax.Array) -> jax.Array:
    """Rank arbitrary labels into ``0, 1, ..., G-1`` (traceable: sort, mark changes, cumsum)."""
    order = jnp.argsort(groups)
    ordered = groups[order]
    starts = jnp.concatenate(
        [jnp.zeros((1,), jnp.int32), (ordered[1:] != ordered[:-1]).astype(jnp.int32)]
    )
    return jnp.zeros_like(order).at[order].set(jnp.cumsum(starts))


def delta_method(model, u, cov_u):
    """Covariance of the flattened constrained parameters: ``J cov_u J^T``, ``J = dT/du``."""
    jac = jax.jacfwd(lambda v: model.flatten(model.from_unconstrained(v)))(u)
    return jac @ cov_u @ jac.T
