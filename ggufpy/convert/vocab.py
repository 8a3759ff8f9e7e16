"""Tokenizer export: ``tokenizer.model`` (SentencePiece) or ``tokenizer.json`` (BPE) -> ``tokenizer.*`` keys.

What llama.cpp's converter writes, in its order (``LlamaModel.set_vocab``, ``_set_vocab_sentencepiece``,
``_set_vocab_gpt2``/``get_vocab_base`` and gguf-py's ``SpecialVocab``), without transformers or
sentencepiece:

* SentencePiece: ``tokenizer.model`` is a protobuf ``ModelProto``; we read its ``pieces`` (text, score,
  type) with the small wire-format parser below, so the ``sentencepiece`` package is not needed (the tests
  check the result against it). Types map as llama.cpp maps them: UNKNOWN, CONTROL, UNUSED and BYTE kept,
  everything else (USER_DEFINED included) NORMAL. ``added_tokens.json`` and tokenizer_config.json's
  ``added_tokens_decoder`` then overwrite ids, as there.
* BPE: ``tokenizer.json``'s ``model.vocab`` plus its ``added_tokens`` (CONTROL when ``special`` or when the
  text looks special, else USER_DEFINED with ``▁`` pre-normalised to a space), ``[PAD{i}]`` for ids up to
  ``vocab_size`` that no token has, and its ``merges``. llama.cpp also round-trips *non-normalized*
  added tokens through the HF tokenizer (``decode(encode(t))``); for the usual ``<|...|>`` tokens that is
  the identity, and we do not replicate it.
* ``tokenizer.ggml.pre`` is identified as llama.cpp does it (``get_vocab_base_pre``): the sha256 of the
  token ids of ``CHKTXT`` looked up in llama.cpp's table (``pre_hashes.py``). When the ``tokenizers``
  package is importable (transformers depends on it), CHKTXT is encoded by it from tokenizer.json,
  post-processor included, as llama.cpp's ``tokenizer.encode(chktxt)`` does: the same ids, so the same
  answer. Without it we cannot run the model's own pre-tokenizer, so we read it: tokenizer.json's
  ``pre_tokenizer`` (Split regexes, Digits, ByteLevel) and ``model.ignore_merges`` must equal the regex
  list and ignore-merges setting of the name the hash gives (``format/pre_tokenizers.py``), CHKTXT is
  encoded with ggufpy's own tokenizer (llama.cpp's, token for token) under those settings, with the
  post-processor's special tokens, and exactly one name must come out. Anything else (an unknown hash,
  a pre-tokenizer step we cannot read, settings that disagree) is a ``ConvertError`` that names the fix
  (``--tokenizer-pre NAME``), never a guess.
* A SentencePiece-style ``tokenizer.json`` (BPE with ``byte_fallback``) without ``tokenizer.model`` needs
  llama.cpp's ``LlamaHfVocab`` (transformers); it is refused with a message saying so.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConvertError, GGUFError
from ..format.constants import GGUFValueType as V
from ..format.constants import TokenType
from ..format.keys import Tokenizer as K
from ..format.pre_tokenizers import PRE_TOKENIZERS
from .hf import read_json, read_json_optional
from .metadata import KV
from .pre_hashes import BY_HASH, CHKTXT

log = logging.getLogger("ggufpy.convert")

T = "tokenizer.ggml."
MAX_VOCAB = 1 << 22  # sanity cap on vocab sizes read from config.json / tokenizer files (largest real: ~262k)
MAX_SPM_BYTES = 64 << 20  # sanity cap on tokenizer.model (real ones: 0.5-5 MB)


def write_vocab(model_dir: Path, config: dict[str, Any], kv: KV, *, tokenizer_pre: str | None = None) -> None:
    """Add the ``tokenizer.*`` keys of ``model_dir`` to ``kv`` (LlamaModel.set_vocab's order).

    Raises:
        ConvertError: no tokenizer, a malformed one, or an unidentified BPE pre-tokenizer.
    """
    tok_config = read_json_optional(model_dir / "tokenizer_config.json")
    if isinstance(tok_config, dict) and isinstance(tok_config.get("add_prefix_space"), bool):
        kv.bool(T + "add_space_prefix", tok_config["add_prefix_space"])
    if (model_dir / "tokenizer.model").is_file():
        tokens, scores, types = spm_vocab(model_dir, config)
        kv.str(K.MODEL, "llama")
        kv.str(K.PRE, "default")
        kv.array(K.TOKENS, tokens, V.STRING)
        kv.array(K.SCORES, np.asarray(scores, np.float32), V.FLOAT32)
        kv.array(K.TOKEN_TYPE, np.asarray(types, np.int32), V.INT32)
        SpecialVocab(model_dir, n_vocab=len(tokens)).write(kv)
    elif (model_dir / "tokenizer.json").is_file():
        tokens, types, merges, pre = bpe_vocab(model_dir, config, tokenizer_pre)
        kv.str(K.MODEL, "gpt2")
        kv.str(K.PRE, pre)
        kv.array(K.TOKENS, tokens, V.STRING)
        kv.array(K.TOKEN_TYPE, np.asarray(types, np.int32), V.INT32)
        SpecialVocab(model_dir, merges=merges).write(kv)
    else:
        raise ConvertError(f"{model_dir}: no tokenizer (tokenizer.model or tokenizer.json)")
    # LlamaModel.set_vocab: "granite small models" (any vocab of 49152, SmolLM too) do not add BOS
    if config.get("vocab_size", 32000) == 49152:
        kv.bool(K.ADD_BOS, False)


# ---- SentencePiece ------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message: ints for varints and fixed32/64, bytes for
    length-delimited fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError(f"field {field}: {n} bytes past the end")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield field, wire, value


def read_sentencepiece(path: Path) -> list[tuple[str, float, int]]:
    """(piece, score, type) of every piece in a SentencePiece ``ModelProto`` (sentencepiece_model.proto:
    ``repeated SentencePiece pieces = 1``; SentencePiece: ``piece = 1`` string, ``score = 2`` float,
    ``type = 3`` enum, default NORMAL = 1)."""
    size = path.stat().st_size
    if size > MAX_SPM_BYTES:
        raise ConvertError(f"{path}: {size} bytes is over the {MAX_SPM_BYTES}-byte limit for a SentencePiece model")
    data = path.read_bytes()
    pieces = []
    try:
        for field, wire, value in _fields(data):
            if field != 1 or wire != 2:
                continue
            piece, score, ptype = "", 0.0, TokenType.NORMAL
            for f, w, v in _fields(value):
                if f == 1 and w == 2:
                    piece = v.decode("utf-8")
                elif f == 2 and w == 5:
                    score = struct.unpack("<f", v)[0]
                elif f == 3 and w == 0:
                    ptype = v
            pieces.append((piece, score, ptype))
    except (ValueError, UnicodeDecodeError, struct.error) as e:
        raise ConvertError(f"{path}: not a SentencePiece model ({e})") from None
    if not pieces:
        raise ConvertError(f"{path}: no pieces (not a SentencePiece model?)")
    return pieces


def spm_vocab(model_dir: Path, config: dict[str, Any]) -> tuple[list[bytes], list[float], list[int]]:
    """``_create_vocab_sentencepiece``: tokens, scores and types, padded to the config's vocab_size."""
    pieces = read_sentencepiece(model_dir / "tokenizer.model")
    vocab_size = _vocab_size(config.get("vocab_size_per_layer_input") or config.get("vocab_size") or len(pieces))
    tokens = [f"[PAD{i}]".encode() for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [TokenType.UNUSED] * vocab_size
    keep = (TokenType.UNKNOWN, TokenType.CONTROL, TokenType.UNUSED, TokenType.BYTE)
    for i, (piece, score, ptype) in enumerate(pieces[:vocab_size]):
        tokens[i], scores[i], types[i] = piece.encode("utf-8"), score, ptype if ptype in keep else TokenType.NORMAL
    added = read_json_optional(model_dir / "added_tokens.json")
    if isinstance(added, dict):
        for text, tid in added.items():
            if _is_id(tid) and 0 <= tid < vocab_size:
                tokens[tid], scores[tid], types[tid] = text.encode("utf-8"), -1000.0, TokenType.USER_DEFINED
    for tid, text, special in _added_tokens_decoder(model_dir / "tokenizer_config.json"):
        if not 0 <= tid < vocab_size:
            continue
        if special or looks_special(text):
            types[tid] = TokenType.CONTROL
        else:
            text = text.replace("\u2581", " ")
            types[tid] = TokenType.USER_DEFINED
        scores[tid], tokens[tid] = -1000.0, text.encode("utf-8")
    return tokens, scores, types


def _is_id(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _vocab_size(n: Any, what: str = "config.json: vocab_size") -> int:
    if not _is_id(n) or not 0 < n <= MAX_VOCAB:
        raise ConvertError(f"{what} {n!r} is not an integer in [1, {MAX_VOCAB}]")
    return n


def _added_tokens_decoder(path: Path) -> list[tuple[int, str, bool]]:
    """(id, content, special) of tokenizer_config.json's ``added_tokens_decoder`` ({"<id>": {"content": ...}})."""
    tc = read_json_optional(path)
    decoder = tc.get("added_tokens_decoder", {}) if isinstance(tc, dict) else {}
    if not isinstance(decoder, dict):
        raise ConvertError(f"{path}: added_tokens_decoder is a {type(decoder).__name__}, expected an object of "
                           "id -> token")
    out = []
    for key, data in decoder.items():
        if not key.isdecimal() or not isinstance(data, dict) or not isinstance(data.get("content"), str):
            raise ConvertError(f"{path}: added_tokens_decoder entry {key!r}: {str(data)[:80]} is not "
                               '"<id>": {"content": "..."}')
        out.append((int(key), data["content"], bool(data.get("special"))))
    return out


def looks_special(text: str) -> bool:
    """``does_token_look_special``: added tokens some models forget to mark special."""
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<｜") and text.endswith("｜>"))
            or (text.startswith("<unused") and text.endswith(">")))


# ---- BPE (tokenizer.json) -----------------------------------------------------------------------------


def bpe_vocab(model_dir: Path, config: dict[str, Any], tokenizer_pre: str | None
              ) -> tuple[list[str], list[int], list[str], str]:
    """``get_vocab_base`` + merges: (tokens, types, merges, pre-tokenizer name)."""
    path = model_dir / "tokenizer.json"
    tj = read_json(path, "the tokenizer")
    model = tj.get("model") if isinstance(tj, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        kind = model.get("type") if isinstance(model, dict) else None
        raise ConvertError(f"{path}: a {kind} tokenizer; ggufpy converts BPE tokenizer.json or tokenizer.model")
    if model.get("byte_fallback") and not model.get("ignore_merges", False) \
            and isinstance(tj.get("decoder"), dict) and tj["decoder"].get("type") == "Sequence":
        raise ConvertError(f"{path}: a SentencePiece-style BPE (byte_fallback); put the model's tokenizer.model "
                           "beside it, ggufpy converts that one")
    vocab: dict[str, int] = dict(model["vocab"])
    bad = next(((t, i) for t, i in vocab.items() if not _is_id(i) or i < 0), None)
    if bad is not None:
        raise ConvertError(f"{path}: model.vocab maps {bad[0]!r} to {bad[1]!r}, not a token id")
    added_tokens = tj.get("added_tokens", [])
    if not isinstance(added_tokens, list):
        raise ConvertError(f"{path}: added_tokens is not a list")
    added = [a for a in added_tokens if isinstance(a, dict) and "id" in a and "content" in a]
    bad = next((a for a in added if not _is_id(a["id"]) or a["id"] < 0 or not isinstance(a["content"], str)), None)
    if bad is not None:
        raise ConvertError(f"{path}: added token {str(bad)[:80]} needs an integer id and a string content")
    for a in added:
        vocab[a["content"]] = a["id"]
    vocab_size = _vocab_size(config.get("vocab_size", len(vocab)))
    if vocab and max(vocab.values()) >= vocab_size:
        raise ConvertError(f"{path}: token id {max(vocab.values())} >= vocab_size {vocab_size} of config.json")
    reverse = {i: t for t, i in vocab.items()}
    added_by_id = {a["id"]: a for a in added}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
            continue
        text = reverse[i]
        if i in added_by_id and added_by_id[i]["content"] == text:
            if added_by_id[i].get("special") or looks_special(text):
                types.append(TokenType.CONTROL)
            else:
                text = text.replace("\u2581", " ")
                types.append(TokenType.USER_DEFINED)
        else:
            types.append(TokenType.NORMAL)
        tokens.append(text)
    merges = _merges(model.get("merges"), path) or _merges_txt(model_dir)
    if tokenizer_pre is not None:
        pre = tokenizer_pre
    else:
        pre = identify_pre(tj, tokens, types, merges, path)
    return tokens, types, merges, pre


def _merges(merges: Any, path: Path) -> list[str]:
    """tokenizer.json merges in gguf's "a b" form; pairs (transformers >= 4.45) have spaces encoded as U+0120
    (gguf-py: ``chr(ord(" ") + 256)``)."""
    if not isinstance(merges, list) or not merges:
        return []
    if isinstance(merges[0], str):
        return merges
    if isinstance(merges[0], list) and len(merges[0]) == 2 and isinstance(merges[0][0], str):
        return [" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in pair)
                for pair in merges]
    raise ConvertError(f"{path}: unknown merges format")


def _merges_txt(model_dir: Path) -> list[str]:
    path = model_dir / "merges.txt"
    if not path.is_file():
        return []
    merges = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.strip()
            if (i == 0 and line.startswith("#")) or not line:
                continue
            parts = line.split(None, 3)
            if len(parts) == 2:
                merges.append(f"{parts[0]} {parts[1]}")
    return merges


def chkhsh(ids: list[int]) -> str:
    """llama.cpp's ``chkhsh``: sha256 of Python's ``str()`` of the id list."""
    return hashlib.sha256(str(ids).encode()).hexdigest()


def _post_processor_ids(tj: dict, path: Path) -> tuple[list[int], list[int]]:
    """Ids the tokenizer.json post-processor puts before and after a single sequence.

    Raises:
        ConvertError: a post-processor whose additions we cannot read.
    """
    pp = tj.get("post_processor") or {}
    before: list[int] = []
    after: list[int] = []
    procs = pp.get("processors", [pp]) if isinstance(pp, dict) else None
    if not isinstance(procs, list):
        raise ConvertError(f"{path}: post_processor is not an object")
    for proc in procs:
        kind = proc.get("type") if isinstance(proc, dict) else None
        if not proc or kind == "ByteLevel":
            continue
        try:
            if kind == "TemplateProcessing":
                specials, seen_a = proc.get("special_tokens", {}), False
                for item in proc.get("single", []):
                    if "Sequence" in item:
                        seen_a = True
                    elif "SpecialToken" in item:
                        ids = specials[item["SpecialToken"]["id"]]["ids"]
                        (after if seen_a else before).extend(int(i) for i in ids)
                continue
            if kind in ("RobertaProcessing", "BertProcessing"):
                before.append(int(proc["cls"][1]))
                after.append(int(proc["sep"][1]))
                continue
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            pass
        raise ConvertError(f"{path}: cannot read post_processor {str(proc)[:120]}; install the tokenizers package "
                           "(pip install tokenizers) or pass --tokenizer-pre NAME")
    return before, after


def _chkhsh_tokenizers(path: Path) -> str | None:
    """``chkhsh`` of CHKTXT encoded by the ``tokenizers`` package from ``path``, exactly as llama.cpp's
    ``get_vocab_base_pre`` encodes it (special tokens added by the post-processor); None without the package."""
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:
        return None
    try:
        ids = HFTokenizer.from_file(str(path)).encode(CHKTXT).ids
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - tokenizers raises Exception, and a Rust panic a BaseException
        raise ConvertError(f"{path}: the tokenizers package cannot load or run it ({str(e)[:200]}); pass "
                           "--tokenizer-pre NAME if you know llama.cpp's pre-tokenizer for it") from None
    return chkhsh(ids)


# HF spellings that llama.cpp's regex lists write differently (same matches): the case-insensitive
# contraction group (llama.cpp has no (?i:...)), and GPT-2's regex (llama.cpp drops the final |\s+, which
# its splitter handles as the unmatched remainder).
_HF_CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
_LLAMA_CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_HF_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"


def hf_pre_regexes(tj: dict, path: Path) -> tuple[str, ...]:
    """The regex list tokenizer.json's byte-level ``pre_tokenizer`` splits with, spelled as llama.cpp's
    ``REGEXES`` spell it: ``Split`` (isolated regex) patterns, ``Digits`` and ``ByteLevel``'s GPT-2 regex,
    in order.

    Raises:
        ConvertError: a normalizer, or a pre-tokenizer step other than these (we cannot tell what it does).
    """
    from ..runtime.pretokenize import REGEXES

    def unreadable(what: str) -> ConvertError:
        return ConvertError(f"{path}: cannot identify the BPE pre-tokenizer without the tokenizers package "
                            f"({what}); install it (pip install tokenizers) or pass --tokenizer-pre NAME")

    if tj.get("normalizer") is not None:
        raise unreadable(f"normalizer {str(tj['normalizer'])[:80]}")
    pre = tj.get("pre_tokenizer")
    steps = pre.get("pretokenizers") if isinstance(pre, dict) and pre.get("type") == "Sequence" else [pre]
    if not isinstance(steps, list) or not steps:
        raise unreadable("no pre_tokenizer")
    out: list[str] = []
    for i, step in enumerate(steps):
        kind = step.get("type") if isinstance(step, dict) else None
        pattern = step.get("pattern") if kind == "Split" else None
        if kind == "Split" and isinstance(pattern, dict) and isinstance(pattern.get("Regex"), str) \
                and step.get("behavior") == "Isolated" and not step.get("invert"):
            regex = pattern["Regex"]
            out.append(REGEXES["gpt2"][0] if regex == _HF_GPT2 else regex.replace(_HF_CONTRACTIONS, _LLAMA_CONTRACTIONS))
        elif kind == "Digits":
            out.append("\\p{N}" if step.get("individual_digits") else "\\p{N}+")
        elif kind == "ByteLevel" and i == len(steps) - 1 and not step.get("add_prefix_space"):
            if step.get("use_regex", True):
                out.append(REGEXES["gpt2"][0])
        else:
            raise unreadable(f"pre_tokenizer step {str(step)[:120]}")
    if steps[-1].get("type") != "ByteLevel":
        raise unreadable("no final ByteLevel step: not a byte-level BPE")
    return tuple(out)


def identify_pre(tj: dict, tokens: list[str], types: list[int], merges: list[str], path: Path) -> str:
    """The ``tokenizer.ggml.pre`` name llama.cpp's converter would write (see the module doc).

    Raises:
        ConvertError: the name cannot be established (the message names ``--tokenizer-pre``).
    """
    h = _chkhsh_tokenizers(path)
    if h is not None:
        if h in BY_HASH:
            log.info("tokenizer.ggml.pre = %s (chkhsh %s, from the tokenizers package)", BY_HASH[h], h)
            return BY_HASH[h]
        raise ConvertError(
            f"{path}: the BPE pre-tokenizer was not recognised (chkhsh {h} is not in llama.cpp's table). If you "
            "know which llama.cpp pre-tokenizer the model uses, pass it: --tokenizer-pre NAME (e.g. llama-bpe, "
            "qwen2, gpt-2)")
    return _identify_pre_offline(tj, tokens, types, merges, path)


def _identify_pre_offline(tj: dict, tokens: list[str], types: list[int], merges: list[str], path: Path) -> str:
    """``identify_pre`` without the tokenizers package: the name whose settings tokenizer.json states and
    whose hash our own encoding of CHKTXT gives; one such name, or ``ConvertError``."""
    from ..runtime.pretokenize import REGEXES
    from ..runtime.tokenizer import Tokenizer

    regexes = hf_pre_regexes(tj, path)
    ignore_merges = bool(tj["model"].get("ignore_merges", False))
    settings = {(group, "i" in flags) for group, flags in PRE_TOKENIZERS.values()
                if REGEXES.get(group) == regexes and ("i" in flags) == ignore_merges}
    before, after = _post_processor_ids(tj, path)
    md = {K.MODEL: "gpt2", K.TOKENS: tokens, K.TOKEN_TYPE: np.asarray(types, np.int32), K.MERGES: merges}
    found: dict[str, str] = {}
    for group, ignore in sorted(settings):
        name = next(n for n, (g, f) in PRE_TOKENIZERS.items() if g == group and ("i" in f) == ignore)
        try:
            ids = Tokenizer({**md, K.PRE: name}).tokenize(CHKTXT, add_special=False, parse_special=False)
        except GGUFError as e:
            raise ConvertError(f"{path}: {e}") from None
        h = chkhsh(before + ids + after)
        hit = BY_HASH.get(h)
        if hit is not None and PRE_TOKENIZERS.get(hit, (None, ""))[0] == group \
                and ("i" in PRE_TOKENIZERS[hit][1]) == ignore:
            found[hit] = h
    if len(found) == 1:
        (name, h), = found.items()
        log.info("tokenizer.ggml.pre = %s (chkhsh %s, from tokenizer.json's pre_tokenizer settings)", name, h)
        return name
    why = (f"{len(found)} names match ({', '.join(found)})" if found else
           "no name in llama.cpp's table has tokenizer.json's pre_tokenizer and ignore_merges settings and its "
           "CHKTXT hash" if settings else
           "no llama.cpp pre-tokenizer has tokenizer.json's pre_tokenizer and ignore_merges settings")
    raise ConvertError(f"{path}: the BPE pre-tokenizer was not recognised ({why}; without the tokenizers package "
                       "only an exact match is accepted). Install tokenizers, or if you know which llama.cpp "
                       "pre-tokenizer the model uses, pass it: --tokenizer-pre NAME (e.g. llama-bpe, qwen2, gpt-2)")


# ---- SpecialVocab (gguf-py vocab.py) -------------------------------------------------------------------

_SPECIAL_TYPES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
# special-token type -> key; gguf-py has no writer for cls, so it is skipped (with a warning there)
_ID_KEYS = {"bos": K.BOS_ID, "eos": K.EOS_ID, "unk": K.UNK_ID,
            "sep": T + "seperator_token_id", "pad": K.PAD_ID, "mask": T + "mask_token_id",
            "eot": K.EOT_ID, "eom": T + "eom_token_id"}
_ADD_KEYS = {"bos": K.ADD_BOS, "eos": K.ADD_EOS, "sep": T + "add_sep_token"}


class SpecialVocab:
    """gguf-py's ``SpecialVocab``: special ids, add-bos/eos/sep flags, chat template and normalizer flags
    from tokenizer.json, tokenizer_config.json, chat_template.{jinja,json} and config.json."""

    def __init__(self, model_dir: Path, *, merges: list[str] | None = None, n_vocab: int | None = None):
        self.dir, self.n_vocab, self.merges = model_dir, n_vocab, merges or []
        self.load_merges = merges is not None
        self.special_token_ids: dict[str, int] = {}
        self.add_special_token: dict[str, bool] = {}
        self.chat_template: Any = None
        self.normalizer_lowercase: bool | None = None
        self.normalizer_strip_accents: bool | None = None
        self.types = list(_SPECIAL_TYPES)
        self._from_tokenizer_json()
        self._from_config_json()

    def _malformed(self, fname: str, e: Exception) -> ConvertError:
        return ConvertError(f"{self.dir / fname}: malformed ({type(e).__name__}: {str(e)[:120]})")

    def write(self, kv: KV) -> None:
        """``add_to_gguf``."""
        if self.merges:
            kv.array(K.MERGES, self.merges, V.STRING)
        elif self.load_merges:
            log.warning("no merges found: the BPE tokenizer may not work")
        for typ, tid in self.special_token_ids.items():
            if typ in _ID_KEYS:
                kv.u32(_ID_KEYS[typ], tid)
        for typ, value in self.add_special_token.items():
            if typ in _ADD_KEYS:
                kv.bool(_ADD_KEYS[typ], value)
        if self.chat_template is not None:
            _write_chat_template(kv, self.chat_template)
        if self.normalizer_lowercase is not None:
            kv.bool(T + "normalizer.lowercase", self.normalizer_lowercase)
        if self.normalizer_strip_accents is not None:
            kv.bool(T + "normalizer.strip_accents", self.normalizer_strip_accents)

    def _set(self, typ: str, tid: Any, source: str) -> None:
        if not isinstance(tid, int) or isinstance(tid, bool):
            return
        if not 0 <= tid < 1 << 32:
            raise ConvertError(f"{self.dir / source}: invalid value for special token type {typ}: {tid}")
        if self.n_vocab is None or tid < self.n_vocab:
            self.special_token_ids.setdefault(typ, tid)

    def _normalizer(self, normalizer: dict) -> None:
        kind = normalizer.get("type")
        if kind == "Lowercase":
            self.normalizer_lowercase = True
        elif kind == "StripAccents":
            self.normalizer_strip_accents = True
        elif kind == "BertNormalizer":
            if "lowercase" in normalizer:
                self.normalizer_lowercase = normalizer["lowercase"]
            if "strip_accents" in normalizer:
                self.normalizer_strip_accents = normalizer["strip_accents"]
        elif kind == "Sequence":
            for n in normalizer.get("normalizers", []):
                self._normalizer(n)

    def _from_tokenizer_json(self) -> None:
        tokenizer = read_json_optional(self.dir / "tokenizer.json") if (self.dir / "tokenizer.json").is_file() else None
        added_tokens: Any = []
        tc = read_json_optional(self.dir / "tokenizer_config.json")
        tc = tc if isinstance(tc, dict) else None
        if isinstance(tokenizer, dict):
            try:
                if normalizer := tokenizer.get("normalizer"):
                    self._normalizer(normalizer)
                added_tokens = tokenizer.get("added_tokens", [])
                added_tokens = [a for a in added_tokens if isinstance(a, dict)] if isinstance(added_tokens, list) else []
                self._post_processor(tokenizer, tc)
            except (AttributeError, TypeError, KeyError, IndexError) as e:
                raise self._malformed("tokenizer.json", e) from None
        if not tc:
            return
        try:
            self.chat_template = self._chat_template(tc)
            for typ in self.types:
                add_entry = tc.get(f"add_{typ}_token")
                if isinstance(add_entry, bool) and typ not in self.add_special_token:
                    self.add_special_token[typ] = add_entry
                entry = tc.get(f"{typ}_token")
                content = entry if isinstance(entry, str) else entry.get("content") if isinstance(entry, dict) else None
                if not isinstance(content, str):
                    continue
                self._set(typ, next((a.get("id") for a in added_tokens if a.get("content") == content), None),
                          "tokenizer_config.json")
        except (AttributeError, TypeError, KeyError, IndexError) as e:
            raise self._malformed("tokenizer_config.json", e) from None

    def _chat_template(self, tc: dict) -> Any:
        alt = None
        jinja, js = self.dir / "chat_template.jinja", self.dir / "chat_template.json"
        if jinja.is_file():
            alt = jinja.read_text(encoding="utf-8")
            extra = sorted((self.dir / "additional_chat_templates").glob("*.jinja"))
            if extra:
                alt = [{"name": "default", "template": alt}] + [
                    {"name": p.stem, "template": p.read_text(encoding="utf-8")} for p in extra]
        elif js.is_file():
            data = read_json_optional(js)
            alt = data.get("chat_template") if isinstance(data, dict) else None
        template = tc.get("chat_template", alt)
        if template is None or isinstance(template, (str, list)):
            return template
        log.warning("tokenizer_config.json: chat_template of type %s ignored", type(template).__name__)
        return None

    def _post_processor(self, tokenizer: dict, tc: dict | None) -> None:
        """Which special tokens the tokenizer.json post-processor adds (gguf-py's "crude parsing")."""
        tc_get = (tc or {}).get
        bos, cls, eos, sep = tc_get("bos_token"), tc_get("cls_token"), tc_get("eos_token"), tc_get("sep_token")
        if not bos and cls and tc:
            tc["bos_token"] = bos = cls
        if not eos and sep and tc:
            tc["eos_token"] = eos = sep
        pp = tokenizer.get("post_processor")
        if not pp:
            return
        for proc in pp.get("processors", [pp]):
            kind = proc.get("type")
            if kind == "ByteLevel":
                self.add_special_token.setdefault("bos", False)
                self.add_special_token.setdefault("eos", False)
            elif kind == "RobertaProcessing":
                self.add_special_token.update(bos=True, eos=True, sep=True)
                if not cls and tc:
                    tc["cls_token"] = cls = proc.get("cls", [bos])[0]
                if not sep and tc:
                    tc["sep_token"] = sep = proc.get("sep", [eos])[0]
            elif kind == "TemplateProcessing":
                bos, cls, eos, sep = self._template(proc, tc, bos, cls, eos, sep)

    def _template(self, proc: dict, tc: dict | None, bos, cls, eos, sep):
        single, pair = proc.get("single", []), proc.get("pair", [])
        first = last = None
        if len(single) > 1:
            if first := single[0].get("SpecialToken", {}).get("id"):
                if not tc:
                    bos = first
                elif first not in (bos, cls):
                    if not bos:
                        tc["bos_token"] = bos = first
                    if not cls:
                        tc["cls_token"] = cls = first
                self.add_special_token["bos"] = first in (bos, cls)
            if last := single[-1].get("SpecialToken", {}).get("id"):
                if not tc:
                    eos = last
                elif last != eos:
                    if "eot" not in self.types:
                        self.types.append("eot")
                        tc["eot_token"] = eos
                    elif "eom" not in self.types:
                        self.types.append("eom")
                        tc["eom_token"] = eos
                    tc["eos_token"] = eos = last
                self.add_special_token["eos"] = last == eos
        if pair:
            start = 1 if first and pair[0].get("SpecialToken", {}).get("id") == first else 0
            stop = -1 if last and pair[-1].get("SpecialToken", {}).get("id") == last else None
            pair = pair[slice(start, stop)]
            if pair:
                a, b = pair[0].get("Sequence", {}).get("id"), pair[-1].get("Sequence", {}).get("id")
                if a == "A" and b == "B" and (middle := pair[1:-1]):
                    add_sep = False
                    if entry := middle[0].get("SpecialToken", {}).get("id"):
                        if entry in (sep, eos) and not last:
                            add_sep = True
                    if len(middle) == 2:
                        if entry := middle[1].get("SpecialToken", {}).get("id"):
                            if entry in (sep, eos):
                                add_sep = True
                    self.add_special_token["sep"] = add_sep
                    if add_sep and not sep and tc:
                        tc["sep_token"] = eos
        return bos, cls, eos, sep

    def _from_config_json(self) -> None:
        config = read_json_optional(self.dir / "config.json")
        if not isinstance(config, dict):
            return
        for typ in self.types:
            tid = config.get(f"{typ}_token_id")
            if tid is None and isinstance(config.get("text_config"), dict):
                tid = config["text_config"].get(f"{typ}_token_id")
            self._set(typ, tid, "config.json")


def _write_chat_template(kv: KV, value: Any) -> None:
    """``add_chat_template``: a string, or named templates (``tokenizer.chat_template.NAME`` + the list)."""
    if isinstance(value, str):
        kv.str(K.CHAT_TEMPLATE, value)
        return
    default, names = None, []
    for choice in value:
        if not isinstance(choice, dict) or not isinstance(choice.get("name", ""), str):
            continue
        name = "".join(c if c.isascii() and c.isalnum() else "_" for c in choice.get("name", ""))
        template = choice.get("template")
        if name and isinstance(template, str):
            if name == "default":
                default = template
            else:
                names.append(name)
                kv.str(f"tokenizer.chat_template.{name}", template)
    if names:
        kv.array("tokenizer.chat_templates", list(dict.fromkeys(names)), V.STRING)
    if default is not None:
        kv.str(K.CHAT_TEMPLATE, default)
