"""Compile time of one dataset's fit under each set of XLA CPU options, and its run time.

The figures behind ``jaxmle/_compile.py``: ``python bench/compile_times.py`` (float64, CPU). Each
program is lowered afresh (caches cleared) and compiled once per option set; the run time is the
mean of 30 calls of the compiled fit.
"""

import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmle as jm  # noqa: E402
from jaxmle._fit import _fit_compiled  # noqa: E402
from jaxmle._solvers import resolve_solver  # noqa: E402

OPTION_SETS = {
    "XLA defaults": {},
    "older emitters": {"xla_cpu_use_fusion_emitters": False},
    "older emitters, LLVM 1": {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 1,
    },
    "older emitters, LLVM 0 (jm.fit)": {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 0,
    },
}


def cases():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.gamma(2.0, 1.0, 200))
    X = jnp.asarray(rng.normal(size=(500, 5)))
    y = jnp.asarray((rng.random(500) < 0.5).astype(float))
    return [
        ("Gamma", jm.Gamma(), x),
        ("Logit", jm.Logit(), {"X": X, "y": y}),
        ("StudentT", jm.StudentT(), x),
    ]


def main():
    for label, options in OPTION_SETS.items():
        row = []
        for name, model, data in cases():
            jax.clear_caches()
            bound = model.bind(data)
            lowered = _fit_compiled._plain.trace(
                data,
                None,
                None,
                None,
                None,
                model=bound,
                solver=resolve_solver(None, None),
                max_steps=2000,
                cov_type="observed",
                n_starts=1,
                init_sampler=None,
            ).lower()
            start = time.perf_counter()
            program = lowered.compile(compiler_options=options)
            compile_s = time.perf_counter() - start
            jax.block_until_ready(program(data, None, None, None, None).params)
            start = time.perf_counter()
            for _ in range(30):
                jax.block_until_ready(program(data, None, None, None, None).params)
            run_ms = (time.perf_counter() - start) / 30 * 1e3
            row.append(f"{name} {compile_s:.2f} s / {run_ms:.2f} ms")
        print(f"{label:32s} " + " | ".join(row))


if __name__ == "__main__":
    main()
