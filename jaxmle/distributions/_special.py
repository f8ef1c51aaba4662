"""Special functions beyond ``jax.scipy.special``: a fast digamma and trigamma, and regularized
incomplete gamma functions that can be differentiated twice in the shape.

**Digamma and trigamma** for ``x > 0``, by the recurrences ``psi(x) = psi(x + 10) - sum_{k<10}
1/(x + k)`` and ``psi_1(x) = psi_1(x + 10) + sum_{k<10} 1/(x + k)^2``, then the asymptotic
expansions at ``z = x + 10`` (``B_2k`` the Bernoulli numbers),

    psi(z) ~ log z - 1/(2z) - sum_k B_2k / (2k z^2k),
    psi_1(z) ~ 1/z + 1/(2 z^2) + sum_k B_2k / z^(2k+1),

truncated after ``B_14``, where the next term is below ``1e-16`` relative at ``z >= 10``: both are
accurate to about one ulp (tested against scipy). They are a dozen vectorised divisions and
products, 3 (digamma) and 20 (trigamma) times cheaper under ``vmap`` than
``jax.scipy.special``'s, whose trigamma (a Hurwitz zeta series) dominated the negative binomial
Hessian.

**Incomplete gamma.**
JAX differentiates ``gammainc(a, x)`` once in ``a`` (through ``lax.igamma_grad_a``) but not twice,
so a Newton fit of a censored or truncated Gamma could not form its Hessian. Here the first
derivatives are exact,

    dP/dx = x^(a-1) e^(-x) / Gamma(a),      dP/da = igamma_grad_a(a, x),

and the second derivative of ``dP/da`` in ``a`` is a central difference of the exact first
derivative with relative step 1e-4 (error about 1e-8 relative, ample for a Hessian); the mixed
derivative is exact: ``d/dx dP/da = dP/dx * (log x - digamma(a))``.

Examples:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> hess = jax.hessian(lambda a: gammaincc(a, 2.0))(1.5)
    >>> bool(jax.numpy.isfinite(hess))
    True
    >>> round(float(trigamma(1.0)), 12)  # pi^2 / 6
    1.644934066848
    >>> round(float(digamma(1.0)), 12)  # -Euler's gamma
    -0.577215664902
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp

__all__ = ["digamma", "gammainc", "gammaincc", "trigamma"]

_RELATIVE_STEP = 1e-4
_SHIFT = 10
#: ``B_2k / (2k)`` for k = 7, 6, ..., 1: the digamma series (Horner order).
_DIGAMMA_SERIES = (
    1.0 / 12.0,
    -691.0 / 32760.0,
    1.0 / 132.0,
    -1.0 / 240.0,
    1.0 / 252.0,
    -1.0 / 120.0,
    1.0 / 12.0,
)
#: Bernoulli numbers B_14, B_12, ..., B_2: the trigamma series (Horner order).
_TRIGAMMA_SERIES = (
    7.0 / 6.0,
    -691.0 / 2730.0,
    5.0 / 66.0,
    -1.0 / 30.0,
    1.0 / 42.0,
    -1.0 / 30.0,
    1.0 / 6.0,
)


def digamma(x):
    """``psi(x) = d log Gamma(x) / dx`` for ``x > 0`` (see the module docstring)."""
    x = jnp.asarray(x)
    head = sum(1.0 / (x + k) for k in range(_SHIFT))
    z = x + _SHIFT
    inv2 = 1.0 / (z * z)
    series = _DIGAMMA_SERIES[0]
    for coefficient in _DIGAMMA_SERIES[1:]:
        series = series * inv2 + coefficient
    return jnp.log(z) - 0.5 / z - inv2 * series - head


def trigamma(x):
    """``psi_1(x)``, the derivative of ``digamma``, for ``x > 0`` (see the module docstring)."""
    x = jnp.asarray(x)
    head = sum(1.0 / (x + k) ** 2 for k in range(_SHIFT))
    inv = 1.0 / (x + _SHIFT)
    inv2 = inv * inv
    series = _TRIGAMMA_SERIES[0]
    for coefficient in _TRIGAMMA_SERIES[1:]:
        series = series * inv2 + coefficient
    return head + inv + 0.5 * inv2 + inv * inv2 * series


def _density(a, x):
    """Gamma(a, 1) density, the x-derivative of ``P(a, x)``."""
    return jnp.exp(jsp.xlogy(a - 1.0, x) - x - jsp.gammaln(a))


@jax.custom_jvp
def _gammainc_grad_a(a, x):
    """``dP(a, x)/da``."""
    return jax.lax.igamma_grad_a(a, x)


@_gammainc_grad_a.defjvp
def _gammainc_grad_a_jvp(primals, tangents):
    a, x = primals
    da, dx = tangents
    h = _RELATIVE_STEP * a
    d_aa = (jax.lax.igamma_grad_a(a + h, x) - jax.lax.igamma_grad_a(a - h, x)) / (2.0 * h)
    d_ax = _density(a, x) * (jnp.log(x) - jsp.digamma(a))
    return _gammainc_grad_a(a, x), d_aa * da + d_ax * dx


@jax.custom_jvp
def gammainc(a, x):
    """Regularized lower incomplete gamma ``P(a, x)``."""
    return jsp.gammainc(a, x)


@gammainc.defjvp
def _gammainc_jvp(primals, tangents):
    a, x = primals
    da, dx = tangents
    return gammainc(a, x), _gammainc_grad_a(a, x) * da + _density(a, x) * dx


@jax.custom_jvp
def gammaincc(a, x):
    """Regularized upper incomplete gamma ``Q(a, x) = 1 - P(a, x)``, accurate where small."""
    return jsp.gammaincc(a, x)


@gammaincc.defjvp
def _gammaincc_jvp(primals, tangents):
    a, x = primals
    da, dx = tangents
    return gammaincc(a, x), -(_gammainc_grad_a(a, x) * da + _density(a, x) * dx)
