"""Every KV and tensor record of the real files equals what llama.cpp's own gguf package reads."""

from __future__ import annotations

import numpy as np
import pytest

from ggufpy import GGUFReader, GGUFValueType

gguf = pytest.importorskip("gguf")

pytestmark = pytest.mark.peer


def _peer_value(field):
    """gguf-py's value of a field as plain Python (lists for arrays)."""
    return field.contents()


def _our_value(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [_our_value(v) for v in value]
    return value


def test_records_equal_gguf_py(real_gguf):
    """One test per file: gguf-py takes seconds to open the big vocabularies, so open it once."""
    ours = GGUFReader(real_gguf)
    peer = gguf.GGUFReader(real_gguf)
    _check_metadata(ours, peer)
    _check_tensors(ours, peer)


def _check_metadata(ours, peer):
    assert list(ours.metadata) == [k for k in peer.fields if not k.startswith("GGUF.")]
    for key, pf in peer.fields.items():
        if key.startswith("GGUF."):  # gguf-py's pseudo-fields for the header
            continue
        f = ours.metadata.field(key)
        assert f.offset == pf.offset, key
        assert int(f.type) == int(pf.types[0]), key
        if f.type == GGUFValueType.ARRAY:
            assert int(f.elem_type) == int(pf.types[1]), key
        assert _our_value(f.value) == _peer_value(pf), key
    assert ours.version == peer.fields["GGUF.version"].contents()
    assert ours.alignment == peer.alignment
    if ours.tensors:
        assert ours.data_offset == peer.data_offset


def _check_tensors(ours, peer):
    assert [t.name for t in ours.tensors] == [t.name for t in peer.tensors]
    for t, pt in zip(ours.tensors, peer.tensors):
        assert list(t.ne) == pt.shape.tolist(), t.name
        assert t.shape == tuple(reversed(pt.shape.tolist())), t.name
        assert int(t.type) == int(pt.tensor_type), t.name
        assert t.offset == pt.data_offset, t.name
        assert t.n_bytes == pt.n_bytes, t.name
        assert t.n_elements == pt.n_elements, t.name
        assert t.data.tobytes() == pt.data.tobytes(), t.name


def test_data_is_zero_copy(smollm2_path):
    r = GGUFReader(smollm2_path)
    t = r.get_tensor("token_embd.weight")
    assert not t.data.flags.owndata and not t.data.flags.writeable
    assert t.data.shape == (49152, 576 // 32 * 34)
    # the view points into the map at the tensor's offset
    base = np.frombuffer(r._mmap, dtype=np.uint8)
    assert t.data.__array_interface__["data"][0] == base.__array_interface__["data"][0] + t.offset


def test_numpy_f32_tensor(smollm2_path):
    r = GGUFReader(smollm2_path)
    peer = gguf.GGUFReader(smollm2_path)
    t = r.get_tensor("output_norm.weight")
    pt = next(x for x in peer.tensors if x.name == "output_norm.weight")
    np.testing.assert_array_equal(t.numpy(), pt.data)
    assert t.numpy().dtype == np.float32 and t.numpy().shape == (576,)
