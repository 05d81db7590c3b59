"""Per-path random streams: xoshiro256** seeded by SplitMix64 from (key0, key1, path index).

Each path owns a stream that depends only on the run's two 64-bit keys and its global path index,
so output is bit-identical for any chunking, thread count or backend. The state is a uint64 array
of length 4 owned by the caller. Draw algorithms: normals by Doornik's ZIGNOR ziggurat (128 layers,
exact rejection sampler, one 64-bit word per accepted draw in ~99% of cases), gammas by
Marsaglia-Tsang, positive stables by Kanter, logarithmic series by Kemp's LK algorithm.

Lanes: the CPU kernel runs a block of paths in lockstep (:mod:`simulator.kernels.paths`), their
states side by side in a ``(4, n_lanes)`` array ``S`` (lane ``l``'s state is ``S[:, l]``).
:func:`normal_lanes` and :func:`gamma_lanes` draw one variate per lane in two passes: a branch-free
pass over the lanes for the common case (the ziggurat's accepted first word; Marsaglia-Tsang's
squeeze on the first try), which the compiler vectorises across lanes, then the scalar algorithm
resumed where the first pass left each remaining lane (:func:`_normal_resume`, :func:`gamma`). Every
lane consumes exactly the words the scalar draw consumes, in the same order, and gets the same bits:
the lane functions change the speed of a draw, never its value.

The functions are plain Python compiled for the CPU at the bottom of the module and, unchanged,
for NVIDIA GPUs by :func:`simulator.kernels._targets.cuda_functions`. The ziggurat tables
``ZIG_X``/``ZIG_RATIO`` (129 + 128 doubles) are module globals, frozen into the compiled code as
constant arrays (numba.cuda places them in the GPU's constant memory).
"""
import math

import numpy as np
from numba import uint64

from simulator.kernels._targets import INLINE, PLAIN, cpu_compile

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / 9007199254740992.0
TWO_PI = 2.0 * math.pi


def _zignor_tables(c=128, r=3.442619855899, v=9.91256303526217e-3):
    x = np.zeros(c + 1)
    f = math.exp(-0.5 * r * r)
    x[0] = v / f
    x[1] = r
    for i in range(2, c):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    ratio = x[1:] / x[:-1]
    return x, ratio


ZIG_R = 3.442619855899
ZIG_X, ZIG_RATIO = _zignor_tables()


def mix64(z):
    """SplitMix64 finaliser: a bijection on uint64."""
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


def seed_stream(state, key0, key1, path):
    """Fill ``state`` (uint64[4]) with the xoshiro256** state of global path ``path``."""
    x = mix64(key0 ^ mix64(key1 + uint64(path)))
    for i in range(4):
        x = x + _GOLDEN
        state[i] = mix64(x)


def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


