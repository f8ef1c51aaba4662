"""The one bounded ``while_loop`` driver every solver runs on.

A solver is a pair of pure functions over an explicit state (optax/optimistix style):
``init(objective, u0) -> state`` and ``step(objective, state) -> state``. Every state is a
NamedTuple with at least ``u, f, g, n_iter, done, status``. The driver loops while the fit is not
done and has steps left; under ``jax.vmap`` the loop runs until every fit in the batch is done, and
finished fits are frozen (JAX selects their old state), so each fit stops on its own criterion.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from ._status import Status


class Objective(NamedTuple):
    """The minimised function ``f(u)`` (negative log-likelihood) and its derivatives.

    Attributes:
        value: ``u -> f``.
        value_and_grad: ``u -> (f, grad f)``.
        derivatives: ``u -> (f, grad f, hess f)``.
    """

    value: object
    value_and_grad: object
    derivatives: object


class Solution(NamedTuple):
    """What a solver hands back: the optimum, its derivatives and the result code."""

    u: jax.Array
    f: jax.Array
    g: jax.Array
    hessian: jax.Array
    status: jax.Array
    n_iter: jax.Array


def iterate(solver, objective: Objective, u0: jax.Array, max_steps: int) -> Solution:
    """Run ``solver`` from ``u0`` for at most ``max_steps`` steps and return its solution."""
    state = solver.init(objective, u0)

    def keep_going(s):
        return (~s.done) & (s.n_iter < max_steps)

    state = jax.lax.while_loop(keep_going, lambda s: solver.step(objective, s), state)
    status = jnp.where(state.done, state.status, Status.MAX_STEPS).astype(jnp.int32)
    return solver.finish(objective, state, status)


def resolve_solver(solver, tol):
    """Turn the user's ``solver=`` argument into a solver object.

    ``None`` gives the default damped :class:`~jaxmle.Newton`; an
    ``optax.GradientTransformation`` is wrapped in :class:`~jaxmle.OptaxSolver`; a solver object
    is used as given.
    """
    from ._newton import Newton
    from ._optax import OptaxSolver

    if solver is None:
        return Newton(tol=tol)
    if isinstance(solver, optax.GradientTransformation):
        return OptaxSolver(solver, tol=tol)
    if hasattr(solver, "init") and hasattr(solver, "step") and hasattr(solver, "finish"):
        return solver
    raise TypeError(
        "solver must be None (damped Newton), jm.Newton(...), or an optax.GradientTransformation"
        f" such as optax.lbfgs(); got {type(solver).__name__}"
    )


def default_tol(dtype, tol, double: float = 1e-12, single: float = 1e-5):
    """Relative tolerance: ``tol`` if given, else ``double`` in float64 or ``single`` in float32."""
    if tol is not None:
        return tol
    return double if jnp.finfo(dtype).bits >= 64 else single
