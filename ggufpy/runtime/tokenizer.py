"""Tokenizers built from GGUF metadata alone, equal to llama.cpp's ``llama_tokenize``/``llama_detokenize``.

Sources (llama.cpp 0c1e570, ``src/llama-vocab.cpp``): ``llama_vocab::impl::load`` (types, defaults,
special ids, attribute fix-ups, the end-of-generation set), ``tokenizer_st_partition`` (special
tokens), ``impl::tokenize``, ``impl::token_to_piece`` and ``impl::detokenize``. The per-model
algorithms live in ``tokenizer_bpe`` (gpt2, gemma4), ``tokenizer_spm`` (llama, bert, t5) and
``pretokenize`` (the regex splits).

Supported ``tokenizer.ggml.model``: "llama" (SPM), "gpt2" and "gemma4" (BPE), "bert" (WPM), "t5"
(UGM). Others ("rwkv", "plamo2", "hybriddna", "whitespace", ...) raise ``UnsupportedTypeError``.

Known difference: when several tokens could be the EOT (or a FIM) token by their text and the file
names none, llama.cpp takes the first in ``std::unordered_map`` iteration order (hash order, so
libstdc++-specific); we take the first in llama.cpp's list of candidate texts ("<|eot_id|>",
"<|im_end|>", "<|end|>", ... "<|endoftext|>"). The end-of-generation set, which holds every EOT
candidate, is the same either way; only ``eot_id`` can differ (SmolLM2: llama.cpp says 0
"<|endoftext|>", we say 2 "<|im_end|>"; Llama-3, Phi-3 and Qwen2 agree).

Example:
    >>> tok = Tokenizer.from_gguf(ggufpy.GGUFReader("model.gguf"))
    >>> ids = tok.tokenize("Hello world", add_special=True)
    >>> tok.detokenize(ids, skip_special=True)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import GGUFFormatError, UnsupportedTypeError
from ..format.keys import General, Tokenizer as K
from ..format.pre_tokenizers import PRE_TOKENIZERS
from .pretokenize import REGEXES, UNICODE_TO_BYTE, Pretokenizer
from .tokenizer_bpe import BPETokenizer, parse_merges
from .tokenizer_spm import SPMTokenizer, UGMTokenizer, WPMTokenizer

# ---- token attributes (llama.h ``llama_token_attr``) -------------------------------------------------

ATTR_UNDEFINED, ATTR_UNKNOWN, ATTR_UNUSED, ATTR_NORMAL, ATTR_CONTROL = 0, 1 << 0, 1 << 1, 1 << 2, 1 << 3
ATTR_USER_DEFINED, ATTR_BYTE, ATTR_NORMALIZED, ATTR_LSTRIP, ATTR_RSTRIP = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
# ``tokenizer.ggml.token_type`` (llama_token_type) -> attribute; other values are UNDEFINED.
_TYPE_TO_ATTR = {1: ATTR_NORMAL, 2: ATTR_UNKNOWN, 3: ATTR_CONTROL, 4: ATTR_USER_DEFINED, 5: ATTR_UNUSED,
                 6: ATTR_BYTE}

_C_SPACE = " \t\n\v\f\r"  # isspace() in the C locale: what lstrip/rstrip remove next to a special token

# ---- special-token detection by text (impl::load) ---------------------------------------------------
_EOT_TEXTS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
              "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>")
_EOM_TEXTS = ("<|eom_id|>",)
_FIM_TEXTS = {
    "fim_pre": ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                "<|code_prefix|>", "<|prefix|>"),
    "fim_suf": ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                "<|code_suffix|>", "<|suffix|>"),
    "fim_mid": ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                "<|code_middle|>", "<|middle|>"),
    "fim_pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "fim_rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "fim_sep": ("<|file_sep|>",),
}
_EOG_TEXTS = frozenset([
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
])
_ALWAYS_RENDERED = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")  # gpt-oss: user-defined

# (special name, metadata key); the last three are deprecated spellings of the FIM ids.
_SPECIAL_KEYS = (
    ("bos", K.BOS_ID), ("eos", K.EOS_ID), ("eot", K.EOT_ID), ("eom", "tokenizer.ggml.eom_token_id"),
    ("unk", K.UNK_ID), ("sep", "tokenizer.ggml.seperator_token_id"), ("pad", K.PAD_ID),
    ("mask", "tokenizer.ggml.mask_token_id"), ("fim_pre", "tokenizer.ggml.fim_pre_token_id"),
    ("fim_suf", "tokenizer.ggml.fim_suf_token_id"), ("fim_mid", "tokenizer.ggml.fim_mid_token_id"),
    ("fim_pad", "tokenizer.ggml.fim_pad_token_id"), ("fim_rep", "tokenizer.ggml.fim_rep_token_id"),
    ("fim_sep", "tokenizer.ggml.fim_sep_token_id"), ("fim_pre", "tokenizer.ggml.prefix_token_id"),
    ("fim_suf", "tokenizer.ggml.suffix_token_id"), ("fim_mid", "tokenizer.ggml.middle_token_id"),
)
# Default special ids per vocabulary type (bos, eos, unk, sep, pad, mask); None = LLAMA_TOKEN_NULL.
_DEFAULT_IDS = {
    "spm": dict(bos=1, eos=2, unk=0),
    "wpm": dict(bos=101, unk=100, sep=102, pad=0, mask=103),
    "bpe": dict(bos=11, eos=11),
    "ugm": dict(eos=1, unk=2, pad=0),
    "gemma4": {},
}


class Tokenizer:
    """A GGUF file's tokenizer, token for token equal to llama.cpp's.

    Build it with ``Tokenizer.from_gguf``. Ids are plain ints; ``None`` stands for llama.cpp's
    ``LLAMA_TOKEN_NULL`` in the special-id attributes.
    """

    def __init__(self, metadata: Mapping[str, Any]):
        self._load(metadata)

    @classmethod
    def from_gguf(cls, source: Any) -> Tokenizer:
        """Build from a ``GGUFReader``, its ``metadata`` mapping, or a path to a GGUF file.

        Raises:
            GGUFFormatError: missing or malformed ``tokenizer.ggml.*`` keys.
            UnsupportedTypeError: a tokenizer model or pre-tokenizer ggufpy does not implement.
        """
        if isinstance(source, (str, os.PathLike)):
            from ..format import GGUFReader

            reader = GGUFReader(source)
            try:
                return cls(reader.metadata)
            finally:
                reader.close()
        return cls(source.metadata if hasattr(source, "metadata") else source)

    # ---- loading (llama_vocab::impl::load) -------------------------------------------------------

    def _load(self, md: Mapping[str, Any]) -> None:
        model = md.get(K.MODEL)
        if not isinstance(model, str):
            raise GGUFFormatError(f"{K.MODEL}: missing or not a string (got {type(model).__name__})")
        pre = md.get(K.PRE, "")
        self.model, self.pre = model, pre
        if model == "llama":
            kind = "spm"
        elif model == "bert":
            kind = "wpm"
        elif model in ("gpt2", "gemma4"):
            kind = "bpe"
        elif model == "t5":
            kind = "ugm"
        else:
            raise UnsupportedTypeError(f"tokenizer model {model!r} ({K.MODEL}) is not supported; "
                                       "supported: 'llama', 'gpt2', 'gemma4', 'bert', 't5'")
        self.kind = kind
        ids: dict[str, int | None] = dict.fromkeys(
            ["bos", "eos", "eot", "eom", "unk", "sep", "pad", "mask", "fim_pre", "fim_suf", "fim_mid", "fim_pad",
             "fim_rep", "fim_sep"])
        ids.update(_DEFAULT_IDS["gemma4" if model == "gemma4" else kind])

        # flags, defaults per type and pre-tokenizer
        self.add_space_prefix = kind == "spm"
        self.add_bos = kind in ("spm", "wpm")
        self.add_eos = kind == "ugm"
        self.add_sep = kind == "wpm"
        self.clean_spaces = kind in ("bpe", "wpm")
        escape_whitespaces = kind != "bpe"
        ignore_merges = False
        regex_group = None
        if kind == "bpe":
            if model == "gemma4":
                pre = "gemma4"
            if pre == "":
                pre = "default"  # llama.cpp warns: missing pre-tokenizer type
            if pre not in PRE_TOKENIZERS:
                raise UnsupportedTypeError(f"pre-tokenizer {pre!r} ({K.PRE}) is not supported")
            regex_group, flags = PRE_TOKENIZERS[pre]
            ignore_merges = "i" in flags
            self.add_bos = "b" in flags
            self.add_sep = "s" in flags
            self.clean_spaces = "c" not in flags
            escape_whitespaces = "e" in flags
            if "n" in flags:
                ids["bos"] = None
        self.add_space_prefix = bool(md.get("tokenizer.ggml.add_space_prefix", self.add_space_prefix))
        self.remove_extra_whitespaces = bool(md.get("tokenizer.ggml.remove_extra_whitespaces", False))
        self.escape_whitespaces = escape_whitespaces

        # the vocabulary
        tokens = md.get(K.TOKENS)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens[:1]):
            raise GGUFFormatError(f"{K.TOKENS}: missing or not a string array")
        n = len(tokens)
        texts = [t if t else f"[EMPTY_{i}]" for i, t in enumerate(tokens)]
        self._texts = texts
        self.token_to_id: dict[str, int] = {t: i for i, t in enumerate(texts)}  # last duplicate wins
        scores = md.get(K.SCORES)
        if scores is not None and len(scores) < n:
            raise GGUFFormatError(f"{K.SCORES}: {len(scores)} entries, expected at least {n}")
        # float32 (or int32) scores as Python floats; copies, so nothing keeps the file mapped
        self._scores = np.asarray(scores[:n], dtype=np.float32).tolist() if scores is not None else [0.0] * n
        types = md.get(K.TOKEN_TYPE)
        if types is not None and len(types) < n:
            raise GGUFFormatError(f"{K.TOKEN_TYPE}: {len(types)} entries, expected at least {n}")
        attrs = [_TYPE_TO_ATTR.get(t, ATTR_UNDEFINED) for t in np.asarray(types[:n], dtype=np.int64).tolist()] \
            if types is not None else [ATTR_NORMAL] * n
        self._attrs = attrs

        # special ids from the file, range-checked like llama.cpp
        for name in ids:
            if ids[name] is not None and ids[name] >= n:
                ids[name] = None
        for name, key in _SPECIAL_KEYS:
            value = md.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n:
                ids[name] = value
        for key, attr in (("tokenizer.ggml.add_bos_token", "add_bos"), ("tokenizer.ggml.add_eos_token", "add_eos"),
                          ("tokenizer.ggml.add_sep_token", "add_sep")):
            if key in md:
                setattr(self, attr, bool(md[key]))
        if regex_group == "newlines" and pre in ("gemma4", "granite-embed-multi-311m") and not self.add_bos:
            self.add_bos = True  # llama.cpp's Gemma-4 override
        self.lowercase = bool(md.get("tokenizer.ggml.normalizer.lowercase", True))  # BertNormalizer default
        self.strip_accents = bool(md.get("tokenizer.ggml.normalizer.strip_accents", self.lowercase))

        self._detect_special(ids)
        self._ids = ids
        self._special_cache = sorted(
            (i for i in range(n) if attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)),
            key=lambda i: -len(texts[i].encode("utf-8")),
        )
        self._set_strip_attrs(md)
        self._pieces: list[bytes | None] = [None] * n

        # the per-type tokenizer
        if kind == "spm":
            self._impl = SPMTokenizer(self.token_to_id, self._scores, self._byte_to_token)
        elif kind == "wpm":
            self._impl = WPMTokenizer(self.token_to_id, ids["unk"], lowercase=self.lowercase,
                                      strip_accents=self.strip_accents)
        elif kind == "ugm":
            charsmap = md.get("tokenizer.ggml.precompiled_charsmap")
            self._impl = UGMTokenizer(
                self.token_to_id, self._scores, attrs, ids["unk"],
                bytes(memoryview(charsmap).cast("B")) if charsmap is not None else b"",
                add_space_prefix=self.add_space_prefix, remove_extra_whitespaces=self.remove_extra_whitespaces,
            )
        else:
            merges = md.get(K.MERGES)
            if not isinstance(merges, list):
                raise GGUFFormatError(f"{K.MERGES}: missing or not a string array (needed by {model!r})")
            self._impl = BPETokenizer(
                self.token_to_id, parse_merges(merges), Pretokenizer(REGEXES[regex_group]),
                byte_encode=regex_group not in ("newlines", "whitespace"), ignore_merges=ignore_merges,
                newline_words_whole=regex_group == "newlines" and pre != "sarvam-moe",
            )

    def _detect_special(self, ids: dict[str, int | None]) -> None:
        """EOT/EOM/FIM detection by text, 'unused' control tokens, and the end-of-generation set."""
        attrs, token_to_id = self._attrs, self.token_to_id
        by_id = sorted((i, t) for t, i in token_to_id.items())

        def detect(name: str, candidates: Iterable[str]) -> None:
            if ids[name] is not None:
                return
            for t in candidates:
                if t in token_to_id:
                    ids[name] = i = token_to_id[t]
                    attrs[i] |= ATTR_CONTROL
                    return

        detect("eot", _EOT_TEXTS)
        detect("eom", _EOM_TEXTS)
        for name, candidates in _FIM_TEXTS.items():
            detect(name, candidates)
        for i, t in by_id:
            if attrs[i] & ATTR_CONTROL and "unused" in t:
                attrs[i] |= ATTR_UNUSED

        eog = {ids[k] for k in ("fim_pad", "fim_rep", "fim_sep") if ids[k] is not None}
        for i, t in by_id:
            if t in _EOG_TEXTS:
                eog.add(i)
                attrs[i] |= ATTR_CONTROL
        for t in _ALWAYS_RENDERED:
            if t in token_to_id:
                attrs[token_to_id[t]] = ATTR_USER_DEFINED
        eog.update(ids[k] for k in ("eos", "eot", "eom") if ids[k] is not None)
        texts = self._texts
        # gpt-oss / solar-open: "<|end|>" is not end-of-generation next to "<|return|>"/"<|call|>" etc.
        eog_texts = {texts[i]: i for i in eog}
        has_call = "<|call|>" in eog_texts or "<|calls|>" in eog_texts
        if "<|end|>" in eog_texts and has_call and ("<|return|>" in eog_texts or "<|flush|>" in eog_texts):
            end = eog_texts["<|end|>"]
            eog.discard(end)
            attrs[end] = ATTR_USER_DEFINED
        # Gemma-4 and PLaMo have a normal "</s>"
        if "</s>" in eog_texts and ("<|tool_response>" in eog_texts or "<|plamo:eos|>" in eog_texts):
            eog.discard(eog_texts["</s>"])
            attrs[eog_texts["</s>"]] = ATTR_NORMAL
        self._eog = frozenset(eog)

    def _set_strip_attrs(self, md: Mapping[str, Any]) -> None:
        """Per-model LSTRIP/RSTRIP attributes, chosen by name as llama.cpp does."""
        attrs, token_to_id = self._attrs, self.token_to_id
        name = str(md.get(General.NAME, "")).lower()
        pre = str(md.get(K.PRE, ""))
        arch = str(md.get(General.ARCHITECTURE, ""))

        def set_attr(text: str, attr: int, on: bool) -> None:
            if text in token_to_id:
                i = token_to_id[text]
                attrs[i] = attrs[i] | attr if on else attrs[i] & ~attr

        if any(s in pre for s in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) \
                or any(s in arch for s in ("nomic-bert-moe", "jina-bert-v3")):
            set_attr("<mask>", ATTR_LSTRIP, True)
        elif "phi-3" in name or "phi3" in name:
            for i in self._special_cache:
                attrs[i] |= ATTR_RSTRIP
            set_attr("</s>", ATTR_RSTRIP, True)
            for t in ("<unk>", "<s>", "<|endoftext|>"):
                set_attr(t, ATTR_RSTRIP, False)
        elif "modern-bert" in name:
            set_attr("[MASK]", ATTR_LSTRIP, True)

    def _byte_to_token(self, b: int) -> int:
        """llama_vocab::byte_to_token for SPM: ``<0xXX>``, else the one-byte string."""
        tok = self.token_to_id.get(f"<0x{b:02X}>")
        if tok is None and b < 0x80:
            tok = self.token_to_id.get(chr(b))
        if tok is None:
            raise GGUFFormatError(f"{K.TOKENS}: no byte token <0x{b:02X}> for the byte fallback")
        return tok

    # ---- properties ------------------------------------------------------------------------------

    @property
    def n_vocab(self) -> int:
        return len(self._texts)

    @property
    def bos_id(self) -> int | None:
        return self._ids["bos"]

    @property
    def eos_id(self) -> int | None:
        return self._ids["eos"]

    @property
    def eot_id(self) -> int | None:
        return self._ids["eot"]

    @property
    def unk_id(self) -> int | None:
        return self._ids["unk"]

    @property
    def sep_id(self) -> int | None:
        return self._ids["sep"]

    @property
    def pad_id(self) -> int | None:
        return self._ids["pad"]

    @property
    def eog_ids(self) -> frozenset[int]:
        """Tokens that end generation (``llama_vocab_is_eog``)."""
        return self._eog

    def is_eog(self, token: int) -> bool:
        return token in self._eog

    def token_text(self, token: int) -> str:
        """The vocabulary entry of ``token`` (``llama_vocab_get_text``)."""
        return self._texts[token]

    def token_attr(self, token: int) -> int:
        """The ``ATTR_*`` bits of ``token`` after llama.cpp's fix-ups."""
        return self._attrs[token]

    # ---- tokenize (impl::tokenize) -----------------------------------------------------------------

    def _partition(self, text: str, parse_special: bool) -> list[int | tuple[int, int]]:
        """tokenizer_st_partition: ids for special tokens, (start, end) for raw text between them.

        Each special token, longest first, splits every raw fragment left by the previous ones;
        with ``parse_special`` off only user-defined tokens do.
        """
        frags: list[int | tuple[int, int]] = [(0, len(text))]
        texts, attrs = self._texts, self._attrs
        skip = 0 if parse_special else (ATTR_CONTROL | ATTR_UNKNOWN)
        for tok in self._special_cache:
            attr = attrs[tok]
            if attr & skip:
                continue
            special = texts[tok]
            if special not in text:
                continue
            size = len(special)
            new: list[int | tuple[int, int]] = []
            for frag in frags:
                if isinstance(frag, int):
                    new.append(frag)
                    continue
                start, end = frag
                while True:
                    match = text.find(special, start, end)
                    if match == -1:
                        new.append((start, end))
                        break
                    left = match
                    if attr & ATTR_LSTRIP:
                        while left > start and text[left - 1] in _C_SPACE:
                            left -= 1
                    if left > start:
                        new.append((start, left))
                    new.append(tok)
                    start = match + size
                    if attr & ATTR_RSTRIP:
                        while start < end and text[start] in _C_SPACE:
                            start += 1
                    if start >= end:
                        break
            frags = new
        return frags

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text``, as ``llama_tokenize(vocab, text, add_special, parse_special)``.

        Args:
            text: the input.
            add_special: add BOS/EOS (per ``add_bos_token``/``add_eos_token``; WPM adds [CLS]/[SEP]).
            parse_special: turn control-token texts in ``text`` into their ids (user-defined tokens
                are always matched).
        """
        frags = self._partition(text, parse_special) if text else []
        out: list[int] = []
        ids, kind, impl = self._ids, self.kind, self._impl
        if kind == "spm":
            if add_special and self.add_bos:
                out.append(ids["bos"])
            prev_special = True
            for frag in frags:
                if isinstance(frag, int):
                    out.append(frag)
                    prev_special = True
                    continue
                piece = text[frag[0] : frag[1]]
                if self.add_space_prefix and prev_special:
                    piece = " " + piece
                impl.tokenize(piece.replace(" ", "\u2581"), out)
                prev_special = False
            if add_special and self.add_eos:
                out.append(ids["eos"])
        elif kind in ("bpe", "ugm"):
            if add_special and self.add_bos:
                out.append(ids["bos"])
            for frag in frags:
                if isinstance(frag, int):
                    out.append(frag)
                    continue
                piece = text[frag[0] : frag[1]]
                escape = kind == "bpe" and self.escape_whitespaces  # UGM escapes in its normalizer
                impl.tokenize(piece.replace(" ", "\u2581") if escape else piece, out)
            if add_special and self.add_eos:
                out.append(ids["eos"])
        else:  # wpm
            if add_special:
                out.append(ids["bos"])
            for frag in frags:
                if isinstance(frag, int):
                    out.append(frag)
                else:
                    impl.tokenize(text[frag[0] : frag[1]], out)
            if add_special:
                out.append(ids["sep"])
        return out

    # ---- detokenize (impl::token_to_piece, impl::detokenize) -----------------------------------------

    def _piece(self, token: int) -> bytes:
        """token_to_piece with special=True (llama.cpp's cache_token_to_piece)."""
        piece = self._pieces[token]
        if piece is None:
            piece = self._pieces[token] = self._make_piece(token)
        return piece

    def _make_piece(self, token: int) -> bytes:
        attr, text = self._attrs[token], self._texts[token]
        if attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED):
            return text.encode("utf-8")
        if attr & ATTR_NORMAL:
            if self.kind != "bpe" or self.escape_whitespaces:
                return text.replace("\u2581", " ").encode("utf-8")
            out = bytearray()
            for c in text:  # llama_decode_text
                b = UNICODE_TO_BYTE.get(c)
                if b is not None:
                    out.append(b)
                else:
                    out += b"[UNK_BYTE_0x" + c.encode("utf-8").hex().encode() + text.encode("utf-8") + b"]"
            return bytes(out)
        if attr & ATTR_BYTE and self.kind != "wpm":
            value = 0  # strtol(text[3:5], 16): hex digits up to the first other character
            for c in text[3:5]:
                if c not in "0123456789abcdefABCDEF":
                    break
                value = value * 16 + int(c, 16)
            return bytes([value])
        return b""

    def token_to_piece(self, token: int, *, special: bool = True) -> bytes:
        """The bytes ``token`` stands for (``llama_token_to_piece``, lstrip 0).

        Pieces can be partial UTF-8 sequences (byte tokens): accumulate bytes and decode the whole.
        With ``special`` off, control and unknown tokens give b"".
        """
        if not 0 <= token < len(self._texts):
            raise IndexError(f"token id {token} outside the vocabulary [0, {len(self._texts)})")
        if not special and self._attrs[token] & (ATTR_UNKNOWN | ATTR_CONTROL):
            return b""
        return self._piece(token)

    def detokenize_bytes(self, tokens: Sequence[int], *, remove_special: bool = False,
                         unparse_special: bool = True) -> bytes:
        """``llama_detokenize(vocab, tokens, remove_special, unparse_special)`` as bytes."""
        tokens = list(tokens)
        ids = self._ids
        remove_space = self.add_space_prefix
        if remove_special and self.add_bos and tokens and tokens[0] == ids["bos"]:
            remove_space = False
            tokens = tokens[1:]
        if remove_special and self.add_eos and tokens and tokens[-1] == ids["eos"]:
            tokens = tokens[:-1]
        parts = []
        for tok in tokens:
            piece = self.token_to_piece(tok, special=unparse_special)
            if remove_space and piece[:1] == b" ":
                piece = piece[1:]
            remove_space = False
            parts.append(piece)
        text = b"".join(parts)
        return _clean_spaces(text) if self.clean_spaces else text

    def detokenize(self, tokens: Sequence[int], *, skip_special: bool = False) -> str:
        """Text of ``tokens``, as ``llama_detokenize``.

        Args:
            tokens: token ids.
            skip_special: False (the default, like ``common_detokenize``): control tokens render as
                their text. True: ``remove_special`` (drop the leading BOS / trailing EOS that
                ``add_special`` adds) and no ``unparse_special`` (control tokens render as nothing).

        Returns:
            The text; bytes that are not valid UTF-8 become U+FFFD (``detokenize_bytes`` keeps them).
        """
        raw = self.detokenize_bytes(tokens, remove_special=skip_special, unparse_special=not skip_special)
        return raw.decode("utf-8", errors="replace")


