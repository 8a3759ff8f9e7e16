"""Golden K-quant blocks from ggml's own C reference, for tests/quants/test_k_quants.py.

    python tools/gen_golden_kquants.py            # writes tests/golden/q_blocks/{q2_K,...,q8_K}.npz

gguf-py cannot quantize K-quants, so the oracle is ggml-quants.c itself, taken from the pinned
llama-cpp-python sdist (ggufpy.fetch.LLAMA_CPP_PYTHON_SDIST, llama.cpp 0c1e570). The tool extracts
ggml-quants.c and the headers it includes into a temporary directory, compiles them (plus stubs for the
four libggml symbols the file references but the *_ref functions never call) into a shared library with

    cc -O2 -fPIC -shared -ffp-contract=off -DNDEBUG

(no -march: no FMA contraction, no F16C; -DNDEBUG as in release ggml builds), loads it with ctypes and
runs quantize_row_<t>_ref and dequantize_row_<t> on a fixed input set (``inputs()``: synthetic
distributions and edge cases, plus real SmolLM2 weight rows). Each .npz holds

    x  (48, 256) float32  the input blocks
    q  (48, type_size) uint8   quantize_row_<t>_ref(x)   (output buffer zeroed first: the Q8_K ref
                               leaves bsums unwritten for an all-zero block)
    y  (48, 256) float32  dequantize_row_<t>(q)

written as a zip with fixed timestamps, so reruns reproduce the same bytes (and sha256). The provenance
section of tests/golden/README.md (between the kquants markers) is rewritten with the hashes.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import io
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ggufpy.fetch import LLAMA_CPP_PYTHON_SDIST, fetch, fetch_distribution

ROOT = Path(__file__).resolve().parents[1]
SRC = "llama_cpp_python-0.3.36/vendor/llama.cpp/ggml/"
FILES = [
    "src/ggml-quants.c", "src/ggml-quants.h", "src/ggml-common.h", "src/ggml-impl.h",
    "src/ggml-cpu/ggml-cpu-impl.h", "include/ggml.h", "include/ggml-cpu.h", "include/ggml-backend.h",
    "include/ggml-alloc.h", "include/gguf.h",
]
CFLAGS = ["-O2", "-fPIC", "-shared", "-ffp-contract=off", "-DNDEBUG"]
LLAMA_CPP_COMMIT = "0c1e570"
# type name -> bytes per 256-element block
TYPES = {"q2_K": 84, "q3_K": 110, "q4_K": 144, "q5_K": 176, "q6_K": 210, "q8_K": 292}

# The *_ref functions never reach these; ggml-quants.c references them elsewhere (asserts, row checks).
STUBS = r"""
#include <stdlib.h>
#include <stddef.h>
void ggml_abort(const char * file, int line, const char * fmt, ...) { (void)file; (void)line; (void)fmt; abort(); }
size_t ggml_row_size(int type, long long ne) { (void)type; (void)ne; abort(); }
const char * ggml_type_name(int type) { (void)type; abort(); }
size_t ggml_type_size(int type) { (void)type; abort(); }
"""


def build_library(workdir: Path) -> tuple[ctypes.CDLL, str]:
    """Extract ggml-quants.c and its headers from the pinned sdist and compile them. -> (library, cc version)"""
    tarball = fetch_distribution(LLAMA_CPP_PYTHON_SDIST, progress=False)
    with tarfile.open(tarball) as tar:
        for name in FILES:
            member = tar.getmember(SRC + name)
            dest = workdir / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(tar.extractfile(member).read())
    (workdir / "stubs.c").write_text(STUBS)
    lib = workdir / "libkquants.so"
    cmd = ["cc", *CFLAGS, f"-I{workdir / 'include'}", f"-I{workdir / 'src'}",
           str(workdir / "src/ggml-quants.c"), str(workdir / "stubs.c"), "-o", str(lib), "-lm"]
    subprocess.run(cmd, check=True)
    version = subprocess.run(["cc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return ctypes.CDLL(str(lib)), version


def c_quantize(lib: ctypes.CDLL, name: str, x: np.ndarray) -> np.ndarray:
    """quantize_row_<name>_ref on (n, 256) float32 -> (n, type_size) uint8."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.zeros((x.shape[0], TYPES[name]), dtype=np.uint8)
    fn = getattr(lib, f"quantize_row_{name}_ref")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out


def c_dequantize(lib: ctypes.CDLL, name: str, q: np.ndarray) -> np.ndarray:
    """dequantize_row_<name> on (n, type_size) uint8 -> (n, 256) float32."""
    q = np.ascontiguousarray(q, dtype=np.uint8)
    out = np.zeros((q.shape[0], 256), dtype=np.float32)
    fn = getattr(lib, f"dequantize_row_{name}")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(q.ctypes.data, out.ctypes.data, out.size)
    return out


def smollm2_rows() -> np.ndarray:
    """Two rows of SmolLM2's blk.0.ffn_down.weight (Q4_1, 1536 wide = 6 blocks each). (12, 256)"""
    import gguf  # the peer dequantizes the Q4_1 source rows

    from ggufpy import GGUFReader

    t = GGUFReader(fetch("smollm2-135m-instruct-q4_1", progress=False)).get_tensor("blk.0.ffn_down.weight")
    rows = gguf.quants.dequantize(np.asarray(t.data[[0, 100]]), gguf.GGMLQuantizationType.Q4_1)
    return rows.astype(np.float32).reshape(-1, 256)


