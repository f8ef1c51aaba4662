"""Prior densities and penalties for maximum a posteriori (MAP) estimation.

``jm.fit(model, data, prior={"beta": jm.priors.Normal(0.0, 2.0)})`` maximises the log posterior
``l(theta) + sum_j log p(theta_j)``: each prior is a density on the natural (constrained) scale of
its parameter, applied to every entry of it independently. The estimate is the posterior mode in
that scale (no Jacobian of the solver's unconstrained scale enters: the same function of
``theta`` is maximised whatever coordinates the solver uses).

``penalty=jm.priors.Ridge(alpha)`` adds ``-alpha/2 sum_j theta_j^2`` over the entries of ``beta``
(or the named parameters), leaving out any listed in ``exclude`` (an intercept, say); it is the
Normal(0, 1/sqrt(alpha)) prior without its constant. ``penalty="firth"`` is Firth's (1993)
bias-reducing Jeffreys-prior penalty ``log det I(beta) / 2``; see :mod:`jaxmle._penalized`.

The densities (all normalised, so ``res.penalized_loglik`` is a log posterior up to the
evidence):

* ``Normal(loc, scale)``: ``-((x - loc)/scale)^2/2 - log(scale sqrt(2 pi))``
* ``Cauchy(loc, scale)``: ``-log(pi scale (1 + ((x - loc)/scale)^2))``
* ``Gamma(shape, rate)``: ``shape log rate - lgamma(shape) + (shape - 1) log x - rate x``
  (``x > 0``)
* ``HalfNormal(scale)``: ``log 2 - x^2/(2 scale^2) - log(scale sqrt(2 pi))`` (``x >= 0``)

Examples:
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> x = jnp.array([0.2, 1.1, 0.4, 2.5, 0.9])
    >>> res = jm.fit(jm.Exponential(), x, prior={"rate": jm.priors.Gamma(2.0, 1.0)})
    >>> round(float(res.params["rate"]), 6), bool(res.is_map)   # (n + a - 1) / (sum x + b)
    (0.983607, True)
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
from jax.scipy.special import gammaln

__all__ = ["Cauchy", "Gamma", "HalfNormal", "Normal", "Prior", "Ridge"]


def _positive(name: str, value) -> float:
    value = float(value)
    if not value > 0.0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _finite(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


class Prior:
    """A prior density on the natural scale; ``logpdf(x)`` is entry-wise."""

    def logpdf(self, x):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Normal(Prior):
    """Normal prior ``N(loc, scale^2)``."""

    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "loc", _finite("Normal: loc", self.loc))
        object.__setattr__(self, "scale", _positive("Normal: scale", self.scale))

    def logpdf(self, x):
        z = (x - self.loc) / self.scale
        return -0.5 * z * z - math.log(self.scale * math.sqrt(2.0 * math.pi))


@dataclasses.dataclass(frozen=True)
class Cauchy(Prior):
    """Cauchy prior with location ``loc`` and scale ``scale`` (Gelman et al.'s 2.5 for logistic
    coefficients on standardised inputs)."""

    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "loc", _finite("Cauchy: loc", self.loc))
        object.__setattr__(self, "scale", _positive("Cauchy: scale", self.scale))

    def logpdf(self, x):
        z = (x - self.loc) / self.scale
        return -jnp.log1p(z * z) - math.log(math.pi * self.scale)


@dataclasses.dataclass(frozen=True)
class Gamma(Prior):
    """Gamma prior with ``shape`` and ``rate`` (mean ``shape / rate``), for positive parameters."""

    shape: float = 1.0
    rate: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "shape", _positive("Gamma: shape", self.shape))
        object.__setattr__(self, "rate", _positive("Gamma: rate", self.rate))

    def logpdf(self, x):
        a, b = self.shape, self.rate
        inside = a * math.log(b) - gammaln(a) + (a - 1.0) * jnp.log(x) - b * x
        return jnp.where(x > 0, inside, -jnp.inf)


@dataclasses.dataclass(frozen=True)
class HalfNormal(Prior):
    """Half-normal prior on ``x >= 0`` (scales and standard deviations)."""

    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive("HalfNormal: scale", self.scale))

    def logpdf(self, x):
        z = x / self.scale
        inside = math.log(2.0) - 0.5 * z * z - math.log(self.scale * math.sqrt(2.0 * math.pi))
        return jnp.where(x >= 0, inside, -jnp.inf)


@dataclasses.dataclass(frozen=True)
class Ridge:
    """Ridge (L2) penalty ``-alpha/2 sum_j theta_j^2`` for ``fit(..., penalty=Ridge(alpha))``.

    Args:
        alpha: penalty weight (``> 0``); the penalty is that of a ``Normal(0, 1/sqrt(alpha))``
            prior on each penalised entry, without the constant.
        params: names of the penalised parameters; default ``("beta",)``.
        exclude: flat parameter names left unpenalised, e.g. ``("const",)`` or ``("beta[0]",)``
            for an intercept (as in ``res.param_names``).
    """

    alpha: float
    params: tuple = ("beta",)
    exclude: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "alpha", _positive("Ridge: alpha", self.alpha))
        for field in ("params", "exclude"):
            value = getattr(self, field)
            value = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
            object.__setattr__(self, field, value)
