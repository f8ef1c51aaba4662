"""Twice-differentiable incomplete gamma functions against scipy.special (finite differences)."""

import jax
import numpy as np
import pytest
import scipy.special as sc

from jaxmle.distributions._special import gammainc, gammaincc


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
