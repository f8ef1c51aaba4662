"""`fit`: one dataset, pure and jittable. Batching is ``jax.vmap`` (or :func:`~jaxmle.fit_many`).

The estimate maximises the weighted log-likelihood ``sum_i w_i log p(x_i | theta)``. Eager calls
(outside ``jit``) validate the inputs and raise ``ValueError`` naming the problem; traced calls
cannot raise, so any problem becomes the fit's status code.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._inference.covariance import delta_method, unconstrained_covariance
from ._model import Model
from ._results import FitResult
from ._solvers import Objective, Status, iterate, resolve_solver

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
        tol: solver tolerance (see :class:`~jaxmle.Newton`); default depends on the dtype.
        cov_type: covariance of the estimate: ``"observed"`` (inverse observed information,
            default), ``"expected"`` (inverse Fisher information, where the model supplies it),
            ``"HC0"`` (sandwich ``H^{-1} (sum_i w_i s_i s_i') H^{-1}`` from per-observation
            scores), ``"HC1"`` (HC0 times ``n / (n - k)``) or ``"cluster"`` (sandwich of cluster
            score sums with the correction ``G/(G-1) * (N-1)/(N-K)``).
        groups: cluster labels ``(n,)`` for ``cov_type="cluster"``.

    Returns:
        A :class:`~jaxmle.FitResult`.

    Examples:
        >>> import jax, jax.numpy as jnp, jax.scipy.stats as jss
        >>> import jaxmle as jm
        >>> model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
        ...                  {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
        >>> x = jnp.array([0.5, 1.5, 2.0, 3.0])
        >>> res = jm.fit(model, x)
        >>> round(float(res.params["loc"]), 6), round(float(res.params["scale"]), 6)
        (1.75, 0.901388)
    """
    model = model.bind(data)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    weights = None if weights is None else jnp.asarray(weights)
    if not _is_traced((data, weights, init, groups)):
        validate_inputs(model, data, weights)
        if groups is not None:
            validate_groups(groups, n_observations(data))
        if init is not None:
            _validate_init(model, init)
    if init is not None:
        init = {key: jnp.asarray(value) for key, value in init.items()}
    return _fit_compiled(
        data,
        weights,
        init,
        groups,
        model=model,
        solver=solver,
        max_steps=int(max_steps),
        tol=tol,
        cov_type=cov_type,
    )


@functools.partial(jax.jit, static_argnames=("model", "solver", "max_steps", "tol", "cov_type"))
def _fit_compiled(data, weights, init, groups, *, model, solver, max_steps, tol, cov_type):
    # One compilation per (model, solver, options, shapes): repeated eager fits reuse it, and
    # inside a caller's jit/vmap this simply inlines.
    return fit_prepared(model, data, weights, solver, init, max_steps, tol, cov_type, groups)


def fit_prepared(model, data, weights, solver, init, max_steps, tol, cov_type, groups) -> FitResult:
    """The traceable core of :func:`fit` (no validation)."""
    n = n_observations(data)
    dtype = float_dtype(data)
    weights = jnp.ones((n,), dtype) if weights is None else weights.astype(dtype)
    start = dict(model.init_params(data, weights))
    if init is not None:
        start.update({key: jnp.asarray(value) for key, value in init.items()})
    u0 = model.to_unconstrained(start).astype(dtype)

    def value(u):
        return model.objective(u, data, weights)

    objective = Objective(
        value=value,
        value_and_grad=jax.value_and_grad(value),
        derivatives=lambda u: model.objective_derivatives(u, data, weights),
    )
    solution = iterate(resolve_solver(solver, tol), objective, u0, max_steps)

    cov_u, ok = unconstrained_covariance(
        model, solution.u, data, weights, solution.hessian, cov_type, groups
    )
    status = jnp.where(
        (solution.status == Status.CONVERGED) & ~ok, Status.SINGULAR_HESSIAN, solution.status
    )
    params = model.from_unconstrained(solution.u)
    status = model.diagnose(params, data, weights, status).astype(jnp.int32)
    cov = delta_method(model, solution.u, cov_u)
    return FitResult(
        params=params,
        se=model.unflatten(jnp.sqrt(jnp.diagonal(cov))),
        cov=cov,
        unconstrained=solution.u,
        cov_unconstrained=cov_u,
        loglik=-solution.f,
        nobs=jnp.sum(weights),
        status=status,
        n_iter=solution.n_iter,
        grad_norm=jnp.max(jnp.abs(solution.g)),
        model=model,
        cov_type=cov_type,
    )


