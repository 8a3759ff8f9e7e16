"""Perplexity computed exactly as llama.cpp's ``llama-perplexity`` computes it (the default, non-KL path).

Mirrors ``perplexity()`` in llama.cpp 0c1e570 ``tools/perplexity/perplexity.cpp`` (``ppl_stride = 0``):

1. The text is the ``-f`` file with one trailing ``"\\n"`` removed (common/arg.cpp), tokenized whole with
   ``common_tokenize(ctx, text, add_special=true, parse_special=false)``: BOS is prepended only when the
   vocab adds BOS (``tokenizer.ggml.add_bos_token``), and ``<|...|>`` text is not parsed as special.
2. ``n_chunk = min(n_chunks, len(tokens) // n_ctx)``; at least ``2 * n_ctx`` tokens are required.
3. Chunk i is tokens[i*n_ctx : (i+1)*n_ctx], evaluated from an empty KV cache at positions 0..n_ctx-1; when
   the vocab adds BOS its first token is replaced by BOS for the evaluation (the targets are unchanged).
4. Only the second half is scored: ``first = n_ctx / 2``; for j in [first, n_ctx - 1) the logits of
   position j predict token j + 1, giving ``n_ctx - first - 1`` values per chunk.
5. ``nll = max - logit[tok] + log(sum exp(logit - max))`` with max and the exponentials in float32, the sum
   and log in double (``log_softmax``); ``nll`` and ``nll^2`` are summed in double.
6. After each chunk llama.cpp prints the cumulative ``exp(sum_nll / count)`` (``[i]value``); at the end
   ``PPL = exp(mean)`` and ``+/- ppl * sqrt((mean(nll^2) - mean^2) / (count - 1))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PerplexityResult:
    """What llama-perplexity reports. ``chunk_ppl[i]`` is the cumulative value it prints as ``[i+1]``."""

    ppl: float
    stderr: float  # the "+/-" of llama.cpp's "Final estimate" line
    chunk_ppl: list[float] = field(default_factory=list)
    chunk_nll: list[float] = field(default_factory=list)  # mean nll of each chunk on its own
    n_ctx: int = 0
    n_scored: int = 0  # count: tokens scored in all chunks
    nll: float = 0.0  # mean negative log-likelihood (natural log)


def tokenize_for_perplexity(tokenizer, text: str) -> list[int]:
    """The token stream llama-perplexity evaluates for the contents ``text`` of its ``-f`` file.

    ``tokenizer`` is any object with ``tokenize(text, add_special=..., parse_special=...)`` that follows
    llama.cpp's rules for adding BOS (e.g. ``ggufpy.runtime.tokenizer.Tokenizer``).
    """
    if text.endswith("\n"):  # common/arg.cpp "-f": params.prompt.pop_back() of one trailing newline
        text = text[:-1]
    return list(tokenizer.tokenize(text, add_special=True, parse_special=False))


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log_softmax(logits)[target] per row, float64, as perplexity.cpp's ``log_softmax``: max_logit and
    expf(logit - max) in float32, their sum and the log in double."""
    logits = np.asarray(logits, dtype=np.float32)
    mx = logits.max(axis=1)  # float
    e = np.exp(logits - mx[:, None])  # expf(logits[i] - max_logit)
    sum_exp = e.astype(np.float64).sum(axis=1)  # double sum_exp
    picked = logits[np.arange(len(targets)), targets] - mx  # float: logits[tok] - max_logit
    return -(picked.astype(np.float64) - np.log(sum_exp))


def perplexity(
    model_logits_fn: Callable[[list[int]], np.ndarray],
    tokens: Sequence[int],
    n_ctx: int = 512,
    n_chunks: int | None = None,
    bos_id: int | None = None,
    add_bos: bool = True,
    progress: Callable[[int, float], None] | None = None,
    on_scored: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> PerplexityResult:
    """llama-perplexity's number for ``tokens`` (see the module docstring for the exact procedure).

    Args:
        model_logits_fn: tokens (a list of n_ctx ids, evaluated from position 0 with an empty cache) ->
            logits (n_ctx, n_vocab); e.g. ``ReferenceModel(reader).logits``.
        tokens: the whole token stream (``tokenize_for_perplexity``).
        n_ctx: chunk length (``-c``).
        n_chunks: evaluate at most this many chunks (``--chunks``; None: all).
        bos_id: the BOS id, required when ``add_bos``.
        add_bos: whether the vocab adds BOS (``llama_vocab_get_add_bos``); then each chunk starts with BOS.
        progress: called as ``progress(i, cumulative_ppl)`` after each chunk (1-based i).
        on_scored: called with each chunk's scored logits (n_ctx - 1 - n_ctx/2 rows) and their target
            tokens, e.g. ``LogitsBaseWriter.add_chunk`` to save a ``--kl-divergence-base`` file.

    Raises:
        ValueError: fewer than ``2 * n_ctx`` tokens, n_ctx < 2, or add_bos without bos_id.
    """
    if n_ctx < 2:
        raise ValueError(f"n_ctx must be at least 2, got {n_ctx}")
    if len(tokens) < 2 * n_ctx:
        raise ValueError(f"need at least {2 * n_ctx} tokens for n_ctx={n_ctx}, got {len(tokens)}")
    if add_bos and bos_id is None:
        raise ValueError("add_bos needs bos_id")
    n_chunk = len(tokens) // n_ctx
    if n_chunks is not None and n_chunks >= 0:
        n_chunk = min(n_chunks, n_chunk)
    first = n_ctx // 2

    result = PerplexityResult(ppl=float("nan"), stderr=float("nan"), n_ctx=n_ctx)
    nll = nll2 = 0.0
    count = 0
    for i in range(n_chunk):
        chunk = [int(t) for t in tokens[i * n_ctx:(i + 1) * n_ctx]]
        inputs = list(chunk)
        if add_bos:
            inputs[0] = int(bos_id)
        logits = np.asarray(model_logits_fn(inputs))
        if logits.shape[0] != n_ctx:
            raise ValueError(f"model_logits_fn returned {logits.shape[0]} rows for {n_ctx} tokens")
        targets = np.asarray(chunk[first + 1:n_ctx])
        v = token_nll(logits[first:n_ctx - 1], targets)
        if on_scored is not None:
            on_scored(logits[first:n_ctx - 1], targets)
        nll += float(v.sum())
        nll2 += float((v * v).sum())
        count += n_ctx - first - 1
        result.chunk_ppl.append(math.exp(nll / count))
        result.chunk_nll.append(float(v.mean()))
        if progress is not None:
            progress(i + 1, result.chunk_ppl[-1])

    mean = nll / count
    var = nll2 / count - mean * mean
    result.ppl = math.exp(mean)
    result.stderr = math.sqrt(var / (count - 1)) * result.ppl if var > 0 else float("nan")
    result.n_scored = count
    result.nll = mean
    return result
