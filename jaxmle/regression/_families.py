"""Response distributions of the regressions, written per observation in terms of ``eta``.

A family gives the log-likelihood ``l(y | eta, lam)`` of one observation, where ``eta`` is the
linear predictor, ``mu = g^{-1}(eta)`` and ``lam`` is the log of the family's extra parameter
(``log phi`` for the dispersion ``phi`` of the Gaussian, Gamma and inverse Gaussian families,
``log alpha`` for the negative binomial). It also gives the expected information
``E[-d^2 l / d eta^2] = m mu'(eta)^2 / (phi V(mu))`` (``m`` binomial trials, ``V`` the variance
function), the expected information of ``lam`` where it has a closed form, mean-based starting
values, the eager support check and a sampler, :meth:`Family.sample`, which draws ``y`` given
``mu`` and ``lam`` (for :meth:`~jaxmle.regression._glm.GLMModel.simulate`).

Where the pair (family, link) has them, :meth:`Family.eta_derivatives` gives the log-likelihood and
its exact first and second derivatives in ``eta`` and ``lam`` in closed form (one ``exp`` per
observation for the logit; see each family), which the GLM engine assembles into the Newton
``f, g, H`` without automatic differentiation; other pairs return ``None`` and are differentiated
automatically.

Log-likelihoods (``m`` trials, ``k = 1/phi``, ``r = 1/alpha``):

* gaussian: ``-(log(2 pi phi) + (y - mu)^2 / phi) / 2``
* binomial: ``y log mu + (m - y) log(1 - mu) + log C(m, y)``
* poisson: ``y log mu - mu - log y!``
* gamma: ``k log(k y / mu) - k y / mu - log y - log Gamma(k)``
* inverse_gaussian: ``-(log(2 pi phi y^3) + (y - mu)^2 / (phi mu^2 y)) / 2``
* negative_binomial (NB2, ``var = mu + alpha mu^2``): ``log Gamma(y + r) - log Gamma(r) - log y!
  - r log(1 + alpha mu) + y log(alpha mu / (1 + alpha mu))``

Examples:
    >>> import jax.numpy as jnp
    >>> from jaxmle.regression._families import resolve_family
    >>> from jaxmle.regression._links import resolve_link
    >>> poisson = resolve_family("poisson")
    >>> round(float(poisson.loglik(jnp.asarray(2.0), jnp.asarray(0.0), resolve_link("log"),
    ...                            None, 1.0)), 6)   # log Poisson(2 | 1)
    -1.693147
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .._arrays import namespace
from ..distributions._sampling import gamma
from ..distributions._special import digamma, trigamma

LOG_2PI = float(np.log(2.0 * np.pi))


def _xlog(y, log_value):
    """``y * log_value`` with ``0 * (-inf) = 0``.

    The product is formed with ``y`` outside the selection, so that its derivative in ``y`` is
    ``log_value`` also at ``y = 0`` (and at ``trials - y = 0``): derivatives of fits with respect
    to the response (:func:`jax.grad` through :func:`~jaxmle.fit`) need it.
    """
    return y * jnp.where((y == 0) & ~jnp.isfinite(log_value), 0.0, log_value)


def _weighted_mean(x, weights):
    return jnp.sum(weights * x) / jnp.sum(weights)


class Family:
    """Base class; see the module docstring for the contract."""

    name = "family"
    canonical_link = "identity"
    extra = None  # what ``lam`` is the log of, or None when there is no extra parameter
    support = "y real"

    def loglik(self, y, eta, link, lam, trials):
        raise NotImplementedError

    def eta_derivatives(self, y, eta, link, lam, trials, constant: bool = True):
        """Closed-form ``(l, l_e, l_ee)`` (and ``l_lam, l_e_lam, l_lam_lam`` with an extra
        parameter) per observation, or ``None`` when this link has no closed form here.

        ``constant=False`` leaves out terms of ``l`` that depend on neither ``eta`` nor ``lam``
        (only allowed where they are zero: binomial without trials).
        """
        return None

    def variance(self, mu, lam):
        """``Var(y) / phi`` per trial as a function of the mean (``phi`` excluded)."""
        raise NotImplementedError

    def sample(self, key, mu, lam, trials):
        """One response per entry of the means ``mu`` (per trial), given ``lam``; ``trials`` is
        ``None`` when the data have none (one trial each). Floating, the dtype of ``mu``."""
        raise NotImplementedError

    def log_variance(self, eta, link, lam):
        """``log V(mu)`` at ``mu = g^{-1}(eta)``; families override it with forms that stay
        finite where ``mu`` under- or overflows."""
        return jnp.log(self.variance(link.mean(eta), lam))

    def eta_information(self, eta, link, lam, trials):
        """``E[-d^2 l / d eta^2] = m (d mu / d eta)^2 / (phi V(mu))`` per observation.

        Computed in log space: numerator and denominator underflow together at large ``|eta|``
        (``mu`` rounding to 0 or 1), where the plain ratio is 0/0 = NaN or x/0 = inf, and a
        separation screen or an expected-information covariance would read those as data.
        """
        log_phi = lam if self.extra == "dispersion" else 0.0
        log_info = 2.0 * link.log_dmean(eta) - log_phi - self.log_variance(eta, link, lam)
        return trials * jnp.exp(log_info)

    def eta_information_derivatives(self, eta, link, trials):
        """``(w, dw/deta, d2w/deta2)`` of the Fisher weight ``w = eta_information(eta)`` (no
        extra parameter), elementwise by forward-mode autodiff; Firth's penalty needs them."""

        def weight(e):
            return self.eta_information(e, link, None, trials)

        ones = jnp.ones_like(eta)
        w, w1 = jax.jvp(weight, (eta,), (ones,))
        w2 = jax.jvp(lambda e: jax.jvp(weight, (e,), (ones,))[1], (eta,), (ones,))[1]
        return w, w1, w2

    def extra_information(self, lam):
        """``E[-d^2 l / d lam^2]`` per observation, or ``None`` when not in closed form."""
        return None

    def start_mean(self, y, trials, weights):
        """Mean (per trial) to start from: ``(y + mean(y)) / 2``, as statsmodels does."""
        return 0.5 * (y + _weighted_mean(y, weights))

    def start_extra(self, y, mu, trials, weights):
        """Moment start for ``lam`` at the fitted means ``mu``."""
        return None

    def invalid(self, y, trials):
        """Boolean mask of responses outside the support (numpy arrays eagerly, JAX arrays
        under ``jit``); ``trials`` is ``None`` when the data have none (one trial each)."""
        return ~namespace(y).isfinite(y)


