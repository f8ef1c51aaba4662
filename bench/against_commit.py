"""jaxmle now against jaxmle at an earlier commit: same workloads, same machine, bit for bit.

Run from the repository root::

    python bench/against_commit.py eee8dd3                      # Student-t, logistic, Firth
    python bench/against_commit.py eee8dd3 --only student_t --batch 2000

The commit is checked out in a temporary ``git worktree``; each side runs in its own
subprocess (its own ``import jaxmle``), alternately, ``--rounds`` times, and each subprocess
reports the best of ``--repeats`` warm calls of ``jm.fit_many`` on the workload's data (made by
this checkout's ``bench/references.py``, so both sides fit identical arrays) and saves every
leaf of the result. The table gives each side's best warm time, the ratio, and whether every
estimate, standard error, covariance, log-likelihood, status and iteration count is bit for bit
the same. Results go to ``bench/results/against_<commit>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

#: Workload: (model factory, fit_many options, data maker and its arguments).
WORKLOADS = {
    "student_t": ("StudentT", {}, "make_student_t_data", {}),
    "logistic": ("Logit", {}, "make_logistic_data", {}),
    "firth": ("Logit", {"penalty": "firth"}, "make_firth_data", {}),
    "logistic_separated": ("Logit", {}, "make_firth_data", {}),
}
#: The result fields compared bit for bit.
FIELDS = ("params", "se", "cov", "unconstrained", "loglik", "status", "n_iter", "grad_norm")


def child(workload: str, batch: int, repeats: int, out: str) -> None:
    """Fit the workload with whichever jaxmle is importable; print the best warm time."""
    sys.path.insert(0, str(HERE))
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import references as ref

    import jaxmle as jm

    factory, options, maker, kwargs = WORKLOADS[workload]
    made = getattr(ref, maker)(1, batch, **kwargs)
    data = {"X": made[0], "y": made[1]} if isinstance(made, tuple) else made
    model = getattr(jm, factory)()
    start = time.perf_counter()
    res = jax.block_until_ready(jm.fit_many(model, data, **options))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(jm.fit_many(model, data, **options))
        best = min(best, time.perf_counter() - start)
    leaves = {}
    for field in FIELDS:
        value = getattr(res, field)
        flat = jax.tree_util.tree_flatten_with_path(value)[0]
        for path, leaf in flat:
            leaves[field + jax.tree_util.keystr(path)] = np.asarray(leaf)
    np.savez(out, **leaves)
    print(json.dumps({"warm_s": best, "first_s": first, "jaxmle": str(Path(jm.__file__).parent)}))


def run_side(source: Path, workload: str, args, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source)}
    cmd = [sys.executable, str(Path(__file__)), "--child", workload, str(args.batch)]
    cmd += [str(args.repeats), str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=source)
    if done.returncode != 0:
        raise RuntimeError(f"{workload} at {source}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def identical(a: Path, b: Path) -> tuple[bool, list[str], float]:
    """``(bit-identical, differing fields, largest difference relative to its field's largest
    entry, ``grad_norm`` aside)``."""
    import numpy as np

    with np.load(a) as left, np.load(b) as right:
        if sorted(left.files) != sorted(right.files):
            return False, ["fields differ"], float("nan")
        differ = [k for k in left.files if not np.array_equal(left[k], right[k], equal_nan=True)]
        largest = 0.0
        for k in differ:
            x, y = left[k].astype(float), right[k].astype(float)
            both = np.isfinite(x) & np.isfinite(y)
            scale = np.max(np.abs(y[both]), initial=0.0)  # relative to the field's size
            if k != "grad_norm" and scale > 0:  # grad_norm at an optimum is rounding noise
                largest = max(largest, float(np.max(np.abs(x - y)[both]) / scale))
    return not differ, differ, largest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", help="the earlier commit (any git revision)")
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), help="these workloads")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5, help="warm calls per subprocess")
    parser.add_argument("--rounds", type=int, default=2, help="subprocesses per side, alternated")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.commit], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not revision:
        parser.error(f"unknown commit {args.commit!r}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(old), revision], cwd=ROOT, check=True
        )
        try:
            for workload in args.only or WORKLOADS:
                times = {"old": [], "new": []}
                for k in range(args.rounds):
                    for side, source in (("old", old), ("new", ROOT)):
                        out = Path(tmp) / f"{workload}_{side}_{k}.npz"
                        times[side].append(run_side(source, workload, args, out)["warm_s"])
                same, differ, largest = identical(
                    Path(tmp) / f"{workload}_old_0.npz", Path(tmp) / f"{workload}_new_0.npz"
                )
                row = {
                    "workload": workload,
                    "batch": args.batch,
                    "old_warm_s": min(times["old"]),
                    "new_warm_s": min(times["new"]),
                    "speedup": min(times["old"]) / min(times["new"]),
                    "bit_identical": same,
                    "differing_fields": differ,
                    "max_rel_diff": largest,
                }
                rows.append(row)
                print(
                    f"{workload:20s} {revision}: {row['old_warm_s']:.3f} s   now: "
                    f"{row['new_warm_s']:.3f} s   {row['speedup']:.2f}x   bit-identical: {same}"
                    + (f" (largest relative difference {largest:.1e})" if differ else "")
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"against_{revision}"
    stem.with_suffix(".json").write_text(
        json.dumps({"commit": revision, "machine": machine, "rows": rows}, indent=1)
    )
    lines = [
        f"# jaxmle now against {revision}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}; {machine}; float64; best warm `fit_many` call of "
        f"{args.rounds} alternating subprocesses per side, {args.repeats} calls each.",
        "",
        f"| workload | batch | {revision} (s) | now (s) | speed-up | bit-identical |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['batch']:,} | {r['old_warm_s']:.3f} | {r['new_warm_s']:.3f}"
            f" | {r['speedup']:.2f}x | "
            + (
                "yes"
                if r["bit_identical"]
                else f"no (largest relative difference {r['max_rel_diff']:.1e})"
            )
            + " |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(main())
