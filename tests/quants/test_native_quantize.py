"""Native quantizers equal the numpy references byte for byte, on every ISA this CPU can run.

The numpy references are pinned to ggml / gguf-py elsewhere (test_legacy, test_k_quants, ...); here each
native kernel (generic/quantize.cpp, inherited by the SIMD tables) is compared with them on many input
distributions, awkward block counts, real weights, the committed golden blocks and non-finite input.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

import ggufpy
from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import _native, quantize, registry

ISAS = _native.available_isas()
NATIVE_TYPES = [
    t
    for t in GGMLType
    if int(t) in registry() and registry()[int(t)].can_quantize() and _native.kernels("generic").has_quantize(int(t))
]
BLOCK_TYPES = [t for t in NATIVE_TYPES if QUANT_SIZES[t][0] > 1]
N_BLOCKS = [1, 2, 3, 5, 7, 31, 33]  # awkward tails around SIMD widths
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "q_blocks"


def _reference(x: np.ndarray, qtype: GGMLType) -> np.ndarray:
    with np.errstate(all="ignore"):  # non-finite input: numpy's casts warn where C is silent
        return quantize(x, qtype, reference=True).reshape(-1)


def _native_bytes(isa: str, x: np.ndarray, qtype: GGMLType) -> np.ndarray:
    return _native.kernels(isa).quantize(int(qtype), np.ascontiguousarray(x, np.float32).reshape(-1))


def _ties(rng, n_blocks: int, bs: int) -> np.ndarray:
    """Half-integers with a block extreme chosen so that the scale is exactly 1 (Q8: amax 127, Q4_0: max -8,
    Q5_0: -16, Q4_1/Q5_1: range 15/31, K-quants: plain .5 ties): x * id lands exactly on .5."""
    out = np.empty((n_blocks, bs), np.float32)
    for i, anchor in enumerate(np.resize([127.0, -8.0, -16.0, 15.0, 31.0, 4.0], n_blocks)):
        if anchor in (15.0, 31.0):  # affine types: min 0, max anchor
            v = rng.integers(0, 2 * int(anchor) + 1, bs) / 2
            v[0], v[1] = 0.0, anchor
        else:
            a = abs(int(anchor))
            v = rng.integers(-2 * a + 1, 2 * a, bs) / 2
            v[0] = anchor
        out[i] = v
    return out


def _distributions(rng, n_blocks: int, bs: int) -> dict[str, np.ndarray]:
    shape = (n_blocks, bs)
    normal = rng.standard_normal(shape).astype(np.float32)
    outliers = (normal * 0.02).astype(np.float32)
    outliers[rng.random(shape) < 0.01] *= 5000
    constant = np.repeat(np.resize(np.float32([0.37, -2.5, 1e-3, 7.0, -1e-20]), n_blocks)[:, None], bs, axis=1)
    mixed = normal * np.logspace(-6, 6, n_blocks, dtype=np.float32)[:, None]
    return {
        "normal": normal,
        "uniform": rng.uniform(-1, 1, shape).astype(np.float32),
        "heavy_tailed": rng.standard_t(1.5, shape).astype(np.float32),
        "outliers": outliers,
        "zero": np.zeros(shape, np.float32),
        "constant": constant.astype(np.float32),
        "tiny": (normal * np.float32(1e-30)).astype(np.float32),
        "huge": (normal * np.float32(1e30)).astype(np.float32),
        "positive": np.abs(normal),
        "mixed_scales": mixed.astype(np.float32),
        "ties": _ties(rng, n_blocks, bs),
    }


_CASES: dict[GGMLType, dict[str, tuple[np.ndarray, np.ndarray]]] = {}


def _cases(qtype: GGMLType) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (input, reference bytes), computed once per type and shared by the ISAs."""
    if qtype not in _CASES:
        bs = QUANT_SIZES[qtype][0]
        rng = np.random.default_rng(20260701 + int(qtype) % 1000)
        n_blocks = 24 if bs >= 256 else 96
        if bs == 1:  # plain floats: the same distributions, 4096 values each
            n_blocks, bs = 64, 64
        _CASES[qtype] = {name: (x, _reference(x, qtype)) for name, x in _distributions(rng, n_blocks, bs).items()}
    return _CASES[qtype]


