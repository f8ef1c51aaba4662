"""Post-estimation for the regressions, with statsmodels' names and meanings.

A :class:`~jaxmle.FitResult` does not keep its data (it is a pytree that passes through ``jit``
and ``vmap``; a design matrix in it would be copied into every batch and every trace). So what
needs the data takes it: ``res.predict(data)``, ``res.fittedvalues(data)``, ``res.llnull(data)``,
``res.get_margeff(data)``, ... with ``data`` the dict that was fitted (``"X"``, ``"y"``, optional
``"offset"``, ``"trials"``); for predictions ``"y"`` may be left out. The methods of
:class:`~jaxmle.FitResult` call the functions here.

The maths, for a GLM-type regression with linear predictor ``eta = X beta + offset``, mean
``mu = g^{-1}(eta)``, variance function ``V`` and binomial trials ``m`` (1 otherwise):

* Predictions and the delta method: ``Var(h(theta_hat)) ~= J C J'``, ``J = dh/dtheta`` by
  autodiff and ``C`` the covariance of the estimate (:meth:`~jaxmle.FitResult.cov_params`). For
  the mean of row ``x`` this is ``Var(g^{-1}(x'b)) = (g^{-1})'(x'b)^2 x'Cx``. Intervals are built
  on the linear predictor, ``x'b +- q sqrt(x'Cx)``, and mapped through ``g^{-1}`` (statsmodels'
  GLM intervals: they stay inside the mean's range, e.g. (0, 1) for a probability).
* Residuals (statsmodels' GLM definitions): response ``m (y/m - mu) = y - m mu``; Pearson
  ``(y/m - mu) sqrt(m / V(mu))``; deviance ``sign(y/m - mu) sqrt(m d(y/m, mu))`` with ``d`` the
  family's unit deviance (``2 [y log(y/mu) - (y - mu)]`` for the Poisson, ...).
* The null model: the same family, link and extra parameter with ``X`` a column of ones (offset
  and trials kept), fitted by maximum likelihood: ``llnull`` its log-likelihood, McFadden's
  ``prsquared = 1 - llf/llnull``, ``llr = 2 (llf - llnull)`` and ``llr_pvalue = P(chi2_df > llr)``
  with ``df = df_model`` (regressors other than the constant).
* Average marginal effects: ``AME_j = mean_i d mu_i / d x_ij`` (``at="overall"``), the
  derivative by autodiff (``(g^{-1})'(eta_i) beta_j`` for a GLM), their covariance
  ``J C J'`` with ``J = d AME / d theta`` by autodiff.
* OLS inference for :class:`~jaxmle.LinearRegression` (non-robust covariance): statsmodels' OLS
  uses the unbiased ``s^2 = RSS / (n - p)``, so its standard errors of ``beta`` are the ML ones
  times ``sqrt(n / (n - p))``, with Student t (``n - p`` degrees of freedom) p-values and
  intervals.

Examples:
    >>> import jax.numpy as jnp, jaxmle as jm
    >>> X = jnp.stack([jnp.ones(6), jnp.arange(6.0)], axis=1)
    >>> data = {"X": X, "y": jnp.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0])}
    >>> res = jm.fit(jm.Logit(), data)
    >>> pred = res.predict(data, se=True)
    >>> [round(float(v), 4) for v in pred.predicted[:2]], round(float(res.llnull(data)), 4)
    ([0.0459, 0.1393], -4.1589)
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaincc, ndtri, xlogy

from ._penalized import Penalized
from ._problem import Problem
from ._solvers import Newton, Objective, solve
from ._status import Status
from .regression._base import RegressionModel, design
from .regression._glm import GLMModel

__all__ = ["MarginalEffects", "Prediction"]

#: Covariance types for which a LinearRegression gets OLS (``s^2``, Student t) inference.
OLS_COV_TYPES = ("observed", "expected")

_MARGEFF_LABELS = {
    "dydx": "dy/dx",
    "eyex": "d(lny)/d(lnx)",
    "dyex": "dy/d(lnx)",
    "eydx": "d(lny)/dx",
}


# -- what kind of model -------------------------------------------------------------------------
def base_model(model):
    """The model under a penalty (Firth, priors) or the model itself."""
    return model.base if isinstance(model, Penalized) else model


def glm_of(res) -> GLMModel:
    """The GLM engine of a fit, or a ``TypeError`` naming what is supported."""
    model = base_model(res.model)
    if not isinstance(model, GLMModel):
        raise TypeError(
            f"{getattr(model, 'name', type(model).__name__)}: this needs a GLM-type regression "
            "(Logit, Probit, PoissonRegression, NegativeBinomialRegression, LinearRegression, "
            "GammaRegression, GLM)"
        )
    return model


def is_glm(res) -> bool:
    """True for a GLM-type regression (predictions, residuals, null model)."""
    return isinstance(base_model(res.model), GLMModel)


def is_ols(res) -> bool:
    """True for a plain ML :class:`~jaxmle.LinearRegression` with a non-robust covariance: its
    Wald inference is statsmodels OLS's (``s^2 = RSS / (n - p)``, Student t)."""
    model = res.model
    return (
        isinstance(model, GLMModel)
        and model.family.name == "gaussian"
        and model.link.name == "identity"
        and model.extra_name == "sigma"
        and res.cov_type in OLS_COV_TYPES
    )


