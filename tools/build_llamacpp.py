"""Build llama.cpp's command-line tools once, from the pinned llama-cpp-python sdist, cached outside the repo.

    python tools/build_llamacpp.py [--jobs 2]

The sdist (llama-cpp-python 0.3.36, sha256 832db069..., see ggufpy.fetch.LLAMA_CPP_PYTHON_SDIST) vendors
llama.cpp at commit 0c1e570. Its ``vendor/llama.cpp`` tree is extracted to
``<cache>/llama.cpp-0c1e570/src`` and built with CMake (Release, GGML_NATIVE=ON, no curl/tests/server) into
``<cache>/llama.cpp-0c1e570/build``. Nothing is rebuilt when every wanted binary is already there. The last
line printed is the bin directory.

Other tools use ``llamacpp_bin("llama-quantize")`` to locate a binary (it raises if the build has not run).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

LLAMA_CPP_COMMIT = "0c1e570"
TARGETS = ("llama-bench", "llama-perplexity", "llama-quantize", "llama-tokenize", "llama-completion")
CMAKE_DEFINES = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
)
_VENDOR_PREFIX = "llama_cpp_python-0.3.36/vendor/llama.cpp/"


def root_dir() -> Path:
    from ggufpy.fetch import cache_dir

    return cache_dir() / f"llama.cpp-{LLAMA_CPP_COMMIT}"


def bin_dir() -> Path:
    return root_dir() / "build" / "bin"


def llamacpp_bin(name: str) -> Path:
    """Path of a built llama.cpp tool, e.g. ``llamacpp_bin("llama-quantize")``.

    Raises:
        FileNotFoundError: the tool was not built yet (run ``python tools/build_llamacpp.py``).
    """
    path = bin_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `python tools/build_llamacpp.py` first")
    return path


def _extract(sdist: Path, src: Path) -> None:
    """Extract vendor/llama.cpp from the sdist into ``src`` (via a temporary sibling, renamed at the end)."""
    tmp = src.with_name(src.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(sdist, "r:gz") as t:
        members = []
        for m in t.getmembers():
            if m.name.startswith(_VENDOR_PREFIX) and len(m.name) > len(_VENDOR_PREFIX):
                m.name = m.name[len(_VENDOR_PREFIX):]
                members.append(m)
        t.extractall(tmp, members=members, filter="data")
    shutil.rmtree(src, ignore_errors=True)
    tmp.rename(src)


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def build(jobs: int = 2) -> Path:
    """Extract (if needed) and build the tools; returns the bin directory."""
    bins = bin_dir()
    if all((bins / t).is_file() for t in TARGETS):
        return bins
    from ggufpy.fetch import LLAMA_CPP_PYTHON_SDIST, fetch_distribution

    src = root_dir() / "src"
    if not (src / "CMakeLists.txt").is_file():
        _extract(fetch_distribution(LLAMA_CPP_PYTHON_SDIST), src)
    build_dir = root_dir() / "build"
    t0 = time.perf_counter()
    _run(["cmake", "-S", str(src), "-B", str(build_dir), *CMAKE_DEFINES])
    _run(["cmake", "--build", str(build_dir), "--config", "Release", "-j", str(jobs), "--target", *TARGETS])
    print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)
    return bins


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-j", "--jobs", type=int, default=2)
    args = p.parse_args()
    try:
        print(build(args.jobs))
    except subprocess.CalledProcessError as e:
        sys.exit(f"build failed: {e}")


if __name__ == "__main__":
    main()
