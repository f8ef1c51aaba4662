"""Vectorised gamma sampling: Marsaglia & Tsang (2000) with rounds of proposals.

:func:`jax.random.gamma` runs a scalar rejection loop per entry, which is slow on CPU. Here every
entry proposes at once (one normal and one uniform per entry, all drawn together), and only the
entries still rejected propose again: they are gathered into a buffer that proposes in further
rounds of a :func:`jax.lax.while_loop` until every entry has been accepted. The draws are exact
(no cap on the number of rounds); each round accepts more than 95% of the entries still pending
(Marsaglia & Tsang's efficiency is 0.951 at shape 1 and rises to 1), so a few rounds finish even
large arrays. On a 2-core CPU 10,000 x 50 draws take 12-18 ms against 110-330 ms for
:func:`jax.random.gamma` (jitted, warm; vmapped over 10,000 keys of 50 draws: 18-50 ms against
85-310 ms), depending on the shape.

**Shape a >= 1** (Marsaglia & Tsang 2000, "A simple method for generating gamma variables").
With ``d = a - 1/3`` and ``c = 1 / sqrt(9 d)``, propose ``v = (1 + c z)^3`` from ``z ~ N(0, 1)``
and accept ``x = d v`` when ``v > 0`` and, with ``u ~ U(0, 1)``, either the squeeze
``u < 1 - 0.0331 z^4`` or the exact test ``log u < z^2 / 2 + d (1 - v + log v)`` holds.

**Shape a < 1**, by the boost ``Gamma(a) = Gamma(a + 1) U^(1/a)``, computed in logs:
``log x = log x_{a+1} - E / a`` with ``E = -log U ~ Exp(1)``. :func:`log_gamma` returns that log,
which stays finite however small ``a`` is; :func:`gamma` returns ``x_{a+1} exp(-E / a)``, which
is 0 only when the exact draw lies below (about) the smallest positive float ``tiny``. That
happens with probability about ``tiny^a / Gamma(a + 1)`` (``tiny`` = 2.2e-308 in float64,
1.2e-38 in float32): below 1e-15 in float64 for ``a >= 0.05`` but 1e-3 at ``a = 0.01`` (float32:
1e-2 at ``a = 0.05``). Ratios of gammas (:func:`beta_from_gammas`, the Dirichlet and Student t
samplers) are therefore formed from :func:`log_gamma`.

A shape that is NaN or not positive gives NaN (and no rounds); an infinite one gives ``inf``.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> from jaxmle.distributions._sampling import gamma
    >>> x = jax.jit(gamma, static_argnums=2)(jax.random.key(0), jnp.array([0.5, 3.0]), (20_000, 2))
    >>> x.shape, [round(float(m), 1) for m in x.mean(axis=0)]   # means 0.5 and 3.0
    ((20000, 2), [0.5, 3.0])
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["beta_from_gammas", "gamma", "log_gamma"]

_SQUEEZE = 0.0331


def _propose(key, d, c):
    """One Marsaglia-Tsang proposal per entry: ``(x, accepted)``.

    One call draws both uniforms; ``z = sqrt(2) erfinv(2 u1 - 1)`` is the normal (``u1 = 0``, of
    probability 2^-52 in float64, gives ``z = -inf``, which is rejected).
    """
    u1, u = jax.random.uniform(key, (2, *d.shape), d.dtype)
    z = jnp.sqrt(2.0) * jax.lax.erf_inv(2.0 * u1 - 1.0)
    t = 1.0 + c * z
    positive = t > 0
    v = t * t * t
    z2 = z * z
    squeeze = u < 1.0 - _SQUEEZE * z2 * z2
    exact = jnp.log(u) < 0.5 * z2 + d * (1.0 - v + 3.0 * jnp.log(jnp.where(positive, t, 1.0)))
    return d * v, positive & (squeeze | exact)


def _gamma_at_least_one(key, a):
    """Gamma(``a``) draws for a flat array of shapes ``a >= 1``, exact.

    Every entry proposes once; then the entries still pending (fewer than 5%) are gathered into a
    buffer, which proposes in rounds until every entry in it is accepted, and is scattered back.
    More pending entries than the buffer holds (rare) take further buffers. Entries with any
    other ``a`` (NaN included) are NaN and never propose again.
    """
    (n,) = a.shape
    valid = a >= 1
    d = jnp.where(valid, a, 1.0) - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    x, accepted = _propose(jax.random.fold_in(key, 0), d, c)
    size = min(n, n // 16 + 4)  # rejection rate <= 5%: usually holds every pending entry

    def round_(state):
        i, x, pending, d, c = state
        proposal, accepted = _propose(jax.random.fold_in(key, i), d, c)
        return i + 1, jnp.where(pending & accepted, proposal, x), pending & ~accepted, d, c

    def buffer(state):
        i, x, pending = state
        index = jnp.nonzero(pending, size=size, fill_value=n)[0]  # n pads: dropped below
        safe = jnp.minimum(index, n - 1)
        inner = (i, x[safe], index < n, d[safe], c[safe])
        i, drawn = jax.lax.while_loop(lambda s: jnp.any(s[2]), round_, inner)[:2]
        return i, x.at[index].set(drawn, mode="drop"), pending.at[index].set(False, mode="drop")

    state = (jnp.uint32(1), jnp.where(valid, x, jnp.nan), valid & ~accepted)
    return jax.lax.while_loop(lambda s: jnp.any(s[2]), buffer, state)[1]


@functools.partial(jax.jit, static_argnums=(2, 3))
def _draws(key, a, shape, dtype):
    """``(x, log_boost)`` for ``a`` broadcast to ``shape``: Gamma(``a``) draws for ``a >= 1``
    and Gamma(``a + 1``) draws for ``a < 1`` (``x``), and ``log_boost = -E / a`` (0 where no
    boost is needed), so that ``x exp(log_boost) ~ Gamma(a)``. Jitted (``shape``, a tuple or
    ``None``, and ``dtype`` static), so eager calls reuse the compiled program."""
    dtype = jnp.result_type(a, float) if dtype is None else dtype
    a = jnp.asarray(a, dtype)
    a = jnp.broadcast_to(a, a.shape if shape is None else shape)
    boost = a < 1
    loop_key, boost_key = jax.random.split(key)
    x = _gamma_at_least_one(loop_key, jnp.where(boost, a + 1.0, a).ravel()).reshape(a.shape)
    exponential = jax.random.exponential(boost_key, a.shape, dtype)
    x = jnp.where(a > 0, x, jnp.nan)
    return x, jnp.where(boost, -exponential / a, 0.0)


def _static(shape):
    return None if shape is None else tuple(shape)


def log_gamma(key: jax.Array, a, shape: tuple[int, ...] | None = None, dtype=None) -> jax.Array:
    """Logs of Gamma(``a``, rate 1) draws, exact and finite even for tiny shapes.

    Args:
        key: a PRNG key.
        a: shape parameter(s), broadcastable to ``shape``.
        shape: output shape; default ``a``'s shape.
        dtype: floating dtype of the draws; default ``a``'s floating dtype (or JAX's default float).

    Returns:
        ``log x`` with ``x ~ Gamma(a, 1)`` independently per entry, shape ``shape``.
    """
    x, log_boost = _draws(key, a, _static(shape), dtype)
    return jnp.log(x) + log_boost


def gamma(key: jax.Array, a, shape: tuple[int, ...] | None = None, dtype=None) -> jax.Array:
    """Gamma(``a``, rate 1) draws, a drop-in for :func:`jax.random.gamma` (see module docstring).

    Args:
        key: a PRNG key.
        a: shape parameter(s), broadcastable to ``shape``.
        shape: output shape; default ``a``'s shape.
        dtype: floating dtype of the draws; default ``a``'s floating dtype (or JAX's default float).
    """
    x, log_boost = _draws(key, a, _static(shape), dtype)
    return x * jnp.exp(log_boost)  # log_boost is 0 where no boost is needed


def beta_from_gammas(key: jax.Array, a, b, shape: tuple[int, ...] | None = None) -> jax.Array:
    """Beta(``a``, ``b``) draws as ``X / (X + Y)``, ``X ~ Gamma(a)``, ``Y ~ Gamma(b)``, in logs:
    ``exp(log X - logaddexp(log X, log Y))`` (exact however small ``a`` and ``b`` are)."""
    shape = jnp.broadcast_shapes(jnp.shape(a), jnp.shape(b)) if shape is None else tuple(shape)
    dtype = jnp.result_type(a, b, float)
    shapes = jnp.stack([jnp.broadcast_to(jnp.asarray(p, dtype), shape) for p in (a, b)])
    log_x, log_y = log_gamma(key, shapes)
    return jnp.exp(log_x - jnp.logaddexp(log_x, log_y))
