"""One kernel source, two targets: the CPU (``numba.njit``) and NVIDIA GPUs (``numba.cuda`` device functions).

The kernel modules (:mod:`~simulator.kernels.rng`, :mod:`~simulator.kernels.special`,
:mod:`~simulator.kernels.paths`) write their per-path code as plain Python functions: no decorators,
no allocation inside (work arrays are passed in), arrays and scalars only. At the bottom of each
module one call registers them::

    cpu_compile(globals(), {"mix64": INLINE, "seed_stream": PLAIN, ...})

which replaces every named function in the module namespace by ``numba.njit(**CPU_OPTIONS, _nrt=False,
**options)(fn)``.
Callers in the module, and modules that import the name afterwards, therefore call the CPU version,
exactly as with a decorator (and numba's on-disk cache keys on the same file, line and qualname).

numba's on-disk cache checks only the source file of the function it caches, yet the kernels inline
functions of other kernel modules: after an edit of :mod:`~simulator.kernels.variance` alone (a new
volatility family's branch), a cached :func:`~simulator.kernels.paths.simulate_chunk` would run the old
recursion. :func:`cache_on_kernel_sources` therefore stamps every kernel's cache with
:data:`KERNEL_SOURCES_SHA256` as well, a hash of every kernel source file: any edit of any of them
recompiles every kernel.

:func:`cuda_functions` compiles the same sources for the GPU: it rebuilds every registered function
with ``types.FunctionType(fn.__code__, namespace, ...)``, where ``namespace`` is a copy of the
function's module globals in which every registered CPU function is replaced by its GPU twin, and
wraps it in ``numba.cuda.jit(device=True)``. Calls thus resolve per target, and the GPU runs the
very statements the CPU runs (same random streams, same arithmetic; only the math library and
the compiler's floating-point contraction differ, see :mod:`simulator.backends.cuda`).
"""
from __future__ import annotations

import hashlib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numba import njit
from numba.core.compiler import Compiler



class NoAliasCompiler(Compiler):
    """numba's standard compiler pipeline with its ``noalias`` flag set: LLVM is told that no two pointer arguments
    of a compiled function (every array argument's data, those inside tuple arguments included) reach the same
    memory.

    That holds for every kernel function: each array a kernel writes (work arrays, outputs) is a distinct
    allocation that no other argument views, and inputs are only read. Without it LLVM must assume that any
    store may hit any array, and gives up vectorising a loop whose loads are indexed by data (the quantile
    tables' coefficient gathers): it cannot bound such loads for a run-time overlap check. The flag changes
    which instructions LLVM may reorder and vectorise, never the arithmetic (no reassociation, no contraction),
    so results are bit-identical.
    """

    def define_pipelines(self):
        self.state.flags.noalias = True
        return super().define_pipelines()


#: njit options of every CPU kernel function (the drivers' decorators repeat them). ``error_model="numpy"``:
#: a float division by zero gives IEEE infinity or NaN, as on the GPU, where Python's model tests every
#: divisor and raises ``ZeroDivisionError``; that test is an early exit that keeps LLVM from vectorising
#: any loop with a division in it (the t copula's scaling, the gamma draw). Every other operation, and every
#: quotient of a nonzero divisor, is the same instruction either way, so results are bit-identical; a run
#: that divides by zero fails the engine's finite-output check (naming the path) instead of raising.
#: ``pipeline_class``: :class:`NoAliasCompiler`.
CPU_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy", "pipeline_class": NoAliasCompiler}
#: The functions :func:`cpu_compile` registers are compiled without numba's runtime (``_nrt=False``): they allocate
#: nothing (their callers pass every array in), and without the runtime numba emits no reference counting for
#: them. With it, every array a function or an IR-inlined helper binds (each argument of each inlined call, each
#: named-tuple field, each row view) took an atomic increment and decrement, about 12 % of the kernel's time
#: (sampled with perf). The drivers, which allocate the work arrays, keep the runtime.
NO_RUNTIME: dict[str, Any] = {"_nrt": False}
#: njit options of a function that numba should inline at the IR level (small hot helpers).
INLINE: dict[str, Any] = {"inline": "always"}
#: njit options of an ordinary compiled function.
PLAIN: dict[str, Any] = {}