class Gaussian(Family):
    name = "gaussian"
    extra = "dispersion"

    def loglik(self, y, eta, link, lam, trials):
        return -0.5 * (LOG_2PI + lam + (y - link.mean(eta)) ** 2 * jnp.exp(-lam))

    def eta_derivatives(self, y, eta, link, lam, trials, constant=True):
        """Identity link, ``r = y - eta``, ``q = r^2 / phi``: ``l_e = r / phi``,
        ``l_ee = -1 / phi``, ``l_lam = (q - 1) / 2``, ``l_e_lam = -r / phi``,
        ``l_lam_lam = -q / 2``."""
        if link.name != "identity":
            return None
        inv_phi = jnp.exp(-lam)
        r = y - eta
        r_phi = r * inv_phi
        q = r * r_phi
        value = -0.5 * (LOG_2PI + lam + q)
        return value, r_phi, -jnp.broadcast_to(inv_phi, r.shape), 0.5 * (q - 1.0), -r_phi, -0.5 * q

    def variance(self, mu, lam):
        return jnp.ones_like(mu)

    def sample(self, key, mu, lam, trials):
        """``mu + sqrt(phi) z``, ``z ~ N(0, 1)``."""
        return mu + jnp.exp(0.5 * lam) * jax.random.normal(key, mu.shape, mu.dtype)

    def log_variance(self, eta, link, lam):
        return 0.0 * eta

    def extra_information(self, lam):
        return 0.5

    def start_extra(self, y, mu, trials, weights):
        rss = _weighted_mean((y - mu) ** 2, weights)
        return jnp.log(jnp.maximum(rss, jnp.finfo(rss.dtype).tiny))


