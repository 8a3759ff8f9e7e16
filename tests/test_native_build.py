"""The native sources build for a CPU this machine is not: the NEON kernels and the dispatch without
x86 are compiled for aarch64 with Debian's cross compiler (object files only; nothing runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "native"
CROSS = shutil.which("aarch64-linux-gnu-g++")


def _aarch64_sources() -> list[Path]:
    src = NATIVE / "src"
    return sorted([*src.glob("*.cpp"), *(src / "generic").glob("*.cpp"), *(src / "arm_neon").glob("*.cpp")])


@pytest.mark.skipif(CROSS is None, reason="aarch64-linux-gnu-g++ not installed (apt-get install g++-aarch64-linux-gnu)")
@pytest.mark.parametrize("source", _aarch64_sources(), ids=lambda p: str(p.relative_to(NATIVE)))
def test_compiles_for_aarch64(source, tmp_path):
    cmd = [CROSS, "-std=c++17", "-O2", "-ffp-contract=off", "-Wall", "-Werror", "-DGGUFPY_HAVE_NEON",
           f"-I{NATIVE / 'include'}", "-c", str(source), "-o", str(tmp_path / "out.o")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
