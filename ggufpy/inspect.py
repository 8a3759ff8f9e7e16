"""``ggufpy inspect``: a readable (or JSON) summary of a GGUF file, built from the reader alone."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from .format.constants import PRIVATE_TYPES, GGUFValueType, LlamaFileType, TokenType
from .format.keys import General, Tokenizer
from .format.reader import GGUFReader

_TOKEN_ID_KEYS = ("bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask")


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _short(field) -> Any:
    """JSON-friendly value of a KV record; arrays become a short description."""
    if field.type != GGUFValueType.ARRAY:
        return _scalar(field.value)
    return f"[{field.elem_type.name} x {len(field.value)}]"


def _file_type_name(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return LlamaFileType(value).name
    except ValueError:
        return f"unknown ({value})"


def _type_table(reader: GGUFReader) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for t in reader.tensors:
        row = table.setdefault(t.type.name, {"tensors": 0, "params": 0, "bytes": 0})
        row["tensors"] += 1
        row["params"] += t.n_elements
        row["bytes"] += t.n_bytes
    return dict(sorted(table.items(), key=lambda kv: -kv[1]["bytes"]))


def _tokenizer(reader: GGUFReader) -> dict[str, Any] | None:
    md = reader.metadata
    if Tokenizer.MODEL not in md:
        return None
    tokens = md.get(Tokenizer.TOKENS, [])
    out: dict[str, Any] = {
        "model": md[Tokenizer.MODEL],
        "pre": md.get(Tokenizer.PRE),
        "n_tokens": len(tokens),
        "n_merges": len(md.get(Tokenizer.MERGES, [])),
    }
    for name in _TOKEN_ID_KEYS:
        tid = md.get(f"tokenizer.ggml.{name}_token_id")
        if tid is not None:
            text = tokens[tid] if isinstance(tid, int) and 0 <= tid < len(tokens) else "<out of range>"
            out[f"{name}_token"] = {"id": tid, "text": text}
    for flag in ("add_bos_token", "add_eos_token", "add_space_prefix"):
        if f"tokenizer.ggml.{flag}" in md:
            out[flag] = bool(md[f"tokenizer.ggml.{flag}"])
    types = md.get(Tokenizer.TOKEN_TYPE)
    if types is not None and len(types):
        counts = Counter(np.asarray(types).tolist())
        out["token_types"] = {_token_type_name(k): v for k, v in sorted(counts.items())}
    template = md.get(Tokenizer.CHAT_TEMPLATE)
    out["chat_template"] = f"{len(template)} chars" if isinstance(template, str) else None
    return out


def _token_type_name(v: int) -> str:
    try:
        return TokenType(v).name
    except ValueError:
        return str(v)


def summarize(reader: GGUFReader, *, tensors: bool = False) -> dict[str, Any]:
    """Everything ``ggufpy inspect`` shows, as plain data (JSON-serialisable)."""
    md = reader.metadata
    arch = reader.architecture
    n_params = sum(t.n_elements for t in reader.tensors)
    n_bytes = sum(t.n_bytes for t in reader.tensors)
    fields = md.fields()
    out: dict[str, Any] = {
        "path": reader.path,
        "file_size": reader.file_size,
        "gguf_version": reader.version,
        "alignment": reader.alignment,
        "architecture": arch,
        "name": md.get(General.NAME),
        "file_type": _file_type_name(md.get(General.FILE_TYPE)),
        "n_tensors": len(reader.tensors),
        "n_params": n_params,
        "tensor_bytes": n_bytes,
        "bits_per_weight": round(8 * n_bytes / n_params, 4) if n_params else None,
        "tensor_types": _type_table(reader),
        "general": {f.key: _short(f) for f in fields if f.key.startswith("general.")},
        "hyperparameters": {f.key: _short(f) for f in fields if arch and f.key.startswith(arch + ".")},
        "tokenizer": _tokenizer(reader),
        "other_keys": {
            f.key: _short(f) for f in fields
            if not f.key.startswith(("general.", "tokenizer.")) and not (arch and f.key.startswith(arch + "."))
        },
        "ggufpy_only": sorted({t.type.name for t in reader.tensors if t.type in PRIVATE_TYPES}),
    }
    if tensors:
        out["tensors"] = [
            {"name": t.name, "type": t.type.name, "shape": list(t.shape), "ne": list(t.ne),
             "n_elements": t.n_elements, "n_bytes": t.n_bytes, "offset": t.offset}
            for t in reader.tensors
        ]
    return out


def _text(v: Any) -> str:
    """Floats as float32 would print them (7 significant digits), everything else as is."""
    return f"{v:.7g}" if isinstance(v, float) else str(v)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable text of a ``summarize`` result."""
    lines = [
        f"{os.path.basename(s['path'])}: GGUF v{s['gguf_version']}, {_human(s['file_size'])}",
        f"  architecture   {s['architecture']}" + (f"  ({s['name']})" if s["name"] else ""),
        f"  parameters     {_count(s['n_params'])} in {s['n_tensors']} tensors, "
        f"{_human(s['tensor_bytes'])} of tensor data"
        + (f", {s['bits_per_weight']:.2f} bits/weight" if s["bits_per_weight"] else ""),
        f"  file type      {s['file_type']}",
    ]
    if s["ggufpy_only"]:
        lines.append(f"  NOTE           ggufpy-only file: tensor types {', '.join(s['ggufpy_only'])} are ggufpy-private; "
                     "llama.cpp cannot load it")
    if s["tensor_types"]:
        lines.append("  tensor types   type       tensors       params        size")
        for name, row in s["tensor_types"].items():
            lines.append(f"                 {name:<8} {row['tensors']:>9} {_count(row['params']):>12} {_human(row['bytes']):>11}")
    if s["hyperparameters"]:
        lines.append("  hyperparameters")
        prefix = (s["architecture"] or "") + "."
        for k, v in s["hyperparameters"].items():
            lines.append(f"    {k[len(prefix):]:<38} {_text(v)}")
    tok = s["tokenizer"]
    if tok:
        lines.append("  tokenizer")
        lines.append(f"    {'model / pre':<16} {tok['model']} / {tok['pre']}, {tok['n_tokens']} tokens, {tok['n_merges']} merges")
        for k, v in tok.items():
            if k.endswith("_token") and isinstance(v, dict):
                lines.append(f"    {k:<16} {v['id']} {v['text']!r}")
        for k in ("add_bos_token", "add_eos_token", "add_space_prefix", "token_types", "chat_template"):
            if k in tok:
                lines.append(f"    {k:<16} {tok[k]}")
    general = {k: v for k, v in s["general"].items() if k not in (General.ARCHITECTURE, General.NAME, General.FILE_TYPE)}
    if general:
        lines.append("  general")
        lines.extend(f"    {k[len('general.'):]:<20} {v}" for k, v in general.items())
    if s["other_keys"]:
        lines.append("  other keys")
        lines.extend(f"    {k:<38} {_text(v)}" for k, v in s["other_keys"].items())
    if "tensors" in s:
        lines.append(f"  {'#':>4}  {'name':<40} {'type':<8} {'shape':<20} {'size':>11} {'offset':>12}")
        for i, t in enumerate(s["tensors"]):
            shape = "x".join(str(d) for d in t["shape"])
            lines.append(f"  {i:>4}  {t['name']:<40} {t['type']:<8} {shape:<20} {_human(t['n_bytes']):>11} {t['offset']:>12}")
    return "\n".join(lines)

