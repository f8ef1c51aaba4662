"""The design of a simulation study: scenarios, sample sizes, replicate keys and the chunk plan.

Everything here is checked eagerly, before anything is compiled, and raises ``ValueError`` or
``TypeError`` naming the argument. A replicate's random key is a function of ``(key, scenario,
n, replicate)`` only,

    key(s, n, r) = fold_in(fold_in(fold_in(key, s), n), r),

and the dataset of its ``a``-th attempt (``a = 0`` first, ``a > 0`` when a non-converged replicate
is re-simulated) is drawn with ``fold_in(key(s, n, r), a)``; so the results do not depend on
chunking, on the order of the work, or on resumption from a checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from .._constraints import Real

__all__ = [
    "CI_METHODS",
    "Design",
    "check_truths",
    "make_design",
    "parse_key",
    "parse_sizes",
    "parse_truths",
    "replicate_keys",
    "study_bucket",
]

CI_METHODS = ("wald", "transformed", "profile")


def study_bucket(n: int) -> int:
    """Padded length for sample size ``n``: the next power of two, at least 8.

    Sizes in one octave share a compiled program (rows beyond ``n`` get zero weight), so a sweep
    over 26 sizes from 10 to 260 compiles 6 programs.

    Examples:
        >>> [study_bucket(n) for n in (5, 10, 16, 17, 250)]
        [8, 16, 16, 32, 256]
    """
    return max(8, 1 << (int(n) - 1).bit_length())


@dataclasses.dataclass(frozen=True)
class Design:
    """A checked study design (see :func:`~jaxmle.study`)."""

    truths: tuple[dict, ...]  # one natural-scale params dict (numpy float64) per scenario
    sizes: tuple[int, ...]
    n_rep: int
    key_data: tuple[int, ...]  # jax.random.key_data(key), for the checkpoint manifest
    ci: tuple[str, ...]
    level: float
    resimulate: int
    chunk_size: int
    null: dict  # parameter name -> null value of the rejection-rate measure

    def chunks(self):
        """``(scenario, n, start, stop)`` for every chunk, in run order."""
        for s in range(len(self.truths)):
            for n in self.sizes:
                for start in range(0, self.n_rep, self.chunk_size):
                    yield s, n, start, min(start + self.chunk_size, self.n_rep)

    def describe(self) -> dict:
        """A JSON-ready description: the checkpoint manifest compares it on resumption."""
        return {
            "truths": [{k: np.asarray(v).tolist() for k, v in t.items()} for t in self.truths],
            "sizes": list(self.sizes),
            "n_rep": self.n_rep,
            "key": list(self.key_data),
            "ci": list(self.ci),
            "level": self.level,
            "resimulate": self.resimulate,
            "chunk_size": self.chunk_size,
            "null": {k: float(v) for k, v in self.null.items()},
        }


def make_design(
    model, truths, sizes, n_rep, key, ci, level, resimulate, chunk_size, null
) -> Design:
    """Check the arguments of :func:`~jaxmle.study` and build its :class:`Design`.

    ``model`` is bound to the generated data's layout (so that its parameter shapes are known);
    ``truths`` and ``sizes`` come from :func:`parse_truths` and :func:`parse_sizes`.
    """
    check_truths(model, truths)
    if isinstance(n_rep, bool) or not isinstance(n_rep, (int, np.integer)) or n_rep < 2:
        raise ValueError(f"n_rep must be an integer >= 2, got {n_rep!r}")
    ci = _ci(ci)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if isinstance(resimulate, bool) or not isinstance(resimulate, (int, np.integer)):
        raise TypeError(f"resimulate must be a non-negative integer, got {resimulate!r}")
    if resimulate < 0:
        raise ValueError(f"resimulate must be a non-negative integer, got {resimulate}")
    if chunk_size is None:
        chunk_size = min(int(n_rep), 2000)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    return Design(
        truths=truths,
        sizes=sizes,
        n_rep=int(n_rep),
        key_data=tuple(int(v) for v in np.asarray(jax.random.key_data(key))),
        ci=ci,
        level=float(level),
        resimulate=int(resimulate),
        chunk_size=int(min(chunk_size, n_rep)),
        null=_null(model, null),
    )


@jax.jit
def replicate_keys(key, scenario: int, n: int, reps, attempts):
    """Data keys of replicates ``reps`` (1-D ints) at their ``attempts``; traceable."""
    base = jax.random.fold_in(jax.random.fold_in(key, scenario), n)
    return jax.vmap(lambda r, a: jax.random.fold_in(jax.random.fold_in(base, r), a))(reps, attempts)


def parse_truths(truth) -> tuple[dict, ...]:
    """One dict of float64 arrays per scenario (checked against the model by
    :func:`check_truths`)."""
    scenarios = [truth] if isinstance(truth, Mapping) else truth
    if not isinstance(scenarios, Sequence) or isinstance(scenarios, str) or not scenarios:
        raise TypeError(
            f"truth must be a dict of parameter values or a non-empty list of them, got {truth!r}"
        )
    parsed = []
    for s, scenario in enumerate(scenarios):
        where = _where(truth, s)
        if not isinstance(scenario, Mapping):
            raise TypeError(f"{where} must be a dict of parameter values, got {scenario!r}")
        values = {}
        for name, value in scenario.items():
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{where}[{name!r}] must be numbers, got {value!r}") from err
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{where}[{name!r}] must be finite, got {value}")
            values[name] = value
        parsed.append(values)
    return tuple(parsed)


def check_truths(model, truths) -> None:
    """Each scenario names every parameter, with its shape, inside its constraint."""
    for s, truth in enumerate(truths):
        where = "truth" if len(truths) == 1 else f"truth[{s}]"
        if set(truth) != set(model.specs):
            raise ValueError(
                f"{where} must give every parameter of {model.name} ({sorted(model.specs)}), "
                f"got {sorted(truth)}"
            )
        for name, spec in model.specs.items():
            if truth[name].shape != spec.shape:
                raise ValueError(
                    f"{where}[{name!r}] must have shape {spec.shape}, got {truth[name].shape}"
                )
            if not np.all(spec.contains(truth[name])):
                raise ValueError(
                    f"{where}[{name!r}] = {truth[name]} lies outside the parameter's constraint "
                    f"({type(spec).__name__})"
                )


def _where(truth, s: int) -> str:
    return "truth" if isinstance(truth, Mapping) else f"truth[{s}]"


def parse_sizes(sizes) -> tuple[int, ...]:
    values = [sizes] if isinstance(sizes, (int, np.integer)) else list(sizes)
    if not values:
        raise ValueError("sizes must name at least one sample size")
    for n in values:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"sizes must be positive integers, got {n!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"sizes must not repeat, got {values}")
    return tuple(int(n) for n in values)


def _ci(ci) -> tuple[str, ...]:
    methods = (ci,) if isinstance(ci, str) else tuple(ci)
    unknown = [m for m in methods if m not in CI_METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise ValueError(f"ci must be one or more distinct methods of {CI_METHODS}, got {ci!r}")
    return methods


def parse_key(key):
    """A typed ``jax.random`` key (raw ``uint32`` keys are wrapped)."""
    if key is None:
        raise ValueError("key is required: a jax.random.key(seed) that fixes every replicate")
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise TypeError(f"key must be a single jax.random key, got shape {key.shape}")
        return key
    data = np.asarray(key)
    if data.dtype != np.uint32 or data.ndim != 1:
        raise TypeError(f"key must be a jax.random key, got {key!r}")
    return jax.random.wrap_key_data(data)


def _null(model, null) -> dict:
    """Null values of the rejection-rate measure: by default 0 for unconstrained parameters."""
    if null is None:
        return {name: 0.0 for name, spec in model.specs.items() if isinstance(spec, Real)}
    if not isinstance(null, Mapping):
        raise TypeError(f"null must be a dict of parameter name -> null value, got {null!r}")
    unknown = sorted(set(null) - set(model.specs))
    if unknown:
        raise ValueError(
            f"null names unknown parameters {unknown}; {model.name} has {list(model.specs)}"
        )
    return {name: float(value) for name, value in null.items()}
