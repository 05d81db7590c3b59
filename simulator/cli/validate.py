"""``stress-sim validate MODEL.json --data PRICES [--paths N] [--generations G] --out DIR``.

Compares synthetic data from the model with the real series, statistic by statistic (see
:mod:`calibration.validate`), optionally runs the model-collapse loop (:mod:`calibration.collapse`), and
writes to ``DIR``:

- ``report.html``: verdict, the table of checks, QQ / ACF / leverage / aggregation plots, Kendall's tau and
  tail-dependence heatmaps, and the collapse section (one self-contained file, PNGs embedded);
- ``validation.json``: every check (real value, synthetic median, band, threshold, verdict), the curves
  behind the plots and the collapse results;
- ``manifest.json``: versions, seed entropy, model hash and source, input data hashes, command line, the
  validation summary and the sha256 of the two files above.

Exit status: 0 when every check passes, 1 when some check fails (the outputs are written either way), 2 on
bad input (nothing is written).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from simulator.cli.common import load_model, non_negative_int, output_dir, positive_int
from simulator.exceptions import UserInputError


def _fraction_list(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected shares in [0, 1] separated by commas, got {text!r}") from None
        if not 0.0 <= v <= 1.0:
            raise argparse.ArgumentTypeError(f"real-data share {part} is outside [0, 1]")
        out.append(v)
    return out


def _level(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a confidence level in (0, 1), got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a confidence level in (0, 1), got {text!r}")
    return v


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="compare synthetic data from a model with real prices (and run the model-collapse check)",
        description="Simulate histories of the real series' length from MODEL and place each real statistic "
                    "(moments, quantiles, KS/Wasserstein, Hill tail index, ACF of r, |r|, r^2, leverage, "
                    "aggregational Gaussianity, drawdowns, Kendall's tau, tail dependence) in the band the model "
                    "produces. Writes report.html, validation.json and manifest.json. Exit 0: all checks pass; "
                    "1: some check fails; 2: bad input.")
    p.add_argument("model", metavar="MODEL", help="model JSON file or builtin:NAME")
    p.add_argument("--data", required=True, metavar="PRICES",
                   help="real prices: CSV / Parquet file (date + one column per asset, or date, asset, price) or "
                        "builtin:us-markets")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--date-format", default=None, metavar="FMT",
                   help="strptime format of the price file's dates, e.g. %%d/%%m/%%Y (needed for numeric day/month "
                        "dates, which are ambiguous)")
    p.add_argument("--paths", type=positive_int, default=500, metavar="N",
                   help="simulated histories, each as long as the real series (default 500, at least 100)")
    p.add_argument("--seed", type=non_negative_int, default=None, metavar="S",
                   help="random seed (default: fresh entropy, recorded in the manifest)")
    p.add_argument("--start", metavar="DATE", help="first return date of the real window (inclusive)")
    p.add_argument("--end", metavar="DATE", help="last return date of the real window (inclusive)")
    p.add_argument("--horizon", type=positive_int, default=None, metavar="DAYS",
                   help="use only the last DAYS real returns of the window")
    p.add_argument("--level", type=_level, default=0.95, help="confidence level of the bands (default 0.95)")
    p.add_argument("--pointwise", action="store_true",
                   help="one band per check instead of simultaneous bands over all checks")
    p.add_argument("--generations", type=non_negative_int, default=0, metavar="G",
                   help="run the model-collapse loop for G generations (default 0: off)")
    p.add_argument("--real-fraction", type=_fraction_list, default=[0.0], metavar="F[,F...]",
                   help="share(s) of real data mixed into each generation's training sample (default 0)")
    p.add_argument("--collapse-obs", type=positive_int, default=None, metavar="N",
                   help="days per collapse training sample (default: the whole real window, with the model itself as "
                        "generation 0; with N shorter, generation 0 is refitted to the last N days)")
    p.add_argument("--chains", type=positive_int, default=1, metavar="K",
                   help="independent repetitions of the collapse loop per share (default 1)")
    p.add_argument("--tolerance", type=float, default=0.2, metavar="X",
                   help="largest relative drift for a collapse run to count as stable (default 0.2)")
    p.set_defaults(func=run)


def run(args) -> int:
    from calibration.data import load_prices
    from calibration.validate import MIN_PATHS

    model = load_model(args.model)
    out = output_dir(args.out)
    if args.paths < MIN_PATHS:
        raise UserInputError(f"--paths must be at least {MIN_PATHS} for stable bands, got {args.paths}")
    if not args.tolerance > 0:
        raise UserInputError(f"--tolerance must be > 0, got {args.tolerance}")
    if args.generations == 0 and (args.collapse_obs is not None or args.real_fraction != [0.0] or args.chains != 1):
        raise UserInputError("--real-fraction, --collapse-obs and --chains apply to the collapse check; "
                             "give --generations G too")
    if args.collapse_obs is not None and args.collapse_obs < 100:
        raise UserInputError(f"--collapse-obs must be at least 100 days for the GARCH refits, got {args.collapse_obs}")
    src = args.data
    if not src.startswith("builtin:"):
        from simulator.safeio import require_regular_file

        require_regular_file(src, "--data price file", hint="give a CSV / Parquet file or builtin:us-markets")
    from simulator.outdir import directory_transaction

    # load once: the data must hold the model's assets; errors say which asset and date
    prices, cleaning = load_prices(src, assets=list(model.assets), report=True, min_obs=101,
                                   date_format=args.date_format)
    # --out may only replace an earlier validation (checked before the work); written staged, swapped in at the end
    tx = directory_transaction(out, kinds=("validation",))
    try:
        report, collapse = _validate_into(args, model, src, prices, cleaning, tx.out())
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    print(report.summary())
    if collapse is not None:
        print()
        print(collapse.summary())
    print(f"wrote report.html, validation.json and manifest.json to {out}")
    return 0 if report.passed else 1


def _validate_into(args, model, src, prices, cleaning, out):
    """Run the validation (and the collapse loop) and write its files into the staged folder ``out``."""
    from calibration.validate import validate
    from simulator.io import atomic_write_text, build_manifest, sha256_bytes, write_manifest

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = validate(model, prices, n_paths=args.paths, seed=args.seed, horizon=args.horizon, start=args.start,
                          end=args.end, level=args.level, simultaneous=not args.pointwise)
        report.data.update({"source": src, "input_sha256": cleaning.input_sha256,
                            "prices_sha256": cleaning.data_sha256})
        collapse = None
        if args.generations:
            from calibration.collapse import collapse_check_returns
            from calibration.data import log_returns
            from calibration.validate import _window

            rets = _window(log_returns(prices), args.start, args.end)
            if args.horizon is not None:
                rets = rets.iloc[-args.horizon:]
            # generation 0 is the model itself when the loop trains on the whole window it is validated on;
            # on a shorter window (--collapse-obs) it is refitted there with the model's families, so that the
            # real data mixed into later generations are the data generation 0 was fitted to
            whole = args.collapse_obs is None or args.collapse_obs >= len(rets)
            families = {"vol": {a: m.vol.type for a, m in zip(model.assets, model.marginals)},
                        "dist": {a: m.dist.type for a, m in zip(model.assets, model.marginals)},
                        "copula": model.copula.type}
            try:
                collapse = collapse_check_returns(
                    rets[list(model.assets)], generations=args.generations, real_fraction=args.real_fraction,
                    n_obs=None if whole else args.collapse_obs, n_chains=args.chains, tolerance=args.tolerance,
                    seed=None if args.seed is None else np.random.SeedSequence([int(args.seed), 1]),
                    model=model if whole else None, **families,
                    data_info={"source": src, "input_sha256": cleaning.input_sha256,
                               "generation_0": "the validated model" if whole else
                               f"refitted to the last {args.collapse_obs} returns with the model's families"})
            except ValueError as exc:
                raise UserInputError(f"collapse check: {exc}") from None
    seen = set()
    for w in caught:
        msg = str(w.message)
        if issubclass(w.category, UserWarning) and msg not in seen:
            seen.add(msg)
            print(f"stress-sim: warning: {msg}", file=sys.stderr)

    doc = report.to_dict()
    if collapse is not None:
        doc["collapse"] = collapse.to_dict()
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    command = ["stress-sim", "validate", *_argv(args)]
    html = report.to_html(collapse=collapse, extra={"command": " ".join(command)})
    atomic_write_text(out / "validation.json", text)
    atomic_write_text(out / "report.html", html)
    manifest = build_manifest(
        kind="validation", command=command, model_sha256=model.sha256(), model_source=args.model,
        seed=report.seed, seed_value=args.seed, n_paths=report.n_paths, n_obs=report.n_obs, assets=list(model.assets),
        inputs={"data": {"source": src, "input_sha256": cleaning.input_sha256, "prices_sha256": cleaning.data_sha256,
                         "window": report.data.get("window")},
                "model": {"source": args.model, "sha256": model.sha256(),
                          "file_sha256": (sha256_bytes(Path(args.model).read_bytes())
                                          if Path(args.model).is_file() else None)}},
        validation=report.summary_dict(),
        collapse=None if collapse is None else {**collapse.summary_dict(), "seed": collapse.seed},
    )
    write_manifest(out, manifest, files=["validation.json", "report.html"])
    return report, collapse


def _argv(args) -> list[str]:
    cmd = [args.model, "--data", args.data, "--out", str(args.out), "--paths", str(args.paths)]
    for flag, v in (("--seed", args.seed), ("--start", args.start), ("--end", args.end), ("--horizon", args.horizon)):
        if v is not None:
            cmd += [flag, str(v)]
    if args.level != 0.95:
        cmd += ["--level", str(args.level)]
    if args.pointwise:
        cmd.append("--pointwise")
    if args.generations:
        cmd += ["--generations", str(args.generations),
                "--real-fraction", ",".join(f"{f:g}" for f in args.real_fraction),
                "--chains", str(args.chains), "--tolerance", str(args.tolerance)]
        if args.collapse_obs is not None:
            cmd += ["--collapse-obs", str(args.collapse_obs)]
    return cmd
