"""The GGUF container: constants and layouts, metadata keys, reader and writer."""

from .constants import GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, QUANT_SIZES, GGMLType, GGUFValueType, LlamaFileType
from .reader import GGUFField, GGUFReader, Metadata, ReaderTensor, open
from .writer import GGUFWriter, WriterState, writer_from

__all__ = [
    "GGML_MAX_DIMS", "GGUF_DEFAULT_ALIGNMENT", "QUANT_SIZES", "GGMLType", "GGUFValueType", "LlamaFileType",
    "GGUFField", "GGUFReader", "Metadata", "ReaderTensor", "open", "GGUFWriter", "WriterState", "writer_from",
]
