"""Hostile inputs of issue 20: special files and slow inputs, errors that would echo huge values, messages that
spoke the code's language, and dates beyond what readers accept. Each case runs ``stress-sim`` in-process and
checks the exit status and the one line it prints (no traceback, no numpy repr, no parameter names of the
Python API where a command-line user reads them).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import cli
from tests.conftest import within

BIG = 5_000_000  # characters of the oversized cells and arguments


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``stress-sim ARGV`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return int(code), out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    """The single ``stress-sim: error:`` line of ``err`` (warnings may precede it, one line each)."""
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("stress-sim: error: "), err[-2000:]
    assert all(line.startswith(("stress-sim: warning: ", "stress-sim: error: ")) for line in lines), err[-2000:]
    assert sum(line.startswith("stress-sim: error: ") for line in lines) == 1, err[-2000:]
    assert "Traceback" not in err and "internal error" not in err
    return lines[-1]


def prices_frame(n: int = 500) -> pd.DataFrame:
    """The last ``n`` days of the bundled S&P 500 and WTI closes (real data: the GARCH fits are well posed)."""
    from calibration.data import load_prices

    frame = load_prices("builtin:us-markets")[["SP500", "WTI"]].iloc[-n:]
    return frame.set_axis(["EQ", "OIL"], axis=1).rename_axis("date")


def write_prices(path: Path, frame: pd.DataFrame | None = None) -> Path:
    (frame if frame is not None else prices_frame()).to_csv(path, float_format="%.6f")
    return path


CAL = ["--vol", "garch", "--dist", "normal", "--copula", "gaussian", "--quiet"]


# ------------------------------------------------------------------------------------------ special files
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_as_price_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "prices.csv"
    os.mkfifo(fifo)
    code, _, err = within(60, run_cli, "calibrate", str(fifo), "--out", str(tmp_path / "m.json"), *CAL)
    assert code == 2
    assert "is a FIFO (named pipe); give a regular file" in one_error_line(err)
    # the library refuses it too, before opening it (a FIFO blocks the reader until a writer comes)
    from calibration.data import load_prices
    from simulator.exceptions import UserInputError

    with pytest.raises(UserInputError, match="FIFO"):
        within(60, load_prices, fifo)
    assert not (tmp_path / "m.json").exists()


def test_a_price_file_over_the_input_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = write_prices(tmp_path / "prices.csv")
    monkeypatch.setenv("STRESS_SIM_MAX_INPUT_BYTES", "1K")
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "m.json"), *CAL)
    assert code == 2
    assert "more than the 1.0 KiB an input file may have" in one_error_line(err)


# ------------------------------------------------------------------------------------------ slow inputs
def test_a_5_mb_date_cell_is_refused_at_once(tmp_path):
    """It kept calibrate busy past 270 s (parsing was not linear in the cell's length)."""
    path = write_prices(tmp_path / "prices.csv")
    lines = path.read_text().splitlines()
    lines.insert(150, "x" * BIG + ",1.0,2.0")  # data row 150
    path.write_text("\n".join(lines) + "\n")
    code, _, err = within(120, run_cli, "calibrate", str(path), "--out", str(tmp_path / "m.json"), *CAL)
    assert code == 2
    line = one_error_line(err)
    assert "row 150, column 1 holds a cell of 5,000,000 characters (starting 'xxxx" in line
    assert "at most 256" in line and len(line) < 400


def test_a_long_date_from_parquet_or_a_dataframe_is_refused_before_parsing(tmp_path):
    from calibration.data import load_prices

    frame = prices_frame().reset_index()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    frame.loc[200, "date"] = "2016-01-01" + " " * 10 + "9" * 400_000
    with pytest.raises(ValueError, match=r"row 201 has an unparseable date '2016-01-01 .*\(400,020 characters\)"):
        within(120, load_prices, frame)
    frame.to_parquet(tmp_path / "prices.parquet")
    code, _, err = within(120, run_cli, "calibrate", str(tmp_path / "prices.parquet"), "--out",
                          str(tmp_path / "m.json"), *CAL)
    assert code == 2 and "a date has at most 64 characters" in one_error_line(err)


# ------------------------------------------------------------------------------------------ echoed values
@pytest.mark.parametrize("argv", [
    ["simulate", "builtin:us-markets", "--paths", "{big}", "--horizon", "3", "--seed", "1", "--out", "{tmp}/o"],
    ["simulate", "builtin:us-markets", "--paths", "10", "--horizon", "3", "--seed", "1", "--keep", "{big}",
     "--out", "{tmp}/o"],
    ["simulate", "builtin:us-markets", "--paths", "10", "--horizon", "3", "--seed", "1", "--positions", "{big}",
     "--out", "{tmp}/o"],
    ["calibrate", "{prices}", "--out", "{tmp}/m.json", "--assets", "{big}"],
    ["calibrate", "{prices}", "--out", "{tmp}/m.json", "--date-format", "%Y{big}"],
    ["transactions", "--customers", "10", "--days", "3", "--start", "{big}", "--out", "{tmp}/t"],
], ids=["int-argument", "choice", "positions", "assets", "date-format", "start-date"])
def test_huge_values_are_not_echoed(tmp_path, argv):
    big = "x" * BIG if argv[0] != "simulate" or "--paths" not in argv[3:4] else "9" * BIG
    prices = write_prices(tmp_path / "prices.csv")
    argv = [a.replace("{big}", big).replace("{tmp}", str(tmp_path)).replace("{prices}", str(prices)) for a in argv]
    code, out, err = run_cli(*argv)
    assert code == 2
    line = one_error_line(err)
    assert len(err) < 1000 and len(out) < 1000, len(err)
    assert "characters" in line  # the value is named by its prefix and length


def test_model_values_are_shown_short(tmp_path, example_dict):
    m = copy.deepcopy(example_dict)
    m["marginals"][0]["vol"]["type"] = "y" * BIG
    (tmp_path / "m.json").write_text(json.dumps(m))
    code, _, err = run_cli("simulate", str(tmp_path / "m.json"), "--paths", "5", "--horizon", "2", "--seed", "1",
                           "--out", str(tmp_path / "o"))
    line = one_error_line(err)
    assert code == 2 and len(line) < 400
    assert "vol.type is 'yyyy" in line and "(5,000,000 characters); valid types: 'garch'" in line
    m = copy.deepcopy(example_dict)
    m["assets"][0] = "A" * 10_000
    (tmp_path / "m.json").write_text(json.dumps(m))
    code, out, err = run_cli("simulate", str(tmp_path / "m.json"), "--paths", "5", "--horizon", "2", "--seed", "1",
                             "--out", str(tmp_path / "o"))
    assert code == 2 and len(out) + len(err) < 1000
    assert "model.assets[0] is a name of 10,000 characters" in one_error_line(err)


def test_the_cli_cuts_any_long_run_and_folds_lines():
    from simulator.cli import one_line

    assert one_line("a\nb\n\n  c") == "a b c"
    text = one_line(f"value {'z' * 10_000} is bad;\nvalid: 1, 2")
    assert text == f"value {'z' * 60}... (10,000 characters) is bad; valid: 1, 2"
    words = one_line(" ".join(["word"] * 5000))
    assert len(words) < 2100 and "characters cut" in words


def test_warnings_print_as_one_line_during_a_command(tmp_path, capsys):
    from simulator.cli import _show_warning

    before = warnings.showwarning
    _show_warning(RuntimeWarning("overflow encountered\nin multiply"), RuntimeWarning, "x.py", 3)
    assert capsys.readouterr().err == ("stress-sim: warning: overflow encountered in multiply (a numerical warning "
                                       "from the computation)\n")
    assert run_cli("simulate", "builtin:us-markets", "--paths", "5", "--horizon", "2", "--seed", "1", "--out",
                   str(tmp_path / "o"))[0] == 0
    assert warnings.showwarning is before  # restored after the command


# ------------------------------------------------------------------------------------------ the user's language
def test_a_dict_where_a_type_name_belongs_names_the_key(tmp_path, example_dict):
    for section, where in (("vol", "vol.type"), ("dist", "dist.type")):
        m = copy.deepcopy(example_dict)
        m["marginals"][1][section]["type"] = {"name": "garch"}
        (tmp_path / "m.json").write_text(json.dumps(m))
        code, _, err = run_cli("simulate", str(tmp_path / "m.json"), "--paths", "5", "--horizon", "2", "--seed",
                               "1", "--out", str(tmp_path / "o"))
        line = one_error_line(err)
        assert code == 2 and "unhashable" not in line
        assert f"(marginals[1]).{where} is {{'name': 'garch'}}; valid types: " in line
    m = copy.deepcopy(example_dict)
    m["copula"]["type"] = ["t"]
    (tmp_path / "m.json").write_text(json.dumps(m))
    line = one_error_line(run_cli("simulate", str(tmp_path / "m.json"), "--paths", "5", "--horizon", "2",
                                  "--seed", "1", "--out", str(tmp_path / "o"))[2])
    assert "model.copula.type is ['t']; valid types: 'gaussian'" in line


def test_copula_matrix_errors_show_plain_numbers(tmp_path, example_dict):
    m = copy.deepcopy(example_dict)
    m["copula"] = {"type": "gaussian", "corr": [[1.0, 0.5], [0.3, 1.0]]}
    (tmp_path / "m.json").write_text(json.dumps(m))
    line = one_error_line(run_cli("simulate", str(tmp_path / "m.json"), "--paths", "5", "--horizon", "2",
                                  "--seed", "1", "--out", str(tmp_path / "o"))[2])
    assert "must be symmetric: [0][1]=0.5 but [1][0]=0.3" in line and "np.float64" not in line
    m["copula"] = {"type": "gaussian", "corr": [[0.5, 0.3], [0.3, 1.0]]}
    (tmp_path / "m.json").write_text(json.dumps(m))
    line = one_error_line(run_cli("simulate", str(tmp_path / "m.json"), "--paths", "5", "--horizon", "2",
                                  "--seed", "1", "--out", str(tmp_path / "o"))[2])
    assert "model.copula.corr[0][0] must be 1 (unit diagonal), got 0.5" in line


def test_constant_prices_name_the_asset(tmp_path):
    frame = prices_frame()
    frame["OIL"] = 70.0
    path = write_prices(tmp_path / "prices.csv", frame)
    for extra in (CAL, ["--quiet"]):
        code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "m.json"), *extra)
        line = one_error_line(err)
        assert code == 2
        assert "asset 'OIL': its price does not move between " in line
        assert "pseudo-observations" not in line and "math domain" not in line
    assert not (tmp_path / "m.json").exists()


