"""GGUF container constants and the one table of ggml block layouts.

Sources: ggml ``include/ggml.h`` (type ids), ``src/ggml-common.h`` (block sizes, checked by
``static_assert`` there and mirrored in ``native/include/ggufpy/blocks.h``), ``docs/gguf.md``
(value types), ``include/llama.h`` (file types). See ../shared/spec/formats.md §1.
"""

from __future__ import annotations

from enum import IntEnum

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
GGUF_SUPPORTED_VERSIONS = (2, 3)  # v2 and v3 share one layout; v3 only added big-endian files
GGUF_DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4
GGML_MAX_NAME = 64  # llama.cpp keeps tensor names < 64 bytes
QK_K = 256


class GGUFValueType(IntEnum):
    """Metadata value types (gguf.h ``gguf_type``)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# struct format character (little-endian) of every fixed-size value type.
VALUE_STRUCT = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}

# numpy dtype of every fixed-size value type, for zero-copy numeric arrays.
VALUE_DTYPE = {
    GGUFValueType.UINT8: "<u1",
    GGUFValueType.INT8: "<i1",
    GGUFValueType.UINT16: "<u2",
    GGUFValueType.INT16: "<i2",
    GGUFValueType.UINT32: "<u4",
    GGUFValueType.INT32: "<i4",
    GGUFValueType.FLOAT32: "<f4",
    GGUFValueType.BOOL: "<u1",  # any non-zero byte is true (gguf.cpp); exposed as np.bool_
    GGUFValueType.UINT64: "<u8",
    GGUFValueType.INT64: "<i8",
    GGUFValueType.FLOAT64: "<f8",
}


class GGMLType(IntEnum):
    """ggml tensor types, ids as in ggml.h. Removed ids keep a name so files can be diagnosed."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q4_2 = 4  # removed
    Q4_3 = 5  # removed
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    IQ1_M = 29
    BF16 = 30
    Q4_0_4_4 = 31  # removed: runtime repacking replaced these
    Q4_0_4_8 = 32  # removed
    Q4_0_8_8 = 33  # removed
    TQ1_0 = 34
    TQ2_0 = 35
    IQ4_NL_4_4 = 36  # removed
    IQ4_NL_4_8 = 37  # removed
    IQ4_NL_8_8 = 38  # removed
    MXFP4 = 39
    NVFP4 = 40
    Q1_0 = 41
    Q2_0 = 42
    # ---- ggufpy-private types (see GGUFPY_TYPE_BASE): files using them load only in ggufpy ----
    NF4 = 0x47500001
    TQ2_64 = 0x47500002


# ggufpy-private type ids live at 0x4750_0000 + n ("GP" in the high half-word). ggml's ids are small
# consecutive integers (43 today) and forks extend them just past GGML_TYPE_COUNT (BitNet took 36-39,
# which collided with upstream), so a number in the hundreds of millions can never collide; it is below
# 2**31, so llama.cpp (which reads the field as int32) rejects it cleanly as "invalid type" instead of
# misreading the bytes as some other layout.
GGUFPY_TYPE_BASE = 0x47500000
PRIVATE_TYPES = frozenset({GGMLType.NF4, GGMLType.TQ2_64})


