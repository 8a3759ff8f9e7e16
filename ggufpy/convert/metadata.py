"""The ``general.*`` keys llama.cpp's converter writes, and the ordered KV list the converter builds.

``KV`` keeps keys in the order they are first set; setting a key again replaces its value in place, which
is what gguf-py's ``GGUFWriter.add_key_value`` does (llama.cpp relies on it, e.g. for ``add_bos_token``).

``general_metadata`` ports gguf-py's ``Metadata.load`` (``gguf/metadata.py``, llama.cpp 0c1e570) minus the
``--metadata`` override file: sampling defaults from generation_config.json, then name / organization /
basename / finetune / version / size label from the model card (README.md YAML front matter, read only
when PyYAML is installed, as gguf-py requires it), from config.json's ``_name_or_path`` when it is a hub id,
and last from the folder name. ``size_label`` falls back to the parameter count (``gguf.size_label``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..format.constants import GGUFValueType
from .hf import read_json_optional

log = logging.getLogger("ggufpy.convert")
V = GGUFValueType


def _in_range(key: str, v: int, lo: int, hi: int) -> int:
    """ValueError (the caller names the file it came from) for a value the GGUF type cannot hold."""
    if not lo <= v < hi:
        raise ValueError(f"{key} = {v} is out of range [{lo}, {hi})")
    return v


class KV:
    """Ordered metadata: key -> (value type, value, element type for arrays)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[GGUFValueType, Any, GGUFValueType | None]] = {}

    def set(self, key: str, vtype: GGUFValueType, value: Any, elem_type: GGUFValueType | None = None) -> None:
        self.items[key] = (vtype, value, elem_type)

    def u32(self, key: str, v: int) -> None: self.set(key, V.UINT32, _in_range(key, int(v), 0, 1 << 32))
    def i32(self, key: str, v: int) -> None: self.set(key, V.INT32, _in_range(key, int(v), -(1 << 31), 1 << 31))
    def f32(self, key: str, v: float) -> None: self.set(key, V.FLOAT32, float(v))
    def bool(self, key: str, v: bool) -> None: self.set(key, V.BOOL, bool(v))
    def str(self, key: str, v: str) -> None: self.set(key, V.STRING, str(v))

    def array(self, key: str, values: Any, elem_type: GGUFValueType) -> None:
        self.set(key, V.ARRAY, values, elem_type)

    def remove(self, key: str) -> None:
        self.items.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __getitem__(self, key: str) -> Any:
        return self.items[key][1]

    def get(self, key: str, default: Any = None) -> Any:
        return self.items[key][1] if key in self.items else default

    def to_writer(self, writer: Any) -> None:
        for key, (vtype, value, elem_type) in self.items.items():
            writer.add_key_value(key, value, vtype, elem_type)


# ---- parameter counts and size labels (gguf utility.py) ---------------------------------------------


def weight_count_notation(n: int, min_digits: int = 2) -> str:
    """``model_weight_count_rounded_notation``: 134515008 -> '135M'."""
    for limit, scale, suffix in ((1e12, 1e-12, "T"), (1e9, 1e-9, "B"), (1e6, 1e-6, "M")):
        if n > limit:
            scaled = n * scale
            break
    else:
        scaled, suffix = n * 1e-3, "K"
    fix = max(min_digits - len(str(round(scaled)).lstrip("0")), 0)
    return f"{scaled:.{fix}f}{suffix}"


