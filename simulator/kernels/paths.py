"""The fused copula-GARCH path kernel.

Per path and day, in this order (the documented shock order):

1. regime: a Markov chain over parameter sets (one set when no ``regime_switch``) moves one step;
2. variance: the regime's volatility recursion (:func:`simulator.kernels.variance.variance_step`) updates
   ``sigma2`` from yesterday's state;
3. innovations: a historical-replay day takes a stored vector (the day's own in sequence mode, a
   uniform draw from the window in bootstrap mode): a standardised residual (filtered scaling), or
   a historical return turned into the innovation that reproduces it (historical scaling); otherwise
   the day's copula (a ``correlation_break`` override, else the regime's) draws on its scale and
   each asset's tabulated quantile map turns the draw into a standardised innovation;
   anchored assets are pinned and the others drawn conditionally (see ``anchor_*`` arrays);
4. return: ``r = mu + m * sigma * eps`` with the regime's mean ``mu`` and the ``vol_spike``
   multiplier ``m`` (an anchored asset's return is its target path value, plus noise in units of
   ``m * sigma``);
5. jumps: scheduled ``jump`` events (certain or with probability p), then ``poisson_jumps``, are
   added to the return (not to anchored assets on their anchored days); then the day's level shift
   (``shift``, from ``curve_shift``) is added to the change;
6. feedback: the residual entering tomorrow's recursion is ``r - mu`` (jumps included, level shifts
   not), except that a vol spike without feedback contributes its unspiked residual.

Type codes: volatility and copula families by their registry entries' ``code`` (:mod:`simulator.families`;
copula 0 independent, 1 gaussian, 2 t, 3 clayton, 4 gumbel, 5 frank, drawn by :func:`_draw_innovations`);
jump-size law 0 normal, 1 double exponential, 2 pareto.

One source, two targets: the per-path work (:func:`simulate_path` and its helpers) is plain Python,
compiled for the CPU at the bottom of this module and for NVIDIA GPUs by
:func:`simulator.kernels._targets.cuda_functions`. The CPU driver :func:`simulate_chunk` runs
blocks of paths on numba threads, allocating the work arrays once per block; the GPU driver
(:mod:`simulator.kernels.cuda_chunk`) runs one thread per path with thread-local work arrays.
"""
import math

import numpy as np
from numba import njit, prange

from simulator.kernels._targets import INLINE, PLAIN, cache_on_kernel_sources, cpu_compile
from simulator.kernels.rng import (
    exponential,
    fill_normals,
    gamma,
    logarithmic,
    normal,
    positive_stable,
    seed_stream,
    uniform,
)
from simulator.kernels.special import hermite_eval, ndtri_pq
from simulator.kernels.variance import variance_step
from simulator.tables import N_CENTER, N_TAIL

BLOCK = 64  # paths per parallel work item on the CPU (work arrays are allocated once per block)
#: largest Poisson mean drawn by one inversion; larger means are a sum of independent pieces of at most this
POISSON_PIECE = 30.0


def _draw_innovations(st, c, slot, n_assets, model, tables, z, x, eps):
    """Draw one day's standardised innovation vector ``eps`` (n_assets,) from copula set ``c`` of ``model``
    (:class:`~simulator.kernels.interface.ModelInputs`) through table set ``slot`` of ``tables``."""
    cop_chol = model.cop_chol
    ct = model.cop_type[c]
    if ct <= 2:
        fill_normals(st, z, n_assets)
        if ct == 0:
            for a in range(n_assets):
                x[a] = z[a]
        else:
            for a in range(n_assets):
                acc = 0.0
                for b in range(a + 1):
                    acc += cop_chol[c, a, b] * z[b]
                x[a] = acc
            if ct == 2:
                nu = model.cop_nu[c]
                w = math.sqrt(2.0 * gamma(st, 0.5 * nu) / nu)
                for a in range(n_assets):
                    x[a] = x[a] / w
    else:
        theta = model.cop_theta[c]
        if ct == 3:
            v = gamma(st, 1.0 / theta)
        elif ct == 4:
            v = positive_stable(st, 1.0 / theta)
        else:
            v = logarithmic(st, -theta)
        for a in range(n_assets):
            e = exponential(st) / v
            if ct == 3:
                lu = -math.log1p(e) / theta
                p = math.exp(lu)
                q = -math.expm1(lu)
            elif ct == 4:
                w = e ** (1.0 / theta)
                p = math.exp(-w)
                q = -math.expm1(-w)
            else:
                p = -math.log1p(math.exp(-e) * math.expm1(-theta)) / theta
                q = 1.0 - p
            x[a] = ndtri_pq(p, q)
    for a in range(n_assets):
        eps[a] = hermite_eval(tables.tab_c, slot, a, tables.tab_kind[slot, a], tables.tab_xc[slot, a],
                              tables.tab_ihc[slot, a], tables.tab_iht[slot, a], N_CENTER, N_TAIL, x[a])


