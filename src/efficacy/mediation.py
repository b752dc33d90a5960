"""Mediation analysis: does efficacy carry the effect, or only go along with it?

Product-of-coefficients mediation (Baron & Kenny 1986; MacKinnon 2008; Hayes 2018,
PROCESS model 4 with parallel mediators) with delta-method standard errors that
match ``lavaan::sem(fixed.x=TRUE)`` ``:=`` defined parameters, batched bootstrap
(percentile or BCa, Efron 1987) confidence intervals, and the closed-form
sensitivity analysis to sequential ignorability of Imai, Keele & Yamamoto (2010,
*Statistical Science* 25, 51-71), which R's ``mediation::medsens`` implements for
a linear mediator and a linear outcome model without interaction.

Conventions
-----------
* Point estimates are OLS, identical to ``lm()`` and to lavaan's ML estimates of
  the same just-identified path model.
* Standard errors of paths and of the delta-method effects use the ML residual
  variance ``RSS / n`` (lavaan ``estimator="ML"``, ``fixed.x=TRUE``), not ``lm()``'s
  ``RSS / (n - p)``. The residual covariance of parallel mediators is free (lavaan's
  default for endogenous variables), so ``Cov(a_j, a_k) = S_jk [(X'X)^-1]_xx``;
  a-paths and b-paths are uncorrelated. This reproduces lavaan's SEs to 1e-6.
* Bootstrap: all resamples in one batched weighted least-squares computation (a
  resample-count matrix, stacked ``X'WX`` by ``einsum``, batched ``np.linalg.solve``);
  BCa acceleration from a vectorised jackknife.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> x = rng.integers(0, 2, 300); m = 0.5 * x + rng.normal(size=300)
>>> y = 0.4 * m + rng.normal(size=300)
>>> res = mediate(pd.DataFrame({"x": x, "m": m, "y": y}), "x", "m", "y", n_boot=500, seed=1)
>>> tab = res.to_frame()
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

try:  # pragma: no cover - the package module exists in this repository
    from efficacy.errors import DataError as _InputError
except Exception:  # pragma: no cover
    _InputError = ValueError

__all__ = [
    "MediationResult",
    "SensitivityResult",
    "mediate",
    "sensitivity",
    "run_stage",
    "verdict",
]

MIN_CASES = 10


def _err(message, column=None):
    try:
        return _InputError(message, where=None if column is None else f"column {column!r}")
    except TypeError:  # plain ValueError
        return ValueError(message)


# ----------------------------------------------------------------------------- data
def _prepare(data, x, ms, y, covariates):
    cols = [x, *ms, y, *covariates]
    for c in cols:
        if c not in data.columns:
            raise _err(f"column {c!r} is not in the data", c)
    if len(set(cols)) != len(cols):
        raise _err(f"a column is used in two roles: {cols}")
    d = data[cols].apply(pd.to_numeric, errors="coerce").dropna()
    n = len(d)
    p_max = 2 + len(ms) + len(covariates)
    if n < max(MIN_CASES, p_max + 2):
        raise _err(
            f"too few complete cases: {n} on columns {cols}; need at least {max(MIN_CASES, p_max + 2)}"
        )
    X = d[x].to_numpy(float)
    if np.ptp(X) == 0:
        raise _err(f"treatment column {x!r} is constant in the complete cases", x)
    Y = d[y].to_numpy(float)
    M = d[list(ms)].to_numpy(float)
    for j, mj in enumerate(ms):
        if np.ptp(M[:, j]) == 0:
            raise _err(f"mediator column {mj!r} is constant", mj)
        if np.allclose(M[:, j], Y) or abs(np.corrcoef(M[:, j], Y)[0, 1]) > 1 - 1e-10:
            raise _err(f"mediator {mj!r} is identical (perfectly correlated) to outcome {y!r}", mj)
    C = d[list(covariates)].to_numpy(float).reshape(n, len(covariates))
    one = np.ones((n, 1))
    Xa = np.column_stack([one, X, C])  # mediator models, x at column 1
    Xb = np.column_stack([one, X, M, C])  # outcome model: x at 1, mediators at 2..k+1
    names = ["(intercept)", x, *ms, *covariates]
    if np.linalg.matrix_rank(Xb) < Xb.shape[1]:
        # find the first column that is a linear combination of the ones before it
        for i in range(2, Xb.shape[1] + 1):
            if np.linalg.matrix_rank(Xb[:, :i]) < i:
                raise _err(
                    f"perfect collinearity: column {names[i - 1]!r} is a linear combination of "
                    f"{names[: i - 1]}",
                    names[i - 1],
                )
    return Xa, Xb, M, Y, n


def _counts(idx, n):
    """Resample index matrix (B, n) -> case-count weight matrix (B, n)."""
    B = idx.shape[0]
    flat = (np.arange(B)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


def _loo(n, i0, i1):
    """Leave-one-out weight rows for cases i0..i1-1."""
    w = np.ones((i1 - i0, n))
    w[np.arange(i1 - i0), np.arange(i0, i1)] = 0.0
    return w


def _wls(X, W, T):
    """Batched least squares: X (n,p), W (B,n) case weights, T (n,k) -> (B,p,k), ok (B,)."""
    B, p, k = W.shape[0], X.shape[1], T.shape[1]
    XtX = (W @ (X[:, :, None] * X[:, None, :]).reshape(len(X), p * p)).reshape(B, p, p)
    XtT = (W @ (X[:, :, None] * T[:, None, :]).reshape(len(X), p * k)).reshape(B, p, k)
    sign, _ = np.linalg.slogdet(XtX)
    scale = np.sqrt(np.einsum("bii->bi", XtX)).clip(1e-300)
    cond_ok = sign > 0
    if cond_ok.any():
        # normalised determinant guards against near-singular resamples
        Dn = XtX / scale[:, :, None] / scale[:, None, :]
        s2, ld = np.linalg.slogdet(Dn)
        cond_ok &= (s2 > 0) & (ld > np.log(1e-12))
    A = np.where(cond_ok[:, None, None], XtX, np.eye(X.shape[1]))
    beta = np.linalg.solve(A, XtT)
    beta[~cond_ok] = np.nan
    return beta, cond_ok


def _effects(Xa, Xb, M, Y, W):
    """Effects for each weight row: columns a_1..a_k, b_1..b_k, direct, total, ind_1..ind_k, ind, pm."""
    k = M.shape[1]
    ba, _ = _wls(Xa, W, M)  # (B,pa,k)
    bb, _ = _wls(Xb, W, Y[:, None])  # (B,pb,1)
    a = ba[:, 1, :]
    b = bb[:, 2 : 2 + k, 0]
    cp = bb[:, 1, 0]
    ind = a * b
    ind_t = ind.sum(axis=1)
    tot = cp + ind_t
    with np.errstate(divide="ignore", invalid="ignore"):
        pm = ind_t / tot
    return np.column_stack([a, b, cp, tot, ind, ind_t, pm])


# ----------------------------------------------------------------------------- results
@dataclass
class MediationResult:
    """Result of :func:`mediate`. ``table`` is the tidy table (see :meth:`to_frame`)."""

    x: str
    mediators: list
    y: str
    covariates: list
    n: int
    n_boot: int
    n_boot_valid: int
    ci: str
    level: float
    table: pd.DataFrame = field(repr=False)

    def _get(self, effect, mediator=""):
        t = self.table
        r = t[(t["effect"] == effect) & (t["mediator"] == mediator)]
        return float(r["estimate"].iloc[0])

    @property
    def indirect(self) -> float:
        """Total indirect effect (sum of a_j * b_j)."""
        return self._get("indirect", "total" if len(self.mediators) > 1 else self.mediators[0])

    @property
    def direct(self) -> float:
        return self._get("direct")

    @property
    def total(self) -> float:
        return self._get("total")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: effect, mediator, estimate, se, ci_low, ci_high, pvalue, z, boot_se, sobel_z, sobel_p."""
        return self.table.copy()

    def __repr__(self):
        t = self.table
        rows = "\n".join(
            f"  {r.effect:9s} {r.mediator:12s} {r.estimate: .4f} [{r.ci_low: .4f}, {r.ci_high: .4f}]"
            for r in t.itertuples()
        )
        return (
            f"MediationResult({self.x} -> {self.mediators} -> {self.y}, n={self.n}, "
            f"{self.ci} CI from {self.n_boot_valid}/{self.n_boot} resamples, level={self.level})\n{rows}"
        )


