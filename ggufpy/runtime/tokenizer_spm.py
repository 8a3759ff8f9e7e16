"""Tokenizers without a merges list: SentencePiece BPE (``llama``) and WordPiece (``bert``).

Sources (llama.cpp 0c1e570, ``src/llama-vocab.cpp``): ``llm_tokenizer_spm_session`` and
``llm_tokenizer_wpm_session``.

SPM (``tokenizer.ggml.model`` "llama"), per raw-text fragment whose spaces are already U+2581:

1. The symbols are the fragment's characters. A priority queue holds every adjacent pair whose
   concatenation is a token, highest token score first, ties to the leftmost pair
   (``llm_bigram_spm::comparator``). The top pair is merged unless a side changed since it was
   queued; then the pairs with the new symbol's neighbours are queued.
2. Every merged symbol is a token by construction; a single character that is not one becomes one
   token per UTF-8 byte (``<0xXX>``, else the one-byte string).

WPM (``tokenizer.ggml.model`` "bert"): the text is split at whitespace, controls and NUL/U+FFFD are
dropped, punctuation, ASCII symbols and CJK ideographs become one-character words; optional
lowercasing and accent stripping (first code point of the NFD form, then marks dropped). Each word,
prefixed with U+2581, is cut greedily into the longest tokens, by bytes; a word with any
unmatched position becomes ``[UNK]``.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from itertools import chain

import numpy as np

from ..errors import GGUFFormatError
from .pretokenize import ACCENT_MARK, CONTROL, PUNCTUATION, SYMBOL, WHITESPACE, cpt_flags

_CACHE_MAX = 1 << 18  # cached segments; the cache is dropped and refilled past this
_INNER_SPACE = re.compile("[^\u2581]\u2581")


class SPMTokenizer:
    """llama.cpp's SentencePiece-style BPE over token scores.

    Args:
        token_to_id: token text -> id.
        scores: score of each id (float32 values as Python floats).
        byte_to_token: id of the byte fallback token for a byte value.
    """

    def __init__(self, token_to_id: Mapping[str, int], scores: Sequence[float],
                 byte_to_token: Callable[[int], int]):
        self.token_to_id = token_to_id
        self.scores = scores
        self.byte_to_token = byte_to_token
        # When no token has U+2581 after another character (true of Llama-2, Phi-3, Baichuan), no
        # symbol can ever span "x|▁", so the text can be cut there into independent segments:
        # each is merged alone and cached, which makes long texts cost a lookup per word.
        splittable = not any(_INNER_SPACE.search(t) for t in token_to_id)
        self._segments = re.compile("▁*[^▁]+|▁+") if splittable else None
        self._cache: dict[str, list[int]] = {}

    def tokenize(self, text: str, out: list[int]) -> None:
        """Append the ids of ``text`` (one fragment, spaces already escaped) to ``out``."""
        if self._segments is None:
            self._merge(text, out)
            return
        cache = self._cache
        if len(cache) > _CACHE_MAX:
            cache.clear()
        segments = self._segments.findall(text)
        for seg in {s for s in segments if s not in cache}:
            cache[seg] = ids = []
            self._merge(seg, ids)
        out += chain.from_iterable(map(cache.__getitem__, segments))

    def _merge(self, text: str, out: list[int]) -> None:
        token_to_id, scores = self.token_to_id, self.scores
        n = len(text)
        if n == 0:
            return
        sym = list(text)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        # (-score, left, right, len(left) + len(right)): a max-heap on score, then leftmost.
        heap = []
        for i in range(n - 1):
            tok = token_to_id.get(text[i : i + 2])
            if tok is not None:
                heap.append((-scores[tok], i, i + 1, 2))
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
                tok = token_to_id.get(p + merged)
                if tok is not None:
                    push(heap, (-scores[tok], before, left, len(p) + len(merged)))
            if after != -1:
                q = sym[after]
                tok = token_to_id.get(merged + q)
                if tok is not None:
                    push(heap, (-scores[tok], left, after, len(merged) + len(q)))
        i = 0
        while i != -1:
            s = sym[i]
            tok = token_to_id.get(s)
            if tok is not None:
                out.append(tok)
            else:
                out.extend(self.byte_to_token(b) for b in s.encode("utf-8"))
            i = nxt[i]


def _is_chinese_char(cpt: int) -> bool:
    """llm_tokenizer_wpm_session::is_chinese_char (with its 0x2B920 lower bound, as in HF)."""
    return (0x4E00 <= cpt <= 0x9FFF or 0x3400 <= cpt <= 0x4DBF or 0x20000 <= cpt <= 0x2A6DF
            or 0x2A700 <= cpt <= 0x2B73F or 0x2B740 <= cpt <= 0x2B81F or 0x2B920 <= cpt <= 0x2CEAF
            or 0xF900 <= cpt <= 0xFAFF or 0x2F800 <= cpt <= 0x2FA1F)


def simple_lower(c: str) -> str:
    """``unicode_tolower``: UnicodeData's simple lowercase mapping (one code point to one)."""
    low = c.lower()
    if len(low) == 1:
        return low
    return "i" if c == "\u0130" else c  # U+0130's full lowercase is "i" + U+0307, its simple one "i"


