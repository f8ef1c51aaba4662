"""Link functions ``eta = g(mu)`` of the GLMs, with numerically careful log-means.

Each link gives the inverse link ``mu = g^{-1}(eta)`` (:meth:`Link.mean`), the link itself (for
starting values) and ``log mu`` / ``log(1 - mu)`` as functions of ``eta``, evaluated without
forming ``mu`` where that would lose digits (``log mu = eta`` for the log link,
``log sigmoid(eta)`` for the logit, ``log Phi(eta)`` for the probit).

Examples:
    >>> import jax.numpy as jnp
    >>> from jaxmle.regression._links import resolve_link
    >>> float(resolve_link("logit").log1m_mean(jnp.asarray(40.0)))
    -40.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr, ndtr, ndtri


class Link:
    """Base class: subclasses define :meth:`mean` and :meth:`__call__` (the link ``g``)."""

    name = "link"

    def mean(self, eta):
        """``mu = g^{-1}(eta)``."""
        raise NotImplementedError

    def __call__(self, mu):
        """``eta = g(mu)``."""
        raise NotImplementedError

    def log_mean(self, eta):
        """``log mu``."""
        return jnp.log(self.mean(eta))

    def log1m_mean(self, eta):
        """``log(1 - mu)``."""
        return jnp.log1p(-self.mean(eta))

    def dmean(self, eta):
        """``d mu / d eta`` entry by entry."""
        return jax.jvp(self.mean, (eta,), (jnp.ones_like(eta),))[1]

    def log_dmean(self, eta):
        """``log |d mu / d eta|``, finite where ``d mu / d eta`` underflows (large ``|eta|``)."""
        return jnp.log(jnp.abs(self.dmean(eta)))

    def __repr__(self) -> str:
        return self.name


class Identity(Link):
    name = "identity"

    def mean(self, eta):
        return eta

    def __call__(self, mu):
        return mu


class Log(Link):
    name = "log"

    def mean(self, eta):
        return jnp.exp(eta)

    def __call__(self, mu):
        return jnp.log(mu)

    def log_mean(self, eta):
        return eta

    def log_dmean(self, eta):
        return eta


class Logit(Link):
    name = "logit"

    def mean(self, eta):
        return jax.nn.sigmoid(eta)

    def __call__(self, mu):
        return jnp.log(mu) - jnp.log1p(-mu)

    def log_mean(self, eta):
        return jax.nn.log_sigmoid(eta)

    def log1m_mean(self, eta):
        return jax.nn.log_sigmoid(-eta)

    def log_dmean(self, eta):  # mu (1 - mu)
        return jax.nn.log_sigmoid(eta) + jax.nn.log_sigmoid(-eta)


class Probit(Link):
    name = "probit"

    def mean(self, eta):
        return ndtr(eta)

    def __call__(self, mu):
        return ndtri(mu)

    def log_mean(self, eta):
        return log_ndtr(eta)

    def log1m_mean(self, eta):
        return log_ndtr(-eta)

    def log_dmean(self, eta):  # the normal density
        return -0.5 * (eta**2 + jnp.log(2.0 * jnp.pi))


class CLogLog(Link):
    """``g(mu) = log(-log(1 - mu))``."""

    name = "cloglog"

    def mean(self, eta):
        return -jnp.expm1(-jnp.exp(eta))

    def __call__(self, mu):
        return jnp.log(-jnp.log1p(-mu))

    def log_mean(self, eta):
        return jnp.log(-jnp.expm1(-jnp.exp(eta)))

    def log1m_mean(self, eta):
        return -jnp.exp(eta)

    def log_dmean(self, eta):  # exp(eta) exp(-exp(eta))
        return eta - jnp.exp(eta)


class Inverse(Link):
    """``g(mu) = 1 / mu`` (canonical for the Gamma family)."""

    name = "inverse"

    def mean(self, eta):
        return 1.0 / eta

    def __call__(self, mu):
        return 1.0 / mu

    def log_mean(self, eta):
        return -jnp.log(eta)


LINKS = {link.name: link for link in (Identity(), Log(), Logit(), Probit(), CLogLog(), Inverse())}


def resolve_link(link) -> Link:
    """A :class:`Link` from its name (``"identity"``, ``"log"``, ``"logit"``, ``"probit"``,
    ``"cloglog"``, ``"inverse"``) or a :class:`Link` instance."""
    if isinstance(link, Link):
        return link
    if isinstance(link, str) and link.lower() in LINKS:
        return LINKS[link.lower()]
    raise ValueError(f"link must be one of {sorted(LINKS)}, got {link!r}")
