"""``stress-sim transactions`` and ``stress-sim validate-transactions``."""
from __future__ import annotations

import json

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
    files = sorted(out.glob("day=*/part-*.parquet"), key=lambda p: (int(p.parent.name[4:]), p.name))
    return pa.concat_tables([pq.read_table(f) for f in files])


def test_parquet_partitioned_by_day_with_manifest(tmp_path):
    out = tmp_path / "feed"
    rc = cli(["transactions", "--profile", "cards", "--customers", "800", "--days", "3", "--seed", "5",
              "--batch-rows", "5000", "--out", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["day=0", "day=1", "day=2"]
    table = _read_parts(out)
    for part in out.glob("day=*/part-*.parquet"):
        days = pq.read_table(part).column("day").to_numpy()
        assert (days == int(part.parent.name[4:])).all()
    direct = pa.Table.from_batches(list(generate_transactions("cards", customers=800, days=3, seed=5)))
    assert table.equals(direct)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "transactions" and manifest["rows"] == table.num_rows
    assert manifest["seed"]["entropy"] == "5" and manifest["profile"]["name"] == "cards"
    assert len(manifest["outputs"]) == len(list(out.glob("day=*/part-*.parquet")))
    assert cli(["validate-transactions", "--feed", str(out), "--out", str(tmp_path / "rep.json")]) == 0
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["passed"] and rep["fairness"]["segments"]


def test_jsonl_to_stdout(capsys):
    rc = cli(["transactions", "--profile", "mobile-money", "--customers", "60", "--days", "1", "--seed", "2",
              "--format", "jsonl", "--out", "-"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [json.loads(x) for x in lines]
    direct = pa.Table.from_batches(list(generate_transactions("mobile-money", customers=60, days=1, seed=2)))
    assert len(rows) == direct.num_rows
    assert rows[0]["type"] in {"CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"}
    assert rows[0]["ts"].endswith("Z") and isinstance(rows[0]["is_fraud"], bool)
    np.testing.assert_allclose([r["amount"] for r in rows], direct.column("amount").to_numpy())


def test_market_file_and_bad_inputs_leave_outputs_untouched(tmp_path, capsys):
    out = tmp_path / "feed"
    out.mkdir()
    (out / "keep.txt").write_text("previous result")
    bad_market = tmp_path / "market.csv"
    pd.DataFrame({"drawdown": [0.0, -0.2], "vol_ratio": [1.0, 1.0]}).to_csv(bad_market, index=False)
    rc = cli(["transactions", "--customers", "50", "--days", "2", "--market", str(bad_market), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 2 and "drawdown" in cap.out + cap.err
    assert (out / "keep.txt").read_text() == "previous result"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert cli(["transactions", "--profile", "nope", "--customers", "5", "--days", "1", "--out", str(out)]) == 2
    assert cli(["transactions", "--customers", "5", "--days", "1", "--scenario", "x", "--out", str(out)]) == 2
    assert cli(["transactions", "--customers", "5", "--days", "1", "--out", "-"]) == 2  # parquet to stdout
    with pytest.raises(SystemExit) as exc:
        cli(["transactions", "--customers", "0", "--days", "1", "--out", str(out)])
    assert exc.value.code == 2
    assert (out / "keep.txt").read_text() == "previous result"
    good_market = tmp_path / "good.csv"
    pd.DataFrame({"drawdown": [0.0, 0.3], "vol_ratio": [1.0, 2.0]}).to_csv(good_market, index=False)
    assert cli(["transactions", "--customers", "300", "--days", "2", "--market", str(good_market),
                "--out", str(out)]) == 0
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    assert json.loads((out / "manifest.json").read_text())["market"]["drawdown"] == [0.0, 0.3]


def test_validate_rejects_tampered_feed_and_runs_privacy(tmp_path):
    out = tmp_path / "feed"
    assert cli(["transactions", "--profile", "mobile-money", "--customers", "400", "--days", "4", "--seed", "1",
                "--out", str(out)]) == 0
    real = pa.Table.from_batches(list(generate_transactions("mobile-money", customers=400, days=4, seed=77)))
    real = real.to_pandas()[["customer_id", "type", "step", "amount"]]
    ids = real["customer_id"].unique()
    real[real["customer_id"].isin(ids[::2])].to_csv(tmp_path / "train.csv", index=False)
    real[~real["customer_id"].isin(ids[::2])].to_csv(tmp_path / "holdout.csv", index=False)
    rc = cli(["validate-transactions", "--feed", str(out), "--real", str(tmp_path / "train.csv"),
              "--holdout", str(tmp_path / "holdout.csv"), "--out", str(tmp_path / "rep.json")])
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["privacy"]["exact_match_rate"] == 0.0 and rc in (0, 1)
    assert cli(["validate-transactions", "--feed", str(out), "--real", str(tmp_path / "train.csv")]) == 2
    part = next(out.glob("day=0/part-*.parquet"))
    part.write_bytes(part.read_bytes() + b"x")
    assert cli(["validate-transactions", "--feed", str(out)]) == 2
    assert cli(["validate-transactions", "--feed", str(tmp_path / "missing")]) == 2
