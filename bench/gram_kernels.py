"""What XLA's CPU backend makes of the products in a GLM's Newton evaluation, per fit.

Run from the repository root::

    python bench/gram_kernels.py            # n = 500, p = 5 (the logistic workload's shapes)
    python bench/gram_kernels.py --n 100    # the Firth workload's n

Each product is compiled the way ``fit_many`` compiles its chunks (``vmap`` over a chunk of
datasets, :data:`jaxmle._compile.CPU_COMPILER_OPTIONS`) and repeated ``--reps`` times inside one
``while_loop`` (each repetition depends on the previous one, so none is hoisted), and the table
gives microseconds per dataset and product, the best of five runs:

* ``X' diag(w) X``, ``X`` stored ``(n, p)`` as users pass it (the Hessian of a GLM);
* the same with ``X`` stored transposed, ``(p, n)``;
* ``X beta`` and ``beta' X'`` (the linear predictor) in the two layouts.

The floating-point work of the Gram is ``n p^2`` multiply-adds (12,500 at n = 500, p = 5); the
table's last column gives the rate it runs at. Output: stdout and ``bench/results/gram_kernels.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxmle._compile import CPU_COMPILER_OPTIONS  # noqa: E402

HERE = Path(__file__).resolve().parent
CHUNKS = (4, 16, 64, 256)

#: name: (product of one dataset's X and w (the next repetition's input feeds back through
#: ``eps``), whether X is stored transposed).
PRODUCTS = {
    "X' diag(w) X, X (n, p)": (lambda X, w: X.T @ (X * w[:, None]), False),
    "X' diag(w) X, X (p, n)": (lambda X, w: (X * w) @ X.T, True),
    "X beta, X (n, p)": (lambda X, w: jnp.outer(X @ w[: X.shape[1]], w[: X.shape[1]]), False),
    "beta' X', X (p, n)": (lambda X, w: jnp.outer(w[: X.shape[0]] @ X, w[: X.shape[0]]), True),
}


def per_fit_us(product, transposed: bool, chunk: int, n: int, p: int, reps: int) -> float:
    """Microseconds per dataset and repetition of ``product`` on chunks of ``chunk`` datasets."""

    def one(X, w):
        def body(carry):
            acc, k = carry
            out = product(X, w + 1e-300 * acc[0, 0])
            return acc + out[:1, :1], k + 1

        return jax.lax.while_loop(lambda c: c[1] < reps, body, (jnp.zeros((1, 1)), 0))[0]

    shape = (chunk, p, n) if transposed else (chunk, n, p)
    rng = np.random.default_rng(0)
    X = jax.device_put(rng.normal(size=shape))
    w = jax.device_put(rng.uniform(size=(chunk, n)))
    compiled = jax.jit(jax.vmap(one)).lower(X, w).compile(compiler_options=CPU_COMPILER_OPTIONS)
    compiled(X, w).block_until_ready()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        compiled(X, w).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / (reps * chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--p", type=int, default=5)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    lines = [
        f"# Products of a GLM's Newton evaluation, per dataset (n = {args.n}, p = {args.p})",
        "",
        f"`python bench/gram_kernels.py --n {args.n} --p {args.p}`: microseconds per dataset, "
        f"`vmap` over chunks of 4-256 datasets, {args.reps} repetitions inside one `while_loop`.",
        "",
        "| product | " + " | ".join(f"chunk {c}" for c in CHUNKS) + " | GFMA/s (best) |",
        "| --- | " + " | ".join("---:" for _ in CHUNKS) + " | ---: |",
    ]
    for name, (product, transposed) in PRODUCTS.items():
        times = [per_fit_us(product, transposed, c, args.n, args.p, args.reps) for c in CHUNKS]
        fma = args.n * args.p * (args.p if "diag" in name else 1)
        rate = fma / min(times) / 1e3
        lines.append(f"| `{name}` | " + " | ".join(f"{t:.2f}" for t in times) + f" | {rate:.1f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    out = HERE / "results" / "gram_kernels.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
