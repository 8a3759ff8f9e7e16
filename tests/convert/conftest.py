"""Fixtures for the converter tests: real HF folders rebuilt by tools/make_hf_checkpoint.py (cached in
``<cache>/hf``), our converted outputs (once per session), and llama.cpp's converter outputs (cached in
``<cache>/convert-peer``, keyed by the folder's content, so they are made once per machine)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ggufpy.convert import PROVENANCE_KEYS, convert_hf
from ggufpy.fetch import cache_dir
from ggufpy.format.reader import GGUFReader

TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_hf_checkpoint.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_hf_checkpoint", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def hf_tool():
    return _load_tool()


def _checkpoint(hf_tool, name: str) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    return hf_tool.checkpoint(name)


@pytest.fixture(scope="session")
def smollm2_hf(hf_tool) -> Path:
    return _checkpoint(hf_tool, "smollm2")


@pytest.fixture(scope="session")
def smollm2_sharded_hf(hf_tool) -> Path:
    return _checkpoint(hf_tool, "smollm2-sharded")


@pytest.fixture(scope="session")
def mistral_hf(hf_tool) -> Path:
    return _checkpoint(hf_tool, "mistral-tiny")


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """``converted(folder, outtype)``: our conversion of ``folder``, made once per session."""
    out_dir = tmp_path_factory.mktemp("converted")
    done: dict[tuple[str, str], Path] = {}

    def get(folder: Path, outtype: str) -> Path:
        key = (str(folder), outtype)
        if key not in done:
            path = out_dir / f"{folder.name}-{outtype}.gguf"
            convert_hf(folder, path, outtype, progress=False)
            done[key] = path
        return done[key]

    return get


@pytest.fixture(scope="session")
def peer(hf_tool):
    """``peer(folder, outtype)``: llama.cpp's convert_hf_to_gguf.py output for ``folder`` (cached by content)."""
    for mod in ("torch", "transformers", "sentencepiece", "yaml"):
        pytest.importorskip(mod)
    script = hf_tool.llamacpp_converter()
    digests: dict[Path, str] = {}
    cache = cache_dir() / "convert-peer"

    def run(folder: Path, outtype: str) -> Path:
        if folder not in digests:
            digests[folder] = hf_tool.folder_digest(folder)
        key = hashlib.sha256(f"{script}|{folder.name}|{digests[folder]}|{outtype}".encode()).hexdigest()[:16]
        out = cache / f"{folder.name}-{outtype}-{key}.gguf"
        if not out.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".part")
            env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
            proc = subprocess.run([sys.executable, str(script), str(folder), "--outtype", outtype, "--outfile", str(tmp)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                tmp.unlink(missing_ok=True)
                pytest.fail(f"llama.cpp's converter failed:\n{proc.stderr[-3000:]}")
            tmp.rename(out)
        return out

    return run


def kv_records(path: Path) -> dict:
    """key -> (type, element type, value) with arrays as plain lists, in file order."""
    with GGUFReader(path) as r:
        out = {}
        for f in r.metadata.fields():
            v = f.value
            if isinstance(v, np.ndarray):
                v = v.tolist()
            out[f.key] = (f.type, f.elem_type, v)
        return out


def assert_same_as_peer(ours: Path, theirs: Path) -> None:
    """Every KV record llama.cpp wrote, in its order, and ours adds only provenance; tensors byte-identical."""
    a, b = kv_records(ours), kv_records(theirs)
    extra = [k for k in a if k not in b]
    assert all(k in PROVENANCE_KEYS or k.startswith("general.source.") for k in extra), extra
    assert [k for k in a if k in b] == list(b), "KV order differs"
    for k in b:
        assert a[k] == b[k], f"{k}: ours {str(a[k])[:200]} vs llama.cpp {str(b[k])[:200]}"
    with GGUFReader(ours) as ra, GGUFReader(theirs) as rb:
        assert [t.name for t in ra.tensors] == [t.name for t in rb.tensors]
        for ta, tb in zip(ra.tensors, rb.tensors):
            assert (ta.type, ta.ne) == (tb.type, tb.ne), ta.name
            assert np.array_equal(ta.data, tb.data), f"{ta.name}: bytes differ"


@pytest.fixture
def copy_folder(tmp_path):
    """``copy_folder(src, name, {file: content or None})``: a copy of an HF folder (large files linked), with
    files replaced (None: removed)."""
    def make(src: Path, name: str = "model", replace: dict[str, bytes | str | None] | None = None) -> Path:
        dst = tmp_path / name
        dst.mkdir()
        for f in src.iterdir():
            if f.is_file() and not f.name.startswith("."):
                if f.stat().st_size > 1 << 20:
                    os.symlink(f, dst / f.name)
                else:
                    shutil.copy2(f, dst / f.name)
        for fname, content in (replace or {}).items():
            target = dst / fname
            if target.exists() or target.is_symlink():
                target.unlink()
            if content is not None:
                target.write_bytes(content.encode() if isinstance(content, str) else content)
        return dst
    return make
