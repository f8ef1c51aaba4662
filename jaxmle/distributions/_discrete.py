"""Discrete families: Poisson, Bernoulli, Binomial, Geometric, NegativeBinomial, Categorical.

Each family's log-mass comes from :mod:`jax.scipy.stats` where it exists. Where the maximum
likelihood estimate has a closed form (all but NegativeBinomial) the weighted start *is* the
estimate, so the damped Newton solver converges at its first step and the Hessian there still gives
the standard errors; NegativeBinomial starts from the method of moments.

Boundary estimates (all-zero counts, all-0 or all-1 binary data, a category never observed, an
under-dispersed negative binomial sample) have no interior maximum: the solver drifts toward the
edge of the parameter space until the gradient vanishes numerically, and :meth:`diagnose` then
reports ``Status.BOUNDARY`` instead of ``CONVERGED``. The start is clipped one machine epsilon
inside the parameter space so those fits stay finite.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> res = jm.fit(jm.Poisson(), jnp.array([0.0, 2.0, 1.0, 3.0]))
    >>> round(float(res.params["rate"]), 6), round(float(res.se["rate"]), 6)   # mean, sqrt(mean/n)
    (1.5, 0.612372)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
from jax.scipy.special import betainc, gammainc, gammaincc, gammaln

from .._arrays import namespace
from .._constraints import Positive, Simplex, UnitInterval
from .._problem import Problem
from .._status import Status
from ._family import Family, log1mexp, support_error, weighted_mean, weighted_var
from ._sampling import gamma
from ._special import log_betainc

__all__ = ["Bernoulli", "Binomial", "Categorical", "Geometric", "NegativeBinomial", "Poisson"]


# -- helpers ------------------------------------------------------------------------------------
def _eps(x) -> jax.Array:
    """Machine epsilon of ``x``'s floating dtype."""
    return jnp.finfo(jnp.result_type(x, float)).eps


def _clip_open_unit(p: jax.Array) -> jax.Array:
    """Clip a probability into ``[eps, 1 - eps]`` so its logit is finite."""
    eps = _eps(p)
    return jnp.clip(p, eps, 1.0 - eps)


def _is_count(x: np.ndarray) -> np.ndarray:
    """Entries of a numpy array that are finite non-negative integers."""
    xp = namespace(x)
    return xp.isfinite(x) & (x >= 0) & (x == xp.round(x))


def _on_boundary(status: jax.Array, boundary: jax.Array) -> jax.Array:
    """``Status.BOUNDARY`` where the data put the estimate on the boundary, else ``status``."""
    return jnp.where(boundary, Status.BOUNDARY, status).astype(status.dtype)


def _log_prob_at_most(log_sf: jax.Array, below: jax.Array, above: jax.Array) -> jax.Array:
    """``log F`` from ``log S`` (``log1mexp``), exact 0 / -inf outside the support's range."""
    safe = jnp.where(below | above, -1.0, log_sf)
    return jnp.where(below, -jnp.inf, jnp.where(above, 0.0, log1mexp(safe)))


