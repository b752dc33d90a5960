"""Dependent effect sizes: the correlated-and-hierarchical-effects (CHE) working model.

Several effect sizes from one study share participants, so their sampling errors correlate,
and they share the study's context, so their true effects correlate too. The CHE working model
of Pustejovsky & Tipton (2022) handles both:

* the within-study sampling covariance is imputed from an assumed correlation ``r``
  (``V_ij = r sqrt(v_i v_j)`` for two effects of one study; :func:`impute_covariance`, as
  ``clubSandwich::impute_covariance_matrix`` and ``metafor::vcalc``);
* a multilevel model with random effects for studies (level 3) and for effects within studies
  (level 2) is fitted by REML with the full block-diagonal ``V``
  (``metafor::rma.mv(yi, V, random = ~ 1 | study/es_id)``);
* since ``r`` is a guess, inference uses cluster-robust CR2 standard errors with Satterthwaite
  degrees of freedom (Bell & McCaffrey, 2002; Tipton, 2015; ``clubSandwich::coef_test(vcov =
  "CR2")``), which stay valid when the working model is wrong.

:func:`che` fits the model and adds the distribution of the variance over the three levels
(Cheung, 2014) and the REML likelihood-ratio test of each level; :func:`che_sensitivity`
refits it over a range of assumed correlations (0.2 to 0.8). All the fits of a call (every
``r``, and for each the two reduced models of the level tests) are one batched Fisher scoring
over per-study blocks padded to the largest study, so a sensitivity table costs about as much
as one fit; the CR2 covariance and Satterthwaite df are computed block-wise in the same batch.
Checked against metafor 3.8 and clubSandwich 0.5 in ``tests/test_meta_dependent.py``
(fixtures written by ``tests/reference/meta_dependent.R``).

Example
-------
>>> import numpy as np, pandas as pd
>>> d = pd.DataFrame({"study": [1, 1, 2, 2, 2, 3, 4, 4, 5, 5],
...                   "yi": [0.3, 0.5, 0.1, 0.2, 0.0, 0.6, 0.4, 0.2, 0.1, 0.35],
...                   "vi": [0.02, 0.03, 0.01, 0.02, 0.015, 0.05, 0.02, 0.03, 0.01, 0.02]})
>>> fit = che(d, r=0.6)   # rma.mv + coef_test(vcov = "CR2") give 0.2519, SE 0.0724, df 3.43
>>> round(fit.estimate, 4), round(fit.se, 4), round(fit.df, 2)
(0.2519, 0.0724, 3.43)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import check_columns, data_or_none, renamed
from .._linalg import ols_resid
from ..errors import DataError
from ..results import ResultMixin
from .univariate import _design

__all__ = ["CHEResult", "CHESensitivityResult", "che", "che_sensitivity", "impute_covariance"]


# --------------------------------------------------------------------------- input handling
def _column(data, value, role):
    if isinstance(value, str):
        if data is None:
            raise DataError(f"column name {value!r} given for {role} but no data=", where=role)
        check_columns(data, [(role, value)])
        return np.asarray(data[value])
    return np.asarray(value)




def _check_r(r):
    ra = np.atleast_1d(np.asarray(r, dtype=float)).ravel()
    if ra.size == 0:
        raise DataError("no within-study correlation given", where="r", expected="-1 < r < 1")
    bad = ~np.isfinite(ra) | (ra <= -1) | (ra >= 1)
    if bad.any():
        raise DataError("the assumed within-study correlation must lie strictly between -1 and 1",
                        where="r", found=ra[bad][0], expected="-1 < r < 1")
    return ra


@dataclass
class _Prepared:
    y: np.ndarray       # (k,) in study order
    v: np.ndarray
    X: np.ndarray       # (k, p)
    names: list
    study: np.ndarray
    yb: np.ndarray      # (J, m) padded blocks
    vb: np.ndarray
    Xb: np.ndarray      # (J, m, p)
    mask: np.ndarray    # (J, m) True for real rows
    dropped: int


def _prepare(data, yi, vi, study, es_id, mods):
    y = _column(data, yi, "yi").astype(float).ravel()
    v = _column(data, vi, "vi").astype(float).ravel()
    s = _column(data, study, "study").ravel()
    k0 = y.size
    if v.size != k0 or s.size != k0:
        raise DataError("yi, vi and study differ in length", found=f"{k0}, {v.size}, {s.size}")
    e = None if es_id is None else _column(data, es_id, "es_id").ravel()
    X, names = _design(mods, data, k0)
    ok = ~(np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1) | pd.isna(s))
    nonpos = np.flatnonzero(ok & (v <= 0))
    if nonpos.size:
        raise DataError("sampling variance must be positive", where=f"row {nonpos[0]}, column vi",
                        found=v[nonpos[0]], expected="> 0")
    y, v, X, s = y[ok], v[ok], X[ok], s[ok]
    if e is not None:
        e = e[ok]
        if pd.DataFrame({"s": s, "e": e}).duplicated().any():
            raise DataError("es_id is not unique within study", where="es_id")
    k, p = X.shape
    if k < p + 1:
        raise DataError(f"too few effect sizes (k = {k}) for {p - 1} moderator(s)", where="yi",
                        found=f"k = {k}", expected=f"k >= {p + 1} (number of moderators + 2)")
    codes, uniq = pd.factorize(s, sort=False)
    J = len(uniq)
    if J < 2:
        raise DataError("the effect sizes come from fewer than two studies", where="study",
                        found=f"{J} study", expected=">= 2 studies (clusters)")
    if np.linalg.matrix_rank(X) < p:
        raise DataError("moderators are collinear (model matrix not of full rank)", where="mods",
                        found=", ".join(names))
    order = np.argsort(codes, kind="stable")
    y, v, X, s, codes = y[order], v[order], X[order], s[order], codes[order]
    sizes = np.bincount(codes, minlength=J)
    m = int(sizes.max())
    pos = np.arange(k) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    yb = np.zeros((J, m))
    vb = np.ones((J, m))
    Xb = np.zeros((J, m, p))
    mask = np.zeros((J, m), bool)
    yb[codes, pos], vb[codes, pos], Xb[codes, pos], mask[codes, pos] = y, v, X, True
    return _Prepared(y, v, X, names, s, yb, vb, Xb, mask, int((~ok).sum()))


def _v_blocks(P, r):
    """Imputed sampling covariance blocks for each r: (B, J, m, m); padded rows are identity."""
    sq = np.sqrt(P.vb) * P.mask
    off = sq[:, :, None] * sq[:, None, :]
    m = P.mask.shape[1]
    eye = np.eye(m, dtype=bool)
    V = r[:, None, None, None] * np.where(eye, 0.0, off)[None]
    V = V + np.where(eye, P.vb[:, :, None], 0.0)[None]
    return V


def impute_covariance(data=None, vi="vi", study="study", *, r):
    """Block-diagonal sampling covariance matrix from an assumed within-study correlation.

    ``V_ii = v_i`` and ``V_ij = r sqrt(v_i v_j)`` when effects ``i`` and ``j`` come from the
    same study, 0 otherwise; rows in the input order. Matches
    ``clubSandwich::impute_covariance_matrix(vi, cluster = study, r = r, return_list = FALSE)``
    and ``metafor::vcalc(vi, cluster = study, obs = es_id, rho = r)``.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The effect sizes; when omitted, ``vi`` and ``study`` are arrays.
    vi : str or array-like
        Sampling variances (a column name of ``data``, default ``"vi"``, or an array).
    study : str or array-like
        Study (cluster) identifier (a column name, default ``"study"``, or an array).
    r : float
        Assumed correlation between the sampling errors of two effects of one study, in (-1, 1).

    Returns
    -------
    numpy.ndarray
        ``(k, k)`` covariance matrix.

    Examples
    --------
    >>> impute_covariance(vi=[0.04, 0.09, 0.01], study=[1, 1, 2], r=0.5).round(4).tolist()
    [[0.04, 0.03, 0.0], [0.03, 0.09, 0.0], [0.0, 0.0, 0.01]]
    """
    data = data_or_none(data, "impute_covariance", "vi=..., study=..., r=...")
    v = _column(data, vi, "vi").astype(float).ravel()
    s = _column(data, study, "study").ravel()
    if v.size != s.size:
        raise DataError("vi and study differ in length", found=f"{v.size} vs {s.size}")
    r = float(_check_r(r)[0]) if np.ndim(r) == 0 else _check_r(r)
    if np.ndim(r) != 0:
        raise DataError("impute_covariance takes one correlation", where="r", found=r)
    same = s[:, None] == s[None, :]
    sq = np.sqrt(v)
    V = np.where(same, r * np.outer(sq, sq), 0.0)
    np.fill_diagonal(V, v)
    return V


# --------------------------------------------------------------------------- batched REML fit
def _state(P, V, G, theta):
    """Marginal covariance and REML quantities for a batch of variance components."""
    S = V + np.einsum("ba,ajmn->bjmn", theta, G)
    L = np.linalg.cholesky(S)
    Sinv = np.linalg.inv(S)
    Sinv = (Sinv + np.swapaxes(Sinv, -1, -2)) / 2
    A = Sinv @ P.Xb[None]                                     # (B, J, m, p)
    XtSX = (np.swapaxes(P.Xb, -1, -2)[None] @ A).sum(axis=1)
    M = np.linalg.inv(XtSX)
    Sy = (Sinv @ P.yb[None, ..., None])[..., 0]
    beta = np.einsum("bpq,bq->bp", M, np.einsum("jmp,bjm->bp", P.Xb, Sy))
    Py = Sy - np.einsum("bjmp,bp->bjm", A, beta)
    yPy = np.einsum("bjm,jm->b", Py, P.yb)
    logdet = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=(-1, -2))
    k, p = P.X.shape
    ll = (-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(P.X.T @ P.X)[1]
          - 0.5 * logdet - 0.5 * np.linalg.slogdet(XtSX)[1] - 0.5 * yPy)
    return {"S": S, "L": L, "Sinv": Sinv, "A": A, "M": M, "beta": beta, "Py": Py, "ll": ll}


def _score_info(P, G, st):
    """REML score and expected information of the variance components (Harville, 1977).

    ``U_a = -tr(P G_a) / 2 + y'P G_a P y / 2`` and ``F_ac = tr(P G_a P G_c) / 2`` with
    ``P = S^-1 - S^-1 X M X' S^-1``, expanded block-wise:
    ``tr(P G_a P G_c) = tr(S^-1 G_a S^-1 G_c) - 2 tr(M N_ac) + tr(M K_a M K_c)``,
    ``K_a = X'S^-1 G_a S^-1 X``, ``N_ac = X'S^-1 G_a S^-1 G_c S^-1 X``.
    """
    Sinv, A, M, Py = st["Sinv"], st["A"], st["M"], st["Py"]
    q = G.shape[0]
    GA = G[:, None] @ A[None]                                  # (q, B, J, m, p): G_a S^-1 X
    At = np.swapaxes(A, -1, -2)
    K = (At[None] @ GA).sum(axis=2)                            # (q, B, p, p)
    C = Sinv[None] @ G[:, None]                                # (q, B, J, m, m): S^-1 G_a
    trPG = np.trace(C, axis1=-2, axis2=-1).sum(-1) - np.einsum("bpq,abqp->ab", M, K)
    GPy = G[:, None] @ Py[None, ..., None]                     # (q, B, J, m, 1)
    PyGPy = (Py[None, ..., None] * GPy).sum(axis=(-3, -2, -1))
    U = (-0.5 * trPG + 0.5 * PyGPy).T                          # (B, q)
    # P applied to G_a P y (for the observed information): S^-1 z - S^-1 X M X' S^-1 z
    z = GPy[..., 0]                                            # (q, B, J, m)
    Sz = (Sinv[None] @ z[..., None])[..., 0]
    XtSz = np.einsum("jmp,abjm->abp", P.Xb, Sz)
    PGPy = Sz - np.einsum("bjmp,bpq,abq->abjm", A, M, XtSz)
    F = np.empty((U.shape[0], q, q))
    H = np.empty_like(F)                                       # observed information
    SGA = Sinv[None] @ GA                                      # S^-1 G_a S^-1 X
    for a in range(q):
        for c in range(a, q):
            T = (C[a] * np.swapaxes(C[c], -1, -2)).sum(axis=(-3, -2, -1))
            N = (np.swapaxes(GA[a], -1, -2) @ SGA[c]).sum(axis=1)
            MKa, MKc = M @ K[a], M @ K[c]
            val = 0.5 * (T - 2 * np.einsum("bpq,bqp->b", M, N) + np.einsum("bpq,bqp->b", MKa, MKc))
            F[:, a, c] = F[:, c, a] = val
            H[:, a, c] = H[:, c, a] = (z[a] * PGPy[c]).sum(axis=(-2, -1)) - val
    return U, F, H


def _fit_batch(P, V, G, fixed, maxiter=500, tol=1e-10):
    """REML estimates of the variance components for a batch of models.

    ``V`` (B, J, m, m): known sampling covariance blocks; ``G`` (q, J, m, m): the design of each
    variance component; ``fixed`` (B, q): components held at 0 (the reduced models). Newton
    steps with the observed information where it is positive definite, Fisher scoring
    otherwise; components stay non-negative (a component at 0 whose score points below 0 is held
    there) and a step that lowers the REML log-likelihood is halved.
    """
    B, q = fixed.shape
    k, p = P.X.shape
    e = ols_resid(P.y, P.X)
    total = max(float(e @ e) / (k - p) - float(P.v.mean()), 0.05 * float(np.var(P.y)) + 1e-8)
    theta = np.where(fixed, 0.0, total / q)
    st = _state(P, V, G, theta)
    converged = np.zeros(B, bool)
    it = 0
    eye = np.eye(q)[None]
    for it in range(1, maxiter + 1):
        U, F, H = _score_info(P, G, st)
        free = ~fixed & ~((theta <= 0) & (U <= 0))
        both = free[:, :, None] & free[:, None, :]
        Hm = np.where(both, H, eye)
        pd_ok = (np.linalg.eigvalsh(Hm) > 0).all(axis=1)
        info = np.where(pd_ok[:, None, None], Hm, np.where(both, F, eye))
        delta = np.linalg.solve(info, np.where(free, U, 0.0)[..., None])[..., 0]
        step = np.ones(B)
        new = np.maximum(theta + delta, 0.0)
        st_new = _state(P, V, G, new)
        for _ in range(40):  # halve the step where the likelihood went down
            worse = st_new["ll"] < st["ll"] - 1e-12 * np.abs(st["ll"])
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            new = np.where(worse[:, None], np.maximum(theta + step[:, None] * delta, 0.0), new)
            st_new = _state(P, V, G, new)
        change = np.abs(new - theta).max(axis=1)
        theta, st = new, st_new
        converged = change < tol * (1 + theta.max(axis=1))
        if converged.all():
            break
    return theta, st, converged, it


# --------------------------------------------------------------------------- CR2 (block-wise)
def _cr2_blocks(P, st):
    """CR2 covariance and Satterthwaite df for a batch, working block by block.

    With ``W = Phi^-1`` (the fitted model's marginal covariance) the matrix
    ``(I - H) Phi (I - H)'`` is ``Phi - X M X'``, so the adjustment matrix of study ``j`` is
    ``A_j = D_j' B_j^{-1/2} D_j`` with ``Phi_j = D_j' D_j`` and
    ``B_j = D_j (Phi_j - X_j M X_j') D_j'`` (Bell & McCaffrey, 2002; Pustejovsky & Tipton,
    2018), and the Satterthwaite df of coefficient ``c`` is ``tr(S)^2 / sum(S^2)`` with
    ``S_jl = q_j' (Phi - X M X')_jl q_l``, ``q_j = A_j W_j X_j M e_c`` (clubSandwich's
    ``coef_test(test = "Satterthwaite")`` under the working model). Same numbers as
    ``efficacy.meta.multilevel._cr2_vcov`` without forming ``k x k`` matrices.
    """
    Xb = P.Xb
    Phi, Sinv, M, L = st["S"], st["Sinv"], st["M"], st["L"]
    D = np.swapaxes(L, -1, -2)                                 # Phi_j = D' D
    XMX = np.einsum("jmp,bpq,jnq->bjmn", Xb, M, Xb)
    Bm = D @ (Phi - XMX) @ np.swapaxes(D, -1, -2)
    Bm = (Bm + np.swapaxes(Bm, -1, -2)) / 2
    val, vec = np.linalg.eigh(Bm)
    inv_sqrt_val = np.where(val > 1e-12, 1 / np.sqrt(np.clip(val, 1e-300, None)), 0.0)
    Bis = (vec * inv_sqrt_val[..., None, :]) @ np.swapaxes(vec, -1, -2)
    Adj = np.swapaxes(D, -1, -2) @ Bis @ D                     # (B, J, m, m)
    e = P.yb[None] - np.einsum("jmp,bp->bjm", Xb, st["beta"])  # padded residuals are 0
    WX = Sinv @ Xb[None]                                       # W_j X_j
    u = np.einsum("bjmp,bjmn,bjn->bjp", WX, Adj, e)            # X_j' W_j A_j e_j
    vc = np.einsum("bpq,bjq,bjr,brs->bps", M, u, u, M)
    Q = np.einsum("bjmn,bjnp,bpc->bjmc", Adj, WX, M)           # column c: q_j for coefficient c
    d = np.einsum("bjmc,bjmn,bjnc->bcj", Q, Phi, Q)            # q_j' Phi_j q_j
    R = np.einsum("jmp,bjmc->bcjp", Xb, Q)                     # X_j' q_j
    RMR = np.einsum("bcjp,bpq,bclq->bcjl", R, M, R)
    J = Xb.shape[0]
    Sm = np.eye(J)[None, None] * d[..., None] - RMR            # (B, p, J, J)
    df = np.einsum("bcjj->bc", Sm) ** 2 / np.einsum("bcjl,bcjl->bc", Sm, Sm)
    return vc, df


# --------------------------------------------------------------------------- results
@dataclass
class CHEResult(ResultMixin):
    """Result of :func:`che` (``rma.mv`` + ``clubSandwich::coef_test(vcov = "CR2")``).

    The headline attributes (``estimate``, ``se``, ``df``, ``statistic``, ``pvalue``,
    ``ci_low``, ``ci_high``) are the intercept's robust (CR2, Satterthwaite) inference;
    ``coef_table`` holds every coefficient with both the model-based and the robust columns.
    ``variance`` is the distribution of the variance over the three levels with the LRT of
    each level.
    """

    r: float
    k: int
    n_studies: int
    coef_table: pd.DataFrame
    sigma2: tuple
    variance: pd.DataFrame
    typical_v: float
    logLik: float
    QE: float
    QE_df: int
    QE_pvalue: float
    vcov: np.ndarray = field(repr=False)
    vcov_cr2: np.ndarray = field(repr=False)
    ci_level: float = 0.95
    dropped: int = 0
    converged: bool = True
    reason: str = ""

    _headline = ("estimate", "se", "df", "statistic", "pvalue", "ci", "sigma2", "k", "n_studies")
    _title = "CHE working model with CR2 robust inference"

    @property
    def ci(self) -> tuple:
        """CR2 (Satterthwaite t) interval of the intercept."""
        return self.ci_low, self.ci_high

    def _head(self, col):
        return float(self.coef_table[col].iloc[0])

    @property
    def estimate(self):
        return self._head("estimate")

    @property
    def se(self):
        return self._head("se_cr2")

    @property
    def df(self):
        return self._head("df_cr2")

    @property
    def statistic(self):
        return self._head("statistic_cr2")

    @property
    def pvalue(self):
        return self._head("pvalue_cr2")

    @property
    def ci_low(self):
        return self._head("ci_low_cr2")

    @property
    def ci_high(self):
        return self._head("ci_high_cr2")

    def __repr__(self):
        return (f"CHEResult(r={self.r:g}, k={self.k}, studies={self.n_studies}, estimate={self.estimate:.4f}, "
                f"se_CR2={self.se:.4f}, df={self.df:.2f}, sigma2=({self.sigma2[0]:.4f}, {self.sigma2[1]:.4f}))")

    def to_frame(self):
        """Tidy coefficient table: one row per term and inference (``CR2`` robust, ``model``)."""
        t = self.coef_table
        rob = pd.DataFrame({"term": t["term"], "vcov": "CR2", "estimate": t["estimate"], "se": t["se_cr2"],
                            "statistic": t["statistic_cr2"], "df": t["df_cr2"], "pvalue": t["pvalue_cr2"],
                            "ci_low": t["ci_low_cr2"], "ci_high": t["ci_high_cr2"]})
        mod = pd.DataFrame({"term": t["term"], "vcov": "model", "estimate": t["estimate"], "se": t["se"],
                            "statistic": t["statistic"], "df": np.inf, "pvalue": t["pvalue"],
                            "ci_low": t["ci_low"], "ci_high": t["ci_high"]})
        return pd.concat([rob, mod], ignore_index=True).assign(r=self.r)

    def summary(self):
        """A short plain-text report."""
        lines = [f"CHE working model (r = {self.r:g}), REML; k = {self.k} effects in {self.n_studies} studies"
                 + (f" ({self.dropped} rows with missing values dropped)" if self.dropped else ""),
                 "", "Coefficients (CR2 robust SEs, Satterthwaite df):",
                 f"{'term':<14}{'estimate':>10}{'se':>9}{'t':>9}{'df':>8}{'p':>10}{'ci_low':>10}{'ci_high':>10}"]
        for _, row in self.coef_table.iterrows():
            lines.append(f"{row['term']!s:<14}{row['estimate']:>10.4f}{row['se_cr2']:>9.4f}{row['statistic_cr2']:>9.3f}"
                         f"{row['df_cr2']:>8.2f}{row['pvalue_cr2']:>10.4g}{row['ci_low_cr2']:>10.4f}{row['ci_high_cr2']:>10.4f}")
        lines += ["", "Variance over levels (Cheung, 2014) and REML LRT of each level:",
                  f"{'level':<10}{'variance':>10}{'share %':>9}{'LRT':>10}{'p':>10}"]
        for _, row in self.variance.iterrows():
            lrt = "" if np.isnan(row["LRT"]) else f"{row['LRT']:>10.3f}{row['pvalue']:>10.4g}"
            lines.append(f"{row['level']:<10}{row['variance']:>10.4f}{row['share']:>9.2f}{lrt}")
        lines.append(f"\nQE({self.QE_df}) = {self.QE:.3f}, p = {self.QE_pvalue:.4g}; REML logLik = {self.logLik:.4f}")
        if not self.converged:
            lines.append(f"NOT CONVERGED: {self.reason}")
        return "\n".join(lines)

    def to_dict(self):
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "model": "CHE", "r": self.r, "k": self.k, "n_studies": self.n_studies, "ci_level": self.ci_level,
                "coefficients": _records(self.coef_table), "sigma2": {"between": self.sigma2[0],
                                                                      "within": self.sigma2[1]},
                "variance": _records(self.variance), "typical_v": self.typical_v, "logLik": self.logLik,
                "QE": self.QE, "QE_df": self.QE_df, "QE_pvalue": self.QE_pvalue,
                "vcov": self.vcov.tolist(), "vcov_cr2": self.vcov_cr2.tolist(), "dropped": self.dropped,
                "converged": self.converged, "reason": self.reason}


def _records(df):
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out


@dataclass
class CHESensitivityResult(ResultMixin):
    """Result of :func:`che_sensitivity`: the CHE fit for each assumed correlation ``r``."""

    r: np.ndarray
    fits: list = field(repr=False)

    _headline = ("estimate_range",)
    _title = "CHE sensitivity to the assumed within-study correlation"

    @property
    def estimate(self):
        """Intercept estimate for each ``r``."""
        return np.array([f.estimate for f in self.fits])

    @property
    def se(self):
        """CR2 SE of the intercept for each ``r``."""
        return np.array([f.se for f in self.fits])

    @property
    def estimate_range(self):
        """Smallest and largest intercept estimate over the ``r`` values."""
        return float(self.estimate.min()), float(self.estimate.max())

    def __repr__(self):
        lo, hi = self.estimate_range
        return f"CHESensitivityResult(r={list(np.round(self.r, 3))}, estimate range=[{lo:.4f}, {hi:.4f}])"

    def to_frame(self):
        """One row per ``r`` and term: robust inference, model-based SE, variance components, shares."""
        rows = []
        for f in self.fits:
            var = f.variance.set_index("level")
            for _, t in f.coef_table.iterrows():
                rows.append({"r": f.r, "term": t["term"], "estimate": t["estimate"], "se": t["se_cr2"],
                             "statistic": t["statistic_cr2"], "df": t["df_cr2"], "pvalue": t["pvalue_cr2"],
                             "ci_low": t["ci_low_cr2"], "ci_high": t["ci_high_cr2"], "se_model": t["se"],
                             "sigma2_between": f.sigma2[0], "sigma2_within": f.sigma2[1],
                             "share_sampling": var.loc["sampling", "share"],
                             "share_within": var.loc["within", "share"],
                             "share_between": var.loc["between", "share"],
                             "LRT_between": var.loc["between", "LRT"], "LRT_within": var.loc["within", "LRT"],
                             "logLik": f.logLik, "converged": f.converged})
        return pd.DataFrame(rows)

    def summary(self):
        """A short plain-text table (intercept across ``r``)."""
        lines = ["CHE sensitivity to the assumed within-study correlation (intercept; CR2 SE, Satterthwaite df)",
                 (f"{'r':>5}{'estimate':>10}{'se':>9}{'df':>8}{'p':>10}{'ci_low':>10}{'ci_high':>10}"
                 f"{'s2_betw':>10}{'s2_with':>10}")]
        for f in self.fits:
            lines.append(f"{f.r:>5.2f}{f.estimate:>10.4f}{f.se:>9.4f}{f.df:>8.2f}{f.pvalue:>10.4g}"
                         f"{f.ci_low:>10.4f}{f.ci_high:>10.4f}{f.sigma2[0]:>10.4f}{f.sigma2[1]:>10.4f}")
        lo, hi = self.estimate_range
        lines.append(f"estimate ranges from {lo:.4f} to {hi:.4f}")
        return "\n".join(lines)

    def to_dict(self):
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "model": "CHE sensitivity", "r": self.r.tolist(), "fits": [f.to_dict() for f in self.fits]}


# --------------------------------------------------------------------------- public fitting functions
def _che_batch(P, rs, level, maxiter, tol):
    """Fit the CHE model for every r, with the two reduced models of each, in one batch."""
    R = rs.size
    m = P.mask.shape[1]
    if m > 1:
        floor = -1 / (m - 1)
        if (rs <= floor).any():
            raise DataError("the imputed sampling covariance is not positive definite for the largest study",
                            where="r", found=rs[rs <= floor][0], expected=f"r > {floor:.4g} (studies with {m} effects)")
    V = _v_blocks(P, np.repeat(rs, 3))
    G = np.stack([P.mask[:, :, None] & P.mask[:, None, :],             # study (between)
                  np.eye(m, dtype=bool)[None] & P.mask[:, :, None]]).astype(float)  # effect (within)
    fixed = np.tile(np.array([[False, False], [True, False], [False, True]]), (R, 1))
    theta, st, conv, iters = _fit_batch(P, V, G, fixed, maxiter=maxiter, tol=tol)
    full = np.arange(R) * 3
    sub = {k: v[full] for k, v in st.items()}
    vc, df = _cr2_blocks(P, sub)
    # Cochran-type QE with the sampling covariance alone (metafor rma.mv's QE)
    V0 = _v_blocks(P, rs)
    st0 = _state(P, V0, G, np.zeros((R, 2)))
    QE = np.einsum("bjm,jm->b", st0["Py"], P.yb)
    k, p = P.X.shape
    w = 1 / P.v
    vt = (k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())  # Cheung (2014) / Higgins & Thompson (2002)
    zc = stats.norm.ppf(1 - (1 - level) / 2)
    out = []
    for i, r in enumerate(rs):
        b = full[i]
        beta, vb = st["beta"][b], st["M"][b]
        se = np.sqrt(np.diag(vb))
        se_r = np.sqrt(np.diag(vc[i]))
        tc = stats.t.ppf(1 - (1 - level) / 2, df[i])
        tab = pd.DataFrame({"term": P.names, "estimate": beta, "se": se, "statistic": beta / se,
                            "pvalue": 2 * stats.norm.sf(np.abs(beta / se)), "ci_low": beta - zc * se,
                            "ci_high": beta + zc * se, "se_cr2": se_r, "statistic_cr2": beta / se_r, "df_cr2": df[i],
                            "pvalue_cr2": 2 * stats.t.sf(np.abs(beta / se_r), df[i]),
                            "ci_low_cr2": beta - tc * se_r, "ci_high_cr2": beta + tc * se_r})
        s2 = theta[b]
        ll = st["ll"][b]
        lrt = np.maximum(0.0, 2 * (ll - st["ll"][[b + 1, b + 2]]))
        total = s2.sum() + vt
        variance = pd.DataFrame({"level": ["sampling", "within", "between"],
                                 "component": ["level 1: sampling error", "level 2: effects within studies",
                                               "level 3: between studies"],
                                 "variance": [vt, s2[1], s2[0]],
                                 "share": 100 * np.array([vt, s2[1], s2[0]]) / total,
                                 "LRT": [np.nan, lrt[1], lrt[0]], "df": [np.nan, 1.0, 1.0],
                                 "pvalue": [np.nan, stats.chi2.sf(lrt[1], 1), stats.chi2.sf(lrt[0], 1)]})
        ok = bool(conv[[b, b + 1, b + 2]].all())
        out.append(CHEResult(r=float(r), k=k, n_studies=P.mask.shape[0], coef_table=tab,
                             sigma2=(float(s2[0]), float(s2[1])), variance=variance, typical_v=float(vt),
                             logLik=float(ll), QE=float(QE[i]), QE_df=k - p,
                             QE_pvalue=float(stats.chi2.sf(QE[i], k - p)), vcov=vb, vcov_cr2=vc[i], ci_level=level,
                             dropped=P.dropped, converged=ok,
                             reason="" if ok else f"Fisher scoring did not converge in {iters} iterations"))
    return out


@renamed(level="ci_level")
def che(data=None, yi="yi", vi="vi", study="study", es_id=None, *, r=0.6, mods=None, ci_level=0.95,
        maxiter=500, tol=1e-10):
    """Correlated-and-hierarchical-effects (CHE) model with CR2 robust inference.

    Imputes the within-study sampling covariance from the assumed correlation ``r``
    (:func:`impute_covariance`), fits the three-level model
    ``y_ij = x_ij'b + u_i + w_ij + e_ij`` with ``u ~ N(0, sigma2_between)``,
    ``w ~ N(0, sigma2_within)`` and ``Cov(e_i) = V_i`` by REML, and tests the coefficients with
    CR2 cluster-robust standard errors and Satterthwaite degrees of freedom, clustered by study.
    Matches ``V <- metafor::vcalc(vi, cluster = study, obs = es_id, rho = r)``;
    ``fit <- metafor::rma.mv(yi, V, mods = ..., random = ~ 1 | study/es_id)``;
    ``clubSandwich::coef_test(fit, vcov = "CR2")``. With ``r = 0`` it is the three-level model of
    :func:`efficacy.meta.three_level` with ``robust=True``.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The effect sizes; when omitted, ``yi``, ``vi``, ``study`` (and ``es_id``) are arrays.
    yi, vi, study : str or array-like
        Effect sizes, sampling variances and study (cluster) identifiers.
    es_id : str or array-like, optional
        Effect identifier within study (must be unique within study); default the row.
    r : float
        Assumed correlation between sampling errors of two effects of one study, in (-1, 1);
        Pustejovsky & Tipton (2022) suggest a plausible value (often 0.6) and a sensitivity
        analysis (:func:`che_sensitivity`).
    mods : str, list of str, array or DataFrame, optional
        Moderators (column names of ``data``; non-numeric columns treatment-coded against their
        first level) or a matrix; an intercept is always added.
    ci_level : float
        Confidence level.
    maxiter, tol : int, float
        Fisher scoring limits (convergence when no variance component changes by more than
        ``tol * (1 + max component)``).

    Returns
    -------
    CHEResult
        ``coef_table`` (model-based z tests ``statistic``, ``pvalue`` and CR2 columns ``se_cr2``,
        ``statistic_cr2``, ``df_cr2``, ``pvalue_cr2``, ``ci_low_cr2``, ``ci_high_cr2``),
        ``sigma2 = (between, within)``,
        ``variance``: the share of the total variance at each level (Cheung, 2014: the level's
        variance over ``sigma2_between + sigma2_within + v~``, with the typical sampling variance
        ``v~ = (k - 1) sum(w) / ((sum w)^2 - sum(w^2))``, ``w = 1/vi``) and the REML
        likelihood-ratio test of each level against the model with that variance fixed at 0
        (1 df, as ``anova(full, reduced)`` in metafor), plus ``QE`` and the REML ``logLik``.

    Raises
    ------
    DataError
        ``r`` outside (-1, 1) (or so negative that ``V`` is not positive definite), fewer
        effect sizes than moderators + 2, fewer than two studies, non-positive ``vi``, a
        duplicated ``es_id`` within a study, collinear moderators, a missing column.

    References
    ----------
    Pustejovsky, J. E., & Tipton, E. (2022). Meta-analysis with robust variance estimation:
    expanding the range of working models. *Prevention Science*, 23, 425-438.
    Cheung, M. W.-L. (2014). Modeling dependent effect sizes with three-level meta-analyses:
    a structural equation modeling approach. *Psychological Methods*, 19(2), 211-229.
    Tipton, E. (2015). Small sample adjustments for robust variance estimation with
    meta-regression. *Psychological Methods*, 20(3), 375-393.
    Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
    regression with multi-stage samples. *Survey Methodology*, 28(2), 169-181.

    Examples
    --------
    >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 2, 3, 4, 4, 5, 5],
    ...                   "yi": [0.3, 0.5, 0.1, 0.2, 0.0, 0.6, 0.4, 0.2, 0.1, 0.35],
    ...                   "vi": [0.02, 0.03, 0.01, 0.02, 0.015, 0.05, 0.02, 0.03, 0.01, 0.02]})
    >>> fit = che(d, r=0.6)
    >>> list(fit.variance["level"])
    ['sampling', 'within', 'between']
    """
    ra = _check_r(r)
    if ra.size != 1:
        raise DataError("che takes one correlation; use che_sensitivity for several", where="r", found=list(ra))
    P = _prepare(data_or_none(data, "che", "yi=..., vi=..., study=..."), yi, vi, study, es_id, mods)
    return _che_batch(P, ra, ci_level, maxiter, tol)[0]


@renamed(level="ci_level")
def che_sensitivity(data=None, yi="yi", vi="vi", study="study", es_id=None, *,
                    r=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), mods=None, ci_level=0.95, maxiter=500, tol=1e-10):
    """Sensitivity of the CHE model to the assumed within-study correlation.

    Fits :func:`che` for each ``r`` (default 0.2 to 0.8 by 0.1, the range Pustejovsky & Tipton,
    2022, suggest) in one batched computation and tabulates the estimates, CR2 inference,
    variance components, their shares and level tests per ``r``. Each row matches
    ``rma.mv(yi, vcalc(vi, study, obs = es_id, rho = r), random = ~ 1 | study/es_id)`` with
    ``clubSandwich::coef_test(vcov = "CR2")``.

    Parameters
    ----------
    data, yi, vi, study, es_id, mods, ci_level, maxiter, tol
        As :func:`che`.
    r : sequence of float
        Assumed correlations, each in (-1, 1).

    Returns
    -------
    CHESensitivityResult
        ``fits`` (one :class:`CHEResult` per ``r``), ``estimate``/``se`` arrays,
        ``estimate_range``, ``.to_frame()`` (one row per ``r`` and term).

    Examples
    --------
    >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 2, 3, 4, 4, 5, 5],
    ...                   "yi": [0.3, 0.5, 0.1, 0.2, 0.0, 0.6, 0.4, 0.2, 0.1, 0.35],
    ...                   "vi": [0.02, 0.03, 0.01, 0.02, 0.015, 0.05, 0.02, 0.03, 0.01, 0.02]})
    >>> sens = che_sensitivity(d)
    >>> len(sens.to_frame())
    7
    """
    ra = _check_r(r)
    P = _prepare(data_or_none(data, "che_sensitivity", "yi=..., vi=..., study=..."), yi, vi, study, es_id, mods)
    return CHESensitivityResult(r=ra, fits=_che_batch(P, ra, ci_level, maxiter, tol))
