"""`FitResult`: estimates, covariance, diagnostics and the statsmodels-like summary.

A ``FitResult`` is a registered pytree, so it passes through ``jit`` and ``vmap``; a batched result
(from ``jax.vmap(fit)`` or :func:`~jaxmle.fit_many`) has a leading batch axis on every array and
``res[i]`` picks one fit.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> x = jax.random.exponential(jax.random.key(0), (100,)) / 2.0
    >>> model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x, {"rate": jm.Positive()})
    >>> res = jm.fit(model, x)
    >>> bool(res.converged), res.param_names
    (True, ('rate',))
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np

from ._constraints import Real
from ._postestimation import (
    average_margeff,
    base_model,
    df_model_of_data,
    fitted_mean,
    inference_cov,
    inference_se,
    is_glm,
    is_ols,
    lr_pvalue,
    model_df,
    n_beta,
    null_loglik,
    per_fit,
    prediction,
    quantile,
    residual_df,
    residuals,
    t_pvalue,
)
from ._status import Status

__all__ = ["FitResult"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FitResult:
    """The result of one fit, or of a batch of fits (leading batch axis on every array).

    Attributes:
        params: dict of estimates on the natural (constrained) scale.
        se: dict of standard errors, shaped like ``params``.
        cov: ``(k, k)`` covariance of the flattened estimates, in ``param_names`` order.
        unconstrained: the estimate on the solver's unconstrained scale, ``(k_free,)``.
        cov_unconstrained: its covariance, ``(k_free, k_free)``.
        loglik: maximised log-likelihood (weighted; padding excluded); for a penalised or MAP
            fit, the log-likelihood at the penalised estimate.
        log_penalty: the log-penalty (log prior) at the estimate; 0 for maximum likelihood.
        nobs: number of observations (sum of frequency weights).
        status: :class:`~jaxmle.Status` code, as an int32 array.
        n_iter: solver iterations used.
        grad_norm: ``max |grad|`` of the log-likelihood at the estimate (unconstrained scale).
        n_best: number of starting points that reached the reported optimum (``fit(...,
            n_starts=k)``); for a single start, 1 when it converged and 0 otherwise.
        model: the fitted :class:`~jaxmle.Model` (static).
        cov_type: how ``cov`` was computed (static).
        names: display names for the flattened parameters (static).
        messages: for a batch from ``fit_many(..., errors="status")``, why each dataset was
            refused (``messages[i]`` is ``""`` for a fitted one); ``None`` otherwise (static).
        groups: for ``fit_many(df, formula=..., by=...)``, the group label of each fit, in
            batch order (Python scalars, or tuples for several ``by`` columns); else ``None``.
        formula: for a formula fit, its specification (static): the post-estimation methods
            then take a DataFrame, turned into the fit's design (same columns and levels).
    """

    params: dict
    se: dict
    cov: jax.Array
    unconstrained: jax.Array
    cov_unconstrained: jax.Array
    loglik: jax.Array
    log_penalty: jax.Array
    nobs: jax.Array
    status: jax.Array
    n_iter: jax.Array
    grad_norm: jax.Array
    n_best: jax.Array
    model: object = dataclasses.field(metadata=dict(static=True))
    cov_type: str = dataclasses.field(default="observed", metadata=dict(static=True))
    names: tuple | None = dataclasses.field(default=None, metadata=dict(static=True))
    messages: Messages | None = dataclasses.field(default=None, metadata=dict(static=True))
    groups: tuple | None = dataclasses.field(default=None, metadata=dict(static=True))
    formula: object = dataclasses.field(default=None, metadata=dict(static=True))

    # -- shape of a batch ------------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """``()`` for a single fit, ``(B,)`` for a batch."""
        return tuple(jnp.shape(self.loglik))

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("len() of a single (unbatched) FitResult")
        return self.batch_shape[0]

    def __getitem__(self, index) -> FitResult:
        if not self.batch_shape:
            raise TypeError("indexing a single (unbatched) FitResult; only batches can be indexed")
        picked = jax.tree_util.tree_map(lambda leaf: leaf[index], self)
        if self.messages is None and self.groups is None:
            return picked
        # Static per-dataset fields follow a slice; a single fit or a fancy index drops them.
        groups = self.groups[index] if isinstance(index, slice) and self.groups else None
        return dataclasses.replace(picked, messages=None, groups=groups)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- derived statistics ----------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the flattened parameters (the order of ``cov``)."""
        return self.names if self.names is not None else self.model.param_names

    @property
    def n_free(self) -> int:
        """Number of free parameters (a Simplex of K entries counts K - 1): the ``k`` of AIC, BIC
        and AICc."""
        return self.model.n_free

    @property
    def df_model(self) -> int:
        """statsmodels' ``df_model``: for a regression, the number of regressors other than the
        constant, ``p - 1`` (``X`` is taken to hold a constant column, as with
        ``sm.add_constant``; the data-aware ``llr_pvalue(data)`` and ``summary(data=...)`` detect
        it, as statsmodels does); extra parameters (``sigma``, ``alpha``) are not counted. For
        other models, the number of free parameters."""
        return model_df(self)

    @property
    def df_resid(self) -> jax.Array:
        """statsmodels' ``df_resid``: ``nobs`` minus the number of coefficients of ``beta``
        (constant included); for other models ``nobs - n_free``."""
        return residual_df(self)

    @property
    def is_map(self) -> bool:
        """True for a penalised (Firth, ridge) or MAP (``prior=``) fit."""
        return bool(getattr(self.model, "is_penalized", False))

    @property
    def penalized_loglik(self) -> jax.Array:
        """The maximised objective ``loglik + log_penalty`` (``loglik`` for plain ML)."""
        return self.loglik + self.log_penalty

    @property
    def converged(self) -> jax.Array:
        return self.status == Status.CONVERGED

    @property
    def status_name(self):
        """Status as text (an array of strings for a batch)."""
        names = np.vectorize(lambda code: Status(int(code)).label)
        out = names(np.asarray(self.status))
        return str(out) if out.ndim == 0 else out

    @property
    def aic(self) -> jax.Array:
        return -2.0 * self.loglik + 2.0 * self.n_free

    @property
    def bic(self) -> jax.Array:
        return -2.0 * self.loglik + self.n_free * jnp.log(self.nobs)

    @property
    def aicc(self) -> jax.Array:
        """AIC with the small-sample correction ``2k(k+1)/(n-k-1)`` (NaN when ``n <= k+1``)."""
        k = self.n_free
        denom = self.nobs - k - 1.0
        return self.aic + jnp.where(denom > 0, 2.0 * k * (k + 1) / denom, jnp.nan)

    @property
    def zvalues(self) -> dict:
        """Wald z statistics ``estimate / se`` (against zero, ML standard errors)."""
        return jax.tree_util.tree_map(lambda p, s: p / s, self.params, self.se)

    @property
    def bse(self) -> dict:
        """Standard errors used for inference (statsmodels' ``bse``), shaped like ``params``.

        Equal to ``se`` except for a :class:`~jaxmle.LinearRegression` with a non-robust
        covariance (``"observed"``/``"expected"``), where ``beta``'s are statsmodels OLS's:
        ``sqrt(diag(s^2 (X'X)^{-1}))`` with the unbiased ``s^2 = RSS / (n - p)``, i.e.
        ``se * sqrt(n / (n - p))``. ``se`` keeps the ML (inverse-information) values.
        """
        return inference_se(self)

    def cov_params(self) -> jax.Array:
        """The covariance behind ``bse`` (``cov``, with OLS's ``beta`` block for a
        LinearRegression), in ``param_names`` order."""
        return inference_cov(self)

    @property
    def tvalues(self) -> dict:
        """``estimate / bse``: Student t statistics for OLS, else Wald z (statsmodels' name)."""
        return jax.tree_util.tree_map(lambda p, s: p / s, self.params, self.bse)

    @property
    def pvalues(self) -> dict:
        """Two-sided p-values of ``tvalues`` against zero: Student t with ``df_resid`` degrees of
        freedom for OLS (a non-robust LinearRegression, as statsmodels OLS), normal otherwise.

        Given for every parameter; :meth:`summary` leaves them out for constrained ones (see
        there).
        """
        if is_ols(self):
            df = self.df_resid
            return jax.tree_util.tree_map(lambda t: t_pvalue(t, per_fit(df, t)), self.tvalues)
        return jax.tree_util.tree_map(
            lambda z: 2.0 * jax.scipy.special.ndtr(-jnp.abs(z)), self.tvalues
        )

    def conf_int(self, level: float = 0.95, method: str = "wald"):
        """Confidence intervals as ``(lower, upper)`` dicts shaped like ``params``.

        Args:
            level: coverage, e.g. 0.95.
            method: ``"wald"`` gives ``estimate +- q * bse`` on the natural scale (statsmodels'
                intervals; ``q`` the normal quantile, or Student t's with ``df_resid`` degrees of
                freedom for OLS, see :attr:`bse`). ``"transformed"`` builds the Wald interval on
                the unconstrained scale for constrained parameters and maps it through each
                parameter's bijection, so it always respects the constraint (e.g. positive for
                ``Positive``) and is usually closer to the profile interval for scale parameters;
                unconstrained (``Real``) parameters keep the Wald interval, and parameters whose
                bijection is not entry-wise (Simplex, Ordered, PositiveDefinite) fall back to
                ``"wald"``. :meth:`summary` and :meth:`to_dataframe` use ``"transformed"``.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        if method not in ("wald", "transformed"):
            raise ValueError(f"method must be 'wald' or 'transformed', got {method!r}")
        q = quantile(self, level)
        lower = jax.tree_util.tree_map(lambda p, s: p - per_fit(q, s) * s, self.params, self.bse)
        upper = jax.tree_util.tree_map(lambda p, s: p + per_fit(q, s) * s, self.params, self.bse)
        if method == "transformed":
            z = NormalDist().inv_cdf(0.5 + level / 2.0)
            self._transform_interval(z, lower, upper)
        return lower, upper

    def _transform_interval(self, z: float, lower: dict, upper: dict) -> None:
        """Replace entry-wise parameters' Wald bounds by the mapped unconstrained-scale ones."""
        se_u = jnp.sqrt(jnp.diagonal(self.cov_unconstrained, axis1=-2, axis2=-1))
        start = 0
        for key, spec in self.model.specs.items():
            stop = start + spec.unconstrained_size
            if spec.elementwise and not isinstance(spec, Real):
                u, s = self.unconstrained[..., start:stop], se_u[..., start:stop]
                shape = self.batch_shape + spec.shape
                lower[key] = jnp.reshape(_batched(spec.forward, u - z * s), shape)
                upper[key] = jnp.reshape(_batched(spec.forward, u + z * s), shape)
            start = stop

    # -- post-estimation (regressions; these take the data, which a FitResult does not keep) ------
    def _design(self, data):
        """``data`` as the fit's design: a DataFrame goes through the fit's formula."""
        if self.formula is None or isinstance(data, dict):
            return data
        return self.formula.data(data)

    def predict(self, data, which: str = "mean", se: bool = False, level: float = 0.95):
        """Predictions of a GLM-type regression on ``data`` (the fitted dict, or new rows).

        A ``FitResult`` does not keep its data (it is a pytree made to pass through ``jit`` and
        ``vmap``), so ``data`` is required: ``{"X": (n, p), optional "offset"}`` (``"y"`` and
        ``"trials"`` are ignored). Binomial means are per trial (probabilities).

        Args:
            data: the design to predict at.
            which: ``"mean"`` (``mu = g^{-1}(eta)``) or ``"linear"`` (``eta = X beta +
                offset``).
            se: also return delta-method standard errors and intervals.
            level: coverage of the intervals.

        Returns:
            An ``(n,)`` array, or with ``se=True`` a :class:`~jaxmle._postestimation.Prediction`
            (``predicted, se, ci_lower, ci_upper``; ``summary_frame()`` gives statsmodels'
            ``get_prediction(...).summary_frame()``). The delta method gives ``Var(eta_i) =
            x_i' C x_i`` (``C`` from :meth:`cov_params`) and ``Var(mu_i) = g^{-1}'(eta_i)^2
            x_i' C x_i``; the mean's interval maps the linear predictor's through ``g^{-1}``
            (statsmodels GLM), so it stays in the mean's range. Quantiles: normal, or Student t
            with ``df_resid`` degrees of freedom for OLS.

        Examples:
            >>> import jax.numpy as jnp, jaxmle as jm
            >>> X = jnp.stack([jnp.ones(5), jnp.arange(5.0)], axis=1)
            >>> res = jm.fit(jm.PoissonRegression(), {"X": X, "y": jnp.array([1.0, 1, 2, 4, 9])})
            >>> pred = res.predict({"X": jnp.array([[1.0, 5.0]])}, se=True)
            >>> round(float(pred.predicted[0]), 4), round(float(pred.se[0]), 4)
            (16.397, 7.8451)
        """
        return prediction(self, self._design(data), which, se, level)

    def get_prediction(self, data, which: str = "mean", level: float = 0.95):
        """statsmodels' name for ``predict(data, which, se=True, level)``."""
        return prediction(self, self._design(data), which, True, level)

    def fittedvalues(self, data) -> jax.Array:
        """Fitted means ``mu`` on the fitted ``data`` (statsmodels GLM's ``fittedvalues``; for
        a binomial, per trial). A method: the result does not keep its data."""
        return fitted_mean(self, self._design(data))

    def resid_response(self, data) -> jax.Array:
        """Response residuals ``y - mu`` (``y - trials * mu`` for binomial counts) on the fitted
        ``data`` (statsmodels GLM's ``resid_response``)."""
        return residuals(self, self._design(data), "response")

    def resid_pearson(self, data) -> jax.Array:
        """Pearson residuals ``(y - mu) sqrt(m / V(mu))`` (``V`` the variance function, not
        divided by the dispersion; ``m`` binomial trials) on the fitted ``data`` (statsmodels
        GLM's ``resid_pearson``)."""
        return residuals(self, self._design(data), "pearson")

    def resid_deviance(self, data) -> jax.Array:
        """Deviance residuals ``sign(y - mu) sqrt(m d(y, mu))`` (``d`` the family's unit
        deviance) on the fitted ``data`` (statsmodels GLM's ``resid_deviance``)."""
        return residuals(self, self._design(data), "deviance")

    def llnull(self, data, weights=None) -> jax.Array:
        """Log-likelihood of the null model: the same regression with ``X`` a column of ones
        (``offset``, ``trials`` and ``weights`` kept; extra parameters such as ``alpha`` or
        ``sigma`` re-estimated), fitted by maximum likelihood (statsmodels' ``llnull``). Eager
        only (it runs a fit); pass the ``weights`` the fit used."""
        return null_loglik(self, self._design(data), weights)

    def llr(self, data, weights=None) -> jax.Array:
        """The likelihood-ratio statistic against the null model, ``2 (loglik - llnull)``."""
        return 2.0 * (self.loglik - self.llnull(data, weights))

    def llr_pvalue(self, data, weights=None) -> jax.Array:
        """``P(chi2_df > llr)``, ``df`` = rank of ``X`` minus its constant column (statsmodels:
        ``df_model``, taken from the data)."""
        return lr_pvalue(self, self._design(data), weights)

    def prsquared(self, data, weights=None) -> jax.Array:
        """McFadden's pseudo R-squared ``1 - loglik / llnull``."""
        return 1.0 - self.loglik / self.llnull(data, weights)

    def get_margeff(self, data, at: str = "overall", method: str = "dydx", weights=None):
        """Marginal effects of the regressors (not the constant) on the mean, with delta-method
        standard errors (statsmodels' ``get_margeff``; no ``dummy``/``count`` options).

        ``at="overall"``: the average over the rows of ``data`` of ``d mu_i / d x_ij`` (for a
        GLM ``g^{-1}'(eta_i) beta_j``; autodiff), weighted by ``weights`` if given;
        ``at="mean"``: the effect at the mean row. ``method``: ``"dydx"``, ``"eyex"`` (``dmu/dx
        * x / mu``), ``"dyex"`` (``* x``) or ``"eydx"`` (``/ mu``), per row before averaging.
        Covariance ``J C J'`` with ``J`` the Jacobian of the effects in the parameters
        (autodiff). Returns a :class:`~jaxmle._postestimation.MarginalEffects`
        (``margeff``, ``margeff_se``, ``summary_frame()``).

        Examples:
            >>> import jax.numpy as jnp, jaxmle as jm
            >>> X = jnp.stack([jnp.ones(6), jnp.arange(6.0)], axis=1)
            >>> data = {"X": X, "y": jnp.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0])}
            >>> me = jm.fit(jm.Logit(), data).get_margeff(data)
            >>> round(float(me.margeff[0]), 4), round(float(me.margeff_se[0]), 4)
            (0.1586, 0.0222)
        """
        return average_margeff(self, self._design(data), at, method, weights)

    # -- presentation ----------------------------------------------------------------------------
    def summary(
        self,
        level: float = 0.95,
        names=None,
        data=None,
        weights=None,
        yname: str | None = None,
        method: str = "transformed",
    ) -> str:
        """A statsmodels-like table for one fit (index a batch first).

        The header gives the fit's statistics; for a regression also the dependent variable
        (``yname``, else the name of a pandas ``data["y"]``, else ``"y"``), the residual and model
        degrees of freedom (statsmodels' meanings) and, when the fitted ``data`` (and
        ``weights``) are passed, the null log-likelihood, McFadden's pseudo R-squared and the
        likelihood-ratio p-value (a null fit is run; GLM-type regressions).

        The table gives ``coef``, the standard error (:attr:`bse`), the test against 0 (``t``
        with ``df_resid`` degrees of freedom for OLS, else ``z``) and the interval at ``level``
        (``method`` as in :meth:`conf_int`; by default ``"transformed"``: Wald for unconstrained
        parameters, the mapped Wald interval of the unconstrained transform for constrained ones,
        so ``sigma``'s interval stays positive). Constrained parameters (``Positive`` scales,
        ``Interval`` probabilities, ...) get no test against 0: 0 is outside or on the boundary of
        their space, where the Wald statistic has no normal distribution, and a log-scale test of
        ``log sigma = 0`` (``sigma = 1``) would depend on the units. A note under the table says
        which intervals were printed.
        """
        if self.batch_shape:
            raise TypeError(
                f"summary() needs a single fit; this result holds {self.batch_shape} fits: "
                "use res[i].summary()"
            )
        if yname is None and self.formula is not None:
            yname = self.formula.formula.split("~")[0].strip()
        data = None if data is None else self._design(data)
        return _format_summary(self, level, names, data, weights, yname, method)

    def to_dataframe(self, level: float = 0.95, method: str = "transformed"):
        """One row per fit (or per batch element) with estimates, standard errors, intervals,
        p-values and diagnostics.

        Columns: ``name`` and ``se(name)`` (:attr:`bse`) for every parameter, then
        ``ci_lower(name)``, ``ci_upper(name)`` (:meth:`conf_int` at ``level`` with ``method``)
        and ``pvalue(name)`` (:attr:`pvalues`; NaN for constrained parameters, as in
        :meth:`summary`), then the diagnostics. Needs pandas (optional dependency).
        """
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("FitResult.to_dataframe() needs pandas: pip install pandas") from err

        def flat(tree):
            return np.atleast_2d(np.asarray(flatten_batched(self.model, tree)))

        est, se = flat(self.params), flat(self.bse)
        lower, upper = (flat(bound) for bound in self.conf_int(level, method))
        pvalues = np.where(_tested(self.model), flat(self.pvalues), np.nan)
        columns = {}
        for j, name in enumerate(self.param_names):
            columns[name] = est[:, j]
            columns[f"se({name})"] = se[:, j]
        for j, name in enumerate(self.param_names):
            columns[f"ci_lower({name})"] = lower[:, j]
            columns[f"ci_upper({name})"] = upper[:, j]
            columns[f"pvalue({name})"] = pvalues[:, j]
        for key in ("loglik", "nobs", "n_iter", "grad_norm"):
            columns[key] = np.atleast_1d(np.asarray(getattr(self, key)))
        columns["aic"] = np.atleast_1d(np.asarray(self.aic))
        columns["converged"] = np.atleast_1d(np.asarray(self.converged))
        columns["status"] = np.atleast_1d(self.status_name)
        return pd.DataFrame(columns)


