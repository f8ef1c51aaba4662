"""The one bounded ``while_loop`` driver every solver runs on, and the objective it minimises.

A solver is a pair of pure functions over an explicit state (optax/optimistix style):
``init(objective, u0, problem) -> state`` and ``step(objective, state, problem) -> state``, plus
``finish(objective, state, problem, status) -> Solution``. Every state is a NamedTuple with at
least ``u, f, g, n_iter, done, status``. The dataset reaches the objective only through the
explicit ``problem`` argument, never through a closure, so the same driver serves fits, profile
likelihoods and implicit differentiation. The driver loops while the fit is not done and has
steps left; under ``jax.vmap`` the loop runs until every fit in the batch is done, and finished
fits are frozen (JAX selects their old state), so each fit stops on its own criterion.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._status import Status


class Objective(NamedTuple):
    """The minimised function ``f(u, problem)`` (negative log-likelihood) and its derivatives.

    Attributes:
        value: ``(u, problem) -> f``.
        derivatives: ``(u, problem) -> (f, grad f, hess f)``, gradients and Hessian in ``u``.
    """

    value: Callable
    derivatives: Callable

    def value_and_grad(self, u: jax.Array, problem):
        """``(f, grad f)`` at ``u`` by reverse-mode autodiff."""
        return jax.value_and_grad(self.value)(u, problem)

    def grad(self, u: jax.Array, problem) -> jax.Array:
        """``grad f`` at ``u``."""
        return jax.grad(self.value)(u, problem)


class Solution(NamedTuple):
    """What a solver hands back: the optimum, its derivatives and the result code."""

    u: jax.Array
    f: jax.Array
    g: jax.Array
    hessian: jax.Array
    status: jax.Array
    n_iter: jax.Array


def iterate(solver, objective: Objective, u0: jax.Array, problem, max_steps: int) -> Solution:
    """Run ``solver`` from ``u0`` on ``problem`` for at most ``max_steps`` steps."""
    state = solver.init(objective, u0, problem)
    state = jax.lax.while_loop(
        lambda s: keep_going(s, max_steps), lambda s: solver.step(objective, s, problem), state
    )
    return conclude(solver, objective, state, problem)


def keep_going(state, max_steps: int) -> jax.Array:
    """Whether a solver state still iterates: not done, and steps left."""
    return (~state.done) & (state.n_iter < max_steps)


def conclude(solver, objective: Objective, state, problem) -> Solution:
    """The solution of a final state; a state that is not done ran out of steps (``MAX_STEPS``)."""
    status = jnp.where(state.done, state.status, Status.MAX_STEPS).astype(jnp.int32)
    return solver.finish(objective, state, problem, status)


def check_max_steps(max_steps) -> int:
    """``max_steps`` as an int, at least 0 (eagerly: a ``ValueError`` naming it otherwise).
    ``max_steps=0`` returns the start, reported as ``MAX_STEPS``."""
    if isinstance(max_steps, bool) or int(max_steps) != max_steps or int(max_steps) < 0:
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}")
    return int(max_steps)


def check_tolerance(name: str, value, zero: bool = False):
    """A tolerance: ``None`` (the default) or a positive finite number (``zero``: 0 allowed, a
    setting that switches something off)."""
    if value is None:
        return None
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (number and (value >= 0 if zero else value > 0) and value < math.inf):
        kind = "non-negative" if zero else "positive"
        raise ValueError(f"{name} must be a {kind} finite number or None, got {value!r}")
    return value


def default_tol(dtype, tol, double: float = 1e-12, single: float = 1e-5):
    """Relative tolerance: ``tol`` if given, else ``double`` in float64 or ``single`` in float32."""
    if tol is not None:
        return tol
    return double if jnp.finfo(dtype).bits >= 64 else single
