"""The runtime's door to the compiled extension ``ggufpy._native``: the native llama graph and the kernel
tables (dot products, activation converters) it runs on. The extension itself is imported, with its
broken-install message, in one place only: quants/_native.py.
"""

from __future__ import annotations

# Re-exported for the runtime: ISA queries and kernels(isa) -> the table: vec_dot_type(type),
# from_float(act_type, x), vec_dot(type, w_rows, act_row, n), mat_dot, packed_mat_dot.
from ..quants._native import _mod, available_isas, compiled_isas, cpu_features, default_isa, kernels  # noqa: F401

# The native forward pass: LlamaModel(hparams: dict, tensors: {name: (uint8 array, type id, ne0, ne1)},
# n_ctx, n_batch, n_threads, isa=None); .eval(tokens int32, n_past, all_logits=True) -> float32 logits.
LlamaModel = _mod.LlamaModel
