"""The named regressions: linear, logit, probit, Poisson, NB2 and Gamma (all on the GLM engine).

Every one takes ``data = {"X": (n, p), "y": (n,)}`` plus an optional ``"offset"`` (``(n,)``,
added to the linear predictor) and, for the binary models, ``"trials"`` (``y`` then counts
successes out of ``trials``). ``beta`` follows the column order of ``X``; include a column of ones
for an intercept.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> X = jnp.stack([jnp.ones(6), jnp.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])], axis=1)
    >>> y = jnp.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    >>> res = jm.fit(jm.Logit(names=["const", "x"]), {"X": X, "y": y})
    >>> res.param_names, bool(res.converged)
    (('const', 'x'), True)
"""

from __future__ import annotations

import jax.numpy as jnp

from .._problem import Problem
from .._status import Status
from ._base import design
from ._families import NEGATIVE_BINOMIAL, resolve_family
from ._glm import GLMModel

#: ``alpha * max(mu)`` below which an NB2 fit is the Poisson model to working precision.
ALPHA_AT_ZERO = 1e-6

__all__ = [
    "GammaRegression",
    "LinearRegression",
    "Logit",
    "NegativeBinomialRegression",
    "PoissonRegression",
    "Probit",
]


class LinearRegression(GLMModel):
    """Normal linear regression ``y = X beta + offset + e``, ``e ~ N(0, sigma^2)``.

    Parameters ``beta`` and ``sigma``. The estimate of ``sigma`` is the maximum-likelihood one,
    ``sqrt(RSS / n)``, and ``res.se`` the maximum-likelihood standard errors; ``res.bse``,
    ``res.tvalues``, ``res.pvalues`` and ``res.conf_int()`` give OLS inference (``s^2 = RSS /
    (n - p)``, Student t on ``n - p`` degrees of freedom), as statsmodels' OLS reports. The start
    is the exact least-squares solution (column-scaled SVD), so Newton only polishes.

    Args:
        n_features: number of columns of ``X`` (else taken from the data).
        names: column names of ``X`` for ``summary()``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(4), jnp.array([1.0, 2.0, 3.0, 4.0])], axis=1)
        >>> res = jm.fit(jm.LinearRegression(), {"X": X, "y": jnp.array([1.1, 1.9, 3.2, 3.8])})
        >>> [round(float(b), 6) for b in res.params["beta"]]
        [0.15, 0.94]
    """

    def __init__(self, *, n_features=None, names=None):
        super().__init__(
            "gaussian", "identity", extra=("sigma", 2.0), n_features=n_features, names=names
        )


class Logit(GLMModel):
    """Logistic regression ``P(y = 1) = 1 / (1 + exp(-X beta - offset))``; parameter ``beta``.

    ``y`` is 0/1, or a success count with ``"trials"`` in the data. Perfect and quasi-complete
    separation give ``Status.SEPARATION`` (see :meth:`separated_coefficients`).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(5), jnp.array([0.0, 1.0, 2.0, 3.0, 4.0])], axis=1)
        >>> res = jm.fit(jm.Logit(), {"X": X, "y": jnp.array([0.0, 1.0, 0.0, 1.0, 1.0])})
        >>> bool(res.converged)
        True
    """

    def __init__(self, *, n_features=None, names=None):
        super().__init__("binomial", "logit", n_features=n_features, names=names)


class Probit(GLMModel):
    """Probit regression ``P(y = 1) = Phi(X beta + offset)``; parameter ``beta``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(5), jnp.array([0.0, 1.0, 2.0, 3.0, 4.0])], axis=1)
        >>> res = jm.fit(jm.Probit(), {"X": X, "y": jnp.array([0.0, 1.0, 0.0, 1.0, 1.0])})
        >>> bool(res.converged)
        True
    """

    def __init__(self, *, n_features=None, names=None):
        super().__init__("binomial", "probit", n_features=n_features, names=names)


