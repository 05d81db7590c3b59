"""Shared fixtures: example models and the location of the reference data beside the checkout."""
from __future__ import annotations

import copy
import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STRESS_SIM_SHARED_DATA", REPO.parent / "shared" / "data"))

EXAMPLE = {
    "assets": ["SPX", "NDX"],
    "marginals": [
        {"mean": {"mu": 0.05},
         "vol": {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88},
         "dist": {"type": "t", "nu": 6.0}},
        {"mean": {"mu": 0.06},
         "vol": {"type": "garch", "omega": 0.03, "alpha": 0.08, "beta": 0.90},
         "dist": {"type": "skewt", "nu": 7.0, "lambda": -0.1}},
    ],
    "copula": {"type": "t", "corr": [[1.0, 0.8], [0.8, 1.0]], "nu": 5.0},
    "start": {"sigma2": [1.0, 1.2], "resid": [0.0, 0.0]},
}


@pytest.fixture
def example_dict():
    return copy.deepcopy(EXAMPLE)


@pytest.fixture
def example_model():
    from simulator import MarketModel

    return MarketModel.from_dict(copy.deepcopy(EXAMPLE))


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} not found (expected ../shared/data beside the checkout)")
    return SHARED_DATA


def make_model(n_assets=3, *, vol=None, dist=None, copula=None, mu=0.03):
    """A homogeneous model dict of ``n_assets`` assets for tests."""
    vol = vol or {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88}
    dist = dist or {"type": "t", "nu": 6.0}
    if copula is None:
        corr = [[1.0 if i == j else 0.5 for j in range(n_assets)] for i in range(n_assets)]
        copula = {"type": "t", "corr": corr, "nu": 5.0}
    return {
        "assets": [f"A{i}" for i in range(n_assets)],
        "marginals": [{"mean": {"mu": mu}, "vol": dict(vol), "dist": dict(dist)} for _ in range(n_assets)],
        "copula": copula,
    }


def within(seconds: float, fn, *args):
    """``fn(*args)`` in a thread; fails (instead of hanging the suite) when it takes longer than ``seconds``."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture(autouse=True)
def _fresh_fault_counts():
    """The fault points (simulator._faults) count their calls per process: each test starts from zero, whatever
    ran before it in the same worker. And Ctrl-C is Python's KeyboardInterrupt in every test, whatever handler a
    library used by an earlier test in the same worker (Dask, a progress display) left installed."""
    import signal

    from simulator._faults import reset

    reset()
    before = signal.getsignal(signal.SIGINT)
    if before is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if before is not signal.default_int_handler and before is not None:
        signal.signal(signal.SIGINT, before)
