"""jaxmle's special functions against scipy.special: digamma and trigamma to about one ulp, and
the twice-differentiable incomplete gamma functions (finite differences)."""

import jax
import numpy as np
import pytest
import scipy.special as sc

from jaxmle.distributions._special import digamma, gammainc, gammaincc, trigamma

# Tiny to huge arguments, integers and half-integers (negative binomial and Student-t arguments),
# and the neighbourhood of digamma's root near 1.4616.
POLYGAMMA_ARGS = np.concatenate(
    [
        np.logspace(-8, 9, 4001),
        np.arange(1, 500) * 1.0,
        np.arange(1, 500) + 0.5,
        1.4616 + np.linspace(-1e-3, 1e-3, 101),
    ]
)


def test_digamma_and_trigamma_match_scipy_to_an_ulp():
    x = jax.numpy.asarray(POLYGAMMA_ARGS)
    psi, ref_psi = np.asarray(jax.jit(digamma)(x)), sc.digamma(POLYGAMMA_ARGS)
    # Relative error, measured in units of max(1, |psi|) (absolute near the root).
    assert np.max(np.abs(psi - ref_psi) / np.maximum(1.0, np.abs(ref_psi))) < 4e-15
    psi1, ref_psi1 = np.asarray(jax.jit(trigamma)(x)), sc.polygamma(1, POLYGAMMA_ARGS)
    assert np.max(np.abs(psi1 / ref_psi1 - 1.0)) < 4e-15
    # The derivative relation, through autodiff of the series.
    np.testing.assert_allclose(jax.vmap(jax.grad(digamma))(x[::50]), psi1[::50], rtol=1e-12)


@pytest.mark.parametrize("a, x", [(0.7, 0.3), (1.5, 2.0), (4.0, 1.0), (12.0, 15.0)])
def test_derivatives_match_scipy_finite_differences(a, x):
    h = 1e-4
    # Reference first and second derivatives by Richardson-free central differences of scipy.
    d_a = (sc.gammainc(a + h, x) - sc.gammainc(a - h, x)) / (2 * h)
    d_aa = (sc.gammainc(a + h, x) - 2 * sc.gammainc(a, x) + sc.gammainc(a - h, x)) / h**2
    d_xx = (sc.gammainc(a, x + h) - 2 * sc.gammainc(a, x) + sc.gammainc(a, x - h)) / h**2
    d_ax = (
        sc.gammainc(a + h, x + h)
        - sc.gammainc(a + h, x - h)
        - sc.gammainc(a - h, x + h)
        + sc.gammainc(a - h, x - h)
    ) / (4 * h**2)
    grad = jax.grad(gammainc, argnums=(0, 1))(a, x)
    hess = jax.hessian(gammainc, argnums=(0, 1))(a, x)
    np.testing.assert_allclose(grad[0], d_a, rtol=1e-6)
    np.testing.assert_allclose(hess[0][0], d_aa, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(hess[0][1], d_ax, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(hess[1][1], d_xx, rtol=1e-4, atol=1e-7)
    upper = jax.hessian(gammaincc, argnums=(0, 1))(a, x)
    np.testing.assert_allclose(upper[0][0], -hess[0][0], rtol=1e-12)
    np.testing.assert_allclose(gammaincc(a, x), sc.gammaincc(a, x), rtol=1e-12)
