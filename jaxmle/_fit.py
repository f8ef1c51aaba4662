"""`fit`: one dataset, pure, jittable and differentiable. Batching is ``jax.vmap`` (or
:func:`~jaxmle.fit_many`).

The estimate maximises the weighted log-likelihood ``sum_i w_i log p(x_i | theta)``. Eager calls
(outside ``jit``) validate the inputs and raise ``ValueError`` naming the problem; traced calls
cannot raise, so any problem becomes the fit's status code.

Derivatives of a fit with respect to anything in its data, weights or data pytree come from the
implicit function theorem at the optimum (:mod:`jaxmle._solvers._implicit`): the solver's loop is
never differentiated. A fit whose status is not ``CONVERGED`` has NaN derivatives.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._compile import SINGLE_FIT_OPTIONS, program
from ._covariance import delta_method, unconstrained_covariance
from ._diagnostics import on_boundary, valid_problem
from ._model import Model, check_logpdf_shape
from ._penalized import penalize
from ._problem import Problem, n_observations
from ._results import FitResult
from ._solvers import (
    Objective,
    check_max_steps,
    nan_derivatives_unless,
    resolve_solver,
    solve,
)
from ._starts import best_start, draw_starts
from ._status import Status
from ._validation import (
    as_data,
    is_traced,
    validate_groups,
    validate_init,
    validate_inputs,
    validate_sandwich,
)

__all__ = ["fit"]

DEFAULT_MAX_STEPS = 2000


def fit(
    model: Model,
    data,
    *,
    weights=None,
    solver=None,
    init: dict | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    tol: float | None = None,
    cov_type: str = "observed",
    groups=None,
    n_starts: int = 1,
    key: jax.Array | None = None,
    init_sampler=None,
    penalty=None,
    prior: dict | None = None,
    formula: str | None = None,
) -> FitResult:
    """Fit ``model`` to one dataset by maximum likelihood.

    Args:
        model: a :class:`~jaxmle.Model` (or a built-in family / regression).
        data: array or pytree of arrays sharing the leading observation axis ``n``.
        weights: optional ``(n,)`` non-negative frequency weights: weight ``k`` counts a row ``k``
            times, weight 0 drops it (that is how padding works).
        solver: ``None`` for the damped Newton default, a :class:`~jaxmle.Newton` with custom
            tolerances, or any ``optax.GradientTransformation`` (``optax.lbfgs()``,
            ``optax.adam(1e-2)``, ...).
        init: optional dict of starting values (natural scale) for some or all parameters;
            overrides the model's data-driven start.
        max_steps: iteration budget; a fit that runs out reports ``Status.MAX_STEPS``.
        tol: tolerance of the default solver or of an optax transformation (see
            :class:`~jaxmle.Newton`); default depends on the dtype. A solver object carries its
            own tolerance, so ``tol`` must then be left out.
        cov_type: covariance of the estimate: ``"observed"`` (inverse observed information,
            default), ``"expected"`` (inverse Fisher information, where the model supplies it),
            ``"HC0"`` (sandwich ``H^{-1} (sum_i w_i s_i s_i') H^{-1}`` from per-observation
            scores), ``"HC1"`` (HC0 times ``n / (n - k)``) or ``"cluster"`` (sandwich of cluster
            score sums with the correction ``G/(G-1) * (N-1)/(N-K)``).
        groups: cluster labels ``(n,)`` for ``cov_type="cluster"``.
        n_starts: number of starting points. The first is the data-driven start (with
            ``init``); the others are drawn with ``key`` around it on the unconstrained scale,
            ``u0 + sqrt(nobs / H_jj) z`` with ``z`` standard normal and ``H`` the Hessian at
            the start (one observation's worth of spread in every coordinate, whatever the
            constraint), or from ``init_sampler``. All starts run as one batch; the fit keeps the
            best converged one and ``res.n_best`` counts the starts that reached it.
        key: ``jax.random`` key for the drawn starts (required when ``n_starts > 1``).
        init_sampler: optional ``init_sampler(key, data) -> dict`` of natural-scale starting
            values (any subset of the parameters) drawing the extra starts instead.
        penalty: ``"firth"`` (Firth's bias-reducing Jeffreys-prior penalty, for ``Logit``,
            ``Probit``, ``PoissonRegression``; finite under separation) or a
            :class:`jaxmle.priors.Ridge`; see :mod:`jaxmle._penalized`.
        prior: ``{name: density}`` of :mod:`jaxmle.priors` densities on the natural scale, one
            per parameter name (applied to each of its entries): MAP estimation.
        formula: a regression's Wilkinson formula ``"y ~ x1 + C(g)"`` (needs formulaic); ``data``
            is then a pandas DataFrame, and ``weights``/``groups`` may name its columns. Rows
            with missing values are dropped (statsmodels' ``missing="drop"``); coefficients take
            the model matrix's names. See :mod:`jaxmle._formula`.

    Returns:
        A :class:`~jaxmle.FitResult`.

    Differentiation:
        ``jax.grad``, ``jax.jvp``, ``jax.vjp``, ``jax.jacrev``, ``jax.hessian`` of anything
        computed from the result, with respect to ``data`` (any float leaf, so hyperparameters
        or fixed parameters kept in the data pytree too) and ``weights``, by the implicit
        function theorem at the optimum; see :mod:`jaxmle._solvers._implicit`. A fit that did
        not converge has NaN derivatives. Rows of zero weight have zero derivative with respect
        to their weight (padding stays padding).

    Examples:
        >>> import jax, jax.numpy as jnp, jax.scipy.stats as jss
        >>> import jaxmle as jm
        >>> model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
        ...                  {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
        >>> x = jnp.array([0.5, 1.5, 2.0, 3.0])
        >>> res = jm.fit(model, x)
        >>> round(float(res.params["loc"]), 6), round(float(res.params["scale"]), 6)
        (1.75, 0.901388)
        >>> round(float(jax.grad(lambda x: jm.fit(model, x).params["loc"])(x)[0]), 12)
        0.25
    """
    spec = None
    if formula is not None:  # a DataFrame and a formula: X and y from formulaic
        from ._formula import formula_inputs

        data, weights, groups, spec = formula_inputs(model, data, formula, weights, groups)
    model = model.bind(data)  # before conversion: a DataFrame X names the coefficients
    model = penalize(model, penalty, prior)
    data = as_data(data, f"{model.name}: ")
    weights = None if weights is None else jnp.asarray(weights)
    n_starts = check_starts(n_starts, key, init_sampler)
    if not is_traced((data, weights, init, groups)):
        if spec is None:  # a formula's inputs were checked where their frame rows are known
            validate_inputs(model, data, weights)
        if groups is not None:
            validate_groups(groups, n_observations(data))
        validate_sandwich(cov_type, model.n_free, n_observations(data), weights, groups)
        if init is not None:
            validate_init(model, init)
    if init is not None:
        init = {name: jnp.asarray(value, dtype=float) for name, value in init.items()}
    res = _fit_compiled(
        data,
        weights,
        init,
        groups,
        key,
        model=model,
        solver=resolve_solver(solver, tol),
        max_steps=check_max_steps(max_steps),
        cov_type=cov_type,
        n_starts=n_starts,
        init_sampler=init_sampler,
    )
    return res if spec is None else dataclasses.replace(res, formula=spec)


@program(
    options=SINGLE_FIT_OPTIONS,
    static_argnames=("model", "solver", "max_steps", "cov_type", "n_starts", "init_sampler"),
)
def _fit_compiled(
    data, weights, init, groups, key, *, model, solver, max_steps, cov_type, n_starts, init_sampler
):
    # One compilation per (model, solver, options, shapes): repeated eager fits reuse it, and
    # inside a caller's jit/vmap this simply inlines.
    problem = Problem.build(data, weights, groups)
    return fit_problem(
        model, problem, solver, init, max_steps, cov_type, n_starts, key, init_sampler
    )


def canonical_labelling(model: Model, solution):
    """The solution at the model's canonical copy of the optimum (:meth:`Model.relabel`): ``u``
    mapped, and the gradient and Hessian carried by the chain rule, ``g' = A'g``,
    ``H' = A'HA`` with ``A = du/du'``."""
    u, back = model.relabel(solution.u)
    if back is None:
        return solution
    return solution._replace(u=u, g=back.T @ solution.g, hessian=back.T @ solution.hessian @ back)


def check_starts(n_starts, key, init_sampler) -> int:
    """``n_starts`` as an int, checked against ``key`` and ``init_sampler``."""
    if isinstance(n_starts, bool) or int(n_starts) != n_starts or int(n_starts) < 1:
        raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
    if int(n_starts) > 1 and key is None:
        raise ValueError(f"n_starts={n_starts} needs key=: a jax.random key to draw the starts")
    if init_sampler is not None and not callable(init_sampler):
        raise TypeError(f"init_sampler must be callable (key, data) -> dict, got {init_sampler!r}")
    return int(n_starts)


def fit_problem(
    model: Model,
    problem: Problem,
    solver,
    init: dict | None,
    max_steps: int,
    cov_type: str,
    n_starts: int = 1,
    key=None,
    init_sampler=None,
) -> FitResult:
    """The traceable core of :func:`fit`: start, solve, assemble (no validation).

    ``solver`` is a resolved solver object; ``init`` a dict of natural-scale starting values.
    """
    u0 = starting_point(model, problem, init)
    objective = model_objective(model)
    if n_starts == 1:
        solution = solve(solver, objective, u0, problem, max_steps)
        n_best = (solution.status == Status.CONVERGED).astype(jnp.int32)
    else:
        starts = draw_starts(model, problem, u0, key, n_starts, init_sampler)
        solutions = jax.vmap(lambda u: solve(solver, objective, u, problem, max_steps))(starts)
        solution, n_best = best_start(solutions)
    return assemble(model, problem, solution, n_best, cov_type)


def model_objective(model: Model) -> Objective:
    """The negative log-likelihood a solver minimises, with the model's derivatives."""
    return Objective(model.objective, model.objective_derivatives)


def starting_point(model: Model, problem: Problem, init: dict | None) -> jax.Array:
    """The start on the unconstrained scale: the model's data-driven start, overridden by the
    natural-scale values of ``init``. Checks the data's shapes (at trace time, under jit too)."""
    model.check_shapes(problem.data)
    start = dict(model.init_params(problem))
    if init is not None:
        for name, value in init.items():
            if name in model.specs and jnp.shape(value) != model.specs[name].shape:
                raise ValueError(
                    f"init[{name!r}]: expected shape {model.specs[name].shape}, "
                    f"got {jnp.shape(value)}"
                )
        start.update({name: jnp.asarray(value) for name, value in init.items()})
    check_logpdf_shape(model, start, problem.data)
    return model.to_unconstrained(start).astype(problem.dtype)


def assemble(model: Model, problem: Problem, solution, n_best, cov_type: str, defer: bool = False):
    """The result of a solver's ``solution``: covariance, final status, estimates.

    ``n_best`` counts the starts that reached the optimum. With ``defer``, the expensive part of
    the model's diagnosis is left out (:meth:`~jaxmle.Model.diagnose_screened`) and the return
    value is ``(result, suspect)``: the fits whose status it could still change.
    """
    solution = canonical_labelling(model, solution)

    curvature = model.covariance_hessian(solution.u, problem, solution.hessian)
    cov_u, ok = unconstrained_covariance(model, solution.u, problem, curvature, cov_type)
    status = jnp.where(
        (solution.status == Status.CONVERGED) & ~ok, Status.SINGULAR_HESSIAN, solution.status
    )
    status = jnp.where(
        (status == Status.CONVERGED) & on_boundary(model, cov_u), Status.BOUNDARY, status
    )
    params = model.from_unconstrained(solution.u)
    if defer:
        status, suspect = model.diagnose_screened(params, problem, status)
    else:
        status = model.diagnose(params, problem, status)
    valid = valid_problem(model, problem)
    status = jnp.where(valid, status, Status.INVALID_DATA).astype(jnp.int32)
    cov = delta_method(model, solution.u, cov_u)
    log_penalty = model.log_penalty(solution.u, problem)
    estimates = dict(
        params=params,
        se=model.unflatten(jnp.sqrt(jnp.diagonal(cov))),
        cov=cov,
        unconstrained=solution.u,
        cov_unconstrained=cov_u,
        loglik=-solution.f - log_penalty,
        log_penalty=log_penalty,
        grad_norm=jnp.max(jnp.abs(solution.g)),
    )
    # Data outside the support give no estimate at all, not a number that looks like one.
    estimates = jax.tree_util.tree_map(lambda leaf: jnp.where(valid, leaf, jnp.nan), estimates)
    result = FitResult(
        **nan_derivatives_unless(status == Status.CONVERGED, estimates),
        nobs=problem.nobs,
        status=status,
        n_iter=solution.n_iter,
        n_best=n_best,
        model=model,
        cov_type=cov_type,
    )
    return (result, suspect & valid) if defer else result
