"""``encode_rows``: float32 rows -> one type's raw rows, row chunks spread over a thread pool.

The one place whole tensors are encoded in parallel; ``ggufpy quantize`` and ``ggufpy convert`` both
encode through it, so a tensor gets the same bytes from either. The native kernels release the GIL, so
chunks run in parallel; chunks are independent rows, so the bytes do not depend on the split.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..format.constants import GGMLType
from . import quantize

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="ggufpy-quantize")
    return _POOL


def encode_rows(rows: np.ndarray, new_type: GGMLType) -> np.ndarray:
    """float32 rows (n, ne[0]) -> ``new_type`` raw uint8 rows (n, row bytes), split across threads in chunks
    of about 1M values."""
    n_chunks = min(os.cpu_count() or 1, max(1, rows.size // (1 << 20)))
    if n_chunks == 1:
        return quantize(rows, new_type)
    parts = np.array_split(rows, n_chunks)
    return np.concatenate(list(_pool().map(lambda p: quantize(p, new_type), parts)))
