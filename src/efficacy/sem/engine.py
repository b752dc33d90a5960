"""Maximum-likelihood structural equation models (a small lavaan-compatible engine).

:func:`sem` fits a model written in a subset of lavaan syntax (``=~``, ``~``,
``~~``, ``~ 1``, fixed values ``1*x``, labels ``a*x`` = equality constraints)
by normal-theory maximum likelihood (Joreskog, 1969), with full-information ML
for missing data (Arbuckle, 1996) and the conventions of R's
``lavaan::lavaan()`` / ``lavaan::sem()`` (Rosseel, 2012): the log-likelihood
uses covariances divided by *n*, exogenous observed covariates are fixed at
their sample moments (``fixed.x = TRUE``), standard errors come from the
expected information (complete data) or the observed information (FIML), and
fit measures follow ``lavaan::fitMeasures`` (chisq, df, CFI, TLI, RMSEA with a
90% CI, SRMR (Bentler), AIC, BIC).

The model is held in RAM form (McArdle & McDonald, 1984): all variables
(observed and latent) in one vector, ``A`` (directed paths), ``S``
(variances and covariances) and ``m`` (intercepts), so that
``Sigma = F (I - A)^-1 S (I - A)^-T F'`` and ``mu = F (I - A)^-1 m``.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
*Journal of Statistical Software, 48*(2), 1-36.
Arbuckle, J. L. (1996). Full information estimation in the presence of
incomplete data. In Marcoulides & Schumacker (Eds.), *Advanced structural
equation modeling* (pp. 243-277). Erlbaum.
McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of the
reticular action model for moment structures. *British Journal of
Mathematical and Statistical Psychology, 37*, 234-251.

Examples
--------
>>> from efficacy.sem import sem
>>> res = sem(df, "f =~ x1 + x2 + x3", auto="cfa")                 # doctest: +SKIP
>>> res.fit["chisq"], res.fit["cfi"], res.estimates                  # doctest: +SKIP
>>> inv = sem(df, model, group="culture", equal=("loadings", "intercepts"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats

from .._api import missing_column
from ..errors import SEMError
from ..results import FitMeasures, ResultMixin
from . import robust as sem_robust
from .fit import ml_indices, srmr_terms, std_all

__all__ = ["SEMError", "SEMResult", "parse_model", "sem"]

_LOG2PI = np.log(2 * np.pi)


class _NoSE(Exception):
    """Internal: standard errors not requested (``se=False``)."""


# --------------------------------------------------------------------------- syntax


def _split_terms(s):
    return [t.strip() for t in s.split("+") if t.strip()]


def _term(t):
    """'a*x' -> (modifier, name); modifier is float (fixed), str (label) or None."""
    if "*" in t:
        mod, name = (p.strip() for p in t.split("*", 1))
        try:
            return float(mod), name
        except ValueError:
            if not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", mod):
                raise SEMError("bad modifier in model syntax", found=t,
                               expected="number*variable or label*variable") from None
            return mod, name
    return None, t


def parse_model(model):
    """Parse lavaan syntax into a list of (lhs, op, rhs, modifier) tuples.

    Supported: ``=~`` (loadings), ``~`` (regressions, several left-hand sides
    allowed), ``~~`` (variances, covariances), ``~ 1`` (intercepts); modifiers
    ``1*x`` (fixed) and ``a*x`` (label; equal labels = equal parameters).
    """
    rows = []
    for raw in re.split(r"[\n;]", model):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(.*?)(=~|~~|~)(.*)$", line)
        if not m:
            raise SEMError("cannot parse a line of the model syntax", found=line,
                           expected="a line with =~, ~ or ~~")
        lhs_s, op, rhs_s = m.group(1), m.group(2), m.group(3)
        lhss = _split_terms(lhs_s)
        if not lhss or not rhs_s.strip():
            raise SEMError("incomplete line in the model syntax", found=line)
        for lhs in lhss:
            for t in _split_terms(rhs_s):
                mod, name = _term(t)
                if op == "~" and name == "1":
                    rows.append((lhs, "~1", "", mod))
                else:
                    rows.append((lhs, op, name, mod))
    return rows


# --------------------------------------------------------------------------- results


@dataclass
class SEMResult(FitMeasures, ResultMixin):
    """A fitted SEM.

    Attributes
    ----------
    converged : bool
    proper : bool
        False for negative variances or non-positive-definite implied matrices.
    warnings : list of str
    fit : dict
        lavaan ``fitMeasures`` names (``chisq``, ``df``, ``pvalue``, ``cfi``,
        ``tli``, ``rmsea``, ``rmsea_ci_low``, ``rmsea_ci_high``, ``srmr``,
        ``loglik``, ``aic``, ``bic``, ``npar``, ``n``, ``baseline_chisq``,
        ``baseline_df``, ``loglik_saturated``).
    estimates : pandas.DataFrame
        lavaan ``parameterEstimates`` + ``standardizedSolution`` columns:
        lhs, op, rhs, group, label, free, estimate (lavaan's ``est``), se, statistic (lavaan's
        ``z``), pvalue, ci_low, ci_high, std_all (``std.all``).
    vcov : pandas.DataFrame
        Covariance matrix of the free (unique) parameters.
    loglik : float
    estimator : str
        "ML", "MLR", "MLM" or "WLSMV" (lavaan's ``estimator=``).
    test : str
        lavaan's name of the test statistic(s): "standard" (ML), "yuan.bentler.mplus" (MLR),
        "satorra.bentler" (MLM), "scaled.shifted" (WLSMV). The scaled statistic and the robust indices are in ``fit``
        (``chisq.scaled``, ``chisq.scaling.factor``, ``cfi.robust``, ...).
    information : str
        "expected" or "observed": the information matrix behind the standard errors.
    se_type : str
        lavaan's ``se=``: "standard", "robust.huber.white", "robust.sem", "robust.cluster",
        "robust.cluster.sem".
    cluster : str or None
        The cluster column of cluster-robust standard errors and test.
    """

    converged: bool
    proper: bool
    warnings: list
    fit: dict
    estimates: pd.DataFrame
    vcov: pd.DataFrame
    loglik: float
    missing: str = "listwise"
    n: int = 0
    estimator: str = "ML"
    test: str = "standard"
    information: str = "expected"
    se_type: str = "standard"
    cluster: str | None = None

    _headline = ("converged", "proper", "n", "chisq", "df", "cfi", "tli", "rmsea", "srmr")
    _title = "Structural equation model"

    def _summary_title(self) -> str:
        est = self.estimator + (f", cluster = {self.cluster}" if self.cluster else "")
        return f"Structural equation model ({est}) ({type(self).__name__})"
    _summary_columns = ("lhs", "op", "rhs", "group", "label", "estimate", "se", "statistic", "pvalue", "ci_low",
                        "ci_high", "std_all")

    def to_frame(self) -> pd.DataFrame:
        """The parameter table (one row per parameter)."""
        return self.estimates.copy()

    def __repr__(self):
        f = self.fit
        return (f"SEMResult(n={self.n}, estimator={self.estimator!r}, missing={self.missing!r}, "
                f"converged={self.converged}, "
                f"proper={self.proper}, chisq={f.get('chisq', np.nan):.3f}, df={f.get('df', np.nan):g}, "
                f"cfi={f.get('cfi', np.nan):.3f}, rmsea={f.get('rmsea', np.nan):.3f}, "
                f"srmr={f.get('srmr', np.nan):.3f}, npar={f.get('npar', 0)})")


# --------------------------------------------------------------------------- model building


class _Model:
    def __init__(self, rows, data_cols, auto, meanstructure, free_lv_means=False):
        latents = []
        for lhs, op, rhs, mod in rows:
            if op == "=~" and lhs not in latents:
                latents.append(lhs)
        names = []
        for lhs, op, rhs, mod in rows:
            for v in (lhs, rhs):
                if v and v not in names:
                    names.append(v)
        obs = [v for v in names if v not in latents]
        bad = [v for v in obs if v not in data_cols]
        if bad:  # a DataError naming the first one and its closest column names
            raise missing_column(bad[0], data_cols, "an observed variable of the model; latent variables need =~")
        self.latents, self.obs = latents, obs
        self.vars = obs + latents
        idx = {v: i for i, v in enumerate(self.vars)}
        self.idx = idx
        # which observed variables are exogenous covariates (fixed.x)
        dep = {lhs for lhs, op, rhs, mod in rows if op == "~"}
        ind = {rhs for lhs, op, rhs, mod in rows if op == "=~"}
        regs = {rhs for lhs, op, rhs, mod in rows if op == "~"}
        self.ov_x = [v for v in obs if v in regs and v not in dep and v not in ind]
        # parameter table: list of dict(lhs, op, rhs, mod, mat, i, j)
        table = []
        seen = set()

        def add(lhs, op, rhs, mod, user=True):
            if op == "~~":
                key = (op,) + tuple(sorted((lhs, rhs)))
            else:
                key = (lhs, op, rhs)
            if key in seen:
                for r in table:
                    rk = (r["op"],) + tuple(sorted((r["lhs"], r["rhs"]))) if r["op"] == "~~" else (
                        r["lhs"], r["op"], r["rhs"])
                    if rk == key and mod is not None and user:
                        r["mod"] = mod
                return
            seen.add(key)
            table.append(dict(lhs=lhs, op=op, rhs=rhs, mod=mod, user=user))

        first_loading = {}
        for lhs, op, rhs, mod in rows:
            if op == "=~" and auto != "none" and lhs not in first_loading:
                first_loading[lhs] = rhs
                if mod is None:
                    mod = 1.0
            add(lhs, op, rhs, mod)
        if auto != "none":
            ov_x = set(self.ov_x)
            for v in self.vars:
                if v not in ov_x:
                    add(v, "~~", v, None, user=False)
            # covariances among exogenous latent variables (auto.cov.lv.x)
            lv_x = [v for v in latents if v not in dep]
            for a in range(len(lv_x)):
                for b in range(a + 1, len(lv_x)):
                    add(lv_x[a], "~~", lv_x[b], None, user=False)
            # residual covariances among pure dependent variables (auto.cov.y)
            ys = [v for v in self.vars if v in dep and v not in regs and v not in ind]
            for a in range(len(ys)):
                for b in range(a + 1, len(ys)):
                    add(ys[a], "~~", ys[b], None, user=False)
        self.meanstructure = meanstructure
        if meanstructure:
            for v in obs:
                if v not in self.ov_x:
                    add(v, "~1", "", None, user=False)
        # fixed.x covariates: variances/covariances/means fixed at sample values (filled later)
        for a in range(len(self.ov_x)):
            for b in range(a, len(self.ov_x)):
                add(self.ov_x[a], "~~", self.ov_x[b], "fixedx", user=False)
        if meanstructure:
            for v in self.ov_x:
                add(v, "~1", "", "fixedx", user=False)
            for v in latents:
                add(v, "~1", "", None if free_lv_means else 0.0, user=False)
        # observed residual variances not in the table (auto none) are zero; latent means zero
        for v in obs:
            if v not in self.ov_x:
                add(v, "~~", v, 0.0, user=False)
        for v in latents:
            add(v, "~~", v, 0.0, user=False)
        # assign free-parameter indices (labels shared)
        labels = {}
        npar = 0
        for r in table:
            mod = r["mod"]
            r["label"] = mod if isinstance(mod, str) and mod != "fixedx" else ""
            if mod is None or (isinstance(mod, str) and mod != "fixedx"):
                if r["label"] and r["label"] in labels:
                    r["free"] = labels[r["label"]]
                else:
                    npar += 1
                    r["free"] = npar
                    if r["label"]:
                        labels[r["label"]] = npar
            else:
                r["free"] = 0
            if r["op"] == "=~":
                r["mat"], r["i"], r["j"] = "A", idx[r["rhs"]], idx[r["lhs"]]
            elif r["op"] == "~":
                r["mat"], r["i"], r["j"] = "A", idx[r["lhs"]], idx[r["rhs"]]
            elif r["op"] == "~~":
                r["mat"], r["i"], r["j"] = "S", idx[r["lhs"]], idx[r["rhs"]]
            else:
                r["mat"], r["i"], r["j"] = "m", idx[r["lhs"]], 0
        self.table = table
        # where each free parameter goes in A, S (both triangles) and m: matrices() is then three
        # fancy-indexed assignments instead of a Python loop over the table (the same values)
        put = {"A": ([], [], []), "S": ([], [], []), "m": ([], [], [])}
        for r in table:
            if r["free"]:
                i, j, k = put[r["mat"]]
                i.append(r["i"])
                j.append(r["j"])
                k.append(r["free"] - 1)
        self._put_idx = {mat: tuple(np.array(v, dtype=np.intp) for v in ijk) for mat, ijk in put.items()}
        self.npar = npar
        nv = len(self.vars)
        self.F = np.zeros((len(obs), nv))
        self.F[np.arange(len(obs)), np.arange(len(obs))] = 1.0
        self.nv = nv
        self.A0 = np.zeros((nv, nv))
        self.S0 = np.zeros((nv, nv))
        self.m0 = np.zeros(nv)
        # derivative pattern matrices for each free parameter
        self.dA = np.zeros((npar, nv, nv))  # stacked: derivatives() is batched over parameters
        self.dS = np.zeros((npar, nv, nv))
        self.dm = np.zeros((npar, nv))
        for r in table:
            k = r["free"] - 1
            if k < 0:
                continue
            if r["mat"] == "A":
                self.dA[k][r["i"], r["j"]] += 1.0
            elif r["mat"] == "S":
                self.dS[k][r["i"], r["j"]] += 1.0
                if r["i"] != r["j"]:
                    self.dS[k][r["j"], r["i"]] += 1.0
            else:
                self.dm[k][r["i"]] += 1.0
        self._dA_idx = np.nonzero(self.dA)
        self._dS_idx = np.nonzero(self.dS)  # both (i, j) and (j, i) of a covariance
        self._dA_rounds = _scatter_rounds(self._dA_idx[0])
        self._dS_rounds = _scatter_rounds(self._dS_idx[0])
        self._dA_rows = np.unique(self._dA_idx[0])  # parameters with a nonzero dA_k (paths, loadings)
        self._deriv_memo = None

    def set_fixed(self, mean, cov):
        """Fixed values (including fixed.x sample moments)."""
        oi = {v: i for i, v in enumerate(self.obs)}
        for r in self.table:
            if r["free"]:
                continue
            mod = r["mod"]
            if mod == "fixedx":
                val = mean[oi[r["lhs"]]] if r["mat"] == "m" else cov[oi[r["lhs"]], oi[r["rhs"]]]
            else:
                val = float(mod)
            r["fixed_value"] = val
            self._put(self.A0, self.S0, self.m0, r, val)

    @staticmethod
    def _put(A, S, m, r, val):
        if r["mat"] == "A":
            A[r["i"], r["j"]] = val
        elif r["mat"] == "S":
            S[r["i"], r["j"]] = val
            S[r["j"], r["i"]] = val
        else:
            m[r["i"]] = val

    def matrices(self, theta):
        A, S, m = self.A0.copy(), self.S0.copy(), self.m0.copy()
        theta = np.asarray(theta)
        i, j, k = self._put_idx["A"]
        A[i, j] = theta[k]
        i, j, k = self._put_idx["S"]
        S[i, j] = theta[k]
        S[j, i] = theta[k]
        i, _, k = self._put_idx["m"]
        m[i] = theta[k]
        return A, S, m

    def implied(self, theta, full=False):
        A, S, m = self.matrices(theta)
        B = np.linalg.inv(np.eye(self.nv) - A)
        V = B @ S @ B.T
        mu = B @ m
        if full:
            return V, mu, A, S, m, B
        F = self.F
        return F @ V @ F.T, F @ mu

    def derivatives(self, theta):
        """d Sigma / d theta_k and d mu / d theta_k (observed part), stacked: (K, p, p) and (K, p).

        ``d Sigma`` depends on ``A`` and ``S`` only: it is kept from the previous call and returned
        again (read-only) when they are unchanged, as in the optimiser's gradient and information at
        the same point, or in the numerical Hessian's steps in an intercept.
        """
        A, S, m = self.matrices(theta)
        memo = self._deriv_memo
        if memo is not None and memo[0] == A.tobytes() and memo[1] == S.tobytes():
            Bo, dBo, dSig = memo[2:]
            return dSig, dBo @ m + self.dm @ Bo.T
        B = np.linalg.inv(np.eye(self.nv) - A)
        no = len(self.obs)
        Bo = B[:no]
        K = self.npar
        # each dA_k / dS_k has one or a few unit entries: sum outer products instead of dense K x nv^3 products
        ka, ia, ja = self._dA_idx
        dBo = np.zeros((K, no, self.nv))
        _scatter_add(dBo, ka, Bo[:, ia].T[:, :, None] * B[ja][:, None, :], self._dA_rounds)  # B dA_k B = sum B[:, i] B[j, :]
        SBt = S @ Bo.T
        t = np.zeros((K, no, no))
        if len(ka):  # only the parameters with a nonzero dA_k: for the others dBo_k SBt is zero
            t[self._dA_rows] = dBo[self._dA_rows] @ SBt
        ks, is_, js = self._dS_idx
        dSig = t + t.transpose(0, 2, 1)
        _scatter_add(dSig, ks, Bo[:, is_].T[:, :, None] * Bo[:, js].T[:, None, :], self._dS_rounds)
        dmu = dBo @ m + self.dm @ Bo.T
        dSig.flags.writeable = False  # shared with the next call at the same A and S
        self._deriv_memo = (A.tobytes(), S.tobytes(), Bo, dBo, dSig)
        return dSig, dmu


def _scatter_rounds(keys):
    """Positions of ``keys`` grouped by occurrence: round r holds the (r+1)-th occurrence of each key,
    so every round indexes distinct keys (see :func:`_scatter_add`)."""
    keys = np.asarray(keys)
    rank = np.zeros(len(keys), dtype=np.intp)
    seen: dict = {}
    for i, k in enumerate(keys.tolist()):
        rank[i] = seen.get(k, 0)
        seen[k] = rank[i] + 1
    return [np.flatnonzero(rank == r) for r in range(int(rank.max()) + 1 if len(keys) else 0)]


def _scatter_add(target, keys, values, rounds):
    """``np.add.at(target, keys, values)`` along the first axis, the same sums in the same order (so the
    same bits), as one fancy-indexed addition per round of distinct keys instead of ufunc.at's slow
    element-wise loop."""
    for sel in rounds:
        target[keys[sel]] += values[sel]


# --------------------------------------------------------------------------- likelihood pieces


def _unique_rows(M):
    """``np.unique(M, axis=0, return_inverse=True)`` for a boolean matrix, the same rows in the same
    (lexicographic) order, from the rows packed into bytes (one sort of n keys instead of a sort of
    n x p elements)."""
    n, p = M.shape
    if n == 0 or p == 0:
        keys, inv = np.unique(M, axis=0, return_inverse=True)
        return keys, np.asarray(inv).ravel()
    packed = np.ascontiguousarray(np.packbits(M, axis=1))          # first column = most significant bit
    void = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inv = np.unique(void, return_index=True, return_inverse=True)
    return M[first], np.asarray(inv).ravel()


class _Patterns:
    """Missing-data patterns with their sufficient statistics."""

    def __init__(self, X):
        M = ~np.isnan(X)
        keys, inv = _unique_rows(M)
        self.pats = []
        # the rows of each pattern in their original order: one stable sort instead of a mask per pattern
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(len(keys) + 1))
        for g, key in enumerate(keys):
            if not key.any():
                continue
            Xg = X[order[bounds[g]:bounds[g + 1]]][:, key]
            n = Xg.shape[0]
            mean = Xg.mean(axis=0)
            C = (Xg - mean).T @ (Xg - mean) / n
            self.pats.append((np.flatnonzero(key), n, mean, C, Xg))
        self.n = int(sum(p[1] for p in self.pats))
        # patterns with the same number of observed variables, stacked for batched linear algebra
        p = X.shape[1]
        self.p = p
        by: dict = {}
        for o, n, mean, C, _ in self.pats:
            by.setdefault(len(o), []).append((o, n, mean, C))
        self.batches = []
        for _, lst in sorted(by.items()):
            O = np.array([x[0] for x in lst])
            flat = (O[:, :, None] * p + O[:, None, :]).ravel()  # positions in a flattened p x p matrix
            self.batches.append((O, np.array([x[1] for x in lst], dtype=float), np.array([x[2] for x in lst]),
                                 np.array([x[3] for x in lst]), flat))


def _sigma_terms(Sigma, O):
    """Inverse and log-determinant of each pattern's block of ``Sigma`` in one batch (Cholesky)."""
    Sg = Sigma[O[:, :, None], O[:, None, :]]
    L = np.linalg.cholesky(Sg)                       # raises LinAlgError when not positive definite
    Li = np.linalg.inv(L)
    Si = Li.transpose(0, 2, 1) @ Li
    logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    return Si, logdet


def _pattern_sigma_terms(pats, Sigma):
    """:func:`_sigma_terms` of every batch of ``pats``; the last ``Sigma``'s are kept on ``pats`` (the
    likelihood and its gradient at the same point, the numerical Hessian's steps in an intercept).
    Raises LinAlgError when a block is not positive definite."""
    key = Sigma.tobytes()
    memo = getattr(pats, "_sigma_memo", None)
    if memo is not None and memo[0] == key:
        return memo[1]
    terms = [_sigma_terms(Sigma, O) for O, *_ in pats.batches]
    pats._sigma_memo = (key, terms)
    return terms


def _batch_terms(Sigma, mu, O, N, MEAN, CC, sigma_terms=None):
    """Per-pattern Cholesky, inverse and log-likelihood terms of one batch (same number of observed)."""
    Si, logdet = _sigma_terms(Sigma, O) if sigma_terms is None else sigma_terms
    d = MEAN - mu[O]
    SiA = Si @ (CC + d[:, :, None] * d[:, None, :])
    ll = -0.5 * float(np.sum(N * (O.shape[1] * _LOG2PI + logdet + np.trace(SiA, axis1=1, axis2=2))))
    return ll, Si, SiA, d


def _loglik_blocks(pats, Sigma, mu):
    """Normal log-likelihood summed over the missing-data patterns, one Cholesky per pattern block
    (-inf if a block is not positive definite)."""
    try:
        terms = _pattern_sigma_terms(pats, Sigma)
    except np.linalg.LinAlgError:
        return -np.inf
    ll = 0.0
    for (O, N, MEAN, CC, _), st in zip(pats.batches, terms):
        ll += _batch_terms(Sigma, mu, O, N, MEAN, CC, st)[0]
    return ll


def _loglik(pats, Sigma, mu):
    """Normal log-likelihood summed over the missing-data patterns (-inf if it is not defined)."""
    if _complete(pats):
        return _loglik_blocks(pats, Sigma, mu)
    return _loglik_moment_grad(pats, Sigma, mu)[0]


def _complete(pats):
    """True when every case is complete (one pattern, all variables observed)."""
    return len(pats.batches) == 1 and pats.batches[0][0].shape[1] == pats.p


def _schur_prep(pats):
    """Data-only pieces of :func:`_loglik_moment_grad_schur`, computed once per pattern set: each batch's
    missing indices and the count-weighted sum of the patterns' cross-products embedded in p x p."""
    prep = getattr(pats, "_schur", None)
    if prep is None:
        p = pats.p
        Csum = np.zeros(p * p)
        miss = []
        for O, N, MEAN, CC, flat in pats.batches:
            Csum += np.bincount(flat, weights=(N[:, None, None] * CC).ravel(), minlength=p * p)
            mask = np.ones((len(O), p), bool)
            np.put_along_axis(mask, O, False, axis=1)
            miss.append(np.nonzero(mask)[1].reshape(len(O), p - O.shape[1]))
        prep = pats._schur = (Csum.reshape(p, p), miss, float(sum(b[1].sum() for b in pats.batches)))
    return prep


def _loglik_moment_grad_schur(pats, Sigma, mu):
    """:func:`_loglik_moment_grad` for incomplete data from one inverse of the full ``Sigma``.

    Each pattern's inverse is a low-rank correction of ``Omega = Sigma^-1`` (the Schur complement):
    ``(Sigma_oo)^-1`` embedded in p x p is ``Omega - V V'`` with ``V = Omega[:, m] L^-T``, ``L L' =
    Omega[m, m]`` over the pattern's missing variables ``m``, and ``log|Sigma_oo| = log|Sigma| +
    log|Omega[m, m]|``. The likelihood and its gradient then need one p x p inverse and, per
    pattern, products with the m columns of ``V`` (O(p^2 m) instead of O(p^3)). Raises LinAlgError
    when ``Sigma`` (or a block ``Omega[m, m]``) is not positive definite.
    """
    p = Sigma.shape[0]
    Csum, miss, ntot = _schur_prep(pats)
    L = np.linalg.cholesky(Sigma)
    Li = np.linalg.inv(L)
    Om = Li.T @ Li
    logdet = 2 * np.log(np.diag(L)).sum()
    S = Csum.copy()
    gsum = np.zeros(p)
    X = np.zeros((p, p))
    Y = np.zeros((p, p))
    VV = np.zeros((p, p))
    vd = np.zeros(p)
    ll = 0.0
    trG = 0.0
    for (O, N, MEAN, CC, _), Mi in zip(pats.batches, miss):
        nb, q = O.shape
        d = MEAN - mu[O]
        demb = np.zeros((nb, p))
        np.put_along_axis(demb, O, d, axis=1)
        S += (demb.T * N) @ demb
        gsum += N @ demb
        ll -= 0.5 * float(np.sum(N * (q * _LOG2PI + logdet)))
        m = p - q
        if m == 0:
            continue
        Lm = np.linalg.cholesky(Om[Mi[:, :, None], Mi[:, None, :]])
        ll -= float(np.sum(N * np.log(np.diagonal(Lm, axis1=1, axis2=2)).sum(axis=1)))
        Vt = np.linalg.solve(Lm, Om[Mi])                             # (nb, m, p): V' = L^-1 Omega[m, :]
        Vo = np.take_along_axis(Vt, np.broadcast_to(O[:, None, :], (nb, m, q)), axis=2)
        A = CC + d[:, :, None] * d[:, None, :]
        Zo = Vo @ A
        G = Zo @ Vo.transpose(0, 2, 1)
        trG += float(np.sum(N * np.trace(G, axis1=1, axis2=2)))
        Z = np.zeros((nb, m, p))
        np.put_along_axis(Z, np.broadcast_to(O[:, None, :], (nb, m, q)), Zo, axis=2)
        NV = (N[:, None, None] * Vt).reshape(-1, p).T                # (p, nb m), count-weighted
        X += NV @ Z.reshape(-1, p)
        Y += NV @ (G @ Vt).reshape(-1, p)
        VV += NV @ Vt.reshape(-1, p)
        vd += NV @ np.einsum("bmq,bq->bm", Vo, d).ravel()
    ll -= 0.5 * (float(np.sum(Om * S)) - trG)
    XO = X @ Om
    Wf = 0.5 * (Om @ S @ Om - XO - XO.T + Y - ntot * Om + VV)
    gm = Om @ gsum - vd
    return ll, Wf, gm


#: from this many variables on, incomplete data use :func:`_loglik_moment_grad_schur` (below it the
#: per-pattern Cholesky is cheaper: fewer numpy calls; measured on the bundled studies)
_SCHUR_MIN_P = 16


def _loglik_moment_grad(pats, Sigma, mu):
    """Log-likelihood and its gradient in (Sigma, mu), batched over patterns.

    Returns ``(ll, Wf, gm)``: ``Wf`` (p x p) and ``gm`` (p) are d ll / d Sigma (as a full
    symmetric matrix, off-diagonal entries counted once each side) and d ll / d mu; ``ll = -inf``
    (and no gradient) when a pattern's Sigma is not positive definite. Complete data: one Cholesky
    of Sigma; incomplete data: :func:`_loglik_moment_grad_schur` (one inverse of Sigma and low-rank
    corrections per pattern) from ``_SCHUR_MIN_P`` variables on, or one Cholesky per pattern block
    (fewer variables, or Sigma itself not positive definite).
    """
    key = (Sigma.tobytes(), np.asarray(mu).tobytes())
    memo = getattr(pats, "_grad_memo", None)
    if memo is not None and memo[0] == key:  # the same point again (the optimiser's convergence checks)
        return memo[1]
    out = None
    if pats.p >= _SCHUR_MIN_P and not _complete(pats):
        try:
            out = _loglik_moment_grad_schur(pats, Sigma, mu)
        except np.linalg.LinAlgError:
            out = None
        if out is not None and not np.isfinite(out[0]):
            out = None
    if out is None:
        out = _loglik_moment_grad_blocks(pats, Sigma, mu)
    _, Wf, gm = out
    if Wf is not None:
        Wf.flags.writeable = gm.flags.writeable = False  # shared with a later call at the same point
    pats._grad_memo = (key, out)
    return out


def _loglik_moment_grad_blocks(pats, Sigma, mu):
    """:func:`_loglik_moment_grad` with one Cholesky per pattern block (batched over patterns)."""
    p = Sigma.shape[0]
    try:
        terms = _pattern_sigma_terms(pats, Sigma)
    except np.linalg.LinAlgError:
        return -np.inf, None, None
    Wf = np.zeros(p * p)
    gm = np.zeros(p)
    ll = 0.0
    for (O, N, MEAN, CC, flat), st in zip(pats.batches, terms):
        ll_b, Si, SiA, d = _batch_terms(Sigma, mu, O, N, MEAN, CC, st)
        ll += ll_b
        W = 0.5 * N[:, None, None] * (SiA @ Si - Si)
        Wf += np.bincount(flat, weights=W.ravel(), minlength=p * p)
        gm += np.bincount(O.ravel(), weights=(N[:, None] * np.einsum("bij,bj->bi", Si, d)).ravel(), minlength=p)
    return ll, Wf.reshape(p, p), gm


def _moment_grad(pats, Sigma, mu):
    """Gradient of the log-likelihood with respect to Sigma (full symmetric p x p) and mu.

    Batched over the missing-data patterns; the chain rule to the parameters is then a single
    (K, p^2) product, whatever the number of patterns.
    """
    ll, Wf, gm = _loglik_moment_grad(pats, Sigma, mu)
    if Wf is None:
        raise np.linalg.LinAlgError("model-implied covariance matrix not positive definite")
    return Wf, gm


def _loglik_grad(pats, Sigma, mu, dSig, dmu):
    """Gradient of the log-likelihood with respect to theta (chain rule through the moments)."""
    K = len(dSig)
    if not K:
        return np.zeros(0)
    Wf, gm = _moment_grad(pats, Sigma, mu)
    return np.asarray(dSig).reshape(K, -1) @ Wf.ravel() + np.asarray(dmu) @ gm


def _expected_info(Sigma, dSig, dmu):
    """Expected (Fisher) information per case for complete normal data, all parameters at once."""
    D = np.asarray(dSig)
    K, p = D.shape[0], Sigma.shape[0]
    Si = np.linalg.inv(Sigma)
    M = (D.reshape(K * p, p) @ Si).reshape(K, p, p)            # D_k Si; tr(Si D_a Si D_b) = <D_a Si, (D_b Si)'>
    Dm = np.asarray(dmu)
    info = 0.5 * M.reshape(K, -1) @ M.transpose(0, 2, 1).reshape(K, -1).T + Dm @ Si @ Dm.T
    return (info + info.T) / 2


def _moment_information(pats, Sigma, mu, *, chunk_elems=2_000_000, moments=None):
    """Observed information (minus the Hessian of the log-likelihood) in ``(mu, vech Sigma)``, exact.

    The same matrix as :func:`efficacy.sem.robust.observed_information` (which works from the raw
    data), here from the pattern statistics of ``pats`` (counts, means, cross-products) and the
    pattern inverses already computed for the likelihood. With ``P`` the inverse of a pattern's
    observed block, ``d`` its mean residual and ``W = C + d d'`` its residual cross-product, a
    pattern of ``n_r`` cases adds ``n_r P`` (means), ``n_r P E_l P d`` (means x covariances) and
    ``n_r tr(P E_k B E_l)`` with ``B = P W P - P / 2`` (covariances), ``E_k`` the symmetric unit
    matrix of ``vech`` coordinate ``k``. The covariance block sums over patterns with one batched
    matrix product per chunk of its rows (memory ``O(chunk p^2)``, not ``O(p^4)``).
    Returns an array of shape ``(p + p*, p + p*)``, ``p* = p (p + 1) / 2``; with ``moments`` (indices
    into those coordinates) only the block of these moments, computed without the others (e.g. the
    means and variances of an independence model).
    """
    p = Sigma.shape[0]
    r, c = np.tril_indices(p)
    h = np.where(r == c, 0.5, 1.0)
    R = sum(len(b[1]) for b in pats.batches)
    Pst = np.zeros((R, p * p))
    Bst = np.zeros((R, p * p))
    pdf = np.zeros((R, p))
    nr = np.zeros(R)
    at = 0
    for (O, N, MEAN, CC, flat), (Si, _) in zip(pats.batches, _pattern_sigma_terms(pats, Sigma)):
        nb, q = O.shape
        rows = np.arange(at, at + nb)
        d = MEAN - mu[O]
        W = CC + d[:, :, None] * d[:, None, :]
        Bm = Si @ W @ Si - 0.5 * Si
        pos = flat.reshape(nb, q * q)
        Pst[rows[:, None], pos] = Si.reshape(nb, -1)
        Bst[rows[:, None], pos] = Bm.reshape(nb, -1)
        pdf[rows[:, None], O] = np.einsum("bij,bj->bi", Si, d)
        nr[rows] = N
        at += nb
    m = p + len(r)
    if moments is not None:
        return _moment_information_block(np.asarray(moments), p, r, c, h, Pst, Bst, pdf, nr)
    info = np.zeros((m, m))
    info[:p, :p] = (nr @ Pst).reshape(p, p)
    L = (Pst.T @ (nr[:, None] * pdf)).reshape(p, p, p)            # sum_r n_r P_r[i, j] (P_r d_r)[s]
    cross = h * (L[:, r, c] + L[:, c, r])
    info[:p, p:] = cross
    info[p:, :p] = cross.T
    hh = h[:, None] * h[None, :]
    if p <= _MOMENT_INFO_GEMM_MAX_P:
        # K[i, j, s, t] = sum_r n_r P_r[i, j] B_r[s, t] as one matrix product (p^4 numbers); row k = (a, b)
        # of the covariance block needs the slices K[a, :, b, :] and K[b, :, a, :]
        K4 = (Pst.T @ (nr[:, None] * Bst)).reshape(p, p, p, p)
        step = max(1, 262_144 // (p * p))   # rows per chunk: small temporaries (few page faults)
        rc, cr = r * p + c, c * p + r       # U[:, r, c] and U[:, c, r] as takes along one flattened axis
        for s in range(0, len(r), step):
            a, b = r[s:s + step], c[s:s + step]
            U = (K4[a, :, b, :] + K4[b, :, a, :]).reshape(len(a), p * p)
            info[p + s:p + s + len(a), p:] = (U[:, rc] + U[:, cr]) * hh[s:s + step]
        return (info + info.T) / 2
    P3 = Pst.reshape(R, p, p)
    B3 = (nr[:, None] * Bst).reshape(R, p, p)
    step = max(1, chunk_elems // max(1, p * max(p, R)))
    for s in range(0, len(r), step):
        a, b = r[s:s + step], c[s:s + step]
        # Y_k[j, t] = sum_r n_r P_r[a_k, j] B_r[b_k, t], Z_k the same with a_k and b_k swapped
        U = (P3[:, a, :].transpose(1, 2, 0) @ B3[:, b, :].transpose(1, 0, 2)
             + P3[:, b, :].transpose(1, 2, 0) @ B3[:, a, :].transpose(1, 0, 2))
        info[p + s:p + s + len(a), p:] = (U[:, r, c] + U[:, c, r]) * hh[s:s + step]
    return (info + info.T) / 2


def _moment_information_block(moments, p, r, c, h, Pst, Bst, pdf, nr):
    """The block of :func:`_moment_information` over ``moments`` (mean and vech indices), from its
    per-pattern pieces: only the covariance rows asked for are formed."""
    R = len(nr)
    mi = moments[moments < p]
    ci = moments[moments >= p] - p
    out = np.zeros((len(moments), len(moments)))
    where_m = np.flatnonzero(moments < p)
    where_c = np.flatnonzero(moments >= p)
    out[np.ix_(where_m, where_m)] = (nr @ Pst).reshape(p, p)[np.ix_(mi, mi)]
    L = (Pst.T @ (nr[:, None] * pdf)).reshape(p, p, p)
    cross = h[ci] * (L[:, r[ci], c[ci]] + L[:, c[ci], r[ci]])[mi]
    out[np.ix_(where_m, where_c)] = cross
    out[np.ix_(where_c, where_m)] = cross.T
    if len(ci):
        P3 = Pst.reshape(R, p, p)
        B3 = (nr[:, None] * Bst).reshape(R, p, p)
        a, b = r[ci], c[ci]
        U = (P3[:, a, :].transpose(1, 2, 0) @ B3[:, b, :].transpose(1, 0, 2)
             + P3[:, b, :].transpose(1, 2, 0) @ B3[:, a, :].transpose(1, 0, 2))
        out[np.ix_(where_c, where_c)] = (U[:, a, b] + U[:, b, a]) * (h[ci][:, None] * h[ci][None, :])
    return (out + out.T) / 2


#: up to this many variables :func:`_moment_information` sums the covariance block with one p^2 x p^2
#: matrix product (p = 60: 100 MB); above it in chunks of rows (memory O(chunk p^2), slower)
_MOMENT_INFO_GEMM_MAX_P = 60


def _entries(D):
    """(parameter, row, column, weight) of the nonzero entries of stacked pattern matrices ``D`` (K, n, n)."""
    k, i, j = np.nonzero(D)
    return k, i, j, D[k, i, j]


def _model_curvature(mod, theta, Wf, gm):
    """``sum_ij Wf_ij d2 Sigma_ij / d theta_a d theta_b + sum_i gm_i d2 mu_i / d theta_a d theta_b`` (K x K).

    The second-order term of the Hessian of the log-likelihood in the parameters: ``Wf`` and ``gm``
    are the gradients in ``Sigma`` (full symmetric) and ``mu`` (None: means not modelled). Exact for
    the RAM model ``Sigma = F B S B' F'``, ``mu = F B m``, ``B = (I - A)^-1``: every parameter enters
    ``A``, ``S`` or ``m`` linearly, so the only curvature comes from products of ``B`` (paths and
    loadings) with ``S`` and ``m``. With ``G = F' Wf F``, ``V = B S B'``, ``Q = B' G B``,
    ``h = B' F' gm`` and unit entries ``E = e_i e_j'`` of ``A`` (paths) and ``S``:
    A x A: ``2 tr(E_a B E_b C) + 2 tr(E_b B E_a C) + 2 tr(E_a V E_b' Q)`` with
    ``C = V G B + (B m) h' / 2``; A x S: ``2 tr(E_a B E_b Q)``; A x m: ``h' E_a B e_b``; S x S,
    S x m and m x m: zero.
    """
    A, S, m = mod.matrices(theta)
    nv, no, K = mod.nv, len(mod.obs), mod.npar
    B = np.linalg.inv(np.eye(nv) - A)
    G = np.zeros((nv, nv))
    G[:no, :no] = Wf
    V = B @ S @ B.T
    Q = B.T @ G @ B
    C = V @ G @ B
    kA, iA, jA, wA = _entries(mod.dA)
    kS, iS, jS, wS = _entries(mod.dS)
    T = np.zeros((K, K))
    if len(kA) == 0:
        return T
    if gm is not None:
        gf = np.zeros(nv)
        gf[:no] = gm
        hv = B.T @ gf
        C = C + 0.5 * np.outer(B @ m, hv)
    PA = np.zeros((len(kA), K))
    PA[np.arange(len(kA)), kA] = wA
    M1 = B[jA[:, None], iA[None, :]] * C[jA[None, :], iA[:, None]]
    AA = 2 * (M1 + M1.T) + 2 * V[jA[:, None], jA[None, :]] * Q[iA[None, :], iA[:, None]]
    T += PA.T @ AA @ PA
    if len(kS):
        PS = np.zeros((len(kS), K))
        PS[np.arange(len(kS)), kS] = wS
        X = PA.T @ (2 * B[jA[:, None], iS[None, :]] * Q[jS[None, :], iA[:, None]]) @ PS
        T += X + X.T
    if gm is not None:
        km, im = np.nonzero(mod.dm)
        if len(km):
            Pm = np.zeros((len(km), K))
            Pm[np.arange(len(km)), km] = mod.dm[km, im]
            X = PA.T @ (hv[iA][:, None] * B[jA[:, None], im[None, :]]) @ Pm
            T += X + X.T
    return (T + T.T) / 2


def _observed_info(mod, pats, theta, meanstructure, mu_fixed=None):
    """Observed information of the normal (FIML) log-likelihood in the free parameters, analytic (K x K).

    ``-d2 ll / d theta d theta' = Delta' I_m Delta - curvature``: the exact observed information in
    the moments (:func:`_moment_information`) chained with the model Jacobian ``Delta = d (mu, vech
    Sigma) / d theta``, minus the model's second-order term (:func:`_model_curvature`), which is not
    zero away from a saturated model. Equals the Hessian lavaan differentiates numerically
    (``information = "observed"``, ``observed.information = "hessian"``), without the O(K) gradient
    evaluations of a finite-difference Hessian (:func:`_numhess`). Without a mean structure the means
    are fixed at ``mu_fixed`` (the sample means) and only the covariance block enters.
    """
    Sig, mu = mod.implied(theta)
    if not meanstructure:
        mu = mu_fixed
    dSig, dmu = mod.derivatives(theta)
    K = len(dSig)
    if K == 0:
        return np.zeros((0, 0))
    p = Sig.shape[0]
    r, c = np.tril_indices(p)
    Im = _moment_information(pats, Sig, mu)
    Ds = dSig[:, r, c].T                      # (p*, K)
    if meanstructure:
        D = np.vstack([np.asarray(dmu).T, Ds])
    else:
        D, Im = Ds, Im[p:, p:]
    if np.count_nonzero(D) < 0.2 * D.size:  # e.g. a CFA: each loading moves one row of Sigma
        Dsp = sparse.csr_matrix(D)
        info = Dsp.T @ (Dsp.T @ Im).T
    else:
        info = D.T @ Im @ D
    _, Wf, gm = _loglik_moment_grad(pats, Sig, mu)
    if Wf is None:
        raise np.linalg.LinAlgError("model-implied covariance matrix not positive definite")
    info = info - _model_curvature(mod, theta, Wf, gm if meanstructure else None)
    return (info + info.T) / 2


def _positive_semidefinite(M, tol=1e-10):
    """Whether a covariance matrix is positive semi-definite, judged on its correlation scale (so that
    variables measured in very different units, 1e-4 beside 1e5, are not flagged for rounding): a
    negative variance fails; otherwise the smallest eigenvalue of ``D^-1/2 M D^-1/2`` must exceed
    ``-tol`` (zero-variance rows are left out of the scaling)."""
    d = np.diag(M)
    if np.any(d < 0):
        return False
    s = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1.0)), 1.0)
    return bool(np.min(np.linalg.eigvalsh(M * s[:, None] * s[None, :])) > -tol)


