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

Lanes: :func:`simulate_block` runs a block of paths ("lanes") in lockstep, day by day and stage by
stage, every work array laid out ``(asset, lane)`` and every random stream in a ``(4, lane)`` state array
(:mod:`simulator.kernels.rng`), so that each stage is a loop over lanes the compiler vectorises: the
variance recursion, the normals (a branch-free ziggurat pass, then the rare rejected lanes scalar), the
Cholesky product, the t copula's gamma mixing, the quantile tables (a gather of the centre segment's
coefficients, the rare tail lanes scalar), returns and summaries. A lane draws exactly the words its path
drew when paths ran one at a time, in the same order, and does the same floating-point operations, so
a path's numbers do not depend on the block it ran in, nor on its neighbours: what varies between lanes
(regime, copula set, table set) is read per lane, or run in one pass per value present with the others
masked (variance, anchored draws), or, for the Cholesky product and the quantile tables, in one pass over
every lane with the value most lanes hold, then over the other lanes only, gathered into a compact run of
columns and scattered back. Draws that are rare or branchy (replay rows, jump events and sizes, Archimedean
copulas, tails) run per lane through the scalar generators on a copy of the lane's state.

One source, two targets: :func:`simulate_block` and its helpers are plain Python, compiled for the CPU at
the bottom of this module and for NVIDIA GPUs by :func:`simulator.kernels._targets.cuda_functions`. The
CPU driver :func:`simulate_chunk` runs blocks of :data:`LANES` paths on numba threads, allocating the
work arrays once per block; the GPU driver (:mod:`simulator.kernels.cuda_chunk`) runs one thread per
path, a block of one lane with thread-local work arrays.
"""
import math

import numpy as np
from numba import njit, prange

from simulator.kernels._targets import CPU_OPTIONS, INLINE, PLAIN, cache_on_kernel_sources, cpu_compile
from simulator.kernels.rng import (
    exponential,
    gamma,
    gamma_lanes,
    lane_load,
    lane_store,
    logarithmic,
    normal,
    normal_lanes,
    positive_stable,
    seed_stream,
    uniform,
    uniform_lanes,
)
from simulator.kernels.special import hermite_lanes_one, ndtri_pq
from simulator.kernels.variance import variance_lanes
from simulator.tables import N_CENTER, N_TAIL

LANES = 32  # paths run in lockstep by one CPU work item (the work arrays' lane dimension)
#: largest Poisson mean drawn by one inversion; larger means are a sum of independent pieces of at most this
POISSON_PIECE = 30.0
#: work arrays of :func:`simulate_block`, in order: the lane states, scalar scratch, per-lane integers and
#: floats, then the (asset, lane) arrays (see :func:`simulate_chunk` for their dtypes and shapes)
WORK = ("S", "st", "word", "flag", "kl", "cl", "sl", "stressed", "idx", "g0", "g1", "g2", "g3",
        "z", "x", "eps", "s2", "e", "mu", "cum", "peak", "dd", "r", "feed")


def _draw_innovations(st, c, l, n_assets, model, z, x):
    """Draw lane ``l``'s copula-scale vector ``x[:, l]`` from copula set ``c`` of ``model``
    (:class:`~simulator.kernels.interface.ModelInputs`) with the scalar generators on state ``st``
    (``z[:, l]`` is scratch): one branch per copula family. :func:`_elliptical_lanes` draws the same
    values for a whole block of Gaussian, t or independent lanes at once."""
    cop_chol = model.cop_chol
    ct = model.cop_type[c]
    if ct <= 2:
        for a in range(n_assets):
            z[a, l] = normal(st)
        if ct == 0:
            for a in range(n_assets):
                x[a, l] = z[a, l]
        else:
            for a in range(n_assets):
                acc = 0.0
                for b in range(a + 1):
                    acc += cop_chol[c, a, b] * z[b, l]
                x[a, l] = acc
            if ct == 2:
                nu = model.cop_nu[c]
                w = math.sqrt(2.0 * gamma(st, 0.5 * nu) / nu)
                for a in range(n_assets):
                    x[a, l] = x[a, l] / w
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
            x[a, l] = ndtri_pq(p, q)


def _t_gammas(S, st, word, flag, zbuf, ubuf, out, shape, cl, n_lanes, model, add):
    """``out[l]`` = a Gamma((nu + add) / 2) draw for every lane whose copula set ``cl[l]`` is a t copula
    (``shape`` is filled, the others' entries are left alone). Returns the number of such lanes."""
    n_t = 0
    for l in range(n_lanes):
        c = cl[l]
        shape[l] = 0.5 * (model.cop_nu[c] + add)
        n_t += model.cop_type[c] == 2
    if n_t == n_lanes:
        gamma_lanes(S, st, word, flag, zbuf, ubuf, out, shape, n_lanes)
    elif n_t > 0:
        for l in range(n_lanes):
            if model.cop_type[cl[l]] == 2:
                lane_load(S, st, l)
                out[l] = gamma(st, shape[l])
                lane_store(S, st, l)
    return n_t


def _tilt_lanes(tilt, t, z, logw, row, n_lanes, n_assets, chunk_z):
    """Quasi-Monte Carlo: day ``t``'s independent normals ``z`` replaced by the chunk's Sobol normals
    ``chunk_z[row + l, t]`` (days it covers); importance sampling: ``z`` shifted by ``tilt[t]`` and each lane's log
    likelihood ratio ``-theta.z + |theta|^2 / 2`` (``z`` the shifted draw) added to ``logw[row + l]``."""
    if t < chunk_z.shape[1]:
        for a in range(n_assets):
            for l in range(n_lanes):
                z[a, l] = chunk_z[row + l, t, a]
    if tilt.shape[0] == 0:
        return
    for a in range(n_assets):
        th = tilt[t, a]
        if th != 0.0:
            za = z[a]
            for l in range(n_lanes):
                zz = za[l] + th
                za[l] = zz
                logw[row + l] += th * (0.5 * th - zz)


def _lanes_of(sets, c, idx, n_lanes):
    """``idx[:n]`` = the lanes ``l < n_lanes`` with ``sets[l] == c``, in order; returns ``n`` (branch-free: every
    lane is written at ``idx[n]``, and ``n`` moves past it only when it matches)."""
    n = 0
    for l in range(n_lanes):
        idx[n] = l
        n += sets[l] == c
    return n


def _majority(sets, n_values, n_lanes):
    """The value in ``0 .. n_values - 1`` most lanes ``l < n_lanes`` of ``sets`` hold (the lowest on a tie)."""
    best, best_n = 0, -1
    for c in range(n_values):
        n = 0
        for l in range(n_lanes):
            n += sets[l] == c
        if n > best_n:
            best, best_n = c, n
    return best


def _chol_row(cop_chol, c, a, z, out, n_lanes):
    """``out[l]`` = row ``a`` of copula set ``c``'s Cholesky factor times the normals ``z[:, l]``, summed from
    ``b = 0`` to ``a`` in that order from 0.0, as the one-path draw does (same bits), four terms per pass over
    the lanes: a quarter of the loads and stores of one pass per term, and the partial sums stay in registers."""
    for l in range(n_lanes):
        out[l] = 0.0
    b = 0
    while b + 3 <= a:
        c0, c1, c2, c3 = cop_chol[c, a, b], cop_chol[c, a, b + 1], cop_chol[c, a, b + 2], cop_chol[c, a, b + 3]
        z0, z1, z2, z3 = z[b], z[b + 1], z[b + 2], z[b + 3]
        for l in range(n_lanes):
            out[l] = (((out[l] + c0 * z0[l]) + c1 * z1[l]) + c2 * z2[l]) + c3 * z3[l]
        b += 4
    while b <= a:
        cb = cop_chol[c, a, b]
        zb = z[b]
        for l in range(n_lanes):
            out[l] += cb * zb[l]
        b += 1


def _elliptical_lanes(S, st, word, flag, idx, g0, g1, g2, g3, cu, cl, n_lanes, n_assets, model, z, x, w, tilt, t,
                      logw, row, chunk_z):
    """Copula-scale vectors ``x`` of every lane when every lane's copula set ``cl[l]`` is Gaussian, t or
    independent (``cu``: the copula set all lanes share, or -1): the draws of :func:`_draw_innovations`,
    stage by stage across lanes (with a non-empty ``tilt`` or ``chunk_z``, the normals set by :func:`_tilt_lanes`).
    Lanes in different sets: the set most lanes are in runs over every lane, then each other set present over
    its own lanes only, their normals gathered into ``w`` (A, lanes; scratch) and the results scattered back."""
    cop_chol = model.cop_chol
    for a in range(n_assets):
        normal_lanes(S, st, word, flag, z[a], n_lanes)
    if tilt.shape[0] > 0 or chunk_z.shape[0] > 0:
        _tilt_lanes(tilt, t, z, logw, row, n_lanes, n_assets, chunk_z)
    n_sets = model.cop_type.shape[0]
    cm = cu if cu >= 0 else _majority(cl, n_sets, n_lanes)
    for a in range(n_assets):
        if model.cop_type[cm] == 0:
            xa = x[a]
            for l in range(n_lanes):
                xa[l] = z[a, l]
        else:
            _chol_row(cop_chol, cm, a, z, x[a], n_lanes)
    if cu < 0:
        for c in range(n_sets):
            if c == cm:
                continue
            n_c = _lanes_of(cl, c, idx, n_lanes)
            if n_c == 0:
                continue
            for b in range(n_assets):
                for i in range(n_c):
                    w[b, i] = z[b, idx[i]]
            for a in range(n_assets):
                if model.cop_type[c] == 0:
                    for i in range(n_c):
                        g0[i] = w[a, i]
                else:
                    _chol_row(cop_chol, c, a, w, g0, n_c)
                for i in range(n_c):
                    x[a, idx[i]] = g0[i]
    if _t_gammas(S, st, word, flag, g0, g1, g2, g3, cl, n_lanes, model, 0.0) > 0:
        for l in range(n_lanes):
            nu = model.cop_nu[cl[l]]
            g2[l] = math.sqrt(2.0 * g2[l] / nu) if model.cop_type[cl[l]] == 2 else 1.0
        for a in range(n_assets):
            xa = x[a]
            for l in range(n_lanes):
                xa[l] = xa[l] / g2[l]


def _innovations(S, st, word, flag, idx, g0, g1, g2, g3, cu, cl, su, sl, n_lanes, n_assets, model, tables, anchored,
                 z, x, eps, tilt, t, logw, row, chunk_z):
    """One day's standardised innovations ``eps`` of every lane: copula-scale draws (lane ``l`` from copula
    set ``cl[l]``; ``cu`` the set every lane shares, or -1), then each asset's quantile table (table set
    ``sl[l]``; ``su`` the set every lane shares, or -1)."""
    elliptical = True
    for l in range(n_lanes):
        if model.cop_type[cl[l]] > 2:
            elliptical = False
    if elliptical:
        _elliptical_lanes(S, st, word, flag, idx, g0, g1, g2, g3, cu, cl, n_lanes, n_assets, model, z, x, eps, tilt, t,
                          logw, row, chunk_z)
    else:
        for l in range(n_lanes):
            lane_load(S, st, l)
            _draw_innovations(st, cl[l], l, n_assets, model, z, x)
            lane_store(S, st, l)
    _tables(tables.tab_c, tables.tab_kind, tables.tab_xc, tables.tab_ihc, tables.tab_iht, su, sl, flag, idx, g0, g1,
            n_lanes, n_assets, x, eps, 0, anchored)


def _tables(coef, kind, xc, ihc, iht, su, sl, flag, idx, g0, g1, n_lanes, n_assets, x, out, which, anchored):
    """``out[a]`` = table ``[sl[l], a]`` at ``x[a]`` for every lane (``su >= 0``: the table set every lane
    shares), for every asset (``which`` 0), the anchored ones (1) or the others (2). Lanes in different table
    sets: the set most lanes are in runs over every lane, then each other set present over its own lanes only,
    their values gathered into ``g0`` and the results (``g1``) scattered back (``idx``, ``g0``, ``g1``: scratch)."""
    sm = su if su >= 0 else _majority(sl, coef.shape[0], n_lanes)
    for a in range(n_assets):
        if (which == 1 and not anchored[a]) or (which == 2 and anchored[a]):
            continue
        hermite_lanes_one(coef, kind, xc, ihc, iht, sm, a, N_CENTER, N_TAIL, x[a], out[a], flag, n_lanes)
    if su >= 0:
        return
    for j in range(coef.shape[0]):
        if j == sm:
            continue
        n_j = _lanes_of(sl, j, idx, n_lanes)
        if n_j == 0:
            continue
        for a in range(n_assets):
            if (which == 1 and not anchored[a]) or (which == 2 and anchored[a]):
                continue
            for i in range(n_j):
                g0[i] = x[a, idx[i]]
            hermite_lanes_one(coef, kind, xc, ihc, iht, j, a, N_CENTER, N_TAIL, g0, g1, flag, n_j)
            for i in range(n_j):
                out[a, idx[i]] = g1[i]


def _next_free(anchored, g, f):
    """The first asset ``>= g`` that is not ``anchored``, or ``f + 1`` if there is none up to ``f``."""
    while g <= f and anchored[g]:
        g += 1
    return g


def _cond_noise(cond_l, c, f, anchored, z, out, n_lanes):
    """``out[l] +=`` row ``f`` of copula set ``c``'s conditional factor ``cond_l`` times the normals ``z[:, l]`` of the
    free (not ``anchored``) assets ``g <= f``, added one by one in increasing ``g`` (the one-path draw's order, same
    bits), four terms per pass over the lanes as :func:`_chol_row`."""
    g0 = _next_free(anchored, 0, f)
    while g0 <= f:
        g1 = _next_free(anchored, g0 + 1, f)
        g2 = _next_free(anchored, g1 + 1, f)
        g3 = _next_free(anchored, g2 + 1, f)
        if g3 > f:  # fewer than four left: one term per pass
            for g in range(g0, f + 1):
                if not anchored[g]:
                    cg = cond_l[c, f, g]
                    zg = z[g]
                    for l in range(n_lanes):
                        out[l] += cg * zg[l]
            return
        c0, c1, c2, c3 = cond_l[c, f, g0], cond_l[c, f, g1], cond_l[c, f, g2], cond_l[c, f, g3]
        z0, z1, z2, z3 = z[g0], z[g1], z[g2], z[g3]
        for l in range(n_lanes):
            out[l] = (((out[l] + c0 * z0[l]) + c1 * z1[l]) + c2 * z2[l]) + c3 * z3[l]
        g0 = _next_free(anchored, g3 + 1, f)


def _anchored_innovations(S, st, word, flag, idx, g0, g1, g2, g3, t, cl, su, sl, n_lanes, n_assets, s2, mu, model,
                          tables, shocks, anchors, itables, z, x, eps):
    """Pin anchored assets to their target return (plus noise) and draw the others from the copula
    conditional on the anchored assets' copula-scale values (Gaussian, t or independent copula), every
    lane at once. The groups are those of :func:`simulate_block`."""
    anc_asset, anc_ret, anc_noise = anchors.anc_asset, anchors.anc_ret, anchors.anc_noise
    cond_b, cond_l, cond_p = anchors.cond_b, anchors.cond_l, anchors.cond_p
    vol_mult = shocks.vol_mult
    n_anchored = 0
    for a in range(n_assets):
        if anc_asset[a]:
            n_anchored += 1
            noise = anc_noise[a]
            if noise > 0.0:
                normal_lanes(S, st, word, flag, g0, n_lanes)
            for l in range(n_lanes):
                sig = vol_mult[t, a] * math.sqrt(s2[a, l])
                target = anc_ret[t, a]
                if noise > 0.0:
                    target += noise * sig * g0[l]
                eps[a, l] = (target - mu[a, l]) / sig
    _tables(itables.itab_c, itables.itab_kind, itables.itab_xc, itables.itab_ihc, itables.itab_iht, su, sl, flag, idx,
            g0, g1, n_lanes, n_assets, eps, x, 1, anc_asset)
    for a in range(n_assets):
        normal_lanes(S, st, word, flag, z[a], n_lanes)
    _t_gammas(S, st, word, flag, g0, g1, g2, g3, cl, n_lanes, model, float(n_anchored))
    # per copula set present, stage by stage across lanes (the other lanes masked): g3 the conditional scale
    # (it was the gammas' shape buffer), g1 the t copula's quadratic form, then per free asset g0 the
    # conditional mean and g1 the noise, each a sum in the one-path draw's order
    n_sets = model.cop_type.shape[0]
    for c in range(n_sets):
        n_c = 0
        for l in range(n_lanes):
            n_c += cl[l] == c
        if n_c == 0:
            continue
        if model.cop_type[c] == 2:
            for l in range(n_lanes):
                g1[l] = 0.0
            for a in range(n_assets):
                if anc_asset[a]:
                    xa = x[a]
                    for b in range(n_assets):
                        if anc_asset[b]:
                            cp = cond_p[c, a, b]
                            xb = x[b]
                            for l in range(n_lanes):
                                g1[l] += xa[l] * cp * xb[l]
            nu = model.cop_nu[c]
            dof = nu + n_anchored
            for l in range(n_lanes):
                w = 2.0 * g2[l] / dof
                scale = math.sqrt((nu + g1[l]) / dof / w)
                g3[l] = scale if cl[l] == c else g3[l]
        else:
            for l in range(n_lanes):
                g3[l] = 1.0 if cl[l] == c else g3[l]
    for c in range(n_sets):
        n_c = 0
        for l in range(n_lanes):
            n_c += cl[l] == c
        if n_c == 0:
            continue
        for f in range(n_assets):
            if anc_asset[f]:
                continue
            xf = x[f]
            for l in range(n_lanes):
                g0[l] = 0.0
                g1[l] = 0.0
            for a in range(n_assets):
                if anc_asset[a]:
                    cb = cond_b[c, f, a]
                    xa = x[a]
                    for l in range(n_lanes):
                        g0[l] += cb * xa[l]
            _cond_noise(cond_l, c, f, anc_asset, z, g1, n_lanes)
            for l in range(n_lanes):
                v = g0[l] + g3[l] * g1[l]
                xf[l] = v if cl[l] == c else xf[l]
    _tables(tables.tab_c, tables.tab_kind, tables.tab_xc, tables.tab_ihc, tables.tab_iht, su, sl, flag, idx, g0, g1,
            n_lanes, n_assets, x, eps, 2, anc_asset)


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
        n += _poisson_search(uniform(st), piece)
        if rest <= 0.0:
            return n


def _poisson_search(u, piece):
    """The Poisson(``piece``) count of uniform ``u`` (sequential search of the CDF, see :func:`_poisson_count`): 0 when
    ``u <= exp(-piece)``."""
    p = math.exp(-piece)
    acc = p
    k = 0
    while u > acc and p > 0.0:
        k += 1
        p *= piece / k
        acc += p
    return k


def _jump_size(st, law, par):
    if law == 0:
        return par[0] + par[1] * normal(st)
    if law == 1:
        if uniform(st) < par[0]:
            return par[1] * exponential(st)
        return -par[2] * exponential(st)
    return par[2] * par[0] * uniform(st) ** (-1.0 / par[1])


def _regime_step(S, ubuf, kl, stressed, mu, t, n_lanes, n_assets, model):
    """Move every lane's regime chain one day (day 0: the initial draw) and restage the means of lanes
    whose regime changed (``ubuf``: scratch, the lanes' uniforms, drawn in one pass). Returns the regime every
    lane shares, or -1. The new regime is the first ``kk`` with ``u <= cum[kk]`` (the last if none), counted
    branch-free as the number of ``kk < K - 1`` with ``u > cum[kk]``: the same, as the cumulative
    probabilities do not decrease."""
    vpar, regime_cum, regime_init_cum = model.vpar, model.regime_cum, model.regime_init_cum
    n_regimes = model.vol_code.shape[0]
    uniform_lanes(S, ubuf, n_lanes)
    changed = 0
    for l in range(n_lanes):
        u = ubuf[l]
        k = kl[l]
        kk = 0
        for j in range(n_regimes - 1):
            kk += u > (regime_init_cum[j] if t < 0 else regime_cum[k, j])
        if t >= 0:
            stressed[l] += kk != 0
        changed += kk != k
        kl[l] = kk
        ubuf[l] = kk != k
    if changed > 0:
        for l in range(n_lanes):
            if ubuf[l] != 0.0:
                for a in range(n_assets):
                    mu[a, l] = vpar[kl[l], a, 0]
    ku = kl[0]
    for l in range(n_lanes):
        if kl[l] != ku:
            ku = -1
    return ku


def simulate_block(work, key0, key1, path, row, n_lanes, horizon, model, tables, shocks, anchors, itables,
                   store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days, out_logw, chunk_z):
    """Simulate global paths ``path .. path + n_lanes - 1`` in lockstep into output rows ``row ..``: the body
    shared by every driver.

    ``work`` holds the caller-owned work arrays named by :data:`WORK` (overwritten), with at least
    ``n_lanes`` lanes. The inputs arrive in the groups of :class:`simulator.kernels.interface.KernelInputs`
    (``model``, ``tables``, ``shocks``, ``anchors``, ``itables``: named tuples, read by field name). The
    outputs are those of :func:`simulate_chunk`, passed one by one: with numba 0.68, writes to an output
    array reached through a tuple in the CPU driver's ``prange`` body were lost.
    """
    S, st, word, flag, kl, cl, sl, stressed, idx, g0, g1, g2, g3, z, x, eps, s2, e, mu, cum, peak, dd, r, feed = work
    vol_code, vpar, slot, day_copula = model.vol_code, model.vpar, model.slot, model.day_copula
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
    for l in range(n_lanes):
        seed_stream(st, key0, key1, path + l)
        lane_store(S, st, l)
        kl[l] = 0
        stressed[l] = 0
        if shocks.tilt.shape[0] > 0:
            out_logw[row + l] = 0.0
    for a in range(n_assets):
        for l in range(n_lanes):
            s2[a, l] = s2_start[a]
            e[a, l] = e_start[a]
            mu[a, l] = vpar[0, a, 0]
            cum[a, l] = 0.0
            peak[a, l] = 0.0
            dd[a, l] = 0.0
    ku = 0
    if n_regimes > 1:
        ku = _regime_step(S, g0, kl, stressed, mu, -1, n_lanes, n_assets, model)
    for t in range(horizon):
        if n_regimes > 1 and t > 0:
            ku = _regime_step(S, g0, kl, stressed, mu, t, n_lanes, n_assets, model)
        elif n_regimes > 1:
            for l in range(n_lanes):
                if kl[l] != 0:
                    stressed[l] += 1
        # variance: one pass per regime (lanes in other regimes masked) when the lanes are not all in one
        for a in range(n_assets):
            if ku >= 0:
                variance_lanes(vol_code[ku, a], vpar, kl[:0], ku, a, s2[a], e[a], n_lanes)
            else:
                for k in range(n_regimes):
                    variance_lanes(vol_code[k, a], vpar, kl, k, a, s2[a], e[a], n_lanes)
        # the day's copula set and table set, per lane (cu, su: the one every lane shares, or -1)
        cu = day_copula[t]
        if cu < 0:
            cu = ku
        for l in range(n_lanes):
            c = cu if cu >= 0 else kl[l]
            cl[l] = c
            sl[l] = slot[c, kl[l]]
        su = sl[0]
        for l in range(n_lanes):
            if sl[l] != su:
                su = -1
        if rep_hi[t] > rep_lo[t]:
            for l in range(n_lanes):
                rw = rep_lo[t]
                if rep_hi[t] - rw > 1:
                    lane_load(S, st, l)
                    rw += int(uniform(st) * (rep_hi[t] - rw))
                    lane_store(S, st, l)
                if rep_raw[rw]:  # history's return as it happened, whatever the path's sigma and regime
                    for a in range(n_assets):
                        eps[a, l] = (rep_pool[rw, a] - mu[a, l]) / math.sqrt(s2[a, l])
                else:
                    for a in range(n_assets):
                        eps[a, l] = rep_pool[rw, a]
        elif anc_day[t]:
            _anchored_innovations(S, st, word, flag, idx, g0, g1, g2, g3, t, cl, su, sl, n_lanes, n_assets, s2, mu,
                                  model, tables, shocks, anchors, itables, z, x, eps)
        else:
            _innovations(S, st, word, flag, idx, g0, g1, g2, g3, cu, cl, su, sl, n_lanes, n_assets, model, tables,
                         anc_asset, z, x, eps, shocks.tilt, t, out_logw, row, chunk_z)
        for a in range(n_assets):
            m = vol_mult[t, a]
            mf = m if vol_feedback[a] else 1.0
            s2a = s2[a]
            epa = eps[a]
            mua = mu[a]
            ra = r[a]
            fa = feed[a]
            for l in range(n_lanes):
                sig = math.sqrt(s2a[l])
                ra[l] = mua[l] + m * sig * epa[l]
                fa[l] = mf * sig * epa[l]
        pinned = anc_day[t]
        for j in range(n_events):
            if ev_day[j] == t:
                for l in range(n_lanes):
                    hit = ev_prob[j] >= 1.0
                    if not hit:
                        lane_load(S, st, l)
                        hit = uniform(st) < ev_prob[j]
                        lane_store(S, st, l)
                    flag[l] = hit
                for a in range(n_assets):
                    if pinned and anc_asset[a]:
                        continue
                    for l in range(n_lanes):
                        if flag[l]:
                            jump = ev_size[j, a]
                            if ev_sigma[j]:
                                jump *= vol_mult[t, a] * math.sqrt(s2[a, l])
                            r[a, l] += jump
                            feed[a, l] += jump
        for j in range(n_pj):
            if pj_from[j] <= t and t < pj_to[j]:
                lam = pj_rate[j]
                if lam <= POISSON_PIECE:  # one uniform per lane, across lanes; a lane with u <= exp(-lam) has no jump
                    uniform_lanes(S, g0, n_lanes)
                    p0 = math.exp(-lam)
                    for l in range(n_lanes):
                        flag[l] = g0[l] > p0
                for l in range(n_lanes):
                    if lam <= POISSON_PIECE:
                        if not flag[l]:
                            continue
                        lane_load(S, st, l)
                        n_jumps = _poisson_search(g0[l], lam)
                    else:
                        lane_load(S, st, l)
                        n_jumps = _poisson_count(st, lam)
                    for _ in range(n_jumps):
                        size = _jump_size(st, shocks.pj_law[j], shocks.pj_par[j])
                        for a in range(n_assets):
                            if pinned and anc_asset[a]:
                                continue
                            r[a, l] += pj_load[j, a] * size
                            feed[a, l] += pj_load[j, a] * size
                    lane_store(S, st, l)
        for a in range(n_assets):
            sh = shift[t, a]
            if sh != 0.0 and not (pinned and anc_asset[a]):
                for l in range(n_lanes):
                    r[a, l] += sh  # a level shift (curve_shift): part of the change, not of the residual
            ra = r[a]
            fa = feed[a]
            ea = e[a]
            ca = cum[a]
            pa = peak[a]
            da = dd[a]
            for l in range(n_lanes):  # branch-free: a new peak, else a deeper drawdown
                ea[l] = fa[l]
                c = ca[l] + ra[l]
                ca[l] = c
                p = pa[l]
                up = c > p
                pa[l] = c if up else p
                fall = p - c
                d = da[l]
                da[l] = fall if (fall > d and not up) else d
            if store_paths:
                m = vol_mult[t, a]
                for l in range(n_lanes):
                    out_r[row + l, t, a] = ra[l]
                    out_s[row + l, t, a] = m * math.sqrt(s2[a, l])
    for l in range(n_lanes):
        for a in range(n_assets):
            out_cum[row + l, a] = cum[a, l]
            out_mdd[row + l, a] = -math.expm1(-dd[a, l] / 100.0)
        out_regime_days[row + l] = stressed[l]


cpu_compile(globals(), {
    "_draw_innovations": PLAIN,
    "_t_gammas": INLINE,
    "_lanes_of": INLINE,
    "_majority": INLINE,
    "_chol_row": INLINE,
    "_tilt_lanes": INLINE,
    "_elliptical_lanes": INLINE,
    "_innovations": INLINE,
    "_tables": INLINE,
    "_next_free": INLINE,
    "_cond_noise": INLINE,
    "_anchored_innovations": PLAIN,
    "_poisson_count": INLINE,
    "_poisson_search": INLINE,
    "_jump_size": PLAIN,
    "_regime_step": PLAIN,
    "simulate_block": PLAIN,
})


@njit(**CPU_OPTIONS, parallel=True)
def simulate_chunk(key0, key1, path_start, n_paths, horizon, model, tables, shocks, anchors, itables,
                   store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days, out_logw, chunk_z):
    """Simulate paths ``path_start .. path_start + n_paths - 1`` of one chunk on the CPU's numba threads.

    Inputs: the groups of :class:`simulator.kernels.interface.KernelInputs` (shapes documented there, with
    K regimes, A assets, C copula sets, H days); the parameters are :data:`~simulator.kernels.interface.DRIVER_PARAMS`.
    A replay day takes row ``rep_lo`` (one row: that row; several: a uniform draw from ``rep_lo..rep_hi-1``)
    of ``rep_pool``: standardized residuals (rescaled by the path's sigma), or with ``rep_raw`` historical
    percent log returns ``r_t`` replayed as they happened (innovation ``(r_t - mu) / sigma`` with the day's
    regime mean and the path's sigma).
    Outputs (percent): out_r, out_s (n_paths, H, A) when ``store_paths``; out_cum, out_mdd (n_paths, A)
    cumulative log return and max drawdown (fraction of peak price); out_regime_days (n_paths,) days in
    a regime other than 0; out_logw (n_paths,) each path's log likelihood ratio when ``shocks.tilt`` is
    non-empty (importance sampling), else untouched (pass an empty array). ``chunk_z`` (n_paths, Hq, A): the
    chunk's quasi-Monte Carlo normals of the first Hq days (:mod:`simulator.qmc`), or (0, 0, A).
    Work items are blocks of :data:`LANES` consecutive paths, run in lockstep by :func:`simulate_block`.
    """
    n_assets = shocks.s2_start.shape[0]
    n_blocks = (n_paths + LANES - 1) // LANES
    for blk in prange(n_blocks):
        work = (np.empty((4, LANES), np.uint64), np.empty(4, np.uint64), np.empty(LANES, np.uint64),
                np.empty(LANES, np.uint8), np.empty(LANES, np.int64), np.empty(LANES, np.int64),
                np.empty(LANES, np.int64), np.empty(LANES, np.int64), np.empty(LANES, np.int64), np.empty(LANES),
                np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty((n_assets, LANES)), np.empty((n_assets, LANES)),
                np.empty((n_assets, LANES)), np.empty((n_assets, LANES)), np.empty((n_assets, LANES)),
                np.empty((n_assets, LANES)), np.empty((n_assets, LANES)), np.empty((n_assets, LANES)),
                np.empty((n_assets, LANES)), np.empty((n_assets, LANES)), np.empty((n_assets, LANES)))
        lo = blk * LANES
        simulate_block(work, key0, key1, path_start + lo, lo, min(LANES, n_paths - lo), horizon, model, tables,
                       shocks, anchors, itables, store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days, out_logw,
                       chunk_z)


cache_on_kernel_sources(simulate_chunk)
