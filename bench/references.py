"""Reference (competitor) side of the jaxmle benchmark suite.

This module holds everything jaxmle is compared against, so a runner can call
both sides in the same process on the same data:

* data generators for four models (logistic regression, Weibull, Student-t,
  NB2 negative binomial regression), each returning a batch of ``B``
  independent datasets as float64 numpy arrays, and a logistic batch with
  some separated datasets for Firth's penalised logistic regression;
* per-dataset loops over the established CPU fitters (statsmodels, scipy), and
  a hand-written numpy/scipy Firth logistic loop (statsmodels has no Firth);
* the hand-written ``jax.jit(jax.vmap(newton))`` logistic fitter a JAX user
  would write themselves;
* ``glmax`` (a JAX GLM library doing vmapped IRLS), when it is installed;
* a timing helper that separates the first (compiling) call from warm calls.

All fitters return numpy arrays so their estimates can be compared directly
with jaxmle's. The JAX fitters accept numpy or JAX arrays; pass JAX arrays
(``jax.device_put``) to keep the host-to-device copy out of timings.
"""

import time
from collections.abc import Callable
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import statsmodels.api as sm
from jax import lax
from scipy import special, stats
from scipy.linalg import lapack

jax.config.update("jax_enable_x64", True)

try:
    import glmax  # note: importing glmax itself turns jax_enable_x64 on globally
except ImportError:  # optional competitor: ``pip install glmax``
    glmax = None

#: True Weibull parameters used by :func:`make_weibull_data`.
WEIBULL_TRUE = {"shape": 1.5, "scale": 2.0}
#: True Student-t parameters used by :func:`make_student_t_data`.
STUDENT_T_TRUE = {"df": 5.0, "loc": 1.0, "scale": 2.0}
#: True NB2 overdispersion (var = mu + alpha * mu**2) used by :func:`make_nb2_data`.
NB2_TRUE_ALPHA = 0.5


def _rng(key_or_seed) -> np.random.Generator:
    """Numpy generator from an int seed or a JAX PRNG key (typed or raw uint32)."""
    if isinstance(key_or_seed, jax.Array):
        if jnp.issubdtype(key_or_seed.dtype, jax.dtypes.prng_key):
            key_or_seed = jax.random.key_data(key_or_seed)
        return np.random.default_rng(np.asarray(key_or_seed, dtype=np.uint32))
    return np.random.default_rng(key_or_seed)


def _design(rng: np.random.Generator, n_datasets: int, n_obs: int, n_features: int) -> np.ndarray:
    """Design matrices (B, n, p): an intercept column, then standard-normal features."""
    features = rng.standard_normal((n_datasets, n_obs, n_features - 1))
    return np.concatenate([np.ones((n_datasets, n_obs, 1)), features], axis=-1)


# --------------------------------------------------------------------------- data


def logistic_true_beta(n_features: int) -> np.ndarray:
    """True coefficients of :func:`make_logistic_data`: intercept 0.25, slopes in [-0.5, 0.5]."""
    return np.concatenate([[0.25], np.linspace(0.5, -0.5, n_features - 1)])


def nb2_true_beta(n_features: int) -> np.ndarray:
    """True coefficients of :func:`make_nb2_data`: intercept 1.0, slopes in [-0.3, 0.3]."""
    return np.concatenate([[1.0], np.linspace(0.3, -0.3, n_features - 1)])


def make_logistic_data(key_or_seed, n_datasets: int, n_obs: int = 500, n_features: int = 5):
    """Batch of logistic-regression datasets.

    ``n_features`` counts the intercept column, so ``X`` has ``n_features - 1``
    standard-normal covariates. Coefficients are :func:`logistic_true_beta`; they
    are moderate (|eta| is rarely above 3), so at the default ``n_obs`` no dataset
    is separated and the MLE exists.

    Returns ``X`` (B, n, p) float64 and ``y`` (B, n) float64 in {0, 1}.
    """
    rng = _rng(key_or_seed)
    X = _design(rng, n_datasets, n_obs, n_features)
    prob = 1.0 / (1.0 + np.exp(-(X @ logistic_true_beta(n_features))))
    y = (rng.random((n_datasets, n_obs)) < prob).astype(np.float64)
    return X, y