class Messages:
    """Why datasets of a batch were refused: ``messages[i]`` is the message of dataset ``i``, or
    ``""`` when it was fitted. Hashable (a static part of a :class:`FitResult`).

    Examples:
        >>> m = Messages({1: "dataset 1: data contains NaN"}, 3)
        >>> [m[i] for i in range(3)], len(m), m.refused
        (['', 'dataset 1: data contains NaN', ''], 3, (1,))
    """

    def __init__(self, refused: dict[int, str], size: int):
        self._refused = dict(sorted(refused.items()))
        self._size = int(size)

    @property
    def refused(self) -> tuple[int, ...]:
        """Indices of the refused datasets."""
        return tuple(self._refused)

    def __getitem__(self, index: int) -> str:
        index = range(self._size)[index]  # negative indices and bounds, as for a list
        return self._refused.get(index, "")

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(self._size))

    def __bool__(self) -> bool:
        return bool(self._refused)

    def __eq__(self, other) -> bool:
        return isinstance(other, Messages) and (other._refused, other._size) == (
            self._refused,
            self._size,
        )

    def __hash__(self) -> int:
        return hash((tuple(self._refused.items()), self._size))

    def __repr__(self) -> str:
        return f"Messages({len(self._refused)} of {self._size} refused)"


def _batched(fn, u):
    """Apply a function of one flat vector over any leading batch axes."""
    lead = u.shape[:-1]
    flat = jnp.reshape(u, (-1, u.shape[-1]))
    out = jax.vmap(fn)(flat)
    return jnp.reshape(out, lead + out.shape[1:])


