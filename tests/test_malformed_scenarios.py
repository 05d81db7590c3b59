"""The malformed-scenario corpus: every file holds exactly one distinct mistake and must give a clear,
one-line error naming the file, the key path and the allowed values, and exit status 2 from the CLI.

Each file in ``tests/malformed_scenarios/`` starts with three comment lines::

    # mistake: <what is wrong, in words; unique across the corpus>
    # expect-path: <the key path the error must name, e.g. shocks[2].multiplier>
    # expect-text: <a phrase the error must contain>
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from scenarios.loader import load_scenario
from simulator.exceptions import UserInputError

CORPUS = Path(__file__).resolve().parent / "malformed_scenarios"
FILES = sorted(CORPUS.glob("*.toml"))


def _expectations(path: Path) -> dict[str, str]:
    head = {}
    for line in path.read_text().splitlines()[:3]:
        m = re.fullmatch(r"# (mistake|expect-path|expect-text): (.+)", line)
        assert m, f"{path.name}: the first three lines must be the mistake / expect-path / expect-text comments"
        head[m.group(1)] = m.group(2)
    return head


@pytest.fixture
def cli_main():
    """``simulator.cli.main``, as the ``stress-sim`` script calls it."""
    import simulator.cli as cli

    return cli.main


def test_corpus_has_at_least_20_distinct_mistakes():
    assert len(FILES) >= 20
    mistakes = [_expectations(p)["mistake"] for p in FILES]
    assert len(set(mistakes)) == len(mistakes), "each file must hold a different mistake"
    # the mistakes reach every shock type and every table
    paths = {_expectations(p)["expect-path"] for p in FILES}
    texts = " ".join(p.read_text() for p in FILES)
    for shock_type in ("jump", "vol_spike", "correlation_break", "regime_switch", "historical_replay",
                       "poisson_jumps", "anchored_path"):
        assert f'type = "{shock_type}"' in texts
    for table in ("outputs.", "portfolio.", "roles", "shocks[0].", "horizon_days", "line "):
        assert any(p.startswith(table) for p in paths), table


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_malformed_file_gives_one_clear_error(path):
    exp = _expectations(path)
    with pytest.raises(UserInputError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message, f"one mistake must give one line, got:\n{message}"
    assert message.startswith(f"{path}: {exp['expect-path']}: "), message
    assert exp["expect-text"] in message, message
    assert re.search(r"\(allowed: .+\)$", message), message


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_cli_exit_code_2(path, cli_main, capsys):
    exp = _expectations(path)
    rc = cli_main(["scenarios", "show", str(path)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert err.startswith(f"stress-sim: error: {path}: {exp['expect-path']}: "), err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_valid_twin_of_a_malformed_file_loads(tmp_path):
    """The corpus files differ from a valid scenario only by their mistake: fixing it makes them load."""
    fixes = {
        "vol_spike_negative_multiplier": ("multiplier = -1.5", "multiplier = 1.5"),
        "jump_bad_unit": ('unit = "bps"', 'unit = "percent"'),
        "poisson_missing_law_parameter": ("scale = 5.0\n", "scale = 5.0\nalpha = 3.0\n"),
        "replay_window_reversed": ("[2009-03-09, 2008-09-02]", "[2008-09-02, 2009-03-09]"),
        "anchored_knots_not_increasing": ("[[126, -30.0], [63, -50.0]]", "[[63, -30.0], [126, -50.0]]"),
        "toml_syntax_error": ("one mistake.\n", 'one mistake."\n'),
    }
    for stem, (bad, good) in fixes.items():
        text = (CORPUS / f"{stem}.toml").read_text()
        assert bad in text, stem
        fixed = tmp_path / f"{stem}.toml"
        fixed.write_text(text.replace(bad, good))
        assert load_scenario(fixed).name == "malformed-example"
