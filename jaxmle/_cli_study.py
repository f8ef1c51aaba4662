"""`jaxmle study CONFIG.toml`: run a simulation study described in a TOML file.

Example configuration::

    model = "Exponential"
    sizes = [10, 20, 50]
    n_rep = 10000
    seed = 0
    ci = ["wald", "transformed", "profile"]
    level = 0.95
    checkpoint = "runs/exponential"     # optional: resumable
    out = "performance.csv"             # optional: .csv or .parquet (else printed)
    replicates = "replicates.parquet"   # optional
    plots = "plots"                     # optional: a directory for coverage/bias/zip PNGs

    [truth]                             # or [[truth]] tables, one per scenario
    rate = 2.0

Relative paths are taken from the configuration file's directory. The model must be able to draw
its own data (families; regressions need covariates, so use :func:`~jaxmle.study` from Python).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ._cli_models import find_model

REQUIRED = ("model", "truth", "sizes", "n_rep")
OPTIONAL = (
    "seed", "ci", "level", "checkpoint", "resimulate", "null", "chunk_size", "include_failed",
    "max_steps", "out", "replicates", "plots",
)  # fmt: skip
PASSED_ON = ("ci", "level", "resimulate", "null", "chunk_size", "include_failed", "max_steps")


def run(args) -> int:
    import jax

    import jaxmle as jm

    path = Path(args.config)
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    missing = [key for key in REQUIRED if key not in config]
    unknown = sorted(set(config) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise ValueError(
            f"{path}: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown keys {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
            + f" (keys: {', '.join(REQUIRED + OPTIONAL)})"
        )
    where = path.parent
    options = {key: config[key] for key in PASSED_ON if key in config}
    if isinstance(options.get("ci"), list):
        options["ci"] = tuple(options["ci"])
    if "checkpoint" in config:
        options["checkpoint"] = where / config["checkpoint"]
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{path}: seed must be an integer, got {seed!r}")
    st = jm.study(
        find_model(config["model"])(),
        config["truth"],
        config["sizes"],
        config["n_rep"],
        jax.random.key(seed),
        progress=not args.quiet,
        **options,
    )
    table = st.performance
    if "out" in config:
        _write(table, where / config["out"])
    else:
        print(table.to_string(index=False))
    if "replicates" in config:
        _write(st.replicates, where / config["replicates"])
    if "plots" in config:
        _plot(st, where / config["plots"])
    print(st, file=sys.stderr)
    return 0


def _write(table, target: Path) -> None:
    """CSV (full precision) or Parquet, by the file's suffix."""
    if target.suffix == ".parquet":
        try:
            table.to_parquet(target, index=False)
        except ImportError as err:
            raise ValueError(f"{target}: writing Parquet needs pyarrow ({err})") from None
    elif target.suffix == ".csv":
        table.to_csv(target, index=False, float_format="%.17g")
    else:
        raise ValueError(f"{target}: choose a .csv or .parquet file")
    print(f"wrote {len(table)} rows to {target}", file=sys.stderr)


def _plot(st, directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    directory.mkdir(parents=True, exist_ok=True)
    for kind in ("coverage", "bias", "zip", "distribution"):
        figure = st.plot(kind)
        figure.savefig(directory / f"{kind}.png", dpi=110)
    print(f"wrote coverage, bias, zip and distribution plots to {directory}", file=sys.stderr)
