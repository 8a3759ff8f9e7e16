"""ggufpy vs llama.cpp's llama-bench on the same files and threads, in one run, with the ratio per row.

    python tools/build_llamacpp.py        # once: llama.cpp 0c1e570 from the llama-cpp-python 0.3.36 sdist
    python tools/make_bench_model.py      # once: the TinyLlama-1.1B-shaped models
    python tools/bench_vs_llamacpp.py [--set smollm2,tinyllama] [-t 1,2] [-p 512] [-n 128] [-r 3] [--json F]

Rows: SmolLM2-135M-Instruct in Q4_0, Q8_0, Q4_1, F16, Q4_K_M (the fetched Q4_1 file and ``ggufpy quantize``
conversions of it, cached in ~/.cache/ggufpy/bench-models) and the TinyLlama-shaped model in Q4_0, Q8_0,
Q4_K_M, Q6_K, TQ2_0; NF4 (ggufpy-only, so no llama.cpp column) is compared with ggufpy's own Q4_0.

Method: for each file and thread count, ``-r`` rounds; each round runs llama-bench (``-r 1``, its own
warm-up) and then ggufpy's ``bench`` (1 repetition after a warm-up) on the same test, so both see the
same machine load. Each column is the mean ± stddev of the rounds; ratio = ggufpy mean / llama.cpp mean.

Memory bandwidth: ``read_bandwidth`` OR-reduces a 1 GiB uint64 array in ``threads`` slices (numpy, GIL
released; the fastest of the numpy reductions tried here: sum f32 25.9, max u64 29.6, or u64 32.1 GB/s on one
thread; 75-86 GB/s from L3, so it measures the memory, not numpy), best of 5 at the start and, because this
machine's bandwidth drifts by a third within minutes, again (best of 3) before and after each row's rounds;
the generation bound is the best of the row's own measurements / bytes read per token (every tensor but
token_embd, of which one row is read, unless it is also the output) and the table gives tg as a fraction of it.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from build_llamacpp import LLAMA_CPP_COMMIT, llamacpp_bin  # noqa: E402

from ggufpy import GGUFReader  # noqa: E402
from ggufpy.bench import bench  # noqa: E402
from ggufpy.fetch import cache_dir, fetch  # noqa: E402
from ggufpy.quantize import quantize_file  # noqa: E402

BENCH_DIR = cache_dir() / "bench-models"
SMOL_TYPES = ["q4_0", "q8_0", "q4_1", "f16", "q4_k_m"]
TINY_TYPES = ["q4_0", "q8_0", "q4_k_m", "q6_k", "tq2_0"]


def smollm2_file(t: str) -> Path:
    src = fetch("smollm2-135m-instruct-q4_1")
    if t == "q4_1":
        return src
    dst = BENCH_DIR / f"smollm2-135m-{t}.gguf"
    if not dst.exists():
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        quantize_file(src, dst, t, progress=False)
    return dst


def tinyllama_file(t: str) -> Path:
    p = BENCH_DIR / f"tinyllama-shape-{t}.gguf"
    if not p.exists():
        raise SystemExit(f"{p} is missing: run python tools/make_bench_model.py --types {t}")
    return p


def llama_bench_round(path: Path, threads: int, n_prompt: int, n_gen: int) -> dict[str, float]:
    out = subprocess.run([str(llamacpp_bin("llama-bench")), "-m", str(path), "-t", str(threads), "-p", str(n_prompt),
                          "-n", str(n_gen), "-r", "1", "-o", "json"], capture_output=True, text=True, check=True).stdout
    return {("pp" if r["n_gen"] == 0 else "tg"): r["avg_ts"] for r in json.loads(out)}


def ggufpy_round(path: Path, threads: int, n_prompt: int, n_gen: int, isa: str | None = None) -> dict[str, float]:
    rows = bench(path, n_prompt, n_gen, (threads,), repetitions=1, isa=isa)
    return {r.test[:2]: r.avg_ts for r in rows}


def read_bandwidth(threads: int, n_bytes: int = 1 << 30, repeats: int = 5) -> float:
    """Bytes/s of OR-reducing an n_bytes uint64 array in ``threads`` slices at once (best of ``repeats``)."""
    a = np.ones(n_bytes // 8, dtype=np.uint64)
    parts = np.array_split(a, threads)
    best = 0.0
    for _ in range(repeats):
        ts = [threading.Thread(target=np.bitwise_or.reduce, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        best = max(best, n_bytes / (time.perf_counter() - t0))
    return best


def bytes_per_token(path: Path) -> int:
    """Weight bytes one generated token reads: every matrix, one row of token_embd (the lookup), or all of
    it when there is no output.weight (tied embeddings: token_embd is also the output matrix)."""
    with GGUFReader(path) as r:
        tied = all(t.name != "output.weight" for t in r.tensors)
        total = 0
        for t in r.tensors:
            total += t.n_bytes // t.ne[1] if t.name == "token_embd.weight" and not tied else t.n_bytes
    return total


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    keep = [f for f in flags if f.startswith(("avx", "fma", "f16c", "amx", "sse4"))]
    return f"{model}; {' '.join(keep)}"


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="smollm2,tinyllama", help="row sets: smollm2, tinyllama")
    ap.add_argument("--types", help="only these types (comma-separated)")
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("--isa", help="force ggufpy's kernel table (e.g. avx2, generic) to report the paths of CPUs "
                    "without AVX-512; llama.cpp keeps its native build")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    args = ap.parse_args()
    threads = [int(x) for x in args.threads.split(",")]
    only = set(args.types.split(",")) if args.types else None
    files: list[tuple[str, str]] = []  # (set, type)
    sets = args.set.split(",")
    if "smollm2" in sets:
        files += [("SmolLM2-135M", t) for t in SMOL_TYPES if not only or t in only]
    if "tinyllama" in sets:
        files += [("TinyLlama-1.1B-shape", t) for t in TINY_TYPES + ["nf4"] if not only or t in only]

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"ggufpy {commit}{' (isa ' + args.isa + ')' if args.isa else ''} vs llama.cpp {LLAMA_CPP_COMMIT}; "
          f"CPU: {cpu_flags()}")
    bw = {t: read_bandwidth(t) for t in threads}
    print("read bandwidth: " + ", ".join(f"{t} thread(s) {b / 1e9:.1f} GB/s" for t, b in bw.items()))
    print("| model | type | threads | test | llama.cpp t/s | ggufpy t/s | ratio | tg / bandwidth bound |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    rows = []
    for set_name, t in files:
        path = smollm2_file(t) if set_name.startswith("SmolLM2") else tinyllama_file(t)
        ggufpy_only = t == "nf4"
        for th in threads:
            row_bw = [read_bandwidth(th, repeats=3)]
            theirs: dict[str, list[float]] = {"pp": [], "tg": []}
            ours: dict[str, list[float]] = {"pp": [], "tg": []}
            ref = tinyllama_file("q4_0") if ggufpy_only else path
            for _ in range(args.rounds):
                for k, v in (ggufpy_round(ref, th, args.n_prompt, args.n_gen, args.isa) if ggufpy_only else
                             llama_bench_round(path, th, args.n_prompt, args.n_gen)).items():
                    theirs[k].append(v)
                for k, v in ggufpy_round(path, th, args.n_prompt, args.n_gen, args.isa).items():
                    ours[k].append(v)
            row_bw.append(read_bandwidth(th, repeats=3))
            bound_tps = max(row_bw) / bytes_per_token(path)
            for k, n in (("pp", args.n_prompt), ("tg", args.n_gen)):
                if n <= 0:  # -p 0 / -n 0: that test is not run
                    continue
                (a, sa), (b, sb) = _mean_std(ours[k]), _mean_std(theirs[k])
                eff = f"{a / bound_tps:.0%} ({max(row_bw) / 1e9:.1f} GB/s)" if k == "tg" else ""
                peer = "ggufpy q4_0" if ggufpy_only else "llama.cpp"
                print(f"| {set_name} | {t} | {th} | {k}{n} | {b:.2f} ± {sb:.2f}{' (' + peer + ')' if ggufpy_only else ''} "
                      f"| {a:.2f} ± {sa:.2f} | {a / b:.2f} | {eff} |", flush=True)
                rows.append({"model": set_name, "type": t, "threads": th, "test": f"{k}{n}", "peer": peer,
                             "peer_ts": theirs[k], "ggufpy_ts": ours[k], "ratio": a / b,
                             "bandwidth_bound_ts": bound_tps if k == "tg" else None,
                             "row_read_bandwidth": row_bw})
    if args.json:
        args.json.write_text(json.dumps({"commit": commit, "llama_cpp": LLAMA_CPP_COMMIT, "cpu": cpu_flags(),
                                         "read_bandwidth": bw, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
