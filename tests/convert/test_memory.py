"""Bounded memory: converting SmolLM2 to f16 needs, beyond the fixed cost of importing ggufpy and exporting
the tokenizer, about two copies of the largest tensor (token_embd as float32 plus its f16 encoding), not
the model: each tensor's memory-mapped pages are released once it is read."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.fixtures, pytest.mark.slow]

_SCRIPT = """
import resource, sys
from pathlib import Path
folder, mode, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
from ggufpy.convert import convert_hf
from ggufpy.convert.arch import get
from ggufpy.convert.hf import load_config
from ggufpy.convert.metadata import KV
from ggufpy.convert.vocab import write_vocab
from ggufpy.format.writer import GGUFWriter
if mode == "overhead":  # everything but the tensors: imports, tokenizer export, header
    config = load_config(folder)
    kv = KV()
    write_vocab(folder, get(config)(config).config, kv)
    w = GGUFWriter(out)
    kv.to_writer(w)
    w.header_bytes()
else:
    convert_hf(folder, out, mode, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_rss(folder, mode, out) -> int:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(folder), mode, str(out)], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout.split()[-1])


def test_peak_memory_is_about_two_copies_of_the_largest_tensor(smollm2_hf, tmp_path):
    overhead = _peak_rss(smollm2_hf, "overhead", tmp_path / "h.gguf")
    peak = _peak_rss(smollm2_hf, "f16", tmp_path / "m.gguf")
    largest = 49152 * 576  # token_embd
    two_copies = largest * 4 + largest * 2  # float32 working copy + its F16 encoding
    model_f32 = 134_515_008 * 4
    assert peak - overhead < 1.25 * two_copies, (peak, overhead, two_copies)
    assert peak - overhead < model_f32 / 2
