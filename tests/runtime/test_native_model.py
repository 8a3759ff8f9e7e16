"""The native llama forward pass (native/src/model/llama.cpp) and its kernels.

Oracles:
* kernels: exact float64 dot products of the dequantized rows, for every ISA table this CPU can run;
  the activation converters bit for bit against the numpy reference's emulation of ggml's;
* the model: ``ggufpy.runtime.reference.ReferenceModel`` (numpy, ggml's numerics emulated), on the tiny
  random llama (every weight type we have a kernel for, every ISA) and on SmolLM2-135M Q4_1.

Why the model bounds are what they are: native and reference agree to float32 rounding inside each op
(a one-layer SmolLM2 agrees to ~1e-5 of the logit range except where a rounding flips), but both
quantize activations to 8 bits and store K/V as F16, so a last-bit difference in a sum can flip one
Q8/F16 rounding, and deep models amplify the flips. Measured: the reference against itself with
float64 instead of float32 matmuls differs on full SmolLM2 by ~2.5% of the logit range; native against
the reference by the same ~2-2.5%; on the tiny quantized models by up to 1.4% of the largest logit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ggufpy
from ggufpy.errors import GGUFError, GGUFFormatError, UnsupportedTypeError
from ggufpy.format.constants import GGMLType
from ggufpy.format.writer import GGUFWriter
from ggufpy.quantize import quantize_file
from ggufpy.quants import dequantize, quantize
from ggufpy.quants.nf4 import NF4_CODE, NF4_CODE_I16, dequantize_code_i16
from ggufpy.runtime import ops
from ggufpy.runtime.model import Model
from ggufpy.runtime.reference import VEC_DOT_TYPE, ReferenceModel, quantize_activations
from tests.tiny_model import write_tiny_llama

ISAS = ops.available_isas()
REPO = Path(__file__).resolve().parents[2]

# ---- kernels --------------------------------------------------------------------------------------------

LEGACY = [GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.IQ4_NL, GGMLType.MXFP4]
BLOCK64 = [GGMLType.NF4, GGMLType.TQ2_64]  # ggufpy-private 64-element blocks x Q8_0
KQUANT = [GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.TQ1_0, GGMLType.TQ2_0,
          GGMLType.IQ4_XS]
FLOATS = [GGMLType.F32, GGMLType.F16, GGMLType.BF16]
# awkward lengths: 1, 3, 18 (SmolLM2's 576), 33 and 48 (1536) blocks of 32; 1, 3, 11 super-blocks of 256;
# 1, 3, 9, 17, 24 blocks of 64; floats also at lengths that leave SIMD tails
LEGACY_N = [32, 96, 576, 1056, 1536]
KQUANT_N = [256, 768, 2816]
BLOCK64_N = [64, 192, 576, 1088, 1536]
FLOAT_N = LEGACY_N + [7, 45]
DOT_REL = 1e-6  # |vec_dot - exact| <= DOT_REL * sum_i |w_i a_i| (measured worst: 9e-8, BF16 and TQ1_0)
# NF4 runs on the Q1.14 code book (native blocks.h nf4_code_i16): each code is off by <= 2**-15, so the dot may
# differ from the true-codebook one by a further 2**-15 * sum_i |d_w(i)| |a_i| (d_w(i): the block scale of w_i).
NF4_CODE_REL = 2.0**-15
# Types ggufpy cannot quantize: random codes and scales with a sane f16 scale d at byte 0.
RANDOM_BLOCKS = {GGMLType.IQ4_NL: (32, 18), GGMLType.IQ4_XS: (256, 136)}


def _weights(rng, wtype: GGMLType, rows: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw row bytes, float64 dequantized (rows, n)) of random weights of wtype."""
    w = rng.standard_normal((rows, n)).astype(np.float32)
    if wtype == GGMLType.F32:
        raw = w.view(np.uint8).reshape(-1)
    elif wtype == GGMLType.F16:
        raw = w.astype(np.float16).view(np.uint8).reshape(-1)
    elif wtype in RANDOM_BLOCKS:  # dequantize-only in ggufpy
        block_size, type_size = RANDOM_BLOCKS[wtype]
        blocks = rng.integers(0, 256, (rows * n // block_size, type_size), dtype=np.uint8)
        blocks[:, 0:2] = np.full((len(blocks), 1), 0.01, np.float16).view(np.uint8)
        raw = blocks.reshape(-1)
    else:
        raw = quantize(w.reshape(-1), wtype).reshape(-1)
    if wtype == GGMLType.F32:
        return raw, w.astype(np.float64)
    return raw, dequantize(raw, wtype).astype(np.float64).reshape(rows, n)


def _exact_dot(wtype: GGMLType, raw: np.ndarray, wdeq: np.ndarray, act: np.ndarray, vdt: int, n: int):
    """float64 dots of each weight row with the activation row as the kernel sees it, and the allowed
    error per row: DOT_REL * Σ|w a| (plus the NF4 code-book term)."""
    if vdt == GGMLType.F32:
        a = act.view(np.float32).astype(np.float64)
    elif vdt == GGMLType.F16:
        a = act.view(np.float16).astype(np.float64)
    elif vdt == GGMLType.Q8_1:  # d * q, plus the min term m_w * s (ggml uses Q8_1's stored s)
        b = act.reshape(-1, 36)
        d = b[:, 0:2].copy().view(np.float16).astype(np.float64)
        s = b[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
        a = (d * b[:, 4:].view(np.int8)).reshape(-1)
        block_bytes = 20 if wtype == GGMLType.Q4_1 else 24
        wb = raw.reshape(wdeq.shape[0], -1, block_bytes).copy()
        m = wb[:, :, 2:4].copy().view(np.float16).astype(np.float64)[:, :, 0]
        wb[:, :, 2:4] = 0  # d * q alone
        wq = dequantize(wb.reshape(-1), wtype).astype(np.float64).reshape(wdeq.shape)
        return wq @ a + m @ s, DOT_REL * (np.abs(wq) @ np.abs(a) + np.abs(m) @ np.abs(s))
    else:
        a = dequantize(act, GGMLType(vdt)).astype(np.float64)
    tol = DOT_REL * (np.abs(wdeq) @ np.abs(a))
    if wtype == GGMLType.NF4:  # the code-book rounding term (see NF4_CODE_REL)
        d = raw.reshape(wdeq.shape[0], -1, 36)[:, :, :4].copy().view("<f4")[:, :, 0].astype(np.float64)
        tol += NF4_CODE_REL * (np.repeat(np.abs(d), 64, axis=1) @ np.abs(a))
    return wdeq @ a, tol


def _cases():
    for ts, ns in ((FLOATS, FLOAT_N), (LEGACY, LEGACY_N), (KQUANT, KQUANT_N), (BLOCK64, BLOCK64_N)):
        for t in ts:
            for n in ns:
                yield t, n


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("wtype,n", list(_cases()), ids=lambda v: getattr(v, "name", str(v)))
def test_vec_dot_vs_float64(isa, wtype, n, rng):
    k = ops.kernels(isa)
    vdt = k.vec_dot_type(int(wtype))
    assert vdt is not None, f"{isa}: no vec_dot for {wtype.name}"
    raw, wdeq = _weights(rng, wtype, 5, n)
    x = rng.standard_normal(n).astype(np.float32)
    act = k.from_float(vdt, x)
    got = k.vec_dot(int(wtype), raw, act, n)
    exact, tol = _exact_dot(wtype, raw, wdeq, act, vdt, n)
    assert np.all(np.abs(got - exact) <= tol), (got - exact) / tol


def _tile_shapes(wtype: GGMLType) -> list[tuple[int, int, int]]:
    """(weight rows, activation rows, n): edges of every tile shape, n a whole number of blocks."""
    if wtype in KQUANT:
        return [(1, 1, 256), (3, 5, 768), (7, 9, 2816)]
    if wtype in BLOCK64:
        return [(1, 1, 64), (3, 5, 192), (7, 9, 576), (16, 32, 1088)]
    return [(1, 1, 32), (3, 5, 96), (7, 9, 576), (16, 32, 1056)]


def _isa_types(has) -> list[tuple[str, GGMLType]]:
    """(isa, type) pairs whose kernel table has the feature ``has(kernels, type)``; types without one run
    through vec_dot (test_kernel_tables checks every table is complete)."""
    return [(isa, t) for isa in ISAS for t in LEGACY + BLOCK64 + KQUANT + FLOATS if has(ops.kernels(isa), int(t))]


@pytest.mark.parametrize("isa,wtype", _isa_types(lambda k, t: k.has_mat_dot(t)),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_mat_dot_tiles_vs_float64(isa, wtype, rng):
    k = ops.kernels(isa)
    _check_matmul(k, k.mat_dot, wtype, _tile_shapes(wtype), rng)


def _check_matmul(k, matmul, wtype: GGMLType, shapes, rng) -> None:
    """matmul(type, weights, activations, n) -> (activation rows, weight rows) for every (nr, nc, n) of
    shapes: within the float64 dot's bound, and bitwise vec_dot per activation row."""
    vdt = k.vec_dot_type(int(wtype))
    for nr, nc, n in shapes:
        raw, wdeq = _weights(rng, wtype, nr, n)
        x = rng.standard_normal((nc, n)).astype(np.float32)
        act = k.from_float(vdt, x.reshape(-1))
        got = matmul(int(wtype), raw, act, n)
        assert got.shape == (nc, nr)
        for c, a in enumerate(act.reshape(nc, -1)):
            a = np.ascontiguousarray(a)
            exact, tol = _exact_dot(wtype, raw, wdeq, a, vdt, n)
            assert np.all(np.abs(got[c] - exact) <= tol), (nr, nc, n, c)
            # same floats as vec_dot: a token gets the same logits alone (decode) or in a batch
            np.testing.assert_array_equal(got[c], k.vec_dot(int(wtype), raw, a, n))


@pytest.mark.parametrize("isa,wtype", _isa_types(lambda k, t: k.has_packed(t)),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_packed_mat_dot_vs_float64(isa, wtype, rng):
    """The load-time packed form (kernels.h repack_kernels): within DOT_REL of float64 and bitwise vec_dot,
    for one activation row (the decode kernel) and for tiles, with padded row groups."""
    k = ops.kernels(isa)
    # n: whole 64-element blocks too; 200 rows: the decode kernel's two-panel steps with ragged edges
    extra = [(70, 1, 576), (64, 1, 64 * 5), (200, 1, 128), (33, 13, 128), (97, 50, 192)]
    if wtype in KQUANT:  # 256-element super-blocks
        extra = [(70, 1, 512), (33, 13, 768), (97, 50, 256), (12, 9, 256)]  # 12: a 16-row tile, second panel part-padded
    elif wtype in FLOATS:  # SIMD tails
        extra += [(9, 1, 45), (5, 7, 45)]
    _check_matmul(k, k.packed_mat_dot, wtype, _tile_shapes(wtype) + extra, rng)


ATTEND_REL = 2e-5
ATTEND_ISAS = [isa for isa in ISAS if ops.kernels(isa).has_attend_tile]


def _attention_f64(q, n_keys, k, v, scale):
    """Exact causal softmax attention (float64) and the rows' sum_j p_j |v_j| for the error bound."""
    q64, k64, v64 = q.astype(np.float64), k.astype(np.float64), v.astype(np.float64)
    out, mag = [], []
    for i, nk in enumerate(n_keys):
        s = scale * (k64[:nk] @ q64[i])
        p = np.exp(s - s.max())
        p /= p.sum()
        out.append(p @ v64[:nk])
        mag.append(p @ np.abs(v64[:nk]))
    return np.array(out), np.array(mag)


@pytest.mark.skipif(not ATTEND_ISAS, reason="no table with an attend_tile kernel on this CPU")
@pytest.mark.parametrize("isa", ATTEND_ISAS)
@pytest.mark.parametrize("hd", [64, 40, 72, 128])
def test_attend_tile_vs_float64_and_rows_independent(isa, hd, rng):
    """The prompt attention tile against exact attention, and each row's floats independent of its tile:
    alone, in another order, next to rows that see more key blocks."""
    k = ops.kernels(isa)
    n = 150  # several 32-key blocks and a partial one
    q = (2.0 * rng.standard_normal((32, hd))).astype(np.float32)
    kk = rng.standard_normal((n, hd)).astype(np.float16)
    vv = rng.standard_normal((n, hd)).astype(np.float16)
    n_keys = rng.integers(1, n + 1, 32).astype(np.int32)
    n_keys[:3] = [1, 32, n]
    scale = 1.0 / np.sqrt(hd)
    got = k.attend_tile(q, n_keys, kk, vv, scale)
    exact, mag = _attention_f64(q, n_keys, kk, vv, scale)
    # relative to sum_j p_j |v_j| (the size of the row's terms): measured <= 1.3e-6 (float32 scores, a ~1 ulp
    # exp, online rescaling); 2e-5 leaves room for other hd and key counts, and catches any wrong weight
    tol = ATTEND_REL * mag
    assert np.all(np.abs(got - exact) <= tol), np.abs(got - exact).max()
    for rows in ([5], [7, 0, 31, 2], list(range(31, -1, -1)), [1, 2]):
        np.testing.assert_array_equal(k.attend_tile(q[rows], n_keys[rows], kk, vv, scale), got[rows])


def test_nf4_code_i16_bound():
    """The NF4 kernels' Q1.14 code book: round(NF4_CODE * 2**14), every entry within NF4_CODE_REL = 2**-15 of
    NF4_CODE, and no entry near a tie (so C's rounding in native blocks.h gives the same table)."""
    scaled = NF4_CODE.astype(np.float64) * 2**14
    assert np.array_equal(NF4_CODE_I16, np.round(scaled))
    assert np.abs(NF4_CODE_I16 * 2.0**-14 - NF4_CODE).max() <= NF4_CODE_REL
    assert np.abs(np.abs(scaled - np.floor(scaled)) - 0.5).min() > 0.05


@pytest.mark.parametrize("isa", ISAS)
def test_nf4_vec_dot_vs_code_i16(isa, rng):
    """Against weights decoded with the Q1.14 code book the NF4 kernels keep the plain DOT_REL bound."""
    k = ops.kernels(isa)
    for n in BLOCK64_N:
        raw, _ = _weights(rng, GGMLType.NF4, 5, n)
        w16 = dequantize_code_i16(raw.reshape(-1, 36)).astype(np.float64).reshape(5, n)
        act = k.from_float(int(GGMLType.Q8_0), rng.standard_normal(n).astype(np.float32))
        a = dequantize(act, GGMLType.Q8_0).astype(np.float64)
        got = k.vec_dot(int(GGMLType.NF4), raw, act, n)
        assert np.all(np.abs(got - w16 @ a) <= DOT_REL * (np.abs(w16) @ np.abs(a))), n


@pytest.mark.parametrize("isa", ISAS)
def test_activation_converters_match_reference(isa, rng):
    """from_float reproduces ggml's activation quantization (the reference's emulation of it) exactly."""
    k = ops.kernels(isa)
    x = (rng.standard_normal((3, 512)) * np.array([[1.0], [1e-3], [40.0]])).astype(np.float32)
    x[1, :32] = 0  # an all-zero block
    x[2, 40] = 0.5 * x[2, 41]  # nothing special; keep ties unlikely but scales varied
    for vdt in (GGMLType.Q8_0, GGMLType.Q8_1):
        raw = k.from_float(int(vdt), x.reshape(-1)).reshape(3, -1, 34 if vdt == GGMLType.Q8_0 else 36)
        d = raw[..., 0:2].copy().view(np.float16).astype(np.float32)
        q = raw[..., (2 if vdt == GGMLType.Q8_0 else 4):].view(np.int8).astype(np.float32)
        x_deq, s = quantize_activations(x, vdt)
        np.testing.assert_array_equal((d * q).reshape(3, -1), x_deq)
        if vdt == GGMLType.Q8_1:
            np.testing.assert_array_equal(raw[..., 2:4].copy().view(np.float16).astype(np.float32)[..., 0], s)
    np.testing.assert_array_equal(k.from_float(int(GGMLType.Q8_K), x.reshape(-1)), quantize(x.reshape(-1), GGMLType.Q8_K).reshape(-1))
    np.testing.assert_array_equal(k.from_float(int(GGMLType.F16), x.reshape(-1)).view(np.float16), x.reshape(-1).astype(np.float16))


def test_kernel_tables():
    assert ISAS[0] == "generic"
    for isa in ISAS:
        k = ops.kernels(isa)
        assert k.vec_dot_type(int(GGMLType.Q4_1)) == GGMLType.Q8_1
        assert k.vec_dot_type(int(GGMLType.Q4_0)) == k.vec_dot_type(int(GGMLType.Q8_0)) == GGMLType.Q8_0
        assert k.vec_dot_type(int(GGMLType.Q6_K)) == GGMLType.Q8_K
        assert k.vec_dot_type(int(GGMLType.F16)) == GGMLType.F16
        for t in (GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.IQ4_XS):
            assert k.vec_dot_type(int(t)) == GGMLType.Q8_K, t.name
        for t in (GGMLType.MXFP4, GGMLType.IQ4_NL, GGMLType.NF4, GGMLType.TQ2_64):
            assert k.vec_dot_type(int(t)) == GGMLType.Q8_0, t.name
        assert k.vec_dot_type(int(GGMLType.BF16)) == GGMLType.F32  # ggml: BF16; ours keeps float32 activations
        assert k.vec_dot_type(int(GGMLType.IQ2_XXS)) is None  # no kernel at all: a model using it is refused
        # the numpy reference converts activations as the native kernels expect (except BF16, above)
        for t in LEGACY + BLOCK64 + KQUANT + [GGMLType.F32, GGMLType.F16]:
            assert VEC_DOT_TYPE[t] == k.vec_dot_type(int(t)), (isa, t.name)
    if "avx512vnni" in ops.compiled_isas():  # registered exactly where the CPU has VNNI (and the avx512 set)
        assert ("avx512vnni" in ISAS) == ("avx512" in ISAS and "avx512_vnni" in ops.cpu_features())


# ---- the model: tiny llama -------------------------------------------------------------------------------

TINY_TARGETS = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_m", "q5_k_m", "q6_k", "f16", "bf16", "q2_k", "q3_k_m",
                "nf4", "tq2_0", "tq1_0", "tq2_64"]
TINY_REL = 3e-2  # of the largest |logit|; rounding flips (module docstring), measured up to 1.4e-2
TINY_F32_REL = 1e-3  # F32 weights: only the F16 KV cache rounds; measured 1.7e-4
TIE_REL = 2e-2  # a differing argmax is accepted when the reference's two logits are this close (of the range)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("native_tiny")
    write_tiny_llama(d / "f32.gguf")
    write_tiny_llama(d / "tied.gguf", tied=True)
    for t in TINY_TARGETS:
        quantize_file(d / "f32.gguf", d / f"{t}.gguf", t, progress=False)
    return d


def _tokens(n: int, n_vocab: int, seed: int = 0) -> list[int]:
    return [int(t) for t in np.random.default_rng(seed).integers(0, n_vocab, n)]


def _reference_logits(path: Path, tokens) -> np.ndarray:
    with ggufpy.open(path) as r:
        return ReferenceModel(r).logits(tokens)


def _assert_argmax(native: np.ndarray, ref: np.ndarray) -> None:
    """Same top token per position, except where the reference's top two are within TIE_REL of the range."""
    tie = TIE_REL * float(ref.max() - ref.min())
    for i, (a, b) in enumerate(zip(native.argmax(1), ref.argmax(1))):
        assert a == b or abs(ref[i, a] - ref[i, b]) <= tie, f"position {i}: native {a}, reference {b}"


@pytest.mark.parametrize("name", ["f32", "tied"])
def test_tiny_f32_vs_reference(tiny_dir, name):
    toks = _tokens(12, 256)
    ref = _reference_logits(tiny_dir / f"{name}.gguf", toks)
    with Model.load(tiny_dir / f"{name}.gguf", threads=2, n_ctx=64) as m:
        assert m.config.tied_output == (name == "tied")
        got = m.logits(toks)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.abs(got - ref).max() <= TINY_F32_REL * np.abs(ref).max()
    assert (got.argmax(1) == ref.argmax(1)).all()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("target", TINY_TARGETS)
def test_tiny_quantized_vs_reference(tiny_dir, target, isa):
    path = tiny_dir / f"{target}.gguf"
    toks = _tokens(12, 256)
    ref = _reference_logits(path, toks)
    with Model.load(path, threads=2, n_ctx=64, isa=isa) as m:
        assert m.isa == isa
        got = m.logits(toks)
    assert np.abs(got - ref).max() <= TINY_REL * np.abs(ref).max()
    _assert_argmax(got, ref)


def test_tiny_long_prompt_tiled_attention(tiny_dir):
    """64+ tokens take ggml's tiled attention path; then decode steps take the one-row path."""
    path = tiny_dir / "f32.gguf"
    toks = _tokens(70, 256, seed=1)
    with ggufpy.open(path) as r:
        ref_model = ReferenceModel(r)
        cache = ref_model.new_cache(80)
        ref = ref_model.logits(toks[:66], cache=cache)
        ref_next = [ref_model.logits([t], start_pos=66 + i, cache=cache) for i, t in enumerate(toks[66:])]
    with Model.load(path, threads=2, n_ctx=80) as m:
        got = m.eval(toks[:66], 0)
        got_next = [m.eval([t], 66 + i) for i, t in enumerate(toks[66:])]
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= TINY_F32_REL * scale
    assert np.abs(np.concatenate(got_next) - np.concatenate(ref_next)).max() <= TINY_F32_REL * scale


@pytest.mark.parametrize("isa", ISAS)
def test_tiny_long_prompt_threads_batches_bitwise(tiny_dir, isa):
    """64+ token batches (the tiled attention) give the same floats whatever the threads and batch split:
    one batch of 140 tokens at 1 thread, two of 70 at 2 threads (tiles then hold other rows)."""
    path = tiny_dir / "q4_0.gguf"
    toks = _tokens(140, 256, seed=3)
    with Model.load(path, threads=1, n_ctx=160, n_batch=140, isa=isa) as m1:
        full = m1.logits(toks)
    with Model.load(path, threads=2, n_ctx=160, n_batch=70, isa=isa) as m2:
        np.testing.assert_array_equal(m2.logits(toks), full)


def test_tiny_incremental_threads_batches_bitwise(tiny_dir):
    """Below 64 tokens every path computes the same floats: incremental == full, threads and batch
    splits change nothing, last-only == the last row, and rewinding recomputes."""
    path = tiny_dir / "q4_1.gguf"
    toks = _tokens(40, 256, seed=2)
    with Model.load(path, threads=1, n_ctx=64) as m1:
        full = m1.logits(toks)
        m1.reset()
        parts = [m1.eval(toks[:17], 0)] + [m1.eval([t], 17 + i) for i, t in enumerate(toks[17:])]
        assert m1.n_past == 40
        np.testing.assert_array_equal(np.concatenate(parts), full)
        last = m1.eval(toks[30:], 30, all_logits=False)  # rewind to position 30
        np.testing.assert_array_equal(last[0], full[-1])
    with Model.load(path, threads=2, n_ctx=64, n_batch=8) as m2:
        np.testing.assert_array_equal(m2.logits(toks), full)
        np.testing.assert_array_equal(m2.eval(toks, 0, all_logits=False)[0], full[-1])  # batches without logits


def test_tiny_concurrent_calls_serialize(tiny_dir):
    """eval releases the GIL; calls from several Python threads on one model take turns (no torn state)."""
    import threading

    toks = _tokens(20, 256, seed=3)
    with Model.load(tiny_dir / "q8_0.gguf", threads=2, n_ctx=32) as m:
        expected = m.logits(toks)
        results, errors = [], []

        def work():
            try:
                for _ in range(5):
                    results.append(m.logits(toks))
                    m.reset()
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        workers = [threading.Thread(target=work) for _ in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert not errors and len(results) == 15
    for r in results:
        np.testing.assert_array_equal(r, expected)


# ---- the model: SmolLM2-135M Q4_1 (Q4_1 matmuls, Q8_0 tied embeddings/output, F32 norms) ---------------

SMOL_TOKENS = [1, 504, 3250, 314, 253, 1345, 28, 9, 2000, 42, 7, 88, 1000, 3]
SMOL_REL = 5e-2  # of the logit range; measured 2.0-2.5% (and the reference vs itself in float64: 2.5%)
SMOL_1LAYER_REL = 1e-2  # one layer: flips do not compound; measured 2.3e-3


@pytest.fixture(scope="module")
def smol_ref(smollm2_path):
    with ggufpy.open(smollm2_path) as r:
        yield ReferenceModel(r).logits(SMOL_TOKENS)


@pytest.fixture(scope="module")
def smol(smollm2_path):
    with Model.load(smollm2_path, threads=2, n_ctx=128) as m:
        yield m


def _first_layers(src: Path, dst: Path, n_layer: int) -> Path:
    """SmolLM2 cut to its first n_layer blocks (same tensors, block_count changed)."""
    with ggufpy.open(src) as r:
        w = GGUFWriter(dst, overwrite=True)
        for f in r.metadata.fields():
            value = n_layer if f.key == "llama.block_count" else f.value
            w.add_key_value(f.key, value, f.type, f.elem_type)
        for t in r.tensors:
            m = re.match(r"blk\.(\d+)\.", t.name)
            if m is None or int(m.group(1)) < n_layer:
                w.add_tensor(t.name, np.array(t.data), ggml_type=t.type, ne=t.ne)
        w.write()
    return dst


@pytest.mark.fixtures
def test_smollm2_one_layer_vs_reference(smollm2_path, tmp_path):
    path = _first_layers(smollm2_path, tmp_path / "smol1.gguf", 1)
    ref = _reference_logits(path, SMOL_TOKENS)
    with Model.load(path, threads=2, n_ctx=32) as m:
        got = m.logits(SMOL_TOKENS)
    assert np.abs(got - ref).max() <= SMOL_1LAYER_REL * float(ref.max() - ref.min())
    assert (got.argmax(1) == ref.argmax(1)).all()


@pytest.mark.fixtures
def test_smollm2_vs_reference(smol, smol_ref):
    got = smol.logits(SMOL_TOKENS)
    rel = np.abs(got - smol_ref).max() / float(smol_ref.max() - smol_ref.min())
    assert rel <= SMOL_REL, rel
    _assert_argmax(got, smol_ref)


@pytest.mark.fixtures
def test_smollm2_incremental_equals_full(smol):
    full = smol.logits(SMOL_TOKENS)
    smol.reset()
    steps = [smol.eval(SMOL_TOKENS[:5], 0)] + [smol.eval([t], 5 + i) for i, t in enumerate(SMOL_TOKENS[5:])]
    np.testing.assert_array_equal(np.concatenate(steps), full)
    np.testing.assert_array_equal(smol.eval(SMOL_TOKENS, 0, all_logits=False)[0], full[-1])


@pytest.mark.fixtures
@pytest.mark.parametrize("isa", ISAS)
def test_smollm2_per_isa_env(smollm2_path, smol_ref, isa, tmp_path):
    """GGUFPY_ISA picks the table in a fresh process; each table agrees with the reference."""
    out = tmp_path / "logits.npy"
    code = (
        "import json, sys, numpy as np\n"
        "from ggufpy.runtime.model import Model\n"
        f"m = Model.load({str(smollm2_path)!r}, threads=2, n_ctx=32)\n"
        f"np.save({str(out)!r}, m.logits({SMOL_TOKENS!r}))\n"
        "print(json.dumps({'isa': m.isa}))\n"
    )
    env = dict(os.environ, GGUFPY_ISA=isa)
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"isa": isa}
    got = np.load(out)
    assert np.abs(got - smol_ref).max() <= SMOL_REL * float(smol_ref.max() - smol_ref.min())
    _assert_argmax(got, smol_ref)
    with Model.load(smollm2_path, threads=1, n_ctx=32, isa=isa) as m:  # same table in-process: same floats
        np.testing.assert_array_equal(m.logits(SMOL_TOKENS), got)


# ---- bad input: one-line errors ----------------------------------------------------------------------------


def _rewrite(src: Path, dst: Path, *, drop_tensor=None, arch=None, iq2_tensor=None) -> Path:
    with ggufpy.open(src) as r:
        w = GGUFWriter(dst, overwrite=True)
        for f in r.metadata.fields():
            value = arch if (arch and f.key == "general.architecture") else f.value
            key = f.key.replace("llama.", f"{arch}.", 1) if arch and f.key.startswith("llama.") else f.key
            w.add_key_value(key, value, f.type, f.elem_type)
        for t in r.tensors:
            if t.name == iq2_tensor:  # random IQ2_XXS blocks (66 bytes per 256): a type with no matmul kernel
                raw = np.random.default_rng(0).integers(0, 256, t.n_elements // 256 * 66, dtype=np.uint8)
                w.add_tensor(t.name, raw, ggml_type=GGMLType.IQ2_XXS, ne=t.ne)
            elif t.name != drop_tensor:
                w.add_tensor(t.name, np.array(t.data), ggml_type=t.type, ne=t.ne)
        w.write()
    return dst


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


def test_error_unknown_architecture(tiny_dir, tmp_path):
    with pytest.raises(UnsupportedTypeError) as e:
        Model.load(_rewrite(tiny_dir / "f32.gguf", tmp_path / "a.gguf", arch="mamba"))
    assert "'mamba'" in _one_line(e)


def test_error_missing_tensor(tiny_dir, tmp_path):
    with pytest.raises(GGUFFormatError) as e:
        Model.load(_rewrite(tiny_dir / "f32.gguf", tmp_path / "t.gguf", drop_tensor="blk.1.ffn_up.weight"))
    assert "missing tensor 'blk.1.ffn_up.weight'" in _one_line(e)


def test_error_type_without_kernel(tiny_dir, tmp_path):
    with pytest.raises(UnsupportedTypeError) as e:
        Model.load(_rewrite(tiny_dir / "f32.gguf", tmp_path / "iq2.gguf", iq2_tensor="blk.1.ffn_up.weight"))
    msg = _one_line(e)
    assert "tensor 'blk.1.ffn_up.weight' has type IQ2_XXS, which has no native matmul kernel" in msg, msg


def test_error_bad_eval_input(tiny_dir):
    with Model.load(tiny_dir / "f32.gguf", threads=1, n_ctx=16) as m:
        with pytest.raises(ValueError) as e:
            m.eval(list(range(17)), 0)
        assert "exceed the context size n_ctx = 16" in _one_line(e)
        with pytest.raises(ValueError, match=r"token id 256 is outside the vocabulary \[0, 256\)"):
            m.eval([1, 256], 0)
        with pytest.raises(ValueError, match="no tokens"):
            m.eval([], 0)
        m.eval([1, 2, 3], 0)
        with pytest.raises(ValueError, match=r"n_past = 4 is outside \[0, 3\]"):
            m.eval([4], 4)
        m.eval([4], 3)  # continuing is fine
        assert m.n_past == 4
    with pytest.raises(GGUFError, match="closed"):
        m.eval([1], 0)