# -- Poisson ------------------------------------------------------------------------------------
class Poisson(Family):
    r"""Poisson counts, ``p(x) = rate^x e^{-rate} / x!`` for ``x = 0, 1, 2, ...``.

    The MLE is the weighted mean, with standard error ``sqrt(rate / n)``; all-zero data put it on
    the boundary ``rate = 0`` (``Status.BOUNDARY``).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> res = jm.fit(jm.Poisson(), jnp.array([1.0, 4.0, 2.0, 1.0]))
        >>> float(res.params["rate"])
        2.0
    """

    support_description = "x in {0, 1, 2, ...}"
    discrete = True

    def __init__(self):
        super().__init__({"rate": Positive(1.0)})

    def logpdf(self, params, x):
        return jss.poisson.logpmf(x, params["rate"])

    def logsf(self, params, x):
        """``log P(X > x) = log P(floor(x) + 1, rate)`` (regularised lower incomplete gamma)."""
        k = jnp.floor(x)
        return jnp.where(k < 0, 0.0, jnp.log(gammainc(jnp.maximum(k, 0.0) + 1.0, params["rate"])))

    def logcdf(self, params, x):
        """``log P(X <= x) = log Q(floor(x) + 1, rate)`` (regularised upper incomplete gamma)."""
        k = jnp.floor(x)
        log_cdf = jnp.log(gammaincc(jnp.maximum(k, 0.0) + 1.0, params["rate"]))
        return jnp.where(k < 0, -jnp.inf, log_cdf)

    def sample(self, key, params, shape=()):
        return jax.random.poisson(key, params["rate"], shape)

    def start(self, x, weights):
        return {"rate": jnp.maximum(weighted_mean(x, weights), _eps(x))}

    def in_support(self, x):
        return _is_count(x)

    def fisher_information(self, params):
        return jnp.reshape(1.0 / params["rate"], (1, 1))

    def diagnose(self, params, problem: Problem, status):
        return _on_boundary(status, problem.total(problem.data) == 0)


# -- Bernoulli ----------------------------------------------------------------------------------
class Bernoulli(Family):
    r"""Binary outcomes, ``p(y) = p^y (1 - p)^{1 - y}`` for ``y in {0, 1}``.

    The MLE is the weighted proportion of ones, with standard error ``sqrt(p (1 - p) / n)``;
    all-0 or all-1 data put it on the boundary (``Status.BOUNDARY``).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> res = jm.fit(jm.Bernoulli(), jnp.array([1.0, 0.0, 0.0, 1.0, 1.0]))
        >>> round(float(res.params["p"]), 6)
        0.6
    """

    support_description = "y in {0, 1}"
    discrete = True

    def __init__(self):
        super().__init__({"p": UnitInterval(0.5)})

    def logpdf(self, params, x):
        return jss.bernoulli.logpmf(x, params["p"])

    def logcdf(self, params, x):
        p = params["p"]
        return jnp.where(x < 0, -jnp.inf, jnp.where(x < 1, jnp.log1p(-p), 0.0))

    def logsf(self, params, x):
        p = params["p"]
        return jnp.where(x < 0, 0.0, jnp.where(x < 1, jnp.log(p), -jnp.inf))

    def sample(self, key, params, shape=()):
        return jax.random.bernoulli(key, params["p"], shape).astype(jnp.result_type(float))

    def start(self, x, weights):
        return {"p": _clip_open_unit(weighted_mean(x, weights))}

    def in_support(self, x):
        return (x == 0) | (x == 1)

    def fisher_information(self, params):
        p = params["p"]
        return jnp.reshape(1.0 / (p * (1.0 - p)), (1, 1))

    def diagnose(self, params, problem: Problem, status):
        successes = problem.total(problem.data)
        return _on_boundary(status, (successes == 0) | (successes == problem.nobs))