def _anchored_innovations(st, t, c, slot, k, n_assets, s2, model, tables, shocks, anchors, itables, z, x, eps):
    """Pin anchored assets to their target return (plus noise) and draw the others from the copula
    conditional on the anchored assets' copula-scale values (Gaussian, t or independent copula).
    The groups are those of :func:`simulate_path`."""
    anc_asset, anc_ret, anc_noise = anchors.anc_asset, anchors.anc_ret, anchors.anc_noise
    cond_b, cond_l, cond_p = anchors.cond_b, anchors.cond_l, anchors.cond_p
    vpar, vol_mult = model.vpar, shocks.vol_mult
    n_anchored = 0
    for a in range(n_assets):
        if anc_asset[a]:
            n_anchored += 1
            sig = vol_mult[t, a] * math.sqrt(s2[a])
            target = anc_ret[t, a]
            if anc_noise[a] > 0.0:
                target += anc_noise[a] * sig * normal(st)
            eps[a] = (target - vpar[k, a, 0]) / sig
            x[a] = hermite_eval(itables.itab_c, slot, a, itables.itab_kind[slot, a], itables.itab_xc[slot, a],
                                itables.itab_ihc[slot, a], itables.itab_iht[slot, a], N_CENTER, N_TAIL, eps[a])
    fill_normals(st, z, n_assets)
    scale = 1.0
    if model.cop_type[c] == 2:
        quad = 0.0
        for a in range(n_assets):
            if anc_asset[a]:
                for b in range(n_assets):
                    if anc_asset[b]:
                        quad += x[a] * cond_p[c, a, b] * x[b]
        nu = model.cop_nu[c]
        dof = nu + n_anchored
        w = 2.0 * gamma(st, 0.5 * dof) / dof
        scale = math.sqrt((nu + quad) / dof / w)
    for f in range(n_assets):
        if anc_asset[f]:
            continue
        mean = 0.0
        for a in range(n_assets):
            if anc_asset[a]:
                mean += cond_b[c, f, a] * x[a]
        noise = 0.0
        for g in range(f + 1):
            if not anc_asset[g]:
                noise += cond_l[c, f, g] * z[g]
        x[f] = mean + scale * noise
        eps[f] = hermite_eval(tables.tab_c, slot, f, tables.tab_kind[slot, f], tables.tab_xc[slot, f],
                              tables.tab_ihc[slot, f], tables.tab_iht[slot, f], N_CENTER, N_TAIL, x[f])


def _poisson_count(st, lam):
    """A Poisson(``lam``) count, exact for any ``lam >= 0``: inversion by sequential search of the CDF, one
    uniform per piece, the mean split into independent pieces of at most :data:`POISSON_PIECE` (a sum of
    independent Poisson counts is Poisson with the summed mean), so ``exp(-piece)`` never underflows. The
    search stops where the CDF reaches the uniform (or, for a uniform within rounding of 1, where the
    probabilities underflow); a mean of at most ``POISSON_PIECE`` uses one uniform, as it always has."""
    n = 0
    rest = lam
    while True:
        piece = rest if rest <= POISSON_PIECE else POISSON_PIECE
        rest -= piece
        u = uniform(st)
        p = math.exp(-piece)
        acc = p
        k = 0
        while u > acc and p > 0.0:
            k += 1
            p *= piece / k
            acc += p
        n += k
        if rest <= 0.0:
            return n