def test_prices_of_few_distinct_moves_drop_the_evt_candidate_or_say_why(tmp_path):
    frame = prices_frame()
    oil = np.full(len(frame), 70.0)
    for i in range(40, len(frame), 100):  # five moves in 500 days: both tails of the residuals are one value
        oil[i:] *= 1.01
    frame["OIL"] = oil
    path = write_prices(tmp_path / "prices.csv", frame)
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "m.json"), "--vol", "garch", "--quiet")
    assert code == 0, err  # dist auto: evt is not among the candidates the data can carry
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "m2.json"), "--vol", "garch", "--dist",
                           "evt", "--quiet")
    line = one_error_line(err)
    assert code == 2 and "asset 'OIL': evt: the " in line and "use another law (t or skewt)" in line
    assert "math domain" not in line


@pytest.mark.parametrize("positions", ["SP500=1e300", "SP500=1e308,NASDAQ=1e308", "WTI=-2e15"])
@pytest.mark.parametrize("keep", ["summary", "tail"])
def test_huge_positions_are_refused_before_the_work(tmp_path, positions, keep):
    code, _, err = run_cli("simulate", "builtin:us-markets", "--paths", "50", "--horizon", "3", "--seed", "1",
                           "--keep", keep, "--positions", positions, "--out", str(tmp_path / "o"))
    line = one_error_line(err)
    assert code == 2 and "exact_sum_terms" not in line and "warning" not in err
    assert "a position must lie within +-1e+15 (a currency amount)" in line
    assert not (tmp_path / "o").exists()


