"""Build the CUDA path kernel for a GPU architecture without a GPU: PTX through NVVM, SASS through ptxas.

A machine with no GPU can still check that the GPU kernels compile for real hardware (numba's CUDA
simulator runs them as Python and checks none of this) and read what the compiler gives each
thread: registers, stack frame (the thread-local work arrays), spills. This needs the CUDA compiler
libraries, not a driver: ``pip install "nvidia-nvvm==13.0.*" "nvidia-cuda-nvcc==13.0.*"`` (the
project's ``dev`` extra does, on Linux) or a CUDA toolkit (``CUDA_HOME``). Run::

    python -m simulator.backends.cuda_build                       # size classes 4 and 16, sm_90
    python -m simulator.backends.cuda_build --assets 10 --cc 9.0 8.0 --json build.json

It prints one row per (size class, architecture) and exits 2 when no CUDA compiler is found.
Only for processes that launch no kernel: numba caches device functions per argument types, not
per architecture, so a later launch in the same process would reuse the architecture built here.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simulator.exceptions import UserInputError


class CudaCompilerMissing(UserInputError, RuntimeError):
    """No CUDA compiler (NVVM, or ptxas for the SASS step) was found."""


@dataclass(frozen=True)
class KernelBuild:
    """What the compilers made of the chunk kernel for one size class and architecture."""

    size_class: int  #: compile-time work-array length (assets rounded up, see ``max_assets_class``)
    arch: str  #: e.g. ``"sm_90"``
    ptx_bytes: int
    nvvm_s: float  #: seconds, Python source to PTX (numba typing, lowering and NVVM)
    ptxas_s: float | None  #: seconds, PTX to SASS; ``None`` when ptxas was not run
    registers: int | None  #: per thread
    stack_frame_bytes: int | None  #: per thread (the thread-local work arrays live here)
    spill_store_bytes: int | None
    spill_load_bytes: int | None
    constant_bytes: int  #: constant-memory arrays declared by the PTX (the ziggurat tables)


def toolkit_root() -> Path | None:
    """Root of a CUDA toolkit with NVVM: ``CUDA_HOME``/``CUDA_PATH``, else NVIDIA's pip wheels."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return Path(os.environ[var])
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        for name in ("cu13", "cu12", "cuda_nvcc"):
            root = Path(base) / name
            if (root / "nvvm" / "libdevice").is_dir():
                return root
    return None


def find_ptxas() -> Path | None:
    """The ``ptxas`` assembler of :func:`toolkit_root`, else the one on ``PATH``."""
    root = toolkit_root()
    if root is not None and (root / "bin" / "ptxas").is_file():
        return root / "bin" / "ptxas"
    found = shutil.which("ptxas")
    return Path(found) if found else None


def _numba_cuda():
    """Real (not simulated) ``numba.cuda`` with NVVM found, or :class:`CudaCompilerMissing`."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        raise CudaCompilerMissing("NUMBA_ENABLE_CUDASIM is set: numba's CUDA simulator compiles nothing; "
                                  "unset it to build the kernels")
    root = toolkit_root()
    if root is not None:
        os.environ.setdefault("CUDA_HOME", str(root))  # where numba looks for libnvvm and libdevice
    from simulator.backends.cuda import import_cuda

    cuda = import_cuda()
    try:
        importlib.import_module(cuda.__name__ + ".cudadrv.nvvm").NVVM()
    except Exception as exc:
        raise CudaCompilerMissing(
            "no CUDA compiler library (NVVM) found: pip install 'nvidia-nvvm==13.0.*' 'nvidia-cuda-nvcc==13.0.*' "
            f"or set CUDA_HOME to a CUDA toolkit ({' '.join(str(exc).split())[:200]})") from None
    return cuda


@contextlib.contextmanager
def _target_device(cuda, cc: tuple[int, int]):
    """Make numba compile device functions for ``cc`` (it otherwise asks the driver of a present GPU)."""
    dispatcher = importlib.import_module(cuda.__name__ + ".dispatcher")
    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


def kernel_signature(n_assets: int) -> tuple:
    """numba argument types of the chunk kernel (those of a ``backend="cuda"`` launch, summaries kept)."""
    from numba import typeof

    from simulator.engine import plan_run
    from simulator.model import MarketModel

    model = MarketModel.from_dict({
        "assets": [f"A{i}" for i in range(n_assets)],
        "marginals": [{"vol": {"type": "garch", "omega": 0.05, "alpha": 0.05, "beta": 0.9},
                       "dist": {"type": "normal"}}] * n_assets,
        "copula": {"type": "independent"},
    })
    plan = plan_run(model, 1, 1, 0, keep="summary")  # array types do not depend on the model
    outs = (np.zeros((0, 0, n_assets)), np.zeros((0, 0, n_assets)), np.zeros((1, n_assets)),
            np.zeros((1, n_assets)), np.zeros(1, np.int64), np.zeros(0),  # out_logw: empty unless importance sampling
            np.zeros((0, 0, n_assets)))  # chunk_z: empty unless quasi-Monte Carlo
    args = (plan.keys.key0, plan.keys.key1, np.int64(0), np.int64(1), np.int64(1), *plan.arrays.as_tuple(),
            False, *outs)
    return tuple(typeof(a) for a in args)


def compile_ptx(n_assets: int, cc: tuple[int, int] = (9, 0)) -> str:
    """PTX of the chunk kernel for ``n_assets``' size class, for compute capability ``cc``; no GPU needed."""
    from simulator.kernels.cuda_chunk import chunk_kernel

    cuda = _numba_cuda()
    kernel = chunk_kernel(cuda, n_assets)
    with _target_device(cuda, cc):
        ptx, _ = cuda.compile_ptx(kernel.py_func, kernel_signature(n_assets), cc=cc)
    return ptx