# -- Binomial -----------------------------------------------------------------------------------
class Binomial(Family):
    r"""Successes out of a known number of trials: data ``{"y": (n,), "trials": (n,)}``.

    ``p(y) = C(trials, y) p^y (1 - p)^{trials - y}``. The MLE is ``sum w y / sum w trials`` with
    standard error ``sqrt(p (1 - p) / sum w trials)``; no successes or no failures at all put it on
    the boundary (``Status.BOUNDARY``).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> data = {"y": jnp.array([3.0, 5.0, 2.0]), "trials": jnp.array([10.0, 10.0, 5.0])}
        >>> round(float(jm.fit(jm.Binomial(), data).params["p"]), 6)
        0.4
    """

    support_description = "y in {0, 1, ..., trials}, trials in {0, 1, 2, ...}"
    discrete = True

    def __init__(self):
        super().__init__({"p": UnitInterval(0.5)})

    def logpdf(self, params, data):
        return jss.binom.logpmf(data["y"], data["trials"], params["p"])

    def logcdf(self, params, data):
        """``log P(Y <= y) = log I_{1-p}(trials - k, k + 1)`` with ``k = floor(y)``."""
        k, n = jnp.floor(data["y"]), data["trials"]
        inside = (k >= 0) & (k < n)
        cdf = betainc(
            jnp.where(inside, n - k, 1.0), jnp.where(inside, k + 1.0, 1.0), 1 - params["p"]
        )
        return jnp.where(k < 0, -jnp.inf, jnp.where(k >= n, 0.0, jnp.log(cdf)))

    def logsf(self, params, data):
        """``log P(Y > y) = log I_p(k + 1, trials - k)`` with ``k = floor(y)``."""
        k, n = jnp.floor(data["y"]), data["trials"]
        inside = (k >= 0) & (k < n)
        sf = betainc(jnp.where(inside, k + 1.0, 1.0), jnp.where(inside, n - k, 1.0), params["p"])
        return jnp.where(k < 0, 0.0, jnp.where(k >= n, -jnp.inf, jnp.log(sf)))

    def sample(self, key, params, shape=(), trials=1):
        """Successes out of ``trials`` (scalar or broadcastable to ``shape``)."""
        trials = jnp.broadcast_to(jnp.asarray(trials, jnp.result_type(float)), shape)
        return jax.random.binomial(key, trials, params["p"], shape)

    def simulate(self, key, params, data):
        """Successes out of each row's own number of trials."""
        trials = data["trials"]
        return {"y": self.sample(key, params, jnp.shape(trials), trials), "trials": trials}

    def start(self, data, weights):
        successes = jnp.sum(weights * data["y"])
        return {"p": _clip_open_unit(successes / jnp.sum(weights * data["trials"]))}

    def check_shapes(self, data) -> None:
        if not isinstance(data, dict) or set(data) != {"y", "trials"}:
            raise ValueError(
                f"{self.name}: data must be a dict {{'y': successes, 'trials': number of trials}}"
                f", got {type(data).__name__}"
                + (f" with keys {sorted(data)}" if isinstance(data, dict) else "")
            )
        super().check_shapes(data)

    def valid_rows(self, data):
        y, trials = data["y"], data["trials"]
        return _is_count(y) & _is_count(trials) & (y <= trials)

    def validate_data(self, data):
        y, trials = np.asarray(data["y"]), np.asarray(data["trials"])
        if not np.all(_is_count(trials)):
            raise support_error(self.name, trials, ~_is_count(trials), "trials in {0, 1, 2, ...}")
        bad = ~(_is_count(y) & (y <= trials))
        if np.any(bad):
            raise support_error(self.name, y, bad, "y in {0, 1, ..., trials}")

    def expected_information(self, u, problem: Problem):
        # The information of p is sum_i w_i trials_i / (p (1 - p)); on the logit scale the
        # Jacobian p (1 - p) turns it into sum_i w_i trials_i p (1 - p).
        p = self.from_unconstrained(u)["p"]
        return jnp.reshape(problem.total(problem.data["trials"]) * p * (1.0 - p), (1, 1))

    def diagnose(self, params, problem: Problem, status):
        successes = problem.total(problem.data["y"])
        trials = problem.total(problem.data["trials"])
        return _on_boundary(status, (successes == 0) | (successes == trials))


