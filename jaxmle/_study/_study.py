"""`jm.study`: scenarios x sample sizes x replicates, fitted in compiled batches."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .._fit import DEFAULT_MAX_STEPS
from .._progress import progress_bar
from .._solvers import check_max_steps
from .._status import Status
from ._checkpoint import Checkpoint
from ._design import (
    check_truths,
    make_design,
    parse_key,
    parse_sizes,
    parse_truths,
    replicate_keys,
    study_bucket,
)
from ._programs import host, run_chunk, template
from ._results import Study

__all__ = ["study"]


def study(
    model,
    truth,
    sizes,
    n_rep: int,
    key,
    *,
    ci=("wald", "transformed"),
    level: float = 0.95,
    generate=None,
    checkpoint=None,
    progress: bool = False,
    resimulate: int = 0,
    null: dict | None = None,
    include_failed: bool = False,
    chunk_size: int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    part=None,
) -> Study | None:
    """Run a simulation study: every scenario at every sample size, ``n_rep`` replicates each.

    Each replicate draws a dataset from the model at the true parameters, fits it, and builds the
    requested confidence intervals; :attr:`Study.performance` then reports bias, empirical and
    model standard errors, MSE, coverage, power, interval width and convergence with their Monte
    Carlo standard errors (Morris, White & Crowther 2019; see :mod:`jaxmle.study._measures`).

    Args:
        model: the model fitted to every replicate (a family, regression or custom model).
        truth: natural-scale true parameter values, ``{"rate": 2.0}``; or a list of such dicts,
            one per scenario, crossed with ``sizes``.
        sizes: a sample size or a list of them.
        n_rep: replicates per (scenario, size).
        key: a ``jax.random.key``. Replicate ``r`` of scenario ``s`` at size ``n`` draws its data
            with ``fold_in(fold_in(fold_in(fold_in(key, s), n), r), attempt)``, so results do not
            depend on chunking, the order of the work or resumption.
        ci: interval methods, any of ``"wald"`` (estimate +- z se), ``"transformed"`` (Wald on the
            unconstrained scale mapped back, e.g. log scale for a positive parameter) and
            ``"profile"`` (profile likelihood, :func:`~jaxmle.profile_ci`).
        level: confidence level of the intervals; ``1 - level`` is the level of the tests behind
            the ``power`` measure.
        generate: ``generate(key, truth, n) -> dataset`` of ``n`` rows in the model's layout
            (``truth`` a dict of JAX arrays, ``n`` a Python int), traceable. Default: the model's
            own simulator (``model.simulate``), drawn inside the compiled program at the padded
            length; models that need a design (regressions' covariates, a binomial's trials)
            need ``generate``, e.g. ``lambda key, truth, n: model.simulate(key, truth,
            {"X": X[:n]})``.
        checkpoint: a directory. Each finished chunk is written there atomically; calling the
            same study again (e.g. after the process was killed) loads the finished chunks,
            computes only the others and returns identical results. A different design in the
            same directory raises ``ValueError``.
        progress: show a progress bar (tqdm) with fits per second and the time left.
        resimulate: re-draw a replicate whose fit did not converge, with a new dataset, up to
            this many times (as R's SimDesign does); the replicate then reports the first
            converged attempt and ``converged`` counts every dataset drawn.
        null: ``{name: theta_0}``: the null value of the test whose rejection rate is the
            ``power`` measure. Default 0 for unconstrained (``Real``) parameters; parameters not
            listed get no ``power`` rows.
        include_failed: keep non-converged replicates (those with finite estimates) in the
            measures; by default they are left out and counted by ``converged`` and by status in
            :attr:`Study.replicates`.
        chunk_size: replicates fitted per compiled call and per checkpoint file (default
            ``min(n_rep, 2000)``).
        max_steps: the solver's iteration budget per fit.
        part: split the study over several processes or jobs, which share ``checkpoint``:
            ``(index, count)`` fits only chunks ``j`` (in design order: scenario, size, then
            replicate range) with ``j % count == index``, after loading what the directory
            already holds; ``"processes"`` is ``(jax.process_index(), jax.process_count())``
            after ``jax.distributed.initialize()``, and waits for every process before
            assembling. The call returns the whole study once every chunk is in the directory
            (equal to one process's, since each replicate's key depends on its place only), else
            ``None``: then a later call with the same arguments and no ``part`` (or the last part
            to finish) loads every chunk and computes none. Directories of parts that did not
            share a filesystem combine by copying their chunk files into one of them.

    Returns:
        A :class:`~jaxmle.study.Study` (``None`` for a ``part`` while other parts are missing).

    Examples:
        >>> import jax, jaxmle as jm
        >>> st = jm.study(jm.Exponential(), {"rate": 2.0}, sizes=[20], n_rep=2000,
        ...               key=jax.random.key(0), ci=("wald", "transformed"))
        >>> perf = st.performance
        >>> row = perf[(perf.measure == "coverage") & (perf.ci == "transformed")]
        >>> abs(float(row.value.iloc[0]) - 0.95) < 3 * float(row.mcse.iloc[0])
        True
    """
    truths, sizes = parse_truths(truth), parse_sizes(sizes)
    key = parse_key(key)
    if not isinstance(include_failed, (bool, np.bool_)):
        raise TypeError(f"include_failed must be True or False, got {include_failed!r}")
    if generate is not None and not callable(generate):
        raise TypeError(f"generate must be callable (key, truth, n) -> dataset, got {generate!r}")
    bound = _bind(model, truths, sizes[0], generate, key)
    design = make_design(bound, truths, sizes, n_rep, key, ci, level, resimulate, chunk_size, null)
    description = {
        "model": bound.name,
        "params": list(bound.param_names),
        "generate": None if generate is None else _qualname(generate),
        "max_steps": check_max_steps(max_steps),
        **design.describe(),
    }
    share = _share(part, checkpoint)
    store = None if checkpoint is None else Checkpoint(checkpoint, description)
    runner = _Runner(bound, design, generate, key, check_max_steps(max_steps))
    chunks = {}
    computed = loaded = 0
    started = time.perf_counter()
    others = []  # with part: the chunks left to the other parts
    total = len(design.truths) * len(design.sizes) * design.n_rep
    with progress_bar(progress, total, "study") as bar:
        for j, (s, n, start, stop) in enumerate(design.chunks()):
            arrays = None if store is None else store.load(s, n, start, stop)
            if arrays is None and share is not None and j % share[1] != share[0]:
                others.append((s, n, start, stop))
                chunks.setdefault((s, n), []).append((start, None))
                continue
            if arrays is None:
                arrays = runner.chunk(s, n, start, stop)
                if store is not None:
                    store.save(s, n, start, stop, arrays)
                computed += 1
            else:
                loaded += 1
            chunks.setdefault((s, n), []).append((start, arrays))
            bar.update(stop - start)
    if part == "processes":  # every process, so that none waits for one that did not come
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxmle.study: every part's chunks are saved")
    if others:
        found = {chunk: store.load(*chunk) for chunk in others}
        if any(arrays is None for arrays in found.values()):
            return None
        loaded += len(found)
        chunks = {
            (s, n): [
                (start, found.get((s, n, start, _stop(design, start))) if a is None else a)
                for start, a in parts
            ]
            for (s, n), parts in chunks.items()
        }
    results = {
        cell: {name: np.concatenate([c[name] for _, c in parts]) for name in parts[0][1]}
        for cell, parts in chunks.items()
    }
    return Study(
        model=bound,
        design=design,
        results=results,
        include_failed=bool(include_failed),
        chunks_computed=computed,
        chunks_loaded=loaded,
        seconds=time.perf_counter() - started,
    )


class _Runner:
    """Runs the chunks of one study: draws, fits, and re-simulates failed replicates."""

    def __init__(self, model, design, generate, key, max_steps):
        self.model, self.design, self.generate = model, design, generate
        self.key, self.max_steps = key, max_steps
        dtype = jnp.result_type(float)
        self.truths = [
            {name: jnp.asarray(v, dtype) for name, v in t.items()} for t in design.truths
        ]

    def chunk(self, scenario: int, n: int, start: int, stop: int) -> dict:
        reps = np.arange(start, stop)
        out = self._fit(scenario, n, reps, np.zeros_like(reps))
        out["attempts"] = np.ones(reps.size, np.int32)
        for attempt in range(1, self.design.resimulate + 1):
            failed = out["status"] != Status.CONVERGED
            if not failed.any():
                break
            again = self._fit(scenario, n, reps[failed], np.full(failed.sum(), attempt))
            for name, value in again.items():
                out[name][failed] = value
            out["attempts"][failed] = attempt + 1
        out["rep"] = reps
        return out

    def _fit(self, scenario: int, n: int, reps: np.ndarray, attempts: np.ndarray) -> dict:
        """Fit replicates ``reps`` at ``attempts``, padded to the chunk size (one program)."""
        size = self.design.chunk_size
        padded = np.resize(reps, size), np.resize(attempts, size)
        keys = replicate_keys(self.key, scenario, n, *(jnp.asarray(a) for a in padded))
        outputs = run_chunk(
            keys,
            n,
            self.truths[scenario],
            model=self.model,
            generate=self.generate,
            length=study_bucket(n),
            static_n=None if self.generate is None else n,
            level=self.design.level,
            methods=self.design.ci,
            max_steps=self.max_steps,
        )
        return {name: value[: reps.size].copy() for name, value in host(outputs).items()}


def _share(part, checkpoint):
    """``(index, count)`` of this part of the study, or None."""
    if part is None:
        return None
    if checkpoint is None:
        raise ValueError("part needs checkpoint: a directory where the parts' chunks meet")
    if isinstance(part, str):
        if part != "processes":
            raise ValueError(f"part must be None, 'processes' or (index, count), got {part!r}")
        return jax.process_index(), jax.process_count()
    try:
        index, count = (int(v) for v in part)
    except (TypeError, ValueError):
        raise ValueError(
            f"part must be None, 'processes' or (index, count), got {part!r}"
        ) from None
    if not 0 <= index < count:
        raise ValueError(f"part=(index, count) needs 0 <= index < count, got {part!r}")
    return index, count


def _stop(design, start: int) -> int:
    return min(start + design.chunk_size, design.n_rep)


def _bind(model, truths, n: int, generate, key):
    """The model bound to the layout of one generated dataset (traced abstractly: nothing is
    drawn or compiled). A model whose parameter shapes do not depend on the data gets its true
    values checked first, so that a wrong shape is reported as such."""
    if _has_fixed_shapes(model):
        check_truths(model, truths)
    truth = {name: jnp.asarray(v) for name, v in truths[0].items()}
    try:
        if generate is None:
            if not model.can_simulate:
                raise NotImplementedError(f"{model.name} has no simulator")
            shapes = jax.eval_shape(lambda k: model.simulate(k, truth, template(n)), key)
        else:
            shapes = jax.eval_shape(lambda k: generate(k, truth, n), key)
    except Exception as err:  # the user's generator or the model's simulator failed to trace
        if generate is None:
            raise ValueError(
                f"{model.name} cannot draw a dataset from its size alone ({err}); pass "
                "generate=lambda key, truth, n: <one dataset of n rows>"
            ) from err
        raise ValueError(f"generate(key, truth, n={n}) failed: {err}") from err
    leading = {leaf.shape[0] if leaf.shape else None for leaf in jax.tree_util.tree_leaves(shapes)}
    if leading != {n}:
        raise ValueError(
            f"generate(key, truth, n={n}) must return a dataset whose leaves all have {n} rows, "
            f"got leading axes {sorted(leading, key=str)}"
        )
    return model.bind(shapes)


def _has_fixed_shapes(model) -> bool:
    """Whether the parameter shapes are known before any data (not so for an unsized regression,
    whose ``beta`` takes its length from ``X``)."""
    return hasattr(model, "specs")  # an unsized regression's specs raise AttributeError


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
