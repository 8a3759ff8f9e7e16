"""Hugging Face checkpoint -> GGUF (``convert-hf-to-gguf``, ``ggufpy convert``).

``convert_hf(model_dir, out_path, outtype)`` is the library function; ``core.py`` describes the pipeline.
Modules: ``safetensors`` (validated mmap reader), ``hf`` (config.json, shards), ``names`` (HF -> GGUF
tensor-name tables), ``arch/`` (one module per architecture family), ``vocab`` (tokenizer export),
``metadata`` (``general.*`` keys), ``pre_hashes`` (llama.cpp's pre-tokenizer table), ``cli``.
"""

from .core import OUTTYPES, PROVENANCE_KEYS, ConvertResult, convert_hf

__all__ = ["convert_hf", "ConvertResult", "OUTTYPES", "PROVENANCE_KEYS"]
