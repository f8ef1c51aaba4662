"""Detecting (quasi-)complete separation: when the maximum-likelihood estimate does not exist.

For a binomial GLM (any of the offered binary links) the MLE fails to exist exactly when some
direction ``d != 0`` of the coefficients makes no observation worse off while ``X d != 0``
(Albert & Anderson 1984; Silvapulle 1981): with ``z_i = x_i'd``, every observation with a success
(``y_i > 0``) has ``z_i >= 0`` and every observation with a failure (``y_i < m_i``) has
``z_i <= 0``. Complete separation has all ``z_i != 0``, quasi-complete separation some. For
log-link count models (Poisson, NB2) the analogue is ``z_i = 0`` where ``y_i > 0`` and ``z_i <= 0``
where ``y_i = 0`` (e.g. a category with zero counts); for the multinomial logit, with
``Z = X [0, D]``, ``Z[i, y_i] >= Z[i, k]`` for every class ``k``.

A fit that chases a non-existent MLE moves along such a direction, so the direction shows in the
fit: it is the estimate itself (complete separation), or the eigenvector of the smallest eigenvalue
of the Fisher information at the estimate, in units of the data's column norms (quasi-complete
separation: only the separated observations, whose weights ``mu'(eta)^2 / V(mu)`` vanish, feel
that direction), or the estimate's dominant entries alone (a fit stopped early keeps a finite part,
such as an intercept under the asymmetric cloglog link, that tilts the estimate off the
direction). Each candidate, and its negative, is checked against the exact criterion above
with a relative tolerance of ``1e-6 max_i |z_i|``, so only a certificate of non-existence flags a
fit. The coefficients reported as separated are those with a non-negligible entry (``> 1e-6`` of
the largest) in the scaled certifying direction.

The exact check costs about two solver iterations, so a fit runs it only when it shows the marks
of a diverging fit (:func:`screened_separation`): a status other than ``CONVERGED``, or an
observation whose weighted Fisher information ``w_i E[-d^2 l_i / d eta^2]`` at the estimate has
fallen below ``SCREEN = 1e-3`` times the information at the average mean-based start. Separated
observations have fitted means running to the edge of the support, where their information
vanishes, and a fit can only converge on separated data once their share of the Newton decrement,
of the order of that information, is below the tolerance. The check sits in a ``while_loop`` of
at most one turn, which under ``vmap`` runs only when some fit of the batch is suspicious.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> X = jnp.stack([jnp.ones(6), jnp.array([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0])], axis=1)
    >>> data = {"X": X, "y": jnp.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])}
    >>> model = jm.Logit()
    >>> res = jm.fit(model, data)
    >>> jm.Status(int(res.status)).name
    'SEPARATION'
    >>> model.separated_coefficients(res, data).tolist()
    [False, True]
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .._linalg import smallest_eigenvector, weighted_gram
from .._status import Status

REL_TOL = 1e-6
SCREEN = 1e-3
DOMINANT = 1e-2


def column_scale(X, weights):
    """Weighted column norms ``||sqrt(w) x_j||`` (1 for empty columns): the data's own units.

    ``weights`` are a problem's effective weights (exactly 0 on excluded rows).
    """
    # Weighted first: ``X**2`` alone would be loop-invariant in the screened check, and hoisted.
    norms = jnp.sqrt(jnp.sum(weights[:, None] * X * X, axis=0))
    return jnp.where(norms > 0, norms, 1.0)


def smallest_direction(info, scale):
    """``(d, d_scaled)``: the least-informed direction of ``diag(1/scale) info diag(1/scale)``.

    The scale comes from the data, not from ``info``: Jacobi scaling by ``diag(info)`` would
    normalise away exactly the coordinate directions whose information vanishes.
    """
    vec = smallest_eigenvector(info / jnp.outer(scale, scale))
    return vec / scale, vec


def dominant_part(beta, scale):
    """``(d, d_scaled)``: ``beta`` with its entries below ``DOMINANT`` of the largest (in the
    data's units) set to 0. A fit stopped early on a quasi-separated dataset still carries a
    finite part (an intercept away from 0 under an asymmetric link) that hides the diverging
    direction from the exact check; the dominant entries are that direction."""
    scaled = beta * scale
    kept = jnp.where(jnp.abs(scaled) >= DOMINANT * jnp.max(jnp.abs(scaled)), scaled, 0.0)
    return kept / scale, kept


def certifies(margins, z, live):
    """True when no live row has a margin below ``-tol`` and some live ``|z|`` exceeds ``tol``.

    Args:
        margins: ``(n, m)`` quantities that must be non-negative (``inf`` where unconstrained).
        z: ``(n, ...)`` projections ``x_i'd`` whose size sets the tolerance.
        live: ``(n,)`` rows with positive weight.
    """
    size = jnp.where(live.reshape(live.shape + (1,) * (z.ndim - 1)), jnp.abs(z), 0.0)
    big = jnp.max(size)
    tol = REL_TOL * big
    ok = jnp.all(jnp.where(live[:, None], margins >= -tol, True))
    return ok & (big > 0) & jnp.any(size > tol)


def _margins(model, z, y, trials):
    if model.family.name == "binomial":
        return jnp.stack([jnp.where(y > 0, z, jnp.inf), jnp.where(y < trials, -z, jnp.inf)], 1)
    return jnp.stack([jnp.where(y > 0, z, jnp.inf), -z], 1)


def glm_separation(model, params, problem):
    """``(separated, mask)`` for a GLM fit: does the MLE fail to exist, and which ``beta`` diverge.

    Only binomial models and log-link Poisson / negative binomial models can separate; for the
    others ``separated`` is False.
    """
    X = problem.data["X"]
    beta = params["beta"]
    p = beta.shape[0]
    family = model.family.name
    applies = family == "binomial" or (
        family in ("poisson", "negative_binomial") and model.link.name == "log"
    )
    if not applies:
        return jnp.asarray(False), jnp.zeros((p,), bool)
    data, live = problem.data, problem.included
    y = data["y"]
    trials = jnp.broadcast_to(model._trials(data, y), y.shape)
    offset = data.get("offset", 0.0)
    lam = (
        None if model.extra_name is None else model.extra_power * jnp.log(params[model.extra_name])
    )
    info_eta = model.family.eta_information(X @ beta + offset, model.link, lam, trials)
    info = weighted_gram(X, problem.weigh(jnp.nan_to_num(info_eta)))
    col_scale = column_scale(X, problem.effective_weights)
    direction, scaled = smallest_direction(info, col_scale)
    found, mask = jnp.asarray(False), jnp.zeros((p,), bool)
    candidates = ((direction, scaled), (beta, beta * col_scale), dominant_part(beta, col_scale))
    for d, ds in candidates:
        for sign in (1.0, -1.0):
            z = X @ (sign * d)
            hit = certifies(_margins(model, z, y, trials), z, live)
            entries = jnp.abs(ds) > REL_TOL * jnp.max(jnp.abs(ds))
            mask = jnp.where(hit & ~found, entries, mask)
            found = found | hit
    return found, mask


def screened_separation(model, params, problem, status):
    """``glm_separation(...)[0]``, computed only for fits that look like they diverge.

    Traceable; under ``vmap`` the exact check runs (for the whole batch) only when some fit in it
    is suspicious (:func:`separation_suspect`), otherwise it costs one pass over the data. See
    the module docstring.
    """
    suspicious = separation_suspect(model, params, problem, status)

    # The body reads ``params`` and ``weights`` through the loop counter (times ``k + 1 = 1``,
    # exact): what is computed from loop-invariant values only (such as the column norms of X) is
    # hoisted out of the loop by XLA, and so computed unconditionally.
    def check(state):
        k = state[1]
        one = (k + 1).astype(problem.dtype)
        scaled = {key: value * one for key, value in params.items()}
        reweighted = problem.with_weights(problem.weights * one)
        return jnp.asarray(False), k + 1, glm_separation(model, scaled, reweighted)[0]

    start = (suspicious, jnp.asarray(0, jnp.int32), jnp.asarray(False))
    return lax.while_loop(lambda state: state[0], check, start)[2]


def separation_suspect(model, params, problem, status):
    """Whether a fit shows the marks of a diverging one (module docstring): a status other than
    ``CONVERGED``, or an observation whose weighted information has (nearly) vanished. False for
    models that cannot separate."""
    family = model.family.name
    applies = family == "binomial" or (
        family in ("poisson", "negative_binomial") and model.link.name == "log"
    )
    if not applies:
        return jnp.asarray(False)
    data, live, w = problem.data, problem.included, problem.effective_weights
    X, y = data["X"], data["y"]
    trials = jnp.broadcast_to(model._trials(data, y), y.shape)
    lam = (
        None if model.extra_name is None else model.extra_power * jnp.log(params[model.extra_name])
    )
    eta = X @ params["beta"] + data.get("offset", 0.0)
    info = model.family.eta_information(eta, model.link, lam, trials)
    # The information at the average start mean (one link evaluation, not one per observation).
    mean = lambda a: jnp.sum(w * a) / jnp.sum(w)  # noqa: E731
    mu0 = mean(model.family.start_mean(y, trials, w))
    typical = model.family.eta_information(model.link(mu0), model.link, lam, mean(trials))
    smallest = jnp.min(jnp.where(live, w * info, jnp.inf))
    return (status != Status.CONVERGED) | ~(smallest >= SCREEN * typical)


def multinomial_separation(beta, info, problem):
    """``(separated, mask)`` for a multinomial logit with ``beta`` of shape ``(p, K - 1)``.

    ``info`` is the Fisher information over ``beta`` flattened row-major.
    """
    X, y, live = problem.data["X"], problem.data["y"], problem.included
    col_scale = jnp.repeat(column_scale(X, problem.effective_weights), beta.shape[1])
    direction, scaled = smallest_direction(info, col_scale)
    col_scale = col_scale.reshape(beta.shape)
    labels = y.astype(jnp.int32)
    found, mask = jnp.asarray(False), jnp.zeros(beta.shape, bool)
    candidates = (
        (direction.reshape(beta.shape), scaled.reshape(beta.shape)),
        (beta, beta * col_scale),
    )
    for d, ds in candidates:
        for sign in (1.0, -1.0):
            Z = X @ (sign * d)
            Z = jnp.concatenate([jnp.zeros_like(Z[:, :1]), Z], axis=1)
            chosen = jnp.take_along_axis(Z, labels[:, None], axis=1)
            margins = chosen - Z
            hit = certifies(margins, margins, live)
            entries = jnp.abs(ds) > REL_TOL * jnp.max(jnp.abs(ds))
            mask = jnp.where(hit & ~found, entries, mask)
            found = found | hit
    return found, mask
