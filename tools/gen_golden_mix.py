"""Record llama-quantize's per-tensor type choices as golden files for tests/quants/test_mix.py.

    python tools/build_llamacpp.py          # once: builds llama-quantize (llama.cpp 0c1e570)
    python tools/gen_golden_mix.py [--cases smollm2,tiny256] [--out tests/golden/mix]

For each case and each llama target of ``ggufpy.quants.mix.TARGETS`` (plus a few runs with CLI options),
this runs ``llama-quantize --allow-requantize [options] <source> <tmp>/out.gguf <TYPE> 2`` and reads the
output with ``ggufpy.GGUFReader``. It writes

* ``<case>.model.json``: the source's tensors (name, ne, type) and the metadata the planner reads, so the
  test needs neither the source file nor llama.cpp;
* ``<case>_<target>[_<variant>].json``: ``{"target", "args", "file_type", "types": {tensor: type name}}``.

Cases: ``smollm2`` is the real SmolLM2-135M-Instruct Q4_1 file (576-wide rows, tied embeddings). The others
are tiny deterministic F32/F16 GGUFs written here (random weights, seed fixed) with llama.cpp tensor names
and just the metadata llama-quantize loads (it reads hparams, never the tensor data layout or vocab):

* ``tiny256``: llama, every row a multiple of 256, untied ``output.weight``;
* ``tinyodd``: llama with n_ff = 528 (not a multiple of 32): ``ffn_down`` must fall back to F16;
* ``tinymoe``: llama with 8 experts (Mixtral layout): the ``n_expert == 8`` rules and layer parsing;
* ``tinyfalcon``: falcon (fused ``attn_qkv``, 16 layers): the Falcon rules;
* ``tiny70b``: llama with 80 layers and GQA, which llama.cpp types as 70B (attn_v bump).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_llamacpp import LLAMA_CPP_COMMIT, llamacpp_bin  # noqa: E402

import ggufpy  # noqa: E402
from ggufpy.format.constants import GGMLType, TokenType  # noqa: E402
from ggufpy.quants.mix import TARGETS  # noqa: E402

LLAMA_TARGETS = [name for name, t in TARGETS.items() if t.ftype is not None]
# the ftypes whose attn_v can land on Q3_K/Q4_K, which LLM_TYPE_70B bumps to Q5_K
TARGETS_70B = ["q2_k", "q3_k_s", "q3_k_m", "q4_k_s", "q4_k_m"]
# metadata keys the planner reads (ModelInfo.from_metadata), copied into <case>.model.json
INFO_KEYS = ("block_count", "attention.head_count", "attention.head_count_kv", "expert_count")

# (variant tag, target, llama-quantize options): runs with CLI options, on smollm2 and tiny256
VARIANTS = [
    ("pure", "q4_k_m", ["--pure"]),
    ("outtypes", "q4_k_m", ["--output-tensor-type", "q5_0", "--token-embedding-type", "q4_0"]),
    ("outtype", "q2_k", ["--output-tensor-type", "q4_k"]),  # tied token_embd: rule path, then shape fallback
    ("regex", "q4_k_m", ["--tensor-type", "attn_q=q8_0", "--tensor-type", r"blk\.[0-3]\.ffn_down=q5_k"]),
    ("counter", "q3_k_m", ["--tensor-type", r"blk\.0\.attn_v=q8_0"]),  # overridden attn_v skips i_attention_wv
    ("f16regex", "f16", ["--tensor-type", "attn_q=q8_0"]),  # ignored: F16 is not a block type
    ("leaveout", "q4_k_m", ["--leave-output-tensor"]),
]


# ---- tiny synthetic models ------------------------------------------------------------------------


@dataclass
class Tiny:
    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int = 512
    n_expert: int = 0
    tied: bool = False
    dtype: str = "float32"
    targets: list[str] = field(default_factory=lambda: LLAMA_TARGETS)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


TINY = {
    "tiny256": Tiny("llama", 8, 256, 512, 4, 2),
    "tinyodd": Tiny("llama", 4, 256, 528, 4, 2),
    "tinymoe": Tiny("llama", 8, 256, 256, 4, 2, n_expert=8, dtype="float16"),
    "tinyfalcon": Tiny("falcon", 16, 256, 512, 4, 1),
    "tiny70b": Tiny("llama", 80, 256, 256, 4, 1, dtype="float16", targets=TARGETS_70B),
}


def tiny_tensors(m: Tiny) -> list[tuple[str, tuple[int, ...]]]:
    """(name, ne) in llama.cpp's converter order, shapes as llama.cpp's load_arch_tensors declares."""
    e, f, gqa = m.n_embd, m.n_ff, m.head_dim * m.n_head_kv
    out: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (e, m.n_vocab)), ("output_norm.weight", (e,))]
    if m.arch == "falcon":
        out.append(("output_norm.bias", (e,)))
    if not m.tied:
        out.append(("output.weight", (e, m.n_vocab)))
    for i in range(m.n_layer):
        b = f"blk.{i}."
        if m.arch == "falcon":
            out += [(b + "attn_norm.weight", (e,)), (b + "attn_norm.bias", (e,)),
                    (b + "attn_qkv.weight", (e, e + 2 * gqa)), (b + "attn_output.weight", (e, e)),
                    (b + "ffn_up.weight", (e, f)), (b + "ffn_down.weight", (f, e))]
            continue
        out += [(b + "attn_norm.weight", (e,)), (b + "attn_q.weight", (e, e)), (b + "attn_k.weight", (e, gqa)),
                (b + "attn_v.weight", (e, gqa)), (b + "attn_output.weight", (e, e)), (b + "ffn_norm.weight", (e,))]
        if m.n_expert:
            x = m.n_expert
            out += [(b + "ffn_gate_inp.weight", (e, x)), (b + "ffn_gate_exps.weight", (e, f, x)),
                    (b + "ffn_down_exps.weight", (f, e, x)), (b + "ffn_up_exps.weight", (e, f, x))]
        else:
            out += [(b + "ffn_gate.weight", (e, f)), (b + "ffn_down.weight", (f, e)), (b + "ffn_up.weight", (e, f))]
    return out


def write_tiny(m: Tiny, path: Path) -> None:
    """A loadable GGUF: hparams, a minimal SPM-style vocab, and seeded random weights."""
    rng = np.random.default_rng(0)
    w = ggufpy.GGUFWriter(path, m.arch, overwrite=True)
    a = m.arch
    w.add_string("general.name", f"ggufpy tiny {a}")
    w.add_uint32(f"{a}.block_count", m.n_layer)
    w.add_uint32(f"{a}.context_length", 256)
    w.add_uint32(f"{a}.embedding_length", m.n_embd)
    w.add_uint32(f"{a}.feed_forward_length", m.n_ff)
    w.add_uint32(f"{a}.attention.head_count", m.n_head)
    w.add_uint32(f"{a}.attention.head_count_kv", m.n_head_kv)
    if a == "falcon":
        w.add_float32(f"{a}.attention.layer_norm_epsilon", 1e-5)
    else:
        w.add_uint32(f"{a}.rope.dimension_count", m.head_dim)
        w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
    if m.n_expert:
        w.add_uint32(f"{a}.expert_count", m.n_expert)
        w.add_uint32(f"{a}.expert_used_count", 2)
    w.add_uint32("general.file_type", 0 if m.dtype == "float32" else 1)
    tokens = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, m.n_vocab)]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.NORMAL] * (m.n_vocab - 3)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", np.arange(m.n_vocab, dtype=np.float32) * -1.0)
    w.add_array("tokenizer.ggml.token_type", np.array(types, dtype=np.int32))
    for name, ne in tiny_tensors(m):
        x = rng.standard_normal(tuple(reversed(ne)), dtype=np.float32) * 0.02
        w.add_tensor(name, x.astype(m.dtype) if len(ne) > 1 else x)  # norms/biases stay F32
    w.write()


# ---- running llama-quantize -----------------------------------------------------------------------


def quantize(src: Path, target: str, options: list[str], tmp: Path) -> dict:
    out = tmp / "out.gguf"
    out.unlink(missing_ok=True)
    cmd = [str(llamacpp_bin("llama-quantize")), "--allow-requantize", *options, str(src), str(out), target.upper(), "2"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    with ggufpy.GGUFReader(out) as rd:
        return {
            "target": target,
            "args": options,
            "file_type": int(rd.metadata["general.file_type"]),
            "types": {t.name: t.type.name for t in rd.tensors},
        }


def model_json(src: Path) -> dict:
    with ggufpy.GGUFReader(src) as rd:
        arch = rd.metadata["general.architecture"]
        md = {"general.architecture": arch}
        for k in INFO_KEYS:
            key = f"{arch}.{k}"
            if key in rd.metadata:
                v = rd.metadata[key]
                md[key] = int(v) if np.isscalar(v) else [int(x) for x in v]
        return {
            "metadata": md,
            "tensors": [[t.name, list(t.ne), t.type.name] for t in rd.tensors],
        }


def dump(obj: dict, path: Path) -> None:
    """Compact but diff-friendly: one tensor per line."""
    text = json.dumps(obj, indent=1)
    if "tensors" in obj:  # model files: keep each [name, ne, type] on one line
        rows = ",\n".join("  " + json.dumps(t) for t in obj["tensors"])
        text = "{\n" + f' "metadata": {json.dumps(obj["metadata"])},\n "tensors": [\n{rows}\n ]\n}}'
    path.write_text(text + "\n")
    print(f"  wrote {path} ({len(text)} bytes)")


def run_case(case: str, src: Path, targets: list[str], variants: bool, out_dir: Path, tmp: Path) -> None:
    print(f"{case}: {src}")
    dump(model_json(src), out_dir / f"{case}.model.json")
    for target in targets:
        dump(quantize(src, target, [], tmp), out_dir / f"{case}_{target}.json")
    if variants:
        for tag, target, options in VARIANTS:
            dump(quantize(src, target, options, tmp), out_dir / f"{case}_{target}_{tag}.json")


README = """# Golden quant mixes from llama-quantize

