"""NIST StRD nonlinear regressions fitted as Gaussian maximum likelihood through ``jm.Model``.

Each problem y = f(b, x) + e, e ~ N(0, sigma^2), is fitted with parameters ``b`` (Real) and
``sigma`` (Positive), started at NIST's Start 1 and Start 2 with default solver settings. The MLE
of ``b`` is the least-squares estimate, so it must reach NIST's certified values; we ask for 6
significant digits (max relative error 5e-7), as in the issue. The starting ``sigma`` is the root
mean square residual at the starting ``b``, what a user would choose.

jaxmle reaches 52 of the 54 (problem, start) pairs, all but ``KNOWN_MISSES``. Reference:
scipy.optimize.least_squares with default settings reaches 35 of them.
"""

import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import pytest
from nist_strd import MEAN_FUNCTIONS, PROBLEMS, load

import jaxmle as jm

SIGNIFICANT = 5e-7  # 6 significant digits


def fit_problem(name):
    """Fit both NIST starts of one problem; return per-start (status, max relative error)."""
    problem = load(name)
    mean = MEAN_FUNCTIONS[name]
    model = jm.Model(
        lambda p, d: jss.norm.logpdf(d["y"], mean(p["b"], d["x"]), p["sigma"]),
        params={"b": jm.Real(problem.start1), "sigma": jm.Positive(1.0)},
        name=name,
    )
    data = {"x": problem.x, "y": problem.y}
    out = {}
    for label, start in (("start1", problem.start1), ("start2", problem.start2)):
        residual = problem.y - np.asarray(mean(jnp.asarray(start), jnp.asarray(problem.x)))
        init = {"b": start, "sigma": np.sqrt(np.mean(residual**2))}
        res = jm.fit(model, data, init=init)
        error = np.max(np.abs(np.asarray(res.params["b"]) - problem.certified) / problem.certified)
        out[label] = (res, float(abs(error)))
    return problem, out


#: The two (problem, start) pairs not reached: both from NIST's first, far starting values, where
#: the fit runs out of steps (``MAX_STEPS``) instead of claiming convergence.
KNOWN_MISSES = {("MGH09", "start1"), ("MGH10", "start1")}


@pytest.mark.parametrize("name", PROBLEMS)
def test_nist_certified_values_reached(name):
    # One test per problem, so that pytest-xdist spreads the 27 compilations over its workers.
    _, fits = fit_problem(name)
    for label, (res, error) in fits.items():
        report = f"{name}/{label}: status={res.status_name}, max rel error={error:.2e}"
        # Never a wrong answer reported as converged, a known miss included.
        assert not bool(res.converged) or error < SIGNIFICANT, report
        if (name, label) not in KNOWN_MISSES:
            assert bool(res.converged) and error < SIGNIFICANT, report