def nfd_first(c: str) -> str:
    """``unicode_cpts_normalize_nfd``: the first code point of the NFD form."""
    return unicodedata.normalize("NFD", c)[0]


class WPMTokenizer:
    """llama.cpp's WordPiece (BERT) tokenizer.

    Args:
        token_to_id: token text -> id.
        unk_id: the id of ``[UNK]``.
        lowercase: ``tokenizer.ggml.normalizer.lowercase``.
        strip_accents: ``tokenizer.ggml.normalizer.strip_accents``.
    """

    def __init__(self, token_to_id: Mapping[str, int], unk_id: int | None, *, lowercase: bool,
                 strip_accents: bool):
        self.bytes_to_id = {t.encode("utf-8"): i for t, i in token_to_id.items()}
        self.max_token_len = max((len(b) for b in self.bytes_to_id), default=0)
        self.unk_id = unk_id
        self.lowercase = lowercase
        self.strip_accents = strip_accents

    def preprocess(self, text: str) -> list[str]:
        """llm_tokenizer_wpm_session::preprocess: the words of ``text``."""
        words = [""]
        for c in text:
            if self.strip_accents:
                c = nfd_first(c)
            cpt = ord(c)
            flags = cpt_flags(cpt)
            if flags & WHITESPACE:
                if words[-1]:
                    words.append("")
                continue
            if cpt == 0 or cpt == 0xFFFD or flags & CONTROL:
                continue
            if self.strip_accents and flags & ACCENT_MARK:
                continue
            s = simple_lower(c) if self.lowercase else c
            if flags & PUNCTUATION or (cpt < 0x7F and flags & SYMBOL) or _is_chinese_char(cpt):
                if words[-1]:
                    words.append("")
                words[-1] = s
                words.append("")
            else:
                words[-1] += s
        if not words[-1]:
            words.pop()
        return words

    def tokenize(self, text: str, out: list[int]) -> None:
        """Append the ids of ``text`` (one raw-text fragment) to ``out``."""
        bytes_to_id, max_len = self.bytes_to_id, self.max_token_len
        for word in self.preprocess(text):
            if not word:
                continue
            w = ("\u2581" + word).encode("utf-8")
            n = len(w)
            n_before = len(out)
            i = 0
            while i < n:
                for j in range(min(n, i + max_len + 1), i, -1):
                    tok = bytes_to_id.get(w[i:j])
                    if tok is not None:
                        out.append(tok)
                        i = j
                        break
                else:
                    del out[n_before:]
                    break
            if len(out) == n_before:
                out.append(self.unk_id)


