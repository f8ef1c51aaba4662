"""Command line: ``jaxmle demo``, ``jaxmle fit FILE`` and ``jaxmle study CONFIG.toml`` (also
``python -m jaxmle ...``). ``jaxmle fit`` reads CSV or Parquet files.

The command line is a program, not a library, so it switches JAX to float64 (standard errors and
p-values need the precision); the library itself never changes JAX's configuration.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxmle", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit a simulated batch of regressions and report")
    demo.add_argument("--datasets", type=int, default=5000, help="number of datasets")
    demo.add_argument("--nobs", type=int, default=200, help="observations per dataset")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--float32", action="store_true", help="stay in single precision")
    fit = commands.add_parser("fit", help="fit a built-in model to every group of a data file")
    fit.add_argument("file", help="CSV file with a header row, or a Parquet file (.parquet, .pq)")
    fit.add_argument("--model", required=True, help="e.g. Gamma, Weibull, Poisson, Logit")
    fit.add_argument("--formula", help='regression formula, e.g. "y ~ x1 + C(g)" (formulaic)')
    fit.add_argument("--column", help="data column (distribution families)")
    fit.add_argument("--y", help="response column (regressions, instead of --formula)")
    fit.add_argument("--x", help="comma-separated covariate columns (regressions)")
    fit.add_argument("--no-intercept", action="store_true", help="do not add a constant column")
    fit.add_argument("--by", help="column whose values split the rows into groups")
    fit.add_argument("--groups", help="cluster column for --cov-type cluster (implies it)")
    fit.add_argument(
        "--cov-type", help="observed (default), expected, HC0, HC1 or cluster (needs --groups)"
    )
    fit.add_argument("--level", type=float, default=0.95, help="confidence level (0.95)")
    fit.add_argument(
        "--missing",
        choices=("error", "drop"),
        default="error",
        help="an empty cell in a used column is an error (default) or drops its row",
    )
    fit.add_argument(
        "--errors",
        choices=("raise", "status"),
        default="raise",
        help="a group that fails the checks stops the run (default) or gets a status and message",
    )
    fit.add_argument("--out", help="write the results here (.parquet/.pq: Parquet, else CSV)")
    fit.add_argument("--float32", action="store_true", help="stay in single precision")
    study = commands.add_parser("study", help="run a simulation study described in a TOML file")
    study.add_argument("config", help="TOML file: model, truth, sizes, n_rep, ... (see docs)")
    study.add_argument("--quiet", action="store_true", help="no progress bar")
    study.add_argument("--float32", action="store_true", help="stay in single precision")
    args = parser.parse_args(argv)

    import jax

    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    if args.command in ("fit", "study"):
        from . import _cli_fit, _cli_study

        command = _cli_fit if args.command == "fit" else _cli_study
        try:
            return command.run(args)
        except (ValueError, TypeError, OSError, ImportError) as err:
            message = " ".join(str(err).split())  # one line, whatever the source
            print(f"jaxmle {args.command}: {message}", file=sys.stderr)
            return 2
    from . import _demo

    _demo.run(args.datasets, args.nobs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
