"""Time to open a GGUF and list its tensors: ggufpy vs llama.cpp's gguf package, in one run.

    python tools/bench_open.py [model.gguf] [-r 5]

Prints the best-of-r wall time of each and the ratio (gguf-py / ggufpy).
"""

from __future__ import annotations

import argparse
import time


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    import gguf

    import ggufpy
    from ggufpy.fetch import DEFAULT_MODEL, fetch

    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?")
    p.add_argument("-r", "--repeat", type=int, default=5)
    args = p.parse_args()
    path = args.model or str(fetch(DEFAULT_MODEL))

    ours = best_of(lambda: [t.name for t in ggufpy.GGUFReader(path).tensors], args.repeat)
    peer = best_of(lambda: [t.name for t in gguf.GGUFReader(path).tensors], args.repeat)
    print(f"{path}\n  ggufpy.GGUFReader  {ours * 1e3:9.1f} ms\n  gguf.GGUFReader    {peer * 1e3:9.1f} ms\n"
          f"  ratio              {peer / ours:9.1f}x faster (best of {args.repeat})")


if __name__ == "__main__":
    main()
