"""``stress-sim transactions`` and ``stress-sim validate-transactions``: a feed folder is a dataset,
streaming, progress, the seed convention, scenario coupling (issue 18 defects 3, 4, 5, 9)."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulator.transactions import generate_transactions


def cli(argv: list[str]) -> int:
    """Run as ``stress-sim`` does."""
    import simulator.cli as dispatcher

    return dispatcher.main(argv)


def _read_parts(out):
    files = sorted(out.glob("date=*/part-*.parquet"), key=lambda p: (p.parent.name, p.name))
    return pa.concat_tables([pq.read_table(f) for f in files])


@pytest.fixture(scope="module")
def cards_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("feeds") / "feed"
    rc = cli(["transactions", "--profile", "cards", "--customers", "800", "--days", "3", "--seed", "5",
              "--batch-rows", "5000", "--no-progress", "--out", str(out)])
    assert rc == 0
    return out


def test_parquet_dataset_with_manifest_and_side_tables(cards_folder, tmp_path):
    out = cards_folder
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["date=2024-01-01", "date=2024-01-02",
                                                                  "date=2024-01-03"]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["_accounts.parquet", "_cards.parquet",
                                                                    "_devices.parquet", "_manifest.json"]
    table = _read_parts(out)
    direct = pa.Table.from_batches(list(generate_transactions("cards", customers=800, days=3, seed=5)))
    assert table.equals(direct)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["kind"] == "transactions" and manifest["rows"] == table.num_rows
    assert manifest["seed"]["entropy"] == "5" and manifest["profile"]["name"] == "cards"
    assert manifest["layout"]["data_glob"] == "date=*/*.parquet"
    assert set(manifest["outputs"]) == {str(p.relative_to(out)) for p in out.rglob("*.parquet")}
    accounts = pq.read_table(out / "_accounts.parquet")
    assert accounts.num_rows == 800
    assert cli(["validate-transactions", "--feed", str(out), "--out", str(tmp_path / "rep.json")]) == 0
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["passed"] and rep["fairness"]["segments"]


def test_feed_folder_opens_in_pandas_pyarrow_polars_and_duckdb(cards_folder):
    """Issue 18 defect 3: read_parquet failed on the `day` partition key, pyarrow.dataset on manifest.json."""
    import pyarrow.dataset as ds

    out = cards_folder
    n = _read_parts(out).num_rows
    df = pd.read_parquet(out)
    assert len(df) == n and df["day"].dtype == np.int32 and {"date", "is_fraud", "amount"} <= set(df.columns)
    assert ds.dataset(out, partitioning="hive").count_rows() == n
    assert ds.dataset(out).to_table().num_rows == n
    polars = pytest.importorskip("polars")
    lf = polars.scan_parquet(str(out / "date=*" / "*.parquet"), hive_partitioning=True)
    assert lf.select(polars.len()).collect().item() == n
    duckdb = pytest.importorskip("duckdb")
    q = f"select count(*), count(distinct date) from read_parquet('{out}/date=*/*.parquet', hive_partitioning=true)"
    assert duckdb.sql(q).fetchall() == [(n, 3)]


def test_ndjson_and_arrow_streams_to_stdout_at_a_rate(capsysbinary):
    direct = pa.Table.from_batches(list(generate_transactions("mobile-money", customers=60, days=1, seed=2)))
    rc = cli(["transactions", "--profile", "mobile-money", "--customers", "60", "--days", "1", "--seed", "2",
              "--format", "ndjson", "--no-progress", "--out", "-"])
    assert rc == 0
    rows = [json.loads(x) for x in capsysbinary.readouterr().out.decode().strip().splitlines()]
    assert len(rows) == direct.num_rows
    assert rows[0]["type"] in {"CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER", "DEPOSIT"}
    assert rows[0]["ts"].endswith("Z") and isinstance(rows[0]["is_fraud"], bool)
    np.testing.assert_allclose([r["amount"] for r in rows], direct.column("amount").to_numpy())
    # an Arrow IPC stream, throttled: the rows take at least rows / rate seconds
    rate = 4 * direct.num_rows
    t0 = time.perf_counter()
    assert cli(["transactions", "--profile", "mobile-money", "--customers", "60", "--days", "1", "--seed", "2",
                "--format", "arrow", "--rate", str(rate), "--no-progress", "--out", "-"]) == 0
    elapsed = time.perf_counter() - t0
    table = pa.ipc.open_stream(capsysbinary.readouterr().out).read_all()
    assert table.equals(direct)
    assert elapsed >= 0.25 - 0.05


def test_progress_bar_and_seed_convention(tmp_path, capsys):
    """Issue 18 defect 9 / issue 14: no progress display; CLI default seed 0 vs a fresh seed in the API."""
    out = tmp_path / "a"
    assert cli(["transactions", "--customers", "300", "--days", "2", "--progress", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "transactions:" in err and "rows" in err  # tqdm's bar on stderr
    ent = json.loads((out / "_manifest.json").read_text())["seed"]["entropy"]
    assert f"--seed {ent}" in err  # a fresh seed, as the API's seed=None, printed for replay
    assert cli(["transactions", "--customers", "300", "--days", "2", "--no-progress", "--out",
                str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "_manifest.json").read_text())["seed"]["entropy"] != ent
    replay = pa.Table.from_batches(list(generate_transactions("cards", customers=300, days=2, seed=int(ent))))
    assert _read_parts(out).equals(replay)
    api = generate_transactions("cards", customers=300, days=2)
    assert api.seed_record()["entropy"] != ent and int(api.seed_record()["entropy"]) > 2**64


def test_scenario_feed_longer_than_the_scenario(tmp_path):
    """Issue 18 defect 4: `--scenario covid` was unknown; covid-2020 (42 trading days) failed on a 60-day feed."""
    out = tmp_path / "stressed"
    assert cli(["transactions", "--customers", "300", "--days", "60", "--seed", "1", "--scenario", "covid-2020",
                "--model", "builtin:us-markets", "--no-progress", "--out", str(out)]) == 0
    m = json.loads((out / "_manifest.json").read_text())["market"]
    dd, vr = np.array(m["drawdown"]), np.array(m["vol_ratio"])
    assert dd.size == vr.size == 60
    # 2024-01-01 is a Monday: days 5, 6 (the weekend) keep Friday's state; trading day 41, the scenario's
    # last, is calendar day 57; after it the last state holds
    assert vr[5] == vr[4] == vr[6] and dd[12] == dd[11] == dd[13]
    assert np.all(dd[57:] == dd[57]) and np.all(vr[57:] == vr[57])
    assert dd.max() > 0.25  # the crash is in the feed
    assert cli(["transactions", "--customers", "30", "--days", "5", "--scenario", "covid", "--model",
                "builtin:us-markets", "--out", str(tmp_path / "x")]) == 2


def test_market_from_scenario_follows_realised_volatility_on_replays():
    """Issue 18 defect 5: on gfc-2008 the volatility ratio was the spread across paths, which vanishes on
    replayed days: days 0-10 got 18, the crisis 11, and the maximum fell on day 7."""
    from simulator.transactions import market_from_scenario
    from simulator.transactions.market import scenario_days

    st = market_from_scenario("gfc-2008", "builtin:us-markets", n_paths=400, seed=3)
    vr = st["vol_ratio"].to_numpy()
    assert 20 <= int(np.argmax(vr)) <= 60  # October-November 2008
    assert vr[20:50].mean() > 2 * vr[:8].mean()
    # on sequence-replayed days (10-129) every path moves the same: the realised volatility is the
    # root mean square of that day's equal-weight index log return over the centred 5-day window
    import simulator

    r = simulator.run_scenario("gfc-2008", "builtin:us-markets", keep="paths", n_paths=400, seed=3).returns
    idx = 100 * np.log1p(np.expm1(r[0] / 100).mean(axis=1))
    expected = np.sqrt(np.convolve(idx**2, np.ones(5) / 5, mode="same"))
    np.testing.assert_allclose(st["vol_pct"].to_numpy()[12:128], expected[12:128], rtol=1e-9)
    # calendar mapping: trading days, weekends keep Friday's state
    np.testing.assert_array_equal(scenario_days(10, 0), [0, 1, 2, 3, 4, 4, 4, 5, 6, 7])
    np.testing.assert_array_equal(scenario_days(4, 5), [0, 0, 0, 1])
    assert scenario_days(10, 0, "daily").tolist() == list(range(10))


def test_validate_leak_audit_and_privacy(tmp_path):
    out = tmp_path / "feed"
    assert cli(["transactions", "--profile", "mobile-money", "--customers", "3000", "--days", "10", "--seed", "1",
                "--fraud-scale", "60", "--no-progress", "--out", str(out)]) == 0
    rc = cli(["validate-transactions", "--feed", str(out), "--leaks", "--engine", "numpy",
              "--out", str(tmp_path / "rep.json")])
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["leaks"]["engine"] == "numpy" and rep["leaks"]["checks"] and rep["leaks"]["passed"]
    assert rc == (0 if rep["passed"] else 1)
    # privacy against real rows (here: another feed split by customer)
    real = pa.Table.from_batches(list(generate_transactions("mobile-money", customers=400, days=4, seed=77)))
    real = real.to_pandas()[["customer_id", "type", "step", "amount"]]
    ids = real["customer_id"].unique()
    real[real["customer_id"].isin(ids[::2])].to_csv(tmp_path / "train.csv", index=False)
    real[~real["customer_id"].isin(ids[::2])].to_csv(tmp_path / "holdout.csv", index=False)
    cli(["validate-transactions", "--feed", str(out), "--real", str(tmp_path / "train.csv"),
         "--holdout", str(tmp_path / "holdout.csv"), "--out", str(tmp_path / "rep2.json")])
    rep = json.loads((tmp_path / "rep2.json").read_text())
    assert not rep["privacy"]["matches"]["rows"]["flagged"]
    assert cli(["validate-transactions", "--feed", str(out), "--real", str(tmp_path / "train.csv")]) == 2
    part = next(out.glob("date=*/part-*.parquet"))
    part.write_bytes(part.read_bytes() + b"x")
    assert cli(["validate-transactions", "--feed", str(out)]) == 2
    assert cli(["validate-transactions", "--feed", str(tmp_path / "missing")]) == 2


def test_market_file_and_bad_inputs_leave_outputs_untouched(tmp_path, capsys):
    out = tmp_path / "feed"
    assert cli(["transactions", "--customers", "20", "--days", "1", "--seed", "3", "--no-progress",
                "--out", str(out)]) == 0
    previous = (out / "_manifest.json").read_bytes()
    bad_market = tmp_path / "market.csv"
    pd.DataFrame({"drawdown": [0.0, -0.2], "vol_ratio": [1.0, 1.0]}).to_csv(bad_market, index=False)
    capsys.readouterr()
    rc = cli(["transactions", "--customers", "50", "--days", "2", "--market", str(bad_market), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 2 and "drawdown" in cap.out + cap.err
    assert (out / "_manifest.json").read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert cli(["transactions", "--profile", "nope", "--customers", "5", "--days", "1", "--out", str(out)]) == 2
    assert cli(["transactions", "--customers", "5", "--days", "1", "--scenario", "x", "--out", str(out)]) == 2
    assert cli(["transactions", "--customers", "5", "--days", "1", "--out", "-"]) == 2  # parquet to stdout
    assert cli(["transactions", "--customers", "5", "--days", "1", "--format", "arrow", "--out", str(out)]) == 2
    assert cli(["transactions", "--customers", "5", "--days", "1", "--drift", "nope=2", "--out", str(out)]) == 2
    with pytest.raises(SystemExit) as exc:
        cli(["transactions", "--customers", "0", "--days", "1", "--out", str(out)])
    assert exc.value.code == 2
    assert (out / "_manifest.json").read_bytes() == previous
    good_market = tmp_path / "good.csv"
    pd.DataFrame({"drawdown": [0.0, 0.3], "vol_ratio": [1.0, 2.0]}).to_csv(good_market, index=False)
    assert cli(["transactions", "--customers", "300", "--days", "2", "--market", str(good_market),
                "--no-progress", "--out", str(out)]) == 0
    assert (out / "_manifest.json").read_bytes() != previous
    # a folder holding the user's own files is never replaced (nor any file in it deleted)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("the user's file")
    capsys.readouterr()
    assert cli(["transactions", "--customers", "20", "--days", "1", "--out", str(mine)]) == 2
    assert "did not write (keep.txt)" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]
    assert json.loads((out / "_manifest.json").read_text())["market"]["drawdown"] == [0.0, 0.3]
    assert math.isfinite(json.loads((out / "_manifest.json").read_text())["market"]["vol_ratio"][1])
