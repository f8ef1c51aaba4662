"""Continuous univariate families: data ``x`` of shape ``(n,)``, parameters on natural constraints.

Every family supplies its log density (from :mod:`jax.scipy.stats` where JAX has it), a log CDF and
log survival function written to stay accurate in the tails, a sampler, an eager support check and
a weighted data-driven start close to the maximum-likelihood estimate: the MLE itself where it has
a closed form (Normal, LogNormal, Exponential, Laplace, InverseGaussian), otherwise moments plus a
few cheap fixed-point or Newton steps, all scale-equivariant so batches whose datasets differ by
orders of magnitude start well. Families with a closed-form Fisher information expose it through
:meth:`~jaxmle.distributions._family.Family.fisher_information`.

Examples:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> res = jm.fit(jm.Exponential(), jnp.array([0.5, 1.0, 2.5]))
    >>> round(float(res.params["rate"]), 6)
    0.75
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import jax.scipy.stats as jss

from .._arrays import namespace
from .._constraints import Positive, Real
from .._problem import Problem
from .._status import Status
from ._family import Family, log1mexp, weighted_mean, weighted_quantile, weighted_var
from ._sampling import beta_from_gammas, gamma, log_gamma
from ._special import gammainc, gammaincc, trigamma

__all__ = [
    "Beta",
    "Cauchy",
    "Exponential",
    "Gamma",
    "Gumbel",
    "InverseGaussian",
    "Laplace",
    "LogNormal",
    "Logistic",
    "Normal",
    "StudentT",
    "VonMises",
    "Weibull",
]

EULER_GAMMA = 0.5772156649015329
STUDENT_T_MAX_DF = 1e6  # beyond this a t fit has diverged towards the normal (df -> infinity)


def _positive(x):
    return namespace(x).isfinite(x) & (x > 0)


def _log_ndtr(z):
    """``log Phi(z)``: JAX's ``log_ndtr`` below 0, ``log1p(-Phi(-z))`` above (keeps relative
    accuracy where ``Phi(z)`` is close to one). Each branch only sees its own half-line, so
    gradients stay finite (no ``0 * inf`` from the branch not taken)."""
    return jnp.where(
        z < 0, jsp.log_ndtr(jnp.minimum(z, 0.0)), jnp.log1p(-jsp.ndtr(-jnp.maximum(z, 0.0)))
    )


def _log_small_or_complement(small_side, small, other):
    """``log(small)`` where ``small_side``, else ``log1p(-other)``, with safe dummy inputs in the
    branch not taken so that gradients stay finite."""
    return jnp.where(
        small_side,
        jnp.log(jnp.where(small_side, small, 1.0)),
        jnp.log1p(-jnp.where(small_side, 0.0, other)),
    )


def _log_cdf_sf(lower, upper):
    """``(log F, log(1 - F))`` from ``F = lower`` and ``1 - F = upper``, each computed accurately
    where it is small: take the log of the small one and ``log1p(-small)`` for the other."""
    return (
        _log_small_or_complement(lower < 0.5, lower, upper),
        _log_small_or_complement(upper < 0.5, upper, lower),
    )


def _location_scale_fisher(i_loc, i_scale, i_cross, scale):
    """Per-observation Fisher information of a location-scale family, ``(1/scale^2) * [[...]]``."""
    return jnp.array([[i_loc, i_cross], [i_cross, i_scale]]) / scale**2


# -- location-scale families on the real line ---------------------------------------------------
class Normal(Family):
    """Normal distribution ``N(loc, scale^2)``.

    ``log f(x) = -log(scale) - log(2 pi)/2 - z^2/2``, ``z = (x - loc)/scale``. The start is the
    closed-form MLE (weighted mean and root mean square deviation, divisor ``sum w``); the Fisher
    information is ``diag(1, 2) / scale^2``.

    Examples:
        >>> import jax.numpy as jnp, jaxmle as jm
        >>> res = jm.fit(jm.Normal(), jnp.array([0.5, 1.5, 2.0, 3.0]))
        >>> round(float(res.params["loc"]), 6), round(float(res.se["loc"]), 6)
        (1.75, 0.450694)
    """

    needs_spread = True

    support_description = "x real and finite"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "scale": Positive(1.0)})

    def logpdf(self, params, x):
        return jss.norm.logpdf(x, params["loc"], params["scale"])

    def logcdf(self, params, x):
        return _log_ndtr((x - params["loc"]) / params["scale"])

    def logsf(self, params, x):
        return _log_ndtr((params["loc"] - x) / params["scale"])

    def sample(self, key, params, shape=()):
        return params["loc"] + params["scale"] * jax.random.normal(key, shape)

    def start(self, x, weights):
        loc = weighted_mean(x, weights)
        return {"loc": loc, "scale": jnp.sqrt(weighted_var(x, weights, loc))}

    def fisher_information(self, params):
        return _location_scale_fisher(1.0, 2.0, 0.0, params["scale"])


class StudentT(Family):
    """Student's t with ``df`` degrees of freedom, location ``loc`` and scale ``scale``.

    The start takes ``df`` from the sample kurtosis (``4 + 6 / excess``, clipped to [2, 30]),
    ``loc`` and ``scale`` from the weighted median and median absolute deviation, then runs three
    EM (iteratively reweighted) steps for ``loc`` and ``scale`` at that ``df``. Samples with
    light tails have no finite MLE (the likelihood keeps rising as ``df -> infinity``); a fit
    whose ``df`` passes ``STUDENT_T_MAX_DF`` (1e6) gets status ``BOUNDARY``. The Fisher
    information (Lange, Little & Taylor 1989) is, with ``v = df``, ``s = scale``,
    ``I_loc = (v+1)/((v+3) s^2)``, ``I_scale = 2v/((v+3) s^2)``,
    ``I_df,scale = -2/(s (v+1)(v+3))`` and
    ``I_df = [psi'(v/2) - psi'((v+1)/2)]/4 - (v+5)/(2v(v+1)(v+3))``.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = 2.0 + 0.5 * jax.random.t(jax.random.key(0), 4.0, (500,))
        >>> res = jm.fit(jm.StudentT(), x)
        >>> bool(res.converged), round(float(res.params["loc"]), 1)
        (True, 2.0)
    """

    needs_spread = True

    support_description = "x real and finite"

    def __init__(self):
        super().__init__({"df": Positive(5.0), "loc": Real(0.0), "scale": Positive(1.0)})

    def logpdf(self, params, x):
        # Written out rather than jss.t.logpdf, whose lgamma difference loses every digit at
        # large df (a fit heading for the normal limit); _student_t_log_constant stays exact.
        df, scale = params["df"], params["scale"]
        z = (x - params["loc"]) / scale
        return (
            _student_t_log_constant(df)[0]
            - jnp.log(scale)
            - 0.5 * (df + 1.0) * jnp.log1p(z * z / df)
        )

    def _log_tail(self, params, x):
        """``(z, log P(T > |z|))`` from the regularised incomplete beta function."""
        df = params["df"]
        z = (x - params["loc"]) / params["scale"]
        tail = 0.5 * jsp.betainc(0.5 * df, 0.5, df / (df + z**2))
        return z, tail

    def logcdf(self, params, x):
        z, tail = self._log_tail(params, x)
        return jnp.where(z < 0, jnp.log(tail), jnp.log1p(-tail))

    def logsf(self, params, x):
        z, tail = self._log_tail(params, x)
        return jnp.where(z > 0, jnp.log(tail), jnp.log1p(-tail))

    def sample(self, key, params, shape=()):
        """``loc + scale z / sqrt(V / df)`` with ``z ~ N(0, 1)`` and ``V / 2 ~ Gamma(df / 2)``
        (:func:`~jaxmle.distributions._sampling.log_gamma`, in logs)."""
        df = params["df"]
        normal_key, gamma_key = jax.random.split(key)
        z = jax.random.normal(normal_key, shape, jnp.result_type(df, float))
        half_df = 0.5 * df
        return params["loc"] + params["scale"] * z * jnp.exp(
            0.5 * (jnp.log(half_df) - log_gamma(gamma_key, half_df, shape))
        )

    def start(self, x, weights):
        mean = weighted_mean(x, weights)
        var = weighted_var(x, weights, mean)
        excess = weighted_mean((x - mean) ** 4, weights) / var**2 - 3.0
        df = jnp.clip(jnp.where(excess > 0, 4.0 + 6.0 / excess, 30.0), 2.0, 30.0)
        loc = weighted_quantile(x, weights, 0.5)
        mad = weighted_quantile(jnp.abs(x - loc), weights, 0.5)
        # 0.75-quantile of t_df is about 0.6745 (1 + 0.4826 / df) (exact at df = 1 and infinity).
        scale = mad / (0.6745 * (1.0 + 0.4826 / df))
        for _ in range(3):
            z2 = ((x - loc) / scale) ** 2
            u = weights * (df + 1.0) / (df + z2)
            loc = jnp.sum(u * x) / jnp.sum(u)
            scale = jnp.sqrt(jnp.sum(u * (x - loc) ** 2) / jnp.sum(weights))
        return {"df": df, "loc": loc, "scale": scale}

    def objective_derivatives(self, u, problem: Problem):
        """Weighted negative log-likelihood, gradient and Hessian in ``u = (log v, loc, log s)``.

        With ``d_i = x_i - loc``, ``kappa = 1/(v s^2)``, ``q_i = kappa d_i^2``,
        ``r_i = 1/(1 + q_i)``, ``c = (v + 1)/2`` and
        ``C(v) = lgamma((v+1)/2) - lgamma(v/2) - log(v pi)/2``,
        ``f = -S0 C(v) + S0 log s + c sum w log1p(q)``. Its derivatives follow from the chain
        rule through ``q`` (``dq/dloc = -2 kappa d``, ``dq/dlog s = -2q``, ``dq/dlog v = -q``)
        and need only the weighted sums ``A0 = sum w log1p(q)``, ``A1 = sum w r``,
        ``A2 = sum w r q``, ``A3 = sum w r^2 q^2``, ``A4 = sum w r^2 q``, ``B1 = sum w r d``,
        ``B2 = sum w r^2 d q``: one ``log1p`` and one division per observation. For example
        ``d2f/dloc2 = 2 c kappa (A1 - 2 A4)`` and ``d2f/dlog s2 = 4 c (A2 - A3)``.
        """
        log_v, loc, log_s = u[0], u[1], u[2]
        v, s = jnp.exp(log_v), jnp.exp(log_s)
        w = problem.effective_weights
        kappa = 1.0 / (v * s**2)
        d = jnp.where(problem.included, problem.data - loc, 0.0)
        q = kappa * d**2
        r = 1.0 / (1.0 + q)
        wr, rq = w * r, r * q
        s0 = jnp.sum(w)
        a0, a1 = jnp.sum(w * jnp.log1p(q)), jnp.sum(wr)
        a2, a3, a4 = jnp.sum(wr * q), jnp.sum(w * rq**2), jnp.sum(wr * rq)
        b1, b2 = jnp.sum(wr * d), jnp.sum(wr * rq * d)
        c = 0.5 * (v + 1.0)
        half_v = 0.5 * v
        log_c, dc, d2c = _student_t_log_constant(v)
        value = -s0 * log_c + s0 * log_s + c * a0
        grad = jnp.stack(
            [-s0 * v * dc + half_v * a0 - c * a2, -2.0 * c * kappa * b1, s0 - 2.0 * c * a2]
        )
        h_vv = -s0 * (v * dc + v**2 * d2c) + half_v * a0 - v * a2 + c * (a2 - a3)
        h_vl = -v * kappa * b1 + 2.0 * c * kappa * (b1 - b2)
        h_vs = -v * a2 + 2.0 * c * (a2 - a3)
        h_ll = 2.0 * c * kappa * (a1 - 2.0 * a4)
        h_ls = 4.0 * c * kappa * (b1 - b2)
        h_ss = 4.0 * c * (a2 - a3)
        hess = jnp.stack(
            [
                jnp.stack([h_vv, h_vl, h_vs]),
                jnp.stack([h_vl, h_ll, h_ls]),
                jnp.stack([h_vs, h_ls, h_ss]),
            ]
        )
        return value, grad, hess

    def diagnose(self, params, problem: Problem, status):
        status = super().diagnose(params, problem, status)
        return jnp.where(params["df"] > STUDENT_T_MAX_DF, Status.BOUNDARY, status)

    def fisher_information(self, params):
        v, s = params["df"], params["scale"]
        i_df = 0.25 * (trigamma(0.5 * v) - trigamma(0.5 * (v + 1.0))) - (v + 5.0) / (
            2.0 * v * (v + 1.0) * (v + 3.0)
        )
        i_df_scale = -2.0 / (s * (v + 1.0) * (v + 3.0))
        i_loc = (v + 1.0) / ((v + 3.0) * s**2)
        i_scale = 2.0 * v / ((v + 3.0) * s**2)
        zero = jnp.zeros_like(v)
        return jnp.array(
            [[i_df, zero, i_df_scale], [zero, i_loc, zero], [i_df_scale, zero, i_scale]]
        )


def _student_t_log_constant(v):
    """``C(v) = lgamma((v+1)/2) - lgamma(v/2) - log(v pi)/2`` and its first two derivatives.

    Above ``v = 100`` the differences of ``lgamma``/``psi`` cancel to a few digits, so the
    asymptotic series ``C = -log(2 pi)/2 - 1/(4v) + 1/(24 v^3) - 1/(20 v^5) + O(v^-7)``
    (checked against the direct formula, error below 1e-13 at ``v = 50``) and its derivatives
    are used there; they stay exact as ``v -> infinity``.
    """
    large = v > 100.0
    small_v = jnp.where(large, 1.0, v)
    half, half1 = 0.5 * small_v, 0.5 * (small_v + 1.0)
    direct = (
        jsp.gammaln(half1) - jsp.gammaln(half) - 0.5 * jnp.log(small_v * jnp.pi),
        0.5 * (jsp.digamma(half1) - jsp.digamma(half)) - 0.5 / small_v,
        0.25 * (trigamma(half1) - trigamma(half)) + 0.5 / small_v**2,
    )
    inv = 1.0 / jnp.where(large, v, 1.0)
    series = (
        -0.5 * jnp.log(2.0 * jnp.pi) - inv / 4.0 + inv**3 / 24.0 - inv**5 / 20.0,
        inv**2 / 4.0 - inv**4 / 8.0 + inv**6 / 4.0,
        -(inv**3) / 2.0 + inv**5 / 2.0 - 1.5 * inv**7,
    )
    return tuple(jnp.where(large, b, a) for a, b in zip(direct, series, strict=True))


class Laplace(Family):
    """Laplace (double exponential) distribution, ``log f = -|x - loc|/scale - log(2 scale)``.

    The MLE has a closed form, the weighted median and the weighted mean absolute deviation from
    it, and is the start. The log-likelihood is not differentiable in ``loc`` at the data points
    and its second derivative in ``loc`` is zero almost everywhere, so the solver uses the
    minimum-norm subgradient for ``loc`` and the expected information ``diag(1, 1) / scale^2`` in
    place of the Hessian (Fisher scoring). Standard errors are therefore the asymptotic ones,
    ``se(loc) = se(scale) = scale / sqrt(n)``.

    Examples:
        >>> import jax.numpy as jnp, jaxmle as jm
        >>> res = jm.fit(jm.Laplace(), jnp.array([0.0, 1.0, 5.0]))
        >>> float(res.params["loc"]), round(float(res.params["scale"]), 6)
        (1.0, 1.666667)
    """

    needs_spread = True

    support_description = "x real and finite"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "scale": Positive(1.0)})

    def logpdf(self, params, x):
        return jss.laplace.logpdf(x, params["loc"], params["scale"])

    def logcdf(self, params, x):
        z = (x - params["loc"]) / params["scale"]
        return jnp.where(z < 0, z - jnp.log(2.0), jnp.log1p(-0.5 * jnp.exp(-jnp.abs(z))))

    def logsf(self, params, x):
        z = (params["loc"] - x) / params["scale"]
        return jnp.where(z < 0, z - jnp.log(2.0), jnp.log1p(-0.5 * jnp.exp(-jnp.abs(z))))

    def sample(self, key, params, shape=()):
        return params["loc"] + params["scale"] * jax.random.laplace(key, shape)

    def start(self, x, weights):
        loc = weighted_quantile(x, weights, 0.5)
        return {"loc": loc, "scale": weighted_mean(jnp.abs(x - loc), weights)}

    def fisher_information(self, params):
        return _location_scale_fisher(1.0, 1.0, 0.0, params["scale"])

    def objective_derivatives(self, u, problem: Problem):
        """Objective, gradient with the minimum-norm subgradient in ``loc``, expected information.

        With ``D = sum_{x < loc} w - sum_{x > loc} w`` and ``T`` the weight of ties, the
        subdifferential of ``f`` in ``loc`` is ``[D - T, D + T] / scale``; its element of least
        magnitude is zero exactly at any weighted median.
        """
        value, grad = jax.value_and_grad(self.objective)(u, problem)
        params = self.from_unconstrained(u)
        data, loc, w = problem.data, params["loc"], problem.effective_weights
        below = jnp.sum(jnp.where(data < loc, w, 0.0))
        above = jnp.sum(jnp.where(data > loc, w, 0.0))
        ties = jnp.sum(jnp.where(data == loc, w, 0.0))
        gap = below - above
        grad = grad.at[0].set(
            jnp.sign(gap) * jnp.maximum(jnp.abs(gap) - ties, 0.0) / params["scale"]
        )
        return value, grad, self.expected_information(u, problem)


class Logistic(Family):
    """Logistic distribution, ``F(x) = 1 / (1 + exp(-(x - loc)/scale))``.

    Start: weighted mean and ``scale = sqrt(3 var) / pi`` (moments). Fisher information
    ``diag(1/3, (3 + pi^2)/9) / scale^2``.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = 1.0 + 2.0 * jax.random.logistic(jax.random.key(0), (500,))
        >>> bool(jm.fit(jm.Logistic(), x).converged)
        True
    """

    needs_spread = True

    support_description = "x real and finite"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "scale": Positive(1.0)})

    def logpdf(self, params, x):
        return jss.logistic.logpdf(x, params["loc"], params["scale"])

    def logcdf(self, params, x):
        return jax.nn.log_sigmoid((x - params["loc"]) / params["scale"])

    def logsf(self, params, x):
        return jax.nn.log_sigmoid((params["loc"] - x) / params["scale"])

    def sample(self, key, params, shape=()):
        return params["loc"] + params["scale"] * jax.random.logistic(key, shape)

    def start(self, x, weights):
        loc = weighted_mean(x, weights)
        return {"loc": loc, "scale": jnp.sqrt(3.0 * weighted_var(x, weights, loc)) / jnp.pi}

    def fisher_information(self, params):
        return _location_scale_fisher(1.0 / 3.0, (3.0 + jnp.pi**2) / 9.0, 0.0, params["scale"])


class Gumbel(Family):
    """Right-skewed Gumbel (extreme value, maxima; scipy's ``gumbel_r``).

    ``log f(x) = -log(scale) - z - exp(-z)``, ``F(x) = exp(-exp(-z))``, ``z = (x - loc)/scale``.
    Start: ``scale = sqrt(6 var)/pi`` from the moments, then ``loc`` is the MLE given that scale,
    ``-scale log(mean_w exp(-x/scale))``. Fisher information
    ``[[1, g - 1], [g - 1, pi^2/6 + (1 - g)^2]] / scale^2`` with ``g`` Euler's constant.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = 3.0 + 2.0 * jax.random.gumbel(jax.random.key(0), (500,))
        >>> bool(jm.fit(jm.Gumbel(), x).converged)
        True
    """

    needs_spread = True

    support_description = "x real and finite"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "scale": Positive(1.0)})

    def logpdf(self, params, x):
        # Written out: jax.scipy.stats.gumbel_r.logpdf (JAX 0.10) computes xlogy(-1, scale) with an
        # integer -1, which breaks forward-mode differentiation (a float0 tangent).
        z = (x - params["loc"]) / params["scale"]
        return -jnp.log(params["scale"]) - z - jnp.exp(-z)

    def logcdf(self, params, x):
        return jss.gumbel_r.logcdf(x, params["loc"], params["scale"])

    def logsf(self, params, x):
        return jss.gumbel_r.logsf(x, params["loc"], params["scale"])

    def sample(self, key, params, shape=()):
        return params["loc"] + params["scale"] * jax.random.gumbel(key, shape)

    def start(self, x, weights):
        scale = jnp.sqrt(6.0 * weighted_var(x, weights)) / jnp.pi
        log_mean = jsp.logsumexp(-x / scale, b=weights) - jnp.log(jnp.sum(weights))
        return {"loc": -scale * log_mean, "scale": scale}

    def fisher_information(self, params):
        g1 = EULER_GAMMA - 1.0
        return _location_scale_fisher(1.0, jnp.pi**2 / 6.0 + g1**2, g1, params["scale"])


class Cauchy(Family):
    """Cauchy distribution, ``log f = -log(pi scale) - log(1 + z^2)``.

    Start: weighted median and half the interquartile range. Fisher information
    ``diag(1, 1) / (2 scale^2)``. The CDF is ``atan2(1, -z) / pi`` and the survival function
    ``atan2(1, z) / pi``, each accurate to full relative precision in its small tail.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = 1.0 + jax.random.cauchy(jax.random.key(0), (500,))
        >>> bool(jm.fit(jm.Cauchy(), x).converged)
        True
    """

    needs_spread = True

    support_description = "x real and finite"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "scale": Positive(1.0)})

    def logpdf(self, params, x):
        return jss.cauchy.logpdf(x, params["loc"], params["scale"])

    def _log_cdf_sf(self, params, x):
        z = (x - params["loc"]) / params["scale"]
        return _log_cdf_sf(jnp.arctan2(1.0, -z) / jnp.pi, jnp.arctan2(1.0, z) / jnp.pi)

    def logcdf(self, params, x):
        return self._log_cdf_sf(params, x)[0]

    def logsf(self, params, x):
        return self._log_cdf_sf(params, x)[1]

    def sample(self, key, params, shape=()):
        return params["loc"] + params["scale"] * jax.random.cauchy(key, shape)

    def start(self, x, weights):
        q1, q2, q3 = (weighted_quantile(x, weights, q) for q in (0.25, 0.5, 0.75))
        return {"loc": q2, "scale": 0.5 * (q3 - q1)}

    def fisher_information(self, params):
        return _location_scale_fisher(0.5, 0.5, 0.0, params["scale"])


# -- positive data ------------------------------------------------------------------------------
class LogNormal(Family):
    """Log-normal distribution: ``log x ~ N(loc, scale^2)``.

    ``log f(x) = log N(log x; loc, scale) - log x``; scipy's ``lognorm(s=scale,
    scale=exp(loc))``. The start is the closed-form MLE on ``log x``; Fisher information as for
    :class:`Normal`.

    Examples:
        >>> import jax.numpy as jnp, jaxmle as jm
        >>> res = jm.fit(jm.LogNormal(), jnp.exp(jnp.array([0.5, 1.5, 2.0, 3.0])))
        >>> round(float(res.params["loc"]), 6)
        1.75
    """

    needs_spread = True

    support_description = "x > 0"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "scale": Positive(1.0)})

    def in_support(self, x):
        return _positive(x)

    def logpdf(self, params, x):
        logx = jnp.log(x)
        return jss.norm.logpdf(logx, params["loc"], params["scale"]) - logx

    def logcdf(self, params, x):
        return _log_ndtr((jnp.log(x) - params["loc"]) / params["scale"])

    def logsf(self, params, x):
        return _log_ndtr((params["loc"] - jnp.log(x)) / params["scale"])

    def sample(self, key, params, shape=()):
        return jnp.exp(params["loc"] + params["scale"] * jax.random.normal(key, shape))

    def start(self, x, weights):
        logx = jnp.log(x)
        loc = weighted_mean(logx, weights)
        return {"loc": loc, "scale": jnp.sqrt(weighted_var(logx, weights, loc))}

    def fisher_information(self, params):
        return _location_scale_fisher(1.0, 2.0, 0.0, params["scale"])


class Exponential(Family):
    """Exponential distribution, ``log f(x) = log(rate) - rate x`` for ``x >= 0``.

    The start is the closed-form MLE ``1 / mean_w(x)``; Fisher information ``1 / rate^2``.

    Examples:
        >>> import jax.numpy as jnp, jaxmle as jm
        >>> res = jm.fit(jm.Exponential(), jnp.array([0.5, 1.0, 2.5]))
        >>> round(float(res.params["rate"]), 6), round(float(res.se["rate"]), 6)
        (0.75, 0.433013)
    """

    support_description = "x >= 0"

    def __init__(self):
        super().__init__({"rate": Positive(1.0)})

    def in_support(self, x):
        return namespace(x).isfinite(x) & (x >= 0)

    def logpdf(self, params, x):
        return jss.expon.logpdf(x, scale=1.0 / params["rate"])

    def logcdf(self, params, x):
        return log1mexp(-params["rate"] * x)

    def logsf(self, params, x):
        return -params["rate"] * x

    def sample(self, key, params, shape=()):
        return jax.random.exponential(key, shape) / params["rate"]

    def start(self, x, weights):
        return {"rate": 1.0 / weighted_mean(x, weights)}

    def fisher_information(self, params):
        return jnp.reshape(1.0 / params["rate"] ** 2, (1, 1))


class Gamma(Family):
    """Gamma distribution with ``shape`` k and ``rate`` r: ``f(x) = r^k x^(k-1) e^(-r x) / G(k)``.

    Start: Minka's (2002) closed-form approximation from ``s = log mean_w(x) - mean_w(log x)``,
    refined by three of his generalised Newton steps (accurate to near machine precision), then
    ``rate = shape / mean_w(x)``, the MLE given the shape. Fisher information
    ``[[psi'(k), -1/r], [-1/r, k/r^2]]``. The solver's derivatives are in closed form from the
    sufficient statistics ``sum w``, ``sum w x``, ``sum w log x`` (:meth:`objective_derivatives`).

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = jax.random.gamma(jax.random.key(0), 3.0, (500,)) / 2.0
        >>> res = jm.fit(jm.Gamma(), x)
        >>> bool(res.converged), int(res.n_iter) <= 3
        (True, True)
    """

    needs_spread = True

    support_description = "x > 0"

    def __init__(self):
        super().__init__({"shape": Positive(1.0), "rate": Positive(1.0)})

    def in_support(self, x):
        return _positive(x)

    def logpdf(self, params, x):
        return jss.gamma.logpdf(x, params["shape"], scale=1.0 / params["rate"])

    def _log_cdf_sf(self, params, x):
        k, y = params["shape"], params["rate"] * x
        return _log_cdf_sf(gammainc(k, y), gammaincc(k, y))

    def logcdf(self, params, x):
        return self._log_cdf_sf(params, x)[0]

    def logsf(self, params, x):
        return self._log_cdf_sf(params, x)[1]

    def sample(self, key, params, shape=()):
        return gamma(key, params["shape"], shape) / params["rate"]

    def start(self, x, weights):
        logx = jnp.log(x)
        mean_log = weighted_mean(logx, weights)
        # s = log mean(x) - mean(log x) >= 0, computed relative to the geometric mean.
        s = jnp.log(weighted_mean(jnp.exp(logx - mean_log), weights))
        s = jnp.maximum(s, jnp.finfo(s.dtype).eps)
        k = (3.0 - s + jnp.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
        for _ in range(3):
            k = 1.0 / (
                1.0 / k + (jnp.log(k) - jsp.digamma(k) - s) / (k**2 * (1.0 / k - trigamma(k)))
            )
        return {"shape": k, "rate": k / weighted_mean(x, weights)}

    def objective_derivatives(self, u, problem: Problem):
        """Weighted negative log-likelihood, gradient and Hessian in ``u = (log k, log r)``.

        The log-likelihood depends on the data only through ``S0 = sum w``, ``L = sum w log x``
        and ``X = sum w x``, which do not depend on ``u`` (XLA computes them once, outside the
        solver's loop); every iteration is then O(1):

            f = S0 lgamma(k) - S0 k log r - (k - 1) L + r X,
            df/dlog k = k (S0 psi(k) - S0 log r - L),           df/dlog r = r X - S0 k,
            d2f/dlog k2 = df/dlog k + S0 k^2 psi'(k),           d2f/dlog r2 = r X,
            d2f/dlog k dlog r = -S0 k.
        """
        log_k, log_r = u[0], u[1]
        k, r = jnp.exp(log_k), jnp.exp(log_r)
        x = jnp.where(problem.included, problem.data, 1.0)
        s0, sum_log, sum_x = problem.nobs, problem.total(jnp.log(x)), problem.total(x)
        value = s0 * jsp.gammaln(k) - s0 * k * log_r - (k - 1.0) * sum_log + r * sum_x
        d_log_k = k * (s0 * jsp.digamma(k) - s0 * log_r - sum_log)
        cross = -s0 * k
        grad = jnp.stack([d_log_k, r * sum_x - s0 * k])
        hess = jnp.stack(
            [
                jnp.stack([d_log_k + s0 * k**2 * trigamma(k), cross]),
                jnp.stack([cross, r * sum_x]),
            ]
        )
        return value, grad, hess

    def fisher_information(self, params):
        k, r = params["shape"], params["rate"]
        return jnp.array([[trigamma(k), -1.0 / r], [-1.0 / r, k / r**2]])


class Weibull(Family):
    """Weibull distribution with ``shape`` k and ``scale`` lam: ``F(x) = 1 - exp(-(x/lam)^k)``.

    ``log f = log(k/lam) + (k - 1) log(x/lam) - (x/lam)^k`` (JAX has no Weibull density; scipy's
    ``weibull_min(k, scale=lam)``). Start: ``log x`` is a minimum-Gumbel variable, so
    ``k = pi / sqrt(6 var(log x))``; three safeguarded Newton steps on the profile score
    ``1/k + mean(log x) - sum w x^k log x / sum w x^k = 0`` (in ``log k``, data centred at their
    geometric mean; quadratic convergence, so near machine precision for regular samples) then
    give the MLE's shape, and ``lam = mean_w(x^k)^(1/k)``. Fisher information
    ``[[(pi^2/6 + (1-g)^2)/k^2, (g-1)/lam], [(g-1)/lam, k^2/lam^2]]``, ``g`` Euler's constant.

    The solver's derivatives are in closed form (:meth:`objective_derivatives`): one ``exp``
    per observation and five weighted sums, instead of ``pow`` and ``log`` with autodiff.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = jax.random.weibull_min(jax.random.key(0), 2.0, 1.5, (500,))
        >>> bool(jm.fit(jm.Weibull(), x).converged)
        True
    """

    needs_spread = True

    support_description = "x > 0"

    def __init__(self):
        super().__init__({"shape": Positive(1.0), "scale": Positive(1.0)})

    def in_support(self, x):
        return _positive(x)

    def _power(self, params, x):
        return (x / params["scale"]) ** params["shape"]

    def logpdf(self, params, x):
        k, lam = params["shape"], params["scale"]
        return jnp.log(k / lam) + (k - 1.0) * jnp.log(x / lam) - self._power(params, x)

    def logcdf(self, params, x):
        return log1mexp(-self._power(params, x))

    def logsf(self, params, x):
        return -self._power(params, x)

    def sample(self, key, params, shape=()):
        return jax.random.weibull_min(key, params["scale"], params["shape"], shape)

    def start(self, x, weights):
        logx = jnp.log(x)
        mean_log = weighted_mean(logx, weights)
        y = jnp.where(weights > 0, logx - mean_log, 0.0)
        top = jnp.max(y)  # max(k y) = k max(y): exponents are shifted without a pass per step
        k = jnp.pi / jnp.sqrt(6.0 * weighted_var(y, weights, 0.0))
        for _ in range(3):
            e = weights * jnp.exp(k * (y - top))
            m1 = jnp.sum(e * y) / jnp.sum(e)
            m2 = jnp.sum(e * y**2) / jnp.sum(e)
            score = 1.0 / k - m1
            slope = -(1.0 / k**2 + m2 - m1**2) * k  # d score / d log k
            step = jnp.clip(-score / slope, -1.0, 1.0)
            k = jnp.where(jnp.isfinite(step), k * jnp.exp(step), k)
        log_mean_power = k * top + jnp.log(
            jnp.sum(weights * jnp.exp(k * (y - top))) / jnp.sum(weights)
        )
        return {"shape": k, "scale": jnp.exp(mean_log + log_mean_power / k)}

    def objective_derivatives(self, u, problem: Problem):
        """Weighted negative log-likelihood, gradient and Hessian in ``u = (log k, log lam)``.

        With ``t_i = log x_i - log lam``, ``z_i = exp(k t_i) = (x_i/lam)^k`` and the weighted
        sums ``S0 = sum w``, ``S1 = sum w t``, ``Z_j = sum w z t^j`` (``j = 0, 1, 2``):

            f = -S0 (log k - log lam) - (k - 1) S1 + Z0,
            df/dlog k = -S0 - k S1 + k Z1,                  df/dlog lam = k (S0 - Z0),
            d2f/dlog k2 = k (Z1 - S1) + k^2 Z2,             d2f/dlog lam2 = k^2 Z0,
            d2f/dlog k dlog lam = k (S0 - Z0) - k^2 Z1.

        ``log x`` does not depend on ``u``; XLA computes it once, outside the solver's loop.
        Rows with zero weight (padding) contribute exactly zero.
        """
        log_k, log_lam = u[0], u[1]
        k = jnp.exp(log_k)
        w = problem.effective_weights
        t = jnp.where(problem.included, jnp.log(problem.data) - log_lam, 0.0)
        wz = w * jnp.exp(k * t)
        s0, s1 = jnp.sum(w), jnp.sum(w * t)
        z0, z1, z2 = jnp.sum(wz), jnp.sum(wz * t), jnp.sum(wz * t**2)
        value = -s0 * (log_k - log_lam) - (k - 1.0) * s1 + z0
        grad = jnp.stack([-s0 - k * s1 + k * z1, k * (s0 - z0)])
        cross = k * (s0 - z0) - k**2 * z1
        hess = jnp.stack(
            [jnp.stack([k * (z1 - s1) + k**2 * z2, cross]), jnp.stack([cross, k**2 * z0])]
        )
        return value, grad, hess

    def fisher_information(self, params):
        k, lam = params["shape"], params["scale"]
        g1 = EULER_GAMMA - 1.0
        return jnp.array([[(jnp.pi**2 / 6.0 + g1**2) / k**2, g1 / lam], [g1 / lam, k**2 / lam**2]])


class InverseGaussian(Family):
    """Inverse Gaussian (Wald) with ``mean`` mu and ``shape`` lam.

    ``log f(x) = (log lam - log(2 pi x^3))/2 - lam (x - mu)^2 / (2 mu^2 x)``; scipy's
    ``invgauss(mu/lam, scale=lam)``. The start is the closed-form MLE ``mean = mean_w(x)``,
    ``1/shape = mean_w(1/x - 1/mean)``. Fisher information ``diag(lam / mu^3, 1 / (2 lam^2))``.

    Examples:
        >>> import jax.numpy as jnp, jaxmle as jm
        >>> res = jm.fit(jm.InverseGaussian(), jnp.array([0.5, 1.0, 2.5]))
        >>> round(float(res.params["mean"]), 6), round(float(res.params["shape"]), 6)
        (1.333333, 2.608696)
    """

    needs_spread = True

    support_description = "x > 0"

    def __init__(self):
        super().__init__({"mean": Positive(1.0), "shape": Positive(1.0)})

    def in_support(self, x):
        return _positive(x)

    def logpdf(self, params, x):
        mu, lam = params["mean"], params["shape"]
        return 0.5 * (jnp.log(lam) - jnp.log(2.0 * jnp.pi) - 3.0 * jnp.log(x)) - lam * (
            x - mu
        ) ** 2 / (2.0 * mu**2 * x)

    def _arguments(self, params, x):
        mu, lam = params["mean"], params["shape"]
        root = jnp.sqrt(lam / x)
        return root * (x / mu - 1.0), root * (x / mu + 1.0), 2.0 * lam / mu

    def _log_cdf_sf(self, params, x):
        """Both from ``F = Phi(a) + e^c Phi(-b)``; each is used where it is the smaller side and
        the other follows by ``log1mexp``."""
        a, b, c = self._arguments(params, x)
        second = c + _log_ndtr(-b)
        logcdf = jnp.logaddexp(_log_ndtr(a), second)
        first = _log_ndtr(-a)
        logsf = first + log1mexp(jnp.minimum(second - first, 0.0))
        half = -jnp.log(2.0)
        # log1mexp sees only arguments below log(1/2) (safe dummies elsewhere): finite gradients.
        return (
            jnp.where(logcdf < half, logcdf, log1mexp(jnp.where(logcdf < half, half, logsf))),
            jnp.where(logsf < half, logsf, log1mexp(jnp.where(logsf < half, half, logcdf))),
        )

    def logcdf(self, params, x):
        return self._log_cdf_sf(params, x)[0]

    def logsf(self, params, x):
        return self._log_cdf_sf(params, x)[1]

    def sample(self, key, params, shape=()):
        lam = params["shape"]
        return lam * jax.random.wald(key, params["mean"] / lam, shape)

    def start(self, x, weights):
        mean = weighted_mean(x, weights)
        return {"mean": mean, "shape": 1.0 / weighted_mean(1.0 / x - 1.0 / mean, weights)}

    def fisher_information(self, params):
        mu, lam = params["mean"], params["shape"]
        zero = jnp.zeros_like(mu)
        return jnp.array([[lam / mu**3, zero], [zero, 0.5 / lam**2]])


# -- bounded and circular data ------------------------------------------------------------------
class Beta(Family):
    """Beta distribution on ``(0, 1)``: ``f(x) = x^(a-1) (1-x)^(b-1) / B(a, b)``.

    ``log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b)``.
    Start: method of moments, ``c = m(1-m)/v - 1``, ``a = m c``, ``b = (1-m) c``. Fisher
    information ``[[psi'(a) - psi'(a+b), -psi'(a+b)], [-psi'(a+b), psi'(b) - psi'(a+b)]]``.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> x = jax.random.beta(jax.random.key(0), 2.0, 5.0, (500,))
        >>> bool(jm.fit(jm.Beta(), x).converged)
        True
    """

    needs_spread = True

    support_description = "0 < x < 1"

    def __init__(self):
        super().__init__({"a": Positive(1.0), "b": Positive(1.0)})

    def in_support(self, x):
        return namespace(x).isfinite(x) & (x > 0) & (x < 1)

    def logpdf(self, params, x):
        # Not jax.scipy.stats.beta.logpdf: its log-beta (jax.scipy.special.betaln, JAX 0.10) is off
        # by ~4e-8 at e.g. a=15, b=18; the gammaln combination is exact to rounding here.
        a, b = params["a"], params["b"]
        log_beta = jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)
        return jsp.xlogy(a - 1.0, x) + jsp.xlog1py(b - 1.0, -x) - log_beta

    def _log_cdf_sf(self, params, x):
        a, b = params["a"], params["b"]
        return _log_cdf_sf(jsp.betainc(a, b, x), jsp.betainc(b, a, 1.0 - x))

    def logcdf(self, params, x):
        return self._log_cdf_sf(params, x)[0]

    def logsf(self, params, x):
        return self._log_cdf_sf(params, x)[1]

    def sample(self, key, params, shape=()):
        return beta_from_gammas(key, params["a"], params["b"], shape)

    def start(self, x, weights):
        m = weighted_mean(x, weights)
        c = m * (1.0 - m) / weighted_var(x, weights, m) - 1.0
        c = jnp.maximum(c, jnp.finfo(c.dtype).eps)
        return {"a": m * c, "b": (1.0 - m) * c}

    def fisher_information(self, params):
        a, b = params["a"], params["b"]
        both = trigamma(a + b)
        return jnp.array([[trigamma(a) - both, -both], [-both, trigamma(b) - both]])


_VONMISES_TERMS = 64  # series length; enough for concentration < 50 (scipy uses <= 52 there)
_VONMISES_SERIES_MAX = 50.0  # above this, the normal approximation (as in scipy)


class VonMises(Family):
    """Von Mises distribution of angles (radians): ``f(x) = exp(k cos(x - loc)) / (2 pi I0(k))``.

    ``loc`` is declared :class:`~jaxmle.Real` rather than ``Interval(-pi, pi)``: the density is
    2 pi-periodic in ``loc``, so the real line has no boundary at which a fit can get stuck when
    the mean direction is near +-pi. The start is the closed-form MLE of ``loc`` (the weighted
    circular mean, in ``(-pi, pi]``) so the estimate stays there up to rounding; the
    concentration starts from Best & Fisher's approximation to ``A1^{-1}(R)`` (``R`` the mean
    resultant length) refined by three Newton steps on ``A1(k) = R``, ``A1 = I1/I0``. Data may
    be any finite angles. Fisher information ``diag(k A1(k), 1 - A1(k)/k - A1(k)^2)``.

    :meth:`logcdf` and :meth:`logsf` refer to the period centred at ``loc``: ``x - loc`` is
    wrapped into ``[-pi, pi)`` first. They use the Fourier series of the CDF below concentration
    50 and Hill's normal approximation above it, as scipy does.

    Examples:
        >>> import jax.numpy as jnp, jaxmle as jm
        >>> res = jm.fit(jm.VonMises(), jnp.array([0.1, 0.3, -0.2, 0.5, 0.0]))
        >>> round(float(res.params["loc"]), 6)
        0.139706
    """

    needs_spread = True

    support_description = "x real and finite (angles in radians)"

    def __init__(self):
        super().__init__({"loc": Real(0.0), "concentration": Positive(1.0)})

    def logpdf(self, params, x):
        return jss.vonmises.logpdf(x - params["loc"], params["concentration"])

    def _log_cdf_sf(self, params, x):
        """``(log F, log(1 - F))`` on the period centred at ``loc``.

        With ``t = x - loc`` wrapped into ``[-pi, pi)`` and ``u = pi - |t|``, the smaller tail is
        ``G(u) = [u + 2 sum_j (-1)^j (I_j(k)/I_0(k)) sin(j u)/j] / (2 pi)`` (the Fourier series
        of the CDF measured from ``loc - pi``, accurate to full relative precision as ``u -> 0``);
        the Bessel ratios come from the backward recurrence ``I_j/I_{j-1} = 1/(2j/k +
        I_{j+1}/I_j)``. Above concentration 50 the smaller tail is Hill's normal approximation
        ``Phi(-sqrt(2/pi) / i0e(k) * sin(|t|/2))``, as in scipy.
        """
        kappa = params["concentration"]
        theta = jnp.mod(x - params["loc"] + jnp.pi, 2.0 * jnp.pi) - jnp.pi
        u = jnp.pi - jnp.abs(theta)
        order = jnp.arange(_VONMISES_TERMS, 0, -1, dtype=theta.dtype)
        safe_kappa = jnp.minimum(kappa, _VONMISES_SERIES_MAX)

        def backward(ratio, j):
            ratio = 1.0 / (2.0 * j / safe_kappa + ratio)
            return ratio, ratio

        _, ratios = jax.lax.scan(backward, jnp.zeros_like(safe_kappa), order)
        j = order[::-1]
        coef = 2.0 * jnp.cumprod(ratios[::-1]) * (-1.0) ** j / j
        series = (u + jnp.tensordot(coef, jnp.sin(jnp.multiply.outer(j, u)), axes=1)) / (
            2.0 * jnp.pi
        )
        normal = jsp.ndtr(-jnp.sqrt(2.0 / jnp.pi) / jsp.i0e(kappa) * jnp.sin(jnp.abs(theta) / 2.0))
        lower = jnp.clip(jnp.where(kappa < _VONMISES_SERIES_MAX, series, normal), 0.0, 0.5)
        small, large = jnp.log(lower), jnp.log1p(-lower)
        return jnp.where(theta < 0, small, large), jnp.where(theta < 0, large, small)

    def logcdf(self, params, x):
        return self._log_cdf_sf(params, x)[0]

    def logsf(self, params, x):
        return self._log_cdf_sf(params, x)[1]

    def sample(self, key, params, shape=(), proposals: int = 64):
        """Best & Fisher (1979) rejection sampler, ``proposals`` tries per draw, vectorised.

        The acceptance rate is at least about 0.66, so 64 tries all fail with probability below
        1e-30.
        """
        kappa = jnp.asarray(params["concentration"])
        tau = 1.0 + jnp.sqrt(1.0 + 4.0 * kappa**2)
        rho = (tau - jnp.sqrt(2.0 * tau)) / (2.0 * kappa)
        r = (1.0 + rho**2) / (2.0 * rho)
        u1, u2, u3 = jax.random.uniform(key, (3, proposals, *shape), dtype=kappa.dtype)
        z = jnp.cos(jnp.pi * u1)
        f = (1.0 + r * z) / (r + z)
        c = kappa * (r - f)
        accept = (c * (2.0 - c) - u2 > 0) | (jnp.log(c / u2) + 1.0 - c >= 0)
        theta = jnp.sign(u3 - 0.5) * jnp.arccos(jnp.clip(f, -1.0, 1.0))
        first = jnp.argmax(accept, axis=0)
        theta = jnp.take_along_axis(theta, first[None], axis=0)[0]
        return jnp.mod(params["loc"] + theta + jnp.pi, 2.0 * jnp.pi) - jnp.pi

    def start(self, x, weights):
        c, s = weighted_mean(jnp.cos(x), weights), weighted_mean(jnp.sin(x), weights)
        r = jnp.clip(jnp.hypot(c, s), 1e-8, 1.0 - 1e-12)
        kappa = jnp.where(
            r < 0.53,
            2.0 * r + r**3 + 5.0 * r**5 / 6.0,
            jnp.where(
                r < 0.85, -0.4 + 1.39 * r + 0.43 / (1.0 - r), 1.0 / (r**3 - 4 * r**2 + 3 * r)
            ),
        )
        for _ in range(3):
            a1 = jsp.i1e(kappa) / jsp.i0e(kappa)
            kappa = jnp.maximum(kappa - (a1 - r) / (1.0 - a1 / kappa - a1**2), 0.5 * kappa)
        return {"loc": jnp.arctan2(s, c), "concentration": kappa}

    def fisher_information(self, params):
        kappa = params["concentration"]
        a1 = jsp.i1e(kappa) / jsp.i0e(kappa)
        zero = jnp.zeros_like(kappa)
        return jnp.array([[kappa * a1, zero], [zero, 1.0 - a1 / kappa - a1**2]])
