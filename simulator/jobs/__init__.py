"""Application jobs as library code: what the command line does, callable from Python.

The CLI (:mod:`simulator.cli`) parses arguments and prints; the work is here, so every job runs the same
from a script, a notebook or the command line, on local threads, Dask or a GPU.

* :func:`run_scenario` — load a scenario (file, library name or ``Scenario``), read its replay data,
  compile its shocks and simulate it (also ``simulator.run_scenario``); :func:`compile_scenario` and
  :func:`load_replay_data` are its first steps.
* :func:`plan_runs` / :func:`execute_runs` — check a batch of scenarios before anything runs, then
  write one results folder per scenario, baseline first (``stress-sim run``, ``stress-sim demo``).
* :func:`reverse_stress_test` — which moves break the portfolio, and how plausible they are
  (``stress-sim reverse``).
* :func:`verify_directory` — re-check a results folder's hashes and recompute a sample of its paths
  bit for bit (``stress-sim verify``).

This layer sits above the ``scenarios`` and ``calibration`` packages (it reads scenario files and
price data); the simulator's lower layers import neither (see ``tests/test_layers.py``).
"""
from simulator.jobs.runs import (
    BASELINE_STARTS,
    LONG_RUN_BASELINE,
    PlannedRun,
    execute_runs,
    parse_roles,
    plan_runs,
    results_table,
)
from simulator.jobs.scenario import compile_scenario, load_replay_data, replay_residuals, run_scenario
from simulator.jobs.reverse import REVERSE_FILE, reverse_stress_test, write_reverse
from simulator.jobs.verify import RunCheck, verify_directory

__all__ = ["run_scenario", "compile_scenario", "load_replay_data", "replay_residuals", "plan_runs", "execute_runs",
           "PlannedRun", "results_table", "parse_roles", "BASELINE_STARTS", "LONG_RUN_BASELINE",
           "verify_directory", "RunCheck", "reverse_stress_test", "write_reverse", "REVERSE_FILE"]
