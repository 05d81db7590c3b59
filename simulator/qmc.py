"""Quasi-Monte Carlo: scrambled Sobol points for the copula's independent normals.

With ``qmc=True`` (:func:`simulator.simulate`, :func:`simulator.tail.simulate_tail`,
:func:`simulator.importance.simulate_importance`) path ``i``'s independent copula normals of its first ``Hq``
days are ``Phi^{-1}`` of point ``i`` of a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, dimension
``Hq x n_assets``, day-major), instead of the path's pseudo-random normals; everything else the path draws
(regime chain, the t copula's mixing variable, jumps, days after ``Hq``) stays pseudo-random. The scramble
seed derives from the run seed, and the point of a path is a function of its global index (the chunk runner
fast-forwards the sequence to the chunk's first path), so the numbers are the same for any chunking, thread
count or backend, as without QMC. Randomised QMC: replications with different seeds are independent and
each is unbiased.

Why the first days only: scipy's Sobol sequence has at most 21,201 dimensions, the chunk's points take
``8 x Hq x n_assets`` bytes a path, and the low-discrepancy gain fades with the dimension; ``Hq`` is the
largest number of days whose normals fit in ``max_dims`` dimensions (default :data:`QMC_MAX_DIMS`, all 10
days of a 3-asset book). The kernel overwrites the day's normals with the chunk's points
(:func:`simulator.kernels.paths._tilt_lanes`); it draws its own normals first, so the other draws of a path
come from the same positions of its stream as without QMC.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import special
from scipy.stats import qmc as _qmc

from simulator.checks import check_int

__all__ = ["QMC_MAX_DIMS", "qmc_config", "chunk_normals", "with_qmc"]

#: default dimension budget of the Sobol points (days x assets)
QMC_MAX_DIMS = 64
#: scipy's Sobol direction numbers cover this many dimensions
SOBOL_MAX_DIMS = 21_201
_TINY = 2.0 ** -53


def qmc_config(keys, horizon: int, n_assets: int, max_dims: int = QMC_MAX_DIMS) -> np.ndarray:
    """``[scramble seed, Hq]`` (int64): the seed derived from the run's stream keys, Hq the days covered."""
    max_dims = check_int(max_dims, "qmc_dims", lo=1, hi=SOBOL_MAX_DIMS)
    hq = min(int(horizon), max_dims // int(n_assets))
    if hq < 1:
        raise ValueError(f"qmc_dims = {max_dims} covers no whole day of {n_assets} assets; give at least {n_assets}")
    ss = np.random.SeedSequence(keys.entropy, spawn_key=(*keys.spawn_key, 0x50B0))
    seed = int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
    return np.array([seed, hq], dtype=np.int64)


def with_qmc(arrays, keys, horizon: int, max_dims: int = QMC_MAX_DIMS):
    """``arrays`` (:class:`~simulator.kernels.interface.KernelInputs`) with quasi-Monte Carlo switched on; refused for
    Archimedean copulas (they draw no independent normals)."""
    if np.any(np.asarray(arrays.model.cop_type) > 2):
        raise ValueError("quasi-Monte Carlo replaces the independent normals of Gaussian, t and independent copulas; "
                         "this model or scenario uses an Archimedean copula (clayton, gumbel or frank): run it "
                         "without qmc")
    cfg = qmc_config(keys, horizon, arrays.n_assets, max_dims)
    return arrays._replace(shocks=arrays.shocks._replace(qmc=cfg))


def chunk_normals(arrays, start: int, n: int) -> np.ndarray:
    """The ``chunk_z`` kernel argument of paths ``start .. start + n - 1``: (n, Hq, n_assets) normals of Sobol points
    ``start ..`` of the run's scrambled sequence, or (0, 0, n_assets) when quasi-Monte Carlo is off."""
    cfg = np.asarray(arrays.shocks.qmc)
    a = arrays.n_assets
    if cfg.shape[0] == 0:
        return np.zeros((0, 0, a))
    seed, hq = int(cfg[0]), int(cfg[1])
    engine = _qmc.Sobol(hq * a, scramble=True, seed=seed)
    if start:
        engine.fast_forward(int(start))
    with warnings.catch_warnings():  # chunks need not be powers of two: the run as a whole is one sequence
        warnings.simplefilter("ignore", UserWarning)
        u = engine.random(int(n))
    return np.ascontiguousarray(special.ndtri(np.clip(u, _TINY, 1.0 - _TINY)).reshape(int(n), hq, a))
