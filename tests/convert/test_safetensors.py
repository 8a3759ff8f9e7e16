"""The safetensors reader on hand-built files: values for each float dtype, and every malformation a clear
``ConvertError`` naming the file (byte-literal style, as safetensors' own tests)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from ggufpy.convert.safetensors import SafetensorsFile
from ggufpy.errors import ConvertError


def write_st(path, tensors: dict[str, tuple[str, tuple[int, ...], bytes]], *, header_extra=None, pad=True):
    """A safetensors file from {name: (dtype, shape, raw bytes)}, tensors laid out in order."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header.update(header_extra or {})
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def bf16_bytes(x: np.ndarray) -> bytes:
    return (x.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()


def test_reads_f32_f16_bf16(tmp_path):
    x = np.array([[1.0, -2.5, 3.25], [0.5, 1e-3, -7.0]], np.float32)
    path = write_st(tmp_path / "m.safetensors", {
        "a": ("F32", x.shape, x.tobytes()),
        "b": ("F16", x.shape, x.astype("<f2").tobytes()),
        "c": ("BF16", x.shape, bf16_bytes(x)),
    }, header_extra={"__metadata__": {"format": "pt"}})
    with SafetensorsFile(path) as f:
        assert f.keys() == ["a", "b", "c"] and f.metadata == {"format": "pt"}
        assert np.array_equal(f.get("a").to_f32(), x)
        assert np.array_equal(f.get("b").to_f32(), x.astype(np.float16).astype(np.float32))
        want_bf16 = (x.view(np.uint32) & 0xFFFF0000).view(np.float32)  # these values are exact in bf16
        assert np.array_equal(f.get("c").to_f32(), want_bf16)
        assert f.get("c").raw.nbytes == 12 and f.info("c") == ("BF16", (2, 3))


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:5], "truncated safetensors file"),
    (lambda b: struct.pack("<Q", 10_000) + b[8:], "truncated safetensors header"),
    (lambda b: struct.pack("<Q", 1 << 40) + b[8:], "over the"),
    (lambda b: b[:8] + b"x" + b[9:], "not valid JSON"),
    (lambda b: b[:-4], "runs past the end"),
])
def test_malformed_files(tmp_path, mutate, message):
    good = write_st(tmp_path / "good.safetensors", {"w": ("F32", (2, 2), np.ones(4, np.float32).tobytes())})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(mutate(good.read_bytes()))
    with pytest.raises(ConvertError, match=message) as e:
        SafetensorsFile(bad)
    assert "bad.safetensors" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 16]}, "needs 24 bytes"),
    ({"dtype": "Q4", "shape": [2], "data_offsets": [0, 16]}, "unknown dtype"),
    ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 16]}, "non-negative"),
    ({"dtype": "F32", "shape": [4], "data_offsets": [8, 0]}, "not increasing"),
    ({"dtype": "F32", "shape": [4]}, "must have"),
])
def test_malformed_entries(tmp_path, entry, message):
    text = json.dumps({"w": entry}).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(16))
    with pytest.raises(ConvertError, match=message):
        SafetensorsFile(path)


def test_overlapping_tensors(tmp_path):
    text = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(12))
    with pytest.raises(ConvertError, match="overlap"):
        SafetensorsFile(path)


def test_release_keeps_data_readable(tmp_path):
    x = np.arange(5000, dtype=np.float32)
    path = write_st(tmp_path / "m.safetensors", {"a": ("F32", x.shape, x.tobytes())})
    with SafetensorsFile(path) as f:
        f.release("a")  # pages dropped from the resident set come back from the page cache on access
        assert np.array_equal(f.get("a").to_f32(), x)
