"""Discriminant validity: HTMT (``semTools::htmt``) with bootstrap CIs, AVE, Fornell-Larcker and the
chi-square difference test against a factor correlation of 1 (issue #4)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._api import as_rng, check_columns, renamed
from ..errors import MeasurementError
from ..results import ResultMixin
from .cfa import CFAResult, _lrt, cfa


@dataclass
class HTMTResult(ResultMixin):
    """HTMT matrix with percentile bootstrap confidence intervals.

    ``estimate``, ``ci_low`` and ``ci_high`` are scale x scale matrices; ``max_htmt`` the largest
    ratio over the pairs; ``to_frame()`` one row per pair.
    """

    scales: list
    estimate: pd.DataFrame
    ci_low: pd.DataFrame
    ci_high: pd.DataFrame
    n_boot: int
    ci_level: float
    method: str

    _headline = ("max_htmt", "n_boot", "method")
    _title = "Heterotrait-monotrait ratio (HTMT)"

    @property
    def max_htmt(self) -> float:
        """The largest HTMT ratio over all scale pairs."""
        t = self.to_frame()
        return float(t["estimate"].max()) if len(t) else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per scale pair: scale_1, scale_2, estimate (the HTMT ratio), ci_low, ci_high,
        method, n_boot."""
        rows = []
        for i, a in enumerate(self.scales):
            for b in self.scales[i + 1:]:
                rows.append({"scale_1": a, "scale_2": b, "estimate": self.estimate.loc[a, b],
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
    with np.errstate(divide="ignore"):  # an exactly zero correlation (integer items, a resample) -> mean 0
        return _htmt_from_r_(r, idx, geometric)


def _htmt_from_r_(r: np.ndarray, idx: list, geometric: bool) -> np.ndarray:
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


@renamed(level="ci_level")
def htmt(data: pd.DataFrame, scales: dict, *, method: str = "geometric", n_boot: int = 0,
         ci_level: float = 0.95, seed=None) -> HTMTResult:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt, 2015).

    ``method="geometric"`` is HTMT2 (Roemer, Schuberth & Henseler, 2021), matching
    ``semTools::htmt(..., htmt2 = TRUE)``; ``method="arithmetic"`` is the original HTMT
    (``htmt2 = FALSE``). Absolute item correlations are used (semTools default), complete cases only.
    Percentile bootstrap CIs at ``ci_level`` are computed vectorised over resamples when
    ``n_boot > 0`` (``seed``: an int or a numpy Generator).

    Examples
    --------
    >>> res = htmt(df, {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"]}, n_boot=500, seed=1)  # doctest: +SKIP
    """
    if method not in ("geometric", "arithmetic"):
        raise MeasurementError(f"method must be 'geometric' or 'arithmetic', got {method!r}")
    if len(scales) < 2:
        raise MeasurementError("htmt needs at least two scales")
    cols: list = []
    idx = []
    for name, items in scales.items():
        if len(items) < 2:
            raise MeasurementError(f"scale {name!r} needs at least two items, got {items!r}")
        check_columns(data, [(f"an item of scale {name!r}", items)], error=MeasurementError)
        idx.append(list(range(len(cols), len(cols) + len(items))))
        cols.extend(items)
    x = data[cols].dropna().to_numpy(dtype=float)
    geometric = method == "geometric"
    names = list(scales)
    est = _htmt_from_r(np.corrcoef(x, rowvar=False), idx, geometric)
    lo = np.full_like(est, np.nan)
    hi = np.full_like(est, np.nan)
    if n_boot > 0:
        rng = as_rng(seed)
        n = x.shape[0]
        boots = []
        for start in range(0, n_boot, 200):  # chunks bound memory; each chunk is batched linear algebra
            b = min(200, n_boot - start)
            ii = rng.integers(0, n, size=(b, n))
            boots.append(_htmt_from_r(_corr_batch(x[ii]), idx, geometric))
        boots = np.concatenate(boots)
        a = (1 - ci_level) / 2
        lo, hi = np.nanquantile(boots, [a, 1 - a], axis=0)
    f = lambda m: pd.DataFrame(m, index=names, columns=names)  # noqa: E731
    return HTMTResult(names, f(est), f(lo), f(hi), n_boot, ci_level, method)


# =========================================================================== discriminant validity (issue #4)

DISCRIMINANT_COLUMNS = ["scale_1", "scale_2", "htmt", "htmt_ci_low", "htmt_ci_high", "factor_cor", "ave_1", "ave_2",
                        "fornell_larcker", "chisq_free", "df_free", "chisq_fixed", "delta_chisq", "delta_df",
                        "pvalue", "converged", "proper", "reason"]


@dataclass
class DiscriminantResult(ResultMixin):
    """Discriminant validity of a set of scales (one row per pair in :meth:`to_frame`).

    Attributes
    ----------
    htmt : HTMTResult
    ave : pandas.Series
        Average variance extracted per factor (``semTools::AVE``), from the joint CFA.
    factor_cor : pandas.DataFrame
        Factor correlations of the joint CFA (``lavInspect(fit, "cor.lv")``).
    fornell_larcker : pandas.DataFrame
    chisq_test : pandas.DataFrame
        Per pair: chi-square of the free two-factor CFA and of the same model with the factor
        correlation fixed to 1, their difference (1 df) and p-value.
    cfa : CFAResult
        The joint CFA (one factor per scale).
    """

    scales: list
    htmt: HTMTResult
    ave: pd.Series
    factor_cor: pd.DataFrame
    fornell_larcker: pd.DataFrame
    chisq_test: pd.DataFrame
    cfa: CFAResult = field(repr=False)

    _headline = ("max_htmt", "ave")
    _title = "Discriminant validity: HTMT, AVE / Fornell-Larcker, chi-square difference"
    _summary_columns = ("scale_1", "scale_2", "htmt", "htmt_ci_low", "htmt_ci_high", "factor_cor", "ave_1", "ave_2",
                        "fornell_larcker", "delta_chisq", "delta_df", "pvalue")
    _dict_skip = ("cfa",)

    @property
    def max_htmt(self) -> float:
        """The largest HTMT ratio over the scale pairs."""
        return self.htmt.max_htmt

    def to_frame(self) -> pd.DataFrame:
        """One row per scale pair: columns :data:`DISCRIMINANT_COLUMNS`."""
        h = self.htmt.to_frame().rename(columns={"estimate": "htmt", "ci_low": "htmt_ci_low",
                                                 "ci_high": "htmt_ci_high"})
        out = h[["scale_1", "scale_2", "htmt", "htmt_ci_low", "htmt_ci_high"]].merge(
            self.fornell_larcker, on=["scale_1", "scale_2"]).merge(self.chisq_test, on=["scale_1", "scale_2"])
        return out[DISCRIMINANT_COLUMNS].reset_index(drop=True)

    def __repr__(self) -> str:
        return f"DiscriminantResult(scales={self.scales}, n_boot={self.htmt.n_boot})\n{self.to_frame()!r}"


def _fl_table(names, ave, r, joint_ok):
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ok = bool(min(ave[a], ave[b]) > r.loc[a, b] ** 2) if joint_ok else np.nan
            rows.append({"scale_1": a, "scale_2": b, "factor_cor": r.loc[a, b] if joint_ok else np.nan,
                         "ave_1": ave[a], "ave_2": ave[b], "fornell_larcker": ok})
    return pd.DataFrame(rows)


def _pair_test(data, a, ia, b, ib, missing):
    def spec(f, items):
        return f"{f} =~ " + " + ".join(f"lam_{f}_{k}*{v}" for k, v in enumerate(items)) + f"\n{f} ~~ 1*{f}"

    m1 = spec(a, ia) + "\n" + spec(b, ib)
    m0 = m1 + f"\n{a} ~~ 1*{b}"
    row = {"scale_1": a, "scale_2": b}
    try:
        f1 = cfa(data, m1, missing=missing, se=False)  # only chi-square is used
        f0 = cfa(data, m0, missing=missing, se=False)
    except np.linalg.LinAlgError as e:
        return {**row, "converged": False, "proper": False, "reason": str(e)}
    reasons = [f"{lab}: {x.reason}" for lab, x in (("free", f1), ("r=1", f0)) if x.reason]
    row.update(chisq_free=f1.fit["chisq"], df_free=f1.fit["df"], chisq_fixed=f0.fit["chisq"],
               converged=f1.converged and f0.converged, proper=f1.proper, reason="; ".join(reasons))
    d, ddf, p = _lrt(f0, f1)
    row.update(delta_chisq=d, delta_df=ddf, pvalue=p)
    return row


@renamed(level="ci_level")
def discriminant_validity(data: pd.DataFrame, scales: dict, *, n_boot: int = 1000, seed=None,
                          ci_level: float = 0.95, method: str = "geometric",
                          missing: str = "listwise") -> DiscriminantResult:
    """Discriminant validity of multi-item scales: HTMT, AVE / Fornell-Larcker and a chi-square test.

    - HTMT ratio (Henseler, Ringle & Sarstedt, 2015; HTMT2 by default) with a vectorised percentile
      bootstrap CI (:func:`htmt`; matches ``semTools::htmt``).
    - AVE per factor (Fornell & Larcker, 1981; matches ``semTools::AVE``) from one CFA with a
      factor per scale, and the Fornell-Larcker criterion (both AVEs exceed the squared factor
      correlation).
    - Per pair, the two-factor CFA (factor variances fixed to 1) against the same model with the
      factor correlation fixed to 1: chi-square difference on 1 df (matches
      ``lavTestLRT(cfa(m0, std.lv = TRUE), cfa(m1, std.lv = TRUE))``). A non-significant
      difference means the two scales cannot be told apart.

    Parameters
    ----------
    data : pandas.DataFrame
    scales : dict
        ``{scale name: [items]}``, at least two scales of at least two items (three for the CFA
        tests to be over-identified).
    n_boot : int
        Bootstrap resamples for the HTMT CI (0 = none).
    seed : int or numpy.random.Generator, optional
    ci_level : float
    method : {"geometric", "arithmetic"}
        HTMT2 or the original HTMT.
    missing : {"listwise", "fiml"}
        For the CFAs (HTMT uses complete cases).

    Returns
    -------
    DiscriminantResult

    Examples
    --------
    >>> discriminant_validity(df, {"efficacy": [...], "outcome": [...]}, n_boot=2000, seed=1).to_frame()  # doctest: +SKIP
    """
    return _discriminant(data, scales, n_boot=n_boot, seed=seed, ci_level=ci_level, method=method, missing=missing)


def _discriminant(data, scales, *, n_boot, seed, ci_level, method, missing, joint=None, joint_se=True):
    """:func:`discriminant_validity`, optionally with the joint CFA given (``joint``: the same model
    fitted on the same data, e.g. by the stage) or fitted without standard errors (``joint_se=False``:
    only its estimates and std_all enter the table; a fit that did not converge is refitted with
    them, so that its reason, which names standard-error problems too, is the same)."""
    h = htmt(data, scales, method=method, n_boot=n_boot, ci_level=ci_level, seed=seed)
    names = list(scales)
    if joint is None:
        joint = cfa(data, scales, missing=missing, se=joint_se)
        if not joint_se and not joint.converged:
            joint = cfa(data, scales, missing=missing)
    ok = joint.converged
    est = joint.estimates
    ave = {}
    # semTools::AVE (obs.var = TRUE): explained variance over the items' sample variances (ML, / n)
    allitems = [v for items in scales.values() for v in items]
    xs = data[allitems].dropna() if missing == "listwise" else data[allitems]
    for f, items in scales.items():
        ld = est[(est.op == "=~") & (est.lhs == f)].set_index("rhs")["estimate"]
        psi = est[(est.op == "~~") & (est.lhs == f) & (est.rhs == f)]["estimate"].iloc[0]
        svar = xs[list(items)].var(ddof=0).to_numpy()
        ave[f] = float((ld[list(items)].to_numpy() ** 2).sum() * psi / svar.sum()) if ok else np.nan
    ave = pd.Series(ave, name="ave")
    cov = est[(est.op == "~~") & est.lhs.isin(names) & est.rhs.isin(names)]
    r = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for _, row in cov.iterrows():
        if row.lhs != row.rhs:
            r.loc[row.lhs, row.rhs] = r.loc[row.rhs, row.lhs] = row.std_all
    fl = _fl_table(names, ave, r, ok)
    tests = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            tests.append(_pair_test(data, a, list(scales[a]), b, list(scales[b]), missing))
    cols = ["scale_1", "scale_2", "chisq_free", "df_free", "chisq_fixed", "delta_chisq", "delta_df", "pvalue",
            "converged", "proper", "reason"]
    tt = pd.DataFrame(tests).reindex(columns=cols)
    if not ok:
        tt["reason"] = [f"joint CFA: {joint.reason}; {x}" if x else f"joint CFA: {joint.reason}"
                        for x in tt["reason"].fillna("")]
    return DiscriminantResult(names, h, ave, r, fl, tt, joint)


