"""A Hugging Face model folder: ``config.json`` and the weights, found and checked before any conversion.

Weights, in llama.cpp's order of preference (``ModelBase.index_tensors``):
  1. ``model.safetensors.index.json`` (its ``weight_map`` names every tensor's shard) or any
     ``model*.safetensors`` files, read sorted by name, tensors in each file's header order;
  2. ``pytorch_model*.bin`` (with ``pytorch_model.bin.index.json``): only when torch is installed, and only
     through ``torch.load(..., weights_only=True)``, which refuses pickled code. Never plain pickle.

The index and the shards must agree: a shard the index names but the folder lacks, a tensor the index
lists that no shard holds, or one a shard holds that the index does not list, is a ``ConvertError``.

Config: ``text_config`` (multimodal wrappers) is merged into the top level as llama.cpp does, and the
RoPE settings of both transformers generations are read into one dict (``rope_parameters``):
transformers 4 writes ``rope_theta`` and ``rope_scaling`` at the top level, transformers 5 writes
``rope_parameters`` (``{"rope_theta": ..., "rope_type": ...}``, or one such dict per attention kind).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConvertError
from .safetensors import DTYPES, SafeTensor, SafetensorsFile

# ---- config.json -------------------------------------------------------------------------------------


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or ``ConvertError`` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConvertError(f"{path}: missing ({what})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConvertError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise ConvertError(f"{path}: JSON nested too deeply") from None
    except IsADirectoryError:
        raise ConvertError(f"{path}: a directory, expected a JSON file ({what})") from None


def read_json_optional(path: Path) -> Any:
    """A JSON file if it exists and parses, else None (llama.cpp ignores broken optional files too)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


def load_config(model_dir: Path) -> dict[str, Any]:
    """config.json with ``text_config`` merged in (``with_defaults`` completes it per architecture)."""
    config = read_json(model_dir / "config.json", "the model's config.json")
    if not isinstance(config, dict):
        raise ConvertError(f"{model_dir / 'config.json'}: expected a JSON object")
    if isinstance(config.get("text_config"), dict):
        config = {**config, **config["text_config"]}
    return config


