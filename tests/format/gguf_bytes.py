"""Hand-assembled GGUF bytes for tests: every field spelled out, so hostile files are easy to make."""

from __future__ import annotations

import struct


def string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def kv_u32(key: str, v: int) -> bytes:
    return string(key) + struct.pack("<II", 4, v)


def kv_string(key: str, v: str | bytes) -> bytes:
    return string(key) + struct.pack("<I", 8) + string(v)


def kv_raw(key: str, vtype: int, payload: bytes) -> bytes:
    return string(key) + struct.pack("<I", vtype) + payload


def tensor_info(name: str, ne: list[int], ggml_type: int, offset: int) -> bytes:
    return string(name) + struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, ggml_type, offset)


def gguf(kvs: list[bytes] = (), infos: list[bytes] = (), data: bytes = b"", *, version: int = 3,
         n_kv: int | None = None, n_tensors: int | None = None, alignment: int = 32, magic: bytes = b"GGUF") -> bytes:
    """A file: header, KVs, tensor infos, zero padding to ``alignment`` (if any infos), then ``data``."""
    head = magic + struct.pack("<IQQ", version, len(infos) if n_tensors is None else n_tensors,
                               len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(infos)
    if infos:
        body += bytes((-len(body)) % alignment)
    return body + data


def valid_file() -> bytes:
    """A small, valid file: two KVs and two F32 tensors (4 and 8 elements)."""
    return gguf(
        [kv_string("general.architecture", "llama"), kv_u32("llama.block_count", 1)],
        [tensor_info("a", [4], 0, 0), tensor_info("b", [8], 0, 32)],
        bytes(16) + bytes(16) + bytes(32),
    )
