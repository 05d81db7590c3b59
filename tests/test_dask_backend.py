"""Dask backend: a 2-worker local cluster gives the local backend's numbers, bit for bit.

One ``LocalCluster`` (2 worker processes, 1 thread each) is started for the module. Facts checked:
paths, summaries and exact tail measures are identical to the local backend for any chunking; results
stream back in task order when asked; a task that raises is retried and a worker that dies mid-task
is replaced, with unchanged numbers; the CLI reaches a running scheduler with ``--scheduler``.
"""
import json
import logging
import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from simulator import MarketModel, simulate  # noqa: E402
from simulator.backends import ChunkTask  # noqa: E402
from simulator.backends import dask as dask_backend  # noqa: E402
from simulator.cli import main  # noqa: E402
from simulator.engine import plan_run  # noqa: E402
from simulator.schedule import Schedule  # noqa: E402
from simulator.tail import chunk_tail, resolve_positions, revalue, simulate_tail  # noqa: E402
from simulator.risk import var_es  # noqa: E402
from tests.conftest import make_model  # noqa: E402

OUTPUTS = ("returns", "sigma", "cum_return", "max_drawdown", "stressed_days")
POS = {"A0": 2e6, "A1": -1e6, "A2": 5e5}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def model():
    return MarketModel.from_dict(make_model(3))


def test_dask_paths_equal_local(client, model):
    sched = Schedule.from_model(model, 12)
    mult = np.ones((12, 3))
    mult[4:7] = 2.5  # a volatility spike on days 5-7 travels with the scattered kernel arrays
    sched = sched.copy(vol_mult=mult)
    local = simulate(model, 2000, 12, 77, chunk_paths=2000, schedule=sched)
    for cp in (333, 1000):
        remote = simulate(model, 2000, 12, 77, chunk_paths=cp, schedule=sched, backend="dask", client=client)
        assert remote.meta["backend"] == "dask" and remote.meta["n_chunks"] == -(-2000 // cp)
        for name in OUTPUTS:
            assert np.array_equal(getattr(remote, name), getattr(local, name)), (cp, name)
    summ = simulate(model, 2000, 12, 77, chunk_paths=250, keep="summary", schedule=sched, backend="dask",
                    client=client)
    assert summ.returns is None
    for name in ("cum_return", "max_drawdown", "stressed_days"):
        assert np.array_equal(getattr(summ, name), getattr(local, name))


def test_dask_tail_equals_local_and_full_sort(client, model):
    local = simulate_tail(model, 20_000, 10, 5, positions=POS, chunk_paths=20_000)
    remote = simulate_tail(model, 20_000, 10, 5, positions=POS, chunk_paths=700, backend="dask", client=client)
    assert remote == local
    assert np.array_equal(remote.largest_losses, local.largest_losses)
    full = simulate(model, 20_000, 10, 5, keep="summary")
    assert remote.risk == var_es(revalue(full.cum_return, resolve_positions(POS, model.assets)), (0.975, 0.99))
    # workers send back only what can be in the tail, not every path's loss
    assert remote.meta["losses_received"] < 20_000 // 2


def test_run_chunks_streams_in_order_when_asked(client, model):
    plan = plan_run(model, 1500, 6, 3, chunk_paths=100, keep="summary")
    got = list(dask_backend.run_chunks(plan.arrays, plan.keys, plan.horizon, plan.tasks, store_paths=False,
                                       client=client, ordered=True, progress=True, max_in_flight=5))
    assert [i for i, _ in got] == list(range(15))
    ref = simulate(model, 1500, 6, 3, keep="summary")
    assert np.array_equal(np.concatenate([v["cum_return"] for _, v in got]), ref.cum_return)


class _FailOnce:
    """Reducer wrapper that makes chunk ``victim`` fail on its first attempt only (marker file):
    ``mode="raise"`` raises, ``mode="die"`` kills the worker process mid-task."""

    def __init__(self, inner, marker, mode):
        self.inner, self.marker, self.mode = inner, marker, mode

    def __call__(self, out, start, stop):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self.inner(out, start, stop)
        os.close(fd)
        if self.mode == "die":
            os._exit(1)
        raise RuntimeError("transient failure")


@pytest.mark.parametrize("mode", ["raise", "die"])
def test_failed_task_or_dead_worker_is_retried(client, model, tmp_path, mode):
    plan = plan_run(model, 4000, 8, 21, chunk_paths=500, keep="summary")
    pos = resolve_positions(POS, model.assets)
    marker = str(tmp_path / "failed-once")

    def reducer(index):
        base = lambda out, s, e: chunk_tail(out, s, e, positions=pos, k=4000, floor=-np.inf)  # noqa: E731
        return _FailOnce(base, marker, mode) if index == 3 else base

    got = dict(dask_backend.run_chunks(plan.arrays, plan.keys, plan.horizon, plan.tasks, store_paths=False,
                                       reducer=reducer, client=client, retries=2))
    assert os.path.exists(marker)  # the failure did happen
    ref = simulate(model, 4000, 8, 21, keep="summary")
    for t in plan.tasks:
        assert np.array_equal(np.sort(got[t.index]["top"]), np.sort(-revalue(ref.cum_return[t.start:t.stop], pos)))
    client.wait_for_workers(2, timeout=60)


def test_cli_scheduler_matches_local(client, tmp_path, capsys):
    base = ["simulate", "builtin:example", "--paths", "5000", "--horizon", "10", "--seed", "4", "--keep", "tail",
            "--positions", "SPX=1e6,NDX=-4e5", "--var-levels", "0.95,0.99", "--chunk-paths", "400"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    assert main([*base, "--out", str(tmp_path / "dask"), "--scheduler", client.scheduler.address]) == 0
    assert (tmp_path / "dask" / "tail.json").read_bytes() == (tmp_path / "local" / "tail.json").read_bytes()
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["execution"]["backend"] == "dask"
    assert manifest["execution"]["scheduler"] == client.scheduler.address


def _threads_after_chunk(arrays, keys):
    import numba

    dask_backend._chunk_task(arrays, keys, ChunkTask(0, 0, 10), 3, False, None, None)
    return numba.get_num_threads()


def test_workers_limit_numba_threads_to_their_own(client, model):
    plan = plan_run(model, 10, 3, 1)
    # one thread per worker process: numba must not spread a task over every core of the machine
    assert client.submit(_threads_after_chunk, plan.arrays, plan.keys, pure=False).result() == 1


def test_own_local_cluster_is_started_and_closed(model):
    import time

    import psutil

    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    ref = simulate(model, 1200, 5, 8, keep="summary")
    res = simulate(model, 1200, 5, 8, keep="summary", chunk_paths=300, backend="dask", n_workers=1)
    assert np.array_equal(res.cum_return, ref.cum_return)
    deadline = time.monotonic() + 20
    while {p.pid for p in me.children(recursive=True)} - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not {p.pid for p in me.children(recursive=True)} - before  # its worker process is gone


def test_backend_argument_errors(model, client):
    with pytest.raises(ValueError, match="backend must be one of 'local', 'dask', 'cuda', 'auto'"):
        simulate(model, 10, 2, 1, backend="spark")
    with pytest.raises(ValueError, match="backend='dask' only"):
        simulate(model, 10, 2, 1, client=client)
    with pytest.raises(ValueError, match="cannot be combined with an existing client"):
        simulate(model, 10, 2, 1, backend="dask", client=client, n_workers=2)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        simulate(model, 10, 2, 1, backend="dask", client=42)
    list(dask_backend.run_chunks(None, None, 1, [], store_paths=False, client=client))  # nothing to do
    assert ChunkTask(0, 0, 5).stop == 5