def _minimise_with_fallback(fobj, theta0, info, hess=None, hess_first=True):
    """:func:`_minimise` (Fisher scoring, then Newton / BFGS); when it ends away from a stationary point, the
    earlier route (L-BFGS-B, then BFGS) from the same start, keeping whichever point has the lower discrepancy."""
    theta = _minimise(fobj, theta0, info, hess=hess, hess_first=hess_first)
    f, g = fobj(theta)
    if f >= 1e9 or np.max(np.abs(g)) > 1e-6:
        opt = optimize.minimize(fobj, theta0, jac=True, method="L-BFGS-B",
                                options=dict(maxiter=20000, maxfun=50000, gtol=1e-10, ftol=1e-15))
        opt2 = optimize.minimize(fobj, opt.x, jac=True, method="BFGS", options=dict(gtol=1e-9, maxiter=5000))
        for cand in (opt.x, opt2.x):
            fc = fobj(cand)[0]
            if fc < f - 1e-12:
                theta, f = cand, fc
    return theta


#: the gradient (per case) at which the polish after BFGS stops: rounding level for moderate models
_POLISH_GTOL = 1e-13

#: models with fewer observed variables go from Fisher scoring straight to Newton steps (the exact
#: Hessian is cheap); larger ones to BFGS first, Newton polishing the result
_NEWTON_FIRST_MAX_P = 30


