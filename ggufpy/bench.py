"""``ggufpy bench``: prompt-processing and generation speed, measured as llama.cpp's ``llama-bench`` does.

llama-bench 0c1e570 (tools/llama-bench/llama-bench.cpp), per test and repetition, from an empty cache:

* ``ppN``: N random tokens evaluated as one batch (ubatch 512), the logits of the last one kept;
* ``tgN``: N tokens evaluated one at a time;
* one untimed warm-up run of the same test before the repetitions;
* tokens/s per repetition = N / seconds; the table shows their mean ± sample standard deviation.

The table layout is llama-bench's markdown one (model, size, params, backend, threads, test, t/s), so the
two outputs sit side by side.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .format.constants import GGMLType
from .runtime.model import Model


@dataclass
class BenchRow:
    model: str
    size_bytes: int  # bytes of all tensors, as llama-bench's "size"
    n_params: int
    backend: str
    threads: int
    test: str  # "pp512", "tg128"
    n_prompt: int
    n_gen: int
    samples_ts: list[float] = field(default_factory=list)

    @property
    def avg_ts(self) -> float:
        return float(np.mean(self.samples_ts))

    @property
    def stddev_ts(self) -> float:
        return float(np.std(self.samples_ts, ddof=1)) if len(self.samples_ts) > 1 else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "avg_ts": self.avg_ts, "stddev_ts": self.stddev_ts}


def model_description(model: Model) -> str:
    """llama-bench's "model" column: architecture, size class and file type, e.g. ``llama 135M Q4_1``."""
    c = model.config
    ftype = model.reader.metadata.get("general.file_type")
    names = {0: "all F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K - Medium",
             11: "Q3_K - Small", 12: "Q3_K - Medium", 13: "Q3_K - Large", 14: "Q4_K - Small", 15: "Q4_K - Medium",
             16: "Q5_K - Small", 17: "Q5_K - Medium", 18: "Q6_K", 32: "BF16", 36: "TQ1_0 - 1.69 bpw ternary",
             37: "TQ2_0 - 2.06 bpw ternary"}
    kind = names.get(int(ftype), f"ftype {ftype}") if ftype is not None else _dominant_type(model)
    return f"{c.arch} {_size_class(n_params(model))} {kind}"


def _dominant_type(model: Model) -> str:
    counts: dict[str, int] = {}
    for t in model.reader.tensors:
        name = GGMLType(t.type).name if t.type in GGMLType._value2member_map_ else f"type {t.type}"
        counts[name] = counts.get(name, 0) + t.n_elements
    return max(counts, key=counts.get)


def _size_class(n: int) -> str:
    return f"{n / 1e9:.0f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def n_params(model: Model) -> int:
    return sum(t.n_elements for t in model.reader.tensors)


def _time_pp(model: Model, tokens: np.ndarray) -> float:
    model.reset()
    t0 = time.perf_counter()
    model.eval(tokens, 0, all_logits=False)
    return time.perf_counter() - t0


def _time_tg(model: Model, tokens: np.ndarray) -> float:
    model.reset()
    t0 = time.perf_counter()
    for i in range(len(tokens)):
        model.eval(tokens[i:i + 1], i, all_logits=False)
    return time.perf_counter() - t0


def bench(path: str | os.PathLike, n_prompt: int = 512, n_gen: int = 128, threads: tuple[int, ...] = (1,),
          repetitions: int = 5, isa: str | None = None, progress=None) -> list[BenchRow]:
    """One row per (threads, test) as llama-bench makes them; ``n_prompt`` or ``n_gen`` 0 skips that test.

    ``progress(row, repetition)`` is called after each timed repetition.
    """
    path = Path(path)
    rows: list[BenchRow] = []
    for t in threads:
        with Model.load(path, threads=t, n_ctx=max(n_prompt + n_gen, 16), isa=isa) as model:
            rng = np.random.default_rng(0)
            toks = rng.integers(0, model.config.n_vocab, max(n_prompt, n_gen, 1)).astype(np.int32)
            size = sum(tt.n_bytes for tt in model.reader.tensors)
            desc = model_description(model)
            for n, kind, timer in ((n_prompt, "pp", _time_pp), (n_gen, "tg", _time_tg)):
                if n <= 0:
                    continue
                row = BenchRow(desc, size, n_params(model), f"ggufpy {model.isa}", t, f"{kind}{n}",
                               n if kind == "pp" else 0, n if kind == "tg" else 0)
                timer(model, toks[:n])  # warm-up, as llama-bench
                for r in range(repetitions):
                    row.samples_ts.append(n / timer(model, toks[:n]))
                    if progress is not None:
                        progress(row, r)
                rows.append(row)
    return rows


def format_table(rows: list[BenchRow]) -> str:
    """llama-bench's markdown table."""
    head = ["model", "size", "params", "backend", "threads", "test", "t/s"]
    body = [[r.model, f"{r.size_bytes / 2**20:.2f} MiB", _params(r.n_params), r.backend, str(r.threads), r.test,
             f"{r.avg_ts:.2f} ± {r.stddev_ts:.2f}"] for r in rows]
    width = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    right = {2, 4, 5, 6}

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, width))) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w for i, w in enumerate(width)) + " |"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def _params(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"

