"""Numerical edge cases end in a valid estimate or an NA with a stated reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from efficacy.meta import random_effects
from efficacy.reliability import cronbach_alpha, mcdonald_omega


def test_scale_whose_items_are_all_identical():
    x = np.tile(np.arange(1, 6, dtype=float)[:, None], (20, 4))
    res = cronbach_alpha(pd.DataFrame(x, columns=list("abcd")))
    # identical items: alpha is exactly 1, or NA with a reason; never a number from nonsense
    assert (res.alpha == pytest.approx(1.0)) or (np.isnan(res.alpha) and res.reason)
    om = mcdonald_omega(pd.DataFrame(x, columns=list("abcd")), n_boot=50, seed=1)
    assert np.isnan(om.omega_total) or om.omega_total == pytest.approx(1.0, abs=1e-6) or om.reason


def test_zero_variance_item_and_too_few_cases_give_na_with_reason():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.integers(1, 6, size=(30, 3)).astype(float), columns=list("abc"))
    df["c"] = 3.0
    res = cronbach_alpha(df)
    assert np.isnan(res.alpha) and "variance" in res.reason.lower()
    res = cronbach_alpha(df.iloc[:2, :2].assign(c=[1.0, 2.0]))
    assert np.isnan(res.alpha) and res.reason


def test_singular_item_covariance_in_omega():
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    df = pd.DataFrame({"a": a, "b": a + rng.normal(size=200), "c": 2 * a, "d": rng.normal(size=200) + a})
    om = mcdonald_omega(df, n_boot=50, seed=2)
    # perfectly collinear items make the covariance singular: NA with reason or a bounded value
    assert (np.isnan(om.omega_total) and om.reason) or (0 <= om.omega_total <= 1)


def test_meta_with_k2_and_tau2_at_zero():
    res = random_effects([0.3, 0.31], [0.01, 0.012], method="REML")
    assert res.k == 2 and res.tau2 == pytest.approx(0.0, abs=1e-8)
    assert np.isfinite(res.estimate) and res.ci_low < res.estimate < res.ci_high


def test_meta_rejects_bad_variances_with_the_row():
    with pytest.raises(ValueError, match=r"(?i)row|study|vi"):
        random_effects([0.3, 0.2, 0.1], [0.01, -0.02, 0.01])
