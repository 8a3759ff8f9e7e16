"""KL divergence against saved base log-probabilities, in llama.cpp's ``--kl-divergence-base`` file format.

llama.cpp 0c1e570 ``tools/perplexity/perplexity.cpp``: ``llama-perplexity --kl-divergence-base F`` (without
``--kl-divergence``) runs the normal perplexity and saves the scored log-probabilities to F;
``--kl-divergence-base F --kl-divergence`` evaluates F's tokens with another model and compares. Both
sides here read and write the same bytes, so a base saved by either program serves the other.

File layout (native little-endian, no padding)::

    char[8]  "_logits_"
    int32    n_ctx
    int32    n_vocab
    int32    n_chunk
    int32    tokens[n_chunk * n_ctx]          the evaluated stream (BOS not substituted)
    then per chunk, n_ctx - 1 - n_ctx/2 rows (the scored positions first .. n_ctx-2), each
    uint16   row[nv], nv = 2 * ((n_vocab + 1) / 2) + 4:
             row[0:2] float32 scale, row[2:4] float32 min_log_prob, row[4:4+n_vocab] q,
             log p_i = scale * q_i + min_log_prob (q = 0 for log-probs below max - 16), then padding.

Float semantics follow ``log_softmax``/``nearest_int`` of perplexity.cpp: max, min and exp in float32, the
exp sum and its log in double, the log rounded to float; the KL sum per token in double.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GGUFError

MAGIC = b"_logits_"
HEADER_BYTES = 8 + 3 * 4
LOG_PROB_FLOOR = 16.0  # log-probs more than this below the max are stored as the minimum


class KLDFileError(GGUFError, ValueError):
    """A --kl-divergence-base file that is not one, or does not fit the model or its own size."""


def row_width(n_vocab: int) -> int:
    """uint16 values per saved row (perplexity.cpp ``nv``)."""
    return 2 * ((n_vocab + 1) // 2) + 4


def _softmax_parts(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: max logit (float32) and log(sum expf(l - max)) rounded to float32."""
    mx = logits.max(axis=1)
    sum_exp = np.exp(logits - mx[:, None]).astype(np.float64).sum(axis=1)
    return mx, np.log(sum_exp).astype(np.float32)


def encode_log_probs(logits: np.ndarray) -> np.ndarray:
    """Rows of ``logits`` (n, n_vocab) float32 -> the saved uint16 rows (n, nv) of perplexity.cpp."""
    logits = np.asarray(logits, dtype=np.float32)
    n, n_vocab = logits.shape
    mx, lse = _softmax_parts(logits)
    mn = np.maximum(logits.min(axis=1), mx - np.float32(LOG_PROB_FLOOR))
    min_log_prob = (mn - mx) - lse
    scale = (mx - mn) / np.float32(65535.0)
    out = np.zeros((n, row_width(n_vocab)), dtype=np.uint16)
    head = out[:, :4].view(np.float32)  # two float32 per row
    head[:, 0] = scale
    head[:, 1] = min_log_prob
    nz = scale != 0
    with np.errstate(divide="ignore"):
        inv = np.where(nz, np.float32(1.0) / np.where(nz, scale, np.float32(1.0)), np.float32(0.0))
    q = np.rint(inv[:, None] * (logits - mn[:, None]))  # nearest_int: round half to even, float32 product
    q = np.where((logits > mn[:, None]) & nz[:, None], q, 0)
    out[:, 4:4 + n_vocab] = q.astype(np.uint16)
    return out


@dataclass
class LogitsBase:
    """An opened base file: header values, the token stream and the saved rows (memory-mapped)."""

    path: Path
    n_ctx: int
    n_vocab: int
    n_chunk: int
    tokens: np.ndarray  # int32 (n_chunk * n_ctx,)
    rows: np.ndarray  # uint16 (n_chunk, n_ctx - 1 - n_ctx // 2, nv)

    @property
    def n_scored(self) -> int:
        return self.n_ctx - 1 - self.n_ctx // 2


