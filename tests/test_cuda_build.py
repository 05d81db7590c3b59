"""The CUDA kernels built for real hardware (sm_90, the H100/H200) with no GPU: NVVM makes PTX, ptxas
makes machine code and reports per-thread resources. numba's CUDA simulator (tests/test_cuda_backend.py)
runs the kernels as Python and so checks none of this: typing and lowering for the CUDA target,
libdevice calls, and that the kernel assembles without register spills.

The compilers come from the ``dev`` extra (NVIDIA's pip wheels, Linux x86-64); elsewhere the build
test is skipped with the reason.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.backends.cuda_build import find_ptxas, toolkit_root

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, sim: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, "-m", "simulator.backends.cuda_build", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(toolkit_root() is None or find_ptxas() is None,
                    reason="no CUDA compiler: pip install 'nvidia-nvvm==13.0.*' 'nvidia-cuda-nvcc==13.0.*'")
def test_kernels_build_for_hopper_without_spills(tmp_path):
    out = tmp_path / "build.json"
    proc = _run("--assets", "3", "10", "--cc", "9.0", "--ptx-dir", str(tmp_path / "ptx"), "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    builds = {b["size_class"]: b for b in json.loads(out.read_text())["builds"]}
    assert set(builds) == {4, 16}
    for size_class, b in builds.items():
        assert b["arch"] == "sm_90"
        assert 0 < b["registers"] <= 255
        assert b["spill_store_bytes"] == 0 and b["spill_load_bytes"] == 0, b
        # the ten per-asset work arrays (and z, one longer) are thread-local: at least that much stack
        assert b["stack_frame_bytes"] >= 8 * (10 * size_class + 1), b
        assert b["constant_bytes"] >= 8 * (129 + 128), b  # the ziggurat tables
        ptx = (tmp_path / "ptx" / f"chunk_kernel_a{size_class}_sm_90.ptx").read_text()
        assert ".target sm_90" in ptx and ".entry" in ptx
    assert "size_class" in proc.stdout and "sm_90" in proc.stdout  # the printed table


def test_simulator_mode_is_refused_with_one_line():
    proc = _run("--no-sass", sim=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "NUMBA_ENABLE_CUDASIM" in proc.stderr


@pytest.mark.parametrize("args", [["--cc", "90"], ["--assets", "0"], ["--assets", "x"]])
def test_bad_arguments_exit_2(args):
    proc = _run(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr
