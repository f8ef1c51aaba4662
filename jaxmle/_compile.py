"""XLA compile options for jaxmle's own top-level programs on a CPU.

XLA's MLIR fusion emitters (the default of jaxlib 0.10) compile jaxmle's programs 40-55% more
slowly than its older emitters, for run times equal within noise (2-core CPU, float64): one
``jm.fit`` of a Gamma 1.29 -> 0.59 s, a Student-t 2.04 -> 1.30 s, a logistic regression (n=500,
p=5) 2.06 -> 1.21 s, eight NIST StRD problems 14.9 -> 8.8 s in all; a ``fit_many`` chunk of the
bench workloads 30-40% (logistic 3.4 -> 2.4 s, Weibull 1.6 -> 0.9 s; see ``bench/RESULTS.md``).
LLVM's optimisation level trades the rest: at level 1 a batch program compiles about 25% faster
than at the default 2 and runs as fast (``fit_many`` of 4,000 logistic fits, n=500, p=5: cold
2.86 -> 2.11 s, warm 0.145 -> 0.151 s; Student-t n=200: 1.68 -> 1.48 s, 0.153 -> 0.150 s), at
level 0 a batch runs twice as slowly, but a single dataset's fit, whose run time is a fraction
of a millisecond, compiles another 40-60% faster for the same run time (Gamma 0.53 -> 0.31 s,
logistic 1.22 -> 0.51 s, Student-t 1.04 -> 0.45 s). Batch programs also keep their matrix
products on the thread that runs them (``xla_cpu_multi_thread_eigen=False``): jaxmle already runs
one chunk per core, and Eigen's threads on the other cores only contend with those chunks (40
Firth chunks of 250 fits back to back: 201-226 -> 141-162 ms; a ``fit_many`` of 10,000: 218-231
-> 162-168 ms), and a product no longer depends on how many threads Eigen splits it over.
Most of a first call is compilation, so
jaxmle compiles the programs it owns with :data:`CPU_COMPILER_OPTIONS` (batches) or
:data:`SINGLE_FIT_OPTIONS` (``jm.fit``). The options belong to these programs only: nothing global
changes, floating-point semantics do not depend on them (XLA's CPU backend allows no fast-math
reassociation by default), and inside a caller's ``jit``, ``vmap`` or ``grad`` the same functions
trace as plain ``jax.jit`` (JAX accepts compile options on the outermost program only, which is
the caller's). A jaxlib that no longer knows an option compiles with its defaults.
"""

from __future__ import annotations

import functools

import jax

__all__ = ["CPU_COMPILER_OPTIONS", "SINGLE_FIT_OPTIONS", "compile_lowered", "program"]

#: Options for the batch programs jaxmle compiles for a CPU (``fit_many`` chunks, bootstrap
#: replicates, study chunks, profile intervals).
CPU_COMPILER_OPTIONS = {
    "xla_cpu_use_fusion_emitters": False,
    "xla_backend_optimization_level": 1,
    "xla_cpu_multi_thread_eigen": False,
}
#: Options for one dataset's fit, whose run time is negligible next to its compilation.
SINGLE_FIT_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}

# Set once this jaxlib has rejected the options: everything then compiles with its defaults.
_options_unknown = False


def _rejects_options(err: Exception) -> bool:
    return any(name in str(err) for name in (*CPU_COMPILER_OPTIONS, *SINGLE_FIT_OPTIONS))


def _tune() -> bool:
    return not _options_unknown and jax.default_backend() == "cpu"


def compile_lowered(lowered):
    """``lowered.compile()`` with :data:`CPU_COMPILER_OPTIONS` on a CPU (plain elsewhere, or where
    this jaxlib rejects them).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> program = compile_lowered(jax.jit(lambda x: 2 * x).lower(jnp.arange(3.0)))
        >>> program(jnp.arange(3.0)).tolist()
        [0.0, 2.0, 4.0]
    """
    global _options_unknown
    if not _tune():
        return lowered.compile()
    try:
        return lowered.compile(compiler_options=CPU_COMPILER_OPTIONS)
    except Exception as err:  # an option unknown to this XLA; a real compile error recurs below
        if not _rejects_options(err):
            raise
        _options_unknown = True
        return lowered.compile()


class _Program:
    """A function jitted twice: with the CPU options when called from Python with concrete
    arguments, plainly when traced (inside a caller's ``jit``/``vmap``/``grad``)."""

    def __init__(self, fun, options, jit_kwargs):
        self._plain = jax.jit(fun, **jit_kwargs)
        self._tuned = jax.jit(fun, compiler_options=options, **jit_kwargs)
        functools.update_wrapper(self, fun)

    def __call__(self, *args, **kwargs):
        global _options_unknown
        traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs)))
        if traced or not _tune():
            return self._plain(*args, **kwargs)
        try:
            return self._tuned(*args, **kwargs)
        except ValueError as err:
            # Called inside a trace with only constants as arguments (a closure under the
            # caller's jit): JAX refuses options there, and the plain program inlines.
            if "top-level" not in str(err):
                raise
        except Exception as err:
            if not _rejects_options(err):
                raise
            _options_unknown = True
        return self._plain(*args, **kwargs)

    def _cache_size(self) -> int:
        """Compiled programs held (both variants), as ``jax.jit``'s own ``_cache_size``."""
        return self._plain._cache_size() + self._tuned._cache_size()

    def clear_cache(self) -> None:
        self._plain.clear_cache()
        self._tuned.clear_cache()


def program(fun=None, *, options=None, **jit_kwargs):
    """``jax.jit(fun, **jit_kwargs)`` that compiles with ``options`` (default
    :data:`CPU_COMPILER_OPTIONS`) when called at the top level on a CPU; usable as a decorator
    with or without arguments.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> double = program(lambda x: 2 * x)
        >>> double(jnp.arange(3.0)).tolist(), jax.jit(double)(jnp.arange(3.0)).tolist()
        ([0.0, 2.0, 4.0], [0.0, 2.0, 4.0])
        >>> jax.grad(lambda x: double(x).sum())(jnp.arange(3.0)).tolist()
        [2.0, 2.0, 2.0]
    """
    if fun is None:
        return functools.partial(program, options=options, **jit_kwargs)
    return _Program(fun, CPU_COMPILER_OPTIONS if options is None else options, jit_kwargs)
