"""Architecture modules, registered by the Hugging Face ``architectures[0]`` string they convert.

Each module defines an ``Arch`` subclass decorated with ``@register("HFName", ...)``; ``get(config)`` finds it,
importing the modules listed in ``_MODULES`` on first use (mlx-lm's ``models/<type>.py`` idea). Adding an
architecture (Qwen2, BitNet...) is a new module here plus a line in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ...errors import ConvertError
from .base import Arch

_MODULES = ("llama",)
_REGISTRY: dict[str, type[Arch]] = {}


def register(*hf_names: str):
    """Class decorator: this ``Arch`` converts checkpoints whose config names one of ``hf_names``."""
    def deco(cls: type[Arch]) -> type[Arch]:
        for name in hf_names:
            _REGISTRY[name] = cls
        cls.hf_names = hf_names
        return cls
    return deco


def registered() -> dict[str, type[Arch]]:
    for m in _MODULES:
        importlib.import_module(f"{__name__}.{m}")
    return dict(_REGISTRY)


def get(config: dict[str, Any]) -> type[Arch]:
    """The ``Arch`` class for ``config["architectures"][0]``.

    Raises:
        ConvertError: no ``architectures`` in config.json, or one ggufpy does not convert.
    """
    archs = config.get("architectures")
    if not isinstance(archs, list) or not archs or not isinstance(archs[0], str):
        raise ConvertError("config.json: no 'architectures' list naming the model class")
    table = registered()
    if archs[0] not in table:
        raise ConvertError(f"config.json: architecture {archs[0]!r} is not supported; ggufpy converts "
                           f"{', '.join(sorted(table))}")
    return table[archs[0]]


__all__ = ["Arch", "get", "register", "registered"]
