"""XLA compile options for the chunk programs of :func:`~jaxmle.fit_many` on a CPU.

XLA's MLIR fusion emitters (the default of jaxlib 0.10) compile a ``fit_many`` chunk 30-40% more
slowly than its older emitters, for run times equal within noise (2-core CPU, one chunk of each
bench workload, compile time: logistic 3.4 -> 2.4 s, Weibull 1.6 -> 0.9 s, Student-t 3.1 -> 1.9 s,
NB2 3.6 -> 2.6 s, a custom logistic ``Model`` 3.0 -> 1.8 s; see ``bench/RESULTS.md``), and most of
a first call is this compilation. The options belong to these programs only: nothing global
changes. (Single fits of ``jm.fit`` showed no gain, 18.5 against 18.9 s for eight NIST problems,
so they keep XLA's defaults.) A jaxlib that no longer knows an option compiles with its defaults.
"""

from __future__ import annotations

import jax

#: Options for the chunk programs compiled for a CPU.
CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def compile_lowered(lowered):
    """``lowered.compile()`` with :data:`CPU_COMPILER_OPTIONS` on a CPU (plain elsewhere, or where
    this jaxlib rejects them).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> program = compile_lowered(jax.jit(lambda x: 2 * x).lower(jnp.arange(3.0)))
        >>> program(jnp.arange(3.0)).tolist()
        [0.0, 2.0, 4.0]
    """
    if jax.default_backend() != "cpu":
        return lowered.compile()
    try:
        return lowered.compile(compiler_options=CPU_COMPILER_OPTIONS)
    except Exception as err:  # an option unknown to this XLA; a real compile error recurs below
        if not any(name in str(err) for name in CPU_COMPILER_OPTIONS):
            raise
        return lowered.compile()