def read_logits_base(path: str | os.PathLike) -> LogitsBase:
    """Open and check a base file: magic, positive sizes, and the exact byte length they imply."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or head[:8] != MAGIC:
        raise KLDFileError(f"{path}: not a --kl-divergence-base file (expected '_logits_' and 3 int32 at offset 0)")
    n_ctx, n_vocab, n_chunk = (int(v) for v in np.frombuffer(head, "<i4", 3, 8))
    if n_ctx < 2 or n_vocab < 1 or n_chunk < 1:
        raise KLDFileError(f"{path}: bad header n_ctx={n_ctx} n_vocab={n_vocab} n_chunk={n_chunk}")
    n_tok = n_ctx * n_chunk
    n_scored = n_ctx - 1 - n_ctx // 2
    nv = row_width(n_vocab)
    expected = HEADER_BYTES + 4 * n_tok + 2 * n_chunk * n_scored * nv
    if size != expected:
        raise KLDFileError(f"{path}: {size} bytes, but n_ctx={n_ctx} n_vocab={n_vocab} n_chunk={n_chunk} "
                           f"need {expected} (truncated or not a base file)")
    tokens = np.memmap(path, dtype="<i4", mode="r", offset=HEADER_BYTES, shape=(n_tok,))
    rows = np.memmap(path, dtype="<u2", mode="r", offset=HEADER_BYTES + 4 * n_tok, shape=(n_chunk, n_scored, nv))
    return LogitsBase(path, n_ctx, n_vocab, n_chunk, tokens, rows)


class LogitsBaseWriter:
    """Writes a base file as perplexity runs: a temporary file beside ``path``, renamed on ``close()``.

    Use as a context manager; an exception inside the block removes the temporary file.
    """

    def __init__(self, path: str | os.PathLike, n_ctx: int, n_vocab: int, n_chunk: int, tokens: Sequence[int]):
        self.path = Path(path)
        self._n_vocab = n_vocab
        self._chunks_left = n_chunk
        fd, self._tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent or ".")
        self._f = os.fdopen(fd, "wb")
        self._f.write(MAGIC)
        self._f.write(np.array([n_ctx, n_vocab, n_chunk], "<i4").tobytes())
        self._f.write(np.asarray(tokens[:n_ctx * n_chunk], dtype="<i4").tobytes())

    def add_chunk(self, scored_logits: np.ndarray, _targets: np.ndarray | None = None) -> None:
        """The logits of one chunk's scored positions (n_ctx - 1 - n_ctx/2 rows)."""
        if scored_logits.shape[1] != self._n_vocab:
            raise ValueError(f"logits have {scored_logits.shape[1]} columns, the file says n_vocab={self._n_vocab}")
        self._f.write(encode_log_probs(scored_logits).astype("<u2").tobytes())
        self._chunks_left -= 1

    def close(self) -> None:
        self._f.close()
        if self._chunks_left != 0:
            raise ValueError(f"{self._chunks_left} chunks were not written")
        os.replace(self._tmp, self.path)

    def __enter__(self) -> LogitsBaseWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._f.close()
            os.unlink(self._tmp)


# ---- KL divergence ---------------------------------------------------------------------------------------------

