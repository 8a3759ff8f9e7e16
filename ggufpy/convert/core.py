"""``convert_hf``: a Hugging Face model folder -> one GGUF file, at any type ``ggufpy quantize`` accepts.

The pipeline, in the order llama.cpp's ``convert_hf_to_gguf.py`` writes things:

1. config.json -> the registered ``Arch`` (``arch/``); the weights are indexed (``hf.Checkpoint``: headers
   only, data memory-mapped) and every tensor is named (``names.py``) and its shape checked against the
   config before anything is written.
2. Types: the same planner as ``ggufpy quantize`` (``quants/mix.plan``, llama-quantize's mixes and shape
   fallbacks), with every source tensor presented as F32 so the tensors it never quantizes (norms, 1-D)
   come out F32, as llama.cpp's converter writes them. ``auto`` is the 16-bit float type of the first 2-D
   tensor (BF16 -> bf16, else f16), llama.cpp's heuristic.
3. Metadata: ``general.*`` (``metadata.py``), the architecture's keys, ``general.quantization_version``,
   ``tokenizer.*`` (``vocab.py``), then ggufpy's provenance keys (``PROVENANCE_KEYS``).
4. Tensors stream one at a time, in checkpoint order (generated tensors first): mapped -> widened to
   float32 -> Q/K permuted -> encoded by ``quants.rows.encode_rows`` (the kernels ``ggufpy quantize`` uses) ->
   written, so peak memory is about the float32 copy of the largest tensor plus its encoding (and its
   source pages while it is read). The writer
   writes a temporary file and renames it into place when complete; an existing output is refused
   unless ``overwrite``.

For F32, F16, BF16 and Q8_0 the tensors are byte for byte llama.cpp's, and so is every KV record but the
provenance keys (tests/convert/test_vs_llamacpp.py).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConvertError
from ..format.constants import GGMLType, tensor_n_bytes
from ..format.keys import General
from ..format.writer import GGUFWriter
from ..quants import get as get_quant
from ..quants import mix
from ..quants.rows import encode_rows
from . import arch as arch_registry
from .hf import Checkpoint, SourceTensor, load_config
from .metadata import KV, general_metadata, model_id_components, size_label
from .names import IGNORED_SUFFIXES, block_id
from .vocab import write_vocab

log = logging.getLogger("ggufpy.convert")

# Keys ggufpy adds that llama.cpp's converter does not write (tests compare everything else).
PROVENANCE_KEYS = ("ggufpy.version", "ggufpy.convert.source", "ggufpy.convert.outtype", "ggufpy.convert.quantize")
OUTTYPES = ("auto", *mix.TARGETS)


@dataclass
class Planned:
    """One output tensor: its GGUF name, numpy-order shape, type, and how to produce its float32 data."""

    name: str
    shape: tuple[int, ...]
    type: GGMLType
    source: SourceTensor | None
    make: Any = None  # generated tensors: () -> float32 array
    reason: str = ""


@dataclass
class ConvertResult:
    path: str
    outtype: str
    tensors: list[Planned] = field(default_factory=list)
    n_bytes_in: int = 0
    n_bytes_out: int = 0
    n_fallback: int = 0
    tokenizer_pre: str | None = None


@contextmanager
def _config_errors(model_dir: Path):
    """config.json values of the wrong type or range end as ``ConvertError`` naming the file, never as a
    traceback from deep inside (the specific checks in ``hf``/``arch`` catch the common cases first)."""
    try:
        yield
    except ConvertError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError, OverflowError) as e:
        raise ConvertError(f"{model_dir / 'config.json'}: malformed ({type(e).__name__}: {str(e)[:160]})") from None


def resolve_outtype(outtype: str, tensors: list[SourceTensor]) -> str:
    """``auto`` -> "bf16"/"f16" from the first 2-D tensor (llama.cpp's heuristic); others validated."""
    if outtype.lower() != "auto":
        return mix.get_target(outtype).name
    for t in tensors:
        if len(t.shape) >= 2:
            return "bf16" if t.dtype == "BF16" else "f16"
    return "f16"


def default_output(model_dir: Path, config: dict[str, Any], total_params: int, outtype: str) -> Path:
    """llama.cpp's default file name (``gguf.naming_convention``), in the model folder."""
    name = config.get("_name_or_path") if isinstance(config.get("_name_or_path"), str) else None
    full, _, basename, finetune, version, size = model_id_components(
        name if name and name.count("/") <= 1 else model_dir.resolve().name, total_params)
    stem = (basename or full or "ggml-model").strip().replace(" ", "-").replace("/", "-")
    size = size or size_label([("x", (total_params,))])[1]
    parts = [stem, size, finetune, version, outtype.upper()]
    return model_dir / ("-".join(p.strip().replace(" ", "-") for p in parts if p) + ".gguf")


def plan_tensors(arch, ckpt: Checkpoint) -> list[Planned]:
    """Every output tensor, named and shape-checked, in llama.cpp's write order (types filled in later)."""
    out = [Planned(name, tuple(shape), GGMLType.F32, None, make) for name, shape, make in arch.extra_tensors()]
    seen: dict[str, str] = {}
    for t in ckpt:
        if t.name.endswith(IGNORED_SUFFIXES):
            continue
        name = arch.gguf_name(t.name)
        if name in seen:
            raise ConvertError(f"{t.file}: {t.name!r} and {seen[name]!r} both map to {name!r}")
        seen[name] = t.name
        want = arch.expected_shape(name)
        if want is not None and tuple(t.shape) != want:
            raise ConvertError(f"{t.file}: tensor {t.name!r} has shape {list(t.shape)}, but config.json implies "
                               f"{list(want)} for {name}")
        if t.dtype not in ("F32", "F16", "BF16", "F64"):
            raise ConvertError(f"{t.file}: tensor {t.name!r} is {t.dtype}; quantized or integer checkpoints are "
                               "not supported")
        out.append(Planned(name, tuple(t.shape), GGMLType.F32, t))
    n_present = max((block_id(n) for n in seen.values() if block_id(n) is not None), default=-1) + 1
    if n_present < arch.n_block:  # before required_tensors(), whose length grows with the config's n_block
        raise ConvertError(f"{ckpt.dir}: config.json says {arch.n_block} blocks, but the checkpoint's tensors "
                           f"have {n_present}")
    missing = [n for n in arch.required_tensors() if n not in seen]
    if missing:
        raise ConvertError(f"{ckpt.dir}: the checkpoint has no {missing[0]} ({len(missing)} required tensors missing)")
    return out


def choose_types(arch, planned: list[Planned], target: str, **options) -> int:
    """Fill in each tensor's type with ``mix.plan`` (the ``ggufpy quantize`` planner); returns #fallbacks."""
    info = mix.ModelInfo.from_metadata(arch.planner_metadata())
    descs = [mix.TensorDesc(p.name, tuple(reversed(p.shape)) or (1,), GGMLType.F32) for p in planned]
    choices = mix.plan(descs, target, info, **options)
    for p, c in zip(planned, choices):
        p.type, p.reason = GGMLType(c.type), c.reason
        get_quant(p.type)  # fail now, before writing, if there is no encoder
    return sum("fallback" in (c.reason or "") for c in choices)


def _producer(arch, p: Planned):
    def produce() -> np.ndarray:
        if p.make is not None:
            data = p.make()
        else:
            data = p.source.load()
            p.source.release()
        data = np.asarray(arch.transform(p.name, data), dtype=np.float32)
        if p.type == GGMLType.F32:
            return np.ascontiguousarray(data)
        return encode_rows(data.reshape(-1, data.shape[-1] if data.ndim else 1), p.type)
    return produce


def convert_hf(model_dir: str | os.PathLike, out_path: str | os.PathLike | None = None, outtype: str = "auto", *,
               overwrite: bool = False, progress: bool = True, tokenizer_pre: str | None = None,
               output_tensor_type: GGMLType | str | None = None, token_embedding_type: GGMLType | str | None = None,
               tensor_type_overrides: list[tuple[str, GGMLType | str]] = (), pure: bool = False) -> ConvertResult:
    """Convert the Hugging Face model in ``model_dir`` to GGUF.

    Args:
        model_dir: folder with config.json, the weights (safetensors; pytorch_model.bin only with torch)
            and the tokenizer.
        out_path: output file (default: llama.cpp's ``<Name>-<size>-<TYPE>.gguf`` in ``model_dir``).
        outtype: ``auto`` or any ``ggufpy quantize`` type (f32, f16, bf16, q8_0, q4_k_m, nf4, tq2_0, ...).
        overwrite: replace an existing ``out_path`` (refused by default).
        tokenizer_pre: force ``tokenizer.ggml.pre`` instead of identifying it.
        output_tensor_type, token_embedding_type, tensor_type_overrides, pure: as ``ggufpy quantize``.

    Returns:
        ``ConvertResult`` with the path written and each tensor's type.

    Raises:
        ConvertError: malformed or unsupported input (the message names the file).
        UnsupportedTypeError: unknown ``outtype``. FileExistsError: ``out_path`` exists.

    Example:
        >>> convert_hf("SmolLM2-135M-Instruct", "smollm2-q8_0.gguf", "q8_0")
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ConvertError(f"{model_dir}: not a directory")
    if out_path is not None and not overwrite and os.path.exists(out_path):
        raise FileExistsError(f"{out_path} exists; pass overwrite=True (CLI: --force) to replace it")
    config = load_config(model_dir)
    with _config_errors(model_dir):
        arch = arch_registry.get(config)(config)
    with Checkpoint(model_dir) as ckpt:
        target = resolve_outtype(outtype, list(ckpt))
        planned = plan_tensors(arch, ckpt)
        n_fallback = choose_types(arch, planned, target, output_tensor_type=output_tensor_type,
                                  token_embedding_type=token_embedding_type,
                                  tensor_type_overrides=list(tensor_type_overrides), pure=pure)
        total_params, label = size_label((p.name, p.shape) for p in planned)

        kv = KV()
        kv.str(General.ARCHITECTURE, arch.gguf_arch)
        kv.str("general.type", "model")
        with _config_errors(model_dir):
            general_metadata(model_dir, config, total_params, kv, label)
            arch.write_hparams(kv, mix.file_type(target))
            arch.write_arch_hparams(kv)
        kv.u32(General.QUANTIZATION_VERSION, 2)
        write_vocab(model_dir, arch.config, kv, tokenizer_pre=tokenizer_pre)
        _provenance(kv, config, ckpt, outtype, target, output_tensor_type, token_embedding_type,
                    tensor_type_overrides, pure)

        path = Path(out_path) if out_path is not None else default_output(model_dir, config, total_params, target)
        writer = GGUFWriter(path, overwrite=overwrite)
        kv.to_writer(writer)
        result = ConvertResult(str(path), target, planned, n_fallback=n_fallback,
                               tokenizer_pre=kv.get("tokenizer.ggml.pre"))
        for p in planned:
            ne = tuple(reversed(p.shape))
            writer.add_tensor(p.name, _producer(arch, p), ggml_type=p.type, ne=ne)
            result.n_bytes_in += p.source.n_bytes if p.source is not None else 0
            result.n_bytes_out += tensor_n_bytes(p.type, ne)
        writer.write(progress=progress)
    return result


def _provenance(kv: KV, config: dict[str, Any], ckpt: Checkpoint, outtype: str, target: str,
                output_tensor_type, token_embedding_type, overrides, pure: bool) -> None:
    """Where the file came from and how it was made (keys llama.cpp does not write)."""
    name = config.get("_name_or_path")
    if isinstance(name, str) and name.count("/") == 1 and not name.startswith((".", "/")) \
            and "general.source.repo_url" not in kv:
        kv.str("general.source.repo_url", f"https://huggingface.co/{name}")
    dtypes = sorted({t.dtype for t in ckpt})
    kv.str("ggufpy.version", __version__)
    kv.str("ggufpy.convert.source", f"{','.join(config.get('architectures', []))} "
                                    f"{'+'.join(ckpt.files)} ({','.join(dtypes)})")
    kv.str("ggufpy.convert.outtype", target if outtype.lower() == target else f"{outtype} -> {target}")
    settings = [f"type={target}"]
    if pure:
        settings.append("pure")
    if output_tensor_type is not None:
        settings.append(f"output_tensor_type={mix.parse_ggml_type(output_tensor_type).name}")
    if token_embedding_type is not None:
        settings.append(f"token_embedding_type={mix.parse_ggml_type(token_embedding_type).name}")
    settings += [f"tensor_type={p}={mix.parse_ggml_type(q).name}" for p, q in overrides]
    kv.str("ggufpy.convert.quantize", " ".join(settings))
