"""The generic native dot products of the ggml types against ggml's own generic C, bit for bit.

native/src/generic/vec_dot.cpp ports ``ggml_vec_dot_<w>_<a>_generic`` (ggml-cpu/quants.c, llama.cpp 0c1e570):
the same integer sums and the same float32 operations in the same order, so the floats must be identical.
The oracle is that C, extracted from the pinned llama-cpp-python sdist (ggufpy.fetch.LLAMA_CPP_PYTHON_SDIST)
with ggml-quants.c (which quants.c references) and compiled as tools/gen_golden_kquants.py compiles the
quantizers: ``cc -O2 -fPIC -shared -ffp-contract=off`` without -march (no FMA contraction, as our build's
-ffp-contract=off). ggml reads fp16 through ``ggml_table_f32_f16``, which ggml-cpu.c fills; a stub fills it
with the exact conversion.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from ggufpy.fetch import LLAMA_CPP_PYTHON_SDIST, fetch_distribution
from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import quantize
from ggufpy.runtime import ops

SRC = "llama_cpp_python-0.3.36/vendor/llama.cpp/ggml/"
WANTED = re.compile(re.escape(SRC) + r"(include/[^/]+\.h|src/[^/]+\.h|src/ggml-cpu/[^/]+\.h|src/ggml-quants\.c"
                    r"|src/ggml-cpu/quants\.c)")
# Symbols the two files reference but no generic dot product reaches; ggml_table_f32_f16 is read by
# GGML_CPU_FP16_TO_FP32.
STUBS = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
float ggml_table_f32_f16[1 << 16];
__attribute__((constructor)) static void fill_table(void) {
    for (uint32_t h = 0; h < 65536; ++h) {
        uint32_t sign = (h & 0x8000u) << 16, exp = h & 0x7c00u, man = h & 0x03ffu, u;
        if (exp == 0x7c00u) u = sign | 0x7f800000u | (man << 13);
        else if (exp) u = sign | (((exp >> 10) + 112u) << 23) | (man << 13);
        else if (!man) u = sign;
        else { uint32_t e = 113; while (!(man & 0x400u)) { man <<= 1; --e; } u = sign | (e << 23) | ((man & 0x3ffu) << 13); }
        memcpy(&ggml_table_f32_f16[h], &u, 4);
    }
}
void ggml_abort(const char * file, int line, const char * fmt, ...) { (void)file; (void)line; (void)fmt; abort(); }
size_t ggml_row_size(int type, long long ne) { (void)type; (void)ne; abort(); }
const char * ggml_type_name(int type) { (void)type; abort(); }
size_t ggml_type_size(int type) { (void)type; abort(); }
"""
# weight type -> ggml's generic function (the activation type is in its name)
PORTS = {
    GGMLType.Q2_K: "ggml_vec_dot_q2_K_q8_K_generic",
    GGMLType.Q3_K: "ggml_vec_dot_q3_K_q8_K_generic",
    GGMLType.TQ1_0: "ggml_vec_dot_tq1_0_q8_K_generic",
    GGMLType.TQ2_0: "ggml_vec_dot_tq2_0_q8_K_generic",
    GGMLType.IQ4_XS: "ggml_vec_dot_iq4_xs_q8_K_generic",
    GGMLType.MXFP4: "ggml_vec_dot_mxfp4_q8_0_generic",
    GGMLType.IQ4_NL: "ggml_vec_dot_iq4_nl_q8_0_generic",
}
CC = shutil.which("cc")


@pytest.fixture(scope="module")
def ggml_generic(tmp_path_factory) -> ctypes.CDLL:
    work = tmp_path_factory.mktemp("ggml_generic")
    with tarfile.open(fetch_distribution(LLAMA_CPP_PYTHON_SDIST, progress=False)) as tar:
        for member in tar:
            if WANTED.fullmatch(member.name):
                dest = work / member.name[len(SRC):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tar.extractfile(member).read())
    (work / "stubs.c").write_text(STUBS)
    lib = work / "libggml_generic.so"
    cmd = [CC, "-O2", "-fPIC", "-shared", "-ffp-contract=off", "-DNDEBUG", "-std=gnu11", f"-I{work / 'include'}",
           f"-I{work / 'src'}", f"-I{work / 'src/ggml-cpu'}", str(work / "src/ggml-cpu/quants.c"),
           str(work / "src/ggml-quants.c"), str(work / "stubs.c"), "-o", str(lib), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


def _weights(rng, wtype: GGMLType, n: int, scale: float) -> np.ndarray:
    block_size, type_size = QUANT_SIZES[wtype]
    if wtype in (GGMLType.IQ4_XS, GGMLType.IQ4_NL):  # dequantize-only in ggufpy: random codes, f16 d at byte 0
        raw = rng.integers(0, 256, (n // block_size, type_size), dtype=np.uint8)
        raw[:, 0:2] = np.full((len(raw), 1), scale * 1e-2, np.float16).view(np.uint8)
        return raw.reshape(-1)
    return quantize((rng.standard_normal(n) * scale).astype(np.float32), wtype).reshape(-1)


@pytest.mark.fixtures
@pytest.mark.slow
@pytest.mark.skipif(CC is None, reason="no C compiler (cc) to build ggml's generic kernels")
@pytest.mark.parametrize("wtype", list(PORTS), ids=lambda t: t.name)
def test_generic_vec_dot_bitwise_equals_ggml(ggml_generic, wtype):
    fn = getattr(ggml_generic, PORTS[wtype])
    fn.restype = None
    fn.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                   ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    k = ops.kernels("generic")
    vdt = k.vec_dot_type(int(wtype))
    rng = np.random.default_rng(int(wtype))
    for _ in range(20):
        n = 256 * int(rng.integers(1, 12))
        w = _weights(rng, wtype, n, 10.0 ** rng.uniform(-3, 3))
        a = k.from_float(vdt, (rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32))
        want = ctypes.c_float()
        fn(n, ctypes.byref(want), 0, w.ctypes.data, 0, a.ctypes.data, 0, 1)
        got = k.vec_dot(int(wtype), w, a, n)[0]
        assert np.float32(got).tobytes() == np.float32(want.value).tobytes(), (n, got, want.value)
