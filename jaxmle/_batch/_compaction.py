"""Retiring converged fits: a batch's unfinished fits are re-packed into fresh chunks between
rounds of solver steps (active-set compaction).

Under ``vmap`` a chunk's solver loop runs until its slowest fit is done, every finished fit still
costing a full step per iteration. Here a chunk is fitted in three compiled programs:

* ``begin``: the starting values and the solver's initial state of every fit;
* ``advance``: solver steps on a chunk of states until at most ``threshold`` of them still
  iterate (at least one step). A state that is done, or out of steps, is frozen, exactly as in
  ``vmap(while_loop)``;
* ``finish``: covariance, status and estimates from the final states.

A chunk whose fits are all done after its first round is finished at once (the common case). The
fits still iterating in the other chunks go to a pool; the pool is packed into full chunks
(padded with frozen copies) that advance round by round, each round ending once half of its fits
are done, until the pool is empty; their chunks are then finished. Each fit goes through the same
``begin``, ``step`` and ``finish`` computations whichever chunk and lane it lands in, and every
chunk of a batch has the same shape, so the results are bit-for-bit those of one
``jit(vmap(fit))`` per chunk (tested): only the finished fits' wasted steps are saved.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._fit import assemble, model_objective, starting_point
from .._problem import Problem
from .._solvers import conclude, keep_going
from .._status import Status
from ._programs import abstract, compiled, per_chunk
from ._schedule import run_chunks

__all__ = ["compacted_pieces"]

#: A round ends once at most this share of its chunk's fits still iterate.
ROUND_END = 0.5


@functools.partial(jax.jit, static_argnames=("model", "solver", "max_steps", "cov_type"))
def fit_round(
    per_dataset, shared_init, states, fresh, threshold, *, model, solver, max_steps, cov_type
):
    """One round on a chunk ``(data, weights, groups, init)``: from the fits' starting states
    (``fresh``, a scalar) or the given ``states``, solver steps until at most ``threshold`` fits
    still iterate (at least one step), then every fit's result from its state.

    Returns ``(states, (results, suspect))``; the results of fits that still iterate are
    discarded, and ``suspect`` marks the fits whose full diagnosis is still to be run.
    """
    data, weights, groups, init = per_dataset
    problems = jax.vmap(Problem.build)(data, weights, groups)
    objective = model_objective(model)

    states = jax.lax.cond(
        fresh, lambda: _initial_states(model, solver, problems, init, shared_init), lambda: states
    )
    states = _advance(solver, objective, states, problems, threshold, max_steps)

    def finish(state, problem):
        solution = conclude(solver, objective, state, problem)
        n_best = (solution.status == Status.CONVERGED).astype(jnp.int32)
        return assemble(model, problem, solution, n_best, cov_type, defer=True)

    return states, jax.vmap(finish)(states, problems)


@functools.partial(jax.jit, static_argnames=("model",))
def diagnose_chunk(per_dataset, params, status, *, model):
    """The model's full diagnosis of a chunk of results (:meth:`~jaxmle.Model.diagnose`)."""
    data, weights, groups, _ = per_dataset
    problems = jax.vmap(Problem.build)(data, weights, groups)
    return jax.vmap(model.diagnose)(params, problems, status)


def _advance(solver, objective, states, problems, threshold, max_steps):
    """Solver steps on a chunk of states until at most ``threshold`` fits still iterate; a fit
    that is done or out of steps is frozen, as in ``vmap(while_loop)``."""
    step = jax.vmap(lambda state, problem: solver.step(objective, state, problem))

    def live(states):
        return jax.vmap(lambda state: keep_going(state, max_steps))(states)

    def more(carry):
        states, steps = carry
        n_live = jnp.sum(live(states))
        return (n_live > 0) & ((steps == 0) | (n_live > threshold))

    def advance(carry):
        states, steps = carry
        going = live(states)
        stepped = step(states, problems)
        states = jax.tree_util.tree_map(
            lambda new, old: jnp.where(
                going.reshape(going.shape + (1,) * (new.ndim - 1)), new, old
            ),
            stepped,
            states,
        )
        return states, steps + 1

    return jax.lax.while_loop(more, advance, (states, jnp.asarray(0, jnp.int32)))[0]


