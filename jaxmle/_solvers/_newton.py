"""Damped Newton with a Levenberg-Marquardt trust region: the default solver.

Each step solves ``(H + lam * D) s = -g`` where ``H`` and ``g`` are the Hessian and gradient of the
negative log-likelihood ``f`` on the unconstrained scale and ``D`` holds the running maximum of
``|diag H|`` (Marquardt scaling, so badly scaled parameters are damped alike). The step is accepted
when the actual decrease ``f(u) - f(u + s)`` is a fair share of the decrease the quadratic model
predicts, ``pred = -(g's + s'Hs/2)``; the damping then shrinks (Nielsen's rule), otherwise it grows
geometrically. Where ``H`` is indefinite, ``lam`` grows until ``H + lam D`` is positive definite, so
far from the optimum the method turns into scaled gradient descent and near it into pure Newton.

Convergence is declared when the Newton decrement ``g' H^{-1} g`` (the expected gain in
log-likelihood, in nats) falls below ``tol * (1 + |f|)``; one last pure Newton step then polishes
the estimate. Where the log-likelihood is only known to a few digits (near-zero-residual
problems), that threshold can be out of reach: if the trial steps collapse below ``xtol`` in
relative size without decreasing ``f`` while the Hessian is positive definite, the fit sits at the
floating-point noise floor of a curved optimum and also counts as converged; without a positive
definite Hessian it is reported as ``STALLED``. A stationary point whose Hessian is singular
(a direction the data do not identify) stops with ``SINGULAR_HESSIAN``.

Examples:
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> res = jm.fit(jm.Model(lambda p, x: -0.5 * (x - p["m"]) ** 2, {"m": jm.Real(0.0)}),
    ...              jnp.array([1.0, 2.0, 3.0]), solver=jm.Newton(tol=1e-12))
    >>> round(float(res.params["m"]), 6)
    2.0
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._driver import Objective, Solution, cholesky_solve, default_tol
from ._status import Status


class NewtonState(NamedTuple):
    u: jax.Array
    f: jax.Array
    g: jax.Array
    hessian: jax.Array
    damping: jax.Array
    growth: jax.Array
    scale: jax.Array
    n_iter: jax.Array
    done: jax.Array
    status: jax.Array


class Newton:
    """Damped (Levenberg-Marquardt) Newton solver.

    Args:
        tol: relative tolerance on the Newton decrement, ``g'H^{-1}g <= tol * (1 + |f|)``.
            Defaults to 1e-12 in float64 and 1e-5 in float32.
        xtol: relative step size below which rejected steps count as collapsed.
            Defaults to 1e-10 in float64 and 1e-5 in float32.
        init_damping: starting ``lam`` relative to the Marquardt scaling.
    """

    def __init__(self, tol: float | None = None, xtol: float | None = None, init_damping=1e-3):
        self.tol = tol
        self.xtol = xtol
        self.init_damping = init_damping

    def __repr__(self) -> str:
        return f"Newton(tol={self.tol}, xtol={self.xtol})"

    def init(self, objective: Objective, u0: jax.Array) -> NewtonState:
        f, g, hess = objective.derivatives(u0)
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(hess))
        return NewtonState(
            u=u0,
            f=f,
            g=g,
            hessian=hess,
            damping=jnp.asarray(self.init_damping, u0.dtype),
            growth=jnp.asarray(2.0, u0.dtype),
            scale=_marquardt_scale(hess, jnp.zeros_like(u0)),
            n_iter=jnp.asarray(0, jnp.int32),
            done=~finite,
            status=jnp.where(finite, Status.CONVERGED, Status.NONFINITE).astype(jnp.int32),
        )

    def step(self, objective: Objective, s: NewtonState) -> NewtonState:
        tol = default_tol(s.u.dtype, self.tol)
        xtol = default_tol(s.u.dtype, self.xtol, double=1e-10)
        fscale = 1.0 + jnp.abs(s.f)

        newton, newton_ok = cholesky_solve(s.hessian, s.g)
        decrement = jnp.where(newton_ok, s.g @ newton, jnp.inf)
        polishing = newton_ok & (decrement <= tol * fscale)

        damped_matrix = s.hessian + jnp.diag(s.damping * s.scale)
        damped, damped_ok = cholesky_solve(damped_matrix, s.g)
        # A stationary point whose Hessian is singular (a non-identified direction): the damped
        # decrement vanishes although the undamped system cannot be solved.
        flat_optimum = ~newton_ok & damped_ok & (s.g @ damped <= tol * fscale)
        step = -jnp.where(polishing, newton, damped)
        step_ok = jnp.where(polishing, newton_ok, damped_ok)

        u_trial = s.u + step
        f_trial, g_trial, hess_trial = objective.derivatives(u_trial)
        finite = (
            jnp.isfinite(f_trial)
            & jnp.all(jnp.isfinite(g_trial))
            & jnp.all(jnp.isfinite(hess_trial))
        )
        predicted = -(s.g @ step + 0.5 * step @ s.hessian @ step)
        actual = s.f - f_trial
        ratio = actual / jnp.where(predicted > 0, predicted, jnp.inf)
        # The polishing step is tiny in the metric of H: take it unless f gets worse by more than
        # its rounding error (its gain is often below that rounding error itself).
        roundoff = 100.0 * jnp.finfo(s.u.dtype).eps * fscale
        accept = step_ok & finite & ((ratio > 1e-4) | (polishing & (actual >= -roundoff)))

        shrink = jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3)
        damping = jnp.where(
            accept,
            jnp.maximum(s.damping * shrink, 1e-15),
            jnp.where(step_ok, s.damping * s.growth, jnp.maximum(s.damping * s.growth, 1e-4)),
        )
        growth = jnp.where(accept, 2.0, s.growth * 2.0)

        tiny_step = jnp.max(jnp.abs(step)) <= xtol * (1.0 + jnp.max(jnp.abs(s.u)))
        collapsed = ~accept & step_ok & tiny_step
        noise_floor = collapsed & newton_ok & (decrement <= jnp.sqrt(tol) * fscale)
        done = polishing | collapsed | flat_optimum
        status = jnp.select(
            [polishing | noise_floor, flat_optimum],
            [Status.CONVERGED, Status.SINGULAR_HESSIAN],
            Status.STALLED,
        ).astype(jnp.int32)

        pick = lambda new, old: jnp.where(accept, new, old)  # noqa: E731
        return NewtonState(
            u=pick(u_trial, s.u),
            f=pick(f_trial, s.f),
            g=pick(g_trial, s.g),
            hessian=pick(hess_trial, s.hessian),
            damping=damping,
            growth=growth,
            scale=jnp.where(accept, _marquardt_scale(hess_trial, s.scale), s.scale),
            n_iter=s.n_iter + 1,
            done=done,
            status=jnp.where(done, status, s.status),
        )

    def finish(self, objective: Objective, s: NewtonState, status: jax.Array) -> Solution:
        return Solution(s.u, s.f, s.g, s.hessian, status, s.n_iter)


def _marquardt_scale(hess: jax.Array, previous: jax.Array) -> jax.Array:
    """Running maximum of ``|diag H|``, floored so that no direction is left undamped."""
    diag = jnp.maximum(previous, jnp.abs(jnp.diag(hess)))
    return jnp.maximum(diag, 1e-12 * jnp.maximum(jnp.max(diag), 1.0))