# -- Geometric ----------------------------------------------------------------------------------
class Geometric(Family):
    r"""Number of trials up to and including the first success: ``p(x) = (1 - p)^{x - 1} p``.

    Support ``x = 1, 2, ...`` (scipy's ``geom``). The MLE is ``1 / mean(x)`` with standard error
    ``p sqrt((1 - p) / n)``; data that are all 1 put it on the boundary ``p = 1``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> round(float(jm.fit(jm.Geometric(), jnp.array([1.0, 3.0, 2.0, 2.0])).params["p"]), 6)
        0.5
    """

    support_description = "x in {1, 2, 3, ...}"
    discrete = True

    def __init__(self):
        super().__init__({"p": UnitInterval(0.5)})

    def logpdf(self, params, x):
        return jss.geom.logpmf(x, params["p"])

    def logsf(self, params, x):
        """``log P(X > x) = floor(x) log(1 - p)`` for ``x >= 1``."""
        k = jnp.floor(x)
        return jnp.where(k < 1, 0.0, k * jnp.log1p(-params["p"]))

    def logcdf(self, params, x):
        k = jnp.floor(x)
        return _log_prob_at_most(self.logsf(params, x), k < 1, jnp.zeros_like(k, bool))

    def sample(self, key, params, shape=()):
        return jax.random.geometric(key, params["p"], shape)

    def start(self, x, weights):
        return {"p": _clip_open_unit(1.0 / weighted_mean(x, weights))}

    def in_support(self, x):
        return _is_count(x) & (x >= 1)

    def fisher_information(self, params):
        p = params["p"]
        return jnp.reshape(1.0 / (p**2 * (1.0 - p)), (1, 1))

    def diagnose(self, params, problem: Problem, status):
        return _on_boundary(status, problem.total(problem.data - 1.0) == 0)


# -- Negative binomial --------------------------------------------------------------------------
class NegativeBinomial(Family):
    r"""Over-dispersed counts (NB2): mean ``mean`` and variance ``mean + alpha mean^2``.

    A gamma-Poisson mixture with ``r = 1 / alpha``:

        log p(y) = lgamma(y + r) - lgamma(r) - lgamma(y + 1)
                   - r log(1 + alpha mean) + y (log(alpha mean) - log(1 + alpha mean)),

    which is scipy's ``nbinom(r, 1 / (1 + alpha mean))`` written with ``log1p`` so that small
    ``alpha`` keeps its digits (``jax.scipy.stats.nbinom`` takes ``p`` and loses them in ``1 - p``).
    The MLE of ``mean`` is the sample mean; ``alpha`` starts at the method of moments
    ``(s^2 - mean) / mean^2`` (``s^2`` with divisor ``n``). When ``s^2 <= mean`` the MLE of
    ``alpha`` is 0, the boundary (Poisson) case, reported as ``Status.BOUNDARY``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> y = jnp.array([0.0, 4.0, 1.0, 9.0, 2.0, 0.0, 6.0])
        >>> res = jm.fit(jm.NegativeBinomial(), y)
        >>> round(float(res.params["mean"]), 4), bool(res.converged)
        (3.1429, True)
    """

    support_description = "y in {0, 1, 2, ...}"
    discrete = True

    def __init__(self):
        super().__init__({"mean": Positive(1.0), "alpha": Positive(1.0)})

    def logpdf(self, params, y):
        mean, alpha = params["mean"], params["alpha"]
        r = 1.0 / alpha
        log1p_am = jnp.log1p(alpha * mean)
        log_prob = (
            gammaln(y + r)
            - gammaln(r)
            - gammaln(y + 1.0)
            - r * log1p_am
            + y * (jnp.log(alpha * mean) - log1p_am)
        )
        # y = 0 with mean -> 0: y log(alpha mean) is 0 (xlogy convention), not nan.
        log_prob = jnp.where(y == 0, -r * log1p_am, log_prob)
        return jnp.where((y < 0) | (y != jnp.round(y)), -jnp.inf, log_prob)

    def _beta_args(self, params, x):
        """``(k, r, p, q)``: ``floor(x)``, ``r = 1/alpha``, ``p = 1/(1 + alpha mean)`` and
        ``q = 1 - p`` (each computed directly, so neither loses digits to the other)."""
        mean, alpha = params["mean"], params["alpha"]
        am = alpha * mean
        return jnp.floor(x), 1.0 / alpha, 1.0 / (1.0 + am), am / (1.0 + am)

    def logcdf(self, params, x):
        """``log P(Y <= x) = log I_p(r, k + 1)``, ``k = floor(x)`` (regularised incomplete beta,
        :func:`~jaxmle.distributions._special.log_betainc`: differentiable in ``r``)."""
        k, r, p, _ = self._beta_args(params, x)
        log_cdf = log_betainc(r, jnp.maximum(k, 0.0) + 1.0, p)
        return jnp.where(k < 0, -jnp.inf, log_cdf)

    def logsf(self, params, x):
        """``log P(Y > x) = log I_{1-p}(k + 1, r)``."""
        k, r, _, q = self._beta_args(params, x)
        return jnp.where(k < 0, 0.0, log_betainc(jnp.maximum(k, 0.0) + 1.0, r, q))

    def sample(self, key, params, shape=()):
        """Gamma-Poisson mixture: ``lambda ~ Gamma(1/alpha, scale=alpha mean)``, ``y ~ Poisson``."""
        mean, alpha = params["mean"], params["alpha"]
        gamma_key, poisson_key = jax.random.split(key)
        lam = gamma(gamma_key, 1.0 / alpha, shape) * alpha * mean
        return jax.random.poisson(poisson_key, lam, shape)

    def start(self, y, weights):
        mean = jnp.maximum(weighted_mean(y, weights), _eps(y))
        alpha = (weighted_var(y, weights, mean) - mean) / mean**2
        return {"mean": mean, "alpha": jnp.maximum(alpha, jnp.sqrt(_eps(y)))}

    def in_support(self, x):
        return _is_count(x)

    def diagnose(self, params, problem: Problem, status):
        y, weights = problem.data, problem.effective_weights
        mean = weighted_mean(y, weights)
        under_dispersed = problem.total((y - mean) ** 2) <= problem.total(y)
        return _on_boundary(status, under_dispersed)


