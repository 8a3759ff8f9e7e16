"""GGUFWriter: byte-literal layout, every value type, streaming, atomic output, state machine."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ggufpy import GGMLType, GGUFFormatError, GGUFReader, GGUFValueType, GGUFWriter, WriterStateError

from .gguf_bytes import gguf, kv_string, kv_u32, tensor_info


def test_byte_literal_layout(tmp_path):
    """Header, KVs, tensor infos, padding and data exactly as hand-assembled from the spec."""
    p = tmp_path / "x.gguf"
    a = np.arange(4, dtype=np.float32)
    b = np.arange(8, dtype=np.float16)
    with GGUFWriter(p, "llama") as w:
        w.add_uint32("llama.block_count", 1)
        w.add_tensor("a", a)
        w.add_tensor("b", b)
    expected = gguf(
        [kv_string("general.architecture", "llama"), kv_u32("llama.block_count", 1)],
        [tensor_info("a", [4], 0, 0), tensor_info("b", [8], 1, 32)],
        a.tobytes() + bytes(16) + b.tobytes() + bytes(16),
    )
    assert p.read_bytes() == expected


ALL_VALUES = [
    ("u8", 255, GGUFValueType.UINT8, None),
    ("i8", -128, GGUFValueType.INT8, None),
    ("u16", 65535, GGUFValueType.UINT16, None),
    ("i16", -32768, GGUFValueType.INT16, None),
    ("u32", 2**32 - 1, GGUFValueType.UINT32, None),
    ("i32", -(2**31), GGUFValueType.INT32, None),
    ("f32", 0.1, GGUFValueType.FLOAT32, None),
    ("bool", True, GGUFValueType.BOOL, None),
    ("str", "héllo ✓", GGUFValueType.STRING, None),
    ("empty_str", "", GGUFValueType.STRING, None),
    ("u64", 2**64 - 1, GGUFValueType.UINT64, None),
    ("i64", -(2**63), GGUFValueType.INT64, None),
    ("f64", 1e300, GGUFValueType.FLOAT64, None),
    ("arr_i32", [1, -2, 3], GGUFValueType.ARRAY, GGUFValueType.INT32),
    ("arr_f32", np.array([0.5, 1.5], np.float32), GGUFValueType.ARRAY, GGUFValueType.FLOAT32),
    ("arr_u64", np.array([2**64 - 1], np.uint64), GGUFValueType.ARRAY, GGUFValueType.UINT64),
    ("arr_bool", [True, False, True], GGUFValueType.ARRAY, GGUFValueType.BOOL),
    ("arr_str", ["a", "", "ü"], GGUFValueType.ARRAY, GGUFValueType.STRING),
    ("arr_empty", [], GGUFValueType.ARRAY, GGUFValueType.UINT32),
    ("arr_nested", [np.array([1, 2], np.int32), ["x", "y"]], GGUFValueType.ARRAY, GGUFValueType.ARRAY),
]


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def test_every_value_type_round_trips(tmp_path):
    p = tmp_path / "kv.gguf"
    with GGUFWriter(p) as w:
        for key, value, vtype, elem in ALL_VALUES:
            w.add_key_value(key, value, vtype, elem)
    r = GGUFReader(p)
    assert list(r.metadata) == [k for k, *_ in ALL_VALUES]
    for key, value, vtype, elem in ALL_VALUES:
        f = r.metadata.field(key)
        assert f.type == vtype and f.elem_type == elem, key
        if vtype == GGUFValueType.FLOAT32:
            assert f.value == float(np.float32(value))
        else:
            assert _plain(f.value) == _plain(value), key


def test_peer_reads_our_file(tmp_path):
    gguf_py = pytest.importorskip("gguf")
    p = tmp_path / "peer.gguf"
    q = np.random.default_rng(0).integers(0, 256, size=(3, 2 * 34), dtype=np.uint8)
    with GGUFWriter(p, "llama", alignment=64) as w:
        w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "a"])
        w.add_float32("llama.rope.freq_base", 10000.0)
        w.add_tensor("output_norm.weight", np.linspace(0, 1, 64, dtype=np.float32))
        w.add_tensor("blk.0.attn_q.weight", q, ggml_type=GGMLType.Q8_0)
    peer = gguf_py.GGUFReader(p)
    assert peer.alignment == 64
    assert peer.fields["tokenizer.ggml.tokens"].contents() == ["<s>", "</s>", "a"]
    assert peer.fields["llama.rope.freq_base"].contents() == 10000.0
    t = {x.name: x for x in peer.tensors}
    assert t["blk.0.attn_q.weight"].shape.tolist() == [64, 3]
    assert t["blk.0.attn_q.weight"].data.tobytes() == q.tobytes()
    assert all(x.data_offset % 64 == 0 for x in peer.tensors)
    ours = GGUFReader(p)
    assert ours.get_tensor("blk.0.attn_q.weight").shape == (3, 64)


def test_sources_stream_in_order_at_write_time(tmp_path):
    calls = []

    def producer(i):
        def make():
            calls.append(i)
            return np.full(32, i, np.float32)
        return make

    w = GGUFWriter(tmp_path / "s.gguf")
    for i in range(3):
        w.add_tensor(f"t{i}", producer(i), ggml_type=GGMLType.F32, shape=(32,))
    assert calls == []
    w.write()
    assert calls == [0, 1, 2]
    r = GGUFReader(tmp_path / "s.gguf")
    np.testing.assert_array_equal(r.get_tensor("t2").numpy(), np.full(32, 2, np.float32))


def test_refuses_to_overwrite(tmp_path):
    p = tmp_path / "o.gguf"
    p.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        GGUFWriter(p)
    with GGUFWriter(p, overwrite=True) as w:
        w.add_uint32("k", 1)
    assert GGUFReader(p).metadata["k"] == 1


def test_failed_write_leaves_nothing(tmp_path):
    def boom():
        raise RuntimeError("producer failed")

    w = GGUFWriter(tmp_path / "f.gguf")
    w.add_tensor("ok", np.zeros(8, np.float32))
    w.add_tensor("bad", boom, ggml_type=GGMLType.F32, shape=(8,))
    with pytest.raises(RuntimeError, match="producer failed"):
        w.write()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriterStateError):
        w.write()


def test_wrong_byte_count_is_an_error(tmp_path):
    w = GGUFWriter(tmp_path / "f.gguf")
    w.add_tensor("t", lambda: np.zeros(7, np.float32), ggml_type=GGMLType.F32, shape=(8,))
    with pytest.raises(Exception, match="gave 28 bytes, expected 32"):
        w.write()
    assert list(tmp_path.iterdir()) == []


def test_context_manager_error_writes_nothing(tmp_path):
    with pytest.raises(KeyError):
        with GGUFWriter(tmp_path / "c.gguf") as w:
            w.add_uint32("k", 1)
            raise KeyError("user error")
    assert not (tmp_path / "c.gguf").exists()


def test_state_machine(tmp_path):
    w = GGUFWriter(tmp_path / "w.gguf")
    w.write()
    with pytest.raises(WriterStateError, match="written"):
        w.add_uint32("k", 1)
    with pytest.raises(WriterStateError):
        w.add_tensor("t", np.zeros(1, np.float32))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda w: w.add_uint32("general.alignment", 48), "power of two"),
        (lambda w: w.add_uint64("general.alignment", 32), "UINT32"),
        (lambda w: (w.add_uint32("k", 1), w.add_uint32("k", 2)), "duplicate metadata key"),
        (lambda w: w.add_uint32("", 1), "empty"),
        (lambda w: (w.add_tensor("t", np.zeros(1, np.float32)), w.add_tensor("t", np.zeros(1, np.float32))),
         "duplicate tensor"),
        (lambda w: w.add_tensor("q", np.zeros((2, 33), np.uint8), ggml_type=GGMLType.Q8_0), "whole 34-byte"),
        (lambda w: w.add_tensor("q", b"\0" * 34, ggml_type=GGMLType.Q8_0, shape=(1, 31)), "block size 32"),
        (lambda w: w.add_tensor("x" * 64, np.zeros(1, np.float32)), "at most 63"),
        (lambda w: w.add_tensor("t", np.zeros(1, np.complex64)), "no ggml type"),
        (lambda w: w.add_tensor("t", np.zeros((1,) * 5, np.float32)), "at most 4 dims"),
        (lambda w: w.add_tensor("t", b"\0", ggml_type=GGMLType.Q4_2, shape=(32,)), "removed"),
        (lambda w: w.add_array("k", [object()]), "cannot infer"),
    ],
)
def test_bad_calls_raise_format_error(tmp_path, call, match):
    w = GGUFWriter(tmp_path / "b.gguf")
    with pytest.raises(GGUFFormatError, match=match):
        call(w)


def test_writer_sizes_follow_ne(tmp_path):
    """ne is kept verbatim (trailing 1s included), as gguf-py writes it."""
    p = tmp_path / "ne.gguf"
    with GGUFWriter(p) as w:
        w.add_tensor("t", np.zeros((1, 3, 64), np.float32))
    t = GGUFReader(p).get_tensor("t")
    assert t.ne == (64, 3, 1) and t.shape == (1, 3, 64) and t.n_bytes == 64 * 3 * 4
    raw = p.read_bytes()
    assert struct.pack("<I3Q", 3, 64, 3, 1) in raw