def flatten_batched(model, tree):
    """Flatten a params-shaped dict with any leading batch axes to ``(..., n_params)``."""
    parts = []
    for key, spec in model.specs.items():
        leaf = jnp.asarray(tree[key])
        lead = leaf.shape[: leaf.ndim - len(spec.shape)]
        parts.append(jnp.reshape(leaf, lead + (spec.size,)))
    return jnp.concatenate(parts, axis=-1)


def _tested(model) -> np.ndarray:
    """Booleans over the flattened parameters: True where a test against 0 makes sense (Real)."""
    return np.concatenate(
        [np.full(spec.size, isinstance(spec, Real)) for spec in model.specs.values()]
    )


def _yname(res: FitResult, data, yname) -> str:
    if yname is not None:
        return str(yname)
    name = getattr(data.get("y"), "name", None) if isinstance(data, dict) else None
    if isinstance(name, str) and name:
        return name
    return str(getattr(base_model(res.model), "response_name", None) or "y")


def _header(res: FitResult, data, weights, yname) -> tuple[list, list]:
    """The (label, value) pairs of the summary's left and right header columns."""
    regression = n_beta(res.model) is not None
    left = [("Dep. variable:", _yname(res, data, yname))] if regression else []
    left += [
        ("Model:", res.model.name[:23]),
        ("No. observations:", _fmt_count(float(res.nobs))),
    ]
    right = [
        ("Log-likelihood:", f"{float(res.loglik):.6g}"),
        ("AIC:", f"{float(res.aic):.6g}"),
        ("BIC:", f"{float(res.bic):.6g}"),
    ]
    df_model = res.df_model
    if regression:
        if data is not None:
            df_model = df_model_of_data(res, data)
        left.append(("Df residuals:", _fmt_count(float(res.df_resid))))
    left += [
        ("Df model:", str(df_model)),
        ("Covariance:", res.cov_type + (" (OLS)" if is_ols(res) else "")),
        ("Status:", Status(int(res.status)).label),
    ]
    if data is not None and is_glm(res):
        llnull = float(res.llnull(data, weights))
        llr = 2.0 * (float(res.loglik) - llnull)
        pvalue = float(jax.scipy.special.gammaincc(df_model / 2.0, llr / 2.0))
        right += [
            ("LL-Null:", f"{llnull:.6g}"),
            ("Pseudo R-squ.:", f"{1.0 - float(res.loglik) / llnull:.4g}"),
            ("LLR p-value:", f"{pvalue:.4g}"),
        ]
    right += [
        ("Iterations:", str(int(res.n_iter))),
        ("Max |grad|:", f"{float(res.grad_norm):.3g}"),
    ]
    if res.is_map:
        left.append(("Penalised:", "yes (MAP)"))
        right.append(("Penalised LL:", f"{float(res.penalized_loglik):.6g}"))
    rows = max(len(left), len(right))
    left += [("", "")] * (rows - len(left))
    right += [("", "")] * (rows - len(right))
    return left, right


