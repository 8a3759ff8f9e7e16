"""Native dequantizers equal the numpy references bit for bit, on every ISA this CPU can run."""

from __future__ import annotations

import numpy as np
import pytest

from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import _native, dequantize, quantize, registry

ISAS = _native.available_isas()
NATIVE_TYPES = [t for t in GGMLType if int(t) in registry() and _native.kernels("generic").has_dequantize(int(t))]
# block counts with awkward tails around the SIMD widths
N_BLOCKS = [1, 2, 3, 5, 7, 31, 33]


def _reference(raw: np.ndarray, qtype: GGMLType) -> np.ndarray:
    return dequantize(raw, qtype, reference=True).reshape(-1)


@pytest.mark.parametrize("qtype", NATIVE_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("isa", ISAS)
def test_dequant_of_real_blocks_bit_exact(isa, qtype, rng):
    """Blocks produced by quantizing data (finite scales): compare float32 bit patterns."""
    k = _native.kernels(isa)
    block_size, _ = QUANT_SIZES[qtype]
    cls = registry()[int(qtype)]
    for n in N_BLOCKS:
        x = (rng.standard_normal(n * max(block_size, 32)) * rng.choice([1e-3, 1.0, 50.0])).astype(np.float32)
        x = x[: n * block_size] if block_size > 1 else x[:n]
        if cls.can_quantize():
            raw = quantize(x.reshape(1, -1), qtype).reshape(-1)
        else:  # dequantize-only types: random codes with a fixed, finite scale pattern
            raw = rng.integers(0, 256, size=n * QUANT_SIZES[qtype][1], dtype=np.uint8)
            raw = np.ascontiguousarray(raw)
            if qtype in (GGMLType.IQ4_NL, GGMLType.IQ4_XS):
                raw.reshape(n, -1)[:, 0:2] = np.array([0.01], np.float16).view(np.uint8)
        got = k.dequantize(int(qtype), raw)
        np.testing.assert_array_equal(got.view(np.uint32), _reference(raw, qtype).view(np.uint32))


@pytest.mark.parametrize("qtype", NATIVE_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("isa", ISAS)
def test_dequant_of_random_bytes(isa, qtype, rng):
    """Arbitrary bytes (inf/NaN scales included): equal values, NaN where the reference has NaN."""
    k = _native.kernels(isa)
    _, type_size = QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=37 * type_size, dtype=np.uint8)
    with np.errstate(all="ignore"):
        ref = _reference(raw, qtype)
    np.testing.assert_array_equal(k.dequantize(int(qtype), raw), ref)


def test_layouts_agree_with_python_table():
    for t in GGMLType:
        bl = _native._mod.block_layout(int(t))
        if bl != (0, 0):
            assert bl == QUANT_SIZES[t], t.name


def test_bad_input_is_a_python_error():
    k = _native.kernels()
    with pytest.raises(ValueError, match="whole number"):
        k.dequantize(int(GGMLType.Q8_0), np.zeros(35, np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        k.dequantize(int(GGMLType.Q8_0), np.zeros(34, np.int16))
    with pytest.raises(ValueError, match="no native dequantizer"):
        k.dequantize(12345, np.zeros(34, np.uint8))
