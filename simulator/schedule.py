"""Compile a model (and shocks) once into the plain arrays the path kernel consumes.

A :class:`Schedule` holds parameter sets (regimes), copula sets, quantile tables and the per-day
shock arrays. ``Schedule.from_model`` gives the plain model; :mod:`simulator.shocks` adds regimes,
copula overrides, spikes, jumps, replays and anchors to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from simulator.families import COPULA_FAMILIES, VOL_FAMILIES, kernel_width, spec_params
from simulator.kernels.interface import (
    AnchorInputs,
    InverseTableInputs,
    KernelInputs,
    ModelInputs,
    ShockInputs,
    TableInputs,
)
from simulator.model import CopulaSpec, MarginalSpec, MarketModel
from simulator.tables import N_GRID, Scale, build_inverse_table, build_table, segment_coefficients

#: kernel type codes of the registered families (each entry's ``code``)
VOL_CODES = {name: f.code for name, f in VOL_FAMILIES.items()}
COPULA_CODES = {name: f.code for name, f in COPULA_FAMILIES.items()}
LAW_CODES = {"normal": 0, "double_exponential": 1, "pareto": 2}


def _copula_scale(c: CopulaSpec) -> Scale:
    return Scale(c.nu) if COPULA_FAMILIES[c.type].t_scale else Scale(None)


@dataclass
class Schedule:
    """Everything the kernel needs for one run, as arrays (:meth:`kernel_arrays` packs them into the kernel's
    input groups, :class:`simulator.kernels.interface.KernelInputs`, where the shapes are documented)."""

    assets: tuple[str, ...]
    horizon: int
    regimes: list[tuple[MarginalSpec, ...]]
    copulas: list[CopulaSpec]
    regime_transition: np.ndarray  # (K, K) row-stochastic
    regime_initial: np.ndarray  # (K,)
    s2_start: np.ndarray
    e_start: np.ndarray
    day_copula: np.ndarray  # (H,) int64, -1 = regime's copula
    vol_mult: np.ndarray  # (H, A)
    vol_feedback: np.ndarray  # (A,) bool
    ev_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ev_prob: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ev_size: np.ndarray | None = None
    ev_sigma: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    rep_lo: np.ndarray | None = None  # (H,) first pool row replayed on each day
    rep_hi: np.ndarray | None = None  # (H,) one past the last pool row (== rep_lo: no replay)
    rep_pool: np.ndarray | None = None  # (R, A) residual vectors
    rep_raw: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))  # (R,) row at history's scale
    pj_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pj_law: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pj_par: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    pj_load: np.ndarray | None = None
    pj_from: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pj_to: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    anc_day: np.ndarray | None = None  # (H,) bool
    anc_asset: np.ndarray | None = None  # (A,) bool
    anc_ret: np.ndarray | None = None  # (H, A) target percent log returns
    anc_noise: np.ndarray | None = None  # (A,) noise sd in units of conditional sigma
    shift: np.ndarray | None = None  # (H, A) level shifts (curve_shift), in each asset's change unit

    @classmethod
    def from_model(cls, model: MarketModel, horizon: int) -> "Schedule":
        n = model.n_assets
        start = model.start_state()
        return cls(
            assets=model.assets,
            horizon=horizon,
            regimes=[model.marginals],
            copulas=[model.copula],
            regime_transition=np.ones((1, 1)),
            regime_initial=np.ones(1),
            s2_start=np.array(start.sigma2, float),
            e_start=np.array(start.resid, float),
            day_copula=np.full(horizon, -1, np.int64),
            vol_mult=np.ones((horizon, n)),
            vol_feedback=np.zeros(n, np.bool_),
            ev_size=np.zeros((0, n)),
            rep_lo=np.zeros(horizon, np.int64),
            rep_hi=np.zeros(horizon, np.int64),
            rep_pool=np.zeros((0, n)),
            pj_load=np.zeros((0, n)),
            anc_day=np.zeros(horizon, np.bool_),
            anc_asset=np.zeros(n, np.bool_),
            anc_ret=np.zeros((horizon, n)),
            anc_noise=np.zeros(n),
            shift=np.zeros((horizon, n)),
        )

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def replay_days(self) -> np.ndarray:
        """(H,) bool: days whose innovations come from a historical replay."""
        assert self.rep_hi is not None and self.rep_lo is not None  # set by from_model
        return self.rep_hi > self.rep_lo

    def kernel_arrays(self) -> KernelInputs:
        """The contiguous arrays and tables the kernel reads, in its input groups."""
        n, K, C = self.n_assets, len(self.regimes), len(self.copulas)
        assert (self.rep_lo is not None and self.rep_hi is not None and self.anc_day is not None  # from_model sets
                and self.anc_asset is not None and self.anc_noise is not None                    # them all
                and self.shift is not None)
        pool = np.ascontiguousarray(self.rep_pool, float).reshape(-1, n)
        if self.rep_raw.shape != (pool.shape[0],):
            raise ValueError(f"rep_raw has shape {self.rep_raw.shape}; it needs one flag per rep_pool row, "
                             f"shape ({pool.shape[0]},)")
        vol_code = np.empty((K, n), np.int64)
        vpar = np.zeros((K, n, kernel_width()))
        for k, margs in enumerate(self.regimes):
            for a, m in enumerate(margs):
                fam = m.vol.family
                vol_code[k, a] = fam.code
                par = fam.kernel_params(m.vol.values)
                vpar[k, a, 0] = m.mean.mu
                vpar[k, a, 1:1 + len(par)] = par
        cop_type = np.array([COPULA_FAMILIES[c.type].code for c in self.copulas], np.int64)
        cop_chol = np.zeros((C, n, n))
        cop_nu = np.zeros(C)
        cop_theta = np.zeros(C)
        for c, spec in enumerate(self.copulas):
            cop_chol[c], cop_nu[c], cop_theta[c] = COPULA_FAMILIES[spec.type].kernel_params(spec_params(spec), n)
        # every regime with the first one's copula (a regime switch that stresses volatility only): every day
        # without an override draws from copula set 0, so lanes in different regimes share one Cholesky product
        # (the same numbers: equal specs give equal factors)
        day_copula = self.day_copula.astype(np.int64)
        if K > 1 and all(self.copulas[k] == self.copulas[0] for k in range(1, K)):
            day_copula = np.where(day_copula < 0, 0, day_copula)
        # one table set per (copula scale, regime) pair actually reachable
        overrides = {int(c) for c in np.unique(day_copula) if c >= 0}
        slot = np.zeros((C, K), np.int64)
        keys: dict = {}
        tables: list[list] = []
        for c in range(C):
            for k in range(K):
                if c != k and c not in overrides:
                    continue
                scale = _copula_scale(self.copulas[c])
                key = (scale.nu, tuple(m.dist for m in self.regimes[k]))
                if key not in keys:
                    keys[key] = len(tables)
                    tables.append([build_table(scale, m.dist) for m in self.regimes[k]])
                slot[c, k] = keys[key]
        anchoring = bool(self.anc_day.any())
        fwd = _stack_tables(tables, n)
        if anchoring:
            inv = _stack_tables([[build_inverse_table(_copula_scale(self.copulas[c]), m.dist)
                                  for m in self.regimes[k]] for (c, k) in _slot_pairs(slot, keys_order=len(tables))], n)
        else:
            inv = _stack_tables([], n)
        cond_b, cond_l, cond_p = self._conditional_arrays() if anchoring else (np.zeros((C, n, n)),) * 3
        trans_cum = np.cumsum(self.regime_transition, axis=1)
        init_cum = np.cumsum(self.regime_initial)
        return KernelInputs(
            model=ModelInputs(vol_code, vpar, trans_cum, init_cum, cop_type, cop_chol, cop_nu, cop_theta,
                              day_copula, slot),
            tables=TableInputs(*fwd),
            shocks=ShockInputs(
                self.s2_start, self.e_start, np.ascontiguousarray(self.vol_mult), self.vol_feedback,
                self.ev_day.astype(np.int64), self.ev_prob.astype(float), np.ascontiguousarray(self.ev_size),
                self.ev_sigma.astype(np.bool_), self.rep_lo.astype(np.int64), self.rep_hi.astype(np.int64),
                pool, self.rep_raw.astype(np.bool_),
                self.pj_rate.astype(float), self.pj_law.astype(np.int64), np.ascontiguousarray(self.pj_par, float),
                np.ascontiguousarray(self.pj_load), self.pj_from.astype(np.int64), self.pj_to.astype(np.int64),
                np.ascontiguousarray(self.shift, float), np.zeros((0, n)), np.zeros(0, np.int64)),
            anchors=AnchorInputs(self.anc_day.astype(np.bool_), self.anc_asset.astype(np.bool_),
                                 np.ascontiguousarray(self.anc_ret, float), self.anc_noise.astype(float),
                                 cond_b, cond_l, cond_p),
            itables=InverseTableInputs(*inv),
        )

    def _conditional_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per copula set: regression B = R_fa R_aa^-1, Cholesky of R_ff - B R_af, and R_aa^-1 (embedded in A×A)."""
        n, C = self.n_assets, len(self.copulas)
        assert self.anc_asset is not None  # set by from_model
        anc = np.flatnonzero(self.anc_asset)
        free = np.flatnonzero(~self.anc_asset)
        cond_b = np.zeros((C, n, n))
        cond_l = np.zeros((C, n, n))
        cond_p = np.zeros((C, n, n))
        for c, spec in enumerate(self.copulas):
            if not COPULA_FAMILIES[spec.type].conditional:
                raise ValueError(
                    f"anchored_path needs a gaussian, t or independent copula to draw the other assets conditionally; "
                    f"copula set {c} is {spec.type!r}"
                )
            r = spec.corr_matrix(n)
            raa_inv = np.linalg.inv(r[np.ix_(anc, anc)])
            b = r[np.ix_(free, anc)] @ raa_inv
            s_ff = r[np.ix_(free, free)] - b @ r[np.ix_(anc, free)]
            cond_b[c][np.ix_(free, anc)] = b
            if free.size:
                cond_l[c][np.ix_(free, free)] = np.linalg.cholesky(s_ff)
            cond_p[c][np.ix_(anc, anc)] = raa_inv
        return cond_b, cond_l, cond_p

    def copy(self, **changes) -> "Schedule":
        return replace(self, **changes)