_STACK = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")
_CONST = re.compile(r"^\.const\s.*\[(\d+)\]", re.MULTILINE)


def constant_bytes(ptx: str) -> int:
    """Bytes of constant-memory arrays the PTX declares (numba freezes global numpy arrays there)."""
    return sum(int(n) for n in _CONST.findall(ptx))


def assemble(ptx: str, arch: str) -> tuple[dict, str]:
    """Assemble ``ptx`` for ``arch`` (e.g. ``"sm_90"``) with ``ptxas -v``: (resource figures, its report)."""
    ptxas = find_ptxas()
    if ptxas is None:
        raise CudaCompilerMissing("ptxas not found: pip install 'nvidia-cuda-nvcc==13.0.*' or put a CUDA "
                                  "toolkit's bin/ on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "kernel.ptx"
        src.write_text(ptx)
        proc = subprocess.run([str(ptxas), f"-arch={arch}", "-O3", "-v", str(src), "-o", str(Path(tmp) / "k.cubin")],
                              capture_output=True, text=True)
    report = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"ptxas failed for {arch} (exit {proc.returncode}):\n{report[-3000:]}")
    # the entry kernel's lines: those after "Compiling entry function"
    entry = report[report.find("Compiling entry function"):]
    stack, regs = _STACK.search(entry), _REGS.search(entry)
    figures = {
        "registers": int(regs.group(1)) if regs else None,
        "stack_frame_bytes": int(stack.group(1)) if stack else None,
        "spill_store_bytes": int(stack.group(2)) if stack else None,
        "spill_load_bytes": int(stack.group(3)) if stack else None,
    }
    return figures, report


def build(n_assets: int, cc: tuple[int, int] = (9, 0), *, sass: bool = True,
          ptx_dir: Path | None = None) -> KernelBuild:
    """Compile (and with ``sass`` assemble) the chunk kernel for ``n_assets`` assets and ``cc``."""
    from simulator.kernels.cuda_chunk import max_assets_class

    arch = f"sm_{cc[0]}{cc[1]}"
    t0 = time.perf_counter()
    ptx = compile_ptx(n_assets, cc)
    nvvm_s = time.perf_counter() - t0
    if ptx_dir is not None:
        ptx_dir.mkdir(parents=True, exist_ok=True)
        (ptx_dir / f"chunk_kernel_a{max_assets_class(n_assets)}_{arch}.ptx").write_text(ptx)
    figures: dict = dict.fromkeys(("registers", "stack_frame_bytes", "spill_store_bytes", "spill_load_bytes"))
    ptxas_s = None
    if sass:
        t0 = time.perf_counter()
        figures, _ = assemble(ptx, arch)
        ptxas_s = time.perf_counter() - t0
    return KernelBuild(max_assets_class(n_assets), arch, len(ptx.encode()), nvvm_s, ptxas_s,
                       constant_bytes=constant_bytes(ptx), **figures)


def _cc(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.(\d)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"compute capability must look like 9.0 or 8.6, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"number of assets must be a positive integer, got {text!r}")
    return int(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.backends.cuda_build",
                                     description="Compile the CUDA path kernel for GPU architectures, "
                                                 "without a GPU, and report its per-thread resources.")
    parser.add_argument("--assets", type=_positive, nargs="+", default=[4, 16],
                        help="numbers of assets (one kernel per size class; default 4 16)")
    parser.add_argument("--cc", type=_cc, nargs="+", default=[(9, 0)],
                        help="compute capabilities (default 9.0, the H100/H200)")
    parser.add_argument("--no-sass", action="store_true", help="stop at PTX (no ptxas needed)")
    parser.add_argument("--ptx-dir", type=Path, help="also write each PTX file here")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    from simulator.kernels.cuda_chunk import max_assets_class

    classes = sorted({max_assets_class(n) for n in args.assets})
    try:
        builds = [build(n, cc, sass=not args.no_sass, ptx_dir=args.ptx_dir) for n in classes for cc in args.cc]
    except CudaCompilerMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cols = ("size_class", "arch", "ptx_bytes", "nvvm_s", "ptxas_s", "registers", "stack_frame_bytes",
            "spill_store_bytes", "spill_load_bytes", "constant_bytes")
    rows = [[("-" if getattr(b, c) is None else f"{getattr(b, c):.2f}" if isinstance(getattr(b, c), float)
              else str(getattr(b, c))) for c in cols] for b in builds]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    if args.json is not None:
        from simulator.io import atomic_write_text

        cuda = _numba_cuda()
        meta = {"numba": importlib.import_module("numba").__version__, "numba_cuda_module": cuda.__name__,
                "toolkit": str(toolkit_root()), "ptxas": str(find_ptxas())}
        atomic_write_text(args.json, json.dumps({"meta": meta, "builds": [asdict(b) for b in builds]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