class UGMTokenizer:
    """llama.cpp's Unigram (T5-style) tokenizer: charsmap normalization, then Viterbi on scores.

    Normalization (``llm_tokenizer_ugm_session::normalize``): at each byte, a prefix of a
    user-defined token passes through as is (``naive_trie::get_longest_prefix`` stops where the trie
    path ends, complete token or not); else the longest match in the precompiled charsmap (a
    XOR-compressed double array, then NUL-terminated replacements) is replaced; else one UTF-8
    character passes. Spaces become U+2581 (``escape_whitespaces``), one is put before the first
    non-space run (``add_space_prefix``) and, with ``remove_extra_whitespaces``, before every run
    instead of keeping the original spaces.

    Viterbi (``llm_tokenizer_ugm_session::tokenize``): over byte offsets, each token that starts
    at a character boundary scores its (float32) score, user-defined tokens 0, in float64 sums; a
    character no single token covers costs ``min normal score - 10`` (float32) as ``[UNK]``; ties
    keep the first champion (strict ``>``). Consecutive unknowns merge into one.

    Args:
        token_to_id: token text -> id.
        scores: score of each id.
        attrs: attribute bits of each id (NORMAL 4, USER_DEFINED 16, UNUSED 2).
        unk_id: id of the unknown token.
        charsmap: ``tokenizer.ggml.precompiled_charsmap`` bytes (may be empty).
        add_space_prefix, remove_extra_whitespaces, escape_whitespaces: the vocabulary's flags.
    """

    def __init__(self, token_to_id: Mapping[str, int], scores: Sequence[float], attrs: Sequence[int],
                 unk_id: int | None, charsmap: bytes, *, add_space_prefix: bool, remove_extra_whitespaces: bool,
                 escape_whitespaces: bool = True):
        normal, user_defined, unused = 1 << 2, 1 << 4, 1 << 1  # tokenizer.ATTR_* (no import cycle)
        self.matcher: dict[bytes, int] = {}
        self.user_prefixes: set[bytes] = set()
        min_score = np.float32(np.inf)
        for text, i in token_to_id.items():
            a = attrs[i]
            if a & normal:
                min_score = min(min_score, np.float32(scores[i]))
            if a & (normal | user_defined | unused):
                b = text.encode("utf-8")
                self.matcher[b] = i
                if a & user_defined:
                    self.user_prefixes.update(b[:k] for k in range(1, len(b) + 1))
        self.max_len = max((len(b) for b in self.matcher), default=0)
        self.user_ids = {i for i in self.matcher.values() if attrs[i] & user_defined}
        self.unknown_score = float(np.float32(min_score) - np.float32(10.0))
        self.scores, self.unk_id = scores, unk_id
        self.space = "\u2581".encode() if escape_whitespaces else b" "
        self.prepend, self.merge_spaces = add_space_prefix, remove_extra_whitespaces
        self.xcda: Sequence[int] = ()
        self.replacements = b""
        if len(charsmap):
            size = int.from_bytes(charsmap[:4], "little")
            if size + 4 >= len(charsmap):
                raise _charsmap_error(f"XCDA blob size {size} leaves no replacements in {len(charsmap)} bytes")
            self.xcda = np.frombuffer(charsmap[4 : 4 + size - size % 4], dtype="<u4").tolist()
            self.replacements = bytes(charsmap[4 + size :])

    def _xcda_node(self, index: int) -> int:
        if index >= len(self.xcda):
            raise _charsmap_error(f"XCDA index {index} outside {len(self.xcda)} entries")
        return self.xcda[index]

    def _normalize_prefix(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """(replacement, bytes consumed) at ``pos`` (``normalize_prefix``)."""
        k = 0
        while pos + k < len(data) and data[pos : pos + k + 1] in self.user_prefixes:
            k += 1
        if k:
            return data[pos : pos + k], k
        best_len, best_off = 0, 0
        if self.xcda:
            node = self._xcda_node(0)
            index = (node >> 10) << ((node & (1 << 9)) >> 6)  # BASE of the root
            for p in range(pos, len(data)):
                c = data[p]
                if c == 0:
                    break
                index ^= c
                node = self._xcda_node(index)
                if node & ((1 << 31) | 0xFF) != c:  # LCHECK
                    break
                leaf = (node >> 8) & 1
                index ^= (node >> 10) << ((node & (1 << 9)) >> 6)
                if leaf:
                    best_len = p - pos + 1
                    best_off = self._xcda_node(index) & ((1 << 31) - 1)
        if best_len:
            if best_off >= len(self.replacements):
                raise _charsmap_error(f"replacement offset {best_off} outside {len(self.replacements)} bytes")
            end = self.replacements.find(b"\0", best_off)
            if end == -1:
                raise _charsmap_error(f"unterminated replacement at offset {best_off}")
            return self.replacements[best_off:end], best_len
        n = _utf8_len(data[pos])
        return data[pos : pos + n], n  # input came from a str: always valid UTF-8

    def normalize(self, text: str) -> bytes:
        data = text.encode("utf-8")
        out = bytearray()
        space, prepend, merge = self.space, self.prepend, self.merge_spaces
        prepended = in_word = False
        pos = 0
        while pos < len(data):
            piece, used = self._normalize_prefix(data, pos)
            for c in piece:
                if c != 0x20:
                    if not in_word:
                        in_word = True
                        if (prepend and not prepended) or merge:
                            out += space
                            prepended = True
                    out.append(c)
                else:
                    in_word = False
                    if not merge:
                        out += space
            pos += used
        return bytes(out)

    def tokenize(self, text: str, out: list[int]) -> None:
        """Append the ids of ``text`` (one raw-text fragment) to ``out``."""
        data = self.normalize(text)
        n = len(data)
        if n == 0:
            return
        matcher, scores, user_ids, unk = self.matcher, self.scores, self.user_ids, self.unk_id
        best_tok = [unk] * (n + 1)
        best_from = [0] * (n + 1)
        best_score = [-float("inf")] * (n + 1)  # C++: -DBL_MAX, below every real sum
        best_score[0] = 0.0
        pos = 0
        while pos < n:
            char_len = min(_utf8_len(data[pos]), n - pos)
            base = best_score[pos]
            single = False
            for length in range(1, min(self.max_len, n - pos) + 1):
                tok = matcher.get(data[pos : pos + length])
                if tok is None:
                    continue
                if length == char_len:
                    single = True
                score = base + (0.0 if tok in user_ids else scores[tok])
                if score > best_score[pos + length]:
                    best_tok[pos + length], best_from[pos + length], best_score[pos + length] = tok, pos, score
            if not single:
                score = base + self.unknown_score
                if score > best_score[pos + char_len]:
                    best_tok[pos + char_len], best_from[pos + char_len], best_score[pos + char_len] = unk, pos, score
            pos += char_len
        ids: list[int] = []
        at, prev_unknown = n, False
        while True:
            unknown = best_tok[at] == unk
            if not (prev_unknown and unknown):
                ids.append(best_tok[at])
            if best_from[at] == 0:
                break
            prev_unknown = unknown
            at = best_from[at]
        out += reversed(ids)


def _utf8_len(lead: int) -> int:
    """``unicode_len_utf8``: sequence length from the lead byte's high nibble."""
    return (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4)[lead >> 4]


def _charsmap_error(what: str) -> GGUFFormatError:
    return GGUFFormatError(f"tokenizer.ggml.precompiled_charsmap: {what}")