def inputs() -> np.ndarray:
    """The 48 golden input blocks, one reason each. (48, 256) float32"""
    rng = np.random.default_rng(20260611)
    n = lambda k: rng.standard_normal((k, 256))  # noqa: E731
    outliers = n(4) * 0.05
    outliers[np.arange(4), rng.integers(0, 256, 4)] = [3.0, -4.0, 8.0, -0.9]
    mixed_scale = n(2) * np.repeat(10.0 ** rng.integers(-3, 2, (2, 16)), 16, axis=1)  # sub-block scales 1e-3..10
    mixed_scale[0, 32:64] = 0.0  # two zero sub-blocks next to busy ones
    single = np.zeros((1, 256))
    single[0, 77] = -0.25
    parts = [
        n(8),                                            # normal
        rng.uniform(-1, 1, (4, 256)),                    # uniform
        rng.standard_t(2, (6, 256)) * 0.02,              # heavy tails, weight-like scale
        outliers,                                        # small values with one outlier each
        np.zeros((2, 256)),                              # all-zero blocks (every zero-scale branch)
        np.full((1, 256), 0.3), np.full((1, 256), -0.7),  # constant blocks (min > 0 clamp; max == min)
        n(2) * 1e-30,                                    # tiny: f16 scales underflow to 0
        rng.uniform(0.1, 1.0, (1, 256)),                 # all positive
        -rng.uniform(0.1, 1.0, (1, 256)),                # all negative
        mixed_scale,                                     # sub-blocks of very different magnitude
        single,                                          # one non-zero element
        np.round(n(2) * 4) / 4,                          # values on a grid: many nearest_int ties
        n(1) * 1e9,                                      # huge: f16 super-scales overflow to inf
        smollm2_rows(),                                  # 12 blocks of real weights
    ]
    x = np.concatenate(parts).astype(np.float32)
    assert x.shape == (48, 256), x.shape
    return x


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed layout, but with fixed zip timestamps so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def readme_section(cc_version: str, hashes: dict[str, str]) -> str:
    sdist = LLAMA_CPP_PYTHON_SDIST
    lines = [
        "<!-- kquants:begin (written by tools/gen_golden_kquants.py) -->",
        "## q_blocks/q{2,3,4,5,6,8}_K.npz: K-quant blocks from ggml's C reference",
        "",
        "Made by `python tools/gen_golden_kquants.py` (run from the repository root, gguf installed).",
        "",
        f"* Peer: `ggml/src/ggml-quants.c` of llama.cpp {LLAMA_CPP_COMMIT}, from the {sdist.project} {sdist.version} "
        f"sdist `{sdist.filename}` (sha256 `{sdist.sha256}`).",
        f"* Built with `cc {' '.join(CFLAGS)}` ({cc_version}); no `-march`, so no FMA contraction and the software "
        "fp16 conversion. Four libggml symbols the `_ref` functions never call are stubbed.",
        "* Each file: `x` (48, 256) float32 inputs; `q` = `quantize_row_<t>_ref(x)` (output zeroed first: the Q8_K "
        "ref leaves `bsums` unwritten for an all-zero block); `y` = `dequantize_row_<t>(q)`.",
        "* Inputs (`inputs()` in the tool, seed 20260611): normal, uniform, student-t(2)·0.02, outliers, all-zero, "
        "constant ±, tiny (1e-30), all positive, all negative, mixed sub-block magnitudes, a single non-zero, "
        "quarter-grid values (rounding ties), huge (1e9, f16 overflow), and 12 blocks of real weights (rows 0 and "
        "100 of SmolLM2-135M-Instruct Q4_1 `blk.0.ffn_down.weight`, dequantized by gguf-py).",
        "* Zip entries carry fixed timestamps, so a rerun reproduces these bytes.",
        "",
        "| file | sha256 |",
        "|---|---|",
        *(f"| `q_blocks/{name}` | `{digest}` |" for name, digest in hashes.items()),
        "<!-- kquants:end -->",
    ]
    return "\n".join(lines) + "\n"


def update_readme(path: Path, section: str) -> None:
    """Replace the kquants section of the README (or append it)."""
    header = "# Golden files\n\nProvenance of the golden test files (a subfolder may also have its own README.md).\n"
    text = path.read_text() if path.exists() else header
    begin, end = text.find("<!-- kquants:begin"), text.find("<!-- kquants:end -->")
    if begin >= 0 and end >= 0:
        text = text[:begin] + section + text[end + len("<!-- kquants:end -->\n"):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests/golden/q_blocks")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    x = inputs()
    hashes = {}
    with tempfile.TemporaryDirectory(prefix="ggufpy-kquants-") as tmp:
        lib, cc_version = build_library(Path(tmp))
        for name in TYPES:
            q = c_quantize(lib, name, x)
            path = args.out / f"{name}.npz"
            write_npz(path, {"x": x, "q": q, "y": c_dequantize(lib, name, q)})
            hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            print(f"{path}  {path.stat().st_size} bytes  sha256 {hashes[path.name]}")
    update_readme(args.out.parent / "README.md", readme_section(cc_version, hashes))


if __name__ == "__main__":
    main()
