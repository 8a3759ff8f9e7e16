"""Tokenizers from GGUF metadata against llama.cpp 0c1e570.

Oracles, in order:
1. llama.cpp's own vocab test vectors (``models/ggml-vocab-*.gguf.inp/.out``, read the way
   ``tests/test-tokenizer-0.cpp`` reads them: add_special and parse_special off), every case of
   all 15 vocabularies that ship them.
2. ``tests/test-tokenizer-1-spm.cpp`` on llama-spm: every token's text and a sample of all code
   points survive tokenize -> detokenize.
3. Golden ids from libllama (``llama_tokenize``/``llama_detokenize`` of the 0c1e570 build, called
   from a 30-line C++ harness) for the vocabularies without vectors, SmolLM2's chat template and
   the whole of wiki.utf8; spelled out or as sha256 of the space-joined ids.
4. A literal Python port of llama.cpp's hand-written GPT-2/Llama-3/Qwen2/Qwen3.5 splitters, for the
   ``re`` patterns that stand in for them, on random text.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata

import numpy as np
import pytest

from ggufpy.errors import GGUFFormatError, UnsupportedTypeError
from ggufpy.fetch import fetch
from ggufpy.runtime import pretokenize as P
from ggufpy.runtime.tokenizer import ATTR_CONTROL, Tokenizer, _clean_spaces

VECTOR_VOCABS = [
    "bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4", "gpt-2", "llama-bpe",
    "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder",
]
SEP = "\n__ggml_vocab_test__\n"

_TOKENIZERS: dict[str, Tokenizer] = {}


def vocab_tokenizer(vocab_dir, name: str) -> Tokenizer:
    """Tokenizers are slow-ish to build (Gemma-4: 500k merges), so each is built once per session."""
    if name not in _TOKENIZERS:
        _TOKENIZERS[name] = Tokenizer.from_gguf(vocab_dir / f"ggml-vocab-{name}.gguf")
    return _TOKENIZERS[name]


@pytest.fixture(scope="session")
def smollm2(smollm2_path) -> Tokenizer:
    return Tokenizer.from_gguf(smollm2_path)


def split_cases(raw: str) -> list[str]:
    """test-tokenizer-0.cpp ``read_tests``: no empty case after a trailing separator."""
    cases, pos = [], 0
    while pos < len(raw):
        nxt = raw.find(SEP, pos)
        if nxt == -1:
            cases.append(raw[pos:])
            break
        cases.append(raw[pos:nxt])
        pos = nxt + len(SEP)
    return cases


def read_vectors(vocab_dir, name: str) -> list[tuple[str, list[int]]]:
    base = vocab_dir / f"ggml-vocab-{name}.gguf"
    with open(f"{base}.inp", encoding="utf-8", newline="") as f:
        inputs = split_cases(f.read())
    with open(f"{base}.out", encoding="utf-8", newline="") as f:
        outputs = f.read().split("\n")
    if outputs and outputs[-1] == "":
        outputs.pop()  # std::getline yields no line after the final newline
    assert len(inputs) == len(outputs), f"{name}: {len(inputs)} inputs vs {len(outputs)} outputs"
    return [(s, [int(t) for t in o.split()]) for s, o in zip(inputs, outputs)]


# ---- 1. llama.cpp's vocab test vectors ----------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_VOCABS)
def test_llama_cpp_vectors(vocab_dir, name):
    tok = vocab_tokenizer(vocab_dir, name)
    cases = read_vectors(vocab_dir, name)
    assert len(cases) >= 40
    failures = []
    for text, expected in cases:
        got = tok.tokenize(text, add_special=False, parse_special=False)
        if got != expected:
            failures.append(f"{text!r}: expected {expected}, got {got}")
    assert not failures, f"{len(failures)}/{len(cases)} cases differ; first: {failures[0]}"


@pytest.mark.parametrize("name", [n for n in VECTOR_VOCABS if n != "bert-bge"])  # WPM lowercases, splits
def test_vectors_detokenize_to_input(vocab_dir, name):
    """What test-tokenizer-0 prints as ``res``: the expected ids detokenize to the input, up to the
    clean-up of " ," etc. where the vocabulary asks for it (SPM drops the space it prefixed)."""
    tok = vocab_tokenizer(vocab_dir, name)
    for text, expected in read_vectors(vocab_dir, name):
        want = _clean_spaces(text.encode()) if tok.clean_spaces else text.encode()
        assert tok.detokenize_bytes(expected) == want, repr(text)


# ---- 2. test-tokenizer-1-spm ---------------------------------------------------------------------------


def test_llama_spm_every_token_round_trips(vocab_dir):
    """detokenize([i]) tokenized with parse_special and detokenized again is unchanged, for every
    token whose text is valid UTF-8 (our tokenize takes str; llama.cpp's takes bytes)."""
    tok = vocab_tokenizer(vocab_dir, "llama-spm")
    bad = []
    for i in range(tok.n_vocab):
        raw = tok.detokenize_bytes([i])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        check = tok.detokenize_bytes(tok.tokenize(text, add_special=False, parse_special=True))
        if check != raw:
            bad.append((i, raw, check))
    assert not bad, bad[:5]


def test_llama_spm_code_points_round_trip(vocab_dir):
    tok = vocab_tokenizer(vocab_dir, "llama-spm")
    bad = []
    for cp in [*range(0, 0x3000), *range(0x3000, 0x110000, 7)]:
        if 0xD800 <= cp <= 0xDFFF or 0x40000 <= cp <= 0xE0000 or cp == 0x2581:  # test-tokenizer-1-spm skips
            continue
        s = chr(cp)
        if tok.detokenize(tok.tokenize(s, add_special=False, parse_special=True)) != s:
            bad.append(hex(cp))
    assert not bad, bad[:10]


# ---- 3. golden ids from libllama --------------------------------------------------------------------

# sha256 of "\n".join(" ".join(ids)) over the 46 inputs of ggml-vocab-llama-bpe.gguf.inp
# (add_special, parse_special off), then three inputs spelled out: "\n\n\n", "Hello, world!",
# "    Hello\n    Hello".
GOLDEN = {
    "aquila": ("54590bc8eebe64e91209b87b545a3ffa17a0be871ee18540ff5eb4b8ff2f7f69",  # BPE, default pre
               [[5430], [22299, 12, 3117, 1], [475, 51980, 851, 51980]]),
    "baichuan": ("61a3728874c39a66b15b62b3e1e358093ce0f62420b1ce1720d4c77a5e2e5bff",  # SPM, byte fallback
                 [[31106, 5, 5, 5], [24568, 31125, 1275, 80],
                  [31106, 31106, 31106, 31106, 24568, 5, 31106, 31106, 31106, 24568]]),
    "gpt-neox": ("26e3e332d25fab6d9236cd85e108a6362d03b59fd09f06f2c495beb55d4bcace",  # BPE, no pre key
                 [[2756], [12092, 13, 1533, 2], [50274, 12092, 187, 50274, 12092]]),
    "nomic-bert-moe": ("dd459bd18d8a5817dc3c25955f350dfb6f136c5fa57a95aaceafe4662888df6a",  # UGM (t5)
                       [[], [35378, 4, 8999, 38], [35378, 35378]]),
}
SPELLED = ("\n\n\n", "Hello, world!", "    Hello\n    Hello")


def _digest(lists: list[list[int]]) -> str:
    return hashlib.sha256("\n".join(" ".join(map(str, ids)) for ids in lists).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_vocabs_without_vectors(vocab_dir, name):
    tok = vocab_tokenizer(vocab_dir, name)
    digest, spelled = GOLDEN[name]
    for text, expected in zip(SPELLED, spelled):
        assert tok.tokenize(text, add_special=False) == expected, repr(text)
    with open(vocab_dir / "ggml-vocab-llama-bpe.gguf.inp", encoding="utf-8", newline="") as f:
        inputs = split_cases(f.read())
    assert len(inputs) == 46
    assert _digest([tok.tokenize(s, add_special=False) for s in inputs]) == digest


def test_smollm2_golden_on_llama_bpe_inputs(vocab_dir, smollm2):
    with open(vocab_dir / "ggml-vocab-llama-bpe.gguf.inp", encoding="utf-8", newline="") as f:
        inputs = split_cases(f.read())
    ids = [smollm2.tokenize(s, add_special=False) for s in inputs]
    assert _digest(ids) == "57fcb278a7441e199122e0f480418a0823f45fa6a88a778e1bca980e844cda3a"


# ---- SmolLM2 ------------------------------------------------------------------------------------------

CHAT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi 👋, how are you?<|im_end|>\n<|im_start|>assistant\n")


def test_smollm2_special_ids(smollm2):
    assert (smollm2.bos_id, smollm2.eos_id, smollm2.n_vocab) == (1, 2, 49152)
    assert (smollm2.add_bos, smollm2.add_eos) == (False, False)  # tokenizer.ggml.add_bos_token = false
    # llama_vocab_is_eog: <|endoftext|> and <|im_end|> by text, <reponame> as the FIM repo token
    assert smollm2.eog_ids == {0, 2, 4}
    assert [smollm2.token_text(i) for i in (0, 1, 2, 4)] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<reponame>"]
    assert all(smollm2.token_attr(i) & ATTR_CONTROL for i in (0, 1, 2, 4))


def test_smollm2_chat_template_parse_special(smollm2):
    expected = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712,
                8182, 2, 198, 1, 4093, 198, 26843, 15107, 235, 229, 28, 638, 359, 346, 47, 2, 198, 1, 520, 9531, 198]
    assert smollm2.tokenize(CHAT, add_special=True, parse_special=True) == expected
    assert smollm2.detokenize(expected) == CHAT
    assert smollm2.detokenize(expected, skip_special=True) == CHAT.replace("<|im_start|>", "").replace("<|im_end|>", "")


def test_smollm2_chat_template_as_plain_text(smollm2):
    ids = smollm2.tokenize(CHAT, add_special=True, parse_special=False)
    assert ids == [  # "<", "|", "im", "_", "start", "|", ">", "system", ...
        44, 108, 306, 79, 3738, 108, 46, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28,
        7018, 411, 407, 19712, 8182, 44, 108, 306, 79, 486, 108, 46, 198, 44, 108, 306, 79, 3738, 108, 46, 4093, 198,
        26843, 15107, 235, 229, 28, 638, 359, 346, 15137, 108, 306, 79, 486, 108, 46, 198, 44, 108, 306, 79, 3738,
        108, 46, 520, 9531, 198]
    assert smollm2.detokenize(ids) == CHAT


def test_smollm2_utf8_pieces(smollm2):
    text = "🦙 naïve 日本語 Ωmega"
    ids = smollm2.tokenize(text, add_special=False)
    assert ids == [10813, 116, 243, 15486, 46494, 17097, 241, 115, 40993, 179, 120, 248, 5664, 119, 93, 9005]
    pieces = [smollm2.token_to_piece(i) for i in ids]
    assert b"".join(pieces).decode("utf-8") == text
    assert pieces[:3] == [b"\xf0\x9f", b"\xa6", b"\x99"]  # the llama is three byte-level pieces
    with pytest.raises(UnicodeDecodeError):
        pieces[0].decode("utf-8")  # so a streaming caller must keep bytes until they decode
    assert smollm2.token_to_piece(1) == b"<|im_start|>"
    assert smollm2.token_to_piece(1, special=False) == b""
    with pytest.raises(IndexError):
        smollm2.token_to_piece(smollm2.n_vocab)


def test_smollm2_wiki_equals_llama_cpp(smollm2):
    """All of wiki.utf8 (2 MB, 579k tokens), id for id."""
    with open(fetch("wiki", progress=False), encoding="utf-8", newline="") as f:
        text = f.read()
    ids = smollm2.tokenize(text, add_special=True, parse_special=True)
    assert len(ids) == 578983
    assert hashlib.sha256(" ".join(map(str, ids)).encode()).hexdigest() == (
        "0039453601efc8555c64ed39aaa584843fd92c3ff40b02f5cd3c670767c74da0")
    assert smollm2.detokenize(ids) == text


# ---- 4. the pre-tokenizer ---------------------------------------------------------------------------------


def test_category_table_matches_unicodedata():
    """llama.cpp's flags (UCD 15.1) agree with every code point the running Python's UCD assigns."""
    if tuple(map(int, unicodedata.unidata_version.split("."))) > (15, 1, 0):
        pytest.skip(f"unicodedata {unicodedata.unidata_version} is newer than the table's 15.1")
    by_major = {"L": P.LETTER, "N": P.NUMBER, "M": P.ACCENT_MARK, "P": P.PUNCTUATION, "S": P.SYMBOL,
                "Z": P.SEPARATOR, "C": P.CONTROL}
    bad = []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        if cat == "Cn":
            continue
        if cpt_major(cp) != by_major[cat[0]]:
            bad.append((hex(cp), cat))
    assert not bad, bad[:10]
    assert P.cpt_flags(0x20) == P.SEPARATOR | P.WHITESPACE and P.cpt_flags(0x85) == P.CONTROL | P.WHITESPACE
    assert P.cpt_flags(0x1C89) == P.UNDEFINED  # assigned in Unicode 16.0, not in llama.cpp's table


def cpt_major(cp: int) -> int:
    return P.cpt_flags(cp) & 0xFF


def _ref_custom_split(text: str, kind: str) -> list[int]:
    """Literal port of unicode_regex_split_custom_{gpt2,llama3,qwen2,qwen35} (unicode.cpp), one fragment."""
    cpts = [ord(c) for c in text]
    n = len(cpts)

    def cpt(p):
        return cpts[p] if 0 <= p < n else -1

    def fl(p):
        return P.cpt_flags(cpts[p]) if 0 <= p < n else 0

    def low(c):
        if c < 0:
            return c
        s = chr(c).lower()
        return ord(s) if len(s) == 1 else c

    letter = P.LETTER | (P.ACCENT_MARK if kind == "qwen35" else 0)
    ends, prev = [], 0

    def add(end):
        nonlocal prev
        length = end - prev
        if length > 0:
            ends.append(end)
        prev = end
        return length

    pos = 0
    while pos < n:
        c, f = cpt(pos), fl(pos)
        if c == ord("'") and pos + 1 < n:
            nx = cpt(pos + 1) if kind == "gpt2" else low(cpt(pos + 1))
            if nx in (0x73, 0x74, 0x6D, 0x64):  # s t m d
                pos += add(pos + 2)
                continue
            if pos + 2 < n:
                nn = cpt(pos + 2) if kind == "gpt2" else low(cpt(pos + 2))
                if (nx, nn) in ((ord("r"), ord("e")), (ord("v"), ord("e")), (ord("l"), ord("l"))):
                    pos += add(pos + 3)
                    continue
        if kind == "gpt2":
            f2 = fl(pos + 1) if c == 0x20 else f
            done = False
            for cls in (P.LETTER, P.NUMBER):
                if f2 & cls:
                    pos += c == 0x20
                    while f2 & cls:
                        pos += 1
                        f2 = fl(pos)
                    add(pos)
                    done = True
                    break
            if done:
                continue
            if not f2 & (P.WHITESPACE | P.LETTER | P.NUMBER) and f2:
                pos += c == 0x20
                while not f2 & (P.WHITESPACE | P.LETTER | P.NUMBER) and f2:
                    pos += 1
                    f2 = fl(pos)
                add(pos)
                continue
        else:
            if not (c in (0x0D, 0x0A) or f & P.NUMBER) and (f & letter or fl(pos + 1) & letter):
                pos += 1
                while fl(pos) & letter:
                    pos += 1
                add(pos)
                continue
            if f & P.NUMBER:
                ini = pos
                group = 3 if kind == "llama3" else 1
                while fl(pos) & P.NUMBER:
                    pos += 1
                    if pos - ini >= group:
                        add(pos)
                        ini = pos
                add(pos)
                continue
            f2 = fl(pos + 1) if c == 0x20 else f
            if not f2 & (P.WHITESPACE | letter | P.NUMBER) and f:
                pos += c == 0x20
                while not f2 & (P.WHITESPACE | letter | P.NUMBER) and f2:
                    pos += 1
                    f2 = fl(pos)
                while cpt(pos) in (0x0D, 0x0A):
                    pos += 1
                add(pos)
                continue
        n_ws, last_rn = 0, 0
        while fl(pos + n_ws) & P.WHITESPACE:
            if kind != "gpt2" and cpt(pos + n_ws) in (0x0D, 0x0A):
                last_rn = pos + n_ws + 1
            n_ws += 1
        if last_rn:
            pos = last_rn
            add(pos)
            continue
        if n_ws > 1 and cpt(pos + n_ws) != -1:
            pos += n_ws - 1
            add(pos)
            continue
        if n_ws:
            pos += n_ws
            add(pos)
            continue
        pos += 1
        add(pos)
    return ends


ALPHABET = ("aZs'tdmlLrReEvV  \t\n\r\x0b\x0c\x1c\x00" "09٣½" "éßΩЖ日本ᄀ" "\u0301\u0903" "\u00a0\u3000\u2028\u0085"
            ".,!?-_$+<>^`|~()" "😀\ue000\u0378\U0010ffff")


def _random_texts(seed: str, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24))) for _ in range(count)]


