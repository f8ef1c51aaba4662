"""Zero-inflated count regressions: `ZeroInflatedPoisson` and `ZeroInflatedNegativeBinomial`.

A zero-inflated count model mixes a point mass at zero (a "structural" zero, with probability
``pi_i``) with a count distribution ``f(. | mu_i)``:

    P(y_i = 0) = pi_i + (1 - pi_i) f(0 | mu_i),    P(y_i = k) = (1 - pi_i) f(k | mu_i),  k >= 1,

with ``logit(pi_i) = s_i = z_i' beta_infl`` (``z_i`` a row of ``data["X_infl"]``; a column of ones
without it) and ``log mu_i = eta_i = x_i' beta + offset_i``. ``f`` is Poisson, or NB2 with
``Var = mu + alpha mu^2``. This is statsmodels' ``ZeroInflatedPoisson`` and
``ZeroInflatedNegativeBinomialP(p=2)`` with ``inflation="logit"``, parameters in its order:
``beta_infl``, ``beta`` (and ``alpha``).

Each log-likelihood term is computed in log space, never forming ``pi`` or ``f(0)`` themselves:

    l_i = logaddexp(log_sigmoid(s_i), log_sigmoid(-s_i) + log f(0 | mu_i))   (y_i = 0),
    l_i = log_sigmoid(-s_i) + log f(y_i | mu_i)                               (y_i > 0).

It depends on the parameters only through ``(s_i, eta_i, t)`` with ``t = log alpha``, so with the
per-observation derivatives ``l_s, l_e, l_t, l_ss, ...`` (automatic differentiation of that scalar
function, vectorised over ``n``) the Newton derivatives of ``f(u) = -sum_i w_i l_i`` are assembled
from weighted Gram products, as for the GLMs:

    grad = -[Z' (w l_s), X' (w l_e), sum w l_t],
    H = -[[Z' D_ss Z, Z' D_se X, Z' (w l_st)], [., X' D_ee X, X' (w l_et)], [., ., sum w l_tt]],

with ``D_ab = diag(w l_ab)``.

Starting values come from a few EM iterations (Lambert 1992), each M-step one IRLS step: the
posterior probability that a zero is structural, ``tau_i = pi_i / (pi_i + (1 - pi_i) f(0 | mu_i))``
(0 for positive counts), weights the count regression by ``1 - tau_i`` and is the response of the
logistic inflation regression; the NB2 ``alpha`` follows the moment equation at the weighted fit.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> model = jm.ZeroInflatedPoisson(names=["const", "x"], infl_names=["const"])
    >>> model.param_names
    ('inflate_const', 'const', 'x')
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from .._constraints import Positive, Real
from .._linalg import weighted_gram
from .._model import Model, flat_names
from .._problem import Problem
from .._status import Status
from ._base import RegressionModel, design, response_error
from ._families import NEGATIVE_BINOMIAL, resolve_family
from ._glm import weighted_normal_equations
from ._links import resolve_link

__all__ = ["ZeroInflatedNegativeBinomial", "ZeroInflatedPoisson"]

_LOG = resolve_link("log")
_POISSON = resolve_family("poisson")
_SIZED = ("specs", "param_names", "n_params", "n_free")

#: ``alpha * max(mu)`` below which a ZINB fit whose score for ``alpha`` at 0 is not positive is the
#: zero-inflated Poisson model (``BOUNDARY``). Looser than the NB2 regression's 1e-6: Newton's
#: steps towards ``alpha = 0`` often stop (singular Hessian) at ``alpha * max(mu)`` of a few 1e-6.
ALPHA_AT_ZERO = 1e-4
#: Largest fitted inflation probability counted as none at all (see ``diagnose``).
PI_AT_ZERO = 1e-8
#: EM iterations of the data-driven start (each one IRLS step per part).
EM_STEPS = 10
#: Bound on ``|eta|`` and ``|s|`` while the start iterates (keeps ``exp`` finite).
START_BOUND = 30.0


def _width(data, key: str, name: str) -> int | None:
    """Columns of the 2-D design ``data[key]`` (``None`` when absent), checked to be 2-D."""
    if key not in data:
        return None
    shape = np.shape(data[key])
    if len(shape) != 2:
        letter = "q" if key == "X_infl" else "p"
        raise ValueError(f"{name}: data[{key!r}] must be 2-D (n, {letter}), got shape {shape}")
    return int(shape[1])


class ZeroInflatedModel(RegressionModel):
    """The engine of the zero-inflated regressions: a logit inflation and a log-link count part.

    Data ``{"X": (n, p), "y": (n,), optional "X_infl": (n, q), "offset": (n,)}``. The widths
    ``p`` and ``q`` are taken from the first data (``q = 1`` without ``"X_infl"``: a constant)
    unless fixed at construction; a sized instance only accepts designs of those widths.

    Args:
        family: the count family (``"poisson"`` or the NB2 family).
        n_features: number of columns ``p`` of ``X``.
        n_infl_features: number of columns ``q`` of ``X_infl``.
        names: column names of ``X`` (fixes ``p``).
        infl_names: column names of ``X_infl`` (fixes ``q``); shown as ``inflate_<name>``.
    """

    data_keys = ("X_infl", "offset")
    matrix_keys = ("X_infl",)

    def __init__(
        self, family, *, n_features=None, n_infl_features=None, names=None, infl_names=None
    ):
        self.family = family
        self.extra_name = "alpha" if family.extra == "alpha" else None
        self.name = type(self).__name__
        self.feature_names = None if names is None else tuple(str(n) for n in names)
        self.infl_names = None if infl_names is None else tuple(str(n) for n in infl_names)
        n_features = self._resolve(n_features, self.feature_names, "n_features", "names")
        n_infl = self._resolve(n_infl_features, self.infl_names, "n_infl_features", "infl_names")
        self.n_features = self.n_infl_features = None
        self.fixed = (n_features, n_infl)
        self.fixed_width = n_features is not None or n_infl is not None
        if n_features is not None and n_infl is not None:
            self.size_for(n_features, n_infl)

    def _resolve(self, width, names, width_arg, names_arg):
        if names is None:
            return None if width is None else int(width)
        if width is not None and int(width) != len(names):
            raise ValueError(
                f"{self.name}: {width_arg}={width} disagrees with {len(names)} {names_arg}"
            )
        return len(names)

    def __getattr__(self, attr):
        if attr in _SIZED:
            raise AttributeError(
                f"{self.__dict__.get('name', type(self).__name__)} is not sized yet: the numbers "
                "of columns of X and X_infl are taken from the first data it sees (or pass "
                "n_features= and n_infl_features=)"
            )
        raise AttributeError(attr)

    def __repr__(self) -> str:
        return f"{self.name}(n_features={self.n_features}, n_infl_features={self.n_infl_features})"

    # -- sizing ------------------------------------------------------------------------------------
    def param_specs(self, p: int, q: int = 1) -> dict:
        specs = {"beta_infl": Real(np.zeros(q)), "beta": Real(np.zeros(p))}
        if self.extra_name is not None:
            specs[self.extra_name] = Positive(1.0)
        return specs

    def size_for(self, p: int, q: int | None = None) -> None:
        """Fix the widths of ``X`` and ``X_infl`` (``q=None``: no ``X_infl``, a constant)."""
        width_q = 1 if q is None else q
        want_p = self.n_features if self.n_features is not None else self.fixed[0]
        want_q = self.n_infl_features if self.n_infl_features is not None else self.fixed[1]
        advice = "; use a new model (or model.bind(data)) for another design"
        if want_p is not None and p != want_p:
            raise ValueError(
                f"{self.name}: this instance was sized for data['X'] with {want_p} columns, got "
                f"{p}{advice}"
            )
        if want_q is not None and width_q != want_q:
            got = "no 'X_infl' (a constant: 1 column)" if q is None else f"{q}"
            raise ValueError(
                f"{self.name}: this instance was sized for data['X_infl'] with {want_q} "
                f"columns, got {got}{advice}"
            )
        if self.n_features is not None:
            return
        if p < 1:
            raise ValueError(f"{self.name}: data['X'] needs at least one column")
        if width_q < 1:
            raise ValueError(f"{self.name}: data['X_infl'] needs at least one column")
        Model.__init__(self, None, self.param_specs(p, width_q), name=self.name)
        self.n_features, self.n_infl_features = p, width_q
        infl = self.infl_names
        if infl is None and q is None and self.feature_names is not None:
            infl = ("const",)  # statsmodels' name for the default constant-only inflation
        named = infl is not None
        infl = [f"inflate_{c}" for c in infl] if named else flat_names("beta_infl", (width_q,))
        count = flat_names("beta", (p,)) if self.feature_names is None else self.feature_names
        self.param_names = (*infl, *count, *self.param_names[width_q + p :])

    def bind(self, data) -> ZeroInflatedModel:
        """A model sized for ``data["X"]`` and ``data.get("X_infl")``, named after their columns
        when they are DataFrames (as :meth:`RegressionModel.bind
        <jaxmle.regression._base.RegressionModel.bind>`)."""
        self.check_keys(data)
        X, Z = data["X"], data.get("X_infl")
        p, q = int(np.shape(X)[-1]), _width(data, "X_infl", self.name)
        columns = getattr(X, "columns", None)
        infl_columns = getattr(Z, "columns", None)
        sized = (self.n_features, self.n_infl_features)
        new_names = columns is not None or infl_columns is not None
        if self.fixed_width or (not new_names and sized in ((None, None), (p, q or 1))):
            self.size_for(p, q)
            return self
        names = self.feature_names if columns is None else tuple(str(c) for c in columns)
        infl = self.infl_names if infl_columns is None else tuple(str(c) for c in infl_columns)
        cache = self.__dict__.setdefault("_bound", {})
        if (p, q, names, infl) not in cache:
            bound = copy.copy(self)
            skip = (*_SIZED, "_bound")
            bound.__dict__ = {k: v for k, v in self.__dict__.items() if k not in skip}
            bound.n_features = bound.n_infl_features = None
            bound.feature_names, bound.infl_names = names, infl
            bound.size_for(p, q)
            cache[(p, q, names, infl)] = bound
        return cache[(p, q, names, infl)]

    def check_shapes(self, data) -> None:
        n = self.check_rows(data)
        q = _width(data, "X_infl", self.name)
        if q is not None and jnp.shape(data["X_infl"])[0] != n:
            raise ValueError(
                f"{self.name}: data['X_infl'] must have shape ({n}, q) to match the {n} rows of "
                f"X, got {jnp.shape(data['X_infl'])}"
            )
        self.size_for(jnp.shape(data["X"])[1], q)

    # -- the likelihood ----------------------------------------------------------------------------
    def _local(self, y, s, eta, lam):
        """``l(y | s, eta, lam)`` per observation (see the module docstring)."""
        log_keep = jax.nn.log_sigmoid(-s)
        count = self.family.loglik(y, eta, _LOG, lam, 1.0)
        at_zero = self.family.loglik(jnp.zeros_like(y), eta, _LOG, lam, 1.0)
        zero = jnp.logaddexp(jax.nn.log_sigmoid(s), log_keep + at_zero)
        return jnp.where(y == 0, zero, log_keep + count)

    def diagnose(self, params, problem: Problem, status):
        """``BOUNDARY`` when the data show no zero inflation: the MLE is then ``pi = 0``.

        The score of the inflation probability at ``pi = 0`` is
        ``sum_i w_i (1{y_i = 0} / f(0 | mu_i) - 1)``; where every fitted ``pi_i`` is below
        ``PI_AT_ZERO`` and that score is not positive at the fitted count model, the likelihood
        grows as ``beta_infl`` runs to minus infinity, so the finite estimate a solver stops at
        (with a huge standard error) is not a maximum: the model reduces to its count part.
        """
        data = problem.data
        X, offset = design(data)
        y = data["y"]
        lam = None if self.extra_name is None else jnp.log(params[self.extra_name])
        eta = X @ params["beta"] + offset
        log_f0 = self.family.loglik(jnp.zeros_like(y), eta, _LOG, lam, 1.0)
        score = problem.total(jnp.where(y == 0, jnp.exp(-log_f0), 0.0) - 1.0)
        log_pi = jax.nn.log_sigmoid(self._infl_design(data, X) @ params["beta_infl"])
        vanished = jnp.max(jnp.where(problem.included, log_pi, -jnp.inf)) < jnp.log(PI_AT_ZERO)
        return jnp.where(vanished & (score <= 0.0), Status.BOUNDARY, status)

    def _infl_design(self, data, X):
        Z = data.get("X_infl")
        return jnp.ones((X.shape[0], 1), X.dtype) if Z is None else Z

    def logpdf(self, params: dict, data):
        X, offset = design(data)
        Z = self._infl_design(data, X)
        lam = None if self.extra_name is None else jnp.log(params[self.extra_name])
        eta = X @ params["beta"] + offset
        return self._local(data["y"], Z @ params["beta_infl"], eta, lam)

    def objective_derivatives(self, u, problem: Problem):
        data = problem.data
        X, offset = design(data)
        Z = self._infl_design(data, X)
        y = data["y"]
        q, p = self.n_infl_features, self.n_features
        has_t = self.extra_name is not None
        s = Z @ u[:q]
        eta = X @ u[q : q + p] + offset
        local_args = [s, eta] + ([jnp.broadcast_to(u[q + p], s.shape)] if has_t else [])
        z = jnp.stack(local_args, axis=1)

        def local(zi, yi):
            return self._local(yi, zi[0], zi[1], zi[2] if has_t else None)

        value = jax.vmap(local)(z, y)
        grad = jax.vmap(jax.grad(local))(z, y)
        hess = jax.vmap(jax.hessian(local))(z, y)
        weigh = problem.weigh
        f = -jnp.sum(weigh(value))
        g = [-(Z.T @ weigh(grad[:, 0])), -(X.T @ weigh(grad[:, 1]))]
        ss = weighted_gram(Z, -weigh(hess[:, 0, 0]))
        se = Z.T @ (-weigh(hess[:, 0, 1])[:, None] * X)
        ee = weighted_gram(X, -weigh(hess[:, 1, 1]))
        rows = [[ss, se], [se.T, ee]]
        if has_t:
            g.append(-jnp.sum(weigh(grad[:, 2]))[None])
            st = -(Z.T @ weigh(hess[:, 0, 2]))[:, None]
            et = -(X.T @ weigh(hess[:, 1, 2]))[:, None]
            tt = -jnp.sum(weigh(hess[:, 2, 2]))[None, None]
            rows = [[ss, se, st], [se.T, ee, et], [st.T, et.T, tt]]
        return f, jnp.concatenate(g), jnp.block(rows)

    # -- simulation --------------------------------------------------------------------------------
    can_simulate = True

    def simulate(self, key, params, data):
        """A dataset with the designs of ``data`` and a response drawn from the model at
        ``params``: a structural zero with probability ``pi_i = sigmoid(z_i' beta_infl)``, else a
        count drawn at mean ``mu_i = exp(x_i' beta + offset_i)`` (and ``alpha``). ``"X"``,
        ``"X_infl"`` and ``"offset"`` are copied through and ``"y"`` (floating, the dtype of
        ``X beta``) replaced. Jittable and vmappable over keys and parameters.

        Examples:
            >>> import jax, jax.numpy as jnp, jaxmle as jm
            >>> X = jnp.stack([jnp.ones(4), jnp.arange(4.0)], axis=1)
            >>> params = {"beta_infl": jnp.array([0.0]), "beta": jnp.array([0.5, 0.2])}
            >>> data = jm.ZeroInflatedPoisson().simulate(jax.random.key(0), params, {"X": X})
            >>> sorted(data), data["y"].shape
            (['X', 'y'], (4,))
        """
        X, offset = design(data)
        Z = self._infl_design(data, X)
        mu = jnp.exp(X @ params["beta"] + offset)
        lam = None
        if self.extra_name is not None:
            lam = jnp.log(jnp.asarray(params[self.extra_name], mu.dtype))
        infl_key, count_key = jax.random.split(key)
        counts = self.family.sample(count_key, mu, lam, None)
        structural = jax.random.bernoulli(infl_key, jax.nn.sigmoid(Z @ params["beta_infl"]))
        return {**data, "y": jnp.where(structural, 0.0, counts).astype(mu.dtype)}

    # -- start and support -------------------------------------------------------------------------
    def init_params(self, problem: Problem) -> dict:
        data = problem.data
        self.size_for(int(jnp.shape(data["X"])[-1]), _width(data, "X_infl", self.name))
        return self.start(data, problem.effective_weights)

    def start(self, data, weights):
        """EM iterations from "half of the zeros are structural" (see the module docstring)."""
        X, offset = design(data)
        Z = self._infl_design(data, X)
        y = data["y"]
        w = weights
        is_zero = (y == 0).astype(X.dtype)
        nb = self.extra_name is not None

        def mean_of(x, v):
            return jnp.sum(v * x) / jnp.maximum(jnp.sum(v), jnp.finfo(X.dtype).tiny)

        tau = 0.5 * is_zero
        keep = w * (1.0 - tau)
        mu0 = 0.5 * (y + mean_of(y, keep))  # the GLMs' mean-based start, on the count part
        eta = jnp.log(jnp.maximum(mu0, 1e-3))
        share = jnp.clip(mean_of(tau, w), 0.01, 0.99)
        s = jnp.full(y.shape, jnp.log(share) - jnp.log1p(-share), X.dtype)
        beta_infl = jnp.zeros(Z.shape[1], X.dtype)
        beta = jnp.zeros(X.shape[1], X.dtype)
        alpha = jnp.asarray(0.0, X.dtype)

        def em_step(_, state):
            tau, eta, s, beta_infl, beta, alpha = state
            # M-step, count part: one IRLS step of the (1 - tau)-weighted Poisson / NB2 fit.
            mu = jnp.exp(eta)
            working = eta - offset + (y - mu) / mu
            beta = weighted_normal_equations(X, working, w * (1.0 - tau) * mu / (1.0 + alpha * mu))
            eta = jnp.clip(X @ beta + offset, -START_BOUND, START_BOUND)
            mu = jnp.exp(eta)
            if nb:
                keep = w * (1.0 - tau)
                excess = jnp.sum(keep * ((y - mu) ** 2 - mu)) / jnp.sum(keep * mu**2)
                alpha = jnp.where(jnp.isfinite(excess), jnp.maximum(excess, 0.05), 1.0)
            # M-step, inflation: one IRLS step of the logistic regression of tau on X_infl.
            pi = jax.nn.sigmoid(s)
            var = pi * (1.0 - pi)
            beta_infl = weighted_normal_equations(Z, s + (tau - pi) / var, w * var)
            s = jnp.clip(Z @ beta_infl, -START_BOUND, START_BOUND)
            # E-step: the posterior probability that a zero is structural.
            lam = jnp.log(alpha) if nb else None
            at_zero = self.family.loglik(jnp.zeros_like(y), eta, _LOG, lam, 1.0)
            tau = is_zero * jax.nn.sigmoid(s - at_zero)  # pi / (pi + (1 - pi) f(0))
            return tau, eta, s, beta_infl, beta, alpha

        state = (tau, eta, s, beta_infl, beta, alpha)
        _, _, _, beta_infl, beta, alpha = jax.lax.fori_loop(0, EM_STEPS, em_step, state)
        out = {"beta_infl": beta_infl, "beta": beta}
        if nb:
            out[self.extra_name] = alpha
        return out

    def valid_response(self, data):
        y = data["y"]
        xp = namespace(y)
        return xp.isfinite(y) & (y >= 0) & (y == xp.round(y))

    def validate_response(self, data) -> None:
        y = np.asarray(data["y"], dtype=float)
        bad = ~self.valid_response({"y": y})
        if np.any(bad):
            raise response_error(self.name, y, bad, _POISSON.support)


class ZeroInflatedPoisson(ZeroInflatedModel):
    """Zero-inflated Poisson regression (statsmodels' ``ZeroInflatedPoisson``, logit inflation).

    ``y_i = 0`` with probability ``pi_i = 1 / (1 + exp(-z_i' beta_infl))``, else ``y_i ~
    Poisson(mu_i)``, ``mu_i = exp(x_i' beta + offset_i)``:

        P(y_i = 0) = pi_i + (1 - pi_i) exp(-mu_i),
        P(y_i = k) = (1 - pi_i) mu_i^k exp(-mu_i) / k!,  k >= 1.

    Data ``{"X": (n, p), "y": (n,), optional "X_infl": (n, q), "offset": (n,)}``; without
    ``"X_infl"`` the inflation probability is one constant (``q = 1``). Parameters ``beta_infl``
    (``(q,)``) and ``beta`` (``(p,)``), in statsmodels' order; include columns of ones for the
    intercepts. Named designs show as ``inflate_<name>`` then the names of ``X``.

    Args:
        n_features: number of columns of ``X`` (else taken from the data).
        n_infl_features: number of columns of ``X_infl`` (else taken from the data; 1 without).
        names: column names of ``X`` for ``summary()``.
        infl_names: column names of ``X_infl`` for ``summary()``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(300), jnp.linspace(-1.0, 1.0, 300)], axis=1)
        >>> model = jm.ZeroInflatedPoisson(names=["const", "x"])
        >>> truth = {"beta_infl": jnp.array([-0.5]), "beta": jnp.array([1.0, 0.5])}
        >>> data = model.simulate(jax.random.key(0), truth, {"X": X})
        >>> res = jm.fit(model, data)
        >>> res.param_names, bool(res.converged)
        (('inflate_const', 'const', 'x'), True)
    """

    def __init__(self, *, n_features=None, n_infl_features=None, names=None, infl_names=None):
        super().__init__(
            _POISSON,
            n_features=n_features,
            n_infl_features=n_infl_features,
            names=names,
            infl_names=infl_names,
        )


class ZeroInflatedNegativeBinomial(ZeroInflatedModel):
    """Zero-inflated NB2 regression (statsmodels' ``ZeroInflatedNegativeBinomialP(p=2)``).

    ``y_i = 0`` with probability ``pi_i = 1 / (1 + exp(-z_i' beta_infl))``, else ``y_i`` is
    negative binomial with mean ``mu_i = exp(x_i' beta + offset_i)`` and ``Var = mu_i + alpha
    mu_i^2``; with ``r = 1 / alpha``,

        P(y_i = 0) = pi_i + (1 - pi_i) (1 + alpha mu_i)^(-r),
        P(y_i = k) = (1 - pi_i) Gamma(k + r) / (Gamma(r) k!) (1 + alpha mu_i)^(-r)
                     (alpha mu_i / (1 + alpha mu_i))^k,  k >= 1.

    Data as :class:`ZeroInflatedPoisson`; parameters ``beta_infl``, ``beta`` and ``alpha``
    (statsmodels' order and ``alpha``).

    Args:
        n_features: number of columns of ``X`` (else taken from the data).
        n_infl_features: number of columns of ``X_infl`` (else taken from the data; 1 without).
        names: column names of ``X`` for ``summary()``.
        infl_names: column names of ``X_infl`` for ``summary()``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> X = jnp.stack([jnp.ones(400), jnp.linspace(-1.0, 1.0, 400)], axis=1)
        >>> model = jm.ZeroInflatedNegativeBinomial()
        >>> truth = {"beta_infl": jnp.array([-1.0]), "beta": jnp.array([1.5, 0.5]), "alpha": 0.5}
        >>> data = model.simulate(jax.random.key(1), truth, {"X": X})
        >>> res = jm.fit(model, data)
        >>> res.param_names, bool(res.converged)
        (('beta_infl[0]', 'beta[0]', 'beta[1]', 'alpha'), True)
    """

    def __init__(self, *, n_features=None, n_infl_features=None, names=None, infl_names=None):
        super().__init__(
            NEGATIVE_BINOMIAL,
            n_features=n_features,
            n_infl_features=n_infl_features,
            names=names,
            infl_names=infl_names,
        )

    def diagnose(self, params, problem: Problem, status):
        """``BOUNDARY`` when the data show no overdispersion: the MLE is then ``alpha = 0``.

        As for :class:`~jaxmle.NegativeBinomialRegression`: the score of ``alpha`` at 0 is
        ``sum_i w_i (1 - tau_i) ((y_i - mu_i)^2 - y_i) / 2``, with ``tau_i`` the posterior
        probability that ``y_i`` is a structural zero under the zero-inflated Poisson limit (0 for
        ``y_i > 0``). Where it is not positive at the fitted parameters, the likelihood grows
        towards the zero-inflated Poisson model, ``alpha`` runs to 0, and ``beta_infl`` and
        ``beta`` are the :class:`ZeroInflatedPoisson` MLE.
        """
        status = super().diagnose(params, problem, status)
        data = problem.data
        X, offset = design(data)
        y = data["y"]
        mu = jnp.exp(X @ params["beta"] + offset)
        s = self._infl_design(data, X) @ params["beta_infl"]
        tau = jnp.where(y == 0, jax.nn.sigmoid(s + mu), 0.0)  # pi / (pi + (1 - pi) exp(-mu))
        score = problem.total((1.0 - tau) * ((y - mu) ** 2 - y))
        poisson = params["alpha"] * jnp.max(jnp.where(problem.included, mu, 0.0)) < ALPHA_AT_ZERO
        return jnp.where(poisson & (score <= 0.0), Status.BOUNDARY, status)
