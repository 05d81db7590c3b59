"""Per-path random streams: xoshiro256** seeded by SplitMix64 from (key0, key1, path index).

Each path owns a stream that depends only on the run's two 64-bit keys and its global path index,
so output is bit-identical for any chunking, thread count or backend. The state is a uint64 array
of length 4 owned by the caller. Draw algorithms: normals by Doornik's ZIGNOR ziggurat (128 layers,
exact rejection sampler, one 64-bit word per accepted draw in ~99% of cases), gammas by
Marsaglia-Tsang, positive stables by Kanter, logarithmic series by Kemp's LK algorithm.

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


def next_u64(s):
    """Next 64-bit word of xoshiro256**."""
    result = _rotl(s[1] * uint64(5), 7) * uint64(9)
    t = s[1] << uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


def uniform(s):
    """Uniform double in the open interval (0, 1), 53-bit resolution."""
    return (float(next_u64(s) >> uint64(11)) + 0.5) * _INV_2_53


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


def normal(s):
    """Standard normal draw (ZIGNOR ziggurat, exact)."""
    while True:
        w = next_u64(s)
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


def fill_normals(s, out, n):
    """Fill ``out[:n]`` with standard normals."""
    for i in range(n):
        out[i] = normal(s)


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
    "next_u64": INLINE,
    "uniform": INLINE,
    "exponential": INLINE,
    "_normal_tail": PLAIN,
    "normal": INLINE,
    "fill_normals": PLAIN,
    "gamma": PLAIN,
    "positive_stable": PLAIN,
    "logarithmic": PLAIN,
})