def compacted_pieces(
    *,
    model,
    solver,
    max_steps,
    cov_type,
    per_dataset,
    shared_init,
    chunk,
    load,
    chunk_rows,
    starts,
    workers,
    check_values,
    report,
):
    """Every chunk's :class:`~jaxmle.FitResult`, in order, fitted with compaction.

    ``load(rows)`` places the datasets ``rows`` of ``per_dataset`` on the device;
    ``chunk_rows(start)`` gives the rows of the chunk starting at ``start``. ``workers``,
    ``check_values`` and ``report`` are those of :func:`~jaxmle._batch._schedule.run_chunks`.
    An interruption raises ``KeyboardInterrupt`` whose ``completed`` holds the leading finished
    chunks.
    """
    shapes, shared = per_chunk(per_dataset, chunk), abstract(shared_init)
    options = dict(model=model, solver=solver, max_steps=max_steps, cov_type=cov_type)
    program = functools.partial(fit_round, **options)
    flag, count = jax.ShapeDtypeStruct((), bool), jax.ShapeDtypeStruct((), jnp.int32)
    no_states = _no_states(model, solver, shapes)
    run, concurrent = compiled(program, shapes, shared, abstract(no_states), flag, count)
    if not concurrent:
        workers = 1

    def first_round(start):
        rows = chunk_rows(start)
        return rows, *run(load(rows), shared_init, no_states, True, np.int32(chunk * ROUND_END))

    def live_lanes(states):
        return ~np.asarray(states.done) & (np.asarray(states.n_iter) < max_steps)

    def settle(rows, states, results):  # a chunk's results, or the chunk still open
        live = live_lanes(states)
        return _Open(rows, states, results, live) if live.any() else results

    rows = [chunk_rows(start) for start in starts]

    def diagnosed(pieces):  # the leading finished chunks' results, their diagnosis complete
        pieces = _leading_finished(pieces)
        return _diagnose_suspects(model, pieces, rows[: len(pieces)], load, chunk)

    try:
        rounds = run_chunks(first_round, starts, workers, check_values, report)
    except KeyboardInterrupt as err:
        err.completed = diagnosed([settle(*round_) for round_ in getattr(err, "completed", [])])
        raise
    pieces = [settle(*round_) for round_ in rounds]

    def advance(rows, states, threshold):
        return run(load(rows), shared_init, states, False, threshold)

    try:
        _drain(pieces, advance, chunk, workers, live_lanes)
    except KeyboardInterrupt as err:
        err.completed = diagnosed(pieces)
        raise
    # Host results throughout: the batch is joined on the host (join_results).
    return diagnosed([piece.results if isinstance(piece, _Open) else piece for piece in pieces])


def _diagnose_suspects(model, pieces, rows, load, chunk) -> list:
    """The chunks' results, with the full diagnosis of the suspect fits applied to their status.

    ``pieces`` holds each chunk's ``(result, suspect)``. The suspect fits of all chunks are
    packed into full chunks for :func:`diagnose_chunk`, compiled only when there is one.
    """
    suspects = [(k, np.flatnonzero(np.asarray(suspect))) for k, (_, suspect) in enumerate(pieces)]
    suspects = [(k, lanes) for k, lanes in suspects if len(lanes)]
    results = [result for result, _ in pieces]
    if not suspects:
        return results
    statuses = {k: np.array(results[k].status) for k, _ in suspects}
    program = None
    for pack in _packs(suspects, chunk):
        members = [(results[k], rows[k], lanes) for k, lanes in pack]
        picked = np.concatenate([r[lanes] for _, r, lanes in members])
        params = _gather([(result.params, lanes) for result, _, lanes in members])
        status = np.concatenate([np.asarray(result.status)[lanes] for result, _, lanes in members])
        picked, params, status = _padded((picked, params, status), chunk)
        piece = load(picked)
        if program is None:
            diagnose = functools.partial(diagnose_chunk, model=model)
            program, _ = compiled(diagnose, *abstract((piece, params, status)))
        refined, at = np.asarray(program(piece, params, status)), 0
        for k, lanes in pack:
            statuses[k][lanes] = refined[at : at + len(lanes)]
            at += len(lanes)
    for k, status in statuses.items():
        results[k] = dataclasses.replace(results[k], status=jnp.asarray(status))
    return results


def _initial_states(model, solver, problems, init, shared_init):
    """The solver's initial state of every fit of a chunk, from its starting values."""
    objective = model_objective(model)

    def one(problem, init):
        u0 = starting_point(model, problem, {**shared_init, **init} or None)
        return solver.init(objective, u0, problem)

    return jax.vmap(one)(problems, init)


_NO_STATES: dict = {}


def _no_states(model, solver, shapes):
    """Zero states shaped like a chunk's: the ``states`` argument of a fresh round."""
    signature = (
        model,
        solver,
        jax.tree_util.tree_structure(shapes),
        tuple(jax.tree_util.tree_leaves(shapes)),
    )
    if signature not in _NO_STATES:

        def begin(per_dataset):
            # The solver's state from a start of the right shape (``n_free`` unconstrained
            # values): tracing the model's own start here would double the first call's tracing.
            data, weights, groups, _ = per_dataset
            problems = jax.vmap(Problem.build)(data, weights, groups)
            objective = model_objective(model)

            def one(problem):
                u0 = jnp.zeros((model.n_free,), problem.dtype)
                return solver.init(objective, u0, problem)

            return jax.vmap(one)(problems)

        states = jax.eval_shape(begin, shapes)
        if len(_NO_STATES) >= 16:
            _NO_STATES.pop(next(iter(_NO_STATES)))
        _NO_STATES[signature] = jax.tree_util.tree_map(
            lambda leaf: jax.device_put(np.zeros(leaf.shape, leaf.dtype)),
            states,  # no program
        )
    return _NO_STATES[signature]


