"""Solvers: damped Newton (default) and any optax transformation, on one while_loop driver."""

from ._driver import Objective, Solution, iterate, resolve_solver
from ._newton import Newton
from ._optax import OptaxSolver
from ._status import Status

__all__ = ["Newton", "Objective", "OptaxSolver", "Solution", "Status", "iterate", "resolve_solver"]
