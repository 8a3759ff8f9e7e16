"""TQ1_0 / TQ2_0 numpy reference == gguf-py 0.19.0 bit for bit; BitNet absmean ternarisation."""

from __future__ import annotations

import numpy as np
import pytest

from ggufpy import quants
from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import legacy
from ggufpy.quants.ternary import absmean_ternary

from .test_legacy import (  # noqa: F401  (peer is a fixture)
    assert_same_floats,
    check_against_peer,
    float_cases,
    peer,
    peer_dequantize,
    random_bytes,
    tie_blocks,
)

TERNARY = ["TQ1_0", "TQ2_0"]


@pytest.mark.peer
@pytest.mark.parametrize("name", TERNARY)
@pytest.mark.parametrize("case", list(float_cases(256, 8)))
def test_quantize_dequantize_matches_peer(peer, name, case):
    check_against_peer(peer, float_cases(256, 8)[case], name)


@pytest.mark.peer
@pytest.mark.parametrize("name", TERNARY)
def test_ties_match_peer(peer, name):
    check_against_peer(peer, tie_blocks(name), name)


@pytest.mark.peer
@pytest.mark.parametrize("name", TERNARY)
def test_random_bytes_dequantize_like_peer(peer, name):
    raw = random_bytes(name)  # also TQ2_0's unused code 3 and TQ1_0 bytes >= 243
    assert_same_floats(quants.dequantize(raw, GGMLType[name], reference=True), peer_dequantize(peer, raw, name))


@pytest.mark.peer
@pytest.mark.fixtures
@pytest.mark.parametrize("name", TERNARY)
def test_real_smollm2_rows_match_peer(peer, smollm2_path, name):
    from ggufpy import GGUFReader

    t = GGUFReader(smollm2_path).get_tensor("blk.0.attn_q.weight")  # Q4_1, 576 x 576
    x = peer_dequantize(peer, np.ascontiguousarray(t.data[:64]), t.type.name).reshape(-1, 256)
    check_against_peer(peer, x, name)


def test_tq1_0_hand_block():
    # amax = 1 -> d = 1 (f16 0x3C00). x[0] = 1 -> trit 2, every other trit 1 (x = 0).
    # qs[0]: v = 2*81 + 27 + 9 + 3 + 1 = 202 -> ceil(202 * 256 / 243) = 213; other qs: v = 121 -> 128;
    # qh: v = 81 + 27 + 9 + 3 = 120 (5th trit 0) -> 127.
    x = np.zeros((1, 256), dtype=np.float32)
    x[0, 0] = 1.0
    raw = quants.quantize(x, GGMLType.TQ1_0)[0]
    np.testing.assert_array_equal(raw, [213] + [128] * 47 + [127] * 4 + [0x00, 0x3C])
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.TQ1_0, reference=True), x[0])


def test_tq2_0_hand_block():
    # d = 1. Byte m of group 0 holds elements m, 32 + m, 64 + m, 96 + m at shifts 0, 2, 4, 6.
    # x[0] = 1 (t 2), x[33] = -1 (t 0), rest t 1: byte 0 = 2|1<<2|1<<4|1<<6 = 0x56, byte 1 = 0x51.
    x = np.zeros((1, 256), dtype=np.float32)
    x[0, 0], x[0, 33] = 1.0, -1.0
    raw = quants.quantize(x, GGMLType.TQ2_0)[0]
    np.testing.assert_array_equal(raw, [0x56, 0x51] + [0x55] * 62 + [0x00, 0x3C])
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.TQ2_0, reference=True), x[0])


def test_tq2_0_code_3_decodes_to_plus_2d():
    raw = np.zeros((1, 66), dtype=np.uint8)
    raw[0, :64] = 0xFF
    raw[0, 64:] = [0x00, 0x40]  # d = 2.0
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.TQ2_0, reference=True), np.full((1, 256), 4.0))


