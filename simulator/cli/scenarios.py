"""``stress-sim scenarios``: browse and check scenario files.

- ``stress-sim scenarios list`` — the built-in library: name, horizon, shock types, summary.
- ``stress-sim scenarios show NAME|FILE.toml`` — validate a library scenario or a file and print it:
  the TOML text as written (a starting point for your own file), or with ``--format json`` the
  validated scenario with every default filled in. A malformed file exits with status 2 and one
  line per problem: ``<file>: <key.path>: <problem> (allowed: ...)``.
"""
from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    """Register ``scenarios`` with its ``list`` and ``show`` subcommands."""
    p = subparsers.add_parser(
        "scenarios", help="list the scenario library or show / validate a scenario",
        description="Browse the built-in scenario library and validate scenario files.")
    sub = p.add_subparsers(dest="scenarios_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    lst = sub.add_parser("list", help="list the built-in library scenarios",
                         description="List the built-in library scenarios.")
    lst.add_argument("--format", choices=("table", "json"), default="table",
                     help="output format (default: table)")
    show = sub.add_parser("show", help="validate and print a scenario",
                          description="Validate a library scenario or a scenario file and print it.")
    show.add_argument("scenario", metavar="NAME|FILE", help="library scenario name or path to a .toml file")
    show.add_argument("--format", choices=("toml", "json"), default="toml",
                      help="toml: the file as written (default); json: the validated scenario with defaults")
    p.set_defaults(func=run)


def run(args) -> int:
    """Dispatch to ``list`` or ``show``; returns the exit status."""
    if args.scenarios_command == "list":
        return _list(args)
    return _show(args)


def _list(args) -> int:
    from scenarios.loader import list_scenarios, load_scenario

    rows = []
    for name in list_scenarios():
        s = load_scenario(name)
        types = sorted(set(s.shock_types()), key=s.shock_types().index)
        rows.append({"name": s.name, "horizon_days": s.horizon_days, "n_paths": s.n_paths,
                     "shocks": types, "description": s.description.strip().splitlines()[0]})
    out = sys.stdout
    if args.format == "json":
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    for r in rows:
        r["shock_text"] = ", ".join(r["shocks"]) or "-"
    w = max([4] + [len(r["name"]) for r in rows])
    ws = max([6] + [len(r["shock_text"]) for r in rows])
    out.write(f"{'NAME':<{w}}  {'DAYS':>5}  {'SHOCKS':<{ws}}  DESCRIPTION\n")
    for r in rows:
        out.write(f"{r['name']:<{w}}  {r['horizon_days']:>5}  {r['shock_text']:<{ws}}  {r['description']}\n")
    return 0


def _show(args) -> int:
    from scenarios.loader import load_scenario, scenario_text

    scenario = load_scenario(args.scenario)  # validates; raises UserInputError on a bad file
    if args.format == "json":
        sys.stdout.write(json.dumps(scenario.model_dump(mode="json"), indent=2) + "\n")
    else:
        text = scenario_text(scenario.path if scenario.path is not None else args.scenario)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