@pytest.mark.parametrize("qtype", NATIVE_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("isa", ISAS)
def test_quantize_bit_exact_on_distributions(isa, qtype):
    for name, (x, ref) in _cases(qtype).items():
        got = _native_bytes(isa, x, qtype)
        assert got.shape == ref.shape, name
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, f"{qtype.name}/{isa}/{name}: {bad.size} bytes differ, first at {bad[:8]}"


@pytest.mark.parametrize("qtype", BLOCK_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("isa", ISAS)
def test_quantize_awkward_block_counts(isa, qtype, rng):
    bs = QUANT_SIZES[qtype][0]
    for n in N_BLOCKS:
        x = (rng.standard_normal(n * bs) * rng.choice([1e-3, 1.0, 50.0])).astype(np.float32)
        np.testing.assert_array_equal(_native_bytes(isa, x, qtype), _reference(x, qtype), err_msg=f"{n} blocks")


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="numpy's float -> int casts of NaN/inf are platform-defined; the kernels follow x86-64's (cvtt)",
)
@pytest.mark.parametrize("qtype", BLOCK_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("isa", ISAS)
def test_quantize_non_finite_and_subnormal(isa, qtype, rng):
    """NaN / inf elements, subnormal and near-FLT_MAX blocks: native follows numpy's casts and NaN rules."""
    bs = QUANT_SIZES[qtype][0]
    x = rng.standard_normal((8, 8, bs)).astype(np.float32)
    rows = np.arange(8)
    x[0, rows, rng.integers(0, bs, 8)] = np.nan
    x[1, rows, rng.integers(0, bs, 8)] = np.inf
    x[2, rows, rng.integers(0, bs, 8)] = -np.inf
    x[3, :, 0], x[3, :, 1] = np.nan, np.inf
    x[4] *= np.float32(1e-42)  # subnormal
    x[5] *= np.float32(1e-39)  # scales underflow / reciprocals overflow
    x[6] *= np.float32(1.2e-38)
    x[7] = x[7] / np.abs(x[7]).max(axis=1, keepdims=True) * np.float32(3.4e38)
    for case in range(8):
        np.testing.assert_array_equal(_native_bytes(isa, x[case], qtype), _reference(x[case], qtype), err_msg=f"case {case}")


@pytest.mark.fixtures
@pytest.mark.parametrize("qtype", NATIVE_TYPES, ids=lambda t: t.name)
def test_quantize_real_weights(qtype, smollm2_path):
    """Rows of SmolLM2-135M blk.0.ffn_down (1536 = 6 x 256 = 24 x 64 = 48 x 32 per row)."""
    w = np.ascontiguousarray(ggufpy.GGUFReader(smollm2_path).get_tensor("blk.0.ffn_down.weight").numpy()[:16])
    ref = _reference(w, qtype)
    for isa in ISAS:
        np.testing.assert_array_equal(_native_bytes(isa, w, qtype), ref, err_msg=isa)


def _golden_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.npz") if "q" in np.load(p).files)


@pytest.mark.parametrize("name", _golden_names())
@pytest.mark.parametrize("isa", ISAS)
def test_quantize_matches_golden(isa, name):
    """Committed blocks from ggml's C (K-quants) and gguf-py (the rest)."""
    g = np.load(GOLDEN / f"{name}.npz")
    qtype = GGMLType[name.upper()]
    got = _native_bytes(isa, g["x"], qtype).reshape(g["q"].shape)
    want = g["q"].copy()
    if qtype in (GGMLType.Q4_1, GGMLType.Q5_1):
        # The golden bytes come from gguf-py, whose x.min() picks +0 or -0 for a zero block minimum m in
        # numpy's SIMD reduction order (CPU-dependent). ggml's C, our reference and this kernel take the
        # first zero; so only the sign bit of m (byte 3, bit 7) of the "signed_zeros" rows is masked.
        signed = g["case"] == "signed_zeros"
        got[signed, 3] &= 0x7F
        want[signed, 3] &= 0x7F
    np.testing.assert_array_equal(got, want)


# ---- plain floats ------------------------------------------------------------------------------------

_F16_SPECIAL_BITS = np.array(
    [
        0x00000000, 0x80000000,  # +-0
        0x00000001, 0x807FFFFF,  # float32 subnormals -> +-0
        0x33000000, 0x33000001, 0x337FFFFF,  # around half the smallest half subnormal (tie to 0, above)
        0x33800000, 0x387FC000, 0x387FE000, 0x38800000,  # half subnormals, tie, smallest normal
        0x477FE000,  # 65504
        0x477FEFFF, 0x477FF000,  # just below 65520 (-> 65504), 65520 (tie -> inf)
        0x47800000, 0x7F7FFFFF,  # overflow -> inf
        0x7F800000, 0xFF800000,  # +-inf
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7F801FFF, 0x7F802000, 0x7FBFFFFF, 0x7FFFFFFF,  # NaN payloads
        0x3F800000, 0x3F801000, 0x3F803000, 0x3F800FFF,  # 1.0 and ties to even
    ],
    dtype=np.uint32,
)


@pytest.mark.parametrize("qtype", [GGMLType.F16, GGMLType.BF16], ids=lambda t: t.name)
@pytest.mark.parametrize("isa", ISAS)
def test_float_special_values_and_random_bits(isa, qtype, rng):
    """numpy's astype(float16) rule (RNE, NaN payload kept unquieted) and ggml's bf16 rule, bit for bit.
    (All 2**32 float32 patterns were checked once outside the suite.)"""
    bits = np.concatenate([_F16_SPECIAL_BITS, _F16_SPECIAL_BITS | 0x80000000, rng.integers(0, 2**32, 1 << 16, dtype=np.uint32)])
    x = bits.view(np.float32)
    got = _native_bytes(isa, x, qtype).view(np.uint16)
    np.testing.assert_array_equal(got, _reference(x, qtype).view(np.uint16))


# ---- front door and validation -----------------------------------------------------------------------


def test_native_types_cover_every_numpy_quantizer():
    expected = {t for t in GGMLType if int(t) in registry() and registry()[int(t)].can_quantize()} - {GGMLType.F32}
    assert set(NATIVE_TYPES) == expected
    for isa in ISAS:  # SIMD tables inherit the generic quantizers
        assert all(_native.kernels(isa).has_quantize(int(t)) for t in NATIVE_TYPES), isa


def test_front_door_uses_native_and_keeps_shape(monkeypatch, rng):
    x = rng.standard_normal((3, 2, 512)).astype(np.float32)
    ref = quantize(x, GGMLType.Q4_K, reference=True)
    cls = registry()[int(GGMLType.Q4_K)]

    def boom(*a, **k):
        raise AssertionError("numpy reference called")

    monkeypatch.setattr(cls, "quantize_blocks", classmethod(boom))
    got = quantize(x, GGMLType.Q4_K)
    assert got.shape == (3, 2, 2 * 144) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, ref)


def test_front_door_options_use_numpy(rng):
    x = rng.standard_normal((4, 128)).astype(np.float32)
    dq = quantize(x, GGMLType.NF4, double_quant=True)
    np.testing.assert_array_equal(dq, quantize(x, GGMLType.NF4, reference=True, double_quant=True))
    np.testing.assert_array_equal(quantize(x, GGMLType.NF4), quantize(x, GGMLType.NF4, reference=True))


def test_bad_input_is_a_python_error():
    k = _native.kernels()
    q8 = int(GGMLType.Q8_0)
    with pytest.raises(ValueError, match="multiple of the block size 32 elements, got 33"):
        k.quantize(q8, np.zeros(33, np.float32))
    with pytest.raises(TypeError, match="float32"):
        k.quantize(q8, np.zeros(64, np.float64))
    with pytest.raises(TypeError, match="float32"):
        k.quantize(q8, np.zeros(64, ">f4"))
    with pytest.raises(ValueError, match="C-contiguous"):
        k.quantize(q8, np.zeros(128, np.float32)[::2])
    with pytest.raises(ValueError, match="no native quantizer"):
        k.quantize(12345, np.zeros(32, np.float32))
    assert not k.has_quantize(int(GGMLType.IQ4_NL)) and not k.has_quantize(12345)
    with pytest.raises(ValueError, match="no native quantizer"):
        k.quantize(int(GGMLType.IQ4_NL), np.zeros(32, np.float32))
    assert k.quantize(q8, np.zeros(0, np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="block size 256"):
        quantize(np.zeros((2, 100), np.float32), GGMLType.Q6_K)