def _jump_size(st, law, par):
    if law == 0:
        return par[0] + par[1] * normal(st)
    if law == 1:
        if uniform(st) < par[0]:
            return par[1] * exponential(st)
        return -par[2] * exponential(st)
    return par[2] * par[0] * uniform(st) ** (-1.0 / par[1])


def simulate_path(st, work, key0, key1, path, i, horizon, model, tables, shocks, anchors, itables,
                  store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days):
    """Simulate global path ``path`` into output row ``i``: the per-path body shared by every driver.

    ``st`` (uint64[4]) and ``work`` = (z (n_assets + 1,), x, eps, s2, e, cum, peak, dd, r, feed (n_assets,))
    are caller-owned work arrays (overwritten). The inputs arrive in the groups of
    :class:`simulator.kernels.interface.KernelInputs` (``model``, ``tables``, ``shocks``, ``anchors``,
    ``itables``: named tuples, read by field name). The outputs are those of :func:`simulate_chunk`, passed
    one by one: with numba 0.68, writes to an output array reached through a tuple in the CPU driver's
    ``prange`` body were lost.
    """
    z, x, eps, s2, e, cum, peak, dd, r, feed = work
    vol_code, vpar, slot, day_copula = model.vol_code, model.vpar, model.slot, model.day_copula
    regime_cum, regime_init_cum = model.regime_cum, model.regime_init_cum
    s2_start, e_start, vol_mult, vol_feedback = shocks.s2_start, shocks.e_start, shocks.vol_mult, shocks.vol_feedback
    ev_day, ev_prob, ev_size, ev_sigma = shocks.ev_day, shocks.ev_prob, shocks.ev_size, shocks.ev_sigma
    rep_lo, rep_hi, rep_pool, rep_raw = shocks.rep_lo, shocks.rep_hi, shocks.rep_pool, shocks.rep_raw
    pj_rate, pj_from, pj_to, pj_load = shocks.pj_rate, shocks.pj_from, shocks.pj_to, shocks.pj_load
    shift = shocks.shift
    anc_day, anc_asset = anchors.anc_day, anchors.anc_asset
    n_assets = s2_start.shape[0]
    n_regimes = vol_code.shape[0]
    n_events = ev_day.shape[0]
    n_pj = pj_rate.shape[0]
    seed_stream(st, key0, key1, path)
    for a in range(n_assets):
        s2[a] = s2_start[a]
        e[a] = e_start[a]
        cum[a] = 0.0
        peak[a] = 0.0
        dd[a] = 0.0
    k = 0
    if n_regimes > 1:
        u = uniform(st)
        while k < n_regimes - 1 and u > regime_init_cum[k]:
            k += 1
    stressed_days = 0
    for t in range(horizon):
        if n_regimes > 1:
            if t > 0:
                u = uniform(st)
                kk = 0
                while kk < n_regimes - 1 and u > regime_cum[k, kk]:
                    kk += 1
                k = kk
            if k != 0:
                stressed_days += 1
        for a in range(n_assets):
            s2[a] = variance_step(vol_code[k, a], vpar, k, a, s2[a], e[a])
        if rep_hi[t] > rep_lo[t]:
            row = rep_lo[t]
            if rep_hi[t] - row > 1:
                row += int(uniform(st) * (rep_hi[t] - row))
            if rep_raw[row]:  # history's return as it happened, whatever the path's sigma and regime
                for a in range(n_assets):
                    eps[a] = (rep_pool[row, a] - vpar[k, a, 0]) / math.sqrt(s2[a])
            else:
                for a in range(n_assets):
                    eps[a] = rep_pool[row, a]
        elif anc_day[t]:
            c = day_copula[t]
            if c < 0:
                c = k
            _anchored_innovations(st, t, c, slot[c, k], k, n_assets, s2, model, tables, shocks, anchors, itables,
                                  z, x, eps)
        else:
            c = day_copula[t]
            if c < 0:
                c = k
            _draw_innovations(st, c, slot[c, k], n_assets, model, tables, z, x, eps)
        for a in range(n_assets):
            sig = math.sqrt(s2[a])
            m = vol_mult[t, a]
            r[a] = vpar[k, a, 0] + m * sig * eps[a]
            feed[a] = (m if vol_feedback[a] else 1.0) * sig * eps[a]
        pinned = anc_day[t]
        for j in range(n_events):
            if ev_day[j] == t and (ev_prob[j] >= 1.0 or uniform(st) < ev_prob[j]):
                for a in range(n_assets):
                    if pinned and anc_asset[a]:
                        continue
                    jump = ev_size[j, a]
                    if ev_sigma[j]:
                        jump *= vol_mult[t, a] * math.sqrt(s2[a])
                    r[a] += jump
                    feed[a] += jump
        for j in range(n_pj):
            if pj_from[j] <= t and t < pj_to[j]:
                n_jumps = _poisson_count(st, pj_rate[j])
                for _ in range(n_jumps):
                    size = _jump_size(st, shocks.pj_law[j], shocks.pj_par[j])
                    for a in range(n_assets):
                        if pinned and anc_asset[a]:
                            continue
                        r[a] += pj_load[j, a] * size
                        feed[a] += pj_load[j, a] * size
        for a in range(n_assets):
            if shift[t, a] != 0.0 and not (pinned and anc_asset[a]):
                r[a] += shift[t, a]  # a level shift (curve_shift): part of the change, not of the residual
            e[a] = feed[a]
            cum[a] += r[a]
            if cum[a] > peak[a]:
                peak[a] = cum[a]
            elif peak[a] - cum[a] > dd[a]:
                dd[a] = peak[a] - cum[a]
            if store_paths:
                out_r[i, t, a] = r[a]
                out_s[i, t, a] = vol_mult[t, a] * math.sqrt(s2[a])
    for a in range(n_assets):
        out_cum[i, a] = cum[a]
        out_mdd[i, a] = -math.expm1(-dd[a] / 100.0)
    out_regime_days[i] = stressed_days