Per-tensor types chosen by llama.cpp's `llama-quantize`, the oracle for `ggufpy.quants.mix.plan`
(`tests/quants/test_mix.py`). Generated by `tools/gen_golden_mix.py`; do not edit by hand.

* Peer: llama.cpp commit {commit}, as vendored in the llama-cpp-python 0.3.36 sdist
  (`llama_cpp_python-0.3.36.tar.gz`, sha256 `{sdist_sha256}`), built by `tools/build_llamacpp.py`
  (CMake Release, `GGML_NATIVE=ON`, `LLAMA_CURL=OFF`, no tests/server). Built from the tarball, so the
  binary reports its commit as "unknown".
* Commands:

      python tools/build_llamacpp.py
      python tools/gen_golden_mix.py

  which runs, per case and target, `llama-quantize --allow-requantize [options] <source> out.gguf <TYPE> 2`
  and reads `out.gguf` back with `ggufpy.GGUFReader`.
* `<case>.model.json`: the source's tensors `[name, ne (GGUF order), type]` and the metadata the planner
  reads. `<case>_<target>[_<variant>].json`: `target`, `args` (llama-quantize options), `file_type`
  (`general.file_type` written) and `types` (tensor -> type name, in the output file's order).

## Cases

| case | source |
|---|---|
| smollm2 | SmolLM2-135M-Instruct Q4_1 (`fetch("smollm2-135m-instruct-q4_1")`): llama, 30 layers, 9/3 heads, \
rows 576 wide (ffn_down 1536), tied embeddings, token_embd already Q8_0 |
| tiny256 | written by the tool (seed 0): llama, 8 layers, n_embd 256, n_ff 512, 4/2 heads, vocab 512, \
untied output, F32 |
| tinyodd | as tiny256 with 4 layers and n_ff 528 (not a multiple of 32): ffn_down falls back to F16 |
| tinymoe | llama, 8 layers, 8 experts (ffn_*_exps, ffn_gate_inp), n_ff 256, F16 weights |
| tinyfalcon | falcon, 16 layers, fused attn_qkv, 4/1 heads, untied output, F32 |
| tiny70b | llama, 80 layers, 4/1 heads, F16 weights: llama.cpp types it LLM_TYPE_70B; K targets only |

Variants (smollm2 and tiny256):

| variant | target | options |
|---|---|---|
{variants}

## Files (sha256)

{files}
"""


def write_readme(out_dir: Path) -> None:
    from ggufpy.fetch import LLAMA_CPP_PYTHON_SDIST

    variants = "\n".join(f"| {tag} | {target} | `{' '.join(opts)}` |" for tag, target, opts in VARIANTS)
    files = "\n".join(
        f"    {hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}" for f in sorted(out_dir.glob("*.json"))
    )
    text = README.format(commit=LLAMA_CPP_COMMIT, sdist_sha256=LLAMA_CPP_PYTHON_SDIST.sha256,
                         variants=variants, files=files)
    (out_dir / "README.md").write_text(text)
    print(f"  wrote {out_dir / 'README.md'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(["smollm2", *TINY]))
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests/golden/mix")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"llama.cpp {LLAMA_CPP_COMMIT}: {llamacpp_bin('llama-quantize')}")
    with tempfile.TemporaryDirectory(prefix="ggufpy-mix-") as d:
        tmp = Path(d)
        for case in args.cases.split(","):
            if case == "smollm2":
                from ggufpy.fetch import fetch

                run_case(case, fetch("smollm2-135m-instruct-q4_1"), LLAMA_TARGETS, True, args.out, tmp)
                continue
            m = TINY[case]
            src = tmp / f"{case}.gguf"
            write_tiny(m, src)
            run_case(case, src, m.targets, case == "tiny256", args.out, tmp)
    write_readme(args.out)


if __name__ == "__main__":
    main()
