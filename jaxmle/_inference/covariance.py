"""Covariance of the estimate on the unconstrained scale, and the delta method to the natural one.

``observed`` (default) is the inverse observed information, ``H^{-1}`` with ``H`` the Hessian of
the negative log-likelihood at the optimum. A Hessian that is not numerically positive definite
gives an all-NaN covariance (and the fit's status says so); nothing raises.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

COV_TYPES = ("observed",)


def inverse_information(information: jax.Array):
    """``(information^{-1}, ok)``; NaN and ``ok=False`` when not positive definite."""
    k = information.shape[-1]
    chol = jnp.linalg.cholesky(information)
    ok = jnp.all(jnp.isfinite(chol))
    safe = jnp.where(ok, chol, jnp.eye(k, dtype=information.dtype))
    inv = jax.scipy.linalg.cho_solve((safe, True), jnp.eye(k, dtype=information.dtype))
    return jnp.where(ok, inv, jnp.nan), ok


def unconstrained_covariance(model, u, data, weights, hessian, cov_type: str, groups=None):
    """Covariance of ``u_hat`` for the requested ``cov_type``; returns ``(cov_u, ok)``."""
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    return inverse_information(hessian)


def delta_method(model, u, cov_u):
    """Covariance of the flattened constrained parameters: ``J cov_u J^T``, ``J = dT/du``."""
    jac = jax.jacfwd(lambda v: model.flatten(model.from_unconstrained(v)))(u)
    return jac @ cov_u @ jac.T
