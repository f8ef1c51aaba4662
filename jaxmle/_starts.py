"""Multiple starting points for one fit: drawing them, and keeping the best solution.

Likelihoods with several local maxima (mixtures, latent-variable models, some nonlinear
regressions) are fitted from several starts, all run as one vmapped batch. The first start is the
data-driven one; the others are drawn on the unconstrained scale around it,

    u_j = u_0 + sqrt(nobs / H_jj(u_0)) z_j,     z_j ~ N(0, 1),

where ``H`` is the Hessian of the negative log-likelihood at the start: ``nobs / H_jj`` is the
variance one observation's worth of information leaves in coordinate ``j``, so the spread follows
the data's own scale in every coordinate (the data's standard deviation for a location, about
0.7 for a log-scale), whatever the constraint. Where ``H_jj`` is not positive and finite the
spread is 1. A user's ``init_sampler(key, data) -> dict`` replaces the draw.

The best start is the converged one with the highest log-likelihood; ``n_best`` counts the
starts whose log-likelihood is within ``sqrt(eps) (1 + |loglik|)`` of it (relabelled mixture
components reach the same log-likelihood and count as the same optimum).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._status import Status

__all__ = ["best_start", "draw_starts"]


def draw_starts(model, problem, u0: jax.Array, key, n_starts: int, init_sampler=None) -> jax.Array:
    """``(n_starts, k)`` unconstrained starting points; the first is ``u0``."""
    keys = jax.random.split(key, n_starts - 1)
    if init_sampler is not None:
        start = model.from_unconstrained(u0)

        def one(k):
            drawn = dict(start)
            drawn.update(
                {name: jnp.asarray(v) for name, v in init_sampler(k, problem.data).items()}
            )
            return model.to_unconstrained(drawn).astype(u0.dtype)

        others = jax.vmap(one)(keys)
    else:
        hessian = model.objective_derivatives(u0, problem)[2]
        curvature = jnp.diagonal(hessian) / problem.nobs
        usable = jnp.isfinite(curvature) & (curvature > 0)
        spread = jnp.where(usable, 1.0 / jnp.sqrt(jnp.where(usable, curvature, 1.0)), 1.0)
        noise = jax.vmap(lambda k: jax.random.normal(k, u0.shape, u0.dtype))(keys)
        others = u0 + spread * noise
    return jnp.concatenate([u0[None], others])


def best_start(solutions):
    """``(solution, n_best)``: the best of a batch of solutions (leading axis: the starts).

    Converged solutions rank by their objective ``f`` (lowest first); when none converged, the
    lowest finite ``f`` of all is kept with its own status.
    """
    converged = solutions.status == Status.CONVERGED
    f = jnp.where(jnp.isfinite(solutions.f), solutions.f, jnp.inf)
    ranked = jnp.where(converged, f, jnp.inf)
    best = jnp.where(jnp.any(converged), jnp.argmin(ranked), jnp.argmin(f))
    solution = jax.tree_util.tree_map(lambda leaf: leaf[best], solutions)
    tol = jnp.sqrt(jnp.finfo(f.dtype).eps) * (1.0 + jnp.abs(solution.f))
    n_best = jnp.sum(converged & (jnp.abs(f - solution.f) <= tol)).astype(jnp.int32)
    return solution, n_best