def n_beta(model) -> int | None:
    """Number of coefficients in ``beta`` for a regression (``None`` for other models)."""
    model = base_model(model)
    if isinstance(model, RegressionModel) and "beta" in model.specs:
        return int(model.specs["beta"].size)
    return None


def model_df(res) -> int:
    """statsmodels' ``df_model``: regressors other than the constant. Without the data, a
    regression's design is taken to hold one constant column (per equation); other models count
    their free parameters."""
    k = n_beta(res.model)
    if k is None:
        return res.model.n_free
    return k - base_model(res.model).beta_width


def residual_df(res):
    """statsmodels' ``df_resid``: ``nobs`` minus the coefficients (constant included); other
    models: ``nobs`` minus the free parameters."""
    k = n_beta(res.model)
    return res.nobs - (res.model.n_free if k is None else k)


def constant_columns(X) -> np.ndarray:
    """Indices of the columns of ``X`` that are constant and non-zero (statsmodels' test)."""
    X = np.asarray(X, dtype=float)
    return np.flatnonzero((np.ptp(X, axis=0) == 0) & (X[0] != 0))


def df_model_of_data(res, data) -> int:
    """``df_model`` from the data: ``rank(X)`` minus the constant columns (statsmodels)."""
    X = np.asarray(data["X"], dtype=float)
    width = base_model(res.model).beta_width
    return width * (int(np.linalg.matrix_rank(X)) - min(1, len(constant_columns(X))))


# -- Student t, traceable -----------------------------------------------------------------------
def t_pvalue(t, df):
    """Two-sided p-value ``P(|T_df| > |t|) = I_{df/(df+t^2)}(df/2, 1/2)``."""
    t = jnp.asarray(t)
    df = jnp.asarray(df, t.dtype)
    return betainc(df / 2.0, 0.5, df / (df + t * t))


@jax.jit
def t_quantile(q, df):
    """The ``q`` quantile (``q > 1/2``) of Student's t with ``df`` degrees of freedom; traceable,
    broadcasting ``q`` against ``df``.

    Newton's method on ``log S(e^s) = log(1 - q)`` in ``s = log t`` (``S`` the survival function,
    nearly linear in ``s`` in the tails), from the normal quantile.

    Examples:
        >>> round(float(t_quantile(0.975, 10.0)), 9)   # scipy.stats.t.ppf(0.975, 10)
        2.228138852
    """
    q, df = jnp.broadcast_arrays(jnp.asarray(q, float), jnp.asarray(df, float))
    target = jnp.log1p(-q)

    def newton(_, s):
        t = jnp.exp(s)
        sf = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
        pdf = jnp.exp(jax.scipy.stats.t.logpdf(t, df))
        return s + (jnp.log(sf) - target) * sf / (pdf * t)

    out = jnp.exp(jax.lax.fori_loop(0, 40, newton, jnp.log(ndtri(q))))
    return jnp.where(df > 0, out, jnp.nan)


def quantile(res, level: float):
    """The two-sided critical value: Student t with ``df_resid`` for OLS, else normal."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    q = 0.5 + level / 2.0
    return t_quantile(q, residual_df(res)) if is_ols(res) else NormalDist().inv_cdf(q)


def ols_factor(res):
    """``n / (n - p)``: OLS's variance of ``beta`` over the ML one (1 for other fits)."""
    return res.nobs / residual_df(res) if is_ols(res) else 1.0


def per_fit(value, leaf):
    """A per-fit scalar (``()`` or a batch's ``(B,)``) shaped to broadcast against ``leaf``
    (``(B, ...)`` for a batch)."""
    value = jnp.asarray(value)
    return jnp.reshape(value, value.shape + (1,) * (jnp.ndim(leaf) - value.ndim))