@dataclass
class KLDResult:
    """llama.cpp's KL-divergence report. Per-token arrays are in evaluation order."""

    count: int
    sums: dict = field(default_factory=dict)  # the running sums of perplexity.cpp's kl_divergence_result
    kld: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per-token KL(base || model), nats
    p_diff: np.ndarray = field(default_factory=lambda: np.zeros(0))  # p(model) - p(base) of the true token
    same_top: int = 0
    chunk_lines: list[str] = field(default_factory=list)

    def _mean_unc(self, s: str, s2: str) -> tuple[float, float]:
        return _mean_and_uncertainty(self.sums[s], self.sums[s2], self.count)

    @property
    def ppl(self) -> tuple[float, float]:
        m, u = self._mean_unc("nll", "nll2")
        return math.exp(m), math.exp(m) * u

    @property
    def ppl_base(self) -> tuple[float, float]:
        m, u = self._mean_unc("nll_base", "nll_base2")
        return math.exp(m), math.exp(m) * u

    @property
    def mean_kld(self) -> tuple[float, float]:
        return self._mean_unc("kld", "kld2")

    @property
    def same_top_p(self) -> float:
        return self.same_top / self.count

    def report(self) -> str:
        """The statistics block llama-perplexity prints at the end (same labels and formats)."""
        s = self.sums
        lp, lp_unc = self._mean_unc("nll", "nll2")
        lb, lb_unc = self._mean_unc("nll_base", "nll_base2")
        ppl, ppl_unc = math.exp(lp), math.exp(lp) * lp_unc
        pb, pb_unc = math.exp(lb), math.exp(lb) * lb_unc
        cov = _covariance(s["nll"], s["nll_base"], s["nll_nll_base"], self.count)
        cor = cov / (lp_unc * lb_unc) if lp_unc * lb_unc else float("nan")
        ratio = lp - lb
        ratio_unc = math.sqrt(max(lp_unc ** 2 + lb_unc ** 2 - 2.0 * cov, 0.0))
        ppl_cov = ppl * pb * cov
        kl, kl_unc = self.mean_kld
        kv = np.sort(self.kld)
        pdv = np.sort(self.p_diff)
        pd, pd_unc = self._mean_unc("p_diff", "p_diff2")
        mse, mse_unc = self._mean_unc("p_diff2", "p_diff4")
        rms = math.sqrt(mse)
        top = self.same_top_p
        out = [
            "====== Perplexity statistics ======",
            f"Mean PPL(Q)                   : {ppl:10.6f} ± {ppl_unc:10.6f}",
            f"Mean PPL(base)                : {pb:10.6f} ± {pb_unc:10.6f}",
            f"Cor(ln(PPL(Q)), ln(PPL(base))): {100.0 * cor:6.2f}%",
            f"Mean ln(PPL(Q)/PPL(base))     : {ratio:10.6f} ± {ratio_unc:10.6f}",
            f"Mean PPL(Q)/PPL(base)         : {math.exp(ratio):10.6f} ± {math.exp(ratio) * ratio_unc:10.6f}",
            f"Mean PPL(Q)-PPL(base)         : {ppl - pb:10.6f} ± "
            f"{math.sqrt(max(ppl_unc ** 2 + pb_unc ** 2 - 2.0 * ppl_cov, 0.0)):10.6f}",
            "",
            "====== KL divergence statistics ======",
            f"Mean    KLD: {kl:10.6f} ± {kl_unc:10.6f}",
            f"Maximum KLD: {kv[-1]:10.6f}",
        ]
        for label, frac in (("99.9%", 0.999), ("99.0%", 0.99), ("95.0%", 0.95), ("90.0%", 0.9)):
            out.append(f"{label}   KLD: {_percentile(kv, frac):10.6f}")
        out.append(f"Median  KLD: {_median(kv):10.6f}")
        for label, frac in (("10.0%", 0.1), (" 5.0%", 0.05), (" 1.0%", 0.01), (" 0.1%", 0.001)):
            out.append(f"{label}   KLD: {_percentile(kv, frac):10.6f}")
        out += [f"Minimum KLD: {kv[0]:10.6f}", "", "====== Token probability statistics ======",
                f"Mean    Δp: {100.0 * pd:6.3f} ± {100.0 * pd_unc:5.3f} %",
                f"Maximum Δp: {100.0 * pdv[-1]:6.3f}%"]
        for label, frac in (("99.9%", 0.999), ("99.0%", 0.99), ("95.0%", 0.95), ("90.0%", 0.9), ("75.0%", 0.75)):
            out.append(f"{label}   Δp: {100.0 * _percentile(pdv, frac):6.3f}%")
        out.append(f"Median  Δp: {100.0 * _median(pdv):6.3f}%")
        for label, frac in (("25.0%", 0.25), ("10.0%", 0.1), (" 5.0%", 0.05), (" 1.0%", 0.01), (" 0.1%", 0.001)):
            out.append(f"{label}   Δp: {100.0 * _percentile(pdv, frac):6.3f}%")
        out += [f"Minimum Δp: {100.0 * pdv[0]:6.3f}%",
                f"RMS Δp    : {100.0 * rms:6.3f} ± {100.0 * 0.5 / rms * mse_unc if rms else 0.0:5.3f} %",
                f"Same top p: {100.0 * top:6.3f} ± "
                f"{100.0 * math.sqrt(top * (1.0 - top) / (self.count - 1)) if self.count > 1 else 0.0:5.3f} %"]
        return "\n".join(out)


def _mean_and_uncertainty(s: float, s2: float, count: int) -> tuple[float, float]:
    if count < 1:
        return 0.0, 0.0
    f = s / count
    df = s2 / count - f * f
    return f, (math.sqrt(df / (count - 1)) if df > 0 and count > 10 else 0.0)


def _covariance(sa: float, sb: float, sab: float, count: int) -> float:
    if count < 10:
        return 0.0
    return (sab / count - (sa / count) * (sb / count)) / (count - 1)


def _percentile(values: np.ndarray, fraction: float) -> float:
    """perplexity.cpp's linear interpolation in float32."""
    p = np.float32(fraction) * np.float32(len(values) - 1)
    ip = int(p)
    p = p - np.float32(ip)
    return float((np.float32(1) - p) * values[ip] + p * values[min(ip + 1, len(values) - 1)])


