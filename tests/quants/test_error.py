"""error_stats: measured error and, for linear types, the s^2/12 model."""

from __future__ import annotations

import numpy as np
import pytest

from ggufpy import GGMLType
from ggufpy.quants.error import compare, error_stats


def test_compare_exact_numbers():
    s = compare(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.5, 3.0, 3.0]))
    assert s["mse"] == pytest.approx((0.25 + 1.0) / 4)
    assert s["max_abs_err"] == 1.0
    assert s["snr_db"] == pytest.approx(10 * np.log10(30 / 1.25))


@pytest.mark.parametrize("qtype", [GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q5_1, GGMLType.Q4_K, GGMLType.Q6_K,
                                   GGMLType.TQ2_64])
def test_uniform_noise_model_holds_on_uniform_data(qtype):
    x = np.random.default_rng(0).uniform(-1, 1, (64, 256)).astype(np.float32)
    s = error_stats(x, qtype)
    # Within 40%: the K-quants' searched scales beat the plain model (Q4_K measures ~0.77 of s^2/12).
    assert s["theoretical_var"] == pytest.approx(s["measured_var"], rel=0.4)


def test_bits_per_weight_and_codebook_types():
    x = np.random.default_rng(1).standard_normal((8, 256)).astype(np.float32)
    s = error_stats(x, GGMLType.NF4)
    assert s["bits_per_weight"] == 4.5 and "theoretical_var" not in s
    assert error_stats(x, GGMLType.Q4_K)["bits_per_weight"] == 4.5
    assert error_stats(x, GGMLType.Q8_0)["snr_db"] > error_stats(x, GGMLType.Q4_0)["snr_db"] + 20
