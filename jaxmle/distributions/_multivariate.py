"""Vector-valued families: MultivariateNormal and Dirichlet (data of shape ``(n, d)``).

The dimension fixes the parameters' shapes, so both take it up front (``dim=d``).

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> x = jnp.array([[0.0, 1.0], [2.0, 1.0], [1.0, 4.0]])
    >>> res = jm.fit(jm.MultivariateNormal(dim=2), x)
    >>> [round(float(m), 6) for m in res.params["mean"]]
    [1.0, 2.0]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np

from .._arrays import namespace
from .._constraints import Positive, PositiveDefinite, Real
from .._problem import Problem
from .._status import Status
from ._family import Family, weighted_mean
from ._sampling import log_gamma
from ._special import trigamma

__all__ = ["Dirichlet", "MultivariateNormal"]


def _check_dim(name: str, dim) -> int:
    if int(dim) != dim or dim < 1:
        raise ValueError(f"{name}: dim must be a positive integer, got {dim!r}")
    return int(dim)


def _check_rows(family: Family, x, dim: int) -> np.ndarray:
    """Concrete ``x`` as numpy, after checking it has shape ``(n, dim)``."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(
            f"{family.name}: data must have shape (n, {dim}) (one observation per row), "
            f"got {x.shape}"
        )
    return x


def _weighted_moments(x: jax.Array, weights: jax.Array):
    """Weighted mean ``(d,)`` and maximum-likelihood (divisor ``sum w``) covariance ``(d, d)``."""
    mean = weighted_mean(x, weights)
    centred = x - mean
    cov = jnp.einsum("n,ni,nj->ij", weights, centred, centred) / jnp.sum(weights)
    return mean, cov


class MultivariateNormal(Family):
    r"""Multivariate normal rows ``x_i ~ N(mean, cov)``, data ``(n, d)``.

    ``cov`` is :class:`~jaxmle.PositiveDefinite` (Cholesky parametrisation, ``d (d + 1) / 2`` free
    entries). The MLE is the weighted sample mean and the biased (divisor ``n``) sample covariance;
    they are the start, so Newton converges at once. With fewer linearly independent rows than
    ``d + 1`` the sample covariance is singular, the MLE sits on the boundary of the cone and the
    fit reports ``Status.BOUNDARY``.

    Args:
        dim: the dimension ``d`` of each observation.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> x = jnp.array([[0.0, 1.0], [2.0, 1.0], [1.0, 4.0]])
        >>> res = jm.fit(jm.MultivariateNormal(dim=2), x)
        >>> [round(float(v), 6) for v in jnp.diag(res.params["cov"])]   # divisor n
        [0.666667, 2.0]
    """

    support_description = "rows of finite real numbers"

    def __init__(self, dim: int):
        self.dim = _check_dim("MultivariateNormal", dim)
        self.observation_shape = (self.dim,)
        super().__init__(
            {"mean": Real(np.zeros(self.dim)), "cov": PositiveDefinite(np.eye(self.dim))}
        )

    def logpdf(self, params, x):
        return jss.multivariate_normal.logpdf(x, params["mean"], params["cov"])

    def sample(self, key, params, shape=()):
        return jax.random.multivariate_normal(key, params["mean"], params["cov"], shape)

    def start(self, x, weights):
        mean, cov = _weighted_moments(x, weights)
        return {"mean": mean, "cov": cov}

    def validate_data(self, x):
        super().validate_data(_check_rows(self, x, self.dim))

    def fisher_information(self, params):
        # Per-observation information over (mean, vec(cov)): blockdiag(S^-1, S^-1 (x) S^-1 / 2)
        # with S = cov. Sandwiched by the Jacobian of a symmetric parametrisation this is the
        # exact information (the entries of vec(cov) are treated as free, symmetry is in J).
        prec = jnp.linalg.inv(params["cov"])
        d = self.dim
        info = jnp.zeros((d + d * d, d + d * d), prec.dtype)
        info = info.at[:d, :d].set(prec)
        return info.at[d:, d:].set(0.5 * jnp.kron(prec, prec))

    def diagnose(self, params, problem: Problem, status):
        _, cov = _weighted_moments(problem.data, problem.effective_weights)
        singular = ~jnp.all(jnp.isfinite(jnp.linalg.cholesky(cov)))
        return jnp.where(singular, Status.BOUNDARY, status).astype(status.dtype)


class Dirichlet(Family):
    r"""Compositions: rows ``x_i`` on the open simplex (entries > 0, summing to 1), data ``(n, K)``.

    ``log p(x) = lgamma(sum alpha) - sum lgamma(alpha_k) + sum (alpha_k - 1) log x_k``. There is no
    closed-form MLE; the start is the method of moments of Minka (2000), "Estimating a Dirichlet
    distribution": with weighted means ``m_k`` and variances ``v_k`` of the components,
    ``alpha = s m`` where the precision ``s + 1 = sum_k m_k (1 - m_k) / sum_k v_k`` pools the
    identity ``Var x_k = m_k (1 - m_k) / (s + 1)`` over the components.

    Args:
        dim: the number of components ``K >= 2``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> x = jax.random.dirichlet(jax.random.key(0), jnp.array([2.0, 3.0, 5.0]), (500,))
        >>> res = jm.fit(jm.Dirichlet(dim=3), x)
        >>> bool(res.converged), res.params["alpha"].shape
        (True, (3,))
    """

    support_description = "rows with entries in (0, 1) summing to 1"

    def __init__(self, dim: int):
        self.dim = _check_dim("Dirichlet", dim)
        self.observation_shape = (self.dim,)
        if self.dim < 2:
            raise ValueError(f"Dirichlet: dim must be at least 2, got {dim!r}")
        super().__init__({"alpha": Positive(np.ones(self.dim))})

    def logpdf(self, params, x):
        # jax.scipy.stats.dirichlet wants the components on the leading axis.
        return jss.dirichlet.logpdf(jnp.swapaxes(x, 0, 1), params["alpha"])

    def sample(self, key, params, shape=()):
        """Normalised gammas, ``softmax(log G)`` with ``log G_k`` the log of a Gamma(``alpha_k``)
        draw (:func:`~jaxmle.distributions._sampling.log_gamma`, exact for small ``alpha``)."""
        return jax.nn.softmax(log_gamma(key, params["alpha"], (*shape, self.dim)), axis=-1)

    def start(self, x, weights):
        mean, cov = _weighted_moments(x, weights)
        precision = jnp.sum(mean * (1.0 - mean)) / jnp.trace(cov) - 1.0
        return {"alpha": precision * mean}

    def in_support(self, x):
        xp = namespace(x)
        inside = xp.all(xp.isfinite(x) & (x > 0) & (x < 1), axis=1)
        return inside & (xp.abs(xp.sum(x, axis=1) - 1.0) <= 1e-6)

    def validate_data(self, x):
        x = _check_rows(self, x, self.dim)
        sums = np.sum(x, axis=1)
        inside = np.all(np.isfinite(x) & (x > 0) & (x < 1), axis=1)
        bad = np.flatnonzero(~(inside & (np.abs(sums - 1.0) <= 1e-6)))
        if bad.size:
            first = bad[0]
            raise ValueError(
                f"{self.name}: data must have {self.support_description}; found {bad.size} row(s)"
                f" off the simplex, at indices {bad[:5].tolist()}{', ...' if bad.size > 5 else ''}"
                f" (row {first} is {x[first].tolist()}, summing to {sums[first]})"
            )

    def fisher_information(self, params):
        alpha = params["alpha"]
        return jnp.diag(trigamma(alpha)) - trigamma(jnp.sum(alpha))