def inference_cov(res):
    """The covariance used for inference: ``res.cov``, with the ``beta`` block scaled by
    ``n / (n - p)`` for OLS (statsmodels OLS's ``cov_params()``)."""
    if not is_ols(res):
        return res.cov
    k = res.cov.shape[-1]
    root = per_fit(jnp.sqrt(ols_factor(res)), res.cov[..., 0])
    scale = jnp.where(jnp.arange(k) < n_beta(res.model), root, 1.0)
    return res.cov * scale[..., :, None] * scale[..., None, :]


def inference_se(res) -> dict:
    """Standard errors for inference (:func:`inference_cov`), shaped like ``params``."""
    if not is_ols(res):
        return res.se
    se = res.se["beta"]
    return {**res.se, "beta": se * per_fit(jnp.sqrt(ols_factor(res)), se)}


# -- data ---------------------------------------------------------------------------------------
def _array(x):
    return jnp.asarray(np.asarray(x, dtype=float) if not isinstance(x, jax.Array) else x)


def design_data(model: GLMModel, data) -> dict:
    """``{"X", optional "offset"}`` as float arrays, checked against the model's width."""
    if not isinstance(data, dict) or "X" not in data:
        raise ValueError(f"{model.name}: data must be a dict with 'X' (n, p)")
    X = _array(data["X"])
    if X.ndim != 2 or X.shape[1] != model.n_features:
        raise ValueError(
            f"{model.name}: data['X'] must have shape (n, {model.n_features}), got {X.shape}"
        )
    out = {"X": X}
    if data.get("offset") is not None:
        out["offset"] = _array(data["offset"])
    return out


def _response(model: GLMModel, data):
    """``(y per trial, trials)``: binomial counts become proportions (statsmodels' ``endog``)."""
    if "y" not in data:
        raise ValueError(f"{model.name}: residuals need the response data['y']")
    y = _array(data["y"])
    trials = jnp.ones_like(y)
    if model.family.name == "binomial" and data.get("trials") is not None:
        trials = _array(data["trials"])
    return y / trials, trials


def _lam(model: GLMModel, params):
    if model.extra_name is None:
        return None
    return model._lam(jnp.log(params[model.extra_name]))


def _linear(model: GLMModel):
    def linear(params, data):
        X, offset = design(data)
        return X @ params["beta"] + offset

    return linear


def _mean(model: GLMModel):
    linear = _linear(model)
    return lambda params, data: model.link.mean(linear(params, data))


def _delta(res, fn):
    """``fn(theta)`` at the estimate and the Jacobian ``J = d fn / d theta`` (forward autodiff)
    for the delta method ``Var(fn(theta_hat)) ~= J C J'``."""
    theta = res.model.flatten(res.params)
    return fn(theta), jax.jacfwd(fn)(theta)


# -- predictions --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Prediction:
    """Predictions with delta-method standard errors and intervals (``res.get_prediction``).

    Attributes:
        predicted: the predictions ``(n,)``: mean ``mu`` or linear predictor ``eta``.
        se: their standard errors.
        ci_lower, ci_upper: the interval bounds at ``level``.
        which: ``"mean"`` or ``"linear"``.
        level: the coverage of the interval.
    """

    predicted: jax.Array
    se: jax.Array
    ci_lower: jax.Array
    ci_upper: jax.Array
    which: str
    level: float

    def summary_frame(self):
        """A pandas DataFrame with statsmodels GLM's columns: ``mean, mean_se, mean_ci_lower,
        mean_ci_upper`` for the mean, ``predicted, se, ci_lower, ci_upper`` for the linear
        predictor."""
        import pandas as pd

        names = ("mean", "mean_se", "mean_ci_lower", "mean_ci_upper")
        if self.which == "linear":
            names = ("predicted", "se", "ci_lower", "ci_upper")
        values = (self.predicted, self.se, self.ci_lower, self.ci_upper)
        return pd.DataFrame({k: np.asarray(v) for k, v in zip(names, values, strict=True)})


def prediction(res, data, which: str = "mean", se: bool = False, level: float = 0.95):
    """Predictions on ``data`` (see :meth:`jaxmle.FitResult.predict`)."""
    model = glm_of(res)
    if which not in ("mean", "linear"):
        raise ValueError(f"which must be 'mean' or 'linear', got {which!r}")
    if data is None:
        raise ValueError(
            "predict needs the data: a FitResult does not keep its data; pass the fitted dict "
            "(or new data with 'X' and optional 'offset')"
        )
    if se and not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    new = design_data(model, data)
    if not se:
        return _predict(res, new, which)
    return Prediction(*_predict_se(res, new, which, float(level)), which, level)