# -- helpers shared with fit_many ---------------------------------------------------------------
def n_observations(data) -> int:
    """Length of the leading (observation) axis shared by every leaf of ``data``."""
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data is empty: it must hold at least one array")
    return int(jnp.shape(leaves[0])[0]) if jnp.ndim(leaves[0]) else 0


def float_dtype(data):
    """The floating dtype to compute in: that of the data's float leaves, else JAX's default."""
    floats = [
        leaf.dtype
        for leaf in jax.tree_util.tree_leaves(data)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    return jnp.result_type(*floats) if floats else jnp.result_type(float)


def _is_traced(tree) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def leaf_label(path) -> str:
    """``data``, ``data['X']``, ... for error messages."""
    return "data" + jax.tree_util.keystr(path)


def validate_inputs(model: Model, data, weights, where: str = "") -> None:
    """Eager checks: shapes agree, values finite, weights valid, data in the model's support.

    Messages start with ``where`` (e.g. ``"dataset 3: "``) and name the model and the argument.
    """
    prefix = where
    where = f"{where}{model.name}: "
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    if not leaves:
        raise ValueError(f"{where}data is empty: it must hold at least one array")
    lengths = {}
    for path, leaf in leaves:
        label = leaf_label(path)
        if leaf.ndim == 0:
            raise ValueError(
                f"{where}{label} is a scalar; every leaf needs a leading observation axis"
            )
        lengths[label] = leaf.shape[0]
        if not (jnp.issubdtype(leaf.dtype, jnp.number) or leaf.dtype == bool):
            raise TypeError(f"{where}{label} has non-numeric dtype {leaf.dtype}")
        values = np.asarray(leaf)
        may_be_infinite = _top_key(path) in model.infinite_data_keys
        invalid = np.isnan(values) if may_be_infinite else ~np.isfinite(values)
        if np.any(invalid):
            bad = np.argwhere(invalid)
            kind = "NaN" if may_be_infinite else "non-finite value(s) (NaN or inf)"
            raise ValueError(
                f"{where}{label} contains {len(bad)} {kind}, first at "
                f"index {tuple(int(i) for i in bad[0])}"
            )
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{where}data leaves disagree on the number of observations (leading axis): "
            + ", ".join(f"{k} has {v}" for k, v in lengths.items())
        )
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"{where}data has no observations")
    if weights is not None:
        w = np.asarray(weights)
        if w.shape != (n,):
            raise ValueError(f"{where}weights must have shape ({n},) to match data, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{where}weights contain non-finite values (NaN or inf)")
        if np.any(w < 0):
            raise ValueError(
                f"{where}weights must be non-negative; found {int(np.sum(w < 0))} negative "
                f"weight(s), first at index {int(np.argmax(w < 0))}"
            )
        if not np.any(w > 0):
            raise ValueError(f"{where}weights are all zero: nothing to fit")
    try:
        model.validate_data(data)
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None


def validate_groups(groups, n: int, where: str = "") -> None:
    """Cluster labels: shape ``(n,)`` and no NaN."""
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"{where}groups must have shape ({n},) to match data, got {labels.shape}")
    if np.issubdtype(labels.dtype, np.floating) and np.any(np.isnan(labels)):
        raise ValueError(f"{where}groups contain NaN labels")


def _top_key(path):
    """The top-level dict key of a leaf path (``None`` for other containers)."""
    return getattr(path[0], "key", None) if path else None


def _validate_init(model: Model, init: dict) -> None:
    unknown = set(init) - set(model.specs)
    if unknown:
        raise ValueError(
            f"init names unknown parameter(s) {sorted(unknown)}; the model has {list(model.specs)}"
        )
    for key, value in init.items():
        model.specs[key].check(value, f"init[{key!r}]")