CUSTOM_EXPRS = {"gpt2": P._R_GPT2, "llama3": P._R_LLAMA3, "qwen2": P._R_QWEN2, "qwen35": P._R_QWEN35}


@pytest.mark.parametrize("kind", sorted(CUSTOM_EXPRS))
def test_custom_splitter_patterns_equal_the_cpp_splitters(kind):
    split = P.Pretokenizer([CUSTOM_EXPRS[kind]])
    for text in _random_texts(kind, 3000):
        assert split.bounds(text) == _ref_custom_split(text, kind), repr(text)


def test_fused_starcoder_pass_equals_two_passes():
    """"\\p{N}" then GPT-2 (fused into one pattern) against digit isolation + the ported splitter."""
    split = P.Pretokenizer(P.REGEXES["starcoder"])
    for text in _random_texts("starcoder", 3000):
        expected, start = [], 0
        for m in [*re.finditer(f"[{P._N}]", P.collapse(text)), None]:
            end = m.start() if m else len(text)
            expected += [start + e for e in _ref_custom_split(text[start:end], "gpt2")]
            if m:
                expected.append(m.end())
                start = m.end()
        assert split.bounds(text) == expected, repr(text)


def test_collapsed_regex_rewrite():
    # falcon's first regex: \p{P} inside a class takes the marker and the ASCII punctuation
    assert P._collapsed_regex("[\\p{P}\\$\\+<=>\\^~\\|`]+") == "[\xd3!-#%-*,-/:-;?-@\\[-\\]_\\{\\}\\$\\+<=>\\^~\\|`]+"
    # outside a class it becomes a class of its own; $ (end of fragment in ECMAScript) becomes \Z
    assert P._collapsed_regex("\\s?\\p{L}+") == "\\s?[\xd2A-Za-z]+"
    assert P._collapsed_regex("\\s+$") == "\\s+\\Z"
    assert P.collapse("aé 1٣\u3000½̈!€\ue000") == "a\xd2 1\xd1\x0b\xd1\xd4!\xd5\xd0"