def _newton(fobj, theta, f, g, hess, *, maxit, gtol):
    """Newton steps with the exact Hessian ``hess(theta)`` and step halving; stops at ``max|g| <= gtol``, or
    when a step is not a descent direction or gains nothing (e.g. the Hessian is not positive definite
    away from the optimum). Returns (theta, f, g)."""
    for _ in range(maxit):
        if np.max(np.abs(g)) <= gtol:
            break
        try:
            step = np.linalg.solve(hess(theta), -g)
        except np.linalg.LinAlgError:
            break
        slope = g @ step
        if not np.all(np.isfinite(step)) or slope >= 0:
            break
        a = 1.0
        while a > 1e-4:
            fn, gn = fobj(theta + a * step)
            if fn <= f + 1e-4 * a * slope or (fn <= f + 1e-13 * abs(f) and np.max(np.abs(gn)) < np.max(np.abs(g))):
                break
            a /= 2
        else:
            break
        theta, f, g = theta + a * step, fn, gn
    return theta, f, g


def _minimise(fobj, theta0, info, *, maxit=100, gtol=1e-10, dtol=1e-20, hess=None, hess_first=True):
    """Minimise ``fobj(theta) -> (f, grad)``: Fisher scoring, then Newton or quasi-Newton.

    ``info(theta)`` approximates the Hessian of ``f`` (the expected information per case at the
    model-implied moments). Scoring steps (with step halving) make the optimiser insensitive to
    the scale of the variables (e.g. 0-100 confidence ratings next to 1-5 Likert items), which
    plain quasi-Newton from lavaan-like starts is not (thousands of iterations). It stops when
    ``max |grad| <= gtol`` or when the scoring decrement ``grad' info^-1 grad`` (the predicted
    decrease of ``f``, free of the variables' units: ``n`` times it is the squared distance to
    the optimum in standard-error units) is at most ``dtol * max(1, |f|)``, below the rounding
    of ``f``. When scoring stalls (a step that lowers ``f`` by less than ``1e-9`` relative,
    followed by a decrement that has not fallen tenfold; or steady full steps that each gain more
    than a set share of the previous gain, as with FIML and much missing information), Newton
    steps with the exact Hessian ``hess(theta)`` finish (quadratic convergence, estimates to machine
    precision); with ``hess_first=False`` (a costly Hessian: many variables) BFGS comes first and
    Newton only polishes. Without ``hess``, or where Newton stops early, BFGS continues in
    coordinates whitened by the information (``theta = theta_c + L^-T u``). The caller's
    convergence check is unchanged. Returns theta.
    """
    theta = np.asarray(theta0, dtype=float).copy()
    f, g = fobj(theta)
    if f >= 1e9:
        return theta
    H = None
    prev, slow = None, 0
    # a cheap exact Hessian (few variables) takes over sooner: a few Newton steps beat dozens of linear ones
    slow_rate = 0.2 if hess is not None and hess_first else 0.5
    tiny, dec_prev = False, np.inf
    for _ in range(maxit):
        if np.max(np.abs(g)) <= gtol:
            return theta
        try:
            H = info(theta)
            step = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            break
        slope = g @ step
        if not np.all(np.isfinite(step)) or slope >= 0:
            break
        if -slope <= dtol * max(1.0, abs(f)):
            return theta
        if tiny and -slope > 0.1 * dec_prev:  # scoring is in its slow linear phase: hand over
            break
        dec_prev = -slope
        a = 1.0
        while a > 1e-6:
            fn, gn = fobj(theta + a * step)
            if fn <= f + 1e-4 * a * slope:
                break
            a /= 2
        else:
            break
        theta = theta + a * step
        df_, f, g = f - fn, fn, gn
        tiny = df_ <= 1e-9 * max(1.0, abs(f))
        # full steps that each gain more than half of the previous gain: scoring converges linearly at a
        # slow rate (the expected information is a poor Hessian, e.g. FIML with much missing information);
        # two in a row hand over to BFGS, which needs a few steps where scoring would need dozens
        # far from the optimum steady gains are no sign of a stall
        near = np.max(np.abs(g)) < 1e-3 or df_ < 1e-5 * max(1.0, abs(f))
        slow = slow + 1 if near and a == 1.0 and prev is not None and df_ > slow_rate * prev else 0
        prev = df_
        if slow >= 2:
            break
    if np.max(np.abs(g)) <= gtol:
        return theta
    if hess is not None and hess_first:
        theta, f, g = _newton(fobj, theta, f, g, hess, maxit=20, gtol=gtol)
        if np.max(np.abs(g)) <= gtol:
            return theta
    # quasi-Newton polish in whitened coordinates
    try:
        H = info(theta) if H is None else H
        L = np.linalg.cholesky(H)
        T = np.linalg.inv(L).T
    except np.linalg.LinAlgError:
        T = np.diag(1 / np.sqrt(np.clip(np.abs(np.diag(H)), 1e-12, None))) if H is not None else np.eye(len(theta))
    base = theta.copy()

    def fu(u):
        fv, gv = fobj(base + T @ u)
        return fv, T.T @ gv

    opt = optimize.minimize(fu, np.zeros(len(theta)), jac=True, method="BFGS",
                            options=dict(gtol=gtol, maxiter=2000))
    if opt.fun > f:
        return theta
    theta = base + T @ opt.x
    # BFGS stops where f is flat to rounding (|g| ~ 1e-9, estimates ~1e-8 from the optimum); the gradient
    # is not flat there: quasi-Newton steps with BFGS's inverse Hessian (gradients only, linear
    # convergence), then Newton steps with the exact Hessian if they stall
    f, g = fobj(theta)
    Hi = getattr(opt, "hess_inv", None)
    if f < 1e9 and Hi is not None:
        u, gmax = opt.x, np.max(np.abs(g))
        for _ in range(15):
            if gmax <= _POLISH_GTOL:
                break
            un = u - Hi @ (T.T @ g)
            fn, gn = fobj(base + T @ un)
            if not (fn <= f + 1e-12 * abs(f) and np.max(np.abs(gn)) < 0.7 * gmax):
                break
            u, f, g, gmax = un, fn, gn, np.max(np.abs(gn))
        theta = base + T @ u
    if hess is not None and f < 1e9 and np.max(np.abs(g)) > _POLISH_GTOL:
        theta = _newton(fobj, theta, f, g, hess, maxit=3, gtol=_POLISH_GTOL)[0]
    return theta


