"""Dependent effect sizes: the three-level model with cluster-robust (CR2) inference.

:func:`three_level` is ``metafor::rma.mv(yi, vi, random = ~ 1 | study/es_id)`` fitted by REML
(Konstantopoulos 2011; Cheung 2014), with optional CR2 standard errors and Satterthwaite degrees
of freedom as ``clubSandwich::coef_test`` (Pustejovsky & Tipton 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._api import column, data_or_none, renamed
from ..errors import MetaError
from ..results import ResultMixin
from .univariate import _check_yv, _design, _Proj

__all__ = ["ThreeLevelResult", "three_level"]


# --------------------------------------------------------------------------- multilevel models
def _reml_negll(y, X, Vs):
    """REML negative log-likelihood given the marginal covariance ``Vs`` (metafor's, up to a constant)."""
    try:
        L = np.linalg.cholesky(Vs)
    except np.linalg.LinAlgError:
        return np.inf, None, None
    Li_y = np.linalg.solve(L, y)
    Li_X = np.linalg.solve(L, X)
    XtVX = Li_X.T @ Li_X
    b = np.linalg.solve(XtVX, Li_X.T @ Li_y)
    r = Li_y - Li_X @ b
    sign, logdet_x = np.linalg.slogdet(XtVX)
    logdet_xx = np.linalg.slogdet(X.T @ X)[1]
    nll = 0.5 * (2 * np.log(np.diag(L)).sum() + logdet_x - logdet_xx + r @ r
                 + (len(y) - X.shape[1]) * np.log(2 * np.pi))
    return nll, b, XtVX


@dataclass
class ThreeLevelResult(ResultMixin):
    """Result of :func:`three_level` (metafor ``rma.mv(random = ~ 1 | study/es_id)``).

    ``estimate``, ``se``, ``pvalue`` and ``ci`` are the intercept's model-based inference;
    ``coef_table`` holds every coefficient (with ``robust=True`` also the CR2 columns
    ``se_cr2``, ``statistic_cr2``, ``df_cr2``, ``pvalue_cr2``, ``ci_low_cr2``, ``ci_high_cr2``).
    """

    coef_table: pd.DataFrame
    sigma2: tuple
    logLik: float
    k: int
    n_clusters: int
    QE: float
    QE_pvalue: float
    vcov: np.ndarray
    vcov_cr2: np.ndarray | None
    converged: bool
    reason: str = ""

    _headline = ("estimate", "se", "ci", "pvalue", "sigma2", "QE", "QE_pvalue", "k", "n_clusters")
    _title = "Three-level meta-analysis (metafor rma.mv)"

    @property
    def estimate(self):
        return float(self.coef_table["estimate"].iloc[0])

    @property
    def se(self):
        return float(self.coef_table["se"].iloc[0])

    @property
    def pvalue(self):
        return float(self.coef_table["pvalue"].iloc[0])

    @property
    def ci(self) -> tuple:
        t = self.coef_table
        return float(t["ci_low"].iloc[0]), float(t["ci_high"].iloc[0])

    def __repr__(self):
        return (f"ThreeLevelResult(k={self.k}, clusters={self.n_clusters}, estimate={self.estimate:.4f}, "
                f"se={self.se:.4f}, sigma2=({self.sigma2[0]:.4f}, {self.sigma2[1]:.4f}))")

    def to_frame(self):
        t = self.coef_table.copy()
        t["sigma2_study"], t["sigma2_within"] = self.sigma2
        return t


def _cr2_vcov(X, W, Phi, e, cluster):
    """CR2 cluster-robust covariance and Satterthwaite df (Bell & McCaffrey, 2002; Pustejovsky & Tipton, 2018).

    ``W`` is the weight matrix of the estimator (here ``Phi^-1``), ``Phi`` the working model.
    ``A_j = D_j' B_j^{-1/2} D_j`` with ``Phi_j = D_j' D_j`` and
    ``B_j = D_j (I - H)_j Phi (I - H)_j' D_j'`` (clubSandwich ``vcovCR(type="CR2")``). The df of
    each coefficient's test are Satterthwaite's under the working model
    (clubSandwich ``coef_test(test="Satterthwaite")``).
    Returns ``(vcov, df)``.
    """
    XtW = X.T @ W
    M = np.linalg.inv(XtW @ X)
    H = X @ M @ XtW
    IH = np.eye(len(e)) - H
    p = X.shape[1]
    meat = np.zeros((p, p))
    G = []  # per cluster: p x k matrices whose products with e give the cluster's score contribution
    for g in pd.unique(cluster):
        j = np.flatnonzero(cluster == g)
        D = np.linalg.cholesky(Phi[np.ix_(j, j)]).T
        B = D @ IH[j] @ Phi @ IH[j].T @ D.T
        val, vec = np.linalg.eigh((B + B.T) / 2)
        inv_sqrt = vec @ np.diag(np.where(val > 1e-12, 1 / np.sqrt(np.clip(val, 1e-300, None)), 0)) @ vec.T
        A = D.T @ inv_sqrt @ D
        u = XtW[:, j] @ A @ e[j]
        meat += np.outer(u, u)
        G.append(M @ XtW[:, j] @ A @ IH[j])
    G = np.stack(G)  # (J, p, k)
    df = np.empty(p)
    for c in range(p):
        Gc = G[:, c, :]  # (J, k)
        S = Gc @ Phi @ Gc.T
        df[c] = np.trace(S) ** 2 / np.sum(S**2)
    return M @ meat @ M, df


@renamed(level="ci_level")
def three_level(data=None, yi="yi", vi="vi", study="study", es_id=None, *, mods=None, robust=False,
                ci_level=0.95):
    """Three-level meta-analysis of dependent effect sizes (REML), optionally with CR2 robust SEs.

    Effect sizes (level 2, ``es_id``) are nested in studies (level 3):
    ``y_ij = b + u_i + w_ij + e_ij`` with ``u ~ N(0, sigma2_1)``, ``w ~ N(0, sigma2_2)``
    (Konstantopoulos, 2011; Van den Noortgate et al., 2013). Matches
    ``metafor::rma.mv(yi, vi, random = ~ 1 | study/es_id, method = "REML")``; with
    ``robust=True`` the coefficient table adds CR2 cluster-robust SEs by study with
    Satterthwaite-df t tests (``clubSandwich::coef_test(vcov = "CR2")``).

    Parameters
    ----------
    data : pandas.DataFrame, optional
        One row per effect size.
    yi, vi, study, es_id : str or array-like
        Effect sizes, sampling variances, study (level 3) and effect (level 2) identifiers:
        column names of ``data`` (metafor's names by default) or arrays.
    mods : str, list of str, array or DataFrame, optional
        Moderators (as :func:`efficacy.meta.random_effects`).
    robust : bool
        Add CR2 cluster-robust inference by study.
    ci_level : float

    Returns
    -------
    ThreeLevelResult
    """
    level = ci_level
    data = data_or_none(data, "three_level", "yi=..., vi=..., study=...")
    yi, vi, study = column(data, yi, "yi"), column(data, vi, "vi"), column(data, study, "study")
    if es_id is not None:
        es_id = column(data, es_id, "es_id")
    y, v = _check_yv(yi, vi)
    study = np.asarray(study)
    X, names = _design(mods, data, y.size)
    k, p = X.shape
    if es_id is not None and pd.DataFrame({"s": study, "e": np.asarray(es_id)}).duplicated().any():
        raise MetaError("es_id is not unique within study", where="es_id")
    n_cl = len(pd.unique(study))
    if k < 3 or n_cl < 2:
        raise MetaError(f"too few effect sizes or studies (k = {k}, studies = {n_cl})", expected="k >= 3, studies >= 2")
    S = (study[:, None] == study[None, :]).astype(float)
    Vd = np.diag(v)

    def nll(theta):
        s1, s2 = np.exp(theta)
        return _reml_negll(y, X, Vd + s1 * S + s2 * np.eye(k))[0]

    best = None
    for start in (np.log([np.var(y) / 2 + 1e-4] * 2), np.log([1e-3, 1e-3]), np.log([0.1, 0.01])):
        r = optimize.minimize(nll, start, method="Nelder-Mead",
                              options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
        r = optimize.minimize(nll, r.x, method="BFGS", options={"gtol": 1e-9})
        if best is None or r.fun < best.fun:
            best = r
    s1, s2 = np.exp(best.x)
    s1 = 0.0 if s1 < 1e-10 else s1
    s2 = 0.0 if s2 < 1e-10 else s2
    Phi = Vd + s1 * S + s2 * np.eye(k)
    nll_val, b, XtVX = _reml_negll(y, X, Phi)
    vb = np.linalg.inv(XtVX)
    se = np.sqrt(np.diag(vb))
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    tab = pd.DataFrame({"term": names, "estimate": b, "se": se, "statistic": b / se,
                        "pvalue": 2 * stats.norm.sf(np.abs(b / se)), "ci_low": b - crit * se, "ci_high": b + crit * se})
    vr = None
    if robust:
        W = np.linalg.inv(Phi)
        vr, df = _cr2_vcov(X, W, Phi, y - X @ b, study)
        se_r = np.sqrt(np.diag(vr))
        tc = stats.t.ppf(1 - (1 - level) / 2, df)
        tab["se_cr2"] = se_r
        tab["statistic_cr2"] = b / se_r
        tab["df_cr2"] = df
        tab["pvalue_cr2"] = 2 * stats.t.sf(np.abs(b / se_r), df)
        tab["ci_low_cr2"] = b - tc * se_r
        tab["ci_high_cr2"] = b + tc * se_r
    QE = _Proj(X, 1 / v, y).yPy
    return ThreeLevelResult(coef_table=tab, sigma2=(float(s1), float(s2)), logLik=float(-nll_val), k=k,
                            n_clusters=n_cl, QE=QE, QE_pvalue=float(stats.chi2.sf(QE, k - p)), vcov=vb,
                            vcov_cr2=vr, converged=bool(best.success) or np.isfinite(best.fun),
                            reason="" if best.success else str(best.message))
