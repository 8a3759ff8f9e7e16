"""NF4 (ggufpy-private): bit-exact with bitsandbytes' own output (tests/golden/nf4, see its README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ggufpy import GGMLType, GGUFReader, GGUFWriter
from ggufpy.inspect import summarize
from ggufpy.quants import dequantize, nf4, quantize

GOLDEN = np.load(Path(__file__).parent.parent / "golden" / "nf4" / "bnb_nf4.npz")


def test_code_book_is_bitsandbytes():
    np.testing.assert_array_equal(nf4.NF4_CODE, GOLDEN["code"])


def test_quantize_equals_bitsandbytes():
    ours = nf4.NF4.quantize_blocks(GOLDEN["x"].reshape(-1, 64))
    np.testing.assert_array_equal(ours, nf4.from_bitsandbytes(GOLDEN["packed"], GOLDEN["absmax"]))


def test_dequantize_equals_bitsandbytes():
    blocks = nf4.from_bitsandbytes(GOLDEN["packed"], GOLDEN["absmax"])
    ours = nf4.NF4.dequantize_blocks(blocks).reshape(-1)
    np.testing.assert_array_equal(ours.view(np.uint32), GOLDEN["dequantized"].view(np.uint32))


def test_midpoint_ties_go_to_lower_code():
    x = np.concatenate([nf4.NF4_MIDPOINTS, [1.0], np.zeros(48)]).astype(np.float32)[None, :]
    q = nf4.NF4.quantize_blocks(x)[0, 4:]
    codes = np.concatenate([q & 15, q >> 4])
    assert codes[:15].tolist() == list(range(15))


def test_dynamic_map_equals_bitsandbytes():
    np.testing.assert_array_equal(nf4.dynamic_map(), GOLDEN["dq_code"])


def test_double_quant_state_equals_bitsandbytes():
    idx, absmax2, offset = nf4.double_quantize_absmax(nf4.block_absmax(GOLDEN["x"].reshape(-1, 64)))
    np.testing.assert_array_equal(idx, GOLDEN["dq_absmax_idx_default"])
    assert (idx != GOLDEN["dq_absmax_idx"]).sum() <= 1  # bitsandbytes' CPU BinSearch approximation
    np.testing.assert_array_equal(absmax2, GOLDEN["dq_absmax2"])
    assert offset == GOLDEN["dq_offset"]


def test_double_quant_dequantize_equals_bitsandbytes():
    absmax = nf4.double_dequantize_absmax(GOLDEN["dq_absmax_idx"], GOLDEN["dq_absmax2"], GOLDEN["dq_offset"])
    blocks = nf4.from_bitsandbytes(GOLDEN["dq_packed"], absmax)
    np.testing.assert_array_equal(nf4.NF4.dequantize_blocks(blocks).reshape(-1), GOLDEN["dq_dequantized"])


def test_front_door_and_error(rng):
    x = rng.standard_normal((6, 128)).astype(np.float32)
    q = quantize(x, GGMLType.NF4)
    assert q.shape == (6, 2 * 36)
    y = dequantize(q, GGMLType.NF4)
    rel = np.sqrt(np.mean((x - y) ** 2) / np.mean(x**2))
    assert rel < 0.11  # NF4's error on Gaussian data is ~0.09 of the signal RMS
    q2 = quantize(x, GGMLType.NF4, double_quant=True)
    assert np.sqrt(np.mean((x - dequantize(q2, GGMLType.NF4)) ** 2) / np.mean(x**2)) < 0.11


def test_nf4_file_is_flagged_ggufpy_only(tmp_path, rng):
    p = tmp_path / "nf4.gguf"
    with GGUFWriter(p, "llama") as w:
        w.add_tensor("blk.0.attn_q.weight", quantize(rng.standard_normal((4, 64)).astype(np.float32), GGMLType.NF4),
                     ggml_type=GGMLType.NF4)
    r = GGUFReader(p)
    t = r.get_tensor("blk.0.attn_q.weight")
    assert t.type == GGMLType.NF4 and t.shape == (4, 64) and t.numpy().shape == (4, 64)
    assert summarize(r)["ggufpy_only"] == ["NF4"]


def test_private_id_is_rejected_by_gguf_py(tmp_path, rng):
    """llama.cpp's gguf package refuses the private id outright rather than misreading the bytes."""
    gguf = pytest.importorskip("gguf")
    p = tmp_path / "nf4.gguf"
    with GGUFWriter(p) as w:
        w.add_tensor("t", quantize(rng.standard_normal((1, 64)).astype(np.float32), GGMLType.NF4),
                     ggml_type=GGMLType.NF4)
    with pytest.raises(ValueError):
        gguf.GGUFReader(p)