def _xoshiro(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in four words: (output word, next state's four words)."""
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


def next_u64(s):
    """Next 64-bit word of xoshiro256**."""
    result, s[0], s[1], s[2], s[3] = _xoshiro(s[0], s[1], s[2], s[3])
    return result


def next_u64_lane(S, l):
    """Next 64-bit word of lane ``l``'s stream (state ``S[:, l]`` of a ``(4, n_lanes)`` lane array)."""
    result, S[0, l], S[1, l], S[2, l], S[3, l] = _xoshiro(S[0, l], S[1, l], S[2, l], S[3, l])
    return result


def lane_load(S, st, l):
    """Copy lane ``l``'s state into the scalar state ``st`` (uint64[4]), for the scalar draws."""
    for q in range(4):
        st[q] = S[q, l]


def lane_store(S, st, l):
    """Copy the scalar state ``st`` back into lane ``l``."""
    for q in range(4):
        S[q, l] = st[q]


def uniform(s):
    """Uniform double in the open interval (0, 1), 53-bit resolution."""
    return (float(next_u64(s) >> uint64(11)) + 0.5) * _INV_2_53


def uniform_lanes(S, out, n_lanes):
    """``out[l]`` = the next :func:`uniform` of lane ``l``'s stream, for every ``l < n_lanes`` (one pass across lanes)."""
    for l in range(n_lanes):
        out[l] = (float(next_u64_lane(S, l) >> uint64(11)) + 0.5) * _INV_2_53


def exponential(s):
    """Standard exponential draw."""
    return -math.log(uniform(s))


def _normal_tail(s, negative):
    while True:
        x = math.log(uniform(s)) / ZIG_R
        y = math.log(uniform(s))
        if -2.0 * y >= x * x:
            break
    return x - ZIG_R if negative else ZIG_R - x


def _normal_resume(s, w):
    """The ZIGNOR draw whose first 64-bit word ``w`` has already been taken from ``s``."""
    while True:
        u = 2.0 * (float(w >> uint64(11)) * _INV_2_53) - 1.0
        i = int(w & uint64(0x7F))
        if abs(u) < ZIG_RATIO[i]:
            return u * ZIG_X[i]
        if i == 0:
            return _normal_tail(s, u < 0.0)
        x = u * ZIG_X[i]
        f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
        f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
        if f1 + uniform(s) * (f0 - f1) < 1.0:
            return x
        w = next_u64(s)


def normal(s):
    """Standard normal draw (ZIGNOR ziggurat, exact)."""
    return _normal_resume(s, next_u64(s))


def normal_lanes(S, st, word, flag, out, n_lanes):
    """``out[l]`` = the next standard normal of lane ``l``'s stream, ``l < n_lanes`` (as :func:`normal` draws it).

    ``st`` (uint64[4]), ``word`` (uint64) and ``flag`` (uint8, per lane) are scratch. First pass, branch-free:
    one word per lane, accepted in the ziggurat's rectangle (~99% of draws); then each rejected lane
    resumes the scalar draw from its first word.
    """
    n_slow = 0
    for l in range(n_lanes):
        w = next_u64_lane(S, l)
        u = 2.0 * (float(w >> uint64(11)) * _INV_2_53) - 1.0
        i = w & uint64(0x7F)
        out[l] = u * ZIG_X[i]
        word[l] = w
        slow = abs(u) >= ZIG_RATIO[i]
        flag[l] = slow
        n_slow += slow
    if n_slow > 0:
        for l in range(n_lanes):
            if flag[l]:
                lane_load(S, st, l)
                out[l] = _normal_resume(st, word[l])
                lane_store(S, st, l)


def gamma(s, shape):
    """Gamma(shape, 1) draw (Marsaglia-Tsang with its squeeze; shape < 1 by the u^(1/shape) boost)."""
    boost = 1.0
    a = shape
    if a < 1.0:
        boost = uniform(s) ** (1.0 / a)
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        z = normal(s)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(s)
        z2 = z * z
        if u < 1.0 - 0.0331 * z2 * z2:  # Marsaglia-Tsang squeeze: accepts without the logs
            return d * v * boost
        if math.log(u) < 0.5 * z2 + d - d * v + d * math.log(v):
            return d * v * boost


def gamma_lanes(S, st, word, flag, zbuf, ubuf, out, shape, n_lanes):
    """``out[l]`` = the next Gamma(``shape[l]``, 1) draw of lane ``l``'s stream (as :func:`gamma` draws it),
    for ``l < n_lanes``; every ``shape[l] >= 1``.

    ``zbuf``, ``ubuf`` (float64) are scratch besides those of :func:`normal_lanes`. First pass: the normal
    (:func:`normal_lanes`), then, branch-free, the uniform (drawn only where ``v > 0``, as the scalar loop
    does) and the squeeze; a lane the squeeze does not accept finishes the scalar iteration (the
    logarithmic test with the same ``z`` and ``u``) and, if that rejects too, runs :func:`gamma` from its
    current state: Marsaglia-Tsang's iterations are independent, so that is the scalar loop's next one.
    """
    normal_lanes(S, st, word, flag, zbuf, n_lanes)
    n_slow = 0
    for l in range(n_lanes):
        d = shape[l] - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        z = zbuf[l]
        v = 1.0 + c * z
        ok = v > 0.0
        o0, o1, o2, o3 = S[0, l], S[1, l], S[2, l], S[3, l]
        w, s0, s1, s2, s3 = _xoshiro(o0, o1, o2, o3)
        S[0, l] = s0 if ok else o0  # the scalar loop draws u only where v > 0
        S[1, l] = s1 if ok else o1
        S[2, l] = s2 if ok else o2
        S[3, l] = s3 if ok else o3
        u = (float(w >> uint64(11)) + 0.5) * _INV_2_53
        v = v * v * v
        z2 = z * z
        slow = not (ok and u < 1.0 - 0.0331 * z2 * z2)
        out[l] = d * v * 1.0
        ubuf[l] = u
        flag[l] = slow
        n_slow += slow
    if n_slow > 0:
        for l in range(n_lanes):
            if flag[l]:
                d = shape[l] - 1.0 / 3.0
                c = 1.0 / math.sqrt(9.0 * d)
                z = zbuf[l]
                v = 1.0 + c * z
                done = False
                if v > 0.0:
                    v = v * v * v
                    done = math.log(ubuf[l]) < 0.5 * (z * z) + d - d * v + d * math.log(v)
                if done:
                    out[l] = d * v * 1.0
                else:
                    lane_load(S, st, l)
                    out[l] = gamma(st, shape[l])
                    lane_store(S, st, l)


def positive_stable(s, alpha):
    """Positive alpha-stable draw with Laplace transform exp(-t^alpha), 0 < alpha <= 1 (Kanter)."""
    if alpha >= 1.0:
        return 1.0
    u = math.pi * uniform(s)
    e = exponential(s)
    a = (math.sin(alpha * u) ** (alpha / (1.0 - alpha))) * math.sin((1.0 - alpha) * u) / (
        math.sin(u) ** (1.0 / (1.0 - alpha))
    )
    return (a / e) ** ((1.0 - alpha) / alpha)


def logarithmic(s, h):
    """Logarithmic-series draw with p = 1 - exp(h), h < 0 (Kemp's LK algorithm)."""
    p = -math.expm1(h)
    v = uniform(s)
    if v >= p:
        return 1.0
    q = -math.expm1(h * uniform(s))
    if v <= q * q:
        return math.floor(1.0 + math.log(v) / math.log(q))
    if v <= q:
        return 2.0
    return 1.0


cpu_compile(globals(), {
    "mix64": INLINE,
    "seed_stream": PLAIN,
    "_rotl": INLINE,
    "_xoshiro": INLINE,
    "next_u64": INLINE,
    "next_u64_lane": INLINE,
    "lane_load": INLINE,
    "lane_store": INLINE,
    "uniform": INLINE,
    "uniform_lanes": INLINE,
    "exponential": INLINE,
    "_normal_tail": PLAIN,
    "_normal_resume": PLAIN,
    "normal": INLINE,
    "normal_lanes": INLINE,
    "gamma": PLAIN,
    "gamma_lanes": INLINE,
    "positive_stable": PLAIN,
    "logarithmic": PLAIN,
})
