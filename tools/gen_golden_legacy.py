"""Write the golden blocks of the legacy, ternary and other types from gguf-py (llama.cpp's package).

    python tools/gen_golden_legacy.py                 # tests/golden/q_blocks/*.npz + README section
    python tools/gen_golden_legacy.py --print-grids   # the _IQ_GRIDS literal of ggufpy/quants/other.py

Run from the repository root with ``gguf`` 0.19.0 installed (``pip install gguf==0.19.0``). One file per
type, named like ggml's block structs (``q4_0.npz`` ...), next to the K-quant files of
tools/gen_golden_kquants.py and with the same keys:

  x      (n, block_size) float32 inputs          (types gguf-py can quantize)
  q      gguf.quants.quantize(x) bytes, (n, type_size) uint8
  y      gguf.quants.dequantize(q) float32
  raw    (m, type_size) uint8 of random bytes (f16 scales may be inf / NaN)
  raw_y  gguf.quants.dequantize(raw) float32
  case   (n,) names of the input case of each row of x

Zip entries carry fixed timestamps, so a rerun with the same gguf / numpy reproduces the bytes.
tests/quants/test_golden_legacy.py checks ggufpy's numpy reference against these files without gguf.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ggufpy from this checkout (for fetch)
OUT_DIR = ROOT / "tests" / "golden" / "q_blocks"
README = ROOT / "tests" / "golden" / "README.md"
BEGIN = "<!-- legacy:begin (written by tools/gen_golden_legacy.py) -->"
END = "<!-- legacy:end -->"
SEED = 20260612

QUANTIZABLE = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "TQ1_0", "TQ2_0", "MXFP4"]
DEQUANT_ONLY = ["IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]
GRID_TYPES = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S"]


def file_name(name: str) -> str:
    """ggml's struct spelling: Q4_0 -> q4_0.npz (as q4_K.npz of the K-quant files)."""
    return name.lower() + ".npz"


def tie_blocks(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks whose scaled values land exactly on .5 (same construction as tests/quants/test_legacy.py)."""
    pow2 = np.exp2(rng.integers(-8, 8, (n, 1)))
    if name == "Q8_0":
        x = rng.integers(-127, 127, (n, 32)) + 0.5
        x[:, 0] = 127.0
    elif name in ("Q4_0", "Q5_0"):
        half = 8 if name == "Q4_0" else 16
        x = rng.integers(-half, half, (n, 32)) + 0.5
        x[:, 0] = -half
    elif name in ("Q4_1", "Q5_1"):
        top = 15 if name == "Q4_1" else 31
        x = rng.integers(0, top, (n, 32)) + 0.5
        x[:, 0], x[:, 1] = 0.0, top
    elif name in ("TQ1_0", "TQ2_0"):
        x = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], (n, 256))
        x[:, 0] = 1.0
    else:  # MXFP4: amax = 3.5 -> d = 0.5; midpoints between code values
        mid = np.array([0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0, 0.0])
        x = rng.choice(np.concatenate([mid, -mid]), (n, 32)) * 0.5
        x[:, 0] = 7.0
    return x * pow2


def inputs(name: str, block_size: int, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, case): a few blocks of each corner case, then real SmolLM2 weights."""
    rng = np.random.default_rng(SEED)
    n = 8 if block_size == 32 else 2
    shape = (n, block_size)
    normal = rng.standard_normal(shape)
    outliers = 0.02 * normal
    outliers[np.arange(n), rng.integers(0, block_size, n)] = 50.0 * rng.choice([-1.0, 1.0], n)
    equal_abs_max = normal.copy()
    equal_abs_max[:, 3], equal_abs_max[:, 7] = 4.0, -4.0
    cases = {
        "normal": normal,
        "uniform": rng.uniform(-1.0, 1.0, shape),
        "student_t": rng.standard_t(2.0, shape),
        "outliers": outliers,
        "equal_abs_max": equal_abs_max,
        "zero": np.zeros(shape),
        "signed_zeros": np.where(rng.random(shape) < 0.5, -0.0, 0.0),
        "constant": np.repeat(rng.choice([1.0, -3.5, 0.1, 65504.0], n), block_size).reshape(shape),
        "tiny": 1e-30 * rng.standard_normal(shape),
        "huge": 1e30 * rng.standard_normal(shape),
        "wide_range": rng.standard_normal(shape) * np.exp2(rng.integers(-20, 20, (n, 1))),
        "ties": tie_blocks(name, n, rng),
        "real_smollm2": real.reshape(-1, block_size)[: 2 * n],
    }
    x = np.concatenate([np.asarray(v, dtype=np.float32) for v in cases.values()])
    case = np.concatenate([[k] * len(v) for k, v in cases.items()]).astype("<U16")
    return x, case


def real_rows(gguf) -> np.ndarray:
    """Rows 0..3 of SmolLM2-135M-Instruct Q4_1 blk.0.attn_q.weight, dequantized by gguf-py."""
    from ggufpy.fetch import fetch

    path = fetch("smollm2-135m-instruct-q4_1", progress=False)
    t = next(t for t in gguf.GGUFReader(path).tensors if t.name == "blk.0.attn_q.weight")
    raw = np.ascontiguousarray(t.data[:4])
    return gguf.quants.dequantize(raw, t.tensor_type).astype(np.float32).reshape(-1)  # 2304 weights = 9 blocks of 256


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed with fixed zip timestamps (reproducible sha256)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)


