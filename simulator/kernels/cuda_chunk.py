"""GPU driver of the path kernel: one CUDA thread per path, running the CPU's block code on a block of one lane.

:func:`simulate_chunk_gpu` is the plain-Python source of the kernel; :func:`chunk_kernel` compiles it
with ``numba.cuda.jit`` in a namespace where ``simulate_block`` is the GPU twin of
:func:`simulator.kernels.paths.simulate_block` (see :mod:`simulator.kernels._targets`) and the
thread-local work arrays (:data:`simulator.kernels.paths.WORK`, one lane each) have a compile-time
asset length ``MAXA`` (the number of assets rounded up to a power of two, at least 4: one compiled
kernel per size class). Kernel inputs, quantile tables
included, live in the GPU's global memory; the ziggurat tables are numba constants (constant memory).

Its parameters are :data:`simulator.kernels.interface.DRIVER_PARAMS`, those of
:func:`simulator.kernels.paths.simulate_chunk`: the path range, the input groups of
:class:`~simulator.kernels.interface.KernelInputs` (named tuples of device arrays) and the outputs. This
module imports nothing from ``numba.cuda``: the caller passes the module
(real or numba's simulator, see :mod:`simulator.backends.cuda`).
"""
from __future__ import annotations

import types
from typing import Any

from numba import float64, int64, uint8, uint64

from simulator.kernels import paths  # noqa: F401  (registers the per-path functions)
from simulator.kernels._targets import cuda_functions

MIN_MAXA = 4


def max_assets_class(n_assets: int) -> int:
    """Compile-time work-array length for ``n_assets`` assets: the next power of two, at least 4."""
    if n_assets < 1:
        raise ValueError(f"n_assets must be >= 1, got {n_assets}")
    return max(MIN_MAXA, 1 << (int(n_assets) - 1).bit_length())


def simulate_chunk_gpu(key0, key1, path_start, n_paths, horizon, model, tables, shocks, anchors, itables,
                       store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days, out_logw, chunk_z):
    """Kernel source: thread ``i`` simulates global path ``path_start + i`` into output row ``i``.

    Arguments and output shapes as :func:`simulator.kernels.paths.simulate_chunk`; launch with at
    least ``n_paths`` threads (extra threads return at once). ``cuda``, ``simulate_block`` and ``MAXA``
    are bound by :func:`chunk_kernel`.
    """
    i = cuda.grid(1)  # noqa: F821
    if i < n_paths:
        # the work arrays of simulator.kernels.paths.WORK, one lane each
        work = (cuda.local.array((4, 1), uint64), cuda.local.array(4, uint64),  # noqa: F821
                cuda.local.array(1, uint64), cuda.local.array(1, uint8),  # noqa: F821
                cuda.local.array(1, int64), cuda.local.array(1, int64),  # noqa: F821
                cuda.local.array(1, int64), cuda.local.array(1, int64),  # noqa: F821
                cuda.local.array(1, int64),  # noqa: F821
                cuda.local.array(1, float64), cuda.local.array(1, float64),  # noqa: F821
                cuda.local.array(1, float64), cuda.local.array(1, float64),  # noqa: F821
                cuda.local.array((MAXA, 1), float64), cuda.local.array((MAXA, 1), float64),  # noqa: F821
                cuda.local.array((MAXA, 1), float64), cuda.local.array((MAXA, 1), float64),  # noqa: F821
                cuda.local.array((MAXA, 1), float64), cuda.local.array((MAXA, 1), float64),  # noqa: F821
                cuda.local.array((MAXA, 1), float64), cuda.local.array((MAXA, 1), float64),  # noqa: F821
                cuda.local.array((MAXA, 1), float64), cuda.local.array((MAXA, 1), float64),  # noqa: F821
                cuda.local.array((MAXA, 1), float64))  # noqa: F821
        simulate_block(work, key0, key1, path_start + i, i, 1, horizon, model, tables, shocks,  # noqa: F821
                       anchors, itables, store_paths, out_r, out_s, out_cum, out_mdd, out_regime_days, out_logw,
                       chunk_z)


_KERNELS: dict[tuple[int, int], Any] = {}


def chunk_kernel(cuda, n_assets: int):
    """The compiled (lazily, on first launch) GPU chunk kernel for ``n_assets`` assets.

    Parameters
    ----------
    cuda : module
        The imported ``numba.cuda``.
    n_assets : int
        Assets of the run; kernels are shared by every run in the same size class
        (:func:`max_assets_class`).
    """
    maxa = max_assets_class(n_assets)
    key = (id(cuda), maxa)
    kern = _KERNELS.get(key)
    if kern is None:
        fns = cuda_functions(cuda)
        src = simulate_chunk_gpu
        ns = dict(globals())
        ns.update(cuda=cuda, uint64=uint64, uint8=uint8, int64=int64, float64=float64, MAXA=maxa,
                  simulate_block=fns["simulator.kernels.paths.simulate_block"])
        fn = types.FunctionType(src.__code__, ns, src.__name__, src.__defaults__, src.__closure__)
        fn.__qualname__ = f"{src.__qualname__}_maxa{maxa}"
        fn.__doc__ = src.__doc__
        fn.__module__ = __name__
        kern = _KERNELS[key] = cuda.jit(fn)
    return kern