def _clean_spaces(text: bytes) -> bytes:
    """The three clean-up passes of impl::detokenize, in place on one buffer like the C++ (pass 2
    writes a NUL over the space it skips, which the next comparison then sees)."""
    buf = bytearray(text)
    # 1: " ?", " !", " .", " ," lose the space
    n1, total = len(buf), 1 if buf else 0
    for i in range(1, n1):
        x = buf[i]
        if buf[i - 1] == 0x20 and x in b"?!.,":
            total -= 1
        buf[total] = x
        total += 1
    # 2: " ' " loses both spaces
    n2, total, i = total, 1 if total else 0, 1
    while i < n2:
        x = buf[i]
        if x == 0x27 and i + 1 < n2 and buf[i - 1] == 0x20 and buf[i + 1] == 0x20:
            total -= 1
            i += 1
            buf[i] = 0
        buf[total] = x
        total += 1
        i += 1
    # 3: " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it)
    n3, total = total, 1 if total else 0
    for i in range(1, n3):
        x = buf[i]
        if buf[i - 1] == 0x20 and x == 0x27 and i + 1 < n3:
            x1 = buf[i + 1]
            if x1 in b"sm" or (i + 2 < n3 and (x1, buf[i + 2]) in ((0x72, 0x65), (0x76, 0x65))):
                total -= 1
        buf[total] = x
        total += 1
    return bytes(buf[:total])