cpu_compile(globals(), {
    "_draw_innovations": INLINE,
    "_anchored_innovations": PLAIN,
    "_poisson_count": INLINE,
    "_jump_size": PLAIN,
    "simulate_path": INLINE,
})


@njit(cache=True, parallel=True)
def simulate_chunk(key0, key1, path_start, n_paths, horizon, model, tables, shocks, anchors, itables,
                   store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days):
    """Simulate paths ``path_start .. path_start + n_paths - 1`` of one chunk on the CPU's numba threads.

    Inputs: the groups of :class:`simulator.kernels.interface.KernelInputs` (shapes documented there, with
    K regimes, A assets, C copula sets, H days); the parameters are :data:`~simulator.kernels.interface.DRIVER_PARAMS`.
    A replay day takes row ``rep_lo`` (one row: that row; several: a uniform draw from ``rep_lo..rep_hi-1``)
    of ``rep_pool``: standardized residuals (rescaled by the path's sigma), or with ``rep_raw`` historical
    percent log returns ``r_t`` replayed as they happened (innovation ``(r_t - mu) / sigma`` with the day's
    regime mean and the path's sigma).
    Outputs (percent): out_r, out_s (n_paths, H, A) when ``store_paths``; out_cum, out_mdd (n_paths, A)
    cumulative log return and max drawdown (fraction of peak price); out_regime_days (n_paths,) days in
    a regime other than 0.
    """
    n_assets = shocks.s2_start.shape[0]
    n_blocks = (n_paths + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        st = np.empty(4, np.uint64)
        z = np.empty(n_assets + 1)
        x = np.empty(n_assets)
        eps = np.empty(n_assets)
        s2 = np.empty(n_assets)
        e = np.empty(n_assets)
        cum = np.empty(n_assets)
        peak = np.empty(n_assets)
        dd = np.empty(n_assets)
        r = np.empty(n_assets)
        feed = np.empty(n_assets)
        work = (z, x, eps, s2, e, cum, peak, dd, r, feed)
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n_paths)
        for i in range(lo, hi):
            simulate_path(st, work, key0, key1, path_start + i, i, horizon, model, tables, shocks, anchors, itables,
                          store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days)


cache_on_kernel_sources(simulate_chunk)