def test_huge_portfolio_positions_in_a_scenario_are_refused(tmp_path):
    (tmp_path / "big.toml").write_text(
        'name = "big"\ndescription = "x"\nsource = "y"\nhorizon_days = 5\nn_paths = 50\nseed = 1\n'
        '[portfolio]\ncurrency = "USD"\n[portfolio.positions]\nSP500 = 1e300\n')
    code, _, err = run_cli("run", str(tmp_path / "big.toml"), "--model", "builtin:us-markets", "--out",
                           str(tmp_path / "o"))
    assert code == 2
    assert "portfolio.positions: position 'SP500' is 1e+300 (allowed: a finite currency amount within +-1e+15)" \
        in one_error_line(err)


def test_duplicate_dates_suggest_the_command_line_option(tmp_path):
    path = write_prices(tmp_path / "prices.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[-1]]) + "\n")
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "m.json"), *CAL)
    line = one_error_line(err)
    assert code == 2 and "keep the last row with --duplicates last" in line
    assert run_cli("calibrate", str(path), "--out", str(tmp_path / "m.json"), "--duplicates", "last", *CAL)[0] == 0


def test_transactions_out_dot_and_validate_transactions_out_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feed").mkdir()
    monkeypatch.chdir(tmp_path / "feed")
    code, out, err = run_cli("transactions", "--customers", "50", "--days", "3", "--seed", "1", "--out", ".")
    assert code == 0, err
    assert (tmp_path / "feed" / "_manifest.json").is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report").mkdir()
    code, _, err = run_cli("validate-transactions", "--feed", str(tmp_path / "feed"), "--out",
                           str(tmp_path / "report"))
    line = one_error_line(err)
    assert code == 2 and "is a directory; give a file name" in line and "rename" not in line.lower()


# ------------------------------------------------------------------------------------------ dates beyond 9999
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_feeds_cannot_run_past_the_calendar(tmp_path, fmt):
    code, _, err = run_cli("transactions", "--customers", "10", "--days", "10", "--start", "9999-12-28", "--seed",
                           "1", "--format", fmt, "--out", str(tmp_path / "t"))
    assert code == 2
    assert "run past the year" in one_error_line(err)
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").iterdir())


def test_brief_values():
    from simulator.exceptions import brief

    assert brief(np.float64(0.5)) == "0.5" and brief(np.int64(3)) == "3"
    assert brief("abc") == "'abc'"
    assert brief("q" * 1000) == f"'{'q' * 59}... (1,000 characters)"
    assert brief(math.inf) == "inf"
