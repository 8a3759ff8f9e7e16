"""ggufpy: read, write, convert, quantize and run GGUF models on ordinary CPUs."""

from .errors import ConvertError, FetchError, GGUFError, GGUFFormatError, UnsupportedTypeError, WriterStateError
from .format import GGMLType, GGUFReader, GGUFValueType, GGUFWriter, open
from .quants import dequantize, quantize

__version__ = "0.1.0"


def backend_info() -> dict:
    """Native module status: ISA chosen, ISAs available, CPU features, CUDA (for bug reports)."""
    from .quants._native import backend_info as _info

    return _info()


__all__ = [
    "GGUFReader", "GGUFWriter", "GGMLType", "GGUFValueType", "open", "quantize", "dequantize", "backend_info",
    "GGUFError", "GGUFFormatError", "UnsupportedTypeError", "WriterStateError", "FetchError", "ConvertError",
    "__version__",
]
