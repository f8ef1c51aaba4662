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

from . import priors as priors
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
from ._inference import BootstrapResult as BootstrapResult
from ._inference import ChiSquareTest as ChiSquareTest
from ._inference import ProfileInterval as ProfileInterval
from ._inference import ProfileStatus as ProfileStatus
from ._inference import bootstrap as bootstrap
from ._inference import lr_test as lr_test
from ._inference import profile_ci as profile_ci
from ._inference import score_test as score_test
from ._inference import wald_test as wald_test
from ._model import Model as Model
from ._results import FitResult as FitResult
from ._solvers import Newton as Newton
from ._solvers import OptaxSolver as OptaxSolver
from ._status import Status as Status
from ._study import Study as Study
from ._study import study as study
from .distributions import Bernoulli as Bernoulli
from .distributions import Beta as Beta
from .distributions import Binomial as Binomial
from .distributions import Categorical as Categorical
from .distributions import Cauchy as Cauchy
from .distributions import Censored as Censored
from .distributions import Dirichlet as Dirichlet
from .distributions import Exponential as Exponential
from .distributions import Gamma as Gamma
from .distributions import Geometric as Geometric
from .distributions import Gumbel as Gumbel
from .distributions import InverseGaussian as InverseGaussian
from .distributions import Laplace as Laplace
from .distributions import Logistic as Logistic
from .distributions import LogNormal as LogNormal
from .distributions import Mixture as Mixture
from .distributions import MultivariateNormal as MultivariateNormal
from .distributions import NegativeBinomial as NegativeBinomial
from .distributions import Normal as Normal
from .distributions import Poisson as Poisson
from .distributions import StudentT as StudentT
from .distributions import Truncated as Truncated
from .distributions import VonMises as VonMises
from .distributions import Weibull as Weibull
from .regression import GLM as GLM
from .regression import GammaRegression as GammaRegression
from .regression import LinearRegression as LinearRegression
from .regression import Logit as Logit
from .regression import LogLogisticRegression as LogLogisticRegression
from .regression import LogNormalRegression as LogNormalRegression
from .regression import MultinomialLogit as MultinomialLogit
from .regression import NegativeBinomialRegression as NegativeBinomialRegression
from .regression import PoissonRegression as PoissonRegression
from .regression import Probit as Probit
from .regression import WeibullRegression as WeibullRegression
from .regression import ZeroInflatedNegativeBinomial as ZeroInflatedNegativeBinomial
from .regression import ZeroInflatedPoisson as ZeroInflatedPoisson

__version__ = "0.1.0"

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "BootstrapResult",
    "Categorical",
    "Cauchy",
    "Censored",
    "ChiSquareTest",
    "Dirichlet",
    "Exponential",
    "FitResult",
    "GLM",
    "Gamma",
    "GammaRegression",
    "Geometric",
    "Gumbel",
    "Interval",
    "InverseGaussian",
    "Laplace",
    "LinearRegression",
    "LogLogisticRegression",
    "LogNormal",
    "LogNormalRegression",
    "Logistic",
    "Logit",
    "Mixture",
    "Model",
    "MultinomialLogit",
    "MultivariateNormal",
    "NegativeBinomial",
    "NegativeBinomialRegression",
    "Newton",
    "Normal",
    "OptaxSolver",
    "Ordered",
    "ParamSpec",
    "Poisson",
    "PoissonRegression",
    "Positive",
    "PositiveDefinite",
    "Probit",
    "ProfileInterval",
    "ProfileStatus",
    "Real",
    "Simplex",
    "Status",
    "Study",
    "StudentT",
    "Truncated",
    "UnitInterval",
    "VonMises",
    "Weibull",
    "WeibullRegression",
    "ZeroInflatedNegativeBinomial",
    "ZeroInflatedPoisson",
    "bootstrap",
    "fit",
    "fit_many",
    "lr_test",
    "priors",
    "profile_ci",
    "score_test",
    "study",
    "wald_test",
]
