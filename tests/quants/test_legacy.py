"""Legacy 32-blocks (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0, Q8_1): numpy reference == gguf-py 0.19.0, bit for bit.

Also home of the float test cases shared by test_ternary.py and test_other.py (``float_cases``).
"""

from __future__ import annotations

import numpy as np
import pytest

from ggufpy import quants
from ggufpy.format.constants import QUANT_SIZES, GGMLType
from ggufpy.quants import legacy

LEGACY = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]  # the ones gguf-py has (it has no Q8_1)


# ---- shared helpers ------------------------------------------------------------------------------


@pytest.fixture
def peer():
    """llama.cpp's gguf package (tests using it are marked ``peer``)."""
    return pytest.importorskip("gguf")


def peer_quantize(gguf, x: np.ndarray, name: str) -> np.ndarray:
    # gguf-py's f16 cast warns on overflow (huge blocks); ours must not, so only the peer is silenced.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return gguf.quants.quantize(x, gguf.GGMLQuantizationType[name])


def peer_dequantize(gguf, raw: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[name])


def assert_same_floats(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-pattern equality: NaN == NaN with the same payload, -0.0 != +0.0."""
    assert got.dtype == np.float32 and want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def float_cases(block_size: int, n_blocks: int = 64, seed: int = 1234) -> dict[str, np.ndarray]:
    """Named (n_blocks, block_size) float32 inputs covering the rounding and scale corner cases."""
    rng = np.random.default_rng(seed)
    shape = (n_blocks, block_size)
    normal = rng.standard_normal(shape).astype(np.float32)
    outliers = (0.02 * normal).astype(np.float32)
    outliers[np.arange(n_blocks), rng.integers(0, block_size, n_blocks)] = rng.choice([-50.0, 50.0], n_blocks)
    equal_abs_max = normal.copy()  # +a and -a both the largest |x|: the first one sets the sign of d
    equal_abs_max[:, 3], equal_abs_max[:, 7] = 4.0, -4.0
    equal_abs_max[::2, 3], equal_abs_max[::2, 7] = -4.0, 4.0
    constant = np.repeat(rng.choice([1.0, -3.5, 0.1, 1e-3, 65504.0, -7.0], n_blocks), block_size).reshape(shape)
    signed_zeros = np.where(rng.random(shape) < 0.5, -0.0, 0.0).astype(np.float32)
    signed_zeros[1::2, 5] = 1.0  # half the blocks have one non-zero element
    cases = {
        "normal": normal,
        "uniform": rng.uniform(-1.0, 1.0, shape),
        "student_t": rng.standard_t(2.0, shape),  # heavy tails
        "outliers": outliers,
        "equal_abs_max": equal_abs_max,
        "zero": np.zeros(shape),
        "signed_zeros": signed_zeros,
        "constant": constant,
        "tiny": 1e-30 * normal,  # f16(d) underflows to 0
        "huge": 1e30 * normal,  # f16(d) overflows to inf, dequantizes to inf / NaN
        "wide_range": normal * np.exp2(rng.integers(-20, 20, (n_blocks, 1))),
        "half_integers": rng.integers(-40, 40, shape) + 0.5,
    }
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in cases.items()}


def tie_blocks(name: str, n_blocks: int = 32, seed: int = 7) -> np.ndarray:
    """Blocks whose scaled values x * id land exactly on .5 (power-of-two scales keep them exact)."""
    rng = np.random.default_rng(seed)
    pow2 = np.exp2(rng.integers(-8, 8, (n_blocks, 1))).astype(np.float32)
    if name in ("Q8_0", "Q8_1"):  # amax = 127 -> d = 1: x = k + 0.5 are roundf ties
        x = rng.integers(-127, 127, (n_blocks, 32)) + 0.5
        x[:, 0] = rng.choice([-127.0, 127.0], n_blocks)
    elif name in ("Q4_0", "Q5_0"):  # xmax = -8 (-16) -> d = 1: x*id + 8.5 (16.5) lands on integers
        half = 8 if name == "Q4_0" else 16
        x = rng.integers(-half, half, (n_blocks, 32)) + 0.5
        x[:, 0] = -half
    elif name in ("Q4_1", "Q5_1"):  # min = 0, max = 15 (31) -> d = 1: (x - min) + 0.5 lands on integers
        top = 15 if name == "Q4_1" else 31
        x = rng.integers(0, top, (n_blocks, 32)) + 0.5
        x[:, 0], x[:, 1] = 0.0, top
    elif name in ("TQ1_0", "TQ2_0"):  # amax = 1: x = +-0.5 are lroundf ties
        x = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], (n_blocks, 256))
        x[:, 0] = 1.0
    elif name == "MXFP4":  # amax in [4, 8) -> e = 127, d = 0.5 * 2**0 ... midpoints between code values
        mid = np.array([0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0, 0.0])
        x = rng.choice(np.concatenate([mid, -mid]), (n_blocks, 32)) * 0.5
        x[:, 0] = 7.0
    else:
        raise KeyError(name)
    return np.ascontiguousarray(x * pow2, dtype=np.float32)


def random_bytes(name: str, n_blocks: int = 256, seed: int = 99) -> np.ndarray:
    """(n_blocks, type_size) uint8 of uniformly random bytes (f16 scales include inf and NaN)."""
    type_size = QUANT_SIZES[GGMLType[name]][1]
    return np.random.default_rng(seed).integers(0, 256, (n_blocks, type_size), dtype=np.uint8)


def check_against_peer(gguf, x: np.ndarray, name: str, *, zero_min_sign: bool = True) -> None:
    """quantize(x) and dequantize of it equal gguf-py's, and keep the row shape.

    ``zero_min_sign=False``: ignore the sign bit of Q4_1/Q5_1's ``m`` (byte 3 of each block) where m is
    zero. gguf-py's ``x.min()`` picks +0 or -0 in numpy's SIMD reduction order (CPU-dependent); ggml's C,
    our reference and our kernels take the first zero of the block.
    """
    ours = quants.quantize(x, GGMLType[name])
    peer = peer_quantize(gguf, x, name)
    if not zero_min_sign and name in ("Q4_1", "Q5_1"):
        ours, peer = ours.reshape(-1, QUANT_SIZES[GGMLType[name]][1]).copy(), peer.reshape(ours.shape[0], -1).copy()
        peer = peer.reshape(ours.shape)
        for b in (ours, peer):
            zero_m = (b[:, 2] == 0) & ((b[:, 3] & 0x7F) == 0)
            b[zero_m, 3] &= 0x7F
    np.testing.assert_array_equal(ours, peer)
    assert_same_floats(quants.dequantize(ours, GGMLType[name], reference=True), peer_dequantize(gguf, ours, name))


# ---- against gguf-py -----------------------------------------------------------------------------


@pytest.mark.peer
@pytest.mark.parametrize("name", LEGACY)
@pytest.mark.parametrize("case", list(float_cases(32)))
def test_quantize_dequantize_matches_peer(peer, name, case):
    check_against_peer(peer, float_cases(32)[case], name, zero_min_sign=case != "signed_zeros")


@pytest.mark.peer
@pytest.mark.parametrize("name", LEGACY)
def test_ties_match_peer(peer, name):
    x = tie_blocks(name)
    check_against_peer(peer, x, name)


@pytest.mark.peer
@pytest.mark.parametrize("name", LEGACY)
def test_random_bytes_dequantize_like_peer(peer, name):
    raw = random_bytes(name)
    assert_same_floats(quants.dequantize(raw, GGMLType[name], reference=True), peer_dequantize(peer, raw, name))


@pytest.mark.peer
@pytest.mark.fixtures
@pytest.mark.parametrize("name", LEGACY)
def test_real_smollm2_rows_match_peer(peer, smollm2_path, name):
    """Rows of SmolLM2's Q4_1 attn_q and Q8_0 token_embd, dequantized by gguf-py, requantized."""
    from ggufpy import GGUFReader

    reader = GGUFReader(smollm2_path)
    for tensor_name, rows in (("blk.0.attn_q.weight", slice(0, 96)), ("token_embd.weight", slice(1000, 1064))):
        t = reader.get_tensor(tensor_name)
        raw = np.ascontiguousarray(t.data[rows])
        x = peer_dequantize(peer, raw, t.type.name)
        assert_same_floats(quants.dequantize(raw, t.type, reference=True), x)
        check_against_peer(peer, x, name)


@pytest.mark.fixtures
def test_real_q8_0_requantizes_to_same_bytes(smollm2_path):
    """Q8_0 is idempotent on its own output: amax = 127*d, so d and every q come back unchanged."""
    from ggufpy import GGUFReader

    t = GGUFReader(smollm2_path).get_tensor("token_embd.weight")
    raw = np.ascontiguousarray(t.data[:256])
    np.testing.assert_array_equal(quants.quantize(quants.dequantize(raw, t.type, reference=True), GGMLType.Q8_0), raw)


# ---- the FMA trap (Q4_0, Q5_0) -------------------------------------------------------------------


def _fused(x: np.ndarray, name: str) -> np.ndarray:
    """Codes of a C build that contracts x*id + 8.5f into an FMA (older gguf-py's float64 emulation)."""
    half = 8 if name == "Q4_0" else 16
    xmax = legacy._signed_absmax(x)
    idd = legacy._inverse(xmax / np.float32(-half))
    return np.trunc(x.astype(np.float64) * idd.astype(np.float64) + (half + 0.5), dtype=np.float32).astype(np.uint8)


def _unfused(x: np.ndarray, name: str) -> np.ndarray:
    half = 8 if name == "Q4_0" else 16
    idd = legacy._inverse(legacy._signed_absmax(x) / np.float32(-half))
    return np.trunc(x * idd + np.float32(half + 0.5)).astype(np.uint8)


def near_tie_blocks(name: str, n_blocks: int = 64, seed: int = 5) -> np.ndarray:
    """Blocks holding elements whose exact x*id is within a few ulps below a half-integer, found by
    search: there float32 rounding of x*id (unfused) and a single rounding (fused) truncate differently."""
    rng = np.random.default_rng(seed)
    half = 8 if name == "Q4_0" else 16
    found = []
    while len(found) < n_blocks:
        x = rng.standard_normal((256, 32)).astype(np.float32)
        idd = legacy._inverse(legacy._signed_absmax(x) / np.float32(-half))
        # put element 1..31 next to a random half-integer target (below the extreme, so xmax is kept)
        target = (rng.integers(-half + 1, half, (256, 31)) + 0.5) / idd
        cand = target.astype(np.float32)
        for step in range(-2, 3):
            y = x.copy()
            y[:, 1:] = cand
            for _ in range(abs(step)):
                y[:, 1:] = np.nextafter(y[:, 1:], np.float32(np.copysign(np.inf, step)))
            differ = (_fused(y, name) != _unfused(y, name)).any(axis=1)
            found.extend(y[differ])
    return np.stack(found[:n_blocks])


def _codes(raw: np.ndarray, name: str) -> np.ndarray:
    """The 4/5-bit codes stored in Q4_0 / Q5_0 blocks."""
    if name == "Q4_0":
        return legacy._unpack_nibbles(raw[:, 2:18])
    return legacy._unpack_nibbles(raw[:, 6:22]) | legacy._unpack_qh(raw[:, 2:6])


@pytest.mark.parametrize("name", ["Q4_0", "Q5_0"])
def test_fma_near_ties_follow_unfused_c(name):
    """Ours stores C-without-FMA's codes (= gguf-py 0.19.0) where a fused multiply-add would differ."""
    x = near_tie_blocks(name)
    top = 15 if name == "Q4_0" else 31
    unfused = np.minimum(_unfused(x, name), top)
    assert (unfused != np.minimum(_fused(x, name), top)).any(axis=1).all()  # every block is a witness
    np.testing.assert_array_equal(_codes(quants.quantize(x, GGMLType[name]), name), unfused)


@pytest.mark.peer
@pytest.mark.parametrize("name", ["Q4_0", "Q5_0"])
def test_fma_near_ties_match_peer(peer, name):
    check_against_peer(peer, near_tie_blocks(name), name)


@pytest.mark.parametrize("name", ["Q4_0", "Q5_0"])
def test_fma_rarely_matters_on_normal_data(name):
    """Measured: on 1M normal weights fused and unfused rounding give the same codes (0 differences);
    only constructed near-ties (``near_tie_blocks``) tell them apart."""
    x = np.random.default_rng(3).standard_normal((32768, 32)).astype(np.float32)
    top = 15 if name == "Q4_0" else 31
    n_diff = int((np.minimum(_fused(x, name), top) != np.minimum(_unfused(x, name), top)).sum())
    assert n_diff == 0, n_diff


# ---- Q8_1 (no peer): the formats.md rule and Q8_0's quants ----------------------------------------


def test_q8_1_hand_block():
    # amax = 127 -> d = 1.0 (f16 0x3C00); q = [127, 1 x 31] -> s = fp16(158.0) = 0x58F0
    x = np.ones((1, 32), dtype=np.float32)
    x[0, 0] = 127.0
    want = np.array([0x00, 0x3C, 0xF0, 0x58, 127] + [1] * 31, dtype=np.uint8)
    np.testing.assert_array_equal(quants.quantize(x, GGMLType.Q8_1)[0], want)
    # negative block: amax = 127 from -127 -> d = 1; q = [-127, -1 x 31], s = -158 -> 0xD8F0
    want_neg = np.array([0x00, 0x3C, 0xF0, 0xD8, 0x81] + [0xFF] * 31, dtype=np.uint8)
    np.testing.assert_array_equal(quants.quantize(-x, GGMLType.Q8_1)[0], want_neg)


@pytest.mark.parametrize("case", list(float_cases(32)) + ["ties"])
def test_q8_1_is_q8_0_plus_sum(case):
    x = tie_blocks("Q8_1") if case == "ties" else float_cases(32)[case]
    q81 = quants.quantize(x, GGMLType.Q8_1)
    q80 = quants.quantize(x, GGMLType.Q8_0)
    np.testing.assert_array_equal(q81[:, 0:2], q80[:, 0:2])  # same d
    np.testing.assert_array_equal(q81[:, 4:36], q80[:, 2:34])  # same qs
    # s = fp16(d_f32 * sum(qs)), d_f32 = amax / 127 unrounded
    d32 = np.abs(x).max(axis=1) / np.float32(127)
    total = q81[:, 4:36].view(np.int8).sum(axis=1).astype(np.float32)
    with np.errstate(over="ignore"):
        s = (total * d32).astype("<f2")
    np.testing.assert_array_equal(q81[:, 2:4].copy().view("<f2")[:, 0].view(np.uint16), s.view(np.uint16))
    assert_same_floats(quants.dequantize(q81, GGMLType.Q8_1, reference=True), quants.dequantize(q80, GGMLType.Q8_0, reference=True))


# ---- front door and layout -----------------------------------------------------------------------


@pytest.mark.parametrize("name", LEGACY + ["Q8_1"])
def test_front_door_keeps_row_shape(rng, name):
    qtype = GGMLType[name]
    block_size, type_size = QUANT_SIZES[qtype]
    x = rng.standard_normal((3, 5, 4 * block_size)).astype(np.float32)
    q = quants.quantize(x, qtype)
    assert q.shape == (3, 5, 4 * type_size) and q.dtype == np.uint8
    y = quants.dequantize(q, qtype, reference=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert_same_floats(y.reshape(-1, block_size), quants.get(qtype).dequantize_blocks(q.reshape(-1, type_size)))
    assert_same_floats(quants.dequantize(q, qtype), y)  # the default path (native kernel if built) agrees
    assert np.abs(y - x).max() <= np.abs(x).max() / 4  # coarse: it is a quantization of x


@pytest.mark.parametrize("name", LEGACY + ["Q8_1"])
def test_chunking_is_invisible(rng, name):
    """Inputs larger than one internal chunk give the same bytes as block-by-block slices."""
    cls = quants.get(GGMLType[name])
    x = rng.standard_normal((legacy._CHUNK_ELEMS // 32 * 2 + 7, 32)).astype(np.float32)
    q = cls.quantize_blocks(x)
    np.testing.assert_array_equal(q[-7:], cls.quantize_blocks(x[-7:]))
    assert_same_floats(cls.dequantize_blocks(q)[-7:], cls.dequantize_blocks(q[-7:]))


def test_q4_0_hand_block():
    # xmax = -8 -> d = 1 (0x3C00); q = trunc(x + 8.5) -> x = -8 -> 0, 7 -> 15, -0.5 -> 8 (tie truncates up)
    x = np.array([[-8.0, 7.0, -0.5] + [0.0] * 29], dtype=np.float32)
    raw = quants.quantize(x, GGMLType.Q4_0)[0]
    assert raw[:2].tolist() == [0x00, 0x3C]
    assert raw[2] == 0x80 | 0x00 and raw[3] == 0x8F and raw[4] == 0x88  # low = q[j], high = q[j+16] = 8
    np.testing.assert_array_equal(quants.dequantize(raw, GGMLType.Q4_0, reference=True), [-8.0, 7.0, 0.0] + [0.0] * 29)


def test_q5_0_qh_bit_order():
    # d = 1; q = x + 16: element 0 -> 31 (qh bit 0 set), element 31 -> 0 (bit 31 clear)
    x = np.zeros((1, 32), dtype=np.float32)
    x[0, 0], x[0, 31], x[0, 20] = 15.0, -16.0, -1.0
    raw = quants.quantize(x, GGMLType.Q5_0)[0]
    qh = int.from_bytes(raw[2:6].tobytes(), "little")
    assert qh & 1 and not qh >> 31 & 1 and not qh >> 20 & 1  # q[20] = 15 has no bit 4
    assert bin(qh).count("1") == 30  # the 16s (x = 0) and 31 set bit 4; q[20] = 15 and q[31] = 0 do not


@pytest.mark.parametrize("name", ["Q4_1", "Q5_1"])
@pytest.mark.parametrize("reference", [True, False])
def test_zero_minimum_keeps_the_first_zeros_sign(name, reference):
    """ggml's ``if (v < min) min = v`` keeps the first of +0/-0; numpy's min() would not say which."""
    x = np.zeros((2, 32), np.float32)
    x[0, 0], x[1, 1] = -0.0, -0.0  # block 0: -0 first; block 1: +0 first, -0 second
    x[:, 5] = 1.0
    q = quants.quantize(x, GGMLType[name], reference=reference)
    assert q[0, 2:4].tobytes() == b"\x00\x80" and q[1, 2:4].tobytes() == b"\x00\x00"
