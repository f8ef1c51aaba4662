"""The `jaxmle demo`: a small simulation study fitted as one batch.

A custom Poisson regression (log link), written as a per-observation log-likelihood, is fitted to
``n_datasets`` simulated datasets at once. The demo prints the compile and warm timings, how many
fits converged, the empirical coverage of the 95% Wald intervals (should be close to 95%), and the
summary table of the first fit.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np

from ._batch import fit_many
from ._constraints import Real
from ._model import Model

TRUE_BETA = np.array([0.5, -0.3, 0.2])


def poisson_regression() -> Model:
    """``y_i ~ Poisson(exp(x_i' beta))`` as a custom model."""

    def logpdf(params, data):
        return jss.poisson.logpmf(data["y"], jnp.exp(data["X"] @ params["beta"]))

    return Model(logpdf, params={"beta": Real(np.zeros(3))}, name="custom Poisson GLM")


def simulate(key, n_datasets: int, n_obs: int):
    """Design matrices with an intercept and two normal covariates, Poisson responses."""
    kx, ky = jax.random.split(key)
    covariates = jax.random.normal(kx, (n_datasets, n_obs, 2))
    X = jnp.concatenate([jnp.ones((n_datasets, n_obs, 1)), covariates], axis=-1)
    y = jax.random.poisson(ky, jnp.exp(X @ TRUE_BETA)).astype(X.dtype)
    return {"X": X, "y": y}


def run(n_datasets: int = 5000, n_obs: int = 200, seed: int = 0) -> None:
    """Simulate, fit every dataset, and report."""
    model = poisson_regression()
    print(
        f"jaxmle demo: {n_datasets} Poisson regressions (n={n_obs}, 3 coefficients), "
        f"{jax.default_backend()} backend, dtype {jnp.result_type(float)}"
    )
    data = simulate(jax.random.key(seed), n_datasets, n_obs)

    started = time.perf_counter()
    res = fit_many(model, data)
    jax.block_until_ready(res.params)
    first = time.perf_counter() - started

    data = simulate(jax.random.key(seed + 1), n_datasets, n_obs)
    started = time.perf_counter()
    res = fit_many(model, data)
    jax.block_until_ready(res.params)
    warm = time.perf_counter() - started

    converged = int(np.sum(np.asarray(res.converged)))
    lower, upper = res.conf_int(0.95)
    covered = (np.asarray(lower["beta"]) <= TRUE_BETA) & (TRUE_BETA <= np.asarray(upper["beta"]))
    print(f"first call (compile + fit): {first:.2f} s")
    print(f"warm call:                  {warm:.2f} s  ({1e6 * warm / n_datasets:.0f} us per fit)")
    print(
        f"converged:                  {converged} / {n_datasets}  "
        f"(median {np.median(np.asarray(res.n_iter)):.0f} Newton iterations)"
    )
    coverage = ", ".join(f"{100 * c:.1f}%" for c in covered.mean(axis=0))
    print(f"95% Wald interval coverage of the true coefficients: {coverage}")
    print(
        f"mean estimate {np.round(np.asarray(res.params['beta']).mean(0), 4)} (truth {TRUE_BETA})\n"
    )
    print("First dataset:")
    print(res[0].summary(names=["const", "x1", "x2"]))
