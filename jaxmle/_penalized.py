"""Penalised likelihoods: Firth's bias reduction, priors (MAP) and ridge, as a model wrapper.

:func:`penalize` wraps a model so that the solver minimises

    ``f(u) = -l(theta) - log pi(theta)``,  ``theta = T(u)``,

with the log-penalty ``log pi`` the sum of

* Firth (``penalty="firth"``): ``log det I(beta) / 2``, the log of Jeffreys' prior, with ``I`` the
  expected (Fisher) information of the likelihood. For a GLM with canonical link (logistic,
  Poisson) its score is Firth's (1993) modified score, so the estimate removes the ``O(1/n)``
  bias of the MLE and is finite even under complete or quasi-complete separation (Kosmidis &
  Firth 2021); for other links (probit) it is the Jeffreys-prior penalised-likelihood estimate
  (``brglm2``'s ``type = "MPL_Jeffreys"``). Allowed for models whose parameters are all
  unconstrained (``Real``) and that supply ``expected_information``: ``Logit``, ``Probit``,
  ``PoissonRegression`` and the ``GLM`` families without a dispersion parameter.
* priors (``prior={name: jm.priors.Normal(0, 2), ...}``): ``sum_j log p(theta_j)`` over the
  entries of each named parameter, on the natural scale;
* ridge (``penalty=jm.priors.Ridge(alpha)``): ``-alpha/2 sum_j theta_j^2``.

What the result reports:

* ``res.loglik`` is the log-likelihood ``l(theta_hat)`` at the penalised estimate,
  ``res.log_penalty`` the log-penalty there and ``res.penalized_loglik`` their sum (the
  maximised objective); ``res.is_map`` is True.
* Covariance: for priors and ridge the inverse curvature of the penalised objective (the
  posterior's Laplace approximation). The Firth term is a bias correction, not information: its
  curvature is left out, so the covariance is the inverse information of the likelihood (plus
  any prior's curvature) at the penalised estimate, which is what ``brglm2`` and ``logistf``
  report. ``cov_type="expected"`` uses the expected information instead.
* Profile intervals (:func:`~jaxmle.profile_ci`) profile the penalised objective, as
  ``logistf`` does.
* The model's own diagnoses of a failed MLE (separation, an overdispersion parameter at zero)
  are not applied: those are the failures a penalty repairs.

Examples:
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> X = jnp.array([[1.0, -1.0], [1.0, -0.5], [1.0, 0.5], [1.0, 1.0]])
    >>> y = jnp.array([0.0, 0.0, 1.0, 1.0])             # completely separated by x
    >>> jm.fit(jm.Logit(), {"X": X, "y": y}).status_name
    'separation'
    >>> res = jm.fit(jm.Logit(), {"X": X, "y": y}, penalty="firth")
    >>> res.status_name, round(float(res.params["beta"][1]), 3)  # the slope (intercept 0)
    ('converged', 2.008)
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from ._constraints import Real
from ._linalg import cholesky
from ._model import Model
from ._problem import Problem
from .priors import Prior, Ridge

__all__ = ["Penalized", "penalize"]


class Penalized(Model):
    """``model`` with a log-penalty added to its log-likelihood (see the module docstring).

    Args:
        model: the (bound) model.
        firth: add Firth's Jeffreys-prior penalty.
        priors: tuple of ``(name, prior)`` pairs.
        ridge: a :class:`~jaxmle.priors.Ridge` or ``None``.
    """

    is_penalized = True

    def __init__(self, model: Model, firth: bool = False, priors: tuple = (), ridge=None):
        self.base = model
        self.firth = bool(firth)
        self.priors = tuple(priors)
        self.ridge = ridge
        self._ridge_mask = None if ridge is None else _ridge_mask(model, ridge)
        super().__init__(None, model.specs, name=model.name)
        self.param_names = model.param_names
        self.infinite_data_keys = model.infinite_data_keys

    def __getattr__(self, attr):  # the base model's own attributes (feature names, ...)
        if attr == "base":
            raise AttributeError(attr)
        return getattr(self.base, attr)

    def __repr__(self) -> str:
        parts = ["firth"] if self.firth else []
        parts += [f"{name}~{prior!r}" for name, prior in self.priors]
        parts += [repr(self.ridge)] if self.ridge is not None else []
        return f"Penalized({self.base!r}, {', '.join(parts)})"

    # -- delegated model hooks ------------------------------------------------------------------
    def bind(self, data) -> Model:
        return self

    def logpdf(self, params, data):
        return self.base.logpdf(params, data)

    def check_shapes(self, data) -> None:
        self.base.check_shapes(data)

    def valid_rows(self, data):
        return self.base.valid_rows(data)

    def validate_data(self, data) -> None:
        self.base.validate_data(data)

    def init_params(self, problem: Problem) -> dict:
        """The base model's start; with Firth's penalty, moved by the model's ``firth_start``
        where it has one (GLMs: one modified-score step)."""
        start = self.base.init_params(problem)
        firth_start = getattr(self.base, "firth_start", None)
        return firth_start(start, problem) if self.firth and firth_start else start

    @property
    def can_simulate(self) -> bool:
        return getattr(self.base, "can_simulate", False)

    def simulate(self, key, params, data):
        return self.base.simulate(key, params, data)

    def diagnose(self, params, problem: Problem, status):
        return status

    # -- the penalty ----------------------------------------------------------------------------
    def log_penalty(self, u: jax.Array, problem: Problem, firth: bool = True) -> jax.Array:
        """``log pi(T(u))``; without the Firth term when ``firth`` is False."""
        params = self.from_unconstrained(u)
        total = jnp.zeros((), u.dtype)
        if self.firth and firth:
            total = total + firth_penalty(self.base, u, problem)
        for name, prior in self.priors:
            total = total + jnp.sum(prior.logpdf(params[name]))
        if self.ridge is not None:
            flat = self.flatten(params)
            total = total - 0.5 * self.ridge.alpha * jnp.sum(
                jnp.where(self._ridge_mask, flat**2, 0)
            )
        return total

    def _penalty_derivatives(self, u, problem, firth: bool = True):
        """``(log pi, grad, hess)`` in ``u``: Firth's term in closed form where the model has it
        (``firth_derivatives``, GLMs), everything else by forward-over-reverse autodiff."""
        closed = None
        if self.firth and firth and hasattr(self.base, "firth_derivatives"):
            closed = self.base.firth_derivatives(u, problem)
        if closed is not None and not self.priors and self.ridge is None:
            return closed

        def grad_with_aux(v):
            value, grad = jax.value_and_grad(self.log_penalty)(v, problem, closed is None and firth)
            return grad, (value, grad)

        hess, (value, grad) = jax.jacfwd(grad_with_aux, has_aux=True)(u)
        if closed is None:
            return value, grad, hess
        return value + closed[0], grad + closed[1], hess + closed[2]

    def objective(self, u, problem: Problem):
        return self.base.objective(u, problem) - self.log_penalty(u, problem)

    def objective_derivatives(self, u, problem: Problem):
        if self.firth and not self.priors and self.ridge is None:
            combined = getattr(self.base, "firth_objective_derivatives", lambda *_: None)
            together = combined(u, problem)  # likelihood and penalty sharing their passes
            if together is not None:
                return together
        f, g, h = self.base.objective_derivatives(u, problem)
        p, pg, ph = self._penalty_derivatives(u, problem)
        return f - p, g - pg, h - ph

    def covariance_hessian(self, u, problem: Problem, hessian):
        if not self.firth:
            return hessian
        if getattr(self.base, "observed_is_expected", False):
            # The information the penalty's value forms too: one Gram product for both.
            h = self.base.expected_information(u, problem)
        else:
            h = self.base.objective_derivatives(u, problem)[2]
        if not self.priors and self.ridge is None:
            return h
        return h - self._penalty_derivatives(u, problem, firth=False)[2]

    def expected_information(self, u, problem: Problem):
        info = self.base.expected_information(u, problem)
        if info is None or (not self.priors and self.ridge is None):
            return info
        return info - self._penalty_derivatives(u, problem, firth=False)[2]


def firth_penalty(model: Model, u: jax.Array, problem: Problem) -> jax.Array:
    """``log det I(u) / 2`` from the model's expected information (NaN where it is not PD)."""
    info = model.expected_information(u, problem)
    if info is None:
        raise ValueError(
            f"penalty='firth': {model.name} does not supply expected_information (Firth's "
            "penalty is log det I(beta) / 2); it is available for Logit, Probit, "
            "PoissonRegression and GLMs without a dispersion parameter"
        )
    return jnp.sum(jnp.log(jnp.diagonal(cholesky(info))))