def test_afmoe_digit_groups():
    # the C++ emits the text before a digit run together with the run's first group
    assert P.Pretokenizer(["\\p{AFMoE_digits}"]).split("ab1234cd56x") == ["ab1", "234", "cd56", "x"]


def test_pretokenizers_compile_and_refuse_kimi():
    for exprs in P.REGEXES.values():
        P.Pretokenizer(exprs)
    with pytest.raises(UnsupportedTypeError, match="Han"):
        P.Pretokenizer(["\\p{Han}+"])


# ---- special tokens, clean-up, errors (synthetic vocabularies) -------------------------------------------


def tiny_bpe(specials: dict[str, int], **extra) -> Tokenizer:
    """A byte-level vocabulary: the 256 GPT-2 byte characters, then ``specials`` (text -> token type)."""
    tokens = [*P.BYTE_TO_UNICODE, *specials]
    md = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.tokens": tokens,
          "tokenizer.ggml.token_type": np.array([1] * 256 + list(specials.values()), dtype=np.int32),
          "tokenizer.ggml.merges": [], **extra}
    return Tokenizer.from_gguf(md)


def byte_ids(s: str) -> list[int]:
    return list(s.encode())  # id of a byte's token == the byte in tiny_bpe


def test_special_tokens_longest_first_not_leftmost():
    # tokenizer_st_partition splits on each special token in turn, longest first: "bcd" wins over
    # the leftmost "ab". User-defined tokens (type 4) match even with parse_special off.
    tok = tiny_bpe({"ab": 4, "bcd": 4})
    assert tok.tokenize("abcd", add_special=False) == [*byte_ids("a"), 257]
    assert tok.tokenize("ab cd", add_special=False) == [256, *byte_ids(" cd")]


