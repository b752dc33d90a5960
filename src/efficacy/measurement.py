"""Measurement models: discriminant validity (HTMT).

Only the heterotrait-monotrait ratio is shipped so far; CFA and invariance testing (issue #4) are not done.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["htmt", "HTMTResult"]


@dataclass
class HTMTResult:
    """HTMT matrix with percentile bootstrap confidence intervals."""

    scales: list
    estimate: pd.DataFrame
    ci_low: pd.DataFrame
    ci_high: pd.DataFrame
    n_boot: int
    level: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per scale pair."""
        rows = []
        for i, a in enumerate(self.scales):
            for b in self.scales[i + 1:]:
                rows.append({"scale_1": a, "scale_2": b, "htmt": self.estimate.loc[a, b],
                             "ci_low": self.ci_low.loc[a, b], "ci_high": self.ci_high.loc[a, b],
                             "method": self.method, "n_boot": self.n_boot})
        return pd.DataFrame(rows)


def _corr_batch(x: np.ndarray) -> np.ndarray:
    # x: (B, n, p) -> (B, p, p) Pearson correlations
    xc = x - x.mean(axis=1, keepdims=True)
    c = np.einsum("bni,bnj->bij", xc, xc)
    d = np.sqrt(np.einsum("bii->bi", c))
    return c / d[:, :, None] / d[:, None, :]


def _htmt_from_r(r: np.ndarray, idx: list, geometric: bool) -> np.ndarray:
    r = np.abs(r)
    k = len(idx)
    out = np.ones(r.shape[:-2] + (k, k))

    def mono(ii):
        sub = r[..., ii, :][..., :, ii]
        iu = np.triu_indices(len(ii), 1)
        v = sub[..., iu[0], iu[1]]
        return np.exp(np.log(v).mean(-1)) if geometric else v.mean(-1)

    monos = [mono(ii) for ii in idx]
    for a in range(k):
        for b in range(a + 1, k):
            v = r[..., idx[a], :][..., :, idx[b]].reshape(r.shape[:-2] + (-1,))
            het = np.exp(np.log(v).mean(-1)) if geometric else v.mean(-1)
            out[..., a, b] = out[..., b, a] = het / np.sqrt(monos[a] * monos[b])
    return out


def htmt(data: pd.DataFrame, scales: dict, *, method: str = "geometric", n_boot: int = 0,
         level: float = 0.95, seed=None) -> HTMTResult:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt, 2015).

    ``method="geometric"`` is HTMT2 (Roemer, Schuberth & Henseler, 2021), matching
    ``semTools::htmt(..., htmt2 = TRUE)``; ``method="arithmetic"`` is the original HTMT
    (``htmt2 = FALSE``). Absolute item correlations are used (semTools default), complete cases only.
    Percentile bootstrap CIs are computed vectorised over resamples when ``n_boot > 0``.

    Examples
    --------
    >>> res = htmt(df, {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"]}, n_boot=500, seed=1)  # doctest: +SKIP
    """
    if method not in ("geometric", "arithmetic"):
        raise ValueError(f"method must be 'geometric' or 'arithmetic', got {method!r}")
    if len(scales) < 2:
        raise ValueError("htmt needs at least two scales")
    cols: list = []
    idx = []
    for name, items in scales.items():
        if len(items) < 2:
            raise ValueError(f"scale {name!r} needs at least two items, got {items!r}")
        missing = [c for c in items if c not in data.columns]
        if missing:
            raise ValueError(f"scale {name!r}: columns not in data: {missing}")
        idx.append(list(range(len(cols), len(cols) + len(items))))
        cols.extend(items)
    x = data[cols].dropna().to_numpy(dtype=float)
    geometric = method == "geometric"
    names = list(scales)
    est = _htmt_from_r(np.corrcoef(x, rowvar=False), idx, geometric)
    lo = np.full_like(est, np.nan)
    hi = np.full_like(est, np.nan)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        n = x.shape[0]
        boots = []
        for start in range(0, n_boot, 200):  # chunks bound memory; each chunk is batched linear algebra
            b = min(200, n_boot - start)
            ii = rng.integers(0, n, size=(b, n))
            boots.append(_htmt_from_r(_corr_batch(x[ii]), idx, geometric))
        boots = np.concatenate(boots)
        a = (1 - level) / 2
        lo, hi = np.nanquantile(boots, [a, 1 - a], axis=0)
    f = lambda m: pd.DataFrame(m, index=names, columns=names)  # noqa: E731
    return HTMTResult(names, f(est), f(lo), f(hi), n_boot, level, method)
