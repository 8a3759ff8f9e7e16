"""`ggufpy quantize`: byte-identical to llama-quantize from the same F32 source; mixes, overrides,
private types, atomic output; and `ggufpy quant-report`."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ggufpy import GGMLType, GGUFError, GGUFReader
from ggufpy.cli import main
from ggufpy.quantize import RequantizeWarning, quantize_file

from .tiny_model import write_tiny_llama

GOLDEN = json.loads((Path(__file__).parent / "golden" / "quantize" / "llama_quantize.json").read_text())
CASES = [(case, target) for case, c in GOLDEN["cases"].items() for target in c["outputs"]]


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tiny")
    out = {"untied": write_tiny_llama(d / "untied.gguf"), "tied": write_tiny_llama(d / "tied.gguf", tied=True)}
    for case, path in out.items():  # the goldens were made from exactly these bytes
        assert hashlib.sha256(path.read_bytes()).hexdigest() == GOLDEN["cases"][case]["source_sha256"]
    return out


@pytest.mark.parametrize("case, target", CASES)
def test_byte_identical_to_llama_quantize(tiny_sources, tmp_path, case, target):
    dst = tmp_path / "out.gguf"
    quantize_file(tiny_sources[case], dst, target, progress=False)
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == GOLDEN["cases"][case]["outputs"][target]


def test_smollm2_q8_0_warns_and_follows_llama_mix(smollm2_path, tmp_path):
    dst = tmp_path / "q8.gguf"
    with pytest.warns(RequantizeWarning, match="already quantized"):
        res = quantize_file(smollm2_path, dst, "q8_0", progress=False)
    r = GGUFReader(dst)
    golden = json.loads((Path(__file__).parent / "golden" / "mix" / "smollm2_q8_0.json").read_text())
    assert {t.name: t.type.name for t in r.tensors} == golden["types"]
    assert r.metadata["general.file_type"] == golden["file_type"]
    assert list(r.metadata)[-2:] == ["general.quantization_version", "general.file_type"]
    src = GGUFReader(smollm2_path)
    x, y = src.get_tensor("blk.3.ffn_up.weight").numpy(), r.get_tensor("blk.3.ffn_up.weight").numpy()
    assert np.sqrt(np.mean((x - y) ** 2) / np.mean(x**2)) < 0.01  # Q8_0 re-rounding of Q4_1 values
    assert res.n_bytes_out > res.n_bytes_in


def test_private_target_has_no_file_type_and_is_flagged(tiny_sources, tmp_path, capsys):
    dst = tmp_path / "nf4.gguf"
    assert main(["quantize", str(tiny_sources["untied"]), str(dst), "--type", "nf4", "-q"]) == 0
    assert "ggufpy-private" in capsys.readouterr().err
    r = GGUFReader(dst)
    assert "general.file_type" not in r.metadata
    assert r.get_tensor("blk.0.ffn_up.weight").type == GGMLType.NF4
    assert main(["inspect", str(dst)]) == 0
    assert "ggufpy-only file" in capsys.readouterr().out


def test_overrides(tiny_sources, tmp_path):
    dst = tmp_path / "o.gguf"
    quantize_file(tiny_sources["untied"], dst, "q4_k_m", progress=False, output_tensor_type=GGMLType.Q8_0,
                  tensor_type_overrides=[(r"ffn_up", GGMLType.Q5_0)])
    types = {t.name: t.type for t in GGUFReader(dst).tensors}
    assert types["output.weight"] == GGMLType.Q8_0
    assert types["blk.1.ffn_up.weight"] == GGMLType.Q5_0
    assert types["blk.1.ffn_gate.weight"] == GGMLType.Q4_K
    assert types["output_norm.weight"] == GGMLType.F32


def test_refuses_to_overwrite_and_leaves_nothing_on_error(tiny_sources, tmp_path, capsys):
    dst = tmp_path / "x.gguf"
    dst.write_bytes(b"keep me")
    assert main(["quantize", str(tiny_sources["untied"]), str(dst), "--type", "q8_0", "-q"]) == 2
    assert "exists" in capsys.readouterr().err and dst.read_bytes() == b"keep me"
    bad = tmp_path / "bad.gguf"
    with pytest.raises(GGUFError):  # IQ2_XXS has no encoder (needs an imatrix): refused before writing
        quantize_file(tiny_sources["untied"], bad, "q8_0", progress=False,
                      tensor_type_overrides=[("attn_q", GGMLType.IQ2_XXS)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gguf"]


def test_quant_report_against_and_type(tiny_sources, tmp_path, capsys):
    q4 = tmp_path / "q4.gguf"
    quantize_file(tiny_sources["untied"], q4, "q4_0", progress=False)
    assert main(["quant-report", str(q4), "--against", str(tiny_sources["untied"]), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in rep["tensors"]}
    assert rows["blk.0.attn_q.weight"]["type"] == "Q4_0" and 15 < rows["blk.0.attn_q.weight"]["snr_db"] < 30
    assert rows["output_norm.weight"]["mse"] == 0.0
    assert main(["quant-report", str(tiny_sources["untied"]), "--type", "q4_0", "--json"]) == 0
    sim = {r["name"]: r for r in json.loads(capsys.readouterr().out)["tensors"]}
    # simulating gives exactly the error of the real file, and a theoretical s^2/12 for the linear type
    assert sim["blk.0.attn_q.weight"]["mse"] == pytest.approx(rows["blk.0.attn_q.weight"]["mse"], rel=1e-12)
    assert sim["blk.0.attn_q.weight"]["theoretical_var"] == pytest.approx(sim["blk.0.attn_q.weight"]["mse"], rel=0.25)


def test_quant_report_plot(tiny_sources, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "snr.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["quant-report", str(tiny_sources["untied"]), "--type", "q4_k_m", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quant_report_needs_a_mode(tiny_sources, capsys):
    assert main(["quant-report", str(tiny_sources["untied"])]) == 2
    assert "--against" in capsys.readouterr().err