def test_control_tokens_need_parse_special():
    tok = tiny_bpe({"<x>": 3})
    assert tok.tokenize("a<x>b", add_special=False, parse_special=True) == [97, 256, 98]
    assert tok.tokenize("a<x>b", add_special=False, parse_special=False) == byte_ids("a<x>b")
    assert tok.detokenize([97, 256, 98]) == "a<x>b" and tok.detokenize([97, 256, 98], skip_special=True) == "ab"


def test_lstrip_rstrip_attributes():
    # Phi-3 (by general.name): every special token eats the C-locale spaces after it
    tok = tiny_bpe({"<|end|>": 3}, **{"general.name": "Phi3-mini"})
    assert tok.tokenize("a <|end|> \t\nb", add_special=False, parse_special=True) == [97, 32, 256, 98]
    # nomic-bert-moe / jina-v2 (by architecture / pre): "<mask>" eats the spaces before it
    tok = tiny_bpe({"<mask>": 3}, **{"general.architecture": "nomic-bert-moe"})
    assert tok.tokenize("a \u3000 <mask> b", add_special=False, parse_special=True) == [*byte_ids("a \u3000"), 256,
                                                                                         *byte_ids(" b")]


def test_eog_rules():
    tok = tiny_bpe({"<|im_end|>": 1, "<|return|>": 3, "<|call|>": 3, "<|end|>": 3})
    # by text, made control; "<|end|>" leaves the set next to "<|return|>" + "<|call|>" (gpt-oss)
    assert tok.eog_ids == {11, 256, 257, 258}  # 11: the default gpt2 BOS/EOS id
    assert tok.token_attr(256) & ATTR_CONTROL
    assert tok.eot_id == 256