class PoissonRegression(GLMModel):
    """Poisson regression ``y ~ Poisson(exp(X beta + offset))``; parameter ``beta``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(5), jnp.array([0.0, 1.0, 2.0, 3.0, 4.0])], axis=1)
        >>> y = jnp.array([1.0, 1.0, 2.0, 4.0, 9.0])
        >>> res = jm.fit(jm.PoissonRegression(), {"X": X, "y": y})
        >>> bool(res.converged)
        True
    """

    def __init__(self, *, n_features=None, names=None):
        super().__init__("poisson", "log", n_features=n_features, names=names)


class NegativeBinomialRegression(GLMModel):
    """NB2 regression: ``E y = mu = exp(X beta + offset)``, ``Var y = mu + alpha mu^2``.

    Parameters ``beta`` and ``alpha`` (statsmodels' ``NegativeBinomial(loglike_method="nb2")``).
    ``cov_type="expected"`` is not offered (the information of ``alpha`` has no closed form).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(8), jnp.arange(8.0) / 4], axis=1)
        >>> y = jnp.array([0.0, 3.0, 1.0, 0.0, 6.0, 2.0, 9.0, 4.0])
        >>> res = jm.fit(jm.NegativeBinomialRegression(), {"X": X, "y": y})
        >>> res.param_names
        ('beta[0]', 'beta[1]', 'alpha')
    """

    def __init__(self, *, n_features=None, names=None):
        super().__init__(
            NEGATIVE_BINOMIAL, "log", extra=("alpha", 1.0), n_features=n_features, names=names
        )

    def diagnose(self, params, problem: Problem, status):
        """``BOUNDARY`` when the data show no overdispersion: the MLE is then ``alpha = 0``.

        The score of ``alpha`` at 0 (Cameron & Trivedi's overdispersion score) is
        ``sum_i w_i ((y_i - mu_i)^2 - y_i) / 2``; where it is not positive at the fitted means, the
        likelihood grows towards the Poisson model, ``alpha`` runs to 0 (a fit stops there with a
        singular or merely tiny information for ``alpha``), and ``beta`` is the Poisson MLE.
        """
        status = super().diagnose(params, problem, status)
        data = problem.data
        X, offset = design(data)
        mu = jnp.exp(X @ params["beta"] + offset)
        score = problem.total((data["y"] - mu) ** 2 - data["y"])
        poisson = params["alpha"] * jnp.max(jnp.where(problem.included, mu, 0.0)) < ALPHA_AT_ZERO
        boundary = poisson & (score <= 0.0) & (status != Status.SEPARATION)
        return jnp.where(boundary, Status.BOUNDARY, status)


class GammaRegression(GLMModel):
    """Gamma regression with mean ``mu = g^{-1}(X beta + offset)`` and shape ``k``.

    ``y ~ Gamma(shape=k, rate=k/mu)``, so ``Var y = mu^2 / k`` (``k = 1 / phi``, the inverse of the
    GLM dispersion). Parameters ``beta`` and ``shape``.

    Args:
        link: ``"log"`` (default) or ``"inverse"`` (canonical).
        n_features: number of columns of ``X`` (else taken from the data).
        names: column names of ``X`` for ``summary()``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(5), jnp.array([0.5, 1.0, 1.5, 2.0, 2.5])], axis=1)
        >>> res = jm.fit(jm.GammaRegression(), {"X": X, "y": jnp.array([1.2, 0.9, 0.5, 0.45, 0.3])})
        >>> res.param_names
        ('beta[0]', 'beta[1]', 'shape')
    """

    def __init__(self, link: str = "log", *, n_features=None, names=None):
        if link not in ("log", "inverse"):
            raise ValueError(f"GammaRegression: link must be 'log' or 'inverse', got {link!r}")
        super().__init__(
            resolve_family("gamma"), link, extra=("shape", -1.0), n_features=n_features, names=names
        )