def _bca(boot, est, jack, level):
    """BCa interval per column (Efron 1987). boot (B,q), est (q,), jack (n,q)."""
    alpha = (1 - level) / 2
    lo = np.full(est.shape, np.nan)
    hi = np.full(est.shape, np.nan)
    for q in range(est.size):  # loop over effects (few), not over resamples
        bq = boot[:, q]
        bq = bq[np.isfinite(bq)]
        if bq.size < 10 or not np.isfinite(est[q]):
            continue
        prop = (np.sum(bq < est[q]) + 0.5 * np.sum(bq == est[q])) / bq.size
        if prop <= 0 or prop >= 1:
            continue
        z0 = stats.norm.ppf(prop)
        jq = jack[:, q]
        jq = jq[np.isfinite(jq)]
        dd = jq.mean() - jq
        den = 6 * np.sum(dd**2) ** 1.5
        acc = np.sum(dd**3) / den if den > 0 else 0.0
        zs = stats.norm.ppf([alpha, 1 - alpha])
        adj = stats.norm.cdf(z0 + (z0 + zs) / (1 - acc * (z0 + zs)))
        lo[q], hi[q] = np.quantile(bq, adj)
    return lo, hi


def mediate(data, x, m, y, *, covariates=(), n_boot=5000, ci="bca", seed=None, level=0.95):
    """Mediation of x -> m (one or several parallel mediators) -> y by OLS paths.

    Parameters
    ----------
    data : pandas.DataFrame
    x, y : str
        Treatment (any numeric; randomised for a causal a-path) and outcome columns.
    m : str or list of str
        Mediator(s); several are treated as parallel mediators (Hayes 2018, ch. 5).
    covariates : sequence of str
        Entered in every equation.
    n_boot : int
        Bootstrap resamples (0: no bootstrap, CIs are then normal-theory delta-method).
    ci : {"bca", "percentile"}
    seed : int or None
        Seed for :func:`numpy.random.default_rng`.
    level : float
        Confidence level.

    Returns
    -------
    MediationResult
        Effects ``a`` and ``b`` per mediator, ``direct`` (c'), ``total`` (c = c' + sum a b),
        ``indirect`` per mediator and ``total`` (several mediators), ``prop_mediated``.
        ``se`` is the delta-method SE with ML residual variance (matches lavaan ``:=``
        with ``fixed.x=TRUE``); ``pvalue`` the Wald z test on it; ``ci_low``/``ci_high``
        the bootstrap interval; ``sobel_z``/``sobel_p`` a legacy column for indirect effects.

    Notes
    -----
    References: Baron & Kenny (1986); Sobel (1982); Efron (1987) for BCa;
    MacKinnon (2008). R equivalents: ``lavaan::sem`` with ``:=`` and
    ``parameterEstimates(boot.ci.type = "perc" | "bca.simple")``; PROCESS model 4.
    """
    ms = [m] if isinstance(m, str) else list(m)
    covariates = list(covariates)
    if ci not in ("bca", "percentile"):
        raise ValueError(f"ci must be 'bca' or 'percentile', got {ci!r}")
    if not ms:
        raise ValueError("at least one mediator is needed")
    Xa, Xb, M, Y, n = _prepare(data, x, ms, y, covariates)
    k = len(ms)
    est = _effects(Xa, Xb, M, Y, np.ones((1, n)))[0]

    # ---- delta-method covariance (ML residual variances, lavaan fixed.x) ----
    Ba = np.linalg.lstsq(Xa, M, rcond=None)[0]
    Ea = M - Xa @ Ba
    Sm = Ea.T @ Ea / n
    iA = np.linalg.inv(Xa.T @ Xa)
    bb = np.linalg.lstsq(Xb, Y, rcond=None)[0]
    ey = Y - Xb @ bb
    s2y = ey @ ey / n
    iB = np.linalg.inv(Xb.T @ Xb) * s2y
    # theta = (a_1..a_k, b_1..b_k, cp)
    V = np.zeros((2 * k + 1, 2 * k + 1))
    V[:k, :k] = Sm * iA[1, 1]
    idx_b = [*range(2, 2 + k), 1]
    V[k:, k:] = iB[np.ix_(idx_b, idx_b)]
    a, b, cp = est[:k], est[k : 2 * k], est[2 * k]
    grads = []
    for j in range(k):  # a_j
        g = np.zeros(2 * k + 1); g[j] = 1; grads.append(g)
    for j in range(k):  # b_j
        g = np.zeros(2 * k + 1); g[k + j] = 1; grads.append(g)
    g = np.zeros(2 * k + 1); g[2 * k] = 1; grads.append(g)  # direct
    g_ind_t = np.concatenate([b, a, [0.0]])
    grads.append(g_ind_t + np.eye(2 * k + 1)[2 * k])  # total = cp + sum ab
    for j in range(k):  # ind_j
        g = np.zeros(2 * k + 1); g[j] = b[j]; g[k + j] = a[j]; grads.append(g)
    grads.append(g_ind_t)
    tot = est[2 * k + 1]
    ind_t = est[-2]
    g_pm = (g_ind_t * tot - ind_t * (g_ind_t + np.eye(2 * k + 1)[2 * k])) / tot**2
    grads.append(g_pm)
    G = np.array(grads)
    se = np.sqrt(np.einsum("qi,ij,qj->q", G, V, G))

    # ---- bootstrap (batched) ----
    n_valid = 0
    if n_boot and n_boot > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        W = _counts(idx, n)
        boot = _effects(Xa, Xb, M, Y, W)
        n_valid = int(np.isfinite(boot[:, 0]).sum())
        boot_se = np.nanstd(boot, axis=0, ddof=1)
        if ci == "bca":
            # leave-one-out fits as weight rows 1 - e_i, in blocks to bound memory
            jack = np.vstack([_effects(Xa, Xb, M, Y, _loo(n, i0, min(i0 + 2000, n)))
                              for i0 in range(0, n, 2000)])
            lo, hi = _bca(boot, est, jack, level)
        else:
            alpha = (1 - level) / 2
            lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
        ci_name = ci
    else:
        boot_se = np.full(est.shape, np.nan)
        zc = stats.norm.ppf(1 - (1 - level) / 2)
        lo, hi = est - zc * se, est + zc * se
        ci_name = "delta"
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    pval = 2 * stats.norm.sf(np.abs(z))
    effect = (["a"] * k + ["b"] * k + ["direct", "total"] + ["indirect"] * k
              + (["indirect"] if k > 1 else []) + ["prop_mediated"])
    med = ms + ms + ["", ""] + ms + (["total"] if k > 1 else []) + [""]
    keep = list(range(2 * k + 2 + k)) + ([2 * k + 2 + k] if k > 1 else []) + [est.size - 1]
    tab = pd.DataFrame({
        "effect": effect, "mediator": med, "estimate": est[keep], "se": se[keep],
        "ci_low": np.asarray(lo)[keep], "ci_high": np.asarray(hi)[keep], "pvalue": pval[keep],
        "z": z[keep], "boot_se": boot_se[keep], "ci_method": ci_name,
    })
    is_ind = tab["effect"].eq("indirect")
    tab["sobel_z"] = np.where(is_ind, tab["z"], np.nan)
    tab["sobel_p"] = np.where(is_ind, tab["pvalue"], np.nan)
    return MediationResult(x, ms, y, covariates, n, int(n_boot or 0), n_valid, ci_name, level, tab)


