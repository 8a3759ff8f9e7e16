"""``convert --outtype T`` is ``ggufpy quantize`` of the f32 conversion: the same per-tensor type mix
(llama-quantize's rules and fallbacks) for K-quant and private targets, and the types only ggufpy
writes load in ggufpy's runtime."""

from __future__ import annotations

import numpy as np
import pytest

from ggufpy.convert import convert_hf
from ggufpy.format.reader import GGUFReader
from ggufpy.quantize import quantize_file

pytestmark = [pytest.mark.fixtures, pytest.mark.slow]


def _types(path) -> dict[str, str]:
    with GGUFReader(path) as r:
        return {t.name: t.type.name for t in r.tensors}


@pytest.mark.parametrize("outtype", ["q4_k_m", "nf4"])
def test_type_mix_equals_quantize(mistral_hf, converted, tmp_path, outtype):
    ours = convert_hf(mistral_hf, tmp_path / f"convert-{outtype}.gguf", outtype, progress=False).path
    quantize_file(converted(mistral_hf, "f32"), tmp_path / f"quantize-{outtype}.gguf", outtype, progress=False)
    got, want = _types(ours), _types(tmp_path / f"quantize-{outtype}.gguf")
    assert got == want
    assert len(set(got.values())) > 2  # a mix, not one type


@pytest.mark.parametrize("outtype", ["q4_0", "tq2_0"])
def test_converts_and_runs(mistral_hf, tmp_path, outtype):
    from ggufpy.runtime.model import Model

    out = convert_hf(mistral_hf, tmp_path / f"m-{outtype}.gguf", outtype, progress=False).path
    assert outtype.upper() in set(_types(out).values())
    with Model.load(out, n_ctx=32) as m:
        assert np.isfinite(m.logits(np.array(m.tokenize("Hello world"), np.int32))).all()
