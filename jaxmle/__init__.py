"""jaxmle: maximum-likelihood estimation at scale in JAX.

Fit any per-observation log-likelihood to one dataset or to thousands at once, with Hessian-based
standard errors, confidence intervals and per-fit convergence status.

Examples:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp, jax.scipy.stats as jss
    >>> import jaxmle as jm
    >>> model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
    ...                  params={"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
    >>> res = jm.fit(model, jnp.array([0.1, 0.4, 0.3, 0.9]))
    >>> bool(res.converged)
    True
"""

from . import _inference, distributions, regression
from ._batch import fit_many as fit_many
from ._constraints import Interval as Interval
from ._constraints import Ordered as Ordered
from ._constraints import ParamSpec as ParamSpec
from ._constraints import Positive as Positive
from ._constraints import PositiveDefinite as PositiveDefinite
from ._constraints import Real as Real
from ._constraints import Simplex as Simplex
from ._constraints import UnitInterval as UnitInterval
from ._fit import fit as fit
from ._inference import *  # noqa: F403  (names listed in _inference.__all__)
from ._model import Model as Model
from ._results import FitResult as FitResult
from ._solvers import Newton as Newton
from ._solvers import OptaxSolver as OptaxSolver
from ._solvers import Status as Status
from .distributions import *  # noqa: F403  (names listed in distributions.__all__)
from .regression import *  # noqa: F403  (names listed in regression.__all__)

__version__ = "0.1.0"

__all__ = [
    "FitResult",
    "Interval",
    "Model",
    "Newton",
    "OptaxSolver",
    "Ordered",
    "ParamSpec",
    "Positive",
    "PositiveDefinite",
    "Real",
    "Simplex",
    "Status",
    "UnitInterval",
    "fit",
    "fit_many",
    *_inference.__all__,
    *distributions.__all__,
    *regression.__all__,
]