# GGMLType -> (block_size in elements, type_size in bytes per block). Removed ids are (0, 0).
# Q8_1 is 36 bytes (two f16 + 32 int8); gguf-py's table still says 40, which is stale.
QUANT_SIZES: dict[GGMLType, tuple[int, int]] = {
    GGMLType.F32: (1, 4),
    GGMLType.F16: (1, 2),
    GGMLType.Q4_0: (32, 18),
    GGMLType.Q4_1: (32, 20),
    GGMLType.Q4_2: (0, 0),
    GGMLType.Q4_3: (0, 0),
    GGMLType.Q5_0: (32, 22),
    GGMLType.Q5_1: (32, 24),
    GGMLType.Q8_0: (32, 34),
    GGMLType.Q8_1: (32, 36),
    GGMLType.Q2_K: (QK_K, 84),
    GGMLType.Q3_K: (QK_K, 110),
    GGMLType.Q4_K: (QK_K, 144),
    GGMLType.Q5_K: (QK_K, 176),
    GGMLType.Q6_K: (QK_K, 210),
    GGMLType.Q8_K: (QK_K, 292),
    GGMLType.IQ2_XXS: (QK_K, 66),
    GGMLType.IQ2_XS: (QK_K, 74),
    GGMLType.IQ3_XXS: (QK_K, 98),
    GGMLType.IQ1_S: (QK_K, 50),
    GGMLType.IQ4_NL: (32, 18),
    GGMLType.IQ3_S: (QK_K, 110),
    GGMLType.IQ2_S: (QK_K, 82),
    GGMLType.IQ4_XS: (QK_K, 136),
    GGMLType.I8: (1, 1),
    GGMLType.I16: (1, 2),
    GGMLType.I32: (1, 4),
    GGMLType.I64: (1, 8),
    GGMLType.F64: (1, 8),
    GGMLType.IQ1_M: (QK_K, 56),
    GGMLType.BF16: (1, 2),
    GGMLType.Q4_0_4_4: (0, 0),
    GGMLType.Q4_0_4_8: (0, 0),
    GGMLType.Q4_0_8_8: (0, 0),
    GGMLType.TQ1_0: (QK_K, 54),
    GGMLType.TQ2_0: (QK_K, 66),
    GGMLType.IQ4_NL_4_4: (0, 0),
    GGMLType.IQ4_NL_4_8: (0, 0),
    GGMLType.IQ4_NL_8_8: (0, 0),
    GGMLType.MXFP4: (32, 17),
    GGMLType.NVFP4: (64, 36),
    GGMLType.Q1_0: (128, 18),
    GGMLType.Q2_0: (64, 18),
    GGMLType.NF4: (64, 36),  # f32 absmax + 32 bytes of 4-bit codes (quants/nf4.py)
    GGMLType.TQ2_64: (64, 18),  # 16 bytes of 2-bit ternary codes + f16 scale (quants/ternary.py)
}

# Plain (non-block) types whose bytes are a numpy dtype.
PLAIN_DTYPES: dict[GGMLType, str] = {
    GGMLType.F32: "<f4",
    GGMLType.F16: "<f2",
    GGMLType.I8: "<i1",
    GGMLType.I16: "<i2",
    GGMLType.I32: "<i4",
    GGMLType.I64: "<i8",
    GGMLType.F64: "<f8",
}


class LlamaFileType(IntEnum):
    """``general.file_type`` values (llama.h ``llama_ftype``); 38-41 from gguf-py/llama-quant."""

    ALL_F32 = 0
    MOSTLY_F16 = 1
    MOSTLY_Q4_0 = 2
    MOSTLY_Q4_1 = 3
    MOSTLY_Q8_0 = 7
    MOSTLY_Q5_0 = 8
    MOSTLY_Q5_1 = 9
    MOSTLY_Q2_K = 10
    MOSTLY_Q3_K_S = 11
    MOSTLY_Q3_K_M = 12
    MOSTLY_Q3_K_L = 13
    MOSTLY_Q4_K_S = 14
    MOSTLY_Q4_K_M = 15
    MOSTLY_Q5_K_S = 16
    MOSTLY_Q5_K_M = 17
    MOSTLY_Q6_K = 18
    MOSTLY_IQ2_XXS = 19
    MOSTLY_IQ2_XS = 20
    MOSTLY_Q2_K_S = 21
    MOSTLY_IQ3_XS = 22
    MOSTLY_IQ3_XXS = 23
    MOSTLY_IQ1_S = 24
    MOSTLY_IQ4_NL = 25
    MOSTLY_IQ3_S = 26
    MOSTLY_IQ3_M = 27
    MOSTLY_IQ2_S = 28
    MOSTLY_IQ2_M = 29
    MOSTLY_IQ4_XS = 30
    MOSTLY_IQ1_M = 31
    MOSTLY_BF16 = 32
    MOSTLY_TQ1_0 = 36
    MOSTLY_TQ2_0 = 37
    MOSTLY_MXFP4_MOE = 38
    MOSTLY_NVFP4 = 39
    MOSTLY_Q1_0 = 40
    MOSTLY_Q2_0 = 41


class TokenType(IntEnum):
    """``tokenizer.ggml.token_type`` values (llama.h ``llama_token_type``)."""

    UNDEFINED = 0
    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


def type_name(type_id: int) -> str:
    """Name of a ggml type id, or ``type#N`` for an id ggml does not define."""
    try:
        return GGMLType(type_id).name
    except ValueError:
        return f"type#{type_id}"


def is_removed(qtype: GGMLType) -> bool:
    """True for ids ggml has retired (no layout any more)."""
    return QUANT_SIZES[qtype][0] == 0


def tensor_n_bytes(qtype: GGMLType, ne: tuple[int, ...]) -> int:
    """Bytes of a tensor with GGUF dims ``ne`` (``ne[0]`` must be a multiple of the block size)."""
    block_size, type_size = QUANT_SIZES[qtype]
    n = type_size * (ne[0] // block_size) if ne else type_size
    for d in ne[1:]:
        n *= d
    return n
