"""The path kernel's interface, written once: its input groups and the drivers' parameter list.

The kernel reads its inputs in five groups, each a named tuple of arrays (numba passes named tuples to
compiled functions on both targets and resolves their fields at compile time):

- :class:`ModelInputs`: regimes' volatility codes and parameters, regime chain, copula sets;
- :class:`TableInputs` / :class:`InverseTableInputs`: the quantile tables (copula scale -> innovation) and
  their inverses (innovation -> copula scale, for anchored assets);
- :class:`ShockInputs`: start state and the per-day shock arrays;
- :class:`AnchorInputs`: ``anchored_path`` days, assets, targets and the conditional-copula factors.

:class:`KernelInputs` holds the five; :meth:`simulator.schedule.Schedule.kernel_arrays` builds it. Both
drivers, :func:`simulator.kernels.paths.simulate_chunk` (CPU) and
:func:`simulator.kernels.cuda_chunk.simulate_chunk_gpu` (GPU), take exactly :data:`DRIVER_PARAMS`, and the
body both run, :func:`simulator.kernels.paths.simulate_block` (a block of paths in lockstep), takes
:data:`BLOCK_PARAMS`; ``tests/test_kernels.py`` checks the three signatures against these tuples. A new kernel input is one field here, its value in
``Schedule.kernel_arrays`` and its use in the kernel.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class ModelInputs(NamedTuple):
    """Parameter sets (K regimes x A assets) and copula sets (C)."""

    vol_code: np.ndarray  #: (K, A) int64, volatility family codes (:mod:`simulator.families.volatility`)
    vpar: np.ndarray  #: (K, A, P): mu, then the family's parameters (:mod:`simulator.kernels.variance`)
    regime_cum: np.ndarray  #: (K, K) cumulative transition rows
    regime_init_cum: np.ndarray  #: (K,) cumulative initial distribution
    cop_type: np.ndarray  #: (C,) int64, copula family codes (:mod:`simulator.families.copulas`)
    cop_chol: np.ndarray  #: (C, A, A) Cholesky factor of the correlation (identity where none)
    cop_nu: np.ndarray  #: (C,) t copula degrees of freedom (0 where none)
    cop_theta: np.ndarray  #: (C,) Archimedean parameter (0 where none)
    day_copula: np.ndarray  #: (H,) int64, copula-set override of the day or -1 (the regime's)
    slot: np.ndarray  #: (C, K) int64, table set of each (copula set, regime)


class TableInputs(NamedTuple):
    """Quantile tables, copula scale -> standardised innovation, per table set S and asset A."""

    tab_kind: np.ndarray  #: (S, A) int64, identity or Hermite table
    tab_xc: np.ndarray  #: (S, A) centre-segment half width
    tab_ihc: np.ndarray  #: (S, A) inverse centre step
    tab_iht: np.ndarray  #: (S, A) inverse tail step
    tab_c: np.ndarray  #: (S, A, 4 G) segment coefficients, segment k's c0..c3 at 4k..4k+3


class InverseTableInputs(NamedTuple):
    """Inverse tables, standardised innovation -> copula scale (anchored assets), indexed like the tables."""

    itab_kind: np.ndarray
    itab_xc: np.ndarray
    itab_ihc: np.ndarray
    itab_iht: np.ndarray
    itab_c: np.ndarray


class ShockInputs(NamedTuple):
    """Start state and shocks over the horizon H (E scheduled jumps, R replay rows, P Poisson processes)."""

    s2_start: np.ndarray  #: (A,) first day's conditional variance before the recursion
    e_start: np.ndarray  #: (A,) residual of the day before
    vol_mult: np.ndarray  #: (H, A) vol_spike multipliers
    vol_feedback: np.ndarray  #: (A,) bool, spiked residuals feed the recursion
    ev_day: np.ndarray  #: (E,) int64
    ev_prob: np.ndarray  #: (E,)
    ev_size: np.ndarray  #: (E, A)
    ev_sigma: np.ndarray  #: (E,) bool, sizes in units of the day's sigma
    rep_lo: np.ndarray  #: (H,) int64, first replay row of the day
    rep_hi: np.ndarray  #: (H,) int64, one past the last (== rep_lo: no replay)
    rep_pool: np.ndarray  #: (R, A) replay vectors
    rep_raw: np.ndarray  #: (R,) bool, the row holds historical returns (else standardised residuals)
    pj_rate: np.ndarray  #: (P,) jumps per day
    pj_law: np.ndarray  #: (P,) int64 jump-size law
    pj_par: np.ndarray  #: (P, 3) law parameters
    pj_load: np.ndarray  #: (P, A) loadings
    pj_from: np.ndarray  #: (P,) int64 first day
    pj_to: np.ndarray  #: (P,) int64 one past the last day
    shift: np.ndarray  #: (H, A) ``curve_shift`` level shifts added to the day's change (not fed to the recursion)
    #: (H, A) importance-sampling mean shift of each day's independent copula normals, or (0, A): off
    #: (:mod:`simulator.importance`; the kernel then adds each path's log likelihood ratio to ``out_logw``)
    tilt: np.ndarray
    #: (0,) off, or (2,) int64: quasi-Monte Carlo scramble seed and days covered; read by the chunk runner, which
    #: passes the chunk's Sobol normals as ``chunk_z`` (:mod:`simulator.qmc`), not by the kernel
    qmc: np.ndarray


class AnchorInputs(NamedTuple):
    """``anchored_path``: pinned days and assets, and the conditional copula of the others, per copula set."""

    anc_day: np.ndarray  #: (H,) bool
    anc_asset: np.ndarray  #: (A,) bool
    anc_ret: np.ndarray  #: (H, A) target percent log returns
    anc_noise: np.ndarray  #: (A,) noise sd in units of the day's sigma
    cond_b: np.ndarray  #: (C, A, A) regression of free on anchored copula-scale values
    cond_l: np.ndarray  #: (C, A, A) Cholesky factor of the conditional correlation (free block)
    cond_p: np.ndarray  #: (C, A, A) inverse anchored correlation


class KernelInputs(NamedTuple):
    """Everything the path kernel reads, in its five groups (the drivers' parameters between the path range
    and the outputs, in this order)."""

    model: ModelInputs
    tables: TableInputs
    shocks: ShockInputs
    anchors: AnchorInputs
    itables: InverseTableInputs

    @property
    def n_assets(self) -> int:
        return int(self.shocks.s2_start.shape[0])

    def as_tuple(self) -> tuple:
        """The groups, to be passed positionally between the path range and ``store_paths``."""
        return tuple(self)

    def flat_items(self) -> list[tuple[str, np.ndarray]]:
        """``(name, array)`` of every input, group by group in field order (every name is unique)."""
        return [(name, arr) for group in self for name, arr in zip(group._fields, group)]

    def map_arrays(self, fn: Callable[[np.ndarray], object]) -> "KernelInputs":
        """The same structure with ``fn`` applied to every array (e.g. a copy to a GPU)."""
        return KernelInputs._make(type(group)._make(fn(a) for a in group) for group in self)


#: parameters of the per-chunk drivers (CPU and GPU), in order
RANGE_PARAMS = ("key0", "key1", "path_start", "n_paths", "horizon")
OUTPUT_PARAMS = ("store_paths", "out_r", "out_s", "out_cum", "out_mdd", "out_regime_days", "out_logw")
#: per-chunk inputs: ``chunk_z`` (n_paths, Hq, A) quasi-Monte Carlo normals of the chunk's paths' first Hq days,
#: or (0, 0, A): off
CHUNK_PARAMS = ("chunk_z",)
DRIVER_PARAMS = (*RANGE_PARAMS, *KernelInputs._fields, *OUTPUT_PARAMS, *CHUNK_PARAMS)
#: parameters of the body :func:`simulator.kernels.paths.simulate_block` (paths ``path .. path + n_lanes - 1``
#: into output rows ``row ..``)
BLOCK_PARAMS = ("work", "key0", "key1", "path", "row", "n_lanes", "horizon", *KernelInputs._fields, *OUTPUT_PARAMS,
                *CHUNK_PARAMS)
