"""Scalar special functions for kernels: the normal quantile and tabulated Hermite maps.

Plain Python compiled for the CPU at the bottom of the module and for NVIDIA GPUs by
:func:`simulator.kernels._targets.cuda_functions` (one source, see there).
"""
import math

from simulator.kernels._targets import INLINE, PLAIN, cpu_compile

# Wichura (1988) AS241 PPND16 coefficients: |relative error| < 1e-16.
_A = (3.387132872796366608, 133.14166789178437745, 1971.5909503065514427, 13731.693765509461125,
      45921.953931549871457, 67265.770927008700853, 33430.575583588128105, 2509.0809287301226727)
_B = (1.0, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077,
      21213.794301586595867, 39307.89580009271061, 28729.085735721942674, 5226.495278852545925)
_C = (1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055, 3.64784832476320460504,
      1.27045825245236838258, 0.24178072517745061177, 0.0227238449892691845833, 7.7454501427834140764e-4)
_D = (1.0, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455,
      0.14810397642748007459, 0.0151986665636164571966, 5.475938084995344946e-4, 1.05075007164441684324e-9)
_E = (6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358, 0.29656057182850489123,
      0.026532189526576123093, 0.0012426609473880784386, 2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525,
      7.868691311456132591e-4, 1.8463183175100546818e-5, 1.4215117583164458887e-7, 2.04426310338993978564e-15)


def _poly(c, x):
    return ((((((c[7] * x + c[6]) * x + c[5]) * x + c[4]) * x + c[3]) * x + c[2]) * x + c[1]) * x + c[0]


def ndtri_pq(p, q):
    """Standard normal quantile of lower-tail probability ``p`` given ``q = 1 - p`` exactly."""
    if p < q:
        r_p, sign = p, -1.0
    else:
        r_p, sign = q, 1.0
    d = 0.5 - r_p
    if d < 0.425:  # central region (|p - 0.5| <= 0.425)
        r = 0.180625 - d * d
        return sign * d * _poly(_A, r) / _poly(_B, r)
    r = math.sqrt(-math.log(r_p))
    if r <= 5.0:
        r -= 1.6
        x = _poly(_C, r) / _poly(_D, r)
    else:
        r -= 5.0
        x = _poly(_E, r) / _poly(_F, r)
    return sign * x


def _cubic_segment(coef, j, a, off, n, pos):
    if pos >= n - 1:  # the linear continuation beyond the last node (also pos = inf)
        i = n - 1
    else:
        i = int(pos)
    t = pos - i
    k = 4 * (off + i)
    return coef[j, a, k] + t * (coef[j, a, k + 1] + t * (coef[j, a, k + 2] + t * coef[j, a, k + 3]))


def hermite_eval(coef, j, a, kind, xc, inv_hc, inv_ht, n_center, n_tail, x):
    """Evaluate table ``[j, a]`` at copula-scale value ``x``: kind 0 identity, 1 the cubic Hermite
    interpolant of a :class:`simulator.tables.QuantileTable` from its segment coefficients ``coef``
    (S, A, 4 N_GRID): segment ``k``'s four at ``4k .. 4k + 3`` (:func:`simulator.tables.segment_coefficients`,
    flattened: the index is a shift, where a fourth axis would cost a multiplication by its run-time length)."""
    if kind == 0:
        return x
    if x <= xc and x >= -xc:
        return _cubic_segment(coef, j, a, 0, n_center, (x + xc) * inv_hc)
    pos = (math.log(abs(x)) - math.log(xc)) * inv_ht
    off = n_center if x > 0.0 else n_center + n_tail
    return _cubic_segment(coef, j, a, off, n_tail, pos)


def hermite_lanes_one(coef, kind, xc, inv_hc, inv_ht, j, a, n_center, n_tail, x, out, flag, n_lanes):
    """``out[l]`` = :func:`hermite_eval` of table ``[j, a]`` at ``x[l]`` for every lane ``l < n_lanes`` (same bits).
    ``coef``, ``kind``, ``xc``, ``inv_hc``, ``inv_ht`` are a table group's arrays; ``flag`` (uint8, per lane) is scratch.

    First pass, branch-free: the centre segment (no transcendental call; ~99.999% of draws), one gather of the
    segment's four coefficients per lane, the table's scalars loaded once; then every lane outside the centre takes
    :func:`hermite_eval` itself. Lanes reading different tables run one pass per table
    (:func:`simulator.kernels.paths._tables`)."""
    if kind[j, a] == 0:
        for l in range(n_lanes):
            out[l] = x[l]
        return
    h = xc[j, a]
    ihc = inv_hc[j, a]
    c = coef[j, a]
    n_slow = 0
    for l in range(n_lanes):
        v = x[l]
        centre = v <= h and v >= -h
        pos = (v + h) * ihc if centre else 0.0
        i = int(pos)
        t = pos - i
        k = 4 * i
        out[l] = c[k] + t * (c[k + 1] + t * (c[k + 2] + t * c[k + 3]))
        flag[l] = not centre
        n_slow += not centre
    if n_slow > 0:
        for l in range(n_lanes):
            if flag[l]:
                out[l] = hermite_eval(coef, j, a, kind[j, a], h, ihc, inv_ht[j, a], n_center, n_tail, x[l])


cpu_compile(globals(), {
    "_poly": INLINE,
    "ndtri_pq": PLAIN,
    "_cubic_segment": INLINE,
    "hermite_eval": INLINE,
    "hermite_lanes_one": INLINE,
})