def size_label(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> tuple[int, str]:
    """(total parameters, size label) over the written tensors, as ``GGUFWriter.get_total_parameter_count``
    and ``gguf.size_label`` compute them (``_exps.`` tensors count per expert)."""
    total = shared = expert = expert_sum = n_expert_tensors = 0
    for name, shape in shapes:
        size = math.prod(shape)
        if "_exps." in name and len(shape) >= 3:
            count = shape[-2 if ".bias" in name else -3]
            expert += size // count
            expert_sum += count
            n_expert_tensors += 1
        else:
            shared += size
        total += size
    n_expert = expert_sum // n_expert_tensors if n_expert_tensors else 0
    if n_expert > 0:
        return total, f"{n_expert}x{weight_count_notation(shared + expert)}"
    return total, weight_count_notation(total)


# ---- model id heuristics (Metadata.get_model_id_components, id_to_title) ---------------------------


def id_to_title(s: str) -> str:
    return " ".join(w.title() if w.islower() and not re.match(r"^(v\d+(?:\.\d+)*|\d.*)$", w) else w
                    for w in s.strip().replace("-", " ").split())


def model_id_components(model_id: str | None, total_params: int = 0) -> tuple:
    """(full name, org, basename, finetune, version, size_label) of a hub-style id, as gguf-py parses it."""
    if model_id is None:
        return None, None, None, None, None, None
    if " " in model_id:
        return model_id, None, None, None, None, None
    org, full = model_id.split("/", 1) if "/" in model_id else (None, model_id)
    if org is not None and org[:1] == ".":
        org = None
    parts = [p for p in full.split("-") if p]
    types: list[set[str]] = [set() for _ in parts]
    for i, part in enumerate(parts):
        if re.fullmatch(r"(v|iter)?\d+([.]\d+)*", part, re.IGNORECASE):
            types[i].add("version")
        elif re.fullmatch(r"i?q\d(_\w)*|b?fp?(16|32)", part, re.IGNORECASE):
            types[i].add("type")
            parts[i] = part.upper()
        elif i > 0 and re.fullmatch(r"(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)", part,
                                    re.IGNORECASE):
            parts[i] = _size_part(part, types[i], total_params)
        elif i > 0 and re.fullmatch(r"chat|instruct|vision|lora", part, re.IGNORECASE):
            types[i].add("type" if total_params < 0 and part.lower() == "lora" else "finetune")
    if any(c.isdecimal() for n, t in zip(parts, types) if "size_label" in t for c in n):
        for n, t in zip(parts, types):
            if "size_label" in t and all(c.isalpha() for c in n):
                t.remove("size_label")
    at_start = True
    for part, t in zip(parts, types):
        if at_start and ((not t and part[0].isalpha()) or "version" in t):
            t.add("basename")
        else:
            at_start = False
            if not t:
                t.add("finetune")
    for part, t in zip(reversed(parts), reversed(types)):
        if "basename" in t and len(t) > 1:
            t.remove("basename")
        else:
            break
    basename = "-".join(n for n, t in zip(parts, types) if "basename" in t) or None
    size = "-".join(dict.fromkeys(s for s, t in zip(parts, types) if "size_label" in t)) or None
    finetune = "-".join(f for f, t in zip(parts, types) if "finetune" in t) or None
    version = "-".join(v for v, t in zip(parts, types) if "version" in t and "basename" not in t) or None
    if size is None and finetune is None and version is None:
        basename = None
    return full, org, basename, finetune, version, size


def _size_part(part: str, t: set[str], total_params: int) -> str:
    part = part.replace("_", ".")
    if part[-1].isdecimal():  # bloom-7b1 -> 7.1B
        part = part[:-2] + "." + part[-1] + part[-2]
    if len(part) > 1 and part[-2].isdecimal() and part[-1] in "kmbt":
        part = part[:-1] + part[-1].upper()
    if total_params != 0:
        try:
            label = float(part[:-1]) * pow(1000, " KMBT".find(part[-1]))
            if (total_params < 0 and label < abs(total_params) // 8) or (
                    total_params > 0 and abs(label - total_params) > 7 * total_params // 8):
                t.add("finetune")  # likely a context length
                part = part[:-1] + part[-1].lower()
        except ValueError:
            pass
    if not t:
        t.add("size_label")
    return part


# ---- Metadata.load ----------------------------------------------------------------------------------

# generation_config.json key -> (general.sampling.* key suffix, writer type), in set_gguf_meta_model's order
_SAMPLING = (
    ("sequence", "sequence", V.STRING), ("top_k", "top_k", V.INT32), ("top_p", "top_p", V.FLOAT32),
    ("min_p", "min_p", V.FLOAT32), ("xtc_probability", "xtc_probability", V.FLOAT32),
    ("xtc_threshold", "xtc_threshold", V.FLOAT32), ("temperature", "temp", V.FLOAT32),
    ("penalty_last_n", "penalty_last_n", V.INT32), ("penalty_repeat", "penalty_repeat", V.FLOAT32),
    ("mirostat", "mirostat", V.INT32), ("mirostat_tau", "mirostat_tau", V.FLOAT32),
    ("mirostat_eta", "mirostat_eta", V.FLOAT32),
)
# model-card key -> metadata field, in gguf-py's order (first one set wins)
_CARD_KEYS = (
    ("name", "name"), ("author", "author"), ("version", "version"), ("organization", "organization"),
    ("description", "description"), ("finetune", "finetune"), ("basename", "basename"),
    ("size_label", "size_label"), ("source_url", "url"), ("source_doi", "doi"), ("source_uuid", "uuid"),
    ("source_repo_url", "repo_url"),
    ("name", "model_name"), ("author", "model_author"), ("version", "model_version"),
    ("organization", "model_organization"), ("description", "model_description"), ("finetune", "model_finetune"),
    ("basename", "model_basename"), ("size_label", "model_size_label"), ("source_url", "model_url"),
    ("source_doi", "model_doi"), ("source_uuid", "model_uuid"), ("source_repo_url", "model_repo_url"),
    ("name", "model_name"), ("author", "model_creator"), ("basename", "model_type"),
    ("license", "license"), ("license_name", "license_name"), ("license_link", "license_link"),
)
# metadata field -> general.* key, in set_gguf_meta_model's order (name comes first, separately)
_GENERAL_ORDER = (
    ("author", "general.author"), ("version", "general.version"), ("organization", "general.organization"),
    ("finetune", "general.finetune"), ("basename", "general.basename"), ("description", "general.description"),
    ("quantized_by", "general.quantized_by"), ("size_label", "general.size_label"), ("license", "general.license"),
    ("license_name", "general.license.name"), ("license_link", "general.license.link"), ("url", "general.url"),
    ("doi", "general.doi"), ("uuid", "general.uuid"), ("repo_url", "general.repo_url"),
    ("source_url", "general.source.url"), ("source_doi", "general.source.doi"),
    ("source_uuid", "general.source.uuid"), ("source_repo_url", "general.source.repo_url"),
)


def load_model_card(model_dir: Path) -> dict[str, Any]:
    """README.md's YAML front matter (empty without one, or without PyYAML)."""
    path = model_dir / "README.md"
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "---":
        return {}
    body = []
    for line in lines[1:]:
        if line == "---":
            break
        body.append(line)
    text = ("\n".join(body) + "\n").replace("- no\n", '- "no"\n').replace("\t", "  ")
    try:
        import yaml
    except ImportError:
        log.warning("README.md has a model card, but PyYAML is not installed: its name/license/tags are not copied")
        return {}
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def general_metadata(model_dir: Path, config: dict[str, Any], total_params: int, kv: KV, label: str) -> None:
    """Write gguf-py's ``set_gguf_meta_model`` keys (sampling defaults, name, size label, licence, tags...)."""
    card = load_model_card(model_dir)
    md: dict[str, Any] = {}
    for field_name, card_key in _CARD_KEYS:
        if card_key in card and md.get(field_name) is None:
            md[field_name] = card[card_key]
    base_models = _sources(card, ("base_model", "base_models", "base_model_sources"), total_params)
    datasets = _sources(card, ("datasets", "dataset", "dataset_sources"), total_params)
    tags = _list_of(card, ("tags", "pipeline_tag"))
    languages = _list_of(card, ("languages", "language"))

    ids = []
    name_or_path = config.get("_name_or_path")
    if isinstance(name_or_path, str) and name_or_path.count("/") <= 1:
        ids.append(name_or_path)
    ids.append(model_dir.name or model_dir.resolve().name)
    for model_id in ids:
        full, org, basename, finetune, version, size = model_id_components(model_id, total_params)
        for field_name, value in (("name", full and id_to_title(full)), ("organization", org and id_to_title(org)),
                                  ("basename", basename), ("finetune", finetune), ("version", version),
                                  ("size_label", size)):
            if md.get(field_name) is None and value is not None:
                md[field_name] = value
    if md.get("size_label") is None and total_params > 0:
        md["size_label"] = label

    gen = read_json_optional(model_dir / "generation_config.json") or {}
    if isinstance(gen, dict):
        for gen_key, suffix, vtype in _SAMPLING:
            value = gen.get(gen_key)
            if gen_key == "penalty_repeat" and value is None:
                value = gen.get("repetition_penalty")
            if value is not None:
                kv.set(f"general.sampling.{suffix}", vtype, value if vtype == V.STRING else
                       (int(value) if vtype == V.INT32 else float(value)))
    kv.str("general.name", md["name"] if md.get("name") is not None else model_dir.name)
    for field_name, key in _GENERAL_ORDER:
        value = md.get(field_name)
        if value is not None:
            kv.str(key, ",".join(value) if isinstance(value, list) else str(value))
    _write_sources(kv, "general.base_model", base_models)
    _write_sources(kv, "general.dataset", datasets)
    if tags:
        kv.array("general.tags", tags, V.STRING)
    if languages:
        kv.array("general.languages", languages, V.STRING)


def _list_of(card: dict, keys: tuple[str, ...]) -> list:
    out: list = []
    for k in keys:
        v = card.get(k)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out.extend(v)
    return out


def _sources(card: dict, keys: tuple[str, ...], total_params: int) -> list[dict] | None:
    """Base models / datasets from the card, as gguf-py expands hub ids and huggingface.co URLs."""
    if not any(k in card for k in keys):
        return None
    value = next((card[k] for k in keys if k in card), None)
    ids = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    out = []
    for model_id in ids:
        entry: dict[str, Any] = {}
        if isinstance(model_id, dict):
            entry = model_id
        elif isinstance(model_id, str):
            hub_id = model_id
            if model_id.startswith(("http://", "https://", "ssh://")):
                entry["repo_url"] = model_id
                m = re.match(r"https?://huggingface.co/([^/]+/[^/]+)$", model_id) if "huggingface.co" in model_id else None
                hub_id = m.group(1) if m else None
            if hub_id is not None:
                full, org, _, _, version, _ = model_id_components(hub_id, total_params)
                if full is not None:
                    entry["name"] = id_to_title(full)
                if org is not None:
                    entry["organization"] = id_to_title(org)
                if version is not None:
                    entry["version"] = version
                if hub_id == model_id and org is not None and full is not None:
                    entry["repo_url"] = f"https://huggingface.co/{org}/{full}"
        out.append(entry)
    return out


def _write_sources(kv: KV, prefix: str, entries: list[dict] | None) -> None:
    if entries is None:
        return
    kv.u32(f"{prefix}.count", len(entries))
    for i, entry in enumerate(entries):
        for field_name in ("name", "author", "version", "organization", "description", "url", "doi", "uuid",
                           "repo_url"):
            if field_name in entry:
                kv.str(f"{prefix}.{i}.{field_name}", entry[field_name])
