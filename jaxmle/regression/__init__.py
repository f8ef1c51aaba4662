"""Regression models: GLMs and friends (data ``{"X", "y", optional "offset", "trials"}``).

The coefficient vector is always ``beta`` (column order of ``X``). Each model has analytic
Newton derivatives assembled with weighted Gram products, a data-driven start (one IRLS step or
exact least squares), eager response checks and a separation diagnosis.
"""

from ._glm import GLM
from ._models import (
    GammaRegression,
    LinearRegression,
    Logit,
    NegativeBinomialRegression,
    PoissonRegression,
    Probit,
)
from ._multinomial import MultinomialLogit
from ._survival import LogLogisticRegression, LogNormalRegression, WeibullRegression
from ._zero_inflated import ZeroInflatedNegativeBinomial, ZeroInflatedPoisson

__all__ = [
    "GLM",
    "GammaRegression",
    "LinearRegression",
    "LogLogisticRegression",
    "LogNormalRegression",
    "Logit",
    "MultinomialLogit",
    "NegativeBinomialRegression",
    "PoissonRegression",
    "Probit",
    "WeibullRegression",
    "ZeroInflatedNegativeBinomial",
    "ZeroInflatedPoisson",
]
