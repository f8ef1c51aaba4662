"""Consistency checks for the NIST StRD nonlinear regression fixtures (tests/nist_strd.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nist_strd import DATA_DIR, MEAN_FUNCTIONS, PROBLEMS, load

jax.config.update("jax_enable_x64", True)


def test_problem_registry_matches_data_files():
    assert len(PROBLEMS) == len(set(PROBLEMS)) == 27
    assert set(PROBLEMS) == {path.stem for path in DATA_DIR.glob("*.dat")}
    assert set(MEAN_FUNCTIONS) == set(PROBLEMS)


@pytest.mark.parametrize("name", PROBLEMS)
def test_parsed_header_is_consistent(name):
    problem = load(name)
    p = problem.n_params
    n = problem.y.shape[0]
    for vector in (problem.start1, problem.start2, problem.certified, problem.certified_sd):
        assert vector.shape == (p,)
        assert vector.dtype == np.float64
    assert problem.x.shape == ((n, 2) if name == "Nelson" else (n,))
    assert problem.difficulty in ("Lower", "Average", "Higher")
    # The residual standard deviation is sqrt(RSS / (n - p)) for every problem.
    np.testing.assert_allclose(problem.residual_sd**2 * (n - p), problem.rss, rtol=1e-9)
    if name == "Rat43":
        # NIST erratum: Rat43.dat declares 9 degrees of freedom although n - p = 15 - 4 = 11;
        # its residual SD (checked above) and certified SDs correspond to 11.
        assert (problem.dof, n - p) == (9, 11)
    else:
        assert problem.dof == n - p


@pytest.mark.parametrize("name", PROBLEMS)
def test_certified_rss_is_reproduced(name):
    problem = load(name)
    fitted = MEAN_FUNCTIONS[name](jnp.asarray(problem.certified), problem.x)
    assert fitted.dtype == jnp.float64
    assert fitted.shape == problem.y.shape
    rss = float(jnp.sum((problem.y - fitted) ** 2))
    if name == "Lanczos1":
        # The certified RSS (1.43e-25) is that of the exact optimum of noise-free data;
        # the certified parameters are printed to 11 significant digits, and that rounding
        # alone leaves residuals of order 1e-11, i.e. an RSS of about 4e-21 at the printed
        # values. A relative comparison is meaningless there, so compare absolutely.
        assert abs(rss - problem.rss) < 1e-20
    else:
        np.testing.assert_allclose(rss, problem.rss, rtol=1e-6)


@pytest.mark.parametrize("name", PROBLEMS)
def test_certified_sd_from_jacobian(name):
    """sqrt(diag(s^2 (J'J)^-1)) at the certified point, with s^2 = RSS / (n - p), gives the
    certified standard deviations: checks the mean functions and their jax derivatives."""
    problem = load(name)
    jacobian = np.asarray(
        jax.jacfwd(MEAN_FUNCTIONS[name])(jnp.asarray(problem.certified), problem.x)
    )
    s2 = problem.rss / (problem.y.shape[0] - problem.n_params)
    sd = np.sqrt(s2 * np.diag(np.linalg.inv(jacobian.T @ jacobian)))
    np.testing.assert_allclose(sd, problem.certified_sd, rtol=1e-6)
