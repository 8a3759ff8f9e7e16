"""``ggufpy quant-report``: per-tensor quantization error of a model.

Two modes:
  * ``--against SOURCE``: compare each tensor of MODEL with the same-named tensor of SOURCE (e.g. a
    q4_k_m file against the f16/f32 file it came from);
  * ``--type T``: quantize MODEL's tensors in memory with the llama-quantize mix for T and measure
    (nothing is written).
Per tensor: MSE, max |error|, SNR in dB, bits per weight and, for linear types, the theoretical
uniform-noise variance s**2/12 beside the measured one.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .errors import GGUFError
from .format.reader import GGUFReader
from .quants import dequantize
from .quants.error import bits_per_weight, compare, error_stats


def _rows(t) -> np.ndarray:
    return dequantize(t.data, t.type).reshape(-1, t.ne[0] if t.ne else 1)


def report_against(model: GGUFReader, source: GGUFReader) -> list[dict[str, Any]]:
    rows = []
    for t in model.tensors:
        try:
            s = source.get_tensor(t.name)
        except KeyError:
            raise GGUFError(f"tensor {t.name!r} of {model.path} is not in {source.path}") from None
        if s.ne != t.ne:
            raise GGUFError(f"tensor {t.name!r}: shape {list(t.ne)} in {model.path} vs {list(s.ne)} in {source.path}")
        row = {"name": t.name, "type": t.type.name, "bits_per_weight": bits_per_weight(t.type),
               **compare(_rows(s), _rows(t))}
        rows.append(row)
    return rows


def report_type(model: GGUFReader, target: str) -> list[dict[str, Any]]:
    from .quantize import model_info
    from .quants import mix

    descs = [mix.TensorDesc(t.name, t.ne, t.type) for t in model.tensors]
    choices = {c.name: c for c in mix.plan(descs, target, model_info(model))}
    rows = []
    for t in model.tensors:
        new_type = choices[t.name].type
        if new_type == t.type:
            stats = {"n": t.n_elements, "mse": 0.0, "rmse": 0.0, "max_abs_err": 0.0, "snr_db": float("inf")}
            rows.append({"name": t.name, "type": t.type.name, "bits_per_weight": bits_per_weight(t.type),
                         "kept": True, **stats})
            continue
        stats = error_stats(_rows(t), new_type)
        stats["name"], stats["type"] = t.name, stats.pop("type")
        rows.append(stats)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(r["n"] for r in rows)
    sq = sum(r["mse"] * r["n"] for r in rows)
    bits = sum(r["bits_per_weight"] * r["n"] for r in rows)
    return {"n": n, "mse": sq / n if n else 0.0, "bits_per_weight": bits / n if n else 0.0,
            "max_abs_err": max((r["max_abs_err"] for r in rows), default=0.0),
            "min_snr_db": min((r["snr_db"] for r in rows), default=float("inf"))}


def format_report(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'tensor':<34} {'type':<7} {'bpw':>6} {'MSE':>11} {'max|err|':>10} {'SNR dB':>7} {'s²/12':>11}"]
    for r in rows:
        theo = f"{r['theoretical_var']:.3e}" if "theoretical_var" in r else ("kept" if r.get("kept") else "-")
        lines.append(f"{r['name']:<34} {r['type']:<7} {r['bits_per_weight']:>6.3f} {r['mse']:>11.3e} "
                     f"{r['max_abs_err']:>10.4f} {r['snr_db']:>7.2f} {theo:>11}")
    s = summarize(rows)
    lines.append(f"{'total':<34} {'':<7} {s['bits_per_weight']:>6.3f} {s['mse']:>11.3e} {s['max_abs_err']:>10.4f} "
                 f"{s['min_snr_db']:>7.2f} (min SNR)")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str, title: str = "") -> None:
    """SNR per layer, one line per tensor kind, as a PNG (needs matplotlib: pip install ggufpy[plot])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GGUFError("--plot needs matplotlib: pip install 'ggufpy[plot]'") from None
    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        m = re.match(r"blk\.(\d+)\.(.+)\.weight$", r["name"])
        if m and np.isfinite(r["snr_db"]):
            series.setdefault(m.group(2), []).append((int(m.group(1)), r["snr_db"]))
    fig, ax = plt.subplots(figsize=(9, 5))
    for kind, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=kind)
    ax.set_xlabel("layer")
    ax.set_ylabel("SNR (dB)")
    ax.set_title(title or "quantization SNR per layer")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
