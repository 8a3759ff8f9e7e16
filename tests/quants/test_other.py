"""IQ4_NL, IQ4_XS, MXFP4 and the grid i-quants: numpy reference == gguf-py 0.19.0 bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ggufpy import quants
from ggufpy.errors import UnsupportedTypeError
from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import legacy, other

from .test_legacy import (  # noqa: F401  (peer is a fixture)
    assert_same_floats,
    check_against_peer,
    float_cases,
    peer,
    peer_dequantize,
    random_bytes,
    tie_blocks,
)

DEQUANT_ONLY = ["IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]

# sha256 of each decoded grid's float32 bytes, pinned from the grids checked equal to gguf-py 0.19.0's
GRID_SHA256 = {
    "IQ2_XXS": "0050706e48cc73b811d15fa6494e352713b9af46fd5f1618c226a5262b196617",
    "IQ2_XS": "989f82d20f8b93e2fff6d7d8a4b13ddd1d77ab99f9b034e70670efdf9f477b95",
    "IQ2_S": "a3749175cb085e510fd32743e2dc79c59f91bfba295158afcd1b2e7a3cf663c6",
    "IQ3_XXS": "d9af899c2c1c57d5b3281b5231864c23d7e29cc8d4ebc5a99f43cd3834aa229b",
    "IQ3_S": "b703ee82ef0f3d9043b4cf176511d5a69361462fd63e575cca4ac40176c7b580",
    "IQ1_S": "4ca82266881c8a7729a16cea56a9bf6d3879d5360735b755907fe4167f69c424",
}


def mxfp4_cases() -> dict[str, np.ndarray]:
    cases = float_cases(32)
    cases["ties"] = tie_blocks("MXFP4")
    # amax < 2**-125: floor(log2(amax)) - 2 + 127 < 0 and the uint8 cast wraps (C: undefined)
    cases["subnormal"] = (np.random.default_rng(4).standard_normal((8, 32)) * 1e-40).astype(np.float32)
    return cases


# ---- against gguf-py -----------------------------------------------------------------------------


@pytest.mark.peer
@pytest.mark.parametrize("case", list(mxfp4_cases()))
def test_mxfp4_matches_peer(peer, case):
    check_against_peer(peer, mxfp4_cases()[case], "MXFP4")


@pytest.mark.peer
@pytest.mark.fixtures
def test_mxfp4_real_smollm2_rows_match_peer(peer, smollm2_path):
    from ggufpy import GGUFReader

    reader = GGUFReader(smollm2_path)
    for tensor_name in ("blk.0.attn_q.weight", "token_embd.weight"):
        t = reader.get_tensor(tensor_name)
        x = peer_dequantize(peer, np.ascontiguousarray(t.data[:64]), t.type.name)
        check_against_peer(peer, x, "MXFP4")


@pytest.mark.peer
@pytest.mark.parametrize("name", ["MXFP4"] + DEQUANT_ONLY)
def test_random_bytes_dequantize_like_peer(peer, name):
    raw = random_bytes(name)
    assert_same_floats(quants.dequantize(raw, GGMLType[name], reference=True), peer_dequantize(peer, raw, name))


@pytest.mark.peer
@pytest.mark.parametrize("name", DEQUANT_ONLY)
def test_every_scale_code_like_peer(peer, name):
    """Random bytes, but the f16 scales drawn from finite values (so no block is all inf/NaN)."""
    raw = random_bytes(name, seed=11)
    d = np.random.default_rng(12).uniform(-2.0, 2.0, raw.shape[0]).astype("<f2").view(np.uint8).reshape(-1, 2)
    if name == "IQ1_M":  # d lives in the top nibbles of the four scale words
        words = raw[:, 48:56].copy().view("<u2")
        bits = d.copy().view("<u2")[:, 0]
        for i in range(4):
            words[:, i] = (words[:, i] & 0x0FFF) | (((bits >> (4 * i)) & 0xF) << 12)
        raw[:, 48:56] = words.view(np.uint8)
    else:
        raw[:, 0:2] = d
    got = quants.dequantize(raw, GGMLType[name], reference=True)
    assert np.isfinite(got).all()
    assert_same_floats(got, peer_dequantize(peer, raw, name))


@pytest.mark.peer
@pytest.mark.parametrize("name", list(GRID_SHA256))
def test_grids_equal_peer(peer, name):
    cls = getattr(peer.quants, name)
    cls.init_grid()
    np.testing.assert_array_equal(other.iq_grid(name), cls.grid.reshape(cls.grid_shape))


@pytest.mark.peer
def test_ksigns_equal_peer(peer):
    assert other.KSIGNS_IQ2XS.tobytes() == peer.quants.IQ2_XXS.ksigns


# ---- without the peer ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GRID_SHA256))
def test_grid_sha256_pinned(name):
    grid = other.iq_grid(name)
    assert grid.dtype == np.float32 and not grid.flags.writeable
    assert hashlib.sha256(grid.tobytes()).hexdigest() == GRID_SHA256[name]


def test_grid_spelled_out_entries():
    # ggml-common.h: iq2xxs_grid[0] = 0x0808080808080808, [1] = 0x080808080808082b (byte 0 = element 0)
    def as_u64(row):
        return int.from_bytes(bytes(int(v) for v in row), "little")

    g = other.iq_grid("IQ2_XXS")
    assert as_u64(g[0]) == 0x0808080808080808 and as_u64(g[1]) == 0x080808080808082B
    # iq1s_grid is over {-1, 0, 1}; its first entry is all -1 and its last all +1
    np.testing.assert_array_equal(other.iq_grid("IQ1_S")[[0, -1]], [[-1] * 8, [1] * 8])
    # iq3s_grid[0] = 0x01010101 (levels are the odd numbers 1..15)
    np.testing.assert_array_equal(other.iq_grid("IQ3_S")[0], [1, 1, 1, 1])


def test_ksigns_even_parity():
    bits = np.unpackbits(other.KSIGNS_IQ2XS[:, None], axis=1)
    assert (bits.sum(axis=1) % 2 == 0).all()
    np.testing.assert_array_equal(other.KSIGNS_IQ2XS & 0x7F, np.arange(128))


def test_iq4_nl_hand_block():
    # d = 0.5 (f16 0x3800); byte j = q[j] | q[j+16] << 4 with q[j] = j, q[j+16] = 15 - j
    raw = np.zeros(18, dtype=np.uint8)
    raw[0:2] = [0x00, 0x38]
    raw[2:18] = np.arange(16) | ((15 - np.arange(16)) << 4)
    want = 0.5 * np.concatenate([other.KVALUES_IQ4NL, other.KVALUES_IQ4NL[::-1]]).astype(np.float32)
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.IQ4_NL, reference=True), want)


def test_iq4_xs_scale_bits():
    # d = 1; sub-block ib gets ls = ib + 30 via scales_l nibbles and scales_h pairs; all q = 8 (kv = 1)
    raw = np.zeros(136, dtype=np.uint8)
    raw[0:2] = [0x00, 0x3C]
    ls = np.arange(8) + 30
    raw[2:4] = np.frombuffer(int(sum((ls[i] >> 4) << (2 * i) for i in range(8))).to_bytes(2, "little"), np.uint8)
    raw[4:8] = (ls[0::2] & 0xF) | ((ls[1::2] & 0xF) << 4)
    raw[8:136] = 0x88
    want = np.repeat((ls - 32).astype(np.float32), 32)
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.IQ4_XS, reference=True), want)


def test_mxfp4_hand_block():
    # e = 128 -> d = 2**0 = 1 (the "half" value: 2**(e - 128)); x = kv[q]: q[j] = j, q[j + 16] = j
    raw = np.zeros(17, dtype=np.uint8)
    raw[0] = 128
    raw[1:17] = np.arange(16) | (np.arange(16) << 4)
    want = np.tile(other.KVALUES_MXFP4.astype(np.float32), 2)
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.MXFP4, reference=True), want)
    # e = 0 and 1 are the denormal scales 2**-128 and 2**-127
    d = other.MXFP4.e8m0_to_fp32_half(np.array([0, 1, 2, 254], dtype=np.uint8))
    np.testing.assert_array_equal(d, np.array([2.0**-128, 2.0**-127, 2.0**-126, 2.0**126], dtype=np.float32))


def test_mxfp4_quantize_ties_take_first_code():
    # amax = 7 -> e = floor(log2 7) - 2 + 127 = 127, d = 0.5. Midpoints go to the lower code index:
    # x = 0.25 (0 | 1 -> 0), 1.25 (2 | 3 -> 2), 2.5 (4 | 6 -> 4), -2.5 (-4 | -6 -> 12), -0.25 (-1 | 0 -> 0)
    x = np.zeros((1, 32), dtype=np.float32)
    x[0, :6] = [7.0, 0.25, 1.25, 2.5, -2.5, -0.25]
    raw = quants.quantize(x, GGMLType.MXFP4)[0]
    assert raw[0] == 127
    codes = np.concatenate([raw[1:17] & 0xF, raw[1:17] >> 4])
    np.testing.assert_array_equal(codes[:6], [7, 0, 2, 4, 12, 0])


def test_mxfp4_front_door_and_chunking(rng):
    x = rng.standard_normal((legacy._CHUNK_ELEMS // 32 * 2 + 5, 64)).astype(np.float32)
    q = quants.quantize(x, GGMLType.MXFP4)
    assert q.shape == (x.shape[0], 2 * 17)
    np.testing.assert_array_equal(q[-5:], quants.quantize(x[-5:], GGMLType.MXFP4))
    y = quants.dequantize(q, GGMLType.MXFP4, reference=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert_same_floats(quants.dequantize(q, GGMLType.MXFP4), y)  # default path (native if built) agrees
    assert_same_floats(y[-5:], quants.dequantize(q[-5:], GGMLType.MXFP4, reference=True))


@pytest.mark.parametrize("name", DEQUANT_ONLY)
def test_dequantize_only_shapes(name):
    qtype = GGMLType[name]
    block_size, type_size = QUANT_SIZES[qtype]
    raw = random_bytes(name, n_blocks=6).reshape(2, 3 * type_size)
    y = quants.dequantize(raw, qtype, reference=True)
    assert y.shape == (2, 3 * block_size) and y.dtype == np.float32
    assert_same_floats(quants.dequantize(raw, qtype), y)  # the default path (native kernel if built) agrees
    cls = quants.get(qtype)
    assert not cls.can_quantize()
    with pytest.raises(UnsupportedTypeError):
        quants.quantize(np.zeros((1, block_size), dtype=np.float32), qtype)
