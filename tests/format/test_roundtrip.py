"""read -> write of every real file reproduces it byte for byte."""

from __future__ import annotations

import filecmp

from ggufpy.format import GGUFReader, writer_from


def test_read_write_is_byte_identical(real_gguf, tmp_path):
    out = tmp_path / "copy.gguf"
    with GGUFReader(real_gguf) as r:
        writer_from(r, out).write()
    assert out.stat().st_size == real_gguf.stat().st_size
    assert filecmp.cmp(real_gguf, out, shallow=False)
    assert not list(tmp_path.glob("*.part"))