@pytest.mark.parametrize("name", TERNARY)
def test_front_door_keeps_row_shape(rng, name):
    qtype = GGMLType[name]
    x = rng.standard_normal((4, 3 * 256)).astype(np.float32)
    q = quants.quantize(x, qtype)
    assert q.shape == (4, 3 * QUANT_SIZES[qtype][1])
    y = quants.dequantize(q, qtype, reference=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert_same_floats(quants.dequantize(q, qtype), y)  # the default path (native kernel if built) agrees
    d = np.abs(x.reshape(-1, 256)).max(axis=1, keepdims=True)
    assert np.all(np.isin(y.reshape(-1, 256) / d.astype(np.float16).astype(np.float32), [-1.0, 0.0, 1.0]))


@pytest.mark.parametrize("name", TERNARY)
def test_chunking_is_invisible(rng, name):
    cls = quants.get(GGMLType[name])
    x = rng.standard_normal((legacy._CHUNK_ELEMS // 256 * 2 + 3, 256)).astype(np.float32)
    q = cls.quantize_blocks(x)
    np.testing.assert_array_equal(q[-3:], cls.quantize_blocks(x[-3:]))
    assert_same_floats(cls.dequantize_blocks(q)[-3:], cls.dequantize_blocks(q[-3:]))


# ---- absmean_ternary (BitNet b1.58, formats.md §5.1) ---------------------------------------------


def test_absmean_spelled_out():
    # mean|w| = (0.5 + 1.5 + 0 + 2) / 4 = 1 -> s = 1; round half to even: 0.5 -> 0, -1.5 -> -2 -> clip -1
    q, scale = absmean_ternary(np.array([[0.5, -1.5, 0.0, 2.0]], dtype=np.float32))
    assert scale == np.float32(1.0) and isinstance(scale, np.float32)
    assert q.dtype == np.int8 and q.shape == (1, 4)
    np.testing.assert_array_equal(q, [[0, -1, 0, 1]])


def test_absmean_half_to_even_ties():
    # sum|w| = 8 over 8 weights -> scale = 1 exactly. torch.round is half to even, so +-0.5 -> 0
    # (C roundf would give +-1), 1.5 -> 2 -> clip 1, 2.5 -> 2 -> clip 1.
    w = np.array([0.5, -0.5, 1.5, -1.5, 2.5, 1.0, 0.5, -0.0], dtype=np.float32)
    q, scale = absmean_ternary(w)
    assert scale == np.float32(1.0)
    np.testing.assert_array_equal(q, [0, 0, 1, -1, 1, 1, 0, 0])


def test_absmean_zero_tensor_uses_eps():
    q, scale = absmean_ternary(np.zeros((3, 5), dtype=np.float32))
    assert scale == np.float32(1e-5)
    assert not q.any()
    _, scale = absmean_ternary(np.full(4, 1e-7, dtype=np.float32), eps=1e-6)
    assert scale == np.float32(1e-6)


def test_absmean_matches_formula(rng):
    w = (rng.standard_normal((64, 96)) * 0.02).astype(np.float32)
    q, scale = absmean_ternary(w)
    assert scale == np.float32(np.abs(w.astype(np.float64)).mean())
    want = np.clip(np.rint(w * (np.float32(1) / scale)), -1, 1)
    np.testing.assert_array_equal(q, want)
    assert set(np.unique(q)) <= {-1, 0, 1}
    # roughly a third of N(0, s) weights land on 0 (|w| < mean|w| / 2)
    assert 0.2 < (q == 0).mean() < 0.45


# ---- TQ2_64 (ggufpy-private ternary for rows that are multiples of 64) ---------------------------


def test_tq2_64_matches_tq2_0_on_the_same_values(rng):
    """Same rule as TQ2_0 per 64-block: on a block whose four 64-slices share one amax, the decoded
    values equal TQ2_0's."""
    from ggufpy.quants import dequantize, quantize
    from ggufpy.format.constants import GGMLType

    x = rng.standard_normal((3, 256)).astype(np.float32)
    x[:, ::64] = 5.0  # every 64-slice has amax 5, so per-64 and per-256 scales agree
    a = dequantize(quantize(x, GGMLType.TQ2_0), GGMLType.TQ2_0, reference=True)
    b = dequantize(quantize(x, GGMLType.TQ2_64), GGMLType.TQ2_64, reference=True)
    np.testing.assert_array_equal(a, b)


def test_tq2_64_hand_block():
    from ggufpy.quants.ternary import TQ2_64

    x = np.zeros((1, 64), np.float32)
    x[0, 0], x[0, 17], x[0, 63] = 2.0, -2.0, 0.9  # 0.9/2 = 0.45 rounds to 0
    q = TQ2_64.quantize_blocks(x)[0]
    # element 16n + m sits in byte m at bits 2n; t = code: +1 -> 2, 0 -> 1, -1 -> 0
    assert q[0] == (2 | 1 << 2 | 1 << 4 | 1 << 6)
    assert q[1] == (1 | 0 << 2 | 1 << 4 | 1 << 6)
    assert q[15] == 0x55
    assert q[16:18].view(np.float16)[0] == 2.0
    y = TQ2_64.dequantize_blocks(q[None])[0]
    assert y[0] == 2.0 and y[17] == -2.0 and y[63] == 0.0 and np.count_nonzero(y) == 2
