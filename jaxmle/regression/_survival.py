"""Accelerated-failure-time regressions in ``survreg``'s parametrisation, with censoring.

A survival time ``T > 0`` follows

    log T = x' beta + offset + sigma W,

with ``W`` a standard error distribution: the minimum extreme value distribution
(``F0(w) = 1 - exp(-e^w)``) for :class:`WeibullRegression` (``T`` is then Weibull with shape
``1/sigma`` and scale ``exp(x' beta)``), the standard normal for :class:`LogNormalRegression` and
the standard logistic for :class:`LogLogisticRegression`. The parameters are ``beta`` (column
order of ``X``) and ``scale = sigma`` (R's ``fit$scale``). The results' unconstrained
covariance ``res.cov_unconstrained`` is over ``(beta, log sigma)``, so its last row and column
are ``survreg``'s ``Log(scale)``.

With ``z = (log t - x' beta - offset) / sigma`` a row contributes, on the scale of ``T`` (so the
total is ``survreg``'s ``loglik``),

* ``log f0(z) - log sigma - log t`` observed exactly at ``t``,
* ``log S0(z)`` right-censored at ``t`` (``T > t``), ``log F0(z)`` left-censored (``T <= t``),
* ``log(F0(z_upper) - F0(z_lower))`` interval-censored, in logs from the smaller tail.

The censoring is :class:`~jaxmle.Censored`'s, over the uncensored regression, and so are the data
layouts, with R's ``Surv`` codes:

* ``{"X", "y", "event"}``: ``y`` the time, ``event`` 1 observed, 0 right-censored, 2
  left-censored (``Surv(time, event, type = "interval")``; ``Surv(time, status)`` with a 0/1
  status is the same). Without ``"event"`` every time is observed.
* ``{"X", "lower", "upper"}`` (``Surv(lower, upper, type = "interval2")``): ``lower == upper``
  exact, ``upper = inf`` right-censored at ``lower``, ``lower = 0`` or ``-inf`` left-censored at
  ``upper``, otherwise ``lower < T <= upper``.

Plus an optional ``"offset"`` (added to ``x' beta``). Times must be positive: an eager fit raises a
``ValueError`` naming the key, one under ``jit`` reports ``Status.INVALID_DATA``.

The start is the least-squares fit of ``log t`` (the observed or censoring time, an interval's
midpoint) on ``X``, with ``sigma`` from its residual spread divided by the standard deviation of
``W`` and the intercept moved by ``sigma E[W]``: biased under censoring, a good start for Newton.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> X = jnp.stack([jnp.ones(8), jnp.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])], axis=1)
    >>> data = {"X": X, "y": jnp.array([5.0, 8.0, 3.0, 12.0, 9.0, 20.0, 14.0, 30.0]),
    ...         "event": jnp.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0])}
    >>> res = jm.fit(jm.WeibullRegression(names=["const", "x"]), data)
    >>> res.param_names, bool(res.converged)
    (('const', 'x', 'scale'), True)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from .._constraints import Positive, Real
from ..distributions._censoring import Censored
from ..distributions._continuous import _log_ndtr
from ..distributions._family import Family, log1mexp
from ._base import RegressionModel, design
from ._glm import weighted_normal_equations

__all__ = ["LogLogisticRegression", "LogNormalRegression", "WeibullRegression"]

_EULER = 0.5772156649015329


class _Standard:
    """A standard error distribution ``W``: log density, log CDF, log survival function, a
    sampler and its mean and standard deviation (for the start)."""

    def __init__(self, name, logpdf, logcdf, logsf, sample, mean, sd):
        self.name, self.logpdf, self.logcdf, self.logsf = name, logpdf, logcdf, logsf
        self.sample, self.mean, self.sd = sample, mean, sd


_STANDARD = {
    "weibull": _Standard(
        "extreme value",
        lambda z: z - jnp.exp(z),
        lambda z: log1mexp(-jnp.exp(z)),
        lambda z: -jnp.exp(z),
        lambda key, shape, dtype: jnp.log(jax.random.exponential(key, shape, dtype)),
        -_EULER,
        math.pi / math.sqrt(6.0),
    ),
    "lognormal": _Standard(
        "normal",
        lambda z: -0.5 * (z * z + math.log(2.0 * math.pi)),
        _log_ndtr,
        lambda z: _log_ndtr(-z),
        jax.random.normal,
        0.0,
        1.0,
    ),
    "loglogistic": _Standard(
        "logistic",
        lambda z: -jax.nn.softplus(-z) - jax.nn.softplus(z),
        lambda z: -jax.nn.softplus(-z),
        lambda z: -jax.nn.softplus(z),
        jax.random.logistic,
        0.0,
        math.pi / math.sqrt(3.0),
    ),
}


class LogLocationScale(Family):
    """``T = exp(loc + scale W)`` for a standard ``W`` (see :data:`_STANDARD`): the response of
    an AFT regression, its parameters per row.

    ``log f(t) = log f0(z) - log scale - log t``, ``log F(t) = log F0(z)``,
    ``log S(t) = log S0(z)``, ``z = (log t - loc) / scale``.
    """

    support_description = "t > 0 (survival times)"
    #: The infimum of the support: a censoring interval may start there (left-censoring).
    support_floor = 0.0

    def __init__(self, distribution: str):
        self.distribution = distribution
        super().__init__(
            {"loc": Real(0.0), "scale": Positive(1.0)}, name=f"LogLocationScale({distribution})"
        )

    @property
    def standard(self) -> _Standard:
        return _STANDARD[self.distribution]

    def _z(self, params, t):
        return (jnp.log(t) - params["loc"]) / params["scale"]

    def logpdf(self, params, t):
        z = self._z(params, t)
        return self.standard.logpdf(z) - jnp.log(params["scale"]) - jnp.log(t)

    def logcdf(self, params, t):
        return self.standard.logcdf(self._z(params, t))

    def logsf(self, params, t):
        return self.standard.logsf(self._z(params, t))

    def sample(self, key, params, shape=()):
        loc, scale = jnp.asarray(params["loc"]), jnp.asarray(params["scale"])
        dtype = jnp.result_type(loc, scale, float)
        return jnp.exp(loc + scale * self.standard.sample(key, shape, dtype))

    def in_support(self, t):
        return namespace(t).isfinite(t) & (t > 0)


class _AFTResponse(RegressionModel):
    """The uncensored AFT regression: ``log T = x' beta + offset + scale W``; data
    ``{"X", "y", optional "offset"}``. Its censored form is the public model."""

    def __init__(self, distribution: str, *, n_features=None, names=None, name=None):
        self.distribution = distribution
        self.response_family = LogLocationScale(distribution)
        super().__init__(n_features=n_features, names=names, name=name)

    def param_specs(self, p: int) -> dict:
        return {"beta": Real(np.zeros(p)), "scale": Positive(1.0)}

    def response_params(self, params, data) -> dict:
        X, offset = design(data)
        return {"loc": X @ params["beta"] + offset, "scale": params["scale"]}

    def logpdf(self, params, data):
        return self.response_family.logpdf(self.response_params(params, data), data["y"])

    def start(self, data, weights):
        X, offset = design(data)
        y = data["y"]
        inside = jnp.isfinite(y) & (y > 0)
        w = jnp.where(inside, weights, 0.0)
        z = jnp.log(jnp.where(inside, y, 1.0)) - offset
        beta = weighted_normal_equations(X, z, w)
        resid = z - X @ beta
        spread = jnp.sqrt(jnp.sum(w * resid**2) / jnp.sum(w))
        standard = self.response_family.standard
        scale = jnp.where(jnp.isfinite(spread), spread / standard.sd, 1.0)
        scale = jnp.clip(scale, 1e-2, 1e2)
        beta = weighted_normal_equations(X, z - scale * standard.mean, w)
        return {"beta": beta, "scale": scale}

    def valid_response(self, data):
        return self.response_family.in_support(data["y"])

    can_simulate = True

    def simulate(self, key, params, data):
        p = self.response_params(params, data)
        return {**data, "y": self.response_family.sample(key, p, (data["X"].shape[0],))}


class AFTRegression(Censored):
    """Base of the accelerated-failure-time regressions (see the module docstring)."""

    distribution: str = ""

    def __init__(self, *, n_features: int | None = None, names=None):
        name = type(self).__name__
        inner = _AFTResponse(self.distribution, n_features=n_features, names=names, name=name)
        super().__init__(inner, name=name)


class WeibullRegression(AFTRegression):
    r"""Weibull AFT regression, ``survreg(..., dist = "weibull")``.

    ``log T = x' beta + offset + sigma W`` with ``W`` standard minimum extreme value: ``T`` is
    Weibull with shape ``1/sigma`` and scale ``exp(x' beta + offset)``, so
    ``S(t) = exp(-(t e^{-x' beta})^{1/sigma})`` and the proportional-hazards coefficients are
    ``-beta / sigma``. Parameters ``beta`` and ``scale`` (``sigma``). Data, censoring codes and
    log-likelihood as in :mod:`jaxmle.regression._survival`.

    Args:
        n_features: number of columns of ``X`` (else taken from the data).
        names: column names of ``X`` for ``summary()``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(6), jnp.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])], axis=1)
        >>> data = {"X": X, "lower": jnp.array([2.0, 0.0, 4.0, 6.0, 9.0, 12.0]),
        ...         "upper": jnp.array([2.0, 3.0, 7.0, 6.0, jnp.inf, 15.0])}
        >>> res = jm.fit(jm.WeibullRegression(), data)   # exact, left, interval, ..., right
        >>> bool(res.converged), res.param_names
        (True, ('beta[0]', 'beta[1]', 'scale'))
    """

    distribution = "weibull"


class LogNormalRegression(AFTRegression):
    r"""Log-normal AFT regression, ``survreg(..., dist = "lognormal")``.

    ``log T = x' beta + offset + sigma W``, ``W ~ N(0, 1)``: ``log T`` is normal with mean
    ``x' beta + offset`` and standard deviation ``sigma``. Parameters ``beta`` and ``scale``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.ones((5, 1))
        >>> data = {"X": X, "y": jnp.array([1.0, 2.0, 4.0, 8.0, 16.0])}   # all observed
        >>> res = jm.fit(jm.LogNormalRegression(), data)
        >>> round(float(res.params["beta"][0]), 6), round(float(res.params["scale"]), 6)
        (1.386294, 0.980258)
    """

    distribution = "lognormal"


class LogLogisticRegression(AFTRegression):
    r"""Log-logistic AFT regression, ``survreg(..., dist = "loglogistic")``.

    ``log T = x' beta + offset + sigma W`` with ``W`` standard logistic:
    ``S(t) = 1 / (1 + (t e^{-x' beta})^{1/sigma})``. Parameters ``beta`` and ``scale``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(6), jnp.arange(6.0)], axis=1)
        >>> data = {"X": X, "y": jnp.array([3.0, 5.0, 4.0, 9.0, 7.0, 15.0]),
        ...         "event": jnp.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])}
        >>> res = jm.fit(jm.LogLogisticRegression(), data)
        >>> bool(res.converged)
        True
    """

    distribution = "loglogistic"