#: the kernel inputs of a run (:class:`simulator.kernels.interface.KernelInputs`; the name of 0.3.0)
KernelArrays = KernelInputs


def _slot_pairs(slot: np.ndarray, keys_order: int) -> list[tuple[int, int]]:
    """One (copula set, regime) pair per table set, in table-set order."""
    pairs: dict[int, tuple[int, int]] = {}
    for c in range(slot.shape[0]):
        for k in range(slot.shape[1]):
            pairs.setdefault(int(slot[c, k]), (c, k))
    return [pairs[s] for s in range(keys_order)]


def _stack_tables(tables: list[list], n: int) -> tuple[np.ndarray, ...]:
    """(kind, xc, inv_hc, inv_ht, coef) arrays of shape (S, A), coef (S, A, 4 N_GRID); S >= 1."""
    S = max(1, len(tables))
    kind = np.zeros((S, n), np.int64)
    xc = np.zeros((S, n))
    ihc = np.ones((S, n))
    iht = np.ones((S, n))
    coef = np.zeros((S, n, 4 * N_GRID))
    for s, row in enumerate(tables):
        for a, tb in enumerate(row):
            kind[s, a], xc[s, a], ihc[s, a], iht[s, a] = tb.kind, tb.xc, tb.inv_hc, tb.inv_ht
            coef[s, a] = segment_coefficients(tb).reshape(-1)
    return kind, xc, ihc, iht, coef