def _start_values(mod, Sh1, Mh1):
    """Start values of one group's free parameters, equivariant under rescaling of the variables.

    As lavaan's starts (``lavaan:::lav_start``): residual variances half the observed variances,
    intercepts the observed means, regressions and covariances 0. Factor variances and loadings
    assume a reliability of 0.5 for every indicator instead of lavaan's fixed ``0.05`` variance
    and unit (or FABIN 3) loadings: a factor with marker ``m`` (loading fixed at ``c``) starts at
    variance ``0.5 s_mm / c^2`` and a free loading ``lambda_j`` at ``sqrt(0.5 s_jj / phi)``. So an
    indicator on a 0-100 scale (variance ~400) next to 1-5 items (variance ~1) starts as far from the optimum, in its own units, as the 1-5 items do, and Fisher scoring (invariant
    under rescaling) takes as many steps as on well-scaled data.
    """
    oi = {v: i for i, v in enumerate(mod.obs)}
    ind, marker, var_row = {}, {}, {}
    for r in mod.table:
        if r["op"] == "=~":
            ind.setdefault(r["lhs"], []).append(r["rhs"])
            if not r["free"] and r["lhs"] not in marker and r.get("fixed_value"):
                marker[r["lhs"]] = (r["rhs"], float(r["fixed_value"]))
        elif r["op"] == "~~" and r["lhs"] == r["rhs"]:
            var_row.setdefault(r["lhs"], r)
    is_ind = {v for vs in ind.values() for v in vs}
    memo = {}

    def scale(v, depth=0):
        """Start value of the (total) variance of variable v."""
        if v in oi:
            return float(Sh1[oi[v], oi[v]])
        if v in memo:
            return memo[v]
        out = 0.05
        vr = var_row.get(v)
        if depth > 5:
            pass
        elif v in marker:
            m, c = marker[v]
            out = 0.5 * scale(m, depth + 1) / c ** 2
        elif vr is not None and not vr["free"] and vr.get("fixed_value"):
            out = float(vr["fixed_value"])   # e.g. std.lv: variance fixed, loadings free
        elif ind.get(v):
            out = 0.5 * float(np.mean([scale(c, depth + 1) for c in ind[v]]))
        memo[v] = out = out if np.isfinite(out) and out > 0 else 0.05
        return out

    theta0 = np.zeros(mod.npar)
    for r in mod.table:
        k = r["free"] - 1
        if k < 0:
            continue
        if r["op"] == "=~":
            f, j = r["lhs"], r["rhs"]
            val = np.sqrt(0.5 * scale(j) / scale(f))   # positive, as lavaan's simple starts (a sign taken
            theta0[k] = val if np.isfinite(val) and val > 0 else 1.0   # from near-zero covariances misleads)
        elif r["op"] == "~~" and r["lhs"] == r["rhs"]:
            v = r["lhs"]
            theta0[k] = 0.5 * Sh1[oi[v], oi[v]] if v in oi else scale(v) * (0.5 if v in is_ind else 1.0)
        elif r["op"] == "~1" and r["lhs"] in oi:
            theta0[k] = Mh1[oi[r["lhs"]]]
    return theta0


