"""Text generation: prompt -> streamed continuation.

The prompt is evaluated in one batch (from position 0), then one token at a time: sample, yield its
text, feed it back. Generation stops at an end-of-generation token, after ``n_predict`` tokens, or when
the context is full. Text comes out UTF-8-safe: a character split over several byte tokens is yielded
once it is complete.

    stats = GenerationStats()
    for piece in generate(model, tok, "Once upon a time", n_predict=64, stats=stats):
        print(piece, end="", flush=True)
    print(stats.summary())
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from ..errors import GGUFError
from .sampler import Sampler


@dataclass
class GenerationStats:
    """Counts and timings of one ``generate`` call (filled in as it runs)."""

    n_prompt: int = 0          # prompt tokens evaluated
    prompt_s: float = 0.0      # seconds spent evaluating them (one batch)
    n_gen: int = 0             # tokens generated (the end-of-generation token not counted)
    gen_s: float = 0.0         # seconds spent sampling and evaluating generated tokens
    tokens: list[int] = field(default_factory=list)  # the generated token ids
    stop_reason: str = ""      # "eog", "n_predict" or "context"

    @property
    def prompt_tps(self) -> float:
        return self.n_prompt / self.prompt_s if self.prompt_s > 0 else float("nan")

    @property
    def gen_tps(self) -> float:
        return self.n_gen / self.gen_s if self.gen_s > 0 else float("nan")

    def summary(self) -> str:
        return (f"prompt: {self.n_prompt} tokens in {self.prompt_s * 1e3:.1f} ms ({self.prompt_tps:.1f} tokens/s)\n"
                f"generation: {self.n_gen} tokens in {self.gen_s * 1e3:.1f} ms ({self.gen_tps:.1f} tokens/s)")


def decode_utf8(pieces: Iterable[bytes]) -> Iterator[str]:
    """Decode a stream of byte pieces, yielding only whole characters (invalid bytes become U+FFFD).

    A multi-byte character split over pieces is held back until its last byte arrives; whatever is
    left incomplete at the end is flushed (as U+FFFD).
    """
    dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for b in pieces:
        s = dec.decode(b)
        if s:
            yield s
    tail = dec.decode(b"", final=True)
    if tail:
        yield tail


def generate(model, tokenizer, prompt: str, *, n_predict: int = 128, sampler: Sampler | None = None,
             add_bos: bool | None = None, parse_special: bool = False, special: bool = False,
             stats: GenerationStats | None = None) -> Iterator[str]:
    """Stream the continuation of ``prompt`` as text pieces.

    Args:
        model: a loaded ``Model`` (its KV cache is overwritten from position 0).
        tokenizer: the model's ``Tokenizer``.
        n_predict: most tokens to generate (< 0: until an end-of-generation token or a full context).
        sampler: a ``Sampler`` (default: llama.cpp's default settings).
        add_bos: prepend BOS (default: the tokenizer's ``add_bos``).
        parse_special: read special-token texts in the prompt (``<|im_start|>``) as those tokens.
        special: render control tokens in the output (off: they print as nothing).
        stats: a ``GenerationStats`` to fill in (counts and timings).

    Raises:
        GGUFError: an empty prompt, or a prompt longer than the model's context (raised by this call,
            before any piece is asked for).
    """
    return decode_utf8(_pieces(model, tokenizer, prompt, n_predict=n_predict, sampler=sampler, add_bos=add_bos,
                               parse_special=parse_special, special=special, stats=stats))


def generate_tokens(model, tokenizer, prompt: str, **kw) -> list[int]:
    """The generated token ids (a convenience over :func:`generate`)."""
    stats = kw.pop("stats", None) or GenerationStats()
    for _ in generate(model, tokenizer, prompt, stats=stats, **kw):
        pass
    return list(stats.tokens)


def _pieces(model, tokenizer, prompt, *, n_predict, sampler, add_bos, parse_special, special, stats):
    # everything that can fail on input is checked before the first piece is asked for
    sampler = sampler if sampler is not None else Sampler()
    stats = stats if stats is not None else GenerationStats()
    if add_bos is None:
        add_bos = tokenizer.add_bos
    toks = tokenizer.tokenize(prompt, add_special=False, parse_special=parse_special)
    if add_bos and tokenizer.bos_id is not None and (not toks or toks[0] != tokenizer.bos_id):
        toks = [tokenizer.bos_id] + toks
    if not toks:
        raise GGUFError("generate: the prompt is empty (no tokens to start from)")
    n_ctx = model.n_ctx
    if len(toks) > n_ctx:
        raise GGUFError(f"generate: the prompt is {len(toks)} tokens, longer than the context ({n_ctx}); "
                        f"shorten it or raise the context size")
    return _run(model, tokenizer, toks, n_predict, sampler, special, stats)


def _run(model, tokenizer, toks, n_predict, sampler, special, stats):
    history = list(toks)
    eog = tokenizer.eog_ids
    n_ctx = model.n_ctx
    stats.n_prompt = len(toks)
    t0 = time.perf_counter()
    logits = model.eval(np.asarray(toks, dtype=np.int32), 0, all_logits=False)
    t1 = time.perf_counter()
    stats.prompt_s = t1 - t0
    n_past = len(toks)
    stats.stop_reason = "n_predict"
    t = time.perf_counter()
    while n_predict < 0 or stats.n_gen < n_predict:
        tok = sampler.sample(np.asarray(logits).reshape(-1), history)
        if tok in eog:
            stats.stop_reason = "eog"
            break
        history.append(tok)
        stats.tokens.append(tok)
        stats.n_gen += 1
        stats.gen_s += time.perf_counter() - t
        yield tokenizer.token_to_piece(tok, special=special)  # the consumer's time is not counted
        t = time.perf_counter()
        if stats.n_gen == n_predict:
            break
        if n_past >= n_ctx:
            stats.stop_reason = "context"
            break
        logits = model.eval(np.asarray([tok], dtype=np.int32), n_past, all_logits=False)
        n_past += 1
    stats.gen_s += time.perf_counter() - t