def generate(gguf) -> dict[str, str]:
    from gguf.constants import GGML_QUANT_SIZES

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    real = real_rows(gguf)
    hashes = {}
    for name in QUANTIZABLE + DEQUANT_ONLY:
        qtype = gguf.GGMLQuantizationType[name]
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        arrays: dict[str, np.ndarray] = {}
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if name in QUANTIZABLE:
                x, case = inputs(name, block_size, real)
                q = gguf.quants.quantize(x, qtype)
                arrays.update(x=x, q=q, y=gguf.quants.dequantize(q, qtype), case=case)
            n_raw = 64 if block_size == 32 else 16
            raw = np.random.default_rng(SEED + 1).integers(0, 256, (n_raw, type_size), dtype=np.uint8)
            arrays.update(raw=raw, raw_y=gguf.quants.dequantize(raw, qtype))
        path = OUT_DIR / file_name(name)
        write_npz(path, arrays)
        hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes", file=sys.stderr)
    return hashes


def readme_section(gguf_version: str, hashes: dict[str, str]) -> str:
    rows = "\n".join(f"| `q_blocks/{file_name(n)}` | `{h}` |" for n, h in hashes.items())
    return f"""{BEGIN}
## q_blocks/{{q4_0,q4_1,q5_0,q5_1,q8_0,tq1_0,tq2_0,mxfp4,iq*}}.npz: legacy, ternary, MXFP4 and i-quant blocks from gguf-py

Made by `python tools/gen_golden_legacy.py` (run from the repository root, gguf installed; it also
fetches SmolLM2 through `ggufpy.fetch`).

* Peer: gguf-py (llama.cpp's `gguf` package) {gguf_version}, numpy {np.__version__}; `gguf.quants.quantize` / `gguf.quants.dequantize`.
  gguf-py 0.19.0 rounds Q4_0/Q5_0 like ggml's C reference built without FMA contraction.
* Keys (as the K-quant files): `x` float32 inputs, `q` = quantize(x), `y` = dequantize(q), `case` = input
  case per row; `raw` random bytes (seed {SEED + 1}) and `raw_y` = dequantize(raw), NaN/inf included.
  IQ4_NL, IQ4_XS, IQ2_*, IQ3_*, IQ1_* have no quantizer in gguf-py: `raw` / `raw_y` only.
* Inputs (`inputs()` in the tool, seed {SEED}; 8 blocks per case for 32-blocks, 2 for 256-blocks): normal,
  uniform, student-t(2), outliers, equal |max| of both signs, all-zero, signed zeros, constant, tiny (1e-30),
  huge (1e30, f16 overflow), wide range, exact .5 ties after scaling, and real weights (rows 0-3 of
  SmolLM2-135M-Instruct Q4_1 `blk.0.attn_q.weight`, dequantized by gguf-py).
* Zip entries carry fixed timestamps, so a rerun reproduces these bytes.

| file | sha256 |
|---|---|
{rows}
{END}"""


def update_readme(section: str) -> None:
    """Replace our marked section of the README, or append it; other sections are left as they are."""
    text = README.read_text() if README.exists() else "# Golden files\n"  # re-read right before writing
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text)


def print_grids(gguf) -> None:
    """The ``_IQ_GRIDS`` literal: per grid, base85(zlib(bitmap of its sorted base-L keys))."""
    import zlib

    for name in GRID_TYPES:
        cls = getattr(gguf.quants, name)
        cls.init_grid()
        grid = cls.grid.reshape(cls.grid_shape)
        levels = np.array(cls.grid_map, dtype=np.float32)
        digits = np.searchsorted(levels, grid)
        assert (levels[digits] == grid).all()
        n_levels, width = len(levels), grid.shape[1]
        keys = (digits * n_levels ** np.arange(width)).sum(axis=1)
        assert (np.diff(keys) > 0).all(), f"{name}: grid is not sorted by its base-{n_levels} key"
        bitmap = np.zeros(n_levels**width, dtype=bool)
        bitmap[keys] = True
        text = base64.b85encode(zlib.compress(np.packbits(bitmap, bitorder="little").tobytes(), 9)).decode()
        print(f'    "{name}": (')  # base85 has no quotes or backslashes
        for line in textwrap.wrap(text, 96, break_on_hyphens=False):
            print(f'        "{line}"')
        print("    ),")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print-grids", action="store_true", help="print the IQ grid literal and exit")
    parser.add_argument("--no-readme", action="store_true", help="write the .npz files only")
    args = parser.parse_args(argv)
    import gguf
    from importlib.metadata import version

    if args.print_grids:
        print_grids(gguf)
        return 0
    hashes = generate(gguf)
    if not args.no_readme:
        update_readme(readme_section(version("gguf"), hashes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
