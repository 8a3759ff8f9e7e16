"""K-quants (Q2_K Q3_K Q4_K Q5_K Q6_K, Q8_K): numpy reference == ggml's C reference, bit for bit.

Oracles: the committed golden blocks (tests/golden/q_blocks, made by tools/gen_golden_kquants.py from
ggml-quants.c; these tests need no peer) for quantize and dequantize, and gguf-py 0.19.0 (``peer``) for
dequantize of random and real blocks. gguf-py has no Q8_K; its only oracle is the golden file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ggufpy import quants
from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import k

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "q_blocks"
K_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"]
PEER_TYPES = K_TYPES[:-1]  # gguf-py has no Q8_K
# byte ranges of the f16 super-scales (d, dmin) in each block
F16_FIELDS = {"Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}


@pytest.fixture
def peer():
    """llama.cpp's gguf package (tests using it are marked ``peer``)."""
    return pytest.importorskip("gguf")


def peer_dequantize(gguf, raw: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[name])


def ref_dequantize(raw: np.ndarray, name: str) -> np.ndarray:
    """Our numpy reference (the front door would route to a native kernel where one exists)."""
    return quants.dequantize(raw, GGMLType[name], reference=True)


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{name[:-2].lower()}_K.npz") as f:
        return {key: f[key] for key in f.files}


