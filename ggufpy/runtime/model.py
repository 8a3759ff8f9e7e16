"""``Model``: a GGUF llama model run by the native forward pass (native/src/model/llama.cpp).

The weights stay in the file's memory map: the native model reads them through zero-copy views of the
open ``GGUFReader``, which this object keeps open for its lifetime. The forward pass, its KV cache (F16)
and its thread pool are C++; Python runs once per ``eval`` call, never per layer.

    m = Model.load("SmolLM2-135M-Instruct.Q4_1.gguf", threads=2)
    logits = m.logits([1, 504, 3250])            # (3, n_vocab) float32, from an empty cache
    nxt = m.eval([28], n_past=3, all_logits=False)  # one more token, reusing the cached positions
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import GGUFError, GGUFFormatError, UnsupportedTypeError
from ..format.constants import GGMLType
from ..format.reader import GGUFReader
from . import ops
from .config import ModelConfig

DEFAULT_MAX_CTX = 4096  # n_ctx default: the trained context, capped here (the KV cache grows with it)
DEFAULT_BATCH = 512  # tokens per native forward pass (llama.cpp's default ubatch)


def default_threads() -> int:
    """Physical cores this process may run on (SMT siblings counted once); CPU count where unknown."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
    cores = set()
    for c in cpus:
        base = f"/sys/devices/system/cpu/cpu{c}/topology/"
        try:
            with open(base + "physical_package_id") as f1, open(base + "core_id") as f2:
                cores.add((f1.read().strip(), f2.read().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def _type_name(t: int) -> str:
    return GGMLType(t).name if t in GGMLType._value2member_map_ else f"type#{t}"


class Model:
    """A loaded model. Build with :meth:`Model.load`; close with :meth:`close` (or ``with``)."""

    def __init__(self, reader: GGUFReader, config: ModelConfig, native, path: Path):
        self.reader = reader
        self.config = config
        self.path = path
        self._native = native

    # ---- construction ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, threads: int | None = None, n_ctx: int | None = None,
             n_batch: int = DEFAULT_BATCH, isa: str | None = None) -> Model:
        """Open ``path`` and build the native model.

        Args:
            threads: worker threads (default: the physical cores available).
            n_ctx: KV cache positions (default: the trained context, at most 4096).
            n_batch: tokens per native forward pass; longer inputs are processed in pieces.
            isa: kernel table to use ("generic", "avx2", ...; default: the best, or ``GGUFPY_ISA``).

        Raises:
            GGUFError: unknown architecture (``UnsupportedTypeError``), a missing tensor or wrong dims
                (``GGUFFormatError``), a tensor type without a native kernel (``UnsupportedTypeError``).
        """
        path = Path(path)
        reader = GGUFReader(path)
        try:
            config = ModelConfig.from_gguf(reader)
            if threads is None:
                threads = default_threads()
            if n_ctx is None:
                n_ctx = min(config.n_ctx_train, DEFAULT_MAX_CTX)
            if threads < 1 or n_ctx < 1 or n_batch < 1:
                raise ValueError(f"threads, n_ctx and n_batch must be positive (got {threads}, {n_ctx}, {n_batch})")
            tensors = _native_tensors(reader, config, ops.kernels(isa))
            hparams = dict(
                n_vocab=config.n_vocab, n_embd=config.n_embd, n_layer=config.n_layer, n_ff=config.n_ff,
                n_head=config.n_head, n_head_kv=config.n_head_kv, head_dim=config.head_dim, n_rot=config.n_rot,
                rope_type=int(config.rope_type), rope_freq_base=config.rope_freq_base,
                rope_freq_scale=config.rope_freq_scale, rope_attn_factor=config.rope_attn_factor,
                rms_eps=config.rms_eps,
            )
            try:
                native = ops.LlamaModel(hparams, tensors, n_ctx, n_batch, threads, isa)
            except ValueError as e:  # what the Python checks above missed, said by the C++ loader
                raise GGUFFormatError(f"{path}: {e}") from None
        except BaseException:
            reader.close()
            raise
        return cls(reader, config, native, path)

    # ---- evaluation --------------------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return self._live().n_ctx

    @property
    def n_batch(self) -> int:
        return self._live().n_batch

    @property
    def threads(self) -> int:
        return self._live().n_threads

    n_threads = threads

    @property
    def isa(self) -> str:
        return self._live().isa

    @property
    def n_past(self) -> int:
        """Positions held by the KV cache (where the next ``eval`` continues by default)."""
        return self._live().n_cached

    def eval(self, tokens, n_past: int | None = None, *, all_logits: bool = True) -> np.ndarray:
        """Run ``tokens`` at positions ``n_past, n_past + 1, ...`` (default: after the cached ones) and
        return their logits, (n_tokens, n_vocab) float32, or (1, n_vocab) for the last token only.

        ``n_past`` may be smaller than :attr:`n_past` to rewind (positions from it on are overwritten).

        Raises:
            ValueError: empty ``tokens``, a token id outside [0, n_vocab), ``n_past`` beyond the cached
                positions, or positions past ``n_ctx``.
        """
        native = self._live()
        toks = np.ascontiguousarray(np.asarray(tokens).reshape(-1))
        if toks.size == 0:
            raise ValueError("eval: no tokens")
        if not np.issubdtype(toks.dtype, np.integer):
            raise ValueError(f"eval: tokens must be integers, got dtype {toks.dtype}")
        n_vocab = self.config.n_vocab
        lo, hi = int(toks.min()), int(toks.max())
        if lo < 0 or hi >= n_vocab:
            raise ValueError(f"eval: token id {lo if lo < 0 else hi} is outside the vocabulary [0, {n_vocab})")
        start = native.n_cached if n_past is None else int(n_past)
        if not 0 <= start <= native.n_cached:
            raise ValueError(f"eval: n_past = {start} is outside [0, {native.n_cached}] (the positions held)")
        if start + toks.size > native.n_ctx:
            raise ValueError(f"eval: {toks.size} tokens at position {start} exceed the context size "
                             f"n_ctx = {native.n_ctx}")
        return native.eval(toks.astype(np.int32, copy=False), start, all_logits)

    def logits(self, tokens) -> np.ndarray:
        """Logits (n_tokens, n_vocab) float32 of ``tokens`` from position 0 (the cache is reset first)."""
        return self.eval(tokens, 0)

    def reset(self) -> None:
        """Forget the cached positions."""
        self._live().reset()

    # ---- text and inspection -------------------------------------------------------------------------

    @property
    def tokenizer(self):
        """The file's tokenizer (``ggufpy.runtime.tokenizer.Tokenizer``), built on first use."""
        if getattr(self, "_tokenizer", None) is None:
            from .tokenizer import Tokenizer

            self._tokenizer = Tokenizer.from_gguf(self.reader.metadata)
        return self._tokenizer

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text`` (BOS as the file says when ``add_special``; special-token text parsed only
        when ``parse_special``, as llama.cpp)."""
        return self.tokenizer.tokenize(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens, *, skip_special: bool = False) -> str:
        return self.tokenizer.detokenize(list(tokens), skip_special=skip_special)

    def generate(self, prompt: str, **kwargs):
        """Stream the continuation of ``prompt`` as text pieces (``ggufpy.runtime.generate.generate``:
        n_predict, sampler, add_bos, parse_special, special, stats)."""
        from .generate import generate

        return generate(self, self.tokenizer, prompt, **kwargs)

    def hidden_states(self, tokens) -> dict[str, np.ndarray]:
        """Every layer's intermediate tensors for ``tokens`` (from position 0), named as llama.cpp's graph
        callbacks (``"l_out-3"``, ``"attn_norm-3"``, ``"Qcur-3"``, ..., ``"result_norm"``), each (n_tokens, ...).

        Computed by the numpy reference forward (``runtime/reference.py``: the same weights and ggml's
        roundings, agreeing with this native forward to the bounds in tests/runtime), so inspection never
        slows the native graph, which keeps no per-layer copies.
        """
        from .reference import ReferenceModel

        if getattr(self, "_reference", None) is None:
            self._reference = ReferenceModel(self.reader)
        capture: dict[str, np.ndarray] = {}
        self._reference.logits(tokens, capture=capture)
        return capture

    # ---- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the native model (KV cache, threads) and close the file."""
        self._native = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._native is None:
            return f"Model({str(self.path)!r}, closed)"
        return (f"Model({str(self.path)!r}, {self.config.arch}, {self.config.n_layer} layers, "
                f"n_ctx={self.n_ctx}, threads={self.threads}, isa={self.isa})")

    def _live(self):
        if self._native is None:
            raise GGUFError("the model is closed")
        return self._native


# ---------------------------------------------------------------------------------------------------------
# Tensor checks: everything the native loader needs, said as one-line GGUFErrors naming the tensor
# ---------------------------------------------------------------------------------------------------------


def _native_tensors(reader: GGUFReader, c: ModelConfig, kt) -> dict[str, tuple]:
    """GGUF name -> (uint8 view, type id, ne0, ne1) for the native loader, after checking presence, dims
    and that a kernel exists for each type. A fused ``attn_qkv`` is handed over as Q, K and V row views."""
    by_name = {t.name: t for t in reader.tensors}
    n_q, n_kv = c.n_head * c.head_dim, c.n_head_kv * c.head_dim
    out: dict[str, tuple] = {}

    def get(name: str, ne: tuple[int, ...], required: bool = True):
        t = by_name.get(name)
        if t is None:
            if required:
                raise GGUFFormatError(f"missing tensor {name!r} (architecture {c.arch!r})")
            return None
        if tuple(t.ne) != ne:
            raise GGUFFormatError(f"tensor {name!r}: dims (ne) {tuple(t.ne)}, expected {ne}")
        return t

    def put(name: str, data: np.ndarray, ttype: int, ne0: int, ne1: int = 1) -> None:
        out[name] = (np.ascontiguousarray(data).reshape(-1), int(ttype), ne0, ne1)

    def norm(name: str, required: bool = True) -> None:
        t = f32(name, (c.n_rot // 2,) if name.startswith("rope_freqs") else (c.n_embd,), required)
        if t is not None:
            put(name, t.data, t.type, t.ne[0])

    def f32(name: str, ne: tuple[int, ...], required: bool):
        t = get(name, ne, required)
        if t is not None and t.type != GGMLType.F32:
            raise UnsupportedTypeError(f"tensor {name!r} has type {t.type.name}; the native runtime needs F32 here")
        return t

    def bias(name: str, n: int) -> None:
        t = f32(name, (n,), required=False)
        if t is not None:
            put(name, t.data, t.type, n)

    def matmul_type(t) -> None:
        if kt.vec_dot_type(int(t.type)) is None:
            supported = ", ".join(sorted(_type_name(x) for x in range(43) if kt.vec_dot_type(x) is not None))
            raise UnsupportedTypeError(f"tensor {t.name!r} has type {_type_name(int(t.type))}, which has no native "
                                       f"matmul kernel yet (supported: {supported})")

    def weight(name: str, ne: tuple[int, int]) -> None:
        t = get(name, ne)
        matmul_type(t)
        put(name, t.data, t.type, *ne)

    embd = get("token_embd.weight", (c.n_embd, c.n_vocab))
    if not kt.has_dequantize(int(embd.type)):
        raise UnsupportedTypeError(f"tensor 'token_embd.weight' has type {_type_name(int(embd.type))}, which has "
                                   "no native dequantizer")
    if by_name.get("output.weight") is None:
        matmul_type(embd)  # tied output: token_embd is also the output matmul
    put("token_embd.weight", embd.data, embd.type, c.n_embd, c.n_vocab)
    norm("output_norm.weight")
    norm("rope_freqs.weight", required=False)
    if "output.weight" in by_name:
        weight("output.weight", (c.n_embd, c.n_vocab))

    for il in range(c.n_layer):
        p = f"blk.{il}."
        norm(p + "attn_norm.weight")
        norm(p + "ffn_norm.weight")
        qkv = by_name.get(p + "attn_qkv.weight")
        if qkv is not None:  # fused: rows are Q, then K, then V (llama.cpp build_qkv's views)
            t = get(p + "attn_qkv.weight", (c.n_embd, n_q + 2 * n_kv))
            matmul_type(t)
            rows = t.data.reshape(n_q + 2 * n_kv, -1)
            fb = f32(p + "attn_qkv.bias", (n_q + 2 * n_kv,), required=False)
            for part, lo, hi in (("q", 0, n_q), ("k", n_q, n_q + n_kv), ("v", n_q + n_kv, n_q + 2 * n_kv)):
                put(f"{p}attn_{part}.weight", rows[lo:hi], t.type, c.n_embd, hi - lo)
                if fb is not None:
                    put(f"{p}attn_{part}.bias", fb.data.view(np.float32).reshape(-1)[lo:hi].view(np.uint8), GGMLType.F32, hi - lo)
                else:
                    bias(f"{p}attn_{part}.bias", hi - lo)
        else:
            weight(p + "attn_q.weight", (c.n_embd, n_q))
            weight(p + "attn_k.weight", (c.n_embd, n_kv))
            weight(p + "attn_v.weight", (c.n_embd, n_kv))
            bias(p + "attn_q.bias", n_q)
            bias(p + "attn_k.bias", n_kv)
            bias(p + "attn_v.bias", n_kv)
        weight(p + "attn_output.weight", (n_q, c.n_embd))
        bias(p + "attn_output.bias", c.n_embd)
        weight(p + "ffn_gate.weight", (c.n_embd, c.n_ff))
        weight(p + "ffn_up.weight", (c.n_embd, c.n_ff))
        weight(p + "ffn_down.weight", (c.n_ff, c.n_embd))
        bias(p + "ffn_gate.bias", c.n_ff)
        bias(p + "ffn_up.bias", c.n_ff)
        bias(p + "ffn_down.bias", c.n_embd)
    return out
