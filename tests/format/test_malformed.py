"""Hostile files: each must raise GGUFFormatError naming what and where, never crash, hang or
allocate by a claimed count (gguf-py 0.19 runs out of memory on the 2**61 array below)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ggufpy import GGUFFormatError, GGUFReader
from ggufpy.cli import main

from .gguf_bytes import gguf, kv_raw, kv_string, kv_u32, string, tensor_info, valid_file

HUGE = 1 << 61
A = [kv_string("general.architecture", "llama")]

CASES = {
    # name: (file bytes, substring the message must contain)
    "empty": (b"", "empty"),
    "short_header": (b"GGUF\x03\x00", "truncated"),
    "bad_magic": (b"GGML" + valid_file()[4:], "bad magic"),
    "version_1": (gguf(A, version=1), "unsupported GGUF version 1"),
    "version_4": (gguf(A, version=4), "unsupported GGUF version 4"),
    "big_endian": (gguf(A, version=0x03000000), "big-endian"),
    "kv_count_huge": (gguf(A, n_kv=HUGE), "metadata_kv_count"),
    "tensor_count_huge": (gguf(A, n_tensors=HUGE), "tensor_count"),
    "kv_count_past_end": (gguf(A, n_kv=2), "truncated"),
    "key_length_past_end": (gguf([struct.pack("<Q", 1000) + b"abc" + bytes(20)]), "runs past the end"),
    "string_value_past_end": (gguf([string("k") + struct.pack("<IQ", 8, 10**6) + b"xy"]), "runs past the end"),
    "array_count_huge_u32": (gguf([kv_raw("k", 9, struct.pack("<IQ", 4, HUGE))]), "only"),
    "array_count_huge_str": (gguf([kv_raw("k", 9, struct.pack("<IQ", 8, HUGE))]), "cannot fit"),
    "array_count_huge_nested": (gguf([kv_raw("k", 9, struct.pack("<IQ", 9, HUGE))]), "cannot fit"),
    "array_too_deep": (gguf([kv_raw("k", 9, struct.pack("<IQ", 9, 1) * 20)]), "nested deeper"),
    "unknown_value_type": (gguf([kv_raw("k", 13, b"\0" * 8)]), "unknown value type 13"),
    "unknown_array_elem_type": (gguf([kv_raw("k", 9, struct.pack("<IQ", 77, 1))]), "unknown value type 77"),
    "duplicate_key": (gguf(A + A), "duplicate metadata key 'general.architecture'"),
    "empty_key": (gguf([kv_u32("", 1)]), "is empty"),
    "invalid_utf8_key": (gguf([string(b"\xff\xfe") + struct.pack("<II", 4, 1)]), "invalid UTF-8"),
    "alignment_not_pow2": (gguf([kv_u32("general.alignment", 48)]), "not a power of two"),
    "alignment_zero": (gguf([kv_u32("general.alignment", 0)]), "not a power of two"),
    "alignment_wrong_type": (gguf([kv_raw("general.alignment", 10, struct.pack("<Q", 32))]), "expected type UINT32"),
    "tensor_info_truncated": (gguf(A, n_tensors=1) + string("t") + struct.pack("<I", 1), "truncated"),
    "n_dims_5": (gguf(A, [tensor_info("t", [1, 1, 1, 1, 1], 0, 0)], bytes(4)), "n_dims is 5"),
    "unknown_ggml_type": (gguf(A, [tensor_info("t", [32], 99, 0)], bytes(64)), "unknown ggml type id 99"),
    "removed_ggml_type": (gguf(A, [tensor_info("t", [32], 4, 0)], bytes(64)), "removed"),
    "row_not_multiple_of_block": (gguf(A, [tensor_info("t", [33], 8, 0)], bytes(64)), "not a multiple"),
    "shape_overflow": (gguf(A, [tensor_info("t", [1 << 62, 1 << 10], 0, 0)], bytes(32)), "int64"),
    "bytes_overflow": (gguf(A, [tensor_info("t", [1 << 62], 0, 0)], bytes(32)), "overflows int64"),
    "data_past_end": (gguf(A, [tensor_info("t", [64], 0, 0)], bytes(32)), "exceeds file size"),
    "offset_past_end": (gguf(A, [tensor_info("t", [4], 0, 1 << 40)], bytes(32)), "exceeds file size"),
    "misaligned_offset": (gguf(A, [tensor_info("t", [4], 0, 4)], bytes(64)), "not a multiple of the alignment"),
    "overlap": (gguf(A, [tensor_info("a", [16], 0, 0), tensor_info("b", [16], 0, 32)], bytes(128)), "overlaps"),
    "duplicate_tensor": (gguf(A, [tensor_info("a", [4], 0, 0), tensor_info("a", [4], 0, 32)], bytes(64)),
                         "duplicate tensor name 'a'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_raises(case, tmp_path):
    data, needle = CASES[case]
    p = tmp_path / f"{case}.gguf"
    p.write_bytes(data)
    with pytest.raises(GGUFFormatError) as e:
        GGUFReader(p)
    msg = str(e.value)
    assert needle in msg, msg
    assert str(p) in msg  # the file is named
    assert isinstance(e.value, ValueError)


def test_messages_say_where(tmp_path):
    data, _ = CASES["string_value_past_end"]
    p = tmp_path / "f.gguf"
    p.write_bytes(data)
    with pytest.raises(GGUFFormatError, match=r"value of 'k'.* at byte 37"):
        GGUFReader(p)


def test_valid_file_opens(tmp_path):
    p = tmp_path / "ok.gguf"
    p.write_bytes(valid_file())
    r = GGUFReader(p)
    assert [t.name for t in r.tensors] == ["a", "b"]
    assert r.metadata["llama.block_count"] == 1


def test_every_truncation_raises(tmp_path):
    data = valid_file()
    p = tmp_path / "t.gguf"
    for n in range(len(data)):
        p.write_bytes(data[:n])
        with pytest.raises(GGUFFormatError):
            GGUFReader(p)


def test_random_mutations_never_crash(tmp_path):
    """Random byte flips of a valid file either open or raise GGUFFormatError; nothing else."""
    rng = np.random.default_rng(0)
    data = np.frombuffer(valid_file(), dtype=np.uint8)
    p = tmp_path / "m.gguf"
    for _ in range(2000):
        mutated = data.copy()
        idx = rng.integers(0, len(data), size=rng.integers(1, 4))
        mutated[idx] = rng.integers(0, 256, size=len(idx))
        p.write_bytes(mutated.tobytes())
        try:
            GGUFReader(p)
        except GGUFFormatError:
            pass


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    p = tmp_path / "bad.gguf"
    p.write_bytes(CASES["overlap"][0])
    assert main(["inspect", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "overlaps" in err
