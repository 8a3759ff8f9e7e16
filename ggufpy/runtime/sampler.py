"""Token sampling: llama.cpp's default sampler chain in numpy.

The chain is llama.cpp's (``common_sampler`` with default settings): repetition penalty -> top-k ->
top-p -> min-p -> temperature -> a draw from the softmax. ``temp <= 0`` is greedy (argmax of the
penalised logits). Draws come from ``np.random.default_rng(seed)``, so a seed makes a run repeatable.

    s = Sampler(SamplerConfig(temp=0.7, seed=1))
    token = s.sample(logits, history)      # logits: (n_vocab,) float, history: the tokens so far
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class SamplerConfig:
    """Sampling settings, with llama.cpp's defaults.

    temp: softmax temperature; <= 0 picks the most likely token (greedy).
    top_k: keep the k most likely tokens (<= 0: all).
    top_p: keep the smallest set of most likely tokens whose probability reaches p (>= 1: all).
    min_p: keep tokens at least min_p times as likely as the most likely one (<= 0: all).
    repeat_penalty: divide positive (multiply negative) logits of tokens in the last
        ``repeat_last_n`` tokens of the history by this (1.0: off).
    repeat_last_n: how much of the history the penalty looks at (0: none, -1: all).
    seed: random seed (None: fresh entropy).
    """

    temp: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    seed: int | None = None


class Sampler:
    """Picks the next token from a logit vector. Holds the random generator (one per sampler)."""

    def __init__(self, config: SamplerConfig | None = None):
        self.config = config if config is not None else SamplerConfig()
        self.rng = np.random.default_rng(self.config.seed)

    # ---- the chain, one stage at a time (each returns candidate ids and their logits) --------------

    def apply_penalties(self, logits: np.ndarray, history: Sequence[int]) -> np.ndarray:
        """A copy of ``logits`` (float64) with the repetition penalty applied (llama_sampler_penalties)."""
        c = self.config
        out = np.array(logits, dtype=np.float64).reshape(-1)
        n = c.repeat_last_n
        if c.repeat_penalty == 1.0 or n == 0 or not history:
            return out
        recent = list(history) if n < 0 else list(history)[-n:]
        ids = np.unique(np.asarray(recent, dtype=np.int64))
        ids = ids[(ids >= 0) & (ids < out.size)]
        vals = out[ids]
        out[ids] = np.where(vals <= 0, vals * c.repeat_penalty, vals / c.repeat_penalty)
        return out

    def candidates(self, logits: np.ndarray, history: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """The tokens left after penalties, top-k, top-p and min-p, with their (untempered) logits,
        most likely first."""
        c = self.config
        x = self.apply_penalties(logits, history)
        ids = np.arange(x.size)
        # top-k (also sorts: every later stage wants the candidates in descending order)
        if 0 < c.top_k < x.size:
            ids = np.argpartition(-x, c.top_k - 1)[: c.top_k]
        ids = ids[np.argsort(-x[ids], kind="stable")]
        vals = x[ids]
        # top-p: the shortest prefix whose probability mass reaches p (at least one token)
        if c.top_p < 1.0:
            p = _softmax(vals)
            keep = int(np.searchsorted(np.cumsum(p), c.top_p, side="left")) + 1
            ids, vals = ids[:keep], vals[:keep]
        # min-p: p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p)
        if c.min_p > 0.0 and vals.size > 1:
            keep = vals >= vals[0] + np.log(c.min_p)
            ids, vals = ids[keep], vals[keep]
        return ids, vals

    def probabilities(self, logits: np.ndarray, history: Sequence[int] = ()) -> np.ndarray:
        """The full (n_vocab,) distribution the next draw comes from (a one-hot vector when greedy)."""
        n = np.asarray(logits).size
        probs = np.zeros(n)
        if self.config.temp <= 0:
            probs[int(np.argmax(self.apply_penalties(logits, history)))] = 1.0
            return probs
        ids, vals = self.candidates(logits, history)
        probs[ids] = _softmax(vals / self.config.temp)
        return probs

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> int:
        """The next token for ``logits`` ((n_vocab,) or (1, n_vocab)) given the tokens so far."""
        if self.config.temp <= 0:
            return int(np.argmax(self.apply_penalties(logits, history)))
        ids, vals = self.candidates(logits, history)
        if ids.size == 1:
            return int(ids[0])
        p = _softmax(vals / self.config.temp)
        # inverse-CDF draw (as std::discrete_distribution does), robust to rounding in the last bin
        i = int(np.searchsorted(np.cumsum(p), self.rng.random() * p.sum(), side="right"))
        return int(ids[min(i, ids.size - 1)])


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()