def _check_variance(X, obs, where=""):
    with np.errstate(invalid="ignore"):
        v = np.nanvar(X, axis=0)
    bad = [c for c, vi in zip(obs, v) if not (vi > 1e-12)]
    if bad:
        raise SEMError(f"observed variable(s) with zero variance{where}", found=", ".join(map(str, bad)),
                       expected="variables that vary")


def _em_saturated(pats, p, maxit=5000, tol=1e-10):
    """EM for the unrestricted mean and covariance (lavaan's h1 for missing = 'ml')."""
    n = pats.n
    mu = np.zeros(p)
    cnt = np.zeros(p)
    for o, ng, mean, C, _ in pats.pats:
        mu[o] += ng * mean
        cnt[o] += ng
    mu = mu / np.maximum(cnt, 1)
    var = np.zeros(p)
    for o, ng, mean, C, _ in pats.pats:
        var[o] += ng * (np.diag(C) + (mean - mu[o]) ** 2)
    Sigma = np.diag(var / np.maximum(cnt, 1))
    if p >= _SCHUR_MIN_P and getattr(pats, "p", p) == p:
        return _em_saturated_schur(pats, mu, Sigma, maxit, tol)
    # what does not change between iterations, computed once: index sets, the observed part of each
    # completed data block, and the sums of a complete pattern (the same numbers every iteration)
    prep = []
    for o, ng, mean, C, Xg in pats.pats:
        mis = np.setdiff1d(np.arange(p), o)
        if len(mis) == 0:
            prep.append((None, Xg.sum(axis=0), Xg.T @ Xg))
            continue
        Xf = np.empty((ng, p))
        Xf[:, o] = Xg
        prep.append(((o, mis, np.ix_(o, o), np.ix_(mis, o), np.ix_(mis, mis), ng, Xg), Xf, None))
    old = -np.inf
    for _ in range(maxit):
        T1 = np.zeros(p)
        T2 = np.zeros((p, p))
        for idx, a, b in prep:
            if idx is None:
                T1 += a
                T2 += b
                continue
            o, mis, ix_oo, ix_mo, ix_mm, ng, Xg = idx
            Xf = a
            Soo = Sigma[ix_oo]
            Smo = Sigma[ix_mo]
            Bm = np.linalg.solve(Soo, Smo.T).T
            Xf[:, mis] = mu[mis] + (Xg - mu[o]) @ Bm.T
            condcov = Sigma[ix_mm] - Bm @ Smo.T
            T1 += Xf.sum(axis=0)
            T2 += Xf.T @ Xf
            T2[ix_mm] += ng * condcov
        mu = T1 / n
        Sigma = T2 / n - np.outer(mu, mu)
        ll = _loglik(pats, Sigma, mu)
        if abs(ll - old) < tol * (1 + abs(ll)):
            break
        old = ll
    return mu, Sigma, ll


def _em_saturated_schur(pats, mu, Sigma, maxit, tol):
    """:func:`_em_saturated` from the same start, each E-step batched over the patterns with the same
    number of observed variables and computed from one inverse ``Omega`` of Sigma: the regression of a
    pattern's missing on its observed variables is ``-Omega[m, m]^-1 Omega[m, o]`` and its residual
    covariance ``Omega[m, m]^-1`` (the Schur complement), so each pattern needs an m x m inverse only.
    The completed sums follow from the pattern statistics: with ``x_m = mu_m + B (xbar_o - mu_o)``,
    a pattern adds ``n J (C + ...) J'`` with ``J = [I; B]`` plus ``n Omega[m, m]^-1`` to the
    missing block. The same fixed point and stopping rule; the last bits differ."""
    p = pats.p
    n = pats.n
    _, miss, _ = _schur_prep(pats)
    pieces = []
    for (O, N, MEAN, CC, _), Mi in zip(pats.batches, miss):
        nb, q = O.shape
        J = np.zeros((nb, p, q))
        J[np.arange(nb)[:, None], O, np.arange(q)[None, :]] = 1.0
        pieces.append((O, Mi, N, MEAN, CC, J))
    old = -np.inf
    ll = -np.inf
    for _ in range(maxit):
        L = np.linalg.cholesky(Sigma)
        Li = np.linalg.inv(L)
        Om = Li.T @ Li
        T1 = np.zeros(p)
        T2 = np.zeros((p, p))
        for O, Mi, N, MEAN, CC, J in pieces:
            nb, q = O.shape
            xh = np.zeros((nb, p))
            np.put_along_axis(xh, O, MEAN, axis=1)
            if Mi.shape[1]:
                cc = np.linalg.inv(Om[Mi[:, :, None], Mi[:, None, :]])      # residual covariance of the missing
                Bm = -cc @ Om[Mi[:, :, None], O[:, None, :]]               # regression on the observed
                J[np.arange(nb)[:, None], Mi, :] = Bm
                np.put_along_axis(xh, Mi, mu[Mi] + np.einsum("bmq,bq->bm", Bm, MEAN - mu[O]), axis=1)
            Cf = J @ CC @ J.transpose(0, 2, 1)
            if Mi.shape[1]:
                Cf[np.arange(nb)[:, None, None], Mi[:, :, None], Mi[:, None, :]] += cc
            T1 += N @ xh
            T2 += np.einsum("b,bij->ij", N, Cf) + (xh.T * N) @ xh
        mu = T1 / n
        Sigma = T2 / n - np.outer(mu, mu)
        ll = _loglik(pats, Sigma, mu)
        if abs(ll - old) < tol * (1 + abs(ll)):
            break
        old = ll
    return mu, Sigma, ll


#: EM results of recent FIML fits, keyed by the data matrix (shape and bytes): the saturated model
#: depends on the data alone, and callers fit many models to the same columns (the steps of an
#: invariance sequence, the free and constrained model of a chi-square difference test).
_SATURATED_CACHE: dict = {}
_SATURATED_CACHE_SIZE = 32


def _saturated(pats, X, missing):
    """Saturated (h1) mean, covariance (divided by n) and log-likelihood: sample moments, or EM with FIML."""
    if missing == "listwise":
        Mh1 = X.mean(axis=0)
        Sh1 = (X - Mh1).T @ (X - Mh1) / X.shape[0]
        return Mh1, Sh1, _loglik(pats, Sh1, Mh1)
    Xc = np.ascontiguousarray(X, dtype=float)
    key = (Xc.shape, hashlib.blake2b(Xc.tobytes(), digest_size=20).digest())
    hit = _SATURATED_CACHE.pop(key, None)
    if hit is None:
        hit = _em_saturated(pats, X.shape[1])
    _SATURATED_CACHE[key] = hit  # most recently used last
    while len(_SATURATED_CACHE) > _SATURATED_CACHE_SIZE:
        del _SATURATED_CACHE[next(iter(_SATURATED_CACHE))]
    mu, Sigma, ll = hit
    return mu.copy(), Sigma.copy(), ll