def with_defaults(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """config.json as transformers' ``AutoConfig.from_pretrained(...).to_dict()`` gives it to llama.cpp's
    converter: the config class's defaults filled in for absent (or null) keys, ``head_dim`` and
    ``num_key_value_heads`` derived, and ``rope_parameters`` normalised (``rope_parameters()``)."""
    out = dict(config)
    for key, value in defaults.items():
        if out.get(key) is None:
            out[key] = value
    if out.get("num_key_value_heads") is None and "num_attention_heads" in out:
        out["num_key_value_heads"] = out["num_attention_heads"]
    if out.get("head_dim") is None and _positive(out.get("hidden_size")) and _positive(out.get("num_attention_heads")):
        out["head_dim"] = out["hidden_size"] // out["num_attention_heads"]
    if "rope_theta" not in out and not out.get("rope_parameters") and "rope_theta" in defaults:
        out["rope_theta"] = defaults["rope_theta"]
    out["rope_parameters"] = rope_parameters(out)
    return out


def _positive(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


_THETA_KEYS = ("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base")


def rope_parameters(config: dict[str, Any]) -> dict[str, Any]:
    """One RoPE dict for both config styles (``TextModel.__init__`` in llama.cpp's converter).

    transformers 5's ``rope_parameters`` is taken as is; otherwise transformers 4's ``rope_scaling`` (may be
    null) with ``rope_theta`` and the other top-level keys mirrored in, ``type`` copied to ``rope_type``.
    """
    for key in ("rope_parameters", "rope_scaling"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise ConvertError(f"config.json: {key} is a {type(config[key]).__name__}, expected an object or null")
    params = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    if "full_attention" in params or "sliding_attention" in params:
        bad = [k for k in ("full_attention", "sliding_attention") if k in params and not isinstance(params[k], dict)]
        if bad:
            raise ConvertError(f"config.json: rope parameters {bad[0]!r} is not an object")
        return params
    theta = next((config[k] for k in _THETA_KEYS if k in config), None)
    if "rope_theta" not in params and theta is not None:
        params["rope_theta"] = theta
    if "rope_type" not in params and params.get("type") is not None:
        params["rope_type"] = params["type"]
    for key, names in (("partial_rotary_factor", ("partial_rotary_factor", "rope_pct", "rope_percent")),
                       ("original_max_position_embeddings", ("original_max_position_embeddings",))):
        value = next((config[k] for k in names if k in config), None)
        if key not in params and value is not None:
            params[key] = value
    return params


def find_hparam(config: dict[str, Any], keys: tuple[str, ...], *, optional: bool = False) -> Any:
    """The first of ``keys`` present in ``config`` (llama.cpp's ``find_hparam``)."""
    for k in keys:
        if k in config:
            return config[k]
    if optional:
        return None
    raise ConvertError(f"config.json: none of {', '.join(keys)} is set")


# ---- weights -------------------------------------------------------------------------------------


@dataclass
class SourceTensor:
    """A checkpoint tensor before conversion: where it lives and what it is; ``load()`` gives float32."""

    name: str
    dtype: str  # safetensors spelling: BF16, F16, F32...
    shape: tuple[int, ...]
    file: str
    _get: Any = field(repr=False, default=None)
    _release: Any = field(repr=False, default=None)

    @property
    def n_bytes(self) -> int:
        return math.prod(self.shape) * DTYPES[self.dtype][0]

    def load(self) -> np.ndarray:
        return self._get().to_f32()

    def raw(self) -> SafeTensor:
        return self._get()

    def release(self) -> None:
        """Let the memory map drop this tensor's pages from the resident set (see SafetensorsFile.release)."""
        if self._release is not None:
            self._release()


class Checkpoint:
    """The weights of a model folder (see the module doc), opened lazily; iterate for ``SourceTensor``s.

    Raises:
        ConvertError: no weights, a missing shard, an index that disagrees with the shards, a malformed file.
    """

    def __init__(self, model_dir: str | os.PathLike):
        self.dir = Path(model_dir)
        self._files: list[SafetensorsFile] = []
        self._tensors: dict[str, SourceTensor] = {}
        if not self.dir.is_dir():
            raise ConvertError(f"{self.dir}: not a directory")
        st = sorted(p.name for p in self.dir.glob("model*.safetensors"))
        index = self.dir / "model.safetensors.index.json"
        try:
            if st or index.is_file():
                self._open_safetensors(st, index)
            else:
                bins = sorted(p.name for p in self.dir.glob("pytorch_model*.bin"))
                if not bins:
                    raise ConvertError(f"{self.dir}: no weights (model.safetensors, model-*-of-*.safetensors or "
                                       "pytorch_model.bin)")
                self._open_torch(bins, self.dir / "pytorch_model.bin.index.json")
        except BaseException:
            self.close()
            raise

    # ---- safetensors --------------------------------------------------------------------------

    def _open_safetensors(self, names: list[str], index: Path) -> None:
        weight_map = self._weight_map(index)
        if weight_map is not None:
            names = sorted(set(weight_map.values()))
            missing = [n for n in names if not (self.dir / n).is_file()]
            if missing:
                counts = {m: sum(v == m for v in weight_map.values()) for m in missing}
                raise ConvertError(f"{self.dir}: missing shard {missing[0]} (named by {index.name} for "
                                   f"{counts[missing[0]]} tensors)" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        for name in names:
            f = SafetensorsFile(self.dir / name)
            self._files.append(f)
            for key in f.keys():
                dtype, shape = f.info(key)
                if key in self._tensors:
                    raise ConvertError(f"{name}: tensor {key!r} is also in {self._tensors[key].file}")
                self._tensors[key] = SourceTensor(key, dtype, shape, name, (lambda f=f, key=key: f.get(key)),
                                                  (lambda f=f, key=key: f.release(key)))
        if weight_map is not None:
            self._check_index(index.name, weight_map)

    def _weight_map(self, index: Path) -> dict[str, str] | None:
        if not index.is_file():
            return None
        data = read_json(index, "the shard index")
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise ConvertError(f"{index}: no 'weight_map' object of tensor name -> shard file")
        bad = [v for v in weight_map.values() if os.path.basename(v) != v]
        if bad:
            raise ConvertError(f"{index}: shard {bad[0]!r} is not a plain file name in the model folder")
        return weight_map

    def _check_index(self, index_name: str, weight_map: dict[str, str]) -> None:
        missing = sorted(set(weight_map) - set(self._tensors))
        extra = sorted(set(self._tensors) - set(weight_map))
        if missing:
            raise ConvertError(f"{index_name} lists {len(missing)} tensors no shard holds, e.g. {missing[0]!r} "
                               f"(expected in {weight_map[missing[0]]}): incomplete shard?")
        if extra:
            raise ConvertError(f"{self._tensors[extra[0]].file} holds {len(extra)} tensors {index_name} does not "
                               f"list, e.g. {extra[0]!r}")
        wrong = [n for n, t in self._tensors.items() if weight_map[n] != t.file]
        if wrong:
            n = wrong[0]
            raise ConvertError(f"{index_name} puts {n!r} in {weight_map[n]}, but it is in {self._tensors[n].file}")

    # ---- pytorch_model.bin (torch, weights only) ----------------------------------------------

    def _open_torch(self, names: list[str], index: Path) -> None:
        try:
            import torch
        except ImportError:
            raise ConvertError(f"{self.dir}: only pytorch_model.bin weights, and reading them needs torch "
                               "(pip install torch); or convert them to safetensors first") from None
        weight_map = self._weight_map(index)
        if weight_map is not None:
            names = sorted(set(weight_map.values()))
        for name in names:
            path = self.dir / name
            if not path.is_file():
                raise ConvertError(f"{self.dir}: missing shard {name} (named by {index.name})")
            try:  # weights_only: tensors and plain containers only; pickled code is refused
                state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
            except Exception as e:  # noqa: BLE001 - torch raises many types; the message says which
                raise ConvertError(f"{name}: torch.load(weights_only=True) refused it: {e}") from None
            for key, t in state.items():
                dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}.get(t.dtype)
                if dtype is None:
                    raise ConvertError(f"{name}: tensor {key!r} is {t.dtype}; only float tensors are supported")
                self._tensors[key] = SourceTensor(key, dtype, tuple(t.shape), name, (lambda t=t, key=key, name=name:
                                                                                   _TorchTensor(key, t, name)))
        if weight_map is not None:
            self._check_index(index.name, weight_map)

    # ---- access -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[SourceTensor]:
        return iter(self._tensors.values())

    def __len__(self) -> int:
        return len(self._tensors)

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def __getitem__(self, name: str) -> SourceTensor:
        return self._tensors[name]

    @property
    def files(self) -> list[str]:
        return sorted({t.file for t in self._tensors.values()})

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _TorchTensor:
    """A torch tensor behind the ``SafeTensor.to_f32`` face."""

    def __init__(self, name: str, t: Any, file: str):
        self.name, self._t, self.file = name, t, file

    def to_f32(self) -> np.ndarray:
        import torch

        t = self._t.detach()
        if t.dtype == torch.float32:  # to() would return t itself: copy once, off the mmap-backed storage
            return t.numpy().copy()
        return t.to(torch.float32).numpy()  # already a new tensor
