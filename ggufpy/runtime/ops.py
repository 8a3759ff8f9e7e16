"""The runtime's only import site of the compiled extension ``ggufpy._native`` (quants/_native.py is the
other): the native llama graph and the kernel tables (dot products, activation converters) it runs on.

The extension is part of the install; if it does not import, the install is broken and we say so.
"""

from __future__ import annotations

try:
    from .. import _native as _mod
except ImportError as e:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"ggufpy's native extension failed to import ({e}). Reinstall with `pip install .` and check "
        "the build log; ggufpy does not run without it."
    ) from e

# The native forward pass: LlamaModel(hparams: dict, tensors: {name: (uint8 array, type id, ne0, ne1)},
# n_ctx, n_batch, n_threads, isa=None); .eval(tokens int32, n_past, all_logits=True) -> float32 logits.
LlamaModel = _mod.LlamaModel

available_isas = _mod.available_isas
compiled_isas = _mod.compiled_isas
default_isa = _mod.default_isa
cpu_features = _mod.cpu_features


def kernels(isa: str | None = None):
    """The kernel table for ``isa`` (default: the chosen one, honouring ``GGUFPY_ISA``). Runtime methods:
    ``vec_dot_type(type)``, ``from_float(act_type, x)``, ``vec_dot(type, w_rows, act_row, n)``."""
    return _mod.kernels(isa)
