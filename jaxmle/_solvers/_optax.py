"""Any ``optax.GradientTransformation`` as a jaxmle solver.

The transformation minimises the negative log-likelihood on the unconstrained scale. Line-search
methods such as ``optax.lbfgs()`` receive ``value``, ``grad`` and ``value_fn`` as extra arguments;
plain transformations such as ``optax.adam(lr)`` are wrapped with
``optax.with_extra_args_support``. A fit converges when ``max|grad f| <= tol * (1 + |f|)``. The
Hessian is evaluated once, at the end, for the covariance.

Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import jaxmle as jm
    >>> model = jm.Model(lambda p, x: -0.5 * (x - p["m"]) ** 2, {"m": jm.Real(0.0)})
    >>> res = jm.fit(model, jnp.array([1.0, 2.0, 3.0]), solver=optax.lbfgs())
    >>> round(float(res.params["m"]), 5)
    2.0
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from .._identity import freeze_callable
from .._status import Status
from ._driver import Objective, Solution, check_tolerance, default_tol


class OptaxState(NamedTuple):
    u: jax.Array
    f: jax.Array
    g: jax.Array
    opt_state: object
    n_iter: jax.Array
    done: jax.Array
    status: jax.Array


class OptaxSolver:
    """Run an optax transformation until the scaled gradient is small.

    Args:
        transformation: e.g. ``optax.lbfgs()`` or ``optax.adam(1e-2)``.
        tol: relative gradient tolerance; defaults to 1e-12 (float64) or 1e-5 (float32).
    """

    def __init__(self, transformation: optax.GradientTransformation, tol: float | None = None):
        self.transformation = optax.with_extra_args_support(transformation)
        self.tol = check_tolerance("tol", tol)
        self._identity = freeze_callable(self.transformation)

    def _key(self):
        return (self._identity, self.tol)

    # Equal transformations (same factory, equal settings) compare equal, so that
    # ``solver=optax.lbfgs()`` written inline reuses the compiled fit instead of recompiling.
    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        return f"OptaxSolver(..., tol={self.tol})"

    def _converged(self, f, g):
        tol = default_tol(g.dtype, self.tol)
        return jnp.max(jnp.abs(g)) <= tol * (1.0 + jnp.abs(f))

    def init(self, objective: Objective, u0: jax.Array, problem) -> OptaxState:
        f, g = objective.value_and_grad(u0, problem)
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
        converged = finite & self._converged(f, g)
        return OptaxState(
            u=u0,
            f=f,
            g=g,
            opt_state=self.transformation.init(u0),
            n_iter=jnp.asarray(0, jnp.int32),
            done=~finite | converged,
            status=jnp.where(finite, Status.CONVERGED, Status.NONFINITE).astype(jnp.int32),
        )

    def step(self, objective: Objective, s: OptaxState, problem) -> OptaxState:
        updates, opt_state = self.transformation.update(
            s.g,
            s.opt_state,
            s.u,
            value=s.f,
            grad=s.g,
            value_fn=lambda v: objective.value(v, problem),
        )
        u = optax.apply_updates(s.u, updates)
        f, g = objective.value_and_grad(u, problem)
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
        converged = finite & self._converged(f, g)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        return OptaxState(
            u=keep(u, s.u),
            f=keep(f, s.f),
            g=keep(g, s.g),
            opt_state=opt_state,
            n_iter=s.n_iter + 1,
            done=converged | ~finite,
            status=jnp.where(finite, Status.CONVERGED, Status.NONFINITE).astype(jnp.int32),
        )

    def finish(self, objective: Objective, s: OptaxState, problem, status: jax.Array) -> Solution:
        f, g, hess = objective.derivatives(s.u, problem)
        return Solution(s.u, f, g, hess, status, s.n_iter)
