"""Golden NF4 vectors from bitsandbytes itself (CPU), for tests/quants/test_nf4.py.

Run in an environment with torch and bitsandbytes (not a ggufpy dependency):

    python -m venv /tmp/bnbenv
    /tmp/bnbenv/bin/pip install torch==2.13.0 bitsandbytes==0.50.2 numpy
    /tmp/bnbenv/bin/python tools/gen_golden_nf4.py tests/golden/nf4/bnb_nf4.npz

Writes, for a fixed set of inputs: bitsandbytes' packed codes, float32 absmax, dequantized output,
and the double-quantized (compress_statistics=True) state: uint8 absmax indices, nested absmax,
offset, the dynamic map and the dequantized output.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import bitsandbytes
import bitsandbytes.functional as F


def inputs() -> np.ndarray:
    rng = np.random.default_rng(20261123)
    code = F.get_4bit_type("nf4", device="cpu").numpy().astype(np.float32)
    mids = ((code[:-1] + code[1:]) / np.float32(2)).astype(np.float32)
    blocks = [
        rng.standard_normal((64, 64)),                       # normal
        rng.standard_t(2, (32, 64)) * 0.02,                  # heavy tails, weight-like scale
        rng.uniform(-1, 1, (16, 64)),                        # uniform
        np.zeros((2, 64)),                                   # all-zero blocks (absmax 0)
        np.full((2, 64), 0.3),                               # constant blocks
        rng.standard_normal((4, 64)) * 1e-30,                # tiny
    ]
    ties = np.zeros((2, 64))                                 # values exactly on code midpoints, absmax 1
    ties[:, :15] = mids
    ties[:, 15] = 1.0
    ties[:, 16:31] = -mids[::-1]
    blocks.append(ties)
    out = np.concatenate([b.reshape(-1, 64) for b in blocks]).astype(np.float32)
    out[3, 5] = 40.0  # an outlier
    return out.reshape(-1)  # 122 blocks of 64


def main(path: str) -> None:
    x = inputs()
    t = torch.from_numpy(x)
    packed, st = F.quantize_4bit(t, blocksize=64, quant_type="nf4", compress_statistics=False)
    deq = F.dequantize_4bit(packed, st).numpy()
    packed2, st2 = F.quantize_4bit(t, blocksize=64, quant_type="nf4", compress_statistics=True)
    deq2 = F.dequantize_4bit(packed2, st2).numpy()
    # bitsandbytes' CPU library picks absmax indices with an approximate binary search (BinSearch); its
    # torch "default" backend (and CUDA) take the nearest entry. Record the default backend's choice too.
    v = st.absmax - st.absmax.mean()
    absmax2 = v.abs().max()
    scaled = torch.clamp(v * (1.0 / absmax2.clamp(min=1e-38)), -1, 1)
    code2 = st2.state2.code
    idx_default = torch.bucketize(scaled, (code2[:-1] + code2[1:]) / 2, out_int32=True).to(torch.uint8)
    np.savez_compressed(
        path,
        x=x,
        packed=packed.numpy().reshape(-1),
        absmax=st.absmax.numpy().astype(np.float32),
        dequantized=deq.astype(np.float32).reshape(-1),
        code=st.code.numpy().astype(np.float32),
        dq_packed=packed2.numpy().reshape(-1),
        dq_absmax_idx=st2.absmax.numpy().reshape(-1),
        dq_absmax2=st2.state2.absmax.numpy().astype(np.float32),
        dq_offset=np.float32(st2.offset.item()),
        dq_code=st2.state2.code.numpy().astype(np.float32),
        dq_dequantized=deq2.astype(np.float32).reshape(-1),
        dq_absmax_idx_default=idx_default.numpy().reshape(-1),
        versions=np.array([torch.__version__, bitsandbytes.__version__]),
    )
    print(f"wrote {path}: {x.size} values, torch {torch.__version__}, bitsandbytes {bitsandbytes.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/nf4/bnb_nf4.npz")