def _ridge_mask(model: Model, ridge: Ridge):
    """Boolean mask over the flat parameters: the entries the ridge penalises."""
    unknown = [name for name in ridge.params if name not in model.specs]
    if unknown:
        raise ValueError(
            f"penalty: Ridge params {unknown} are not parameters of {model.name} "
            f"(it has {list(model.specs)})"
        )
    missing = [name for name in ridge.exclude if name not in model.param_names]
    if missing:
        raise ValueError(
            f"penalty: Ridge exclude {missing} are not among the parameter names "
            f"{list(model.param_names)}"
        )
    flags = []
    for key, spec in model.specs.items():
        flags += [key in ridge.params] * spec.size
    keep = [
        flag and name not in ridge.exclude
        for flag, name in zip(flags, model.param_names, strict=True)
    ]
    return jnp.asarray(keep)


def penalize(model: Model, penalty=None, prior: Mapping | None = None) -> Model:
    """``model`` itself without ``penalty`` and ``prior``, else its :class:`Penalized` wrapper.

    Raises ``ValueError``/``TypeError`` naming the argument for an unknown penalty, a prior on
    a parameter the model does not have, or Firth on a model with constrained parameters.
    """
    if penalty is None and not prior:
        return model
    firth, ridge = False, None
    if isinstance(penalty, str):
        if penalty.lower() != "firth":
            raise ValueError(f"penalty must be 'firth' or a jm.priors.Ridge, got {penalty!r}")
        firth = True
        constrained = [k for k, spec in model.specs.items() if not isinstance(spec, Real)]
        if constrained:
            raise ValueError(
                f"penalty='firth' needs unconstrained parameters; {model.name} has "
                f"{constrained} (Firth's penalty is defined for Logit, Probit, PoissonRegression "
                "and GLMs without a dispersion parameter)"
            )
    elif isinstance(penalty, Ridge):
        ridge = penalty
    elif penalty is not None:
        raise TypeError(f"penalty must be 'firth' or a jm.priors.Ridge, got {penalty!r}")
    priors = []
    for name, density in dict(prior or {}).items():
        if name not in model.specs:
            raise ValueError(
                f"prior: {name!r} is not a parameter of {model.name} (it has {list(model.specs)})"
            )
        if not isinstance(density, Prior):
            raise TypeError(
                f"prior[{name!r}] must be a jm.priors density such as jm.priors.Normal(0, 2), "
                f"got {density!r}"
            )
        priors.append((name, density))
    return Penalized(model, firth=firth, priors=tuple(priors), ridge=ridge)
