"""``stress-sim reverse [SCENARIO] --model MODEL (--loss L | --loss-quantile Q) [--book FILE] --out DIR``.

Reverse stress test: which moves of the model's factors over the scenario's horizon make the portfolio
(the scenario's ``[portfolio]``, or a book of positions on price factors) lose at least ``L``, and how
plausible they are: the most likely breach point (per-factor moves, Mahalanobis distance, the probability
of a move at least that extreme) and the simulated paths that breach (probability, mean move, breach
types). Writes ``DIR/reverse.json`` with a manifest; ``stress-sim report DIR`` shows it.
"""
from __future__ import annotations

import sys

from simulator.cli.common import non_negative_int, output_dir, positive_int


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "reverse", help="reverse stress test: the most likely moves that produce a given loss",
        description="Which factor moves over the horizon produce a loss of at least L on the portfolio, "
                    "and how plausible are they (see the module documentation).")
    p.add_argument("scenario", nargs="?", default="baseline", metavar="SCENARIO",
                   help="scenario file or library name whose dynamics and portfolio are used (default: baseline)")
    p.add_argument("--model", required=True, metavar="MODEL", help="model JSON file or builtin:NAME")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--loss", type=float, metavar="L", help="loss threshold in the portfolio currency (positive)")
    g.add_argument("--loss-quantile", type=float, metavar="Q",
                   help="use the simulated loss quantile Q as the threshold (e.g. 0.99: the 99%% VaR)")
    p.add_argument("--book", metavar="FILE", default=None,
                   help="a book (CSV or TOML) of positions on the model's price factors instead of the portfolio")
    p.add_argument("--paths", type=positive_int, default=None, metavar="N", help="paths (default: the scenario's)")
    p.add_argument("--seed", type=non_negative_int, default=None, metavar="S", help="seed (default: the scenario's)")
    p.add_argument("--clusters", type=positive_int, default=3, metavar="K", help="breach types to find (default 3)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (reverse.json and manifest.json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from scenarios.book import load_book
    from simulator.builtin import load_model
    from simulator.exceptions import UserInputError
    from simulator.jobs.reverse import reverse_stress_test, write_reverse

    out = output_dir(args.out)
    if args.loss is not None and not args.loss > 0:
        raise UserInputError(f"--loss {args.loss}: the threshold is a loss, a positive amount")
    model = load_model(args.model)
    book = load_book(args.book) if args.book else None
    doc = reverse_stress_test(model, scenario=args.scenario, loss=args.loss, loss_quantile=args.loss_quantile,
                              book=book, n_paths=args.paths, seed=args.seed, n_clusters=args.clusters)
    cmd = ["stress-sim", "reverse", args.scenario, "--model", args.model, "--out", str(args.out)]
    cmd += ["--loss", str(args.loss)] if args.loss is not None else ["--loss-quantile", str(args.loss_quantile)]
    for flag, v in (("--book", args.book), ("--paths", args.paths), ("--seed", args.seed)):
        if v is not None:
            cmd += [flag, str(v)]
    path = write_reverse(doc, out, command=cmd, model_source=args.model)
    pt, br = doc["most_likely_breach"], doc["simulated_breaches"]
    cur = doc["currency"]
    print(f"reverse stress test: {doc['scenario']}, {doc['horizon_days']} days, {doc['n_paths']:,} paths; loss of at "
          f"least {doc['loss_threshold']:,.0f} {cur}")
    print("most likely breach (move over the horizon, simple %):  "
          + ",  ".join(f"{a} {v:+.2f}%" for a, v in pt["moves_simple_pct"].items()))
    print(f"  Mahalanobis distance {pt['mahalanobis']:.2f}: probability of a move at least this far in this direction "
          f"{pt['prob_halfspace']:.4f}, in any direction {pt['prob_as_extreme']:.4f}; loss there {pt['loss']:,.0f} {cur}")
    print(f"simulated: {br['n_breach']:,} of {br['n_paths']:,} paths breach (probability {br['prob']:.4f} "
          f"+- {br['prob_se']:.4f})")
    for i, c in enumerate(br["clusters"], 1):
        print(f"  breach type {i} ({100 * c['share']:.0f}% of breaches): "
              + ", ".join(f"{a} {v:+.1f}" for a, v in c["moves"].items()) + " (percent log)")
    print(f"wrote {path}", file=sys.stderr)
    return 0
