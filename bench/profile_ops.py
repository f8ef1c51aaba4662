"""Where a ``fit_many`` call spends its time, operation by operation, from JAX's own profiler.

Run from the repository root::

    python bench/profile_ops.py firth               # 10,000 Firth logistic fits (n = 100)
    python bench/profile_ops.py logistic --top 15   # 10,000 logistic fits (n = 500, p = 5)

The workload (the data of ``bench/against_commit.py``) is fitted twice to compile and warm up,
then once with one worker thread under ``jax.profiler.trace`` (a Perfetto trace). The table
sums the trace's events by name, each event's own time (without the events nested in it): XLA's
compiled operations (fusions, dots, loop and branch control; their names are those of the
compiled program) and the host's work (device transfers, dispatch). With one worker the
operations do not overlap, so their times add up to the batch's compute.
Output: the table on stdout and in ``bench/results/ops_<workload>.md``.

``--workers 2`` profiles a two-thread run instead (``results/ops_<workload>_workers2.md``). The
operations of one thread still do not overlap, so an operation's total, compared with the
one-worker table, shows how much slower it runs while the other thread runs too (shared caches
and memory bandwidth).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from against_commit import WORKLOADS  # noqa: E402

import jaxmle as jm  # noqa: E402

#: Trace events that only wrap the operations of a program run (left out of the table).
_WRAPPERS = ("ThunkExecutor", "PjitFunction", "SlinkyThreadPool")


def op_times(trace_dir: Path) -> tuple[collections.Counter, collections.Counter]:
    """``(milliseconds, calls)`` by event name of the Perfetto trace in ``trace_dir``: each
    event's own time, without the events nested in it (a loop's or a conditional's operations
    are events of their own)."""
    trace = next(trace_dir.rglob("*.trace.json.gz"))
    events = [e for e in json.loads(gzip.open(trace).read())["traceEvents"] if e.get("ph") == "X"]
    own = {}
    by_thread = collections.defaultdict(list)
    for k, event in enumerate(events):
        by_thread[(event.get("pid"), event.get("tid"))].append(k)
        own[k] = event["dur"]
    for ids in by_thread.values():
        ids.sort(key=lambda k: (events[k]["ts"], -events[k]["dur"]))
        stack = []
        for k in ids:
            start = events[k]["ts"]
            while stack and events[stack[-1]]["ts"] + events[stack[-1]]["dur"] <= start:
                stack.pop()
            if stack:
                own[stack[-1]] -= events[k]["dur"]
            stack.append(k)
    times, calls = collections.Counter(), collections.Counter()
    for k, event in enumerate(events):
        name = event.get("name", "")
        if name.startswith(("$", "end: ")) or name.startswith(_WRAPPERS):
            continue  # "$..." are Python frames
        times[name] += own[k] / 1e3
        calls[name] += 1
    return times, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--workers", type=int, default=1, help="worker threads of the run")
    args = parser.parse_args()
    import references as ref

    factory, options, maker, kwargs = WORKLOADS[args.workload]
    X, y = getattr(ref, maker)(1, args.batch, **kwargs)
    data, model = {"X": X, "y": y}, getattr(jm, factory)()
    data = jax.device_put(data)
    for _ in range(2):
        jm.fit_many(model, data, workers=args.workers, **options)
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            jax.block_until_ready(jm.fit_many(model, data, workers=args.workers, **options))
        times, calls = op_times(Path(tmp))
    command = f"python bench/profile_ops.py {args.workload}" + (
        f" --workers {args.workers}" if args.workers != 1 else ""
    )
    threads_used = "One worker thread" if args.workers == 1 else f"{args.workers} worker threads"
    lines = [
        f"# Operations of one `fit_many` call: {args.workload}, {args.batch:,} datasets",
        "",
        f"{threads_used}; {sum(times.values()):.1f} ms in {sum(calls.values()):,} events "
        f"(`{command}`), inputs already on the device.",
        "",
        "| ms | calls | operation |",
        "| ---: | ---: | --- |",
    ]
    for name, ms in times.most_common(args.top):
        lines.append(f"| {ms:.1f} | {calls[name]} | `{name[:80]}` |")
    text = "\n".join(lines) + "\n"
    print(text)
    suffix = "" if args.workers == 1 else f"_workers{args.workers}"
    out = HERE / "results" / f"ops_{args.workload}{suffix}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