class _Open:
    """A chunk with fits still iterating after its first round: its rows, and host copies of
    its states and results, completed lane by lane as its fits finish."""

    def __init__(self, rows, states, results, live):
        self.rows = rows
        self.states = jax.tree_util.tree_map(np.array, states)
        self.results = jax.tree_util.tree_map(np.array, results)
        self.live = live


def _drain(pieces, advance, chunk, workers, live_lanes) -> None:
    """Advance the fits still iterating in the ``_Open`` pieces until none is left, and write
    each one's result back into its piece.

    The open fits form one pool on the host, in batch order; each round cuts the pool's live
    fits, in order, into full chunks (the last one padded with frozen copies), so that the host
    work of a round is a few array operations per chunk, whatever the number of open pieces.
    """
    opened = [piece for piece in pieces if isinstance(piece, _Open)]
    if not opened:
        return
    lanes = [np.flatnonzero(piece.live) for piece in opened]
    rows = np.concatenate([piece.rows[at] for piece, at in zip(opened, lanes, strict=True)])
    states = _gather([(piece.states, at) for piece, at in zip(opened, lanes, strict=True)])
    results = _gather([(piece.results, at) for piece, at in zip(opened, lanes, strict=True)])
    live = np.arange(len(rows))
    while live.size:
        threshold = np.int32(chunk * ROUND_END if live.size > chunk else 0)
        packs = [live[k : k + chunk] for k in range(0, live.size, chunk)]

        def run_pack(k, packs=packs, threshold=threshold):
            members = packs[k]
            pack_rows, pack_states = _padded((rows[members], _gather([(states, members)])), chunk)
            # Padding repeats the last fit, frozen: it takes no step of its own.
            done = pack_states.done | (np.arange(chunk) >= len(members))
            return advance(pack_rows, pack_states._replace(done=done), threshold)

        advanced = run_chunks(run_pack, range(len(packs)), workers, lambda: None, lambda k: None)
        still = []
        for members, (pack_states, pack_results) in zip(packs, advanced, strict=True):
            filled = slice(0, len(members))
            _scatter(states, members, pack_states, filled)
            _scatter(results, members, pack_results, filled)
            still.append(members[live_lanes(pack_states)[filled]])
        live = np.concatenate(still)
    at = 0
    for piece, piece_lanes in zip(opened, lanes, strict=True):
        _scatter(piece.results, piece_lanes, results, slice(at, at + len(piece_lanes)))
        at += len(piece_lanes)


def _gather(segments):
    """The lanes of several host pytrees, concatenated: ``segments`` is ``[(tree, lanes)]``."""
    return jax.tree_util.tree_map(
        lambda *leaves: np.concatenate(leaves),
        *[jax.tree_util.tree_map(lambda leaf, i=lanes: leaf[i], tree) for tree, lanes in segments],
    )


def _scatter(target, lanes, source, part) -> None:
    """``target[lanes] = source[part]`` leaf by leaf (``target`` holds writable host arrays)."""
    for into, leaf in zip(
        jax.tree_util.tree_leaves(target), jax.tree_util.tree_leaves(source), strict=True
    ):
        into[lanes] = np.asarray(leaf)[part]


def _padded(tree, chunk: int):
    """Every leaf of ``tree`` (host arrays with a common leading axis) extended to ``chunk``
    entries by repeating its last one."""

    def pad(leaf):
        return np.concatenate([leaf, np.repeat(leaf[-1:], chunk - len(leaf), axis=0)])

    return jax.tree_util.tree_map(pad, tree)


def _packs(pool, chunk: int) -> list:
    """The pool's ``(piece, lanes)`` segments cut into packs of at most ``chunk`` lanes."""
    packs, current, room = [], [], chunk
    for piece, lanes in pool:
        while len(lanes):
            take, lanes = lanes[:room], lanes[room:]
            current.append((piece, take))
            room -= len(take)
            if room == 0:
                packs.append(current)
                current, room = [], chunk
    if current:
        packs.append(current)
    return packs


def _leading_finished(pieces) -> list:
    """The leading finished fits, in order: every chunk up to the first one still open, then
    that chunk's fits up to its first one still iterating (each ``(result, suspect)``)."""
    finished = []
    for piece in pieces:
        if not isinstance(piece, _Open):
            finished.append(piece)
            continue
        first_live = int(np.argmax(piece.live)) if piece.live.any() else len(piece.live)
        if first_live:
            cut = jax.tree_util.tree_map(lambda leaf, k=first_live: leaf[:k], piece.results)
            finished.append(cut)
        break
    return finished
