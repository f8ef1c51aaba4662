"""Built-in distribution families (parameter names are part of the public contract)."""

from ._censoring import Censored as Censored
from ._censoring import Truncated as Truncated
from ._continuous import Beta as Beta
from ._continuous import Cauchy as Cauchy
from ._continuous import Exponential as Exponential
from ._continuous import Gamma as Gamma
from ._continuous import Gumbel as Gumbel
from ._continuous import InverseGaussian as InverseGaussian
from ._continuous import Laplace as Laplace
from ._continuous import Logistic as Logistic
from ._continuous import LogNormal as LogNormal
from ._continuous import Normal as Normal
from ._continuous import StudentT as StudentT
from ._continuous import VonMises as VonMises
from ._continuous import Weibull as Weibull
from ._discrete import Bernoulli as Bernoulli
from ._discrete import Binomial as Binomial
from ._discrete import Categorical as Categorical
from ._discrete import Geometric as Geometric
from ._discrete import NegativeBinomial as NegativeBinomial
from ._discrete import Poisson as Poisson
from ._mixture import Mixture as Mixture
from ._multivariate import Dirichlet as Dirichlet
from ._multivariate import MultivariateNormal as MultivariateNormal

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Censored",
    "Dirichlet",
    "Exponential",
    "Gamma",
    "Geometric",
    "Gumbel",
    "InverseGaussian",
    "Laplace",
    "LogNormal",
    "Logistic",
    "Mixture",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "StudentT",
    "Truncated",
    "VonMises",
    "Weibull",
]
