"""Native F16/BF16 decoding is bit-identical to the numpy reference on every ISA this CPU runs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from ggufpy.quants import _native, dequantize, floats
from ggufpy.format.constants import GGMLType

ISAS = _native.available_isas()
ALL_HALVES = np.arange(1 << 16, dtype=np.uint16)  # every bit pattern: zeros, subnormals, inf, s/q NaN
# awkward lengths around the 8- and 16-lane widths (ggml's tail sizes)
LENGTHS = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 255, 1023, 1 << 16]


@pytest.mark.parametrize("isa", ISAS)
def test_fp16_to_fp32_bit_exact(isa):
    k = _native.kernels(isa)
    ref = floats.f16_to_f32(ALL_HALVES).view(np.uint32)
    for n in LENGTHS:
        got = k.fp16_to_fp32(ALL_HALVES[-n:] if n else ALL_HALVES[:0]).view(np.uint32)
        np.testing.assert_array_equal(got, ref[-n:] if n else ref[:0])


@pytest.mark.parametrize("isa", ISAS)
def test_bf16_to_fp32_bit_exact(isa):
    k = _native.kernels(isa)
    ref = floats.bf16_to_f32(ALL_HALVES).view(np.uint32)
    for n in LENGTHS:
        got = k.bf16_to_fp32(ALL_HALVES[:n]).view(np.uint32)
        np.testing.assert_array_equal(got, ref[:n])


def test_reference_matches_numpy_cast():
    """The F16 reference is numpy's own cast (gguf-py's rule); sNaN payloads survive decoding."""
    out = floats.f16_to_f32(np.array([0x7C01, 0xFE00, 0x0001], np.uint16)).view(np.uint32)
    assert out.tolist() == [0x7F802000, 0xFFC00000, 0x33800000]


def test_bf16_encode_rule():
    """ggml's fp32->bf16: round to nearest even, NaN forced quiet, subnormals kept."""
    x = np.array([0x3F808000, 0x3F818000, 0x7F800001, 0x00000001, 0x7F7FFFFF], np.uint32).view(np.float32)
    assert floats.f32_to_bf16(x).tolist() == [0x3F80, 0x3F82, 0x7FC0, 0x0000, 0x7F80]


def test_bf16_encode_matches_gguf_py(rng):
    gguf = pytest.importorskip("gguf")
    x = rng.standard_normal(4096).astype(np.float32) * 10.0 ** rng.integers(-40, 38, 4096)
    peer = gguf.quants.quantize(x, gguf.GGMLQuantizationType.BF16)
    np.testing.assert_array_equal(floats.f32_to_bf16(x), peer.view(np.uint16))


def test_input_validation():
    k = _native.kernels()
    with pytest.raises(TypeError, match="dtype"):
        k.fp16_to_fp32(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="even"):
        k.fp16_to_fp32(np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="C-contiguous"):
        k.fp16_to_fp32(np.zeros(8, np.uint16)[::2])
    with pytest.raises(ValueError, match="not available"):
        _native.kernels("no-such-isa")


def test_dequantize_front_door():
    h = ALL_HALVES[:1024]
    np.testing.assert_array_equal(dequantize(h.view(np.uint8), GGMLType.F16).view(np.uint32),
                                  floats.f16_to_f32(h).view(np.uint32))
    np.testing.assert_array_equal(dequantize(h, GGMLType.BF16), floats.bf16_to_f32(h))


@pytest.mark.parametrize("isa", ISAS + ["bogus"])
def test_ggufpy_isa_env_forces_the_table(isa):
    """GGUFPY_ISA picks the default table at import; an unavailable one is reported, not fatal."""
    code = "from ggufpy.quants import _native as n; print(n.default_isa(), '|', n.default_isa_error())"
    env = {**os.environ, "GGUFPY_ISA": isa}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    chosen, error = (s.strip() for s in out.split("|"))
    if isa == "bogus":
        assert chosen == ISAS[-1] and "GGUFPY_ISA=bogus is not available" in error
    else:
        assert chosen == isa and error == ""


def test_best_isa_is_default_and_generic_always_there():
    assert ISAS[0] == "generic"
    if not os.environ.get("GGUFPY_ISA"):
        assert _native.default_isa() == ISAS[-1]