def test_clean_spaces_passes():
    # impl::detokenize's clean-up, checked against llama_detokenize on the gpt-2 vocabulary
    assert _clean_spaces(b"Hello , world ! it 's") == b"Hello, world! it's"
    assert _clean_spaces(b"x ' y") == b"x'y"
    assert _clean_spaces(b"we 're ok . they 've 'll 'd 'm") == b"we're ok. they've 'll 'd'm"
    assert _clean_spaces(b"don 't") == b"don 't"
    # pass 2 writes a NUL over the space it skips, so the second "'" no longer sees a space before it
    assert _clean_spaces(b"a ' ' b") == b"a'' b"
    assert _clean_spaces(b"") == b"" and _clean_spaces(b" ,") == b","


def test_add_special_per_model(vocab_dir):
    spm = vocab_tokenizer(vocab_dir, "llama-spm")
    assert spm.tokenize("Hello", add_special=True) == [1, *spm.tokenize("Hello", add_special=False)]
    # the space prefix is dropped from the first piece, unless a BOS removed by skip_special came first
    assert spm.detokenize(spm.tokenize("Hello")) == "<s> Hello"
    assert spm.detokenize(spm.tokenize("Hello"), skip_special=True) == " Hello"
    assert spm.detokenize(spm.tokenize("Hello", add_special=False)) == "Hello"
    bert = vocab_tokenizer(vocab_dir, "bert-bge")
    assert bert.tokenize("hello", add_special=True) == [101, 7592, 102]  # [CLS] hello [SEP]


def test_unsupported_and_malformed():
    with pytest.raises(UnsupportedTypeError, match="rwkv"):
        Tokenizer.from_gguf({"tokenizer.ggml.model": "rwkv", "tokenizer.ggml.tokens": ["a"]})
    with pytest.raises(UnsupportedTypeError, match="kimi-k2"):
        tiny_bpe({}, **{"tokenizer.ggml.pre": "kimi-k2"})
    with pytest.raises(GGUFFormatError, match="tokenizer.ggml.model"):
        Tokenizer.from_gguf({"tokenizer.ggml.tokens": ["a"]})
    with pytest.raises(GGUFFormatError, match="merges"):
        Tokenizer.from_gguf({"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a"]})
