"""``tokenizer.ggml.pre`` names -> how llama.cpp pre-tokenizes and post-processes a BPE vocabulary.

From ``llm_tokenizer_bpe``'s constructor and ``llama_vocab::impl::load`` in llama.cpp's
``src/llama-vocab.cpp`` (commit 0c1e570). Shared by the runtime tokenizer (``runtime/tokenizer.py``) and
the converter (``convert/vocab.py``), which must agree on what each name means.

Each value is ``(regex group, flags)``: the group is a key of ``runtime.pretokenize.REGEXES`` (the regex
list llama.cpp splits with); the flags are letters:

* ``i``: ignore_merges (a whole pre-token that is in the vocabulary is one token, merges or not)
* ``c``: clean_spaces off (BPE vocabularies default to on)
* ``b``: add_bos; ``s``: add_sep; ``n``: no default BOS
* ``e``: escape whitespace (SPM-style BPE on raw UTF-8)
"""

from __future__ import annotations

PRE_TOKENIZERS: dict[str, tuple[str, str]] = {
    "default": ("default", ""),
    **dict.fromkeys(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano"], ("llama3", "ib")),
    "dbrx": ("llama3", ""), "smaug-bpe": ("llama3", ""),
    "jais-2": ("jais2", ""),
    "deepseek-llm": ("deepseek-llm", "c"),
    "deepseek-coder": ("deepseek-coder", "c"),
    **dict.fromkeys(["deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm"], ("deepseek-v3", "c")),
    "spark2_5": ("spark2_5", "c"),
    "youtu": ("youtu", "ci"),
    "falcon": ("falcon", ""),
    "mpt": ("gpt2", ""),
    **dict.fromkeys(["starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"], ("starcoder", "")),
    "command-r": ("starcoder", "c"), "smollm": ("starcoder", "c"),
    **dict.fromkeys(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                     "mellum", "modern-bert", "olmo", "jais", "exaone4"], ("gpt2", "")),
    **dict.fromkeys(["jina-v1-en", "jina-v2-code", "roberta-bpe"], ("gpt2", "s")),
    "trillion": ("gpt2", "c"), "granite-docling": ("gpt2", "c"),
    **dict.fromkeys(["gemma4", "granite-embed-multi-311m"], ("newlines", "e")),
    "sarvam-moe": ("newlines", "ec"),
    "whitespace": ("whitespace", ""),
    **dict.fromkeys(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"],
                    ("qwen2", "c")),
    "stablelm2": ("qwen2", ""), "megrez": ("qwen2", ""),
    "qwen35": ("qwen35", "c"),
    "poro-chat": ("bloom", "c"), "bloom": ("bloom", ""), "gpt3-finnish": ("bloom", ""),
    "chatglm-bpe": ("llama3", "n"), "glm4": ("llama3", "ni"), "glm5": ("llama3", "ni"),
    "viking": ("viking", "c"),
    "tekken": ("tekken", "cib"),
    "chameleon": ("chameleon", "bc"),
    **dict.fromkeys(["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"], ("gpt-4o", "c")),
    "granite-embed-multi-97m": ("granite-embed-multi-97m", "ci"),
    "tiny_aya": ("tiny_aya", "c"), "cohere2moe": ("tiny_aya", "c"),
    "superbpe": ("superbpe", "c"),
    **dict.fromkeys(["bailingmoe", "bailingmoe2", "llada-moe"], ("bailingmoe", "c")),
    "seed-coder": ("seed-coder", "c"),
    "ufakzeka": ("ufakzeka", "c"),
    "afmoe": ("afmoe", "c"),
    "laguna": ("laguna", "c"),
    "exaone-moe": ("exaone-moe", ""),
    "minicpm5": ("minicpm5", "i"),
}