def _numhess(f, x, h=None):
    k = len(x)
    h = 1e-4 * np.maximum(np.abs(x), 1.0) if h is None else h
    H = np.zeros((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        gp, gm = f(x + e), f(x - e)
        H[:, i] = (gp - gm) / (2 * h[i])
    return (H + H.T) / 2


# --------------------------------------------------------------------------- fit


def _rmsea_ci(chisq, df, n, level):
    if df <= 0 or not np.isfinite(chisq):
        return np.nan

    # scipy.stats' ncx2.cdf and chi2.cdf are these special functions (chndtr for lam > 0, chdtr) behind
    # ~0.1-0.2 ms of argument handling per call; brentq calls f a few dozen times per fit
    def f(lam):
        if chisq <= 0:  # at or below the support's lower end, where stats' cdf is 0
            return 0.0 - level
        return special.chndtr(chisq, df, lam) - level if lam > 0 else special.chdtr(df, chisq) - level

    if f(0.0) < 0:
        return 0.0
    hi = max(chisq, 1.0)
    while f(hi) > 0:
        hi *= 2
    lam = optimize.brentq(f, 0.0, hi, xtol=1e-12)
    return np.sqrt(lam / (n * df))


def _check_cluster_column(data, cluster):
    """The cluster column exists and has no missing values."""
    if cluster not in data.columns:
        raise SEMError("cluster column not in the data", found=repr(cluster), expected="a data column")
    if data[cluster].isna().any():
        raise SEMError("missing values in the cluster column", found=f"{cluster}: {int(data[cluster].isna().sum())} NA",
                       expected="a cluster for every row")
    if data[cluster].nunique() < 2:
        raise SEMError("cluster-robust standard errors need at least two clusters",
                       found=f"{cluster}: {data[cluster].nunique()} cluster", expected="two or more clusters")


def _cluster_ids(data, cluster, keep):
    """Cluster identifiers of the rows kept for the fit (None without ``cluster``)."""
    if cluster is None:
        return None
    cl = data[cluster].to_numpy()[keep]
    if len(pd.unique(cl)) < 2:
        raise SEMError("cluster-robust standard errors need at least two clusters",
                       found=f"{cluster}: {len(pd.unique(cl))} cluster", expected="two or more clusters")
    return cl


def sem(data, model, *, group=None, equal=(), partial=(), missing="listwise", auto="sem",
        meanstructure=None, estimator=None, ci_level=0.95, se=True, cluster=None, ordered=None, at=None,
        parameterization="delta", conditional_x=None):
    """Fit a structural equation model by maximum likelihood (lavaan conventions).

    Parameters
    ----------
    data : pandas.DataFrame
    model : str
        lavaan syntax (subset: ``=~``, ``~``, ``~~``, ``~ 1``, fixed ``1*x``,
        labels ``a*x``).
    group : str or None
        Grouping column: a multi-group model (lavaan ``group=``; groups in
        order of appearance; mean structure on by default).
    equal : sequence of str
        lavaan ``group.equal``: any of "loadings", "intercepts", "means",
        "residuals", "residual.covariances", "lv.variances",
        "lv.covariances", "regressions". With equal intercepts (and not equal
        means) the latent means are free in groups 2, 3, ... as in lavaan. With WLSMV also
        "thresholds" (Wu & Estabrook 2016 identification, see :mod:`efficacy.sem.wls`), and
        "residuals" with ``parameterization="theta"`` only.
    partial : sequence of str
        lavaan ``group.partial``: parameters exempt from ``equal``, written
        like ``"x3 ~ 1"`` or ``"visual =~ x2"``.
    missing : {"listwise", "fiml", "pairwise"}
        "fiml" = lavaan ``missing = "ml"`` (casewise likelihood); "pairwise" only with WLSMV
        (polychoric correlations from the rows where both items are observed).
    auto : {"sem", "cfa", "none"}
        "none" = ``lavaan::lavaan()`` (only what is written, plus free observed
        intercepts when ``meanstructure``); "sem"/"cfa" = ``lavaan::sem()``:
        first loading fixed to 1, (residual) variances free, exogenous latent
        covariances free.
    meanstructure : bool or None
        None: True for FIML or with ``cluster``, else False (lavaan's default).
    estimator : {"ML", "MLR", "MLM", "WLSMV"} or None
        None: "ML", or "WLSMV" when ``ordered`` is given (lavaan's default).
        "ML": normal-theory standard errors (expected information; observed with FIML) and
        chi-square. "MLR" (lavaan ``estimator = "MLR"``): the same estimates with Huber-White
        sandwich standard errors (observed information) and the Yuan-Bentler scaled chi-square
        (``test = "yuan.bentler.mplus"``), complete data or FIML. "MLM" (Satorra-Bentler,
        expected information, complete data only). Both add lavaan's ``fitMeasures`` entries
        ``chisq.scaled``, ``df.scaled``, ``pvalue.scaled``, ``chisq.scaling.factor``,
        ``baseline.chisq.scaled``, ``cfi.scaled``, ``tli.scaled``, ``rmsea.scaled`` (with
        ``rmsea.ci.lower.scaled`` / ``rmsea.ci.upper.scaled``), ``cfi.robust``, ``tli.robust``,
        ``rmsea.robust``, ``rmsea.ci.lower.robust``, ``rmsea.ci.upper.robust`` to ``fit``; see
        :mod:`efficacy.sem_robust`. "WLSMV" (``ordered=`` indicators): DWLS estimates of thresholds
        and the latent-response correlation structure on the polychoric matrix, lavaan's "delta"
        parameterisation, robust standard errors (``se = "robust.sem"``) and the scale-shifted test
        (``test = "scaled.shifted"``); thresholds are rows with ``op = "|"``; see
        :mod:`efficacy.sem.wls`.
    ci_level : float
    se : bool
        False skips the information matrix (``se``, ``statistic``, ``pvalue``, CI and ``vcov`` are NaN):
        for callers that only need the fit, e.g. chi-square difference tests. With FIML the
        observed information is the costly part of a fit. MLR and MLM compute it anyway (the
        scaled test needs it).
    cluster : str or None
        Column of cluster identifiers (classrooms, clinics): cluster-robust standard errors
        and test for a single-level model, as lavaan's ``cluster=`` (needs MLR, MLM or WLSMV; with
        WLSMV, single- and multi-group: the Gamma of thresholds, polychorics (and the moments of continuous
        variables) from cluster sums of the casewise scores, see :func:`efficacy.sem.wls.fit_wlsmv`).
    ordered : True, list of str or None
        Ordered-categorical indicators (lavaan ``ordered=``): True for every observed variable of
        the model, or a list of them. Observed variables not in the list are continuous: they enter
        the moments with their means, variances and polyserial / Pearson covariances, as lavaan's
        ``conditional.x = FALSE``, or given the exogenous covariates (``conditional_x``); one or
        more groups, listwise or pairwise deletion (:mod:`efficacy.sem.wls_mixed`).
        Implies ``estimator="WLSMV"``.
    conditional_x : bool or None
        WLSMV with continuous variables and exogenous observed covariates (lavaan ``conditional.x``):
        None or True (lavaan's default for categorical data) models the endogenous variables given
        the covariates (probit / linear regressions on them and residual correlations); False puts the
        covariates into the joint moments with free means and variances. Ignored by the other
        estimators (their fixed.x fit is conditional on the covariates anyway).
    at : pandas.DataFrame or None
        Multi-group models only (for difference and score tests, :mod:`efficacy.sem.lrt`): a
        parameter table (``lhs``, ``op``, ``rhs``, ``group``, ``estimate``) at which the model is
        evaluated instead of fitted (lavaan ``optim.method = "none"`` with these start values, as
        ``lavaan:::lav_test_diff_m10``). Free parameters not in the table keep their start values.
        The result is marked converged and carries ``evaluated = {"gradient", "information"}``
        (log-likelihood gradient and information of the whole sample at those values).
    parameterization : {"delta", "theta"}
        WLSMV only (lavaan ``parameterization=``). "delta" (default): scaling factors ``~*~`` are
        parameters (fixed at 1), residual variances of the latent responses are not. "theta": the
        residual variances are parameters (fixed at 1, freed in groups 2, 3, ... by equal
        thresholds), the scaling factors ``1 / sd(y*)`` derived; the same fit for models that
        both can express, and the only one with equal residual variances (strict invariance).

    Returns
    -------
    SEMResult
        Matches ``lavaan::lavaan()`` / ``fitMeasures()`` / ``parameterEstimates()``
        / ``standardizedSolution()``.
    """
    if not isinstance(data, pd.DataFrame):
        raise SEMError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if estimator is None:   # lavaan: ordered indicators switch the default estimator to WLSMV
        estimator = "WLSMV" if ordered not in (None, False) else "ML"
    estimator = estimator.upper() if isinstance(estimator, str) else estimator
    if estimator == "WLSMV":
        if meanstructure is False:
            raise SEMError("WLSMV here does not support meanstructure=False",
                           found=f"meanstructure={meanstructure!r}",
                           expected="meanstructure=None (thresholds make the mean structure part of the model)")
        if cluster is not None:
            _check_cluster_column(data, cluster)
        from .wls import fit_wlsmv   # ordered-categorical indicators (lazy: wls.py imports this module)
        return fit_wlsmv(data, parse_model(model), ordered=True if ordered is None else ordered, group=group,
                         equal=equal, partial=partial, missing=missing,
                         auto=auto, ci_level=ci_level, at=at, parameterization=parameterization,
                         conditional_x=conditional_x, cluster=cluster)
    if parameterization != "delta":
        raise SEMError("parameterization= applies to ordered indicators (WLSMV)",
                       found=f"parameterization={parameterization!r}, estimator={estimator!r}",
                       expected="estimator='WLSMV' with ordered=, or parameterization='delta'")
    if ordered not in (None, False):
        raise SEMError("ordered indicators need the WLSMV estimator", found=f"estimator={estimator!r}",
                       expected="estimator='WLSMV' (or leave estimator unset) with ordered=")
    if estimator not in sem_robust.ESTIMATORS:
        raise SEMError("unknown estimator", found=repr(estimator), expected="'ML', 'MLR', 'MLM' or 'WLSMV'")
    if missing in ("ml", "FIML", "fiml"):
        missing = "fiml"
    if missing not in ("listwise", "fiml"):
        raise SEMError("unknown missing-data method", found=repr(missing), expected="'listwise' or 'fiml'")
    if estimator == "MLM" and missing == "fiml":
        raise SEMError("the MLM (Satorra-Bentler) estimator needs complete data", found="missing='fiml'",
                       expected="estimator='MLR' with missing='fiml', or missing='listwise'")
    if cluster is not None:
        if estimator == "ML":
            raise SEMError("cluster-robust standard errors need a robust estimator", found="estimator='ML'",
                           expected="estimator='MLR' or 'MLM' with cluster=")
        _check_cluster_column(data, cluster)
    if auto not in ("sem", "cfa", "none"):
        raise SEMError("unknown auto option", found=repr(auto), expected="'sem', 'cfa' or 'none'")
    ms_arg = meanstructure
    if meanstructure is None and re.search(r"~\s*(?:[-+.0-9eE]+\s*\*\s*)?1\s*(?:$|[+#;\n])", model, re.M):
        meanstructure = ms_arg = True  # intercepts in the syntax switch the mean structure on (lavaan)
    if meanstructure is None:
        meanstructure = missing == "fiml" or cluster is not None
    if missing == "fiml" and not meanstructure:
        raise SEMError("FIML needs a mean structure", found="meanstructure=False", expected="meanstructure=True")
    rows = parse_model(model)
    if group is not None:
        return _sem_multigroup(data, rows, group, equal, partial, missing, auto,
                               True if ms_arg is None else bool(ms_arg), ci_level, se,
                               estimator=estimator, cluster=cluster, at=at)
    if at is not None:
        raise SEMError("at= is implemented for multi-group models", found="group=None", expected="group=")
    if equal or partial:
        raise SEMError("equal= and partial= need a multi-group model", found=f"equal={equal!r}",
                       expected="group='<column>'")
    mod = _Model(rows, list(data.columns), auto, meanstructure)
    obs = mod.obs
    bad = [c for c in obs if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise SEMError("model variable(s) are not numeric", found=", ".join(bad), expected="numeric columns")
    X = data[obs].to_numpy(dtype=float)
    warn = []
    if missing == "listwise":
        keep = ~np.isnan(X).any(axis=1)
        X = X[keep]
    else:
        keep = ~np.isnan(X).all(axis=1)
        X = X[keep]
        xi = [obs.index(v) for v in mod.ov_x]
        if xi and np.isnan(X[:, xi]).any():
            raise SEMError("missing values in exogenous covariates with FIML (fixed.x)",
                           found=", ".join(mod.ov_x), expected="complete covariates")
    n, p = X.shape
    if n < 2:
        raise SEMError("too few complete cases", found=f"n = {n}")
    _check_variance(X, obs)
    cl = _cluster_ids(data, cluster, keep)
    pats = _Patterns(X)
    Mh1, Sh1, ll_sat = _saturated(pats, X, missing)
    mod.set_fixed(Mh1, Sh1)
    if not meanstructure:
        # mean structure saturated: intercepts fixed at sample means is equivalent
        pass
    oi = {v: i for i, v in enumerate(obs)}
    theta0 = _start_values(mod, Sh1, Mh1)
    if not meanstructure:
        # saturated means: put observed intercepts at values reproducing the sample means
        pass

    def implied(theta):
        Sig, mu = mod.implied(theta)
        if not meanstructure:
            mu = Mh1.copy()
        return Sig, mu

    scale = max(n, 1)

    def fobj(theta):
        try:
            Sig, mu = implied(theta)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        ll, Wf, gm = _loglik_moment_grad(pats, Sig, mu)
        if not np.isfinite(ll):
            return 1e10, np.zeros_like(theta)
        dSig, dmu = mod.derivatives(theta)
        g = dSig.reshape(len(dSig), -1) @ Wf.ravel() + (dmu @ gm if meanstructure else 0.0)
        return -(ll - ll_sat) / scale, -g / scale

    def info(theta):
        Sig, _ = implied(theta)
        dSig, dmu = mod.derivatives(theta)
        return _expected_info(Sig, dSig, dmu if meanstructure else np.zeros_like(dmu))

    def hess(theta):  # the exact Hessian of fobj
        return _observed_info(mod, pats, theta, meanstructure, Mh1) / scale

    converged = True
    if mod.npar:
        theta = _minimise_with_fallback(fobj, theta0, info, hess, hess_first=p < _NEWTON_FIRST_MAX_P)
        gmax = float(np.max(np.abs(fobj(theta)[1])))
        if not np.isfinite(fobj(theta)[0]) or fobj(theta)[0] >= 1e9:
            converged = False
            warn.append("optimiser did not converge (no parameter values with a positive definite model-implied "
                        "covariance matrix were found)")
        elif gmax > 1e-4:
            converged = False
            warn.append(f"optimiser did not converge (max |gradient| = {gmax:.3g})")
    else:
        theta = theta0
    Sig, mu = implied(theta)
    ll = _loglik(pats, Sig, mu)
    # standard errors
    dSig, dmu = mod.derivatives(theta)
    if not meanstructure:
        dmu = np.zeros_like(dmu)
    vcov = np.full((mod.npar, mod.npar), np.nan)
    Info = None
    try:
        if not se and estimator == "ML":
            raise _NoSE
        if missing == "listwise" and estimator != "MLR":
            Info = n * _expected_info(Sig, dSig, dmu)
        else:  # observed information (FIML, MLR), analytic
            Info = _observed_info(mod, pats, theta, meanstructure, Mh1)
        vcov = np.linalg.inv(Info)
        if np.any(np.diag(vcov) < 0):
            warn.append("information matrix not positive definite: standard errors unreliable")
    except np.linalg.LinAlgError:
        warn.append("information matrix singular: model may not be identified; no standard errors")
    except _NoSE:
        pass
    se_free = np.sqrt(np.clip(np.diag(vcov), 0, None)) if mod.npar else np.zeros(0)
    # proper solution
    V, mu_full, A, S, m, B = mod.implied(theta, full=True)
    proper = True
    negv = [mod.vars[i] for i in range(mod.nv) if S[i, i] < 0]
    if negv:
        proper = False
        warn.append("negative variance(s): " + ", ".join(negv))
    for nm, M in (("observed", Sig), ("latent", V[len(obs):, len(obs):])):
        if M.size and not _positive_semidefinite(M):
            proper = False
            warn.append(f"model-implied {nm} covariance matrix is not positive definite")
    # fixed.x: lavaan reports the log-likelihood conditional on the covariates
    ll_x = 0.0
    if mod.ov_x:
        xi = [oi[v] for v in mod.ov_x]
        Sx = Sh1[np.ix_(xi, xi)]
        ll_x = -0.5 * n * (len(xi) * _LOG2PI + np.linalg.slogdet(Sx)[1] + len(xi))
    # fit measures
    npar = mod.npar
    nx = len(mod.ov_x)
    ndat = p * (p + 1) // 2 + (p if meanstructure else 0) - (nx * (nx + 1) // 2 + (nx if meanstructure else 0))
    df = ndat - npar
    if df < 0:
        warn.append(f"model not identified: {npar} free parameters for {ndat} sample moments (df = {df})")
    chisq = max(2 * (ll_sat - ll), 0.0) if df > 0 else 2 * (ll_sat - ll)
    pval = stats.chi2.sf(chisq, df) if df > 0 else np.nan
    # baseline: independence (observed variances and means free, fixed.x block fixed)
    ll_b = 0.0
    for j in range(p):
        xj = X[:, j]
        xj = xj[~np.isnan(xj)]
        nj = len(xj)
        vj = xj.var()
        if j in [oi[v] for v in mod.ov_x]:
            continue
        ll_b += -0.5 * nj * (_LOG2PI + np.log(vj) + 1)
    if nx:
        xi = [oi[v] for v in mod.ov_x]
        Sx = Sh1[np.ix_(xi, xi)]
        ll_b += -0.5 * n * (nx * _LOG2PI + np.linalg.slogdet(Sx)[1] + nx)
    b_df = p * (p - 1) // 2 - nx * (nx - 1) // 2
    b_chisq = 2 * (ll_sat - ll_b)
    if df > 0:
        cfi, tli, rmsea, r_lo, r_hi = ml_indices(chisq, df, b_chisq, b_df, n)
    else:
        cfi = tli = 1.0 if df == 0 else np.nan
        rmsea = 0.0 if df == 0 else np.nan
        r_lo = r_hi = np.nan
    num, ne = srmr_terms(Sh1, Sig, Mh1, mu, meanstructure)
    srmr = float(np.sqrt(num / ne))
    fit = dict(chisq=float(chisq), df=int(df), pvalue=float(pval), cfi=float(cfi), tli=float(tli),
               rmsea=float(rmsea), rmsea_ci_low=float(r_lo), rmsea_ci_high=float(r_hi), srmr=srmr,
               loglik=float(ll - ll_x), loglik_saturated=float(ll_sat - ll_x),
               aic=float(-2 * (ll - ll_x) + 2 * npar), bic=float(-2 * (ll - ll_x) + npar * np.log(n)), npar=int(npar), n=int(n),
               baseline_chisq=float(b_chisq), baseline_df=int(b_df))
    if estimator != "ML" and Info is not None:
        grp = sem_robust.RobustGroup(X=X, sigma=Sig, mu=mu, dsigma=dSig, dmu=dmu, sigma1=Sh1, mu1=Mh1,
                                     x_idx=tuple(oi[v] for v in mod.ov_x), cluster=cl)
        vcov, se_free = sem_robust.apply_robust([grp], Info, estimator, fit, warn, missing, meanstructure, vcov)
    # parameter table
    zc = stats.norm.ppf(0.5 + ci_level / 2)
    sdv = np.sqrt(np.clip(np.diag(V), 0, None))
    out = []
    for r in mod.table:
        k = r["free"] - 1
        est = theta[k] if k >= 0 else r["fixed_value"]
        se = se_free[k] if k >= 0 else 0.0
        z = est / se if k >= 0 and se > 0 else np.nan
        pv = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan
        std = std_all(r["op"], est, r["i"], r["j"], sdv, V, S)
        out.append(dict(lhs=r["lhs"], op="~1" if r["op"] == "~1" else r["op"], rhs=r["rhs"], group=1,
                        label=r["label"], free=r["free"], estimate=float(est), se=float(se), statistic=z,
                        pvalue=pv, ci_low=est - zc * se, ci_high=est + zc * se, std_all=float(std)))
    est_df = pd.DataFrame(out)
    order = {"=~": 0, "~": 1, "~~": 2, "~1": 3}
    ops = est_df["op"].tolist()   # the same stable sort by operator, without a pandas lookup per row
    est_df = est_df.iloc[sorted(range(len(ops)), key=lambda a: order[ops[a]])].reset_index(drop=True)
    pnames = []
    for k in range(1, npar + 1):
        r = next(r for r in mod.table if r["free"] == k)
        pnames.append(r["label"] or f"{r['lhs']}{r['op']}{r['rhs']}")
    vc = pd.DataFrame(vcov, index=pnames, columns=pnames)
    return SEMResult(converged=bool(converged), proper=bool(proper), warnings=warn, fit=fit, estimates=est_df,
                     vcov=vc, loglik=float(ll - ll_x), missing=missing, n=int(n),
                     **sem_robust.estimator_fields(estimator, missing, cluster))


# --------------------------------------------------------------------------- multi-group

_EQUAL_TYPES = ("loadings", "intercepts", "means", "residuals", "residual.covariances", "lv.variances",
                "lv.covariances", "regressions")


def _row_type(r, latents, ov_x):
    op, lhs, rhs = r["op"], r["lhs"], r["rhs"]
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in latents else ("intercepts" if lhs not in ov_x else None)
    if lhs in ov_x:
        return None
    if lhs in latents and rhs in latents:
        return "lv.variances" if lhs == rhs else "lv.covariances"
    if lhs not in latents and rhs not in latents:
        return "residuals" if lhs == rhs else "residual.covariances"
    return None


def _theta_at(groups, at, theta0):
    """Global parameter vector from a parameter table (``sem(at=)``); unmatched free parameters keep theta0."""
    val = {(str(r.lhs), str(r.op), "" if pd.isna(r.rhs) else str(r.rhs), int(r.group)): float(r.estimate)
           for r in at.itertuples()}
    theta = theta0.copy()
    for gi, G in enumerate(groups):
        for r in G["mod"].table:
            k = r["free"] - 1
            key = (r["lhs"], r["op"], r["rhs"] or "", gi + 1)
            if k >= 0 and key in val:
                theta[G["map"][k]] = val[key]
    return theta


def _sem_multigroup(data, rows, group, equal, partial, missing, auto, meanstructure, ci_level, se=True,
                    estimator="ML", cluster=None, at=None):
    """Multi-group ML (lavaan ``group=``, ``group.equal=``, ``group.partial=``)."""
    if group not in data.columns:
        raise SEMError("group column not in the data", found=repr(group), expected="a data column")
    equal = (equal,) if isinstance(equal, str) else tuple(equal)
    bad = [e for e in equal if e not in _EQUAL_TYPES]
    if bad:
        raise SEMError("unknown equality type", found=", ".join(bad), expected=", ".join(_EQUAL_TYPES))
    partial = (partial,) if isinstance(partial, str) else tuple(partial)
    partial_keys = {re.sub(r"\s+", "", p) for p in partial}
    if not meanstructure and any(e in equal for e in ("intercepts", "means")):
        raise SEMError("equal intercepts/means need meanstructure=True", found=f"equal={equal!r}")
    levels = list(pd.unique(data[group].dropna()))
    if len(levels) < 2:
        raise SEMError("a multi-group model needs at least two groups", found=f"{group}: {levels}")
    free_lv = "intercepts" in equal and "means" not in equal
    groups = []
    for g, lev in enumerate(levels):
        mod = _Model(rows, list(data.columns), auto, meanstructure, free_lv_means=(free_lv and g > 0))
        obs = mod.obs
        bad = [c for c in obs if not pd.api.types.is_numeric_dtype(data[c])]
        if bad:
            raise SEMError("model variable(s) are not numeric", found=", ".join(bad), expected="numeric columns")
        X = data.loc[data[group] == lev, obs].to_numpy(dtype=float)
        keep = ~np.isnan(X).any(axis=1) if missing == "listwise" else ~np.isnan(X).all(axis=1)
        X = X[keep]
        n, p = X.shape
        if n < 2:
            raise SEMError("too few cases in a group", found=f"{group} = {lev!r}: n = {n}")
        _check_variance(X, obs, f" in group {group} = {lev!r}")
        cl = _cluster_ids(data.loc[data[group] == lev], cluster, keep)
        pats = _Patterns(X)
        Mh1, Sh1, ll_sat = _saturated(pats, X, missing)
        mod.set_fixed(Mh1, Sh1)
        groups.append(dict(mod=mod, X=X, n=n, p=p, pats=pats, Mh1=Mh1, Sh1=Sh1, ll_sat=ll_sat, level=lev,
                           oi={v: i for i, v in enumerate(obs)}, cluster=cl))
    # global parameter map
    g0 = groups[0]["mod"]
    key0 = {(r["lhs"], r["op"], r["rhs"]): r for r in g0.table}
    labels = {r["label"]: r["free"] - 1 for r in g0.table if r["label"] and r["free"]}
    nglob = g0.npar
    for gi, G in enumerate(groups):
        mod = G["mod"]
        mp = np.full(mod.npar, -1)
        for r in mod.table:
            k = r["free"] - 1
            if k < 0 or mp[k] >= 0:
                continue
            if gi == 0:
                mp[k] = k
                continue
            t = _row_type(r, mod.latents, mod.ov_x)
            key = (r["lhs"], r["op"], r["rhs"])
            pkey = f"{r['lhs']}{r['op']}{r['rhs']}"
            if r["label"] and r["label"] in labels:
                mp[k] = labels[r["label"]]
            elif t in equal and pkey not in partial_keys and key in key0 and key0[key]["free"]:
                mp[k] = key0[key]["free"] - 1
            else:
                mp[k] = nglob
                nglob += 1
        G["map"] = mp
    N = sum(G["n"] for G in groups)
    ll_sat_tot = sum(G["ll_sat"] for G in groups)
    warn = []
    theta0 = np.zeros(nglob)
    for G in groups:
        theta0[G["map"]] = _start_values(G["mod"], G["Sh1"], G["Mh1"])

    def parts(theta, G):
        t = theta[G["map"]]
        Sig, mu = G["mod"].implied(t)
        if not meanstructure:
            mu = G["Mh1"].copy()
        return t, Sig, mu

    def fobj(theta):
        ll = 0.0
        g = np.zeros(nglob)
        try:
            for G in groups:
                t, Sig, mu = parts(theta, G)
                ll_g, Wf, gm = _loglik_moment_grad(G["pats"], Sig, mu)
                if not np.isfinite(ll_g):
                    return 1e10, np.zeros_like(theta)
                ll += ll_g
                d1, d2 = G["mod"].derivatives(t)
                gk = d1.reshape(len(d1), -1) @ Wf.ravel() + (d2 @ gm if meanstructure else 0.0)
                np.add.at(g, G["map"], gk)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        return -(ll - ll_sat_tot) / N, -g / N

    def info_total(theta):
        """Expected information of the whole sample (sum over groups, complete-data form)."""
        Info = np.zeros((nglob, nglob))
        for G in groups:
            t, Sig, mu = parts(theta, G)
            d1, d2 = G["mod"].derivatives(t)
            I_g = _expected_info(Sig, d1, d2 if meanstructure else np.zeros_like(d2))
            P = np.zeros((len(d1), nglob))
            P[np.arange(len(d1)), G["map"]] = 1.0
            Info += G["n"] * P.T @ I_g @ P
        return Info

    def observed_total(theta):
        """Observed information of the whole sample (minus the Hessian of the log-likelihood), analytic."""
        Info = np.zeros((nglob, nglob))
        for G in groups:
            I_g = _observed_info(G["mod"], G["pats"], theta[G["map"]], meanstructure, G["Mh1"])
            np.add.at(Info, (G["map"][:, None], G["map"][None, :]), I_g)
        return Info

    def grad_ll(theta):
        """Gradient of the whole sample's log-likelihood (``sem(at=)``'s evaluated gradient)."""
        g = np.zeros(nglob)
        for G in groups:
            t, Sig, mu = parts(theta, G)
            d1, d2 = G["mod"].derivatives(t)
            if not meanstructure:
                d2 = np.zeros_like(d2)
            np.add.at(g, G["map"], _loglik_grad(G["pats"], Sig, mu, d1, d2))
        return g

    if at is None:
        theta = _minimise_with_fallback(fobj, theta0, lambda t: info_total(t) / N, lambda t: observed_total(t) / N,
                                        hess_first=max(G["p"] for G in groups) < _NEWTON_FIRST_MAX_P)
    else:
        theta = _theta_at(groups, at, theta0)
    fv, gv = fobj(theta)
    converged = bool(fv < 1e9 and (at is not None or np.max(np.abs(gv)) <= 1e-4))
    if not converged:
        warn.append(f"optimiser did not converge (max |gradient| = {np.max(np.abs(gv)):.3g})")
    # information
    vcov = np.full((nglob, nglob), np.nan)
    Info = None
    try:
        if not se and estimator == "ML":
            raise _NoSE
        if missing == "listwise" and estimator != "MLR":
            Info = info_total(theta)
        else:
            Info = observed_total(theta)
        vcov = np.linalg.inv(Info)
    except np.linalg.LinAlgError:
        warn.append("information matrix singular: model may not be identified; no standard errors")
    except _NoSE:
        pass
    se_glob = np.sqrt(np.clip(np.diag(vcov), 0, None))
    zc = stats.norm.ppf(0.5 + ci_level / 2)
    ll_tot = ll_x_tot = 0.0
    ndat = b_df = 0
    b_chisq = 0.0
    srmr_num = 0.0
    proper = True
    out = []
    for gi, G in enumerate(groups):
        mod, n, p, X, Sh1, Mh1, oi = G["mod"], G["n"], G["p"], G["X"], G["Sh1"], G["Mh1"], G["oi"]
        t, Sig, mu = parts(theta, G)
        ll_tot += _loglik(G["pats"], Sig, mu)
        xi = [oi[v] for v in mod.ov_x]
        nx = len(xi)
        if nx:
            Sx = Sh1[np.ix_(xi, xi)]
            ll_x_tot += -0.5 * n * (nx * _LOG2PI + np.linalg.slogdet(Sx)[1] + nx)
        ndat += p * (p + 1) // 2 + (p if meanstructure else 0) - (nx * (nx + 1) // 2 + (nx if meanstructure else 0))
        llb = 0.0
        for j in range(p):
            if j in xi:
                continue
            xj = X[:, j][~np.isnan(X[:, j])]
            llb += -0.5 * len(xj) * (_LOG2PI + np.log(xj.var()) + 1)
        if nx:
            llb += -0.5 * n * (nx * _LOG2PI + np.linalg.slogdet(Sx)[1] + nx)
        b_chisq += 2 * (G["ll_sat"] - llb)
        b_df += p * (p - 1) // 2 - nx * (nx - 1) // 2
        num, ne = srmr_terms(Sh1, Sig, Mh1, mu, meanstructure)
        srmr_num += n * np.sqrt(num / ne)
        V, _, A, S, m, B = mod.implied(t, full=True)
        negv = [mod.vars[i] for i in range(mod.nv) if S[i, i] < 0]
        if negv:
            proper = False
            warn.append(f"group {G['level']}: negative variance(s): " + ", ".join(negv))
        nobs = len(mod.obs)
        for nm, M in (("observed", Sig), ("latent", V[nobs:, nobs:])):
            if M.size and not _positive_semidefinite(M):
                proper = False
                warn.append(f"group {G['level']}: model-implied {nm} covariance matrix is not positive definite")
        sdv = np.sqrt(np.clip(np.diag(V), 0, None))
        for r in mod.table:
            k = r["free"] - 1
            kg = G["map"][k] if k >= 0 else -1
            est = theta[kg] if kg >= 0 else r["fixed_value"]
            se = se_glob[kg] if kg >= 0 else 0.0
            z = est / se if kg >= 0 and se > 0 else np.nan
            pv = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan
            std = std_all(r["op"], est, r["i"], r["j"], sdv, V, S)
            out.append(dict(lhs=r["lhs"], op=r["op"], rhs=r["rhs"], group=gi + 1, label=r["label"],
                            free=int(kg + 1), estimate=float(est), se=float(se), statistic=z, pvalue=pv,
                            ci_low=est - zc * se, ci_high=est + zc * se, std_all=float(std)))
    df = ndat - nglob
    if df < 0:
        warn.append(f"model not identified: {nglob} free parameters for {ndat} sample moments (df = {df})")
    chisq = max(2 * (ll_sat_tot - ll_tot), 0.0)
    ng = len(groups)
    if df > 0:
        pval = stats.chi2.sf(chisq, df)
        cfi, tli, rmsea, r_lo, r_hi = ml_indices(chisq, df, b_chisq, b_df, N, ng)
    else:
        pval, cfi, tli, rmsea, r_lo, r_hi = np.nan, 1.0, 1.0, 0.0, np.nan, np.nan
    ll = ll_tot - ll_x_tot
    fit = dict(chisq=float(chisq), df=int(df), pvalue=float(pval), cfi=float(cfi), tli=float(tli),
               rmsea=float(rmsea), rmsea_ci_low=float(r_lo), rmsea_ci_high=float(r_hi),
               srmr=float(srmr_num / N), loglik=float(ll), loglik_saturated=float(ll_sat_tot - ll_x_tot),
               aic=float(-2 * ll + 2 * nglob), bic=float(-2 * ll + nglob * np.log(N)), npar=int(nglob),
               n=int(N), baseline_chisq=float(b_chisq), baseline_df=int(b_df), ngroups=ng)
    if estimator != "ML" and Info is not None:
        rgroups = []
        for G in groups:
            t, Sig, mu = parts(theta, G)
            d1, d2 = G["mod"].derivatives(t)
            dsig, dmu = np.zeros((nglob,) + d1.shape[1:]), np.zeros((nglob, d2.shape[1]))
            np.add.at(dsig, G["map"], d1)   # local -> global free parameters (shared ones summed)
            if meanstructure:
                np.add.at(dmu, G["map"], d2)
            rgroups.append(sem_robust.RobustGroup(X=G["X"], sigma=Sig, mu=mu, dsigma=dsig, dmu=dmu, sigma1=G["Sh1"],
                                                  mu1=G["Mh1"], x_idx=tuple(G["oi"][v] for v in G["mod"].ov_x),
                                                  cluster=G["cluster"]))
        vcov, se_glob = sem_robust.apply_robust(rgroups, Info, estimator, fit, warn, missing, meanstructure, vcov)
        for row in out:
            kg = row["free"] - 1
            if kg >= 0:
                se = se_glob[kg]
                z = row["estimate"] / se if se > 0 else np.nan
                row.update(se=se, statistic=z, pvalue=2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan,
                           ci_low=row["estimate"] - zc * se, ci_high=row["estimate"] + zc * se)
    est_df = pd.DataFrame(out)
    order = {"=~": 0, "~": 1, "~~": 2, "~1": 3}
    ops, grp = est_df["op"].tolist(), est_df["group"].tolist()
    est_df = est_df.iloc[sorted(range(len(ops)), key=lambda a: (grp[a], order[ops[a]]))]
    est_df = est_df.reset_index(drop=True)
    est_df["group_level"] = [groups[g - 1]["level"] for g in est_df["group"]]
    pn = [f"p{k + 1}" for k in range(nglob)]
    res = SEMResult(converged=converged, proper=proper, warnings=warn, fit=fit, estimates=est_df,
                    vcov=pd.DataFrame(vcov, index=pn, columns=pn), loglik=float(ll), missing=missing, n=int(N),
                    **sem_robust.estimator_fields(estimator, missing, cluster))
    if at is not None:   # for score tests (efficacy.sem.lrt): gradient and information at the given values
        res.evaluated = {"gradient": grad_ll(theta), "information": Info if Info is not None else info_total(theta)}
    return res
