"""Command line: ``jaxmle demo``, ``jaxmle fit FILE`` and ``jaxmle study CONFIG.toml`` (also
``python -m jaxmle ...``).

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
    fit = commands.add_parser("fit", help="fit a built-in model to every group of a CSV file")
    fit.add_argument("file", help="CSV file with a header row")
    fit.add_argument("--model", required=True, help="e.g. Gamma, Weibull, Poisson, Logit")
    fit.add_argument("--column", help="data column (distribution families)")
    fit.add_argument("--y", help="response column (regressions)")
    fit.add_argument("--x", help="comma-separated covariate columns (regressions)")
    fit.add_argument("--no-intercept", action="store_true", help="do not add a constant column")
    fit.add_argument("--by", help="column whose values split the rows into groups")
    fit.add_argument("--cov-type", default="observed", help="observed, expected, HC0, HC1")
    fit.add_argument("--out", help="write the results as CSV here instead of printing them")
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
        except (ValueError, TypeError, OSError) as err:
            print(f"jaxmle {args.command}: {err}", file=sys.stderr)
            return 2
    from . import _demo

    _demo.run(args.datasets, args.nobs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
