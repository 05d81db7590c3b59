"""The kernel interface is written once (simulator/kernels/interface.py): both drivers and the per-path body
take exactly the parameters it defines, and the schedule fills every input of it."""
import ast
import inspect

import numpy as np

from simulator.kernels import cuda_chunk, paths
from simulator.kernels.interface import BLOCK_PARAMS, DRIVER_PARAMS, KernelInputs
from simulator.schedule import Schedule


def _params(fn) -> tuple[str, ...]:
    return tuple(inspect.signature(getattr(fn, "py_func", fn)).parameters)


def test_driver_signatures_come_from_the_interface():
    assert _params(paths.simulate_chunk) == DRIVER_PARAMS  # CPU driver
    assert _params(cuda_chunk.simulate_chunk_gpu) == DRIVER_PARAMS  # GPU driver
    assert _params(paths.simulate_block) == BLOCK_PARAMS  # the body both run


def _body_call_args(fn) -> list[str]:
    tree = ast.parse(inspect.getsource(fn))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "simulate_block"]
    assert len(calls) == 1
    return [a.id if isinstance(a, ast.Name) else ast.unparse(a) for a in calls[0].args]


def test_drivers_hand_their_parameters_to_the_block_body_unchanged():
    """Both drivers call simulate_block with the interface's names in the interface's order: the GPU a block
    of one lane per thread, the CPU blocks of LANES paths."""
    assert _body_call_args(cuda_chunk.simulate_chunk_gpu) == ["work", "key0", "key1", "path_start + i", "i", "1",
                                                             *BLOCK_PARAMS[6:]]
    assert _body_call_args(paths.simulate_chunk.py_func) == ["work", "key0", "key1", "path_start + lo", "lo",
                                                            "min(LANES, n_paths - lo)", *BLOCK_PARAMS[6:]]


def test_schedule_fills_every_kernel_input(example_model):
    arrays = Schedule.from_model(example_model, 7).kernel_arrays()
    assert isinstance(arrays, KernelInputs) and arrays.as_tuple() == tuple(arrays)
    names = [name for name, _ in arrays.flat_items()]
    assert len(names) == len(set(names))  # one name per input across the groups
    for name, a in arrays.flat_items():
        assert isinstance(a, np.ndarray), name
    assert arrays.n_assets == 2
    copy = arrays.map_arrays(np.copy)
    assert type(copy.shocks) is type(arrays.shocks)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(copy.flat_items(), arrays.flat_items()))


def test_poisson_jump_count_is_exact_for_any_intensity():
    """The kernel's count against scipy's Poisson law: mean, and the CDF at its 10/50/90 % quantiles and
    beyond 50 (where the kernel used to stop counting), 4.5 standard errors from n = 20,000 draws."""
    from scipy import stats

    from simulator.kernels.paths import _poisson_count
    from simulator.kernels.rng import seed_stream

    n = 20_000
    st = np.empty(4, np.uint64)
    for lam in (0.2, 45.0, 700.0):
        counts = np.empty(n, np.int64)
        for i in range(n):
            seed_stream(st, np.uint64(7), np.uint64(11), np.int64(i))
            counts[i] = _poisson_count(st, lam)
        assert abs(counts.mean() - lam) < 4.5 * np.sqrt(lam / n), (lam, counts.mean())
        law = stats.poisson(lam)
        for k in {*law.ppf([0.1, 0.5, 0.9]).astype(int), 50}:
            p = law.cdf(k)
            assert abs(np.mean(counts <= k) - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12, (lam, k)
    assert np.mean(counts > 50) > 0.9  # lam = 700: no cap


def test_every_kernel_cache_depends_on_every_kernel_source():
    """numba's cache checks only a function's own file; the kernels inline functions of other kernel modules
    (a new volatility family edits simulator/kernels/variance.py alone), so every cached kernel also carries
    the hash of all kernel sources in its cache stamp."""
    import hashlib
    from pathlib import Path

    from simulator.kernels import _targets

    kernel_dir = Path(paths.__file__).parent
    files = {p.name for p in _targets.KERNEL_SOURCES}
    assert {p.name for p in kernel_dir.glob("*.py")} | {"tables.py"} == files
    want = hashlib.sha256(b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in _targets.KERNEL_SOURCES))
    assert _targets.KERNEL_SOURCES_SHA256 == want.hexdigest()
    dispatchers = [e.cpu for e in _targets._REGISTRY] + [paths.simulate_chunk]
    for d in dispatchers:
        assert d._cache._cache_file._source_stamp[-1] == _targets.KERNEL_SOURCES_SHA256, d