class Binomial(Family):
    name = "binomial"
    canonical_link = "logit"
    support = "y in {0, 1, ..., trials} (0/1 without trials)"

    def loglik(self, y, eta, link, lam, trials):
        log_choose = gammaln(trials + 1.0) - gammaln(y + 1.0) - gammaln(trials - y + 1.0)
        return _xlog(y, link.log_mean(eta)) + _xlog(trials - y, link.log1m_mean(eta)) + log_choose

    def eta_derivatives(self, y, eta, link, lam, trials, constant=True):
        """Logit link, from ``e = exp(-|eta|)`` alone: ``l = y eta - m softplus(eta)`` with
        ``softplus(eta) = max(eta, 0) + log1p(e)``, ``l_e = y - m mu``,
        ``l_ee = -m mu (1 - mu) = -m e / (1 + e)^2``."""
        if link.name != "logit":
            return None
        e = jnp.exp(-jnp.abs(eta))
        inv = 1.0 / (1.0 + e)
        mu = jnp.where(eta >= 0, 1.0, e) * inv
        value = y * eta - trials * (jnp.maximum(eta, 0.0) + jnp.log1p(e))
        if constant:
            value = value + gammaln(trials + 1.0) - gammaln(y + 1.0) - gammaln(trials - y + 1.0)
        return value, y - trials * mu, -trials * e * inv * inv

    def eta_information(self, eta, link, lam, trials):
        """Logit link: ``m mu (1 - mu) = m e / (1 + e)^2`` with ``e = exp(-|eta|)``, one
        exponential (the general log-space formula takes ten transcendental functions, and the
        separation screen of every logistic fit evaluates it at each observation)."""
        if link.name != "logit":
            return super().eta_information(eta, link, lam, trials)
        e = jnp.exp(-jnp.abs(eta))
        inv = 1.0 / (1.0 + e)
        return trials * e * inv * inv

    def eta_information_derivatives(self, eta, link, trials):
        """Logit link, with ``v = mu (1 - mu)``: ``w = m v``, ``w' = w (1 - 2 mu)``,
        ``w'' = w (1 - 6 v)``."""
        if link.name != "logit":
            return super().eta_information_derivatives(eta, link, trials)
        e = jnp.exp(-jnp.abs(eta))
        inv = 1.0 / (1.0 + e)
        mu = jnp.where(eta >= 0, 1.0, e) * inv
        v = e * inv * inv
        return trials * v, trials * v * (1.0 - 2.0 * mu), trials * v * (1.0 - 6.0 * v)

    def variance(self, mu, lam):
        return mu * (1.0 - mu)

    def sample(self, key, mu, lam, trials):
        """Successes out of ``trials`` (0/1 draws without trials)."""
        if trials is None:
            return jax.random.bernoulli(key, mu).astype(mu.dtype)
        return jax.random.binomial(key, trials, mu, mu.shape, mu.dtype)

    def log_variance(self, eta, link, lam):
        return link.log_mean(eta) + link.log1m_mean(eta)

    def start_mean(self, y, trials, weights):
        return (y + 0.5) / (trials + 1.0)

    def invalid(self, y, trials):
        if trials is None:  # Bernoulli: two comparisons cover every condition below
            return (y != 0.0) & (y != 1.0)
        xp = namespace(y, trials)
        return ~xp.isfinite(y) | (y < 0) | (y != xp.round(y)) | (y > trials)


class Poisson(Family):
    name = "poisson"
    canonical_link = "log"
    support = "y a non-negative integer count"

    def loglik(self, y, eta, link, lam, trials):
        return _xlog(y, link.log_mean(eta)) - link.mean(eta) - gammaln(y + 1.0)

    def eta_derivatives(self, y, eta, link, lam, trials, constant=True):
        """Log link: ``l = y eta - mu - log y!``, ``l_e = y - mu``, ``l_ee = -mu``."""
        if link.name != "log":
            return None
        mu = jnp.exp(eta)
        return _xlog(y, eta) - mu - gammaln(y + 1.0), y - mu, -mu

    def variance(self, mu, lam):
        return mu

    def sample(self, key, mu, lam, trials):
        return jax.random.poisson(key, mu, mu.shape).astype(mu.dtype)

    def log_variance(self, eta, link, lam):
        return link.log_mean(eta)

    def invalid(self, y, trials):
        xp = namespace(y)
        return ~xp.isfinite(y) | (y < 0) | (y != xp.round(y))


