"""The one layout table: every ggml type id 0..42 named, with block size and bytes per block."""

from __future__ import annotations

import pytest

from ggufpy.format.constants import GGUFPY_TYPE_BASE, PRIVATE_TYPES, QUANT_SIZES, GGMLType, is_removed, type_name


def test_every_id_known():
    assert [int(t) for t in GGMLType if t not in PRIVATE_TYPES] == list(range(43))
    assert all(int(t) >= GGUFPY_TYPE_BASE and int(t) < 2**31 for t in PRIVATE_TYPES)
    assert set(QUANT_SIZES) == set(GGMLType)
    removed = {t.name for t in GGMLType if is_removed(t)}
    assert removed == {"Q4_2", "Q4_3", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8"}
    assert type_name(99) == "type#99"


@pytest.mark.parametrize(
    "qtype, block_size, type_size",
    [  # spelled out from ggml-common.h's static_asserts (formats.md §1.8)
        ("Q4_0", 32, 18), ("Q4_1", 32, 20), ("Q5_0", 32, 22), ("Q5_1", 32, 24), ("Q8_0", 32, 34),
        ("Q8_1", 32, 36), ("Q2_K", 256, 84), ("Q3_K", 256, 110), ("Q4_K", 256, 144), ("Q5_K", 256, 176),
        ("Q6_K", 256, 210), ("Q8_K", 256, 292), ("TQ1_0", 256, 54), ("TQ2_0", 256, 66), ("MXFP4", 32, 17),
        ("NVFP4", 64, 36), ("Q1_0", 128, 18), ("Q2_0", 64, 18), ("BF16", 1, 2),
    ],
)
def test_sizes_from_ggml(qtype, block_size, type_size):
    assert QUANT_SIZES[GGMLType[qtype]] == (block_size, type_size)


def test_agrees_with_gguf_py():
    gguf = pytest.importorskip("gguf")
    for t in gguf.GGMLQuantizationType:
        ours = GGMLType(int(t))
        assert ours.name == t.name
        if t.name == "Q8_1":  # gguf-py still says 40 bytes; ggml's block_q8_1 is 36 (two f16 + 32 int8)
            continue
        assert QUANT_SIZES[ours] == tuple(gguf.GGML_QUANT_SIZES[t]), t.name