def _format_summary(res: FitResult, level: float, names, data, weights, yname, method) -> str:
    names = list(names) if names is not None else list(res.param_names)
    if len(names) != len(res.param_names):
        raise ValueError(f"names: expected {len(res.param_names)} names, got {len(names)}")
    est = np.asarray(res.model.flatten(res.params))
    se = np.asarray(res.model.flatten(res.bse))
    tested = _tested(res.model)
    stat = np.asarray(res.model.flatten(res.tvalues))
    p = np.asarray(res.model.flatten(res.pvalues))
    lower, upper = res.conf_int(level, method)
    lo, hi = np.asarray(res.model.flatten(lower)), np.asarray(res.model.flatten(upper))
    tail = (1.0 - level) / 2.0
    width = 78
    status = Status(int(res.status))
    ols = is_ols(res)
    left, right = _header(res, data, weights, yname)
    lines = [f"{'jaxmle maximum-likelihood fit':^{width}}", "=" * width]
    lines += [f"{a:<18}{b:<24}{c:<16}{d:>20}" for (a, b), (c, d) in zip(left, right, strict=True)]
    lines.append("=" * width)
    name_width = max(12, *(len(n) + 1 for n in names))
    letter = "t" if ols else "z"
    header = (
        f"{'':<{name_width}}{'coef':>11}{'std err':>11}{letter:>9}{f'P>|{letter}|':>9}"
        f"{f'[{tail:.3g}':>12}{f'{1 - tail:.3g}]':>12}"
    )
    lines += [header, "-" * max(width, len(header))]
    for j, name in enumerate(names):
        test = f"{stat[j]:>9.3f}{p[j]:>9.3f}" if tested[j] else f"{'':>9}{'':>9}"
        lines.append(
            f"{name:<{name_width}}{_num(est[j]):>11}{_num(se[j]):>11}{test}"
            f"{_num(lo[j]):>12}{_num(hi[j]):>12}"
        )
    lines.append("=" * max(width, len(header)))
    lines += _notes(res, names, tested, method, ols)
    if status != Status.CONVERGED:
        lines.append(f"Warning: the fit did not converge ({status.label}); do not trust these.")
    return "\n".join(lines)


def _notes(res: FitResult, names, tested, method: str, ols: bool) -> list[str]:
    """What the table's intervals and tests are, wrapped to the table's width."""
    kind = f"Student t, {_fmt_count(float(res.df_resid))} df" if ols else "normal"
    text = f"Wald intervals ({kind})"
    constrained = [n for n, t in zip(names, tested, strict=True) if not t]
    if constrained:
        shown = ", ".join(constrained[:4]) + (", ..." if len(constrained) > 4 else "")
        how = (
            "Wald on the unconstrained scale, mapped back (respects the constraint)"
            if method == "transformed"
            else "Wald"
        )
        text += f"; {shown}: {how}; no test against 0"
    text += "."
    if ols:
        text += " Std. errors of the coefficients use s^2 = RSS / (n - p), as OLS."
    return textwrap.wrap(text, 78, initial_indent="Notes: ", subsequent_indent=" " * 7)


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:.4f}" if 1e-3 <= abs(x) < 1e5 or x == 0 else f"{x:.3e}"


def _fmt_count(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.6g}"
