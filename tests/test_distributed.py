"""fit_many(devices="global") over two localhost processes gives one process's results.

Two child processes start JAX's multi-process runtime on localhost (CPU, gloo collectives),
each fits its own datasets (different numbers per process) with ``devices="global"`` and saves
its results; the parent compares them, concatenated in process order, with one ``fit_many`` over
every dataset in this process.
"""

import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import jaxmle as jm

CHILD = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    process, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                               process_id=process, initialization_timeout=60)
    import numpy as np
    import jaxmle as jm
    sys.path.insert(0, sys.argv[4])
    from test_distributed import batches

    ragged, stacked = batches()
    mine = slice(0, 5) if process == 0 else slice(5, None)  # 5 and 8 ragged datasets
    rows = slice(0, 6) if process == 0 else slice(6, None)  # 6 and 3 stacked datasets
    normal = jm.fit_many(jm.Normal(), ragged[mine], devices="global", init={"scale": 1.5})
    logit = jm.fit_many(jm.Logit(), {k: v[rows] for k, v in stacked.items()}, chunk_size=2,
                        devices="global")
    np.savez(out, loc=normal.params["loc"], scale=normal.params["scale"],
             normal_status=normal.status, n_best=normal.n_best, beta=logit.params["beta"],
             se=logit.se["beta"], logit_status=logit.status, devices=[len(jax.devices())])
    """
)


def small_study(**options):
    """A study of 8 chunks (2 scenarios x 2 sizes x 2 replicate ranges)."""
    return jm.study(
        jm.Exponential(),
        [{"rate": 2.0}, {"rate": 0.5}],
        sizes=[10, 20],
        n_rep=40,
        chunk_size=20,
        key=jax.random.key(3),
        ci="wald",
        **options,
    )


def performance(st) -> np.ndarray:
    """The performance table's numbers (value, mcse) in row order."""
    return st.performance[["value", "mcse"]].to_numpy(dtype=float)


def test_study_parts_give_one_process_tables(tmp_path):
    one = performance(small_study())
    assert small_study(checkpoint=tmp_path / "shared", part=(0, 3)) is None
    assert small_study(checkpoint=tmp_path / "shared", part=(2, 3)) is None
    last = small_study(checkpoint=tmp_path / "shared", part=(1, 3))  # the last part assembles
    np.testing.assert_array_equal(performance(last), one)
    assert last.chunks_computed == 3 and last.chunks_loaded == 5
    # Parts that did not share a directory: copy the chunk files of one into the other.
    small_study(checkpoint=tmp_path / "a", part=(0, 2))
    small_study(checkpoint=tmp_path / "b", part=(1, 2))
    for chunk in (tmp_path / "b").glob("s*.npz"):
        (tmp_path / "a" / chunk.name).write_bytes(chunk.read_bytes())
    joined = small_study(checkpoint=tmp_path / "a")
    assert joined.chunks_computed == 0
    np.testing.assert_array_equal(performance(joined), one)
    with pytest.raises(ValueError, match="part needs checkpoint"):
        small_study(part=(0, 2))


def batches():
    rng = np.random.default_rng(0)
    ragged = [rng.normal(1.0, 2.0, size=k) for k in rng.integers(5, 70, size=13)]
    X = np.concatenate([np.ones((9, 60, 1)), rng.normal(size=(9, 60, 2))], axis=2)
    y = (rng.uniform(size=(9, 60)) < 1 / (1 + np.exp(-X @ [0.3, 1.0, -0.5]))) * 1.0
    return ragged, {"X": X, "y": y}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_global_needs_the_multi_process_runtime():
    with pytest.raises(ValueError, match="devices='global' needs JAX's multi-process runtime"):
        jm.fit_many(jm.Normal(), [np.arange(5.0)], devices="global")


def test_two_processes_match_one(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    port, here = _free_port(), os.path.dirname(os.path.abspath(__file__))
    outs = [tmp_path / f"process{i}.npz" for i in range(2)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(i), str(port), str(outs[i]), here],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    for child in children:
        try:
            logs.append(child.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for other in children:
                other.kill()
            pytest.fail("the two processes did not finish within 240 s")
    if any(child.returncode for child in children) and any(
        "initialize" in log and ("Connect" in log or "UNAVAILABLE" in log) for log in logs
    ):
        pytest.skip(f"JAX's multi-process runtime cannot start on localhost here: {logs[0][-500:]}")
    for child, log in zip(children, logs, strict=True):
        assert child.returncode == 0, log[-3000:]
    parts = [np.load(out) for out in outs]
    got = {name: np.concatenate([p[name] for p in parts]) for name in parts[0].files}
    assert list(got["devices"]) == [2, 2]
    ragged, stacked = batches()
    normal = jm.fit_many(jm.Normal(), ragged, init={"scale": 1.5})
    logit = jm.fit_many(jm.Logit(), stacked, chunk_size=2)
    assert got["loc"].shape == (13,) and got["beta"].shape == (9, 3)
    np.testing.assert_allclose(got["loc"], normal.params["loc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["scale"], normal.params["scale"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got["normal_status"], normal.status)
    np.testing.assert_array_equal(got["n_best"], normal.n_best)
    np.testing.assert_allclose(got["beta"], logit.params["beta"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["se"], logit.se["beta"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got["logit_status"], logit.status)