def firth_separated(n_datasets: int, every: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the separated datasets of :func:`make_firth_data`: ``(complete, quasi)``.

    Every ``every``-th dataset from index 7 is completely separated, every ``every``-th from
    index 17 quasi-completely separated: 2 in every ``every`` datasets, one of each kind among
    the first 18 (so a reference loop over the first few hundred fits both kinds).
    """
    return np.arange(7, n_datasets, every), np.arange(17, n_datasets, every)


def make_firth_data(key_or_seed, n_datasets: int, n_obs: int = 100, n_features: int = 5):
    """Batch of logistic datasets for Firth's penalised logistic regression.

    :func:`make_logistic_data` at ``n_obs`` (100 by default), except the datasets of
    :func:`firth_separated`, whose MLE does not exist: in the completely separated ones
    ``y = 1{x_1 > 0}``; in the quasi-completely separated ones, the same with ``x_1 = 0`` on
    the first two observations, one with ``y = 0`` and one with ``y = 1``. Firth's estimate is
    finite on all of them.

    Returns ``X`` (B, n, p) float64 and ``y`` (B, n) float64 in {0, 1}.
    """
    X, y = make_logistic_data(key_or_seed, n_datasets, n_obs, n_features)
    complete, quasi = firth_separated(n_datasets)
    X[quasi, :2, 1] = 0.0
    y[complete] = (X[complete, :, 1] > 0).astype(np.float64)
    y[quasi] = (X[quasi, :, 1] > 0).astype(np.float64)
    y[quasi, 1] = 1.0
    return X, y


def make_weibull_data(key_or_seed, n_datasets: int, n_obs: int = 200) -> np.ndarray:
    """Batch of Weibull samples (B, n) with parameters :data:`WEIBULL_TRUE` (location 0)."""
    rng = _rng(key_or_seed)
    shape, scale = WEIBULL_TRUE["shape"], WEIBULL_TRUE["scale"]
    return scale * rng.weibull(shape, size=(n_datasets, n_obs))


def make_student_t_data(key_or_seed, n_datasets: int, n_obs: int = 200) -> np.ndarray:
    """Batch of location-scale Student-t samples (B, n) with parameters :data:`STUDENT_T_TRUE`."""
    rng = _rng(key_or_seed)
    t = STUDENT_T_TRUE
    return t["loc"] + t["scale"] * rng.standard_t(t["df"], size=(n_datasets, n_obs))


def make_nb2_data(key_or_seed, n_datasets: int, n_obs: int = 500, n_features: int = 3):
    """Batch of NB2 negative-binomial regression datasets.

    Log link, ``mu = exp(X @ nb2_true_beta(p))``, variance ``mu + alpha * mu**2``
    with ``alpha = NB2_TRUE_ALPHA``. Counts are drawn as a gamma-Poisson mixture:
    ``lam ~ Gamma(shape=1/alpha, scale=alpha*mu)``, ``y ~ Poisson(lam)``.
    ``n_features`` counts the intercept column.

    Returns ``X`` (B, n, p) float64 and ``y`` (B, n) float64 counts.
    """
    rng = _rng(key_or_seed)
    X = _design(rng, n_datasets, n_obs, n_features)
    mu = np.exp(X @ nb2_true_beta(n_features))
    lam = rng.gamma(shape=1.0 / NB2_TRUE_ALPHA, scale=NB2_TRUE_ALPHA * mu)
    return X, rng.poisson(lam).astype(np.float64)


# ------------------------------------------------------------ statsmodels / scipy


def statsmodels_logit_loop(X: np.ndarray, y: np.ndarray):
    """Fit ``sm.Logit(y[i], X[i])`` (Newton, statsmodels defaults) for every dataset.

    Returns ``params`` (B, p), ``bse`` (B, p) and ``llf`` (B,).
    """
    fits = [sm.Logit(y_i, X_i).fit(disp=0) for X_i, y_i in zip(X, y, strict=True)]
    return (
        np.stack([f.params for f in fits]),
        np.stack([f.bse for f in fits]),
        np.array([f.llf for f in fits]),
    )


def statsmodels_nb2_loop(X: np.ndarray, y: np.ndarray):
    """Fit ``sm.NegativeBinomial(..., loglike_method='nb2')`` by Newton for every dataset.

    Returns ``params`` (B, p + 1) with ``alpha`` last, ``bse`` (B, p + 1) and
    ``llf`` (B,).
    """
    fits = [
        sm.NegativeBinomial(y_i, X_i, loglike_method="nb2").fit(
            disp=0, method="newton", maxiter=100
        )
        for X_i, y_i in zip(X, y, strict=True)
    ]
    return (
        np.stack([f.params for f in fits]),
        np.stack([f.bse for f in fits]),
        np.array([f.llf for f in fits]),
    )


def scipy_weibull_loop(x: np.ndarray):
    """Fit ``scipy.stats.weibull_min.fit(x[i], floc=0)`` for every dataset.

    Returns ``shape`` (B,), ``scale`` (B,) and the log-likelihood at the fit (B,).
    """
    fits = np.array([stats.weibull_min.fit(x_i, floc=0) for x_i in x])
    shape, scale = fits[:, 0], fits[:, 2]
    loglik = stats.weibull_min.logpdf(x, shape[:, None], 0.0, scale[:, None]).sum(axis=1)
    return shape, scale, loglik


def scipy_t_loop(x: np.ndarray):
    """Fit ``scipy.stats.t.fit(x[i])`` (generic Nelder-Mead MLE) for every dataset.

    Returns ``df``, ``loc``, ``scale`` and the log-likelihood at the fit, each (B,).
    Nelder-Mead stops at roughly 1e-4 relative precision, so compare jaxmle
    against it through the log-likelihood rather than the parameters.
    """
    fits = np.array([stats.t.fit(x_i) for x_i in x])
    df, loc, scale = fits.T
    loglik = stats.t.logpdf(x, df[:, None], loc[:, None], scale[:, None]).sum(axis=1)
    return df, loc, scale, loglik


def _firth_logit_state(X: np.ndarray, y: np.ndarray, beta: np.ndarray):
    """``(mu, w, L, penalised loglik)`` of a logistic model at ``beta``; ``L L' = X'WX``."""
    eta = X @ beta
    mu = special.expit(eta)
    w = mu * (1.0 - mu)
    chol, info = lapack.dpotrf(X.T @ (X * w[:, None]), lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"X'WX is not positive definite (dpotrf info {info})")
    loglik = np.sum(y * eta - np.logaddexp(0.0, eta))
    return mu, w, chol, loglik + np.sum(np.log(np.diag(chol)))  # + log det(X'WX) / 2


def _cho_inverse(chol: np.ndarray) -> np.ndarray:
    """``(L L')^{-1}`` from the lower Cholesky factor ``L`` (LAPACK ``dpotri``), symmetric."""
    inv, info = lapack.dpotri(chol, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri info {info}")
    return np.tril(inv) + np.tril(inv, -1).T


def firth_logit(
    X: np.ndarray,
    y: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 100,
    max_step: float = 5.0,
    max_halvings: int = 30,
):
    """Firth's penalised logistic regression of one dataset by the modified-score Newton iteration.

    Maximises ``l(beta) + log det(X'WX) / 2`` (``W = diag(mu (1 - mu))``) the way ``logistf``
    does (Heinze & Schemper 2002): from ``beta = 0``, the step is ``(X'WX)^{-1} U*`` with the
    modified score ``U* = X'(y - mu + h (1/2 - mu))``, ``h`` the diagonal of the hat matrix
    ``W^{1/2} X (X'WX)^{-1} X' W^{1/2}``; a step longer than ``max_step`` (in its largest entry)
    is shortened to it, and halved while the penalised log-likelihood falls. Converged when the
    largest entry of the full step is below ``tol``.

    Written for speed at small ``p``: one Cholesky factorisation and one inverse of ``X'WX`` per
    iterate, through scipy's LAPACK wrappers (``scipy.linalg.lapack.dpotrf`` / ``dpotri``,
    what ``cho_factor`` / ``cho_solve`` call, without their per-call checks: 2 us each instead
    of 5-20 us at p = 5), then ``h_i = w_i x_i' (X'WX)^{-1} x_i`` as one (n, p) product;
    everything else is vectorised numpy. (``scipy.linalg.solve_triangular`` with the n columns
    of ``W^{1/2} X'`` took 4 ms a call with scipy 1.17 here, 100x this.)

    Returns ``beta`` (p,), its standard errors ``sqrt(diag((X'WX)^{-1}))`` at the estimate (what
    ``logistf`` and ``brglm2`` report), the log-likelihood and the penalised log-likelihood
    there, the number of iterations and whether it converged.
    """
    beta = np.zeros(X.shape[1])
    mu, w, chol, pll = _firth_logit_state(X, y, beta)
    converged, n_iter = False, 0
    while not converged and n_iter < max_iter:
        n_iter += 1
        inv = _cho_inverse(chol)
        h = w * np.sum((X @ inv) * X, axis=1)
        step = inv @ (X.T @ (y - mu + h * (0.5 - mu)))
        full = np.max(np.abs(step))
        if full > max_step:
            step *= max_step / full
        for _ in range(max_halvings):
            state = _firth_logit_state(X, y, beta + step)
            if state[3] >= pll - 1e-9 * (1.0 + abs(pll)):  # no decrease beyond rounding
                break
            step *= 0.5
        beta = beta + step
        mu, w, chol, pll = state
        converged = full < tol
    se = np.sqrt(np.diag(_cho_inverse(chol)))
    return beta, se, pll - np.sum(np.log(np.diag(chol))), pll, n_iter, converged


def scipy_firth_logit_loop(X: np.ndarray, y: np.ndarray):
    """:func:`firth_logit` for every dataset: the hand loop a numpy/scipy user writes.

    Returns ``params`` (B, p), ``bse`` (B, p), ``loglik`` (B,), ``penalized_loglik`` (B,),
    ``n_iter`` (B,) and ``converged`` (B,) as numpy arrays.
    """
    fits = [firth_logit(X_i, y_i) for X_i, y_i in zip(X, y, strict=True)]
    params, bse, loglik, pll, n_iter, converged = zip(*fits, strict=True)
    return (
        np.stack(params),
        np.stack(bse),
        np.array(loglik),
        np.array(pll),
        np.array(n_iter),
        np.array(converged),
    )


def numpy_scipy_study_loop(n_rep: int, n_obs: int, seed: int = 0):
    """The hand-written simulation study a scipy user writes: for each replicate, numpy draws
    an Exponential(rate 2) and a Gamma(shape 2, rate 3) sample of ``n_obs`` and fits them with
    ``scipy.stats.expon.fit(x, floc=0)`` and ``scipy.stats.gamma.fit(x, floc=0)``.

    Returns the fitted exponential rates and gamma (shape, rate) pairs, each (n_rep,)."""
    rng = np.random.default_rng(seed)
    rates, shapes, gamma_rates = [], [], []
    for _ in range(n_rep):
        x = rng.exponential(1 / 2.0, n_obs)
        rates.append(1.0 / stats.expon.fit(x, floc=0)[1])
        g = rng.gamma(2.0, 1 / 3.0, n_obs)
        shape, _, scale = stats.gamma.fit(g, floc=0)
        shapes.append(shape)
        gamma_rates.append(1.0 / scale)
    return np.array(rates), np.array(shapes), np.array(gamma_rates)


# ---------------------------------------------------------------- JAX competitors


def _logit_nll(beta, X, y):
    """Logistic negative log-likelihood of one dataset."""
    eta = X @ beta
    return jnp.sum(jnp.logaddexp(0.0, eta) - y * eta)


def _newton_logit(X, y, n_iter):
    """``n_iter`` full Newton steps from zero, with ``jax.grad`` and ``jax.hessian``."""

    def step(_, beta):
        grad = jax.grad(_logit_nll)(beta, X, y)
        hess = jax.hessian(_logit_nll)(beta, X, y)
        return beta - jnp.linalg.solve(hess, grad)

    return lax.fori_loop(0, n_iter, step, jnp.zeros(X.shape[-1], X.dtype))


@partial(jax.jit, static_argnames="n_iter")
def _batched_newton_logit(X, y, n_iter):
    return jax.vmap(partial(_newton_logit, n_iter=n_iter))(X, y)


def handwritten_vmap_newton_logit(X, y, n_iter: int = 6) -> np.ndarray:
    """The vmapped Newton a JAX user would write: ``jax.jit(jax.vmap(newton))``.

    Each dataset runs a fixed ``n_iter`` undamped Newton steps from zero (no
    line search, no convergence test). On :func:`make_logistic_data` at its
    defaults 5 steps already reach machine precision; the default 6 keeps one
    step of margin. Raise ``n_iter`` for larger coefficients or smaller ``n``.

    Returns ``params`` (B, p).
    """
    return np.asarray(_batched_newton_logit(X, y, n_iter))


if glmax is None:
    glmax_logit = None  # glmax is not installed, so the runner skips this competitor.
else:

    @lru_cache
    def _glmax_batched_logit(tol: float, max_iter: int) -> Callable:
        family = glmax.Binomial()
        fitter = glmax.IRLSFitter(tol=tol, max_iter=max_iter)

        def fit_one(X_i, y_i):
            return glmax.fit(family, X_i, y_i, fitter=fitter).params.beta

        return jax.jit(jax.vmap(fit_one))

    def glmax_logit(X, y, tol: float = 1e-8, max_iter: int = 100) -> np.ndarray:
        """All B logistic regressions with ``glmax.fit`` under ``jax.jit(jax.vmap(...))``.

        Uses ``glmax.Binomial()`` (logit link) and ``glmax.IRLSFitter`` with its
        default Cholesky solve. glmax stops IRLS when the change in the negative
        log-likelihood falls below ``tol``; its default ``1e-3`` leaves about 1e-6
        error in the coefficients, so the benchmark tightens it to ``1e-8``. Under
        ``vmap`` the IRLS ``while_loop`` runs until every dataset has converged.

        Returns ``params`` (B, p).
        """
        return np.asarray(_glmax_batched_logit(tol, max_iter)(X, y))


# ------------------------------------------------------------------------- timing


def time_call(fn: Callable, *args, repeats: int = 3) -> dict:
    """Wall-clock ``fn(*args)``, blocking on JAX outputs.

    ``cold`` is the first call (including tracing and compilation when ``fn``
    has not yet run at these shapes in this process); ``warm`` is the best of
    the ``repeats`` calls that follow (``None`` when ``repeats=0``, e.g. for a
    slow CPU loop with nothing to compile). Both are in seconds.
    """
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return {"cold": times[0], "warm": min(times[1:], default=None)}
