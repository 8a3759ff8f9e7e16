"""The only import site of the compiled extension ``ggufpy._native`` (with runtime/ops.py later).

The native module is part of the install: if it does not import, the install is broken and we say so
loudly instead of falling back to slow Python paths.
"""

from __future__ import annotations

try:
    from .. import _native as _mod
except ImportError as e:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"ggufpy's native extension failed to import ({e}). Reinstall with `pip install .` and check "
        "the build log; ggufpy does not run without it."
    ) from e

cpu_features = _mod.cpu_features
compiled_isas = _mod.compiled_isas
available_isas = _mod.available_isas
default_isa = _mod.default_isa
default_isa_error = _mod.default_isa_error


def kernels(isa: str | None = None):
    """The kernel table for ``isa`` (default: the one chosen at import, honouring ``GGUFPY_ISA``)."""
    return _mod.kernels(isa)


def backend_info() -> dict:
    """Native status for bug reports: ISA chosen, ISAs compiled and runnable, CPU flags, CUDA."""
    return {
        "native": True,
        "isa": default_isa(),
        "isa_override_error": default_isa_error() or None,
        "compiled_isas": compiled_isas(),
        "available_isas": available_isas(),
        "cpu_features": cpu_features(),
        "cuda_compiled": bool(_mod.cuda_compiled),
        "compiler": _mod.compiler,
    }