class Gamma(Family):
    name = "gamma"
    canonical_link = "inverse"
    extra = "dispersion"
    support = "y > 0"

    def loglik(self, y, eta, link, lam, trials):
        k = jnp.exp(-lam)
        ratio = y * jnp.exp(-link.log_mean(eta))
        return k * (-lam + jnp.log(ratio)) - k * ratio - jnp.log(y) - gammaln(k)

    def eta_derivatives(self, y, eta, link, lam, trials, constant=True):
        """Log link, ``k = exp(-lam)``, ``v = y / mu``, ``A = log v - lam - v``:
        ``l_e = k (v - 1)``, ``l_ee = -k v``, ``l_lam = -k (A + 1 - psi(k))``,
        ``l_e_lam = -l_e``, ``l_lam_lam = k (A + 2 - psi(k) - k psi'(k))``."""
        if link.name != "log":
            return None
        k = jnp.exp(-lam)
        log_y = jnp.log(y)
        v = y * jnp.exp(-eta)
        a = log_y - eta - lam - v
        value = k * a - log_y - gammaln(k)
        l_e = k * (v - 1.0)
        l_lam = -k * (a + 1.0 - digamma(k))
        l_lam_lam = k * (a + 2.0 - digamma(k) - k * trigamma(k))
        return value, l_e, -k * v, l_lam, -l_e, l_lam_lam

    def variance(self, mu, lam):
        return mu**2

    def sample(self, key, mu, lam, trials):
        """``Gamma(shape k, rate k / mu)``, ``k = 1 / phi``, drawn as ``mu G / k``,
        ``G ~ Gamma(k, 1)`` (:func:`~jaxmle.distributions._sampling.gamma`)."""
        k = jnp.exp(-lam)
        return mu * gamma(key, k, mu.shape, mu.dtype) / k

    def log_variance(self, eta, link, lam):
        return 2.0 * link.log_mean(eta)

    def extra_information(self, lam):
        k = jnp.exp(-lam)
        return k**2 * trigamma(k) - k

    def start_extra(self, y, mu, trials, weights):
        return jnp.log(_weighted_mean((y - mu) ** 2 / mu**2, weights))

    def invalid(self, y, trials):
        return ~namespace(y).isfinite(y) | (y <= 0)


class InverseGaussian(Family):
    name = "inverse_gaussian"
    canonical_link = "log"  # the canonical 1/mu^2 link is not offered
    extra = "dispersion"
    support = "y > 0"

    def loglik(self, y, eta, link, lam, trials):
        mu = link.mean(eta)
        return -0.5 * (
            LOG_2PI + lam + 3.0 * jnp.log(y) + (y - mu) ** 2 * jnp.exp(-lam) / (mu**2 * y)
        )

    def variance(self, mu, lam):
        return mu**3

    def sample(self, key, mu, lam, trials):
        """Inverse Gaussian with mean ``mu`` and shape ``s = 1 / phi``: ``s W`` with ``W`` a Wald
        (unit shape) draw of mean ``mu / s`` (``c X ~ IG(c mu, c s)`` for ``X ~ IG(mu, s)``)."""
        shape = jnp.exp(-lam)
        return shape * jax.random.wald(key, mu / shape, mu.shape, mu.dtype)

    def log_variance(self, eta, link, lam):
        return 3.0 * link.log_mean(eta)

    def extra_information(self, lam):
        return 0.5

    def start_extra(self, y, mu, trials, weights):
        return jnp.log(_weighted_mean((y - mu) ** 2 / mu**3, weights))

    def invalid(self, y, trials):
        return ~namespace(y).isfinite(y) | (y <= 0)