def _median(values: np.ndarray) -> float:
    n = len(values)
    return float(values[n // 2]) if n % 2 else float(np.float32(0.5) * (values[n // 2] + values[n // 2 - 1]))


_SUM_KEYS = ("nll", "nll2", "nll_base", "nll_base2", "nll_nll_base", "kld", "kld2", "p_diff", "p_diff2", "p_diff4")


def chunk_kld(logits: np.ndarray, rows: np.ndarray, targets: np.ndarray) -> dict:
    """perplexity.cpp's ``log_softmax(..., kl_divergence_result &)`` for each scored row of one chunk.

    Returns the per-token ``kld``, ``p_diff``, ``nll``, ``nll_base`` and ``same_top`` (bool) arrays.
    """
    logits = np.asarray(logits, dtype=np.float32)
    n, n_vocab = logits.shape
    rows = np.asarray(rows)
    head = np.ascontiguousarray(rows[:, :4]).view(np.float32)
    scale, min_lp = head[:, 0], head[:, 1]
    q = rows[:, 4:4 + n_vocab]
    mx, lse = _softmax_parts(logits)
    idx = np.arange(n)
    nll = (mx + lse) - logits[idx, targets]
    nll_base = -(scale * q[idx, targets].astype(np.float32) + min_lp)
    p_log_base = scale[:, None] * q.astype(np.float32) + min_lp[:, None]
    shifted = (mx + lse)[:, None]
    terms = np.exp(p_log_base) * ((p_log_base - logits) + shifted)
    kld = np.where(p_log_base > np.float32(-LOG_PROB_FLOOR), terms, 0).astype(np.float64).sum(axis=1)
    same_top = logits.argmax(axis=1) == p_log_base.argmax(axis=1)
    p_diff = np.exp(-nll) - np.exp(-nll_base)
    return {"kld": kld, "p_diff": p_diff, "nll": nll, "nll_base": nll_base, "same_top": same_top}


def kl_divergence(
    model_logits_fn: Callable[[list[int]], np.ndarray],
    base: LogitsBase,
    n_vocab: int,
    bos_id: int | None = None,
    add_bos: bool = True,
    n_chunks: int | None = None,
    progress: Callable[[int, KLDResult], None] | None = None,
) -> KLDResult:
    """Evaluate ``base``'s chunks with ``model_logits_fn`` (tokens -> (n_ctx, n_vocab) logits from an empty
    cache), BOS substituted for each chunk's first token when ``add_bos``, and compare with the saved rows.

    Raises:
        KLDFileError: the base was saved for another vocabulary size.
    """
    if base.n_vocab != n_vocab:
        raise KLDFileError(f"{base.path}: saved for a vocabulary of {base.n_vocab} tokens, the model has {n_vocab}")
    if add_bos and bos_id is None:
        raise ValueError("add_bos needs bos_id")
    n_ctx, first = base.n_ctx, base.n_ctx // 2
    n_chunk = base.n_chunk if n_chunks is None else min(n_chunks, base.n_chunk)
    sums = dict.fromkeys(_SUM_KEYS, 0.0)
    klds, pdiffs = [], []
    res = KLDResult(count=0, sums=sums)
    for i in range(n_chunk):
        chunk = [int(t) for t in base.tokens[i * n_ctx:(i + 1) * n_ctx]]
        inputs = list(chunk)
        if add_bos:
            inputs[0] = int(bos_id)
        logits = np.asarray(model_logits_fn(inputs), dtype=np.float32)
        c = chunk_kld(logits[first:n_ctx - 1], base.rows[i], np.asarray(chunk[first + 1:n_ctx]))
        nll, nb = c["nll"].astype(np.float64), c["nll_base"].astype(np.float64)
        pd = c["p_diff"].astype(np.float64)
        for key, v in (("nll", nll), ("nll2", nll * nll), ("nll_base", nb), ("nll_base2", nb * nb),
                       ("nll_nll_base", nll * nb), ("kld", c["kld"]), ("kld2", c["kld"] ** 2), ("p_diff", pd),
                       ("p_diff2", pd * pd), ("p_diff4", (pd * pd) ** 2)):
            sums[key] += float(v.sum())
        res.count += len(nll)
        res.same_top += int(c["same_top"].sum())
        klds.append(c["kld"].astype(np.float32))
        pdiffs.append(c["p_diff"].astype(np.float32))
        res.kld, res.p_diff = np.concatenate(klds), np.concatenate(pdiffs)
        if progress is not None:
            progress(i + 1, res)
    return res
