"""Implicit differentiation of a solution: the implicit function theorem at the optimum.

The estimate ``u*(theta)`` minimises ``f(u, problem)``, where ``theta`` is anything in the problem
(data, weights, hyperparameters kept in the data pytree). At the optimum ``g(u*, theta) = 0``
with ``g = df/du``, so differentiating that identity gives, for a tangent ``theta_dot``,

    u_dot = -H^{-1} (d g / d theta) theta_dot,      H = d2f/du2 at u*,

which costs one Hessian solve with the Hessian the solver already has, whatever the number of
iterations it took: the solver loop itself is never differentiated (JAX cannot reverse-mode
differentiate a ``while_loop`` anyway). The other parts of the solution follow by the chain rule
through ``(u*, theta)``: ``f_dot = (df/du) u_dot + (df/dtheta) theta_dot`` (the envelope theorem,
as ``df/du = 0``), and ``H_dot`` uses third derivatives of ``f`` by autodiff, which is what
derivatives of standard errors need. The rule is written with JAX operations, so it composes:
``jax.grad``, ``jax.vjp``, ``jax.jacrev``, ``jax.hessian`` (the rule is differentiated again),
``jit`` and ``vmap``. The starting point has no influence on an optimum and gets no derivative.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> x = jnp.array([1.0, 2.0, 4.0])
    >>> grad = jax.grad(lambda x: jm.fit(jm.Normal(), x).params["loc"])(x)
    >>> [round(float(g), 6) for g in grad]   # the mean: 1/n for every observation
    [0.333333, 0.333333, 0.333333]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._linalg import cholesky_solve
from ._driver import Objective, Solution, iterate


def solve(solver, objective: Objective, u0: jax.Array, problem, max_steps: int) -> Solution:
    """:func:`~jaxmle._solvers.iterate` with derivatives in ``problem`` by the implicit function
    theorem (none in ``u0``)."""

    @jax.custom_jvp
    def run(u0, problem):
        return iterate(solver, objective, u0, problem, max_steps)

    @run.defjvp
    def run_jvp(primals, tangents):
        u0, problem = primals
        problem_dot = tangents[1]
        solution = run(u0, problem)
        u = solution.u
        # d g / d theta along theta_dot, at the fixed optimum u*.
        _, g_theta = jax.jvp(lambda p: objective.grad(u, p), (problem,), (problem_dot,))
        u_dot = -cholesky_solve(solution.hessian, g_theta)[0]
        _, (f_dot, g_dot, h_dot) = jax.jvp(
            objective.derivatives, (u, problem), (u_dot, problem_dot)
        )
        tangent = Solution(
            u=u_dot,
            f=f_dot,
            g=g_dot,
            hessian=h_dot,
            status=_no_tangent(solution.status),
            n_iter=_no_tangent(solution.n_iter),
        )
        return solution, tangent

    return run(u0, problem)


def _no_tangent(x: jax.Array) -> np.ndarray:
    """The (empty) tangent of an integer output."""
    return np.zeros(np.shape(x), dtype=jax.dtypes.float0)


@jax.custom_jvp
def nan_derivatives_unless(ok: jax.Array, tree):
    """``tree`` unchanged, with every derivative NaN where ``ok`` is False.

    A fit that did not converge has no optimum to differentiate at: its derivatives are NaN
    (never a crash, never a plausible-looking number). Each fit of a batch is gated by its own
    ``ok``. Note that a NaN derivative stays NaN when multiplied by zero, so a loss that masks
    failed fits out of a batch with ``jnp.where`` still sees NaN gradients: give failed datasets
    zero weight or drop them before differentiating.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> float(jax.grad(lambda x: nan_derivatives_unless(jnp.array(False), x * 2.0))(1.0))
        nan
    """
    return tree


@nan_derivatives_unless.defjvp
def _nan_derivatives_unless_jvp(primals, tangents):
    ok, tree = primals
    scale = jnp.where(ok, 1.0, jnp.nan)
    out = jax.tree_util.tree_map(
        lambda t: t if t.dtype == jax.dtypes.float0 else t * scale.astype(t.dtype), tangents[1]
    )
    return tree, out