# -- Categorical --------------------------------------------------------------------------------
class Categorical(Family):
    r"""Class labels ``y in {0, ..., K - 1}`` with probabilities ``probs`` (a Simplex).

    ``p(y) = probs[y]``. The number of classes is given up front (``n_classes=K``) because it fixes
    the parameter's shape, and a class absent from one dataset of a batch must still have a
    probability (0 on the boundary: ``Status.BOUNDARY``). The MLE is the weighted class frequencies;
    their covariance is ``(diag(probs) - probs probs^T) / n``. ``probs`` uses the last class as the
    reference of the additive log-ratio transform, so ``df_model = K - 1``.

    Args:
        n_classes: number of classes ``K >= 2``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> res = jm.fit(jm.Categorical(n_classes=3), jnp.array([0, 2, 2, 1, 2, 0]))
        >>> [round(float(p), 6) for p in res.params["probs"]]
        [0.333333, 0.166667, 0.5]
    """

    discrete = True

    def __init__(self, n_classes: int):
        if int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(f"Categorical: n_classes must be an integer >= 2, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.support_description = f"y in {{0, 1, ..., {self.n_classes - 1}}}"
        super().__init__({"probs": Simplex(np.full(self.n_classes, 1.0 / self.n_classes))})

    def logpdf(self, params, y):
        return jnp.log(params["probs"])[jnp.asarray(y).astype(jnp.int32)]

    def sample(self, key, params, shape=()):
        return jax.random.categorical(key, jnp.log(params["probs"]), shape=shape)

    def _counts(self, y, weights):
        return jnp.zeros(self.n_classes, weights.dtype).at[y.astype(jnp.int32)].add(weights)

    def start(self, y, weights):
        freq = self._counts(y, weights) / jnp.sum(weights)
        freq = jnp.maximum(freq, _eps(weights))
        return {"probs": freq / jnp.sum(freq)}

    def in_support(self, x):
        return _is_count(x) & (x < self.n_classes)

    def fisher_information(self, params):
        # Multinomial information over all K coordinates; J^T diag(1/p) J with the simplex
        # Jacobian J gives the information of the K - 1 log-ratios, diag(p) - p p^T.
        return jnp.diag(1.0 / params["probs"])

    def diagnose(self, params, problem: Problem, status):
        return _on_boundary(
            status, jnp.any(self._counts(problem.data, problem.effective_weights) == 0)
        )