class NegativeBinomial(Family):
    """NB2; ``lam = log alpha``. The information of ``alpha`` has no closed form."""

    name = "negative_binomial"
    canonical_link = "log"
    extra = "alpha"
    support = "y a non-negative integer count"

    def loglik(self, y, eta, link, lam, trials):
        r = jnp.exp(-lam)
        log_mu = link.log_mean(eta)
        log1p_amu = jnp.logaddexp(0.0, lam + log_mu)
        return (
            gammaln(y + r)
            - gammaln(r)
            - gammaln(y + 1.0)
            - r * log1p_amu
            + _xlog(y, lam + log_mu - log1p_amu)
        )

    def eta_derivatives(self, y, eta, link, lam, trials, constant=True):
        """Log link, ``r = 1/alpha``, ``a = alpha mu``, ``L = log(1 + a)``, ``q = a / (1 + a)``,
        ``D = psi(y + r) - psi(r)``: ``l_e = (y - mu) / (1 + a)``,
        ``l_ee = -mu (1 + alpha y) / (1 + a)^2``, ``l_e_lam = -(y - mu) q / (1 + a)``,
        ``l_lam = r (L - D) + l_e``, ``l_lam_lam = -r (L - D) + r q + r^2 (psi'(y + r) -
        psi'(r)) + l_e_lam``."""
        if link.name != "log":
            return None
        r = jnp.exp(-lam)
        mu = jnp.exp(eta)
        s = lam + eta
        log1p_a = jnp.logaddexp(0.0, s)
        q = jax.nn.sigmoid(s)
        inv = 1.0 / (1.0 + jnp.exp(s))
        value = gammaln(y + r) - gammaln(r) - gammaln(y + 1.0) - r * log1p_a + _xlog(y, s - log1p_a)
        l_e = (y - mu) * inv
        l_ee = -mu * (1.0 + jnp.exp(lam) * y) * inv * inv
        l_e_lam = -l_e * q
        excess = r * (log1p_a - (digamma(y + r) - digamma(r)))
        l_lam_lam = -excess + r * q + r * r * (trigamma(y + r) - trigamma(r)) + l_e_lam
        return value, l_e, l_ee, excess + l_e, l_e_lam, l_lam_lam

    def variance(self, mu, lam):
        return mu + jnp.exp(lam) * mu**2

    def sample(self, key, mu, lam, trials):
        """Gamma-Poisson mixture: ``y ~ Poisson(mu G / r)``, ``G ~ Gamma(r, 1)``, ``r = 1 /
        alpha``."""
        gamma_key, poisson_key = jax.random.split(key)
        r = jnp.exp(-lam)
        rate = mu * gamma(gamma_key, r, mu.shape, mu.dtype) / r
        return jax.random.poisson(poisson_key, rate, mu.shape).astype(mu.dtype)

    def log_variance(self, eta, link, lam):
        log_mu = link.log_mean(eta)
        return log_mu + jnp.logaddexp(0.0, lam + log_mu)

    def start_extra(self, y, mu, trials, weights):
        excess = jnp.sum(weights * ((y - mu) ** 2 - mu)) / jnp.sum(weights * mu**2)
        return jnp.log(jnp.maximum(excess, 0.05))

    def invalid(self, y, trials):
        xp = namespace(y)
        return ~xp.isfinite(y) | (y < 0) | (y != xp.round(y))


FAMILIES = {f.name: f for f in (Gaussian(), Binomial(), Poisson(), Gamma(), InverseGaussian())}
NEGATIVE_BINOMIAL = NegativeBinomial()


def resolve_family(family) -> Family:
    """A :class:`Family` from its name (``"gaussian"``, ``"binomial"``, ``"poisson"``,
    ``"gamma"``, ``"inverse_gaussian"``) or a :class:`Family` instance."""
    if isinstance(family, Family):
        return family
    if isinstance(family, str):
        key = family.lower().replace("-", "_").replace(" ", "_")
        if key in FAMILIES:
            return FAMILIES[key]
    raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
