"""Reference (competitor) side of the jaxmle benchmark suite.

This module holds everything jaxmle is compared against, so a runner can call
both sides in the same process on the same data:

* data generators for four models (logistic regression, Weibull, Student-t,
  NB2 negative binomial regression), each returning a batch of ``B``
  independent datasets as float64 numpy arrays;
* per-dataset loops over the established CPU fitters (statsmodels, scipy);
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
from scipy import stats

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