@functools.partial(jax.jit, static_argnames="which")
def _predict(res, new, which):
    model = base_model(res.model)
    eta = _linear(model)(res.params, new)
    return eta if which == "linear" else model.link.mean(eta)


@functools.partial(jax.jit, static_argnames=("which", "level"))
def _predict_se(res, new, which, level):
    model = base_model(res.model)
    linear = _linear(model)
    eta, J = _delta(res, lambda theta: linear(res.model.unflatten(theta), new))
    se_eta = jnp.sqrt(jnp.einsum("ij,jk,ik->i", J, inference_cov(res), J))  # sqrt(x_i' C x_i)
    q = quantile(res, level)
    lo, hi = eta - q * se_eta, eta + q * se_eta
    if which == "linear":
        return eta, se_eta, lo, hi
    mu = model.link.mean(eta)
    se_mu = jnp.abs(model.link.dmean(eta)) * se_eta  # the delta method: |g^{-1}'(eta)| se(eta)
    a, b = model.link.mean(lo), model.link.mean(hi)
    return mu, se_mu, jnp.minimum(a, b), jnp.maximum(a, b)


# -- residuals ----------------------------------------------------------------------------------
def unit_deviance(family: str, y, mu, lam):
    """The family's unit deviance ``d(y, mu)`` per trial (statsmodels' ``resid_dev**2``)."""
    if family == "gaussian":
        return (y - mu) ** 2
    if family == "binomial":
        return 2.0 * (xlogy(y, y / mu) + xlogy(1.0 - y, (1.0 - y) / (1.0 - mu)))
    if family == "poisson":
        return 2.0 * (xlogy(y, y / mu) - (y - mu))
    if family == "gamma":
        return 2.0 * ((y - mu) / mu - jnp.log(y / mu))
    if family == "inverse_gaussian":
        return (y - mu) ** 2 / (y * mu**2)
    if family == "negative_binomial":
        alpha = jnp.exp(lam)
        return 2.0 * (
            xlogy(y, y / mu) - (y + 1.0 / alpha) * jnp.log((1.0 + alpha * y) / (1.0 + alpha * mu))
        )
    raise ValueError(f"no unit deviance for the family {family!r}")


def fitted_mean(res, data):
    """``mu`` on the fitted data (statsmodels GLM's ``fittedvalues``)."""
    return prediction(res, data, "mean")


def residuals(res, data, kind: str):
    """``"response"``, ``"pearson"`` or ``"deviance"`` residuals (statsmodels GLM)."""
    model = glm_of(res)
    y, trials = _response(model, data)
    return _residuals(res, design_data(model, data), y, trials, kind)


@functools.partial(jax.jit, static_argnames="kind")
def _residuals(res, new, y, trials, kind):
    model = base_model(res.model)
    mu = _mean(model)(res.params, new)
    if kind == "response":
        return trials * (y - mu)
    lam = _lam(model, res.params)
    if kind == "pearson":
        return (y - mu) * jnp.sqrt(trials / model.family.variance(mu, lam))
    dev = unit_deviance(model.family.name, y, mu, lam)
    return jnp.sign(y - mu) * jnp.sqrt(trials * jnp.maximum(dev, 0.0))


# -- the null model -----------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnums=0)
def _fit_null(null: GLMModel, data, weights):
    problem = Problem.build(data, weights)
    u0 = null.to_unconstrained(null.init_params(problem)).astype(problem.dtype)
    objective = Objective(null.objective, null.objective_derivatives)
    solution = solve(Newton(), objective, u0, problem, 500)
    return -solution.f, solution.status


def null_loglik(res, data, weights=None):
    """Log-likelihood of the intercept-only model (eager; see :meth:`jaxmle.FitResult.llnull`)."""
    model = glm_of(res)
    y = _array(data["y"])
    extra = None if model.extra_name is None else (model.extra_name, model.extra_power)
    null = GLMModel(
        model.family, model.link, extra=extra, n_features=1, name=f"{model.name} (null)"
    )
    null_data = {"X": jnp.ones((y.shape[0], 1), y.dtype), "y": y}
    for key in ("offset", "trials"):
        if data.get(key) is not None and key in model.data_keys:
            null_data[key] = _array(data[key])
    w = None if weights is None else _array(weights)
    value, status = _fit_null(null, null_data, w)
    if int(status) != Status.CONVERGED:
        warnings.warn(
            f"{model.name}: the null (intercept-only) fit ended with status "
            f"{Status(int(status)).label}; llnull may not be its maximum",
            RuntimeWarning,
            stacklevel=3,
        )
    return value