# ----------------------------------------------------------------------------- sensitivity
@dataclass
class SensitivityResult:
    """Result of :func:`sensitivity` (Imai, Keele & Yamamoto 2010)."""

    x: str
    m: str
    y: str
    n: int
    rho_at_zero: float
    rsq_prod_residual: float
    rsq_prod_total: float
    r2_mediator: float
    r2_outcome: float
    acme_at_zero_rho: float
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Columns: rho, acme, ci_low, ci_high, rsq_prod_residual, rsq_prod_total."""
        return self.table.copy()

    def __repr__(self):
        return (f"SensitivityResult({self.x} -> {self.m} -> {self.y}, n={self.n}: ACME(0)="
                f"{self.acme_at_zero_rho:.4f}, rho at ACME=0: {self.rho_at_zero:.4f}, "
                f"R2*M R2*Y={self.rsq_prod_residual:.4f}, R2~M R2~Y={self.rsq_prod_total:.4f})")


def _acme_curve(beta2, s1, s2, rt, rho):
    return beta2[..., None] * (s1 / s2)[..., None] * (
        rt[..., None] - rho * np.sqrt((1 - rt[..., None] ** 2) / (1 - rho**2)))


def sensitivity(data, x, m, y, *, covariates=(), rhos=np.linspace(-0.9, 0.9, 181), level=0.95,
                n_boot=1000, seed=None):
    """ACME as a function of the mediator-outcome error correlation rho.

    Closed form (Imai, Keele & Yamamoto 2010, Theorem 2) for a linear mediator model
    ``M = a0 + beta2 X + C + e2`` and a linear outcome model without interaction; with
    ``e1`` the residual of the total-effect model ``Y ~ X + C``::

        ACME(rho) = beta2 * sigma1 / sigma2 * (rho~ - rho * sqrt((1 - rho~^2) / (1 - rho^2)))

    where ``rho~ = corr(e1, e2)`` and sigma = ML residual SD (``sqrt(RSS/n)``). Because
    ``rho / sqrt(1 - rho^2)`` is increasing, ACME = 0 exactly at ``rho* = rho~``; there the
    residual R-squared product is ``R2*_M R2*_Y = rho*^2`` and the total one
    ``R2~_M R2~_Y = rho*^2 (1 - R2_M)(1 - R2_Y)``. At rho = 0 the ACME equals the OLS
    product a*b. Matches R ``mediation::medsens`` for linear-linear models (point curve);
    the CI band here is a batched percentile bootstrap (``n_boot`` resamples).
    """
    Xa, Xb, M, Y, n = _prepare(data, x, [m], y, list(covariates))
    rhos = np.asarray(rhos, float)
    Xc = Xa  # total model has the same regressors as the mediator model

    def parts(W):
        ba, _ = _wls(Xa, W, M)
        bc, _ = _wls(Xc, W, Y[:, None])
        e2 = M[:, 0][None, :] - np.einsum("ni,bi->bn", Xa, ba[:, :, 0])
        e1 = Y[None, :] - np.einsum("ni,bi->bn", Xc, bc[:, :, 0])
        ws = W.sum(axis=1)
        s1 = np.sqrt((W * e1**2).sum(1) / ws)
        s2 = np.sqrt((W * e2**2).sum(1) / ws)
        rt = (W * e1 * e2).sum(1) / ws / (s1 * s2)
        return ba[:, 1, 0], s1, s2, rt

    beta2, s1, s2, rt = (v[0] for v in parts(np.ones((1, n))))
    acme = _acme_curve(np.array(beta2), np.array(s1), np.array(s2), np.array(rt), rhos)
    lo = hi = np.full(rhos.shape, np.nan)
    if n_boot and n_boot > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        W = _counts(idx, n)
        bb = _acme_curve(*parts(W), rhos)
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(bb, [alpha, 1 - alpha], axis=0)
    r2m = 1 - np.sum((M[:, 0] - Xa @ np.linalg.lstsq(Xa, M[:, 0], rcond=None)[0]) ** 2) / np.sum(
        (M[:, 0] - M[:, 0].mean()) ** 2)
    r2y = 1 - np.sum((Y - Xb @ np.linalg.lstsq(Xb, Y, rcond=None)[0]) ** 2) / np.sum((Y - Y.mean()) ** 2)
    tab = pd.DataFrame({"rho": rhos, "acme": acme, "ci_low": lo, "ci_high": hi,
                        "rsq_prod_residual": rhos**2,
                        "rsq_prod_total": rhos**2 * (1 - r2m) * (1 - r2y)})
    acme0 = float(beta2 * s1 / s2 * rt)
    return SensitivityResult(x, m, y, n, float(rt), float(rt**2), float(rt**2 * (1 - r2m) * (1 - r2y)),
                             float(r2m), float(r2y), acme0, tab)


# ----------------------------------------------------------------------------- stage
def run_stage(clean, codebook, *, n_boot=2000, seed=0, ci="bca", fragile_rho=0.2):
    """Workflow entry point: mediation and sensitivity tables for a study's design roles.

    Returns ``{"mediation": df, "sensitivity": df, "verdict": df}``; the ``verdict``
    table's single column ``text`` holds the markdown of :func:`verdict`. Rows with a
    ``reason`` stand for analyses that could not be run (no design roles, binary outcome,
    bad data).
    """
    des = codebook.design
    med_rows, sens_rows = [], []
    cols_med = ["outcome", "effect", "mediator", "estimate", "se", "ci_low", "ci_high", "pvalue",
                "z", "boot_se", "ci_method", "sobel_z", "sobel_p", "n", "reason"]
    cols_sens = ["outcome", "mediator", "rho", "acme", "ci_low", "ci_high", "rsq_prod_residual",
                 "rsq_prod_total", "rho_at_zero", "n", "reason"]
    summaries = []
    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        reason = "study declares no treatment, mediator and outcome in codebook design"
        med = pd.DataFrame([{c: (reason if c == "reason" else np.nan) for c in cols_med}])
        sens = pd.DataFrame([{c: (reason if c == "reason" else np.nan) for c in cols_sens}])
        text = verdict(codebook, [], fragile_rho=fragile_rho, reason=reason)
        return {"mediation": med, "sensitivity": sens, "verdict": pd.DataFrame({"text": [text]})}
    covs = list(des.covariates or [])
    for out in des.outcomes:
        if codebook.is_binary(out):
            reason = "binary outcome: linear mediation not run (causal mediation for binary outcomes not implemented)"
            med_rows.append(pd.DataFrame([{"outcome": out, "reason": reason}]))
            sens_rows.append(pd.DataFrame([{"outcome": out, "reason": reason}]))
            summaries.append({"outcome": out, "reason": reason})
            continue
        try:
            res = mediate(clean, des.treatment, list(des.mediators), out, covariates=covs,
                          n_boot=n_boot, ci=ci, seed=seed)
        except ValueError as exc:
            med_rows.append(pd.DataFrame([{"outcome": out, "reason": str(exc)}]))
            summaries.append({"outcome": out, "reason": str(exc)})
            continue
        t = res.to_frame()
        t.insert(0, "outcome", out)
        t["n"] = res.n
        t["reason"] = ""
        med_rows.append(t)
        for mj in des.mediators:
            try:
                s = sensitivity(clean, des.treatment, mj, out, covariates=covs, n_boot=min(n_boot, 1000),
                                seed=seed)
            except ValueError as exc:
                sens_rows.append(pd.DataFrame([{"outcome": out, "mediator": mj, "reason": str(exc)}]))
                summaries.append({"outcome": out, "mediator": mj, "reason": str(exc)})
                continue
            st = s.to_frame()
            st.insert(0, "mediator", mj)
            st.insert(0, "outcome", out)
            st["rho_at_zero"] = s.rho_at_zero
            st["n"] = s.n
            st["reason"] = ""
            sens_rows.append(st)
            ind = t[(t["effect"] == "indirect") & (t["mediator"] == mj)].iloc[0]
            a = t[(t["effect"] == "a") & (t["mediator"] == mj)].iloc[0]
            summaries.append({"outcome": out, "mediator": mj, "indirect": ind.estimate,
                              "ci_low": ind.ci_low, "ci_high": ind.ci_high, "a": a.estimate,
                              "a_p": a.pvalue, "rho_at_zero": s.rho_at_zero,
                              "rsq_total": s.rsq_prod_total, "n": res.n, "ci": res.ci})
    med = pd.concat(med_rows, ignore_index=True).reindex(columns=cols_med)
    sens = pd.concat(sens_rows, ignore_index=True).reindex(columns=cols_sens) if sens_rows else \
        pd.DataFrame(columns=cols_sens)
    text = verdict(codebook, summaries, fragile_rho=fragile_rho)
    return {"mediation": med, "sensitivity": sens, "verdict": pd.DataFrame({"text": [text]})}


def verdict(codebook, summaries, *, fragile_rho=0.2, reason=None):
    """Plain-words markdown verdict on what the design supports, per outcome and mediator."""
    des = codebook.design
    lines = [f"# Mediation verdict: {codebook.study}", ""]
    if reason:
        lines += [f"No mediation analysis: {reason}.", ""]
        return "\n".join(lines)
    lines += [
        f"Treatment `{des.treatment}`; mediators {', '.join(f'`{m}`' for m in des.mediators)}; "
        f"covariates {', '.join(f'`{c}`' for c in des.covariates) or 'none'}.",
        "",
        "- If the treatment was randomised, the a-path (treatment -> mediator) is causal.",
        "- The b-path (mediator -> outcome) rests on sequential ignorability: no unmeasured "
        "confounder of mediator and outcome. The sensitivity rho (the error correlation at which "
        "the indirect effect vanishes) is the honest measure of how robust the mediation claim is.",
    ]
    if not getattr(codebook, "waves", None):
        lines.append("- These data are cross-sectional (no waves): they cannot establish the "
                     "temporal order of mediator and outcome.")
    else:
        lines.append("- The study has waves: see the panel stage for temporal order.")
    lines.append("")
    for s in summaries:
        head = f"## {s.get('mediator', '')} -> {s['outcome']}".replace("##  -> ", "## ")
        lines.append(head)
        if "reason" in s:
            lines += [f"Not analysed: {s['reason']}.", ""]
            continue
        excl = not (s["ci_low"] <= 0 <= s["ci_high"])
        rho0 = s["rho_at_zero"]
        fragile = abs(rho0) < fragile_rho
        lines.append(
            f"Indirect effect {s['indirect']:.4f}, {s['ci']} 95% CI [{s['ci_low']:.4f}, {s['ci_high']:.4f}] "
            f"({'excludes' if excl else 'includes'} zero; n = {s['n']}). "
            f"Rho at which the indirect effect is zero: {rho0:.3f} "
            f"(total R-squared product {s['rsq_total']:.4f}).")
        if not excl:
            lines.append("Verdict: no evidence of mediation.")
        elif fragile:
            lines.append(f"Verdict: FRAGILE. |rho| at zero ({abs(rho0):.3f}) is below {fragile_rho}: a modest "
                         "unmeasured common cause of mediator and outcome would explain the indirect "
                         "effect, so the association may be confounded.")
        else:
            lines.append(f"Verdict: ROBUST to mediator-outcome confounding up to |rho| = {abs(rho0):.3f} "
                         f"(threshold {fragile_rho}); still an assumption, not a proof.")
        lines.append("")
    return "\n".join(lines)
