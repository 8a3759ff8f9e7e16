"""Bounded memory: converting SmolLM2 (tied embeddings) or the tiny Mistral (untied) to f16 needs, beyond the
fixed cost of importing ggufpy and exporting the tokenizer, about one largest tensor's worth of buffers (its
float32 working copy, its F16 encoding and, while it is read, its BF16 source pages: 8 bytes a value), not
the model: each tensor's memory-mapped pages are released once it is read, and the writer drops each
tensor's bytes before producing the next.

Peaks are the child's VmHWM (Linux): ``ru_maxrss`` of a child also counts its parent's RSS at fork, which
under pytest (torch loaded by the fixtures) hides the conversion entirely.
"""

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
try:  # VmHWM belongs to this exec'd image; ru_maxrss also counts the parent's RSS at fork (pytest's, with torch)
    print(next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")))
except OSError:
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
    one_tensor = largest * (4 + 2 + 2)  # float32 working copy + F16 encoding + the BF16 source's mapped pages
    model_f32 = 134_515_008 * 4
    assert peak - overhead < one_tensor + (6 << 20), (peak, overhead, one_tensor)
    assert peak - overhead < model_f32 / 2

def test_peak_memory_untied(mistral_hf, tmp_path):
    """Untied embeddings: lm_head and embed_tokens, both the largest size, are written one after the other;
    the first one's F16 bytes must be gone before the second is widened (the writer drops them)."""
    overhead = _peak_rss(mistral_hf, "overhead", tmp_path / "h.gguf")
    peak = _peak_rss(mistral_hf, "f16", tmp_path / "m.gguf")
    largest = 32000 * 256  # output and token_embd
    one_tensor = largest * (4 + 2 + 2)  # float32 working copy + F16 encoding + the BF16 source's mapped pages
    # measured: about one_tensor; with the previous tensor's F16 bytes still held, one_tensor + 16 MiB
    assert peak - overhead < one_tensor + (6 << 20), (peak, overhead, one_tensor)
