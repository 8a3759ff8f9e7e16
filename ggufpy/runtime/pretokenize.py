"""Pre-tokenization exactly as llama.cpp splits text before BPE (``unicode_regex_split``).

Sources (llama.cpp 0c1e570): ``llm_tokenizer_bpe``'s constructor in ``src/llama-vocab.cpp`` (the
regex list of each ``tokenizer.ggml.pre``) and ``src/unicode.cpp`` (how a list is applied).

How llama.cpp applies a regex list, and how we reproduce it:

1. The text is a sequence of code points. Each regex of the list splits every fragment left by the
   previous one; unmatched stretches between matches stay fragments of their own. Fragment ends act
   as the end of the text (``(?!\\S)`` and ``$`` see nothing beyond them).
2. Five regex strings have hand-written C++ splitters instead (GPT-2, Llama-3, Qwen2, Qwen3.5 and
   ``[^\\n]+|[\\n]+``; Afmoe's ``\\p{AFMoE_digits}`` too). They only look at code point *flags*
   (letter, number, mark, whitespace) and at a few ASCII characters, so we run an equivalent
   ``re`` pattern over the "collapsed" text below. The equivalences, including the splitters'
   quirks, are spelled out next to each pattern. StarCoder's list (digits, then GPT-2) runs as one
   fused pattern. Kimi-K2's ``\\p{Han}`` splitter is not ported (``UnsupportedTypeError``).
3. Every other regex goes through ``std::regex``: when it uses ``\\p{..}`` it runs on the collapsed
   text with each ``\\p{X}`` rewritten to ``[<marker of X><ASCII members of X>]``; otherwise on the
   code points with non-ASCII whitespace replaced by ``\\v``. We apply the same rewrite and run
   Python's ``re`` with ``re.ASCII`` (ECMAScript's ``\\s``/``\\d`` are ASCII-only in the C locale) and
   ``$`` turned into ``\\Z`` (ECMAScript ``$`` without ``multiline`` matches only at the end).

The collapsed text keeps ASCII as is and replaces every other code point by one marker: ``\\v``
(whitespace), ``\\xd1`` (\\p{N}), ``\\xd2`` (\\p{L}), ``\\xd3`` (\\p{P}), ``\\xd4`` (\\p{M}), ``\\xd5``
(\\p{S}) or ``\\xd0`` (anything else: controls, separators that are not whitespace, unassigned).

The code point categories are llama.cpp's ``unicode_ranges_flags`` (UCD 15.1, the version its
``unicode-data.cpp`` was generated from), stored below as a run-length string so the split does not
depend on the Unicode version of the running Python. ``tests/runtime`` checks the table against
``unicodedata`` for every code point both assign.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence

from ..errors import UnsupportedTypeError

# ---- code point flags (llama.cpp unicode.h ``unicode_cpt_flags``) --------------------------------

UNDEFINED, NUMBER, LETTER, SEPARATOR, ACCENT_MARK, PUNCTUATION, SYMBOL, CONTROL = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80,
)
WHITESPACE = 0x100

# Category runs from U+0000 to U+10FFFF: a letter (U undefined, N number, L letter, Z separator,
# M mark, P punctuation, S symbol, C control/format/private/surrogate) then the run length in base 36.
_CATEGORY_RUNS = (
    "CwZ1P3S1P6S1P4NaP2S3P2LqP3S1P1S1LqP1S1P1S1CxZ1P1S5P1S2L1P1S1C1S4N2S1L1P2S1N1L1P1N3P1LnS1LvS1LcqS"
    "4LcSeL5S7L1S1L1ShM34L5S1L2U2L4P1L1U4S2L1P1L3U1L1U1LkU1L2bS1L3vS1M7L4mU1L12U2L1P6L15P2U2S3U1M19P1"
    "M1P1M2P1M2P1M1U8LrU4L4P2UbC6S3P2S1P2S2MbP1C1P3L17MlNaP4L2M1L2rP1L1M7C1S1M6L2M2S1M4L2NaL3S2L1PeU1"
    "C1L1M1LuMrU2L2hMbL1UeNaLxM9L2S1P3L1U2M1S2LmM4L1M9L1M3L1M5U2PfU1LpM3U2P1U1LbU5LoS1L6U1C2U6M8L16Mo"
    "C1MxL1iM3L1MiL1M7LaM2P2NaP1LgM3U1L8U2L2U2LmU1L7U1L1U3L4U2M1L1M7U2M2U2M3L1U8M1U4L2U1L3M2U2NaL2S2N"
    "6S2L1P1M1U2M3U1L6U4L2U2LmU1L7U1L2U1L2U1L2U2M1U1M5U4M2U2M3U3M1U7L4U1L1U7NaM2L3M1P1UaM3U1L9U1L3U1L"
    "mU1L7U1L2U1L5U2M1L1M8U1M3U1M3U2L1UfL2M2U2NaP1S1U7L1M6U1M3U1L8U2L2U2LmU1L7U1L2U1L5U2M1L1M7U2M2U2M"
    "3U7M3U4L2U1L3M2U2NaS1L1N6UaM1L1U1L6U3L3U1L4U3L2U1L1U1L2U3L2U3L3U3LcU4M5U3M3U1M4U2L1U6M1UeNdS8U5M"
    "5L8U1L3U1LnU1LgU2M1L1M7U1M3U1M4U7M2U1L3U2L1U2L2M2U2NaU7P1N7S1L1M3P1L8U1L3U1LnU1LaU1L5U2M1L1M7U1M"
    "3U1M4U7M2U6L2U1L2M2U2NaU1L2M1UcM4L9U1L3U1L15M2L1M7U1M3U1M4L1S1U4L3M1N7L3M2U2NjS1L6U1M3U1LiU3LoU1"
    "L9U1L1U2L7U3M1U4M6U1M1U1M8U6NaU2M2P1UcL1cM1L2M7U4S1L7M8P1NaP2U11L2U1L1U1L5U1LoU1L1U1LaM1L2M9L1U2"
    "L5U1L1U1M7U1NaU2L4UwL1S3PfS1P1S3M2S6NkS1M1S1M1S1M1P4M2L8U1L10U4MkP1M2L5MbU1M10U1S8M1S6U1S2P5S4P2"
    "U11L17MkL1NaP6L6M4L4M3L1M3L2M7L3M4LdMcL1M1NaM4S2L12U1L1U5L1U2L17P1L99U1L4U2L7U1L1U1L4U2L15U1L4U2"
    "LxU1L4U2L7U1L1U1L4U2LfU1L1lU1L4U2L1vU2M3P9NkU3LgSaU6L2eU2L6U2P1Lh8S1P1LhZ1LqP2U3L23P3N3L8U7LiM4U"
    "9LjM3P2U9LiM2UcLdU1L3U1M2UcL1gMwP3L1P3S1L1M1U2NaU6NaU6PbM3C1M1NaU6L2hU7L5M2LyM1L1U5L1yUaLvU1McU4"
    "McU4S1U3P2NaLuU2L5UbL18U4LqU6NbU3SyLnM5U2P2L1hMaU1MtU2M1NaU6NaU6P7L1P6U2MvU1dM5L1bMhL8U3NaP7SaM9"
    "S9P2U1M3LuMdL2NaL18MeU8P4L10MkU3P5NaU3L3NaL10P2L9U7L17U2L3P8U8M3P1MlL4M1L6M1L2M3L1U5L5cM1sL7qU2L"
    "6U2L12U2L6U2L8U1L1U1L1U1L1U1LvU2L1hU1L7S1L1S3L3U1L7S3L4U2L6U1S3LdS3U2L3U1L7S2U1ZbC5PoZ2C5Z1PkS1P"
    "dS1PcZ1C5U1CaN1L1U2N6S3P2L1NaS3P2U1LdU3SxUfMxUfS2L1S4L1S2LaS1L1S3L5S6L1S1L1S1L1S1L4S1LbS2L4S5L5S"
    "4L1S1N1fL2N5S2U4SagP4StP2S70UpSbUlN1oS26NmSh4PeNuS1dP2SvPaSb7PmS1rP4SwP2SaeU2SwU1S2xL6dS6L4M3L2U"
    "5P4N1P2L12U1L1U5L1U2L1kU7L1P1UeM1LnU9L7U1L7U1L7U1L7U1L7U1L7U1L7U1L7U1MwP1bL1PwS2PcUySqU1S2hUcS5y"
    "UqSgZ1P3S1L2N1PaS2PcS1N9M6P1L5S2N3L2P1S2U1L2eU2M2S2L3P1L2iP1L4U5L17U1L2mU1S2N4SaLwS10UbS1LgSvU1N"
    "aSuN8S1NfSwNaS13NfS8wL534S1sLh3hU3S1jU9L1aP2L7hP3LgNaL2UkL1bM4P1MaP1LvM2L1yNaM2P6U8SnL9S2L2vS2L1"
    "sU5L2U1L1U1L5UoLgM1L3M1L4M1LnM5S4M1U3N6S4U6L1gP4U8M2L1eMiU8P2NaU6MiL6P3L1P1L2M1NaLsM8P2LnMdUbP1L"
    "tU3M4L1bMePdU1L1NaU4P2L5M1LaNaL5U1L15MeU9L3M1L8M2U2NaU2P4LnS3L1M3L1eM1L1M3L2M2L5M2L1M1L1UoL3P2Lb"
    "M5P2L3M2UaL6U2L6U2L6U9L7U1L7U1L17S1LeS2U4L37M8P1M2U2NaU6L8mcUcLnU4L1dU4C6ioLa6U2L2yU12L7UcL5U5L1"
    "M1LaS1LdU1L5U1L1U1L2U1L2U1L30ShUgLa3P2SgL1sU2L1iU7S1UwLcS4MgPaU6MgPzU1PeS1P1S3U1P1S1P2U4L5U1L3rU"
    "2C1U1P3S1P6S1P4NaP2S3P2LqP3S1P1S1LqP1S1P1S1P7L2hU3L6U2L6U2L6U2L3U3S7U1S7UaC3S2U2LcU1LqU1LjU1L2U1"
    "LfU2LeUyL3fU5P3U4N19U3S9N1lShN2S3U1SdU3S1U1bS19M1U3mLtU3L1dUfM1NrU4LwN4U9LkN1L8N1U5L12M5U5LuU1P1"
    "L10U4L8P1N5U16L4eU2NaU6L10U4L10U4L14U8L1gUbP1LbU1LfU1L7U1L2U1LbU1LfU1L7U1L2U1vL8nU9LmUaL8UoL6U1L"
    "16U1L9U1xL6U2L1U1L18U1L2U3L1U2LnU1P1N8LnS2N7LvU8N9U1cLjU1L2U5N5LmN6U3P1LqU5P1U1sL1kU4N2L2NgU2N1a"
    "L1M3U1M2U5M4L4U1L3U1LtU2M3U4M1N9U7P9U7LtN2P1LtN3UwL8S1LsM2U4N5P7U9L1iU3P7LmU2N8LjU5N8LiU7P4UcN7U"
    "28L21U1jL1fUdL1fU7N6L10M4U8NaU86NvU1L16U1M2P1U2L2U23M3LtNaL1U8LmMbN4P5UmLiM4P4U12LlN7UkLnU9M3L1h"
    "MfP7U4NuM1L2M2L1U9M4L19MbP2C1P4M1UaC1U2LpU7NaU6M3L10MeU1NaP4L1M2L1U8LzM1P2L1U9M3L1cMeL4P4M4P1M2N"
    "aL1P1L1P3U1NkUbLiU1LpMcP6M1L2M1U1qL7U1L1U1L4U1LfU1LaP1U6L1bMcU5NaU6M4U1L8U2L2U2LmU1L7U1L2U1L5U1M"
    "2L1M7U2M2U2M3U2L1U6M1U5L5M2U2M7U3M5U3vL1hMiL4P5NaP2U1P1M1L3UuL1cMkL2P1L1U8NaU4mL1bM7U2M9PnL4M2Uy"
    "L1cMhP3L1UbNaU6PdUjL17MdL1P1U6NaU1iLrU2MfU4NcP3S1L7U55L18MfP1U2sL1sNjUcL8U2L1U2L8U1L2U1LoM6U1M2U"
    "2M4L1M1L1M2P3U9NaU1yL8U2L13M7U2M7L1P1L1M1UrL1MaL14M7L1M4P8M1U8L1MbL1aMgP3L1P5UdL21U7PaU6uL9U1L11"
    "M8U1M8L1P5UaNtU3P2LuU2MmU1MeU21L7U1L2U1L12M6U3M1U1M2U1M7L1M1U8NaU6L6U1L2U1LwM5U1M2U1M5L1U7NaU8mL"
    "jM4P2U7M2L1M1LdU1LyM7U3M5PdNaU2eL1UfNlStUdP1LpmU2uN33U1P5UbL5gU218L2pP2UdLtsCgM1L6MfU33eLg7U6ntL"
    "ftU7LvU1NaU4P2L27U1NaU6LuU2M5P1UaL1cM7P5S4L4P1S1UaNaU1N7U1LlU5LjUj4L1sNnP4U2tL23U4M1L1M1jU7M4LdU"
    "1sL2P1L1M1UbM2UeL4qgU8LyeU16L9U6w7L4U1L7U1L2U1L83UfL1UtL3U2L1UeL4U8Lb0U1s4L2zU5LdU3L9U7LaU2S1M2P"
    "1C4U3mkM1aU2MnU9S38U1oS6uUaS13U2S1oM5S3M6C8M8S2M7SuM4S1pUlS1uM3S1U3eNkUcNkUcS2fU9NpU3rL2dU1L1zU1"
    "L2U2L1U2L2U2L4U1LcU1L1U1L7U1L1tU1L4U2L8U1L7U1LsU1L4U1L5U1L1U3L7U1L9gU2LpS1LpS1LvS1LpS1LvS1LpS1Lv"
    "S1LpS1LvS1LpS1L8U2N1eSe8M1jS4M1eS8M1SeM1S2P5UfM5U1MfUuoLvU6L6U5xM7U1MhU2M7U1M2U1M5U5L1qUxM1U34L1"
    "9U3M7L7U2NaU4L1S1U8wLuM1UhL18M4NaU5S1UcwLsM4NaUkmL7U1L4U1L2U1LfU1L5hU2N9M7U15L1wM7L1U4NaU4P2UltN"
    "1nS1N3S1N4U24N19S1NfU5eL4U1LrU1L2U1L1U2L1U1LaU1L4U1L1U1L1U6L1U4L1U1L1U1L1U1L3U1L2U1L1U2L1U1L1U1L"
    "1U1L1U1L1U1L2U1L1U2L4U1L7U1L4U1L4U1L1U1LaU1LhU5L3U1L5U1LhU1gS2U7iS18U4S2sUcSfU2SfU1SfU1S11UaNdS4"
    "hU1kStUdS18U4S9U7S2UeS6U4aSrcU4ShU3SdU3S3bU4S2nU6ScU4S1UfScU4S1kU8SaU6S14U8SuU2S2U26S9gUcSeU2SdU"
    "3S9U7S1aU1S7U8SeU4S9U7S9U7S43U1S1jU11NaUsmLwyoUwL37eU6L66U2L4g2UeL5rlUfLhaU1wiLf2U15uL3t7U5L38gU"
    "f975C1UuC2oU3kM6oU1e6oC1ekeU2C1ekeU2"
)
# The string above is decoded once into parallel lists: ``_RUN_START[i]`` is the first code point of
# run i and ``_RUN_FLAGS[i]`` its flags. Spaces and line breaks inside the string are ignored.
_RUN_LETTERS = {"U": UNDEFINED, "N": NUMBER, "L": LETTER, "Z": SEPARATOR, "M": ACCENT_MARK,
                "P": PUNCTUATION, "S": SYMBOL, "C": CONTROL}


def _decode_runs(encoded: str) -> tuple[list[int], list[int]]:
    starts, flags, cpt = [], [], 0
    for letter, length in re.findall(r"([UNLZMPSC])([0-9a-z]+)", encoded.replace(" ", "")):
        starts.append(cpt)
        flags.append(_RUN_LETTERS[letter])
        cpt += int(length, 36)
    assert cpt == 0x110000, f"category runs end at {cpt:#x}, expected 0x110000"
    return starts, flags


_RUN_START, _RUN_FLAGS = _decode_runs(_CATEGORY_RUNS)

# ``unicode_set_whitespace``: the White_Space property (PropList.txt).
WHITESPACE_CPTS = frozenset(
    [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F,
     0x205F, 0x3000]
)


def cpt_flags(cpt: int) -> int:
    """llama.cpp ``unicode_cpt_flags_from_cpt``: one category flag, plus WHITESPACE where it applies."""
    if cpt >= 0x110000:
        return UNDEFINED
    flags = _RUN_FLAGS[bisect.bisect_right(_RUN_START, cpt) - 1]
    return flags | WHITESPACE if cpt in WHITESPACE_CPTS else flags


# ---- collapsed text --------------------------------------------------------------------------------

_MARKER = {NUMBER: 0xD1, LETTER: 0xD2, PUNCTUATION: 0xD3, ACCENT_MARK: 0xD4, SYMBOL: 0xD5}
_TABLE_MAX = 1 << 16  # code points remembered by each translate table before it starts over


class _TranslateTable(dict):
    """``str.translate`` table filled on first sight of each code point (ASCII maps to itself)."""

    def __init__(self, value_of: Callable[[int], int]):
        super().__init__((c, c) for c in range(0x80))
        self.value_of = value_of

    def __missing__(self, cpt: int) -> int:
        if len(self) > _TABLE_MAX:
            for c in [c for c in self if c >= 0x80]:
                del self[c]
        value = self[cpt] = self.value_of(cpt)
        return value


def _collapsed_cpt(cpt: int) -> int:
    if cpt in WHITESPACE_CPTS:
        return 0x0B
    return _MARKER.get(cpt_flags(cpt), 0xD0)


_COLLAPSE = _TranslateTable(_collapsed_cpt)
# the ``std::wregex`` view: only non-ASCII whitespace changes, to ``\\v``
_WS_FOLD = _TranslateTable(lambda cpt: 0x0B if cpt in WHITESPACE_CPTS else cpt)


def collapse(text: str) -> str:
    """The collapsed text (one character per code point, see the module docstring)."""
    return text.translate(_COLLAPSE)


# ---- the regex lists (verbatim from llm_tokenizer_bpe, C++ escapes are Python's) ------------------

_R_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
_R_LLAMA3 = ("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
             "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
_R_LLAMA3_ORIG = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
                  "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
_R_QWEN2 = ("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
            "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
_R_QWEN35 = ("(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|"
             "\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
_R_NEWLINES = "[^\\n]+|[\\n]+"
_R_AFMOE_DIGITS = "\\p{AFMoE_digits}"
_R_TINY_AYA_DIGITS = "\\d{1,3}(?=(?:\\d{3})*\\b)"
_R_CONTRACTIONS_OPT = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
_R_DEEPSEEK3 = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
                " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")
_R_GPT4O_TAIL = "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
_R_CASED = ("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
            + _R_CONTRACTIONS_OPT
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + _R_CONTRACTIONS_OPT)

REGEXES: dict[str, tuple[str, ...]] = {
    "default": (
        "[\\p{P}\\$\\+<=>\\^~\\|]+",
        _R_GPT2,
        "\\p{N}+",
        "[0-9][0-9][0-9]",
    ),
    "llama3": (_R_LLAMA3,),
    "jais2": (
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
        " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|"
        "\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    ),
    "deepseek-llm": (
        "[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷ"
        "ᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄ"
        "Ⰰ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
    ),
    "deepseek-v3": ("\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", _R_DEEPSEEK3),
    "spark2_5": (
        "\\p{N}{1,3}",
        "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
        " ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
        "\\p{N}",
    ),
    "youtu": (
        "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
        _R_CASED + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
    "deepseek-coder": (
        "[\r\n]",
        "\\s?\\p{L}+",
        "\\s?\\p{P}+",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}",
    ),
    "falcon": (
        "[\\p{P}\\$\\+<=>\\^~\\|`]+",
        _R_GPT2,
        "[0-9][0-9][0-9]",
    ),
    "starcoder": ("\\p{N}", _R_GPT2),
    "gpt2": (_R_GPT2,),
    "qwen2": (_R_QWEN2,),
    "qwen35": (_R_QWEN35,),
    "bloom": (" ?[^(\\s|.,!?…。，、।۔،)]+",),
    "viking": (" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"),
    "tekken": (
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|"
        "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
    "chameleon": (
        "<sentinel:[0-9]+>",
        "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
        "([\\t\\n]|    |  )",
        "\\p{N}",
        "[\\p{P}!-/:-@\\[-`{-~]",
        _R_GPT2,
    ),
    "gpt-4o": (
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + _R_CONTRACTIONS_OPT
        + "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + _R_CONTRACTIONS_OPT
        + _R_GPT4O_TAIL,
    ),
    "granite-embed-multi-97m": (
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+" + _R_CONTRACTIONS_OPT
        + "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*"
        + _R_CONTRACTIONS_OPT + _R_GPT4O_TAIL,
    ),
    "tiny_aya": (_R_TINY_AYA_DIGITS, _R_CASED + _R_GPT4O_TAIL),
    "superbpe": ("\\p{N}+", "(?=(\\d{3})+(?!\\d))"),
    "bailingmoe": (
        "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
        "[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ),
    "seed-coder": (
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}|"
        " ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
    "ufakzeka": (
        "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
    "afmoe": (
        _R_AFMOE_DIGITS,
        "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
        " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
    "laguna": (_R_NEWLINES, _R_QWEN2),
    "exaone-moe": (
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?"
        "(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ),
    "newlines": (_R_NEWLINES,),
    "minicpm5": (
        "\\p{N}{1,3}",
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+|"
        " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
    "whitespace": ("\\S+",),
}

# ---- the hand-written splitters, as patterns over the collapsed text ------------------------------
# Classes of the collapsed alphabet: letters, numbers, marks, whitespace; everything else is "other".
_L, _N, _M, _S = "A-Za-z\xd2", "0-9\xd1", "\xd4", "\t\n\x0b\x0c\r "

_CUSTOM: dict[str, str] = {
    # unicode_regex_split_custom_gpt2. The splitter tests contractions (case-sensitive), then
    # " ?letters", " ?numbers", " ?others" (deciding on the character after an optional space), then
    # a whitespace run: all of it at the fragment end, all but its last character when more than one
    # is followed by a non-space, else all of it -- which is exactly `\s+(?!\S)|\s+`.
    _R_GPT2: (
        rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{_L}]+| ?[{_N}]+| ?[^{_S}{_L}{_N}]+|[{_S}]+(?![^{_S}])|[{_S}]+"
    ),
    # unicode_regex_split_custom_llama3 (also the original "(?i:...)" spelling). Contractions compare
    # unicode_tolower of the next code points with ASCII letters; no non-ASCII code point lowercases
    # to s/t/m/d/r/v/e/l, so ASCII classes are exact. "[^\r\n\p{L}\p{N}]?\p{L}+" is taken when the
    # character is not CR/LF/number and it or the next one is a letter. A lone space at a fragment
    # end is one token whichever branch takes it.
    _R_LLAMA3: (
        rf"'[sStTmMdD]|'(?:[rR][eE]|[vV][eE]|[lL][lL])|[^\r\n{_L}{_N}]?[{_L}]+|[{_N}]{{1,3}}"
        rf"| ?[^{_S}{_L}{_N}]+[\r\n]*|[{_S}]*[\r\n]+|[{_S}]+(?![^{_S}])|[{_S}]+"
    ),
    # unicode_regex_split_custom_qwen2: llama3 with single digits.
    _R_QWEN2: (
        rf"'[sStTmMdD]|'(?:[rR][eE]|[vV][eE]|[lL][lL])|[^\r\n{_L}{_N}]?[{_L}]+|[{_N}]"
        rf"| ?[^{_S}{_L}{_N}]+[\r\n]*|[{_S}]*[\r\n]+|[{_S}]+(?![^{_S}])|[{_S}]+"
    ),
    # unicode_regex_split_custom_qwen35: qwen2 where letter runs also take marks. The splitter
    # starts a run at a mark too; the optional prefix class (which does not exclude marks) followed
    # by backtracking gives the same spans.
    _R_QWEN35: (
        rf"'[sStTmMdD]|'(?:[rR][eE]|[vV][eE]|[lL][lL])|[^\r\n{_L}{_N}]?[{_L}{_M}]+|[{_N}]"
        rf"| ?[^{_S}{_L}{_M}{_N}]+[\r\n]*|[{_S}]*[\r\n]+|[{_S}]+(?![^{_S}])|[{_S}]+"
    ),
    # unicode_regex_split_custom_newlines.
    _R_NEWLINES: r"[^\n]+|\n+",
}
_CUSTOM[_R_LLAMA3_ORIG] = _CUSTOM[_R_LLAMA3]

# StarCoder's list ("\p{N}" then GPT-2) fused into one pass: digits are isolated first, and GPT-2
# then runs inside the digit-free fragments, where a digit ends the fragment. No GPT-2 branch can
# take a digit, so the only cross-fragment effect is the lookahead: a whitespace run right before a
# digit is at its fragment's end and goes whole, hence `(?![^\s\d])` instead of `(?!\S)`.
_FUSED: dict[tuple[str, ...], str] = {
    ("\\p{N}", _R_GPT2): (
        rf"[{_N}]|'s|'t|'re|'ve|'m|'ll|'d| ?[{_L}]+| ?[^{_S}{_L}{_N}]+|[{_S}]+(?![^{_S}{_N}])|[{_S}]+"
    ),
}

# ``\p{X}`` spellings llama.cpp rewrites, and the ASCII members added next to each marker.
_UCAT = {"\\p{N}": NUMBER, "\\p{L}": LETTER, "\\p{P}": PUNCTUATION, "\\p{M}": ACCENT_MARK, "\\p{S}": SYMBOL,
         "\\p{Lu}": LETTER, "\\p{Ll}": LETTER, "\\p{Lt}": LETTER, "\\p{Lm}": LETTER, "\\p{Lo}": LETTER}
_UCAT_ASCII = {
    NUMBER: "0-9",
    LETTER: "A-Za-z",
    PUNCTUATION: "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
    ACCENT_MARK: "",
    SYMBOL: "\\$\\+<->^`\\|\\~",
}


def _uses_categories(expr: str) -> bool:
    return any(k in expr for k in _UCAT)


def _collapsed_regex(expr: str) -> str:
    """The rewrite of ``unicode_regex_split`` (bracket tracking included) plus ``$`` -> ``\\Z``."""
    out, inside, i = [], False, 0
    while i < len(expr):
        c = expr[i]
        if c == "[" and (i == 0 or expr[i - 1] != "\\"):
            out.append("[")
            inside = True
        elif inside and c == "]" and expr[i - 1] != "\\":
            out.append("]")
            inside = False
        elif c == "\\" and i + 3 < len(expr) and expr[i + 1] == "p" and expr[i + 2] == "{":
            end = expr.find("}", i + 3)
            pat = expr[i : end + 1] if end != -1 and end <= i + 10 else ""
            if pat in _UCAT:
                cls = chr(_MARKER[_UCAT[pat]]) + _UCAT_ASCII[_UCAT[pat]]
                out.append(cls if inside else f"[{cls}]")
                i = end
            else:
                out.append(c)
        elif c == "$" and not inside and (i == 0 or expr[i - 1] != "\\"):
            out.append("\\Z")
        else:
            out.append(c)
        i += 1
    return "".join(out)


# ---- the splitter -------------------------------------------------------------------------------

_COLLAPSED, _WIDE = 0, 1  # which view of the text a pass runs on: collapsed, or whitespace-folded
_DIGIT_RUN = re.compile(f"[{_N}]+")


def _split_afmoe_digits(subject: str, start: int, end: int, out: list[int]) -> None:
    """unicode_regex_split_custom_afmoe: digit runs become groups of 3 counted from the right; the
    text before a run is emitted *together with* its first group (the C++ emits from the previous
    end); trailing text is one fragment."""
    prev = start
    for m in _DIGIT_RUN.finditer(subject, start, end):
        s, e = m.span()
        first = s + ((e - s) % 3 or 3)
        out.append(first)
        prev = first
        for b in range(first + 3, e + 1, 3):
            out.append(b)
            prev = b
    if prev < end:
        out.append(end)


class Pretokenizer:
    """Splits text into the words llama.cpp hands to BPE, for one regex list.

    Args:
        exprs: the regex list, as in ``llm_tokenizer_bpe`` (see ``REGEXES``).

    Raises:
        UnsupportedTypeError: a regex that needs a llama.cpp splitter we do not have (Kimi-K2).
    """

    def __init__(self, exprs: Sequence[str]):
        self.exprs = tuple(exprs)
        # (view, splitter, gap_free): gap-free patterns match every character (the custom ones:
        # each character is a letter, number, mark, whitespace or other, and each has a branch).
        self._passes: list[tuple[int, Callable | re.Pattern, bool]] = []
        if self.exprs in _FUSED:
            self._passes.append((_COLLAPSED, re.compile(_FUSED[self.exprs]), True))
            exprs = ()
        for expr in exprs:
            if expr in _CUSTOM:
                self._passes.append((_COLLAPSED, re.compile(_CUSTOM[expr]), True))
            elif expr in (_R_AFMOE_DIGITS, _R_TINY_AYA_DIGITS):
                self._passes.append((_COLLAPSED, _split_afmoe_digits, False))
            elif "\\p{Han}" in expr:
                raise UnsupportedTypeError(f"pre-tokenizer regex {expr!r} needs a llama.cpp splitter ggufpy lacks")
            elif _uses_categories(expr):
                if any(ord(c) >= 0x80 for c in expr):
                    raise UnsupportedTypeError(f"pre-tokenizer regex {expr!r} mixes \\p{{..}} and non-ASCII")
                self._passes.append((_COLLAPSED, re.compile(_collapsed_regex(expr), re.ASCII), False))
            else:
                self._passes.append((_WIDE, re.compile(_collapsed_regex(expr), re.ASCII), False))
        self._views = {view for view, _, _ in self._passes}

    def bounds(self, text: str) -> list[int]:
        """End offsets (in code points) of the words of ``text``; the first word starts at 0."""
        if not text:
            return []
        views = {_COLLAPSED: text.translate(_COLLAPSE) if _COLLAPSED in self._views else "",
                 _WIDE: text.translate(_WS_FOLD) if _WIDE in self._views else ""}
        ends = [len(text)]
        for view, splitter, gap_free in self._passes:
            subject = views[view]
            new: list[int] = []
            start = 0
            if not isinstance(splitter, re.Pattern):
                for end in ends:
                    splitter(subject, start, end, new)
                    start = end
            elif gap_free:
                finditer = splitter.finditer
                for end in ends:
                    new += [m.end() for m in finditer(subject, start, end)]
                    start = end
            else:
                append = new.append
                finditer = splitter.finditer
                for end in ends:
                    prev = start
                    for m in finditer(subject, start, end):
                        s, e = m.span()
                        if s > prev:
                            append(s)
                        if e > s:  # empty matches only leave empty fragments, which make no token
                            append(e)
                        prev = e
                    if prev < end:
                        append(end)
                    start = end
            ends = new
        return ends

    def split(self, text: str) -> list[str]:
        """The words of ``text`` (substrings, in order, covering it exactly)."""
        words, start = [], 0
        for end in self.bounds(text):
            words.append(text[start:end])
            start = end
        return words


# ---- GPT-2 byte <-> unicode (unicode_byte_to_utf8_map) --------------------------------------------


def _byte_to_unicode() -> list[str]:
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, n = {}, 0
    for b in keep:
        table[b] = chr(b)
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return [table[b] for b in range(256)]


BYTE_TO_UNICODE: list[str] = _byte_to_unicode()
UNICODE_TO_BYTE: dict[str, int] = {c: b for b, c in enumerate(BYTE_TO_UNICODE)}
# ``bytes.decode("latin-1").translate(BYTE_ENCODE)`` maps each byte to its GPT-2 character.
BYTE_ENCODE: dict[int, str] = {b: c for b, c in enumerate(BYTE_TO_UNICODE)}
