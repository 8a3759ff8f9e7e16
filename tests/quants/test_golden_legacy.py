"""numpy reference == committed golden blocks from gguf-py 0.19.0 (runs without ``gguf`` installed).

The files come from tools/gen_golden_legacy.py; tests/golden/README.md records their provenance and sha256.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from ggufpy import quants
from ggufpy.format.constants import GGMLType

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
QUANTIZABLE = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "TQ1_0", "TQ2_0", "MXFP4"]
DEQUANT_ONLY = ["IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]


def load(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "q_blocks" / f"{name.lower()}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("name", QUANTIZABLE)
def test_quantize_matches_golden(name):
    g = load(name)
    q = quants.quantize(g["x"], GGMLType[name])
    want = g["q"].copy()
    if name in ("Q4_1", "Q5_1"):
        # gguf-py's x.min() gave +0 or -0 for the zero minimum m of the signed-zero blocks in numpy's SIMD
        # reduction order (CPU-dependent); ggml's C and our reference take the first zero: ignore that bit.
        signed = g["case"] == "signed_zeros"
        q = q.copy()
        q[signed, 3] &= 0x7F
        want[signed, 3] &= 0x7F
    for case in np.unique(g["case"]):  # per case, so a failure names the input that broke
        rows = g["case"] == case
        np.testing.assert_array_equal(q[rows], want[rows], err_msg=f"{name} {case}")
    same_bits(quants.dequantize(g["q"], GGMLType[name], reference=True), g["y"])


@pytest.mark.parametrize("name", QUANTIZABLE + DEQUANT_ONLY)
def test_dequantize_random_bytes_matches_golden(name):
    g = load(name)
    same_bits(quants.dequantize(g["raw"], GGMLType[name], reference=True), g["raw_y"])


def test_golden_cases_cover_the_corners():
    cases = set(load("Q4_0")["case"])
    assert {"zero", "constant", "tiny", "huge", "ties", "outliers", "real_smollm2"} <= cases


def test_readme_hashes_match_files():
    text = (GOLDEN / "README.md").read_text()
    section = text.split("<!-- legacy:begin", 1)[1].split("<!-- legacy:end -->", 1)[0]
    listed = dict(re.findall(r"\| `(q_blocks/[\w.]+\.npz)` \| `([0-9a-f]{64})` \|", section))
    assert sorted(listed) == sorted(f"q_blocks/{n.lower()}.npz" for n in QUANTIZABLE + DEQUANT_ONLY)
    for rel, digest in listed.items():
        path = GOLDEN / rel
        assert path.stat().st_size < 100_000, rel
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, rel
