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

The Newton step at each accepted point is solved once and kept in the state. When an accepted step
lands where the decrement is already below the tolerance and the polishing step would move no
parameter by more than ``ptol`` (relative), the polish is applied without another evaluation: the
derivatives at the two points differ by ``O(ptol)`` only, and one evaluation of the objective (the
most expensive part of an iteration) is saved per fit.

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

from .._linalg import cholesky_solve
from .._status import Status
from ._driver import Objective, Solution, check_tolerance, default_tol


class NewtonState(NamedTuple):
    u: jax.Array
    f: jax.Array
    g: jax.Array
    hessian: jax.Array
    newton: jax.Array
    newton_ok: jax.Array
    damping: jax.Array
    growth: jax.Array
    scale: jax.Array
    n_iter: jax.Array
    done: jax.Array
    status: jax.Array
    started: jax.Array


class Newton:
    """Damped (Levenberg-Marquardt) Newton solver.

    Args:
        tol: relative tolerance on the Newton decrement, ``g'H^{-1}g <= tol * (1 + |f|)``.
            Defaults to 1e-12 in float64 and 1e-5 in float32.
        xtol: relative step size below which rejected steps count as collapsed.
            Defaults to 1e-10 in float64 and 1e-5 in float32.
        init_damping: starting ``lam`` relative to the Marquardt scaling.
        ptol: relative size below which the final polishing step is taken without evaluating
            the objective again (0 switches that off). Defaults to 1e-8 in float64 and 1e-4
            in float32.
    """

    def __init__(
        self,
        tol: float | None = None,
        xtol: float | None = None,
        init_damping=1e-3,
        ptol: float | None = None,
    ):
        self.tol = check_tolerance("tol", tol)
        self.xtol = check_tolerance("xtol", xtol)
        self.init_damping = check_tolerance("init_damping", init_damping)
        self.ptol = check_tolerance("ptol", ptol, zero=True)

    def _key(self):
        return (self.tol, self.xtol, self.init_damping, self.ptol)

    # Equal settings compare equal, so a fresh ``Newton(...)`` per call reuses compiled programs.
    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        return f"Newton(tol={self.tol}, xtol={self.xtol}, ptol={self.ptol})"

    def init(self, objective: Objective, u0: jax.Array, problem) -> NewtonState:
        # The derivatives at the start are the first pass of the loop (see ``step``), so the
        # compiled program evaluates the objective's derivatives in one place only.
        k = u0.shape[0]
        return NewtonState(
            u=u0,
            f=jnp.zeros((), u0.dtype),
            g=jnp.zeros_like(u0),
            hessian=jnp.eye(k, dtype=u0.dtype),
            newton=jnp.zeros_like(u0),
            newton_ok=jnp.array(False),
            damping=jnp.asarray(self.init_damping, u0.dtype),
            growth=jnp.asarray(2.0, u0.dtype),
            scale=jnp.zeros_like(u0),
            n_iter=jnp.asarray(0, jnp.int32),
            done=jnp.array(False),
            status=jnp.asarray(Status.CONVERGED, jnp.int32),
            started=jnp.array(False),
        )

    def step(self, objective: Objective, s: NewtonState, problem) -> NewtonState:
        tol = default_tol(s.u.dtype, self.tol)
        xtol = default_tol(s.u.dtype, self.xtol, double=1e-10)
        fscale = 1.0 + jnp.abs(s.f)

        newton, newton_ok = s.newton, s.newton_ok
        decrement = jnp.where(newton_ok, s.g @ newton, jnp.inf)
        polishing = newton_ok & (decrement <= tol * fscale)

        damped_matrix = s.hessian + jnp.diag(s.damping * s.scale)
        damped, damped_ok = cholesky_solve(damped_matrix, s.g)
        # A stationary point whose Hessian is singular (a non-identified direction): the damped
        # decrement vanishes although the undamped system cannot be solved.
        flat_optimum = ~newton_ok & damped_ok & (s.g @ damped <= tol * fscale)
        step = -jnp.where(polishing, newton, damped)
        step_ok = jnp.where(polishing, newton_ok, damped_ok)
        # The first pass only evaluates the start: no step, accepted whatever its value.
        first = ~s.started
        step = jnp.where(first, 0.0, step)

        u_trial = s.u + step
        f_trial, g_trial, hess_trial = objective.derivatives(u_trial, problem)
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
        accept = first | (step_ok & finite & ((ratio > 1e-4) | (polishing & (actual >= -roundoff))))

        # The Newton step at the trial point: kept for the next iteration, and it tells whether
        # the trial point is converged with only a negligible polishing step left.
        newton_trial, newton_trial_ok = cholesky_solve(hess_trial, g_trial)
        decrement_trial = g_trial @ newton_trial
        ptol = default_tol(s.u.dtype, self.ptol, double=1e-8, single=1e-4)
        polished = (
            accept
            & ~polishing
            & newton_trial_ok
            & (decrement_trial <= tol * (1.0 + jnp.abs(f_trial)))
            & (jnp.max(jnp.abs(newton_trial)) <= ptol * (1.0 + jnp.max(jnp.abs(u_trial))))
        )

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
        done = polishing | collapsed | flat_optimum | polished
        status = jnp.select(
            [polishing | noise_floor | polished, flat_optimum],
            [Status.CONVERGED, Status.SINGULAR_HESSIAN],
            Status.STALLED,
        ).astype(jnp.int32)
        done = jnp.where(first, ~finite, done)
        status = jnp.where(first, Status.NONFINITE, status).astype(jnp.int32)
        damping = jnp.where(first, s.damping, damping)
        growth = jnp.where(first, s.growth, growth)
        polished = polished & ~first

        # The polished point: one more Newton step, its value from the quadratic model.
        u_trial = jnp.where(polished, u_trial - newton_trial, u_trial)
        f_trial = jnp.where(polished, f_trial - 0.5 * decrement_trial, f_trial)

        pick = lambda new, old: jnp.where(accept, new, old)  # noqa: E731
        return NewtonState(
            u=pick(u_trial, s.u),
            f=pick(f_trial, s.f),
            g=pick(g_trial, s.g),
            hessian=pick(hess_trial, s.hessian),
            newton=pick(newton_trial, s.newton),
            newton_ok=pick(newton_trial_ok, s.newton_ok),
            damping=damping,
            growth=growth,
            scale=jnp.where(accept, _marquardt_scale(hess_trial, s.scale), s.scale),
            n_iter=s.n_iter + jnp.where(first, 0, 1).astype(jnp.int32),
            done=done,
            status=jnp.where(done, status, s.status),
            started=jnp.array(True),
        )

    def finish(self, objective: Objective, s: NewtonState, problem, status: jax.Array) -> Solution:
        # A state that never evaluated the objective (``max_steps=0``) has no derivatives: NaN,
        # not the placeholders of ``init`` (an identity Hessian would give unit standard errors).
        unknown = lambda value: jnp.where(s.started, value, jnp.nan)  # noqa: E731
        return Solution(s.u, unknown(s.f), unknown(s.g), unknown(s.hessian), status, s.n_iter)


def _marquardt_scale(hess: jax.Array, previous: jax.Array) -> jax.Array:
    """Running maximum of ``|diag H|``, floored so that no direction is left undamped."""
    diag = jnp.maximum(previous, jnp.abs(jnp.diag(hess)))
    return jnp.maximum(diag, 1e-12 * jnp.maximum(jnp.max(diag), 1.0))