def lr_pvalue(res, data, weights=None):
    """``P(chi2_df > llr)`` with ``df`` = regressors other than the constant, from the data."""
    llr = 2.0 * (res.loglik - null_loglik(res, data, weights))
    df = df_model_of_data(res, data)
    return gammaincc(df / 2.0, llr / 2.0)


# -- marginal effects ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MarginalEffects:
    """Average marginal effects with delta-method standard errors (``res.get_margeff``).

    Attributes:
        margeff: the effects, one per regressor other than the constant.
        margeff_se: their standard errors.
        margeff_cov: their covariance ``J C J'``.
        names: the regressors' names.
        method: ``"dydx"``, ``"eyex"``, ``"dyex"`` or ``"eydx"``.
        at: ``"overall"`` or ``"mean"``.
    """

    margeff: jax.Array
    margeff_se: jax.Array
    margeff_cov: jax.Array
    names: tuple
    method: str
    at: str

    @property
    def tvalues(self):
        """``margeff / margeff_se`` (z statistics)."""
        return self.margeff / self.margeff_se

    @property
    def pvalues(self):
        """Two-sided normal p-values."""
        return 2.0 * jax.scipy.special.ndtr(-jnp.abs(self.tvalues))

    def conf_int(self, alpha: float = 0.05):
        """``(k, 2)`` Wald intervals ``margeff +- z se``."""
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        half = z * self.margeff_se
        return jnp.stack([self.margeff - half, self.margeff + half], axis=1)

    def summary_frame(self, alpha: float = 0.05):
        """A pandas DataFrame with statsmodels' ``get_margeff().summary_frame()`` columns."""
        import pandas as pd

        ci = np.asarray(self.conf_int(alpha))
        columns = {
            _MARGEFF_LABELS[self.method]: np.asarray(self.margeff),
            "Std. Err.": np.asarray(self.margeff_se),
            "z": np.asarray(self.tvalues),
            "Pr(>|z|)": np.asarray(self.pvalues),
            "Conf. Int. Low": ci[:, 0],
            "Cont. Int. Hi.": ci[:, 1],  # statsmodels' spelling
        }
        return pd.DataFrame(columns, index=list(self.names))


def average_margeff(res, data, at: str = "overall", method: str = "dydx", weights=None):
    """Average marginal effects (see :meth:`jaxmle.FitResult.get_margeff`)."""
    model = glm_of(res)
    if at not in ("overall", "mean"):
        raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
    if method not in _MARGEFF_LABELS:
        raise ValueError(f"method must be one of {sorted(_MARGEFF_LABELS)}, got {method!r}")
    new = design_data(model, data)
    X = new["X"]
    n = X.shape[0]
    w = jnp.ones(n, X.dtype) if weights is None else _array(weights)
    keep = tuple(np.setdiff1d(np.arange(X.shape[1]), constant_columns(X)).tolist())
    value, cov = _margeff(res, new, w / jnp.sum(w), keep, at, method)
    names = tuple(res.param_names[j] for j in keep)
    return MarginalEffects(value, jnp.sqrt(jnp.diagonal(cov)), cov, names, method, at)


@functools.partial(jax.jit, static_argnames=("keep", "at", "method"))
def _margeff(res, new, w, keep, at, method):
    n = new["X"].shape[0]
    if at == "mean":
        new = {key: (w @ v.reshape(n, -1)).reshape((1,) + v.shape[1:]) for key, v in new.items()}
        w = jnp.ones(1, w.dtype)
    mean = _mean(base_model(res.model))
    index = jnp.asarray(keep, dtype=int)

    def effects(theta):
        params = res.model.unflatten(theta)
        Xe = new["X"]
        mu = mean(params, new)
        d = jax.grad(lambda Z: jnp.sum(mean(params, {**new, "X": Z})))(Xe)  # d mu_i / d x_ij
        per_row = {
            "dydx": d,
            "eyex": d * Xe / mu[:, None],
            "dyex": d * Xe,
            "eydx": d / mu[:, None],
        }[method]
        return (w @ per_row)[index]

    value, J = _delta(res, effects)
    return value, J @ inference_cov(res) @ J.T
