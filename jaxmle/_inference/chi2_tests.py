"""Likelihood-ratio, Wald and score (Lagrange multiplier) tests, each with a chi-square reference.

All three test a restriction of ``df`` dimensions and agree asymptotically:

* likelihood ratio: ``LR = 2 (loglik_full - loglik_restricted)``, both models fitted;
* Wald: ``W = (R theta - q)' (R Cov R')^{-1} (R theta - q)``, only the full model fitted;
* score: ``LM = s' I^{-1} s``, the full model's score and information at the restricted estimate,
  only the restricted model fitted.

p-values are ``P(chi2_df > statistic)``. Every function accepts batched results (leading axis
``B``) and returns batched statistics.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._covariance import inverse_information
from .._problem import Problem
from .._results import flatten_batched
from .._validation import is_traced

__all__ = ["ChiSquareTest", "lr_test", "score_test", "wald_test"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ChiSquareTest:
    """A test statistic with its chi-square reference distribution.

    Attributes:
        statistic: the chi-square statistic (batched like the inputs).
        pvalue: ``P(chi2_df > statistic)``.
        df: degrees of freedom (static int).
        name: ``"likelihood ratio"``, ``"Wald"`` or ``"score"`` (static).
    """

    statistic: jax.Array
    pvalue: jax.Array
    df: int = dataclasses.field(metadata=dict(static=True))
    name: str = dataclasses.field(default="", metadata=dict(static=True))


def _chi2_test(statistic, df: int, name: str) -> ChiSquareTest:
    pvalue = jax.scipy.stats.chi2.sf(statistic, df)
    return ChiSquareTest(statistic=statistic, pvalue=pvalue, df=int(df), name=name)


def lr_test(restricted, full) -> ChiSquareTest:
    """Likelihood-ratio test of a restricted (nested) fit against the full one.

    ``LR = 2 (loglik_full - loglik_restricted)`` with ``df = k_full - k_restricted`` (free
    parameters). Nesting itself cannot be checked; it is the caller's claim.

    Args:
        restricted: :class:`~jaxmle.FitResult` of the restricted model.
        full: :class:`~jaxmle.FitResult` of the full model on the same data (same batch shape).

    Raises:
        ValueError: when ``restricted`` does not have fewer free parameters, or (eagerly) when the
            two fits saw different numbers of observations.

    Examples:
        >>> import jax.numpy as jnp, jax.scipy.stats as jss
        >>> import jaxmle as jm
        >>> x = jnp.array([0.3, 1.9, 1.2, 2.8, 0.7, 1.5])
        >>> full = jm.fit(jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
        ...                        {"loc": jm.Real(0.0), "scale": jm.Positive()}), x)
        >>> zero = jm.fit(jm.Model(lambda p, x: jss.norm.logpdf(x, 0.0, p["scale"]),
        ...                        {"scale": jm.Positive()}), x)
        >>> test = jm.lr_test(zero, full)
        >>> test.df, round(float(test.statistic), 4)
        (1, 8.2721)
    """
    df = full.n_free - restricted.n_free
    if df <= 0:
        raise ValueError(
            f"restricted must have fewer free parameters than full; got {restricted.n_free} "
            f"(restricted) and {full.n_free} (full)"
        )
    if restricted.batch_shape != full.batch_shape:
        raise ValueError(
            f"restricted and full have batch shapes {restricted.batch_shape} and {full.batch_shape}"
        )
    if not is_traced((restricted.nobs, full.nobs)) and not np.allclose(
        np.asarray(restricted.nobs), np.asarray(full.nobs)
    ):
        raise ValueError(
            "restricted and full were fitted to different numbers of observations "
            f"({np.asarray(restricted.nobs)} and {np.asarray(full.nobs)}); use the same data"
        )
    statistic = 2.0 * (full.loglik - restricted.loglik)
    return _chi2_test(statistic, df, "likelihood ratio")


def wald_test(res, R, q=None) -> ChiSquareTest:
    """Wald test of the linear hypothesis ``R theta = q`` on the natural scale.

    ``W = (R theta_hat - q)' (R Cov R')^{-1} (R theta_hat - q)`` with ``Cov = res.cov`` (so the
    fit's ``cov_type`` carries over: a robust covariance gives a robust Wald test), ``df`` the
    number of rows of ``R``.

    Args:
        res: a :class:`~jaxmle.FitResult` (single or batched).
        R: ``(m, k)`` restriction matrix over the flattened parameters in ``res.param_names`` order
            (a length-``k`` vector is one restriction).
        q: ``(m,)`` right-hand side; default zeros.

    Raises:
        ValueError: when ``R`` has the wrong number of columns or (concrete ``R``) is rank
            deficient.

    Examples:
        >>> import jax.numpy as jnp, jax.scipy.stats as jss
        >>> import jaxmle as jm
        >>> model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
        ...                  {"loc": jm.Real(0.0), "scale": jm.Positive()})
        >>> res = jm.fit(model, jnp.array([0.3, 1.9, 1.2, 2.8, 0.7, 1.5]))
        >>> test = jm.wald_test(res, [1.0, 0.0])           # loc = 0
        >>> bool(jnp.isclose(test.statistic, (res.params["loc"] / res.se["loc"]) ** 2))
        True
    """
    k = len(res.param_names)
    R = jnp.atleast_2d(jnp.asarray(R))
    if R.ndim != 2 or R.shape[1] != k:
        raise ValueError(
            f"R must have {k} columns (one per entry of res.param_names), got {R.shape}"
        )
    m = R.shape[0]
    q = jnp.zeros((m,), R.dtype) if q is None else jnp.reshape(jnp.asarray(q), (m,))
    if not is_traced(R) and np.linalg.matrix_rank(np.asarray(R)) < m:
        raise ValueError(f"R ({m} x {k}) is rank deficient: its restrictions are not independent")
    theta = flatten_batched(res.model, res.params)
    diff = jnp.einsum("mk,...k->...m", R, theta) - q
    middle = jnp.einsum("mk,...kl,nl->...mn", R, res.cov, R)
    statistic = jnp.einsum(
        "...m,...m->...", diff, jnp.linalg.solve(middle, diff[..., None])[..., 0]
    )
    return _chi2_test(statistic, m, "Wald")


def score_test(model, data, restricted_params, df: int, *, weights=None, information="observed"):
    """Score (Lagrange multiplier) test of a restriction, from the restricted estimate alone.

    ``LM = s' I^{-1} s`` with ``s`` the score and ``I`` the information of the *full* model at the
    restricted estimate ``theta_r``. With ``information="observed"`` (default) ``I`` is the
    negative Hessian of the log-likelihood with respect to the flattened natural-scale parameters
    (as in statsmodels); ``"expected"`` uses the model's Fisher information, for which the
    statistic does not depend on the parametrisation. Where the information at ``theta_r`` is not
    positive definite (observed information far from the null can be indefinite) the statistic is
    NaN. For models with constraints that mix coordinates (Simplex, Ordered, PositiveDefinite)
    both are computed on the unconstrained scale.

    Args:
        model: the full model.
        data: its data (no batch axis; use ``jax.vmap`` for a batch).
        restricted_params: the restricted fit's estimate written as full-model parameters (a
            params dict of the full model, e.g. with the tested coefficients set to zero).
        df: number of restrictions (free parameters removed by the restriction).
        weights: optional ``(n,)`` frequency weights, as in the fit.
        information: ``"observed"`` or ``"expected"``.

    Examples:
        >>> import jax.numpy as jnp, jax.scipy.stats as jss
        >>> import jaxmle as jm
        >>> model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
        ...                  {"loc": jm.Real(0.0), "scale": jm.Positive()})
        >>> x = jnp.array([0.3, -0.9, 1.2, 0.8, -0.7, 1.5])
        >>> restricted = {"loc": 0.0, "scale": jnp.sqrt(jnp.mean(x**2))}   # MLE under loc = 0
        >>> test = jm.score_test(model, x, restricted, df=1)
        >>> round(float(test.statistic), 4)   # n xbar^2 / (mean(x^2) - 2 xbar^2)
        1.1786
    """
    if information not in ("observed", "expected"):
        raise ValueError(f"information must be 'observed' or 'expected', got {information!r}")
    if int(df) <= 0:
        raise ValueError(f"df must be a positive integer, got {df}")
    model = model.bind(data)
    problem = Problem.build(data, weights)
    params = {key: jnp.asarray(restricted_params[key], problem.dtype) for key in model.specs}
    u = model.to_unconstrained(params)
    if information == "expected":
        info = model.expected_information(u, problem)
        if info is None:
            raise ValueError(
                f"information='expected': model {model.name} does not supply expected_information"
            )
        score = -jax.grad(model.objective)(u, problem)
    elif all(spec.elementwise for spec in model.specs.values()):

        def loglik(theta):
            return problem.total(model.logpdf(model.unflatten(theta), problem.data))

        theta = model.flatten(params)
        score = jax.grad(loglik)(theta)
        info = -jax.hessian(loglik)(theta)
    else:
        score = -jax.grad(model.objective)(u, problem)
        info = model.objective_derivatives(u, problem)[2]
    inverse, _ = inverse_information(info)
    return _chi2_test(score @ inverse @ score, int(df), "score")