def assert_same_floats(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-pattern equality: NaN == NaN with the same payload, -0.0 != +0.0."""
    assert got.dtype == np.float32 and want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def random_blocks(name: str, n_blocks: int, rng: np.random.Generator, *, finite: bool) -> np.ndarray:
    """Random bytes; with ``finite``, the f16 super-scales are replaced by small finite values."""
    raw = rng.integers(0, 256, (n_blocks, QUANT_SIZES[GGMLType[name]][1]), dtype=np.uint8)
    if finite:
        for off in F16_FIELDS[name]:
            raw[:, off : off + 2] = rng.uniform(-2.0, 2.0, n_blocks).astype("<f2").view(np.uint8).reshape(-1, 2)
    return raw


# ---- (a) golden blocks from ggml-quants.c --------------------------------------------------------


@pytest.mark.parametrize("name", K_TYPES)
def test_quantize_matches_ggml_golden(name):
    g = golden(name)
    np.testing.assert_array_equal(quants.quantize(g["x"], GGMLType[name]), g["q"])


@pytest.mark.parametrize("name", K_TYPES)
def test_dequantize_matches_ggml_golden(name):
    g = golden(name)
    assert_same_floats(ref_dequantize(g["q"], name), g["y"])


@pytest.mark.peer
@pytest.mark.parametrize("name", PEER_TYPES)
def test_dequantize_golden_matches_peer(name, peer):
    g = golden(name)
    assert_same_floats(ref_dequantize(g["q"], name), peer_dequantize(peer, g["q"], name))


@pytest.mark.parametrize("name", K_TYPES)
def test_block_count_does_not_change_bytes(name):
    """Vectorised over blocks: quantizing 1, 3 or 48 blocks at once gives the same bytes per block."""
    g = golden(name)
    cls = quants.get(GGMLType[name])
    for start, stop in [(0, 1), (20, 23), (47, 48)]:
        np.testing.assert_array_equal(cls.quantize_blocks(g["x"][start:stop]), g["q"][start:stop])


# ---- (b) dequantize vs gguf-py on random and real blocks -----------------------------------------


@pytest.mark.peer
@pytest.mark.parametrize("name", PEER_TYPES)
def test_dequantize_random_finite_blocks_match_peer(name, peer, rng):
    raw = random_blocks(name, 512, rng, finite=True)
    ours = ref_dequantize(raw, name)
    assert np.isfinite(ours).all()
    assert_same_floats(ours, peer_dequantize(peer, raw, name))


@pytest.mark.peer
@pytest.mark.parametrize("name", PEER_TYPES)
def test_dequantize_random_bytes_match_peer(name, peer, rng):
    """Fully random bytes: f16 scales may be inf/NaN (gguf-py's hostile-input test)."""
    raw = random_blocks(name, 512, rng, finite=False)
    # Bit patterns, so NaN == NaN and the NaN payloads (inf * 0 default NaN, f16 NaN widening) agree too.
    assert_same_floats(ref_dequantize(raw, name), peer_dequantize(peer, raw, name))


@pytest.mark.peer
@pytest.mark.fixtures
def test_real_weights_roundtrip_matches_peer(peer, smollm2_path):
    """SmolLM2 ffn_down rows (Q4_1 dequantized by the peer), re-quantized as each K-type by us."""
    from ggufpy import GGUFReader

    t = GGUFReader(smollm2_path).get_tensor("blk.0.ffn_down.weight")
    w = peer_dequantize(peer, np.asarray(t.data[:32]), "Q4_1")  # (32, 1536)
    for name in PEER_TYPES:
        raw = quants.quantize(w, GGMLType[name])
        assert raw.shape == (32, 1536 // 256 * QUANT_SIZES[GGMLType[name]][1])
        assert_same_floats(ref_dequantize(raw, name), peer_dequantize(peer, raw, name))


# ---- (c) round-trip error ------------------------------------------------------------------------

# RMSE on N(0, 1) data (the seeded rng fixture, 64 blocks); measured 0.296 / 0.151 / 0.0715 / 0.0361 /
# 0.0176 / 0.0069. Bounds leave ~15% headroom: a broken search or scale packing lands far above them.
RMSE_BOUND = {"Q2_K": 0.34, "Q3_K": 0.175, "Q4_K": 0.082, "Q5_K": 0.042, "Q6_K": 0.021, "Q8_K": 0.008}


@pytest.mark.parametrize("name", K_TYPES)
def test_roundtrip_rmse_on_normal_data(name, rng):
    x = rng.standard_normal((64, 256)).astype(np.float32)
    y = ref_dequantize(quants.quantize(x, GGMLType[name]), name)
    assert float(np.sqrt(np.mean((x - y) ** 2))) < RMSE_BOUND[name]


@pytest.mark.parametrize("name", K_TYPES)
def test_zero_blocks_stay_zero(name):
    x = np.zeros((2, 256), dtype=np.float32)
    raw = quants.quantize(x, GGMLType[name])
    assert_same_floats(np.abs(ref_dequantize(raw, name)), x)


def test_q6_k_zero_block_is_all_zero_bytes():
    """quantize_row_q6_K_ref memsets a block whose sub-block scales are all below GROUP_MAX_EPS."""
    np.testing.assert_array_equal(quants.quantize(np.full((1, 256), 1e-20, np.float32), GGMLType.Q6_K), 0)


# ---- (d) Q8_K bsums, scale packing ---------------------------------------------------------------


def test_q8_k_bsums_are_exact_sums(rng):
    x = rng.standard_normal((40, 256)).astype(np.float32) * np.float32(3)
    x[5] = 0  # all-zero block: the C leaves bsums unwritten; we write zeros
    raw = quants.quantize(x, GGMLType.Q8_K)
    qs = raw[:, 4:260].view(np.int8).astype(np.int32)
    bsums = raw[:, 260:292].copy().view("<i2").astype(np.int32)
    np.testing.assert_array_equal(bsums, qs.reshape(-1, 16, 16).sum(axis=2))
    np.testing.assert_array_equal(raw[5], 0)


def test_q8_k_scale_is_float32_of_signed_max(rng):
    x = rng.standard_normal((8, 256)).astype(np.float32)
    raw = quants.quantize(x, GGMLType.Q8_K)
    vmax = x[np.arange(8), np.abs(x).argmax(axis=1)]
    np.testing.assert_array_equal(raw[:, :4].copy().view("<f4")[:, 0], np.float32(1) / (np.float32(-127) / vmax))


def test_scale_min_k4_packing_roundtrips():
    """Every 6-bit (sc, m) pair survives pack_scale_min_k4 -> get_scale_min_k4 in every slot."""
    v = np.arange(64, dtype=np.uint8)
    sc = np.stack([np.roll(v, j) for j in range(8)], axis=1)  # (64, 8)
    m = sc[::-1].copy()
    got_sc, got_m = k.get_scale_min_k4(k.pack_scale_min_k4(sc, m))
    np.testing.assert_array_equal(got_sc, sc)
    np.testing.assert_array_equal(got_m, m)
