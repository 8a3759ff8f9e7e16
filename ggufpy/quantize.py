"""``ggufpy quantize``: re-encode a GGUF file's tensors, following llama-quantize's rules.

The output mirrors what llama-quantize writes, so a pure ggml type from the same F32 source is byte
for byte the same file:
  * metadata: every KV of the source in order, then ``general.quantization_version`` (2) and
    ``general.file_type`` removed and re-appended in that order (gguf.cpp's set_val semantics);
  * tensors: ordered as llama.cpp's ``weights_map`` (layer number, non-``blk.`` tensors first as
    layer -1, then name), with ``n_dims`` as ``ggml_n_dims`` (trailing 1s dropped);
  * which tensors are quantized and to what: ``quants/mix.py`` (a port of llama-quant.cpp).
Tensors are decoded, re-encoded and written one at a time (peak memory about one tensor), to a
temporary file renamed into place at the end.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import GGUFError
from .format.constants import PLAIN_DTYPES, GGMLType, tensor_n_bytes
from .format.keys import General
from .format.reader import GGUFReader, ReaderTensor
from .format.writer import GGUFWriter
from .quants import dequantize, get
from .quants import mix
from .quants.rows import encode_rows

_FLOATS = {GGMLType.F32, GGMLType.F16, GGMLType.BF16}


class RequantizeWarning(UserWarning):
    """The source is already quantized: quality stacks two roundings."""


@dataclass
class QuantizeResult:
    path: str
    choices: list = field(default_factory=list)
    n_bytes_in: int = 0
    n_bytes_out: int = 0
    n_fallback: int = 0


def _n_dims_ne(ne: tuple[int, ...]) -> tuple[int, ...]:
    """ggml_n_dims: drop trailing 1s, keep at least one dimension."""
    n = len(ne)
    while n > 1 and ne[n - 1] == 1:
        n -= 1
    return tuple(ne[:n]) if ne else (1,)


def model_info(reader: GGUFReader) -> "mix.ModelInfo":
    return mix.ModelInfo.from_metadata(reader.metadata)


def _encode(t: ReaderTensor, new_type: GGMLType) -> np.ndarray:
    """Decode ``t`` to float32 rows and encode them as ``new_type`` (raw uint8 rows)."""
    return encode_rows(dequantize(t.data, t.type).reshape(-1, t.ne[0] if t.ne else 1), new_type)


def quantize_file(src: str | os.PathLike, dst: str | os.PathLike, target: str, *,
                  output_tensor_type: GGMLType | None = None, token_embedding_type: GGMLType | None = None,
                  tensor_type_overrides: list[tuple[str, GGMLType]] = (), pure: bool = False,
                  leave_output_tensor: bool = False, overwrite: bool = False, progress: bool = True) -> QuantizeResult:
    """Quantize GGUF ``src`` into ``dst`` with the llama-quantize mix for ``target`` (e.g. "q4_k_m").

    Raises:
        GGUFError: unknown target, unsupported tensor type, or malformed input.
        FileExistsError: ``dst`` exists and ``overwrite`` is False.
    """
    if target not in mix.TARGETS:
        raise GGUFError(f"unknown quantization type {target!r}; choose one of: {', '.join(mix.TARGETS)}")
    reader = GGUFReader(src)
    order = {name: i for i, name in enumerate(mix.llama_order(t.name for t in reader.tensors))}
    tensors = sorted(reader.tensors, key=lambda t: order[t.name])
    descs = [mix.TensorDesc(t.name, t.ne, t.type) for t in tensors]
    choices = mix.plan(descs, target, model_info(reader), output_tensor_type=output_tensor_type,
                       token_embedding_type=token_embedding_type, tensor_type_overrides=list(tensor_type_overrides),
                       pure=pure, leave_output_tensor=leave_output_tensor)
    by_name = {c.name: c for c in choices}
    _warn_requantize(tensors, by_name)

    writer = GGUFWriter(dst, overwrite=overwrite)
    for f in reader.metadata.fields():
        if f.key not in (General.QUANTIZATION_VERSION, General.FILE_TYPE):
            writer.add_key_value(f.key, f.value, f.type, f.elem_type)
    writer.add_uint32(General.QUANTIZATION_VERSION, 2)
    ftype = mix.file_type(target)
    if ftype is not None:  # private targets have no llama_ftype: no general.file_type at all
        writer.add_uint32(General.FILE_TYPE, ftype)

    result = QuantizeResult(os.fspath(dst), choices, n_bytes_in=sum(t.n_bytes for t in tensors))
    for t in tensors:
        new_type = GGMLType(by_name[t.name].type)
        get(new_type)  # fail early, before writing anything, if there is no encoder
        if new_type == t.type:
            source = t.data
        else:
            source = (lambda t=t, new_type=new_type: _encode(t, new_type))
        writer.add_tensor(t.name, source, ggml_type=new_type, ne=_n_dims_ne(t.ne))
        result.n_bytes_out += tensor_n_bytes(new_type, _n_dims_ne(t.ne))
    writer.write(progress=progress)
    result.n_fallback = sum("fallback" in (c.reason or "") for c in choices)
    return result


def _warn_requantize(tensors: list[ReaderTensor], choices: dict) -> None:
    requant = [t.name for t in tensors
               if t.type not in _FLOATS and t.type not in PLAIN_DTYPES and choices[t.name].type != t.type]
    if requant:
        warnings.warn(
            f"requantizing {len(requant)} tensors that are already quantized (e.g. {requant[0]}): quality will "
            "be lower than quantizing from an F32/F16/BF16 source", RequantizeWarning, stacklevel=3)


def format_plan(choices: list) -> str:
    """One line per tensor: name, chosen type, reason."""
    return "\n".join(f"{c.name:<40} {GGMLType(c.type).name:<8} {c.reason or ''}" for c in choices)


def main_summary(result: QuantizeResult, file=sys.stderr) -> None:
    ratio = result.n_bytes_in / result.n_bytes_out if result.n_bytes_out else float("nan")
    print(f"wrote {result.path}: {result.n_bytes_in / 2**20:.2f} MiB -> {result.n_bytes_out / 2**20:.2f} MiB "
          f"({ratio:.2f}x), {result.n_fallback} tensors fell back to another type", file=file)
