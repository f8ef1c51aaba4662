"""The compiled program of one chunk: ``jit(vmap(fit))``, optionally sharded over devices.

* **Sharding** (``mesh``): each chunk is split over a 1-D mesh of devices along the batch axis and
  every device runs its own solver loop on its share (``shard_map``), so a device stops as soon
  as its own fits have converged.
* **CPU programs** are compiled ahead of time, with options that compile faster on a CPU (see
  :mod:`jaxmle._compile`), and their trace tells whether they hold LAPACK kernels, which must not
  run in several threads at once (see :data:`BLOCKING_PRIMITIVES`).
"""

from __future__ import annotations

import functools

import jax
import jax.extend.core
import numpy as np
from jax.sharding import PartitionSpec as P

from .._compile import compile_lowered
from .._fit import fit_problem
from .._problem import Problem

__all__ = ["abstract", "chunk_program", "compiled", "fit_chunk", "per_chunk"]


@functools.partial(
    jax.jit,
    static_argnames=(
        "model",
        "solver",
        "max_steps",
        "cov_type",
        "n_starts",
        "init_sampler",
        "mesh",
    ),
)
def fit_chunk(
    per_dataset,
    shared_init,
    key,
    *,
    model,
    solver,
    max_steps,
    cov_type,
    n_starts,
    init_sampler,
    mesh,
):
    """Fit every dataset of a chunk.

    Args:
        per_dataset: ``(data, weights, groups, init, index)``, each with a leading chunk axis
            (``None`` where absent): the datasets, their weights, cluster labels, per-dataset
            starting values and their indices in the whole batch (for their random keys).
        shared_init: starting values shared by every dataset (a dict, possibly empty).
        key: the random key of multiple starts (dataset ``i`` draws with ``fold_in(key, i)``),
            or ``None``.
    """

    def local(per_dataset, shared_init, key):
        def one(data, weights, groups, init, index):
            start = {**shared_init, **init} or None
            fit_key = None if key is None else jax.random.fold_in(key, index)
            problem = Problem.build(data, weights, groups)
            return fit_problem(
                model, problem, solver, start, max_steps, cov_type, n_starts, fit_key, init_sampler
            )

        return jax.vmap(one)(*per_dataset)

    if mesh is None:
        return local(per_dataset, shared_init, key)
    # Every device runs its own while_loop over its share of the batch: no per-iteration
    # cross-device synchronisation, and a device stops when its own fits are done.
    sharded = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P("batch"), P(), P()),
        out_specs=P("batch"),
        check_vma=False,
    )
    return sharded(per_dataset, shared_init, key)


#: Primitives lowered to jaxlib's CPU LAPACK kernels. In jaxlib 0.10 those kernels split a batch
#: over XLA's intra-op thread pool and block until it is done: fits running concurrently can each
#: hold a pool thread while waiting for the others (a deadlock), so fit programs that contain one
#: run one chunk at a time. jaxmle's own solvers avoid them for up to ``UNROLL_MAX`` parameters.
BLOCKING_PRIMITIVES = frozenset(
    {
        "cholesky",
        "eig",
        "eigh",
        "geqp3",
        "geqrf",
        "hessenberg",
        "householder_product",
        "lu",
        "qr",
        "schur",
        "svd",
        "triangular_solve",
        "tridiagonal",
        "tridiagonal_solve",
    }
)
_PROGRAMS: dict = {}
_MAX_PROGRAMS = 64


def chunk_program(solve, per_dataset, shared_init, key, chunk: int):
    """``(program, concurrent)``: ``solve`` (:func:`fit_chunk` with its static options bound)
    compiled for one chunk's shapes, and whether it is free of LAPACK-backed primitives (so that
    chunks may run in several threads). Cached per options and shapes, like ``jax.jit``'s own
    cache."""
    args = (
        per_chunk(per_dataset, chunk),
        abstract(shared_init),
        None if key is None else jax.ShapeDtypeStruct(key.shape, key.dtype),
    )
    return compiled(solve, *args)


def per_chunk(per_dataset, chunk: int):
    """Abstract values of one chunk of the batch ``per_dataset`` (leading axis ``chunk``)."""
    return jax.tree_util.tree_map(
        lambda leaf: jax.ShapeDtypeStruct((chunk,) + tuple(np.shape(leaf)[1:]), _dtype(leaf)),
        per_dataset,
    )


def abstract(tree):
    """Abstract values (shape and dtype) of the leaves of ``tree``."""
    return jax.tree_util.tree_map(lambda v: jax.ShapeDtypeStruct(np.shape(v), _dtype(v)), tree)


def compiled(program, *args):
    """``(executable, concurrent)``: ``program`` (a ``functools.partial`` of a jitted function
    with its static options bound) compiled ahead of time for the abstract ``args``, and whether
    it may run in several threads at once (no LAPACK-backed primitive)."""
    signature = (
        program.func,
        tuple(sorted(program.keywords.items(), key=lambda item: item[0])),
        jax.tree_util.tree_structure(args),
        tuple(jax.tree_util.tree_leaves(args)),
    )
    if signature not in _PROGRAMS:
        traced = program.func.trace(*args, **program.keywords)
        concurrent = not _contains(traced.jaxpr.jaxpr, BLOCKING_PRIMITIVES)
        if len(_PROGRAMS) >= _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[signature] = (compile_lowered(traced.lower()), concurrent)
    return _PROGRAMS[signature]


def _dtype(leaf):
    dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)
    return jax.dtypes.canonicalize_dtype(dtype)


def _contains(jaxpr, primitives) -> bool:
    """Whether ``jaxpr`` or any jaxpr nested in its equations' parameters uses ``primitives``."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in primitives:
            return True
        for param in eqn.params.values():
            for value in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(value, "jaxpr", value)  # a ClosedJaxpr holds its Jaxpr
                if isinstance(inner, jax.extend.core.Jaxpr) and _contains(inner, primitives):
                    return True
    return False
