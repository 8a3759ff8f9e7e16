"""BPE with merge ranks, as llama.cpp's ``llm_tokenizer_bpe_session`` (``src/llama-vocab.cpp``).

``tokenizer.ggml.model`` "gpt2" (byte-level: every UTF-8 byte of a pre-token becomes one GPT-2
character first) and "gemma4" (SentencePiece-style: spaces already escaped to U+2581, merges on the
raw characters, ``<0xXX>`` byte fallback).

Per pre-token word (``pretokenize.Pretokenizer``):

1. With ``ignore_merges`` (llama3, tekken, ...), a word that is itself a token is emitted as is;
   Gemma-4 does the same for newline-only words.
2. The symbols are the word's characters. A priority queue holds every adjacent pair that has a
   merge rank, lowest rank first, ties to the leftmost pair (``llm_bigram_bpe::comparator``). The
   top pair is merged unless one side has changed since it was queued; then the pairs with the new
   symbol's neighbours are queued.
3. Each final symbol is looked up; one that is not a token falls back to one token per byte: the
   single-byte string for byte-level BPE (only ASCII bytes can match, the rest are dropped, as in
   llama.cpp) or ``<0xXX>`` for Gemma-4.

Results are cached per word: natural text repeats its words, so most of a long text costs one
dictionary lookup per word.
"""

from __future__ import annotations

import heapq
from itertools import chain
from collections.abc import Mapping, Sequence

from .pretokenize import BYTE_ENCODE, Pretokenizer

_CACHE_MAX = 1 << 18  # words; the cache is dropped and refilled past this


def parse_merges(merges: Sequence[str]) -> dict[tuple[str, str], int]:
    """``tokenizer.ggml.merges`` -> {(left, right): rank}, split at the first space after position 0
    and first occurrence kept (``bpe_ranks.emplace``); a line without such a space ranks ("", "")."""
    ranks: dict[tuple[str, str], int] = {}
    for rank, merge in enumerate(merges):
        pos = merge.find(" ", 1)
        pair = (merge[:pos], merge[pos + 1 :]) if pos != -1 else ("", "")
        if pair not in ranks:
            ranks[pair] = rank
    return ranks


class BPETokenizer:
    """The BPE half of llama.cpp's tokenizer for one vocabulary.

    Args:
        token_to_id: token text -> id (the last id wins for duplicated texts, like llama.cpp).
        ranks: from ``parse_merges``.
        pretokenizer: splits fragment text into words.
        byte_encode: GPT-2 byte-level encoding of each word (False for Gemma-4).
        ignore_merges: emit a word that is a token without merging.
        newline_words_whole: Gemma-4's rule for words made only of ``\\n``.
    """

    def __init__(self, token_to_id: Mapping[str, int], ranks: Mapping[tuple[str, str], int],
                 pretokenizer: Pretokenizer, *, byte_encode: bool = True, ignore_merges: bool = False,
                 newline_words_whole: bool = False):
        self.token_to_id = token_to_id
        self.ranks = ranks
        self.pretokenizer = pretokenizer
        self.byte_encode = byte_encode
        self.ignore_merges = ignore_merges
        self.newline_words_whole = newline_words_whole
        self._cache: dict[str, list[int]] = {}

    def tokenize(self, text: str, out: list[int]) -> None:
        """Append the ids of ``text`` (one raw-text fragment) to ``out``."""
        cache = self._cache
        if len(cache) > _CACHE_MAX:
            cache.clear()
        ends = self.pretokenizer.bounds(text)
        words = list(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))
        for word in {w for w in words if w not in cache}:
            cache[word] = self._word_ids(word)
        out += chain.from_iterable(map(cache.__getitem__, words))

    def _word_ids(self, word: str) -> list[int]:
        token_to_id = self.token_to_id
        if self.byte_encode:
            word = word.encode("utf-8").decode("latin-1").translate(BYTE_ENCODE)
        if self.ignore_merges or (self.newline_words_whole and not word.strip("\n")):
            tok = token_to_id.get(word)
            if tok is not None:
                return [tok]
        ids = []
        for sym in self._merge(word):
            tok = token_to_id.get(sym)
            if tok is not None:
                ids.append(tok)
            elif self.byte_encode:
                # llama.cpp looks up each UTF-8 byte of the symbol as a one-byte string
                ids.extend(t for b in sym.encode("utf-8") if b < 0x80
                           and (t := token_to_id.get(chr(b))) is not None)
            else:
                ids.extend(t for b in sym.encode("utf-8")
                           if (t := token_to_id.get(f"<0x{b:02X}>")) is not None)
        return ids

    def _merge(self, word: str) -> list[str]:
        """The symbols left after merging (llm_tokenizer_bpe_session::tokenize's inner loop)."""
        n = len(word)
        if n < 2:
            return [word] if n else []
        ranks = self.ranks
        sym = list(word)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        # (rank, left, right, len(left) + len(right)); the length tells a stale entry apart:
        # symbols only grow, and the left one grows only by absorbing the right one.
        heap = [(r, i, i + 1, 2) for i in range(n - 1) if (r := ranks.get((word[i], word[i + 1]))) is not None]
        if not heap:
            return sym
        heapq.heapify(heap)
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            _, left, right, size = pop(heap)
            a, b = sym[left], sym[right]
            if not a or not b or len(a) + len(b) != size:
                continue
            merged = sym[left] = a + b
            sym[right] = ""
            after = nxt[left] = nxt[right]
            if after != -1:
                prv[after] = left
            before = prv[left]
            if before != -1:
                p = sym[before]
                r = ranks.get((p, merged))
                if r is not None:
                    push(heap, (r, before, left, len(p) + len(merged)))
            if after != -1:
                q = sym[after]
                r = ranks.get((merged, q))
                if r is not None:
                    push(heap, (r, left, after, len(merged) + len(q)))
        return [s for s in sym if s]