@dataclass(frozen=True)
class _Shared:
    module: str
    name: str
    py_func: types.FunctionType
    cpu: Any  # the numba CPU dispatcher


_REGISTRY: list[_Shared] = []

#: the files whose code the compiled kernels contain: every module of this package and the table layout
KERNEL_SOURCES = (*sorted(Path(__file__).resolve().parent.glob("*.py")),
                  Path(__file__).resolve().parents[1] / "tables.py")
#: sha256 over the contents of :data:`KERNEL_SOURCES`
KERNEL_SOURCES_SHA256 = hashlib.sha256(
    b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in KERNEL_SOURCES)).hexdigest()


def cache_on_kernel_sources(dispatcher: Any) -> Any:
    """Make ``dispatcher``'s on-disk cache valid only for the current :data:`KERNEL_SOURCES` (see the module
    docstring); returns it. The stamp numba compares is its own (the function's file) paired with
    :data:`KERNEL_SOURCES_SHA256`; ``tests/test_kernels.py`` checks that every kernel carries it."""
    cache_file: Any = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    stamp = getattr(cache_file, "_source_stamp", None)
    if stamp is not None and not (isinstance(stamp, tuple) and stamp[-1:] == (KERNEL_SOURCES_SHA256,)):
        cache_file._source_stamp = (stamp, KERNEL_SOURCES_SHA256)
    return dispatcher


def cpu_compile(namespace: dict, options: dict[str, dict[str, Any]]) -> None:
    """Compile the plain functions ``options`` names in module ``namespace`` for the CPU, in place.

    Parameters
    ----------
    namespace : dict
        The module's ``globals()``.
    options : dict of str to dict
        Function name -> extra ``numba.njit`` options (``INLINE`` or ``PLAIN``) besides :data:`CPU_OPTIONS` and
        ``_nrt=False``.
    """
    module = namespace["__name__"]
    for name, opts in options.items():
        fn = namespace[name]
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"{module}.{name} must be a plain Python function to be compiled for both targets, "
                            f"got {type(fn).__name__}")
        cpu = cache_on_kernel_sources(njit(**CPU_OPTIONS, **NO_RUNTIME, **opts)(fn))
        namespace[name] = cpu
        _REGISTRY.append(_Shared(module, name, fn, cpu))


def shared_sources() -> dict[str, types.FunctionType]:
    """``"module.name"`` -> plain Python source function of every registered kernel function."""
    return {f"{e.module}.{e.name}": e.py_func for e in _REGISTRY}


_CUDA_CACHE: dict[int, dict[str, Any]] = {}


def cuda_functions(cuda) -> dict[str, Any]:
    """The GPU twins of every registered function, ``"module.name"`` -> ``cuda.jit(device=True)`` dispatcher.

    Parameters
    ----------
    cuda : module
        The imported ``numba.cuda`` (real, or numba's simulator with ``NUMBA_ENABLE_CUDASIM=1``).

    Compilation itself is lazy (on the first kernel launch); this only builds the dispatchers, once
    per ``cuda`` module.
    """
    key = id(cuda)
    if key in _CUDA_CACHE:
        return _CUDA_CACHE[key]
    import sys

    namespaces: dict[str, dict] = {}
    twins: dict[int, Any] = {}
    out: dict[str, Any] = {}
    for e in _REGISTRY:
        ns = namespaces.get(e.module)
        if ns is None:
            ns = namespaces[e.module] = dict(vars(sys.modules[e.module]))
        fn = e.py_func
        clone = types.FunctionType(fn.__code__, ns, fn.__name__, fn.__defaults__, fn.__closure__)
        clone.__kwdefaults__ = fn.__kwdefaults__
        clone.__qualname__ = fn.__qualname__
        clone.__doc__ = fn.__doc__
        clone.__module__ = fn.__module__
        dev = cuda.jit(device=True)(clone)
        twins[id(e.cpu)] = dev
        out[f"{e.module}.{e.name}"] = dev
    # every name bound to a registered CPU function (its own module's, or one imported from another
    # kernel module) now resolves to the GPU twin; dispatchers compile lazily, so order is free
    for ns in namespaces.values():
        for name, value in list(ns.items()):
            twin = twins.get(id(value))
            if twin is not None:
                ns[name] = twin
    _CUDA_CACHE[key] = out
    return out
