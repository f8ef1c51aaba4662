"""fit_many sharded over several devices gives the unsharded results.

Runs in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``: four CPU devices
(the flag must be set before JAX starts, so not in this process). Reference: the unsharded
fit_many in the same subprocess, and the normal MLE in closed form (mean, std with ``ddof=0``).
"""

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import jax.scipy.stats as jss
    import numpy as np
    import jaxmle as jm

    model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
                     {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
    rng = np.random.default_rng(0)
    stacked = rng.normal(1.0, 2.0, size=(37, 50))
    ragged = [rng.normal(-1.0, 0.5, size=n) for n in rng.integers(10, 60, size=11)]
    logistic = jm.Model(
        lambda p, d: d["y"] * (d["X"] @ p["b"]) - jnp.logaddexp(0.0, d["X"] @ p["b"]),
        {"b": jm.Real(np.zeros(3))},
    )
    X = np.concatenate([np.ones((30, 80, 1)), rng.normal(size=(30, 80, 2))], axis=2)
    y = (rng.uniform(size=(30, 80)) < 1 / (1 + np.exp(-X @ [0.3, 1.0, -0.5]))) * 1.0

    def diff(a, b):
        return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
                   for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b),
                                   strict=True))

    cases = {
        "stacked": (model, stacked, {}),
        "stacked_chunked": (model, stacked, {"chunk_size": 6}),
        "ragged": (model, ragged, {}),
        "logistic": (logistic, {"X": X, "y": y}, {"chunk_size": 16}),
    }
    out = {"devices": len(jax.devices())}
    for name, (m, data, kw) in cases.items():
        plain = jm.fit_many(m, data, **kw)
        sharded = jm.fit_many(m, data, devices="all", **kw)
        out[name] = {"diff": diff(plain, sharded), "n": len(sharded),
                     "converged": int(np.sum(sharded.converged))}
    sharded = jm.fit_many(model, stacked, devices=jax.devices()[:2])
    out["two_devices_loc_err"] = float(np.max(np.abs(sharded.params["loc"] - stacked.mean(1))))
    out["loc_err"] = float(np.max(np.abs(
        jm.fit_many(model, stacked, devices="all").params["loc"] - stacked.mean(1))))
    out["scale_err"] = float(np.max(np.abs(
        jm.fit_many(model, ragged, devices="all").params["scale"]
        - np.array([x.std() for x in ragged]))))
    print(json.dumps(out))
    """
)


def test_sharded_fit_many_matches_unsharded_on_four_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env.pop("JAX_PLATFORMS", None)
    run = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    sizes = {"stacked": 37, "stacked_chunked": 37, "ragged": 11, "logistic": 30}
    for name, n in sizes.items():
        assert out[name]["n"] == n and out[name]["converged"] == n, (name, out[name])
        assert out[name]["diff"] <= 1e-12, (name, out[name])
    assert out["loc_err"] < 1e-10 and out["two_devices_loc_err"] < 1e-10
    assert out["scale_err"] < 1e-10
