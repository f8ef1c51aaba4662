"""Solvers: damped Newton (default) and any optax transformation, on one while_loop driver, with
implicit derivatives at the optimum (:func:`solve`)."""

import optax

from ._driver import Objective, Solution, check_max_steps, conclude, iterate, keep_going
from ._implicit import nan_derivatives_unless, solve
from ._newton import Newton
from ._optax import OptaxSolver

__all__ = [
    "Newton",
    "Objective",
    "OptaxSolver",
    "Solution",
    "check_max_steps",
    "conclude",
    "iterate",
    "keep_going",
    "nan_derivatives_unless",
    "resolve_solver",
    "solve",
]


def resolve_solver(solver, tol=None):
    """Turn the user's ``solver=`` and ``tol=`` arguments into one solver object, which then owns
    the tolerance.

    ``None`` gives the default damped :class:`~jaxmle.Newton` (with ``tol``); an
    ``optax.GradientTransformation`` is wrapped in :class:`~jaxmle.OptaxSolver` (with ``tol``); a
    solver object is used as given, and then ``tol`` must be left out (it is the solver's own).

    Examples:
        >>> resolve_solver(None, 1e-10)
        Newton(tol=1e-10, xtol=None, ptol=None)
    """
    if solver is None:
        return Newton(tol=tol)
    if isinstance(solver, optax.GradientTransformation):
        return OptaxSolver(solver, tol=tol)
    if hasattr(solver, "init") and hasattr(solver, "step") and hasattr(solver, "finish"):
        if tol is not None:
            raise ValueError(
                f"tol={tol!r} was given together with the solver object {solver!r}, which has its"
                " own tolerance: set it there, e.g. jm.Newton(tol=...), and leave tol= out"
            )
        return solver
    raise TypeError(
        "solver must be None (damped Newton), jm.Newton(...), or an optax.GradientTransformation"
        f" such as optax.lbfgs(); got {type(solver).__name__}"
    )
