"""Two-stage structural equation modelling of pooled correlation matrices (TSSEM).

Cheung & Chan (2005) split a meta-analytic SEM into two stages:

* **Stage 1** (:func:`tssem1`) pools the studies' correlation matrices by a random-effects
  multivariate GLS model: each study contributes the correlations it reports with their
  Olkin-Siotani sampling covariances (computed at the study's own correlations, as
  ``metafor::rcalc()``, or at the sample-size-weighted mean correlation matrix, as metaSEM's
  default ``acov = "weighted"``), and the between-study covariance of the true correlations is
  unstructured or diagonal (``metafor::rma.mv(yi, V, mods = ~ pair - 1, random = ~ pair | study,
  struct = "UN" / "DIAG")``, REML or ML). It reports tau2 and I2 per correlation and the
  homogeneity test ``Q`` (``rma.mv``'s ``QE``).
* **Stage 2** (:func:`tssem2`) fits a structural model written in lavaan syntax (the project's SEM
  engine, :mod:`efficacy.sem.engine`, parses it and builds the RAM matrices) to the pooled matrix
  by weighted least squares with the inverse of the pooled correlations' covariance as weight. The
  model is a correlation structure: exogenous variances are 1 and every residual variance is
  1 - explained variance (metaSEM's ``tssem2(diag.constraints = FALSE)``), so only the
  correlations enter the discrepancy ``T = (r - rho(theta))' acov^-1 (r - rho(theta))``, which is
  the model chi-square. SEs come from ``(Delta' acov^-1 Delta)^-1``; defined effects (``:=``, or
  every indirect path when none is written) get delta-method SEs and likelihood-based CIs
  (Neale & Miller, 1997; metaSEM ``intervals.type = "LB"``); fit indices follow metaSEM's
  ``summary.wls()`` (RMSEA with N - 1, CFI and TLI against the independence model, SRMR of the
  correlation residuals).

:func:`tssem` runs both. Checked in ``tests/test_tssem.py`` against metafor 3.8 (stage 1) and
lavaan 0.6 with ``sample.cov`` = the pooled matrix, ``NACOV`` = N x its covariance and
``estimator = "WLS"`` (stage 2), on Craft et al. (2003) (fixtures by ``tests/reference/tssem.R``).

Example
-------
>>> import pandas as pd
>>> d = pd.read_csv("data/literature/craft2003.csv")                       # doctest: +SKIP
>>> fit = tssem(d, "conf ~ acog + asom\\nperf ~ conf")                      # doctest: +SKIP
>>> fit.fit["chisq"], fit.fit["df"], fit.defined                           # doctest: +SKIP
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._api import renamed
from ..errors import MetaError, SEMError
from ..results import FitMeasures, ResultMixin
from ..sem.core import Model, parse_model, rmsea_ci
from .masem import _mv_un, _os_cov, rcalc

__all__ = ["TSSEM1Result", "TSSEMResult", "tssem1", "tssem2", "tssem"]

ACOV = ("individual", "weighted")
STRUCTS = ("UN", "DIAG")


def _clean(v):
    if isinstance(v, (np.floating, float)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _records(df):
    return [{k: _clean(v) for k, v in rec.items()} for rec in df.to_dict(orient="records")]


# --------------------------------------------------------------------------- stage 1
@dataclass
class TSSEM1Result(ResultMixin):
    """Stage 1 of TSSEM: the pooled correlation matrix and its sampling covariance.

    Attributes
    ----------
    variables : list of str
    pooled : pandas.DataFrame
        One row per correlation (``pair`` "a.b", ``var1``, ``var2``): ``estimate``, ``se``,
        ``statistic``, ``pvalue``, ``ci_low``, ``ci_high``, ``tau2``, ``I2`` (%), ``k`` (studies).
    R : pandas.DataFrame
        Pooled correlation matrix.
    acov : pandas.DataFrame
        Covariance matrix of the pooled correlations (``vcov`` of ``rma.mv``): the stage-2 weight.
    tau2 : pandas.DataFrame
        Between-study covariance matrix of the true correlations.
    Q, Q_df, Q_pvalue : float, int, float
        Homogeneity test (``rma.mv``'s ``QE``).
    k : int
        Studies that contributed; ``n_total`` their summed sample size; ``n_obs`` correlations.
    dropped : list of str
        Studies left out, each with the reason.
    """

    variables: list
    pooled: pd.DataFrame
    R: pd.DataFrame
    acov: pd.DataFrame
    tau2: pd.DataFrame
    Q: float
    Q_df: int
    Q_pvalue: float
    k: int
    n_total: float
    n_obs: int
    logLik: float
    method: str
    struct: str
    acov_type: str
    ci_level: float
    dropped: list = field(default_factory=list)
    converged: bool = True
    reason: str = ""

    _headline = ("Q", "Q_df", "Q_pvalue", "k", "n_total")
    _title = "TSSEM stage 1: pooled correlation matrix"

    def __repr__(self):
        return (f"TSSEM1Result(variables={self.variables}, k={self.k}, n_total={self.n_total:g}, "
                f"Q={self.Q:.3f}, Q_df={self.Q_df}, converged={self.converged})")

    def to_frame(self):
        """The pooled correlations (one row each) and the homogeneity test (``table`` says which)."""
        a = self.pooled.assign(table="pooled", stage=1, term=self.pooled["pair"])
        b = pd.DataFrame({"table": ["heterogeneity"], "stage": [1], "term": ["Q"], "estimate": [self.Q],
                          "df": [self.Q_df], "pvalue": [self.Q_pvalue], "k": [self.k]})
        return pd.concat([a, b], ignore_index=True)

    def summary(self):
        """A short plain-text report."""
        lines = [(f"TSSEM stage 1: random-effects multivariate GLS ({self.method}, tau2 {self.struct}, "
                  f"acov {self.acov_type}); k = {self.k} studies, {self.n_obs} correlations, N = {self.n_total:g}"),
                 f"{'pair':<16}{'r':>9}{'se':>9}{'ci_low':>9}{'ci_high':>9}{'tau2':>9}{'I2 %':>7}{'k':>4}"]
        for _, r in self.pooled.iterrows():
            lines.append(f"{r['pair']:<16}{r['estimate']:>9.4f}{r['se']:>9.4f}{r['ci_low']:>9.4f}"
                         f"{r['ci_high']:>9.4f}{r['tau2']:>9.4f}{r['I2']:>7.1f}{int(r['k']):>4}")
        lines.append(f"Homogeneity: Q({self.Q_df}) = {self.Q:.3f}, p = {self.Q_pvalue:.4g}")
        if self.dropped:
            lines.append("Dropped: " + "; ".join(self.dropped))
        if not self.converged:
            lines.append(f"NOT CONVERGED: {self.reason}")
        return "\n".join(lines)

    def to_dict(self):
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "stage": 1, "variables": list(self.variables), "pooled": _records(self.pooled),
                "R": self.R.to_numpy().tolist(), "acov": self.acov.to_numpy().tolist(),
                "pairs": list(self.acov.index), "tau2": self.tau2.to_numpy().tolist(), "Q": _clean(self.Q),
                "Q_df": int(self.Q_df), "Q_pvalue": _clean(self.Q_pvalue), "k": int(self.k),
                "n_total": _clean(self.n_total), "n_obs": int(self.n_obs), "logLik": _clean(self.logLik),
                "method": self.method, "struct": self.struct, "acov_type": self.acov_type, "ci_level": self.ci_level,
                "dropped": list(self.dropped), "converged": bool(self.converged), "reason": self.reason}


def _check_matrices(long, variables):
    """Named errors for a study whose correlation matrix is not positive definite or that shares no
    correlation with the other studies, and for a pair of variables that no study reports."""
    idx = {v: i for i, v in enumerate(variables)}
    lab2pair = {}
    for a in variables:
        for b in variables:
            if idx[a] < idx[b]:
                lab2pair[f"{a}.{b}"] = (idx[a], idx[b])
    rep = long[long["yi"].notna()]
    counts = rep.groupby("var1.var2")["study"].nunique()
    n_studies = rep["study"].nunique()
    for s, g in rep.groupby("study", sort=False):
        if n_studies > 1 and (counts.loc[g["var1.var2"]] <= 1).all():
            raise MetaError(f"study {s} shares no correlation pair with the other studies", where=f"study {s}",
                            found=", ".join(g["var1.var2"]),
                            expected="at least one correlation that another study also reports")
        p = len(variables)
        R = np.full((p, p), np.nan)
        np.fill_diagonal(R, 1.0)
        for lab, r in zip(g["var1.var2"], g["yi"]):
            i, j = lab2pair[lab]
            R[i, j] = R[j, i] = r
        keep = [i for i in range(p) if np.isfinite(np.delete(R[i], i)).any()]
        R = R[np.ix_(keep, keep)]
        names = [variables[i] for i in keep]
        while np.isnan(R).any():  # the largest block of variables with every correlation reported
            worst = int(np.argmax(np.isnan(R).sum(axis=0)))
            R = np.delete(np.delete(R, worst, 0), worst, 1)
            del names[worst]
        if len(names) > 2:
            ev = float(np.linalg.eigvalsh(R).min())
            if ev <= 1e-10:
                raise MetaError(f"the correlation matrix of study {s} is not positive definite", where=f"study {s}",
                                found=f"smallest eigenvalue {ev:.3g} of the matrix of {', '.join(names)}",
                                expected="correlations that can come from one sample (check the study's table)")
    missing = [lab for lab in lab2pair if lab not in counts.index]
    if missing:
        raise MetaError("no study reports this correlation, so the pooled matrix has a hole",
                        where=f"pair {missing[0].replace('.', ' - ')}",
                        found=f"{len(missing)} unreported pair(s): {', '.join(missing)}",
                        expected="every pair of variables reported by at least one study")
    return lab2pair


@renamed(level="ci_level")
def tssem1(data, *, ri="ri", ni="ni", var1="var1", var2="var2", study="study", acov="weighted", struct="UN",
           method="REML", ci_level=0.95):
    """Stage 1 of TSSEM: pool correlation matrices by random-effects multivariate GLS.

    Each study's reported correlations get the Olkin & Siotani (1976) large-sample covariance
    matrix; the correlations are pooled by the multivariate random-effects model
    ``r_i = rho + u_i + e_i`` with ``Cov(u_i) = T`` (Cheung & Chan, 2005; Cheung, 2015), fitted by
    (restricted) maximum likelihood.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row per correlation ``ri`` between ``var1`` and ``var2`` in ``study`` with
        sample size ``ni`` (unreported correlations may be rows with ``ri`` missing).
    acov : {"weighted", "individual"}
        Where the sampling covariances are evaluated: at the sample-size-weighted mean correlation
        matrix, divided by ``n`` (metaSEM's default ``asyCov(acov = "weighted")``; recommended by
        Cheung & Chan, 2005, and keeps studies that report only some correlations), or at each
        study's own correlations, divided by ``n - 1`` (``metafor::rcalc()``; a study whose
        covariances need a correlation it did not report is dropped, as metafor does).
    struct : {"UN", "DIAG"}
        Between-study covariance of the true correlations (``rma.mv(struct = )``); metaSEM's
        ``RE.type = "Diag"`` is ``"DIAG"``.
    method : {"REML", "ML"}
        ``rma.mv(method = )`` (metaSEM estimates by ML).
    ci_level : float
        Confidence level of the Wald CIs of the pooled correlations.

    Returns
    -------
    TSSEM1Result
        Matches ``metafor::rma.mv(yi, V, mods = ~ var1.var2 - 1, random = ~ var1.var2 | study,
        struct = struct, method = method)`` on ``V`` from ``rcalc()`` (``acov = "individual"``).

    Raises
    ------
    MetaError
        A study's correlation matrix is not positive definite or shares no pair with the other
        studies (the error names the study), or no study reports some pair of variables.

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Olkin, I., & Siotani, M. (1976). Asymptotic distribution of functions of a correlation matrix.
    In S. Ikeda (Ed.), *Essays in probability and statistics* (pp. 235-251). Shinko Tsusho.
    """
    if acov not in ACOV:
        raise MetaError("unknown acov", where="acov", found=repr(acov), expected=" or ".join(map(repr, ACOV)))
    struct = str(struct).upper()
    if struct not in STRUCTS:
        raise MetaError("unknown struct", where="struct", found=repr(struct), expected="'UN' or 'DIAG'")
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise MetaError("unknown method", where="method", found=repr(method), expected="'REML' or 'ML'")
    if not isinstance(data, pd.DataFrame):
        raise MetaError("data must be a pandas DataFrame", found=type(data).__name__)
    for role, col in (("ri", ri), ("ni", ni), ("var1", var1), ("var2", var2), ("study", study)):
        if col not in data:
            raise MetaError(f"column {col!r} not found", where=role, found=f"columns {list(data.columns)}")
    long, V = rcalc(data, ri=ri, ni=ni, var1=var1, var2=var2, study=study)
    variables = sorted(set(data[var1].astype(str)) | set(data[var2].astype(str)))
    lab2pair = _check_matrices(long, variables)
    y = long["yi"].to_numpy()
    if acov == "weighted":
        rep = long[long["yi"].notna()]
        rbar = (rep["yi"] * rep["ni"]).groupby(rep["var1.var2"]).sum() / rep.groupby("var1.var2")["ni"].sum()
        Rbar = np.eye(len(variables))
        for lab, r in rbar.items():
            i, j = lab2pair[lab]
            Rbar[i, j] = Rbar[j, i] = r
        first = long["study"].iloc[0]
        order = [lab2pair[lab] for lab in long.loc[long["study"] == first, "var1.var2"]]
        V = np.zeros_like(V)
        o = 0
        for _, g in long.groupby("study", sort=False):
            n = float(g["ni"].iloc[0])
            m = len(g)
            V[o:o + m, o:o + m] = _os_cov(Rbar, n, order) * (n - 1) / n
            o += m
    ok = ~np.isnan(y)
    if not (np.isfinite(long["ni"].to_numpy(float)) & (long["ni"].to_numpy(float) > 1))[ok].all():
        bad = long.loc[ok & ~(long["ni"].to_numpy(float) > 1), "study"].iloc[0]
        raise MetaError("sample size must be a number > 1", where=f"study {bad}, column {ni}")
    ok_before = ok.copy()
    ok &= ~np.isnan(np.where(ok[:, None] & ok[None, :], V, 0)).any(axis=1)
    dropped = [f"{s}: its sampling covariances need correlations it does not report (acov = 'individual')"
               for s in dict.fromkeys(long.loc[ok_before & ~ok, "study"])]
    lk = long[ok].reset_index(drop=True)
    Vk = V[np.ix_(ok, ok)]
    labels = sorted(lk["var1.var2"].unique(), key=lambda lab: lab2pair[lab])  # metafor's order
    X = (lk["var1.var2"].to_numpy()[:, None] == np.array(labels)[None, :]).astype(float)
    st = lk["study"].to_numpy()
    yk = lk["yi"].to_numpy()
    b, vb, T, ll, conv = _mv_un(yk, Vk, X, st, struct=struct, method=method)
    # homogeneity: the fixed-effects GLS residual sum of squares (rma.mv's QE)
    Wv = np.linalg.inv(Vk)
    bfe = np.linalg.solve(X.T @ Wv @ X, X.T @ Wv @ yk)
    e = yk - X @ bfe
    Q = float(e @ Wv @ e)
    Q_df = len(yk) - X.shape[1]
    # I2 per correlation: tau2 against the typical within-study variance (Higgins & Thompson, 2002)
    tau2 = np.diag(T)
    I2, kk = [], []
    for j, lab in enumerate(labels):
        v = np.diag(Vk)[X[:, j] == 1]
        w = 1 / v
        kj = len(v)
        vt = (kj - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum()) if kj > 1 else np.nan
        I2.append(100 * tau2[j] / (tau2[j] + vt) if kj > 1 else np.nan)
        kk.append(kj)
    se = np.sqrt(np.diag(vb))
    crit = stats.norm.ppf(0.5 + ci_level / 2)
    z = b / se
    pooled = pd.DataFrame({"pair": labels, "var1": [variables[lab2pair[lab][0]] for lab in labels],
                           "var2": [variables[lab2pair[lab][1]] for lab in labels], "estimate": b, "se": se,
                           "statistic": z, "pvalue": 2 * stats.norm.sf(np.abs(z)), "ci_low": b - crit * se,
                           "ci_high": b + crit * se, "tau2": tau2, "I2": I2, "k": kk})
    R = np.eye(len(variables))
    for lab, r in zip(labels, b):
        i, j = lab2pair[lab]
        R[i, j] = R[j, i] = r
    n_study = lk.groupby("study", sort=False)["ni"].first()
    reason = "" if conv else "the REML/ML optimiser stopped with a gradient above 1e-4"
    return TSSEM1Result(variables=variables, pooled=pooled, R=pd.DataFrame(R, index=variables, columns=variables),
                        acov=pd.DataFrame(vb, index=labels, columns=labels),
                        tau2=pd.DataFrame(T, index=labels, columns=labels), Q=Q, Q_df=int(Q_df),
                        Q_pvalue=float(stats.chi2.sf(Q, Q_df)), k=int(len(n_study)), n_total=float(n_study.sum()),
                        n_obs=int(len(yk)), logLik=float(ll), method=method, struct=struct, acov_type=acov,
                        ci_level=ci_level, dropped=dropped, converged=conv, reason=reason)


# --------------------------------------------------------------------------- stage 2: the model
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.Add, ast.Sub,
            ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


def _compile_defined(name, expr, labels):
    """A ``:=`` expression as a function of the parameter vector (arithmetic on labels only)."""
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise MetaError("cannot parse a defined parameter", where=f"{name} := {expr}",
                        expected="arithmetic (+ - * / ^) on parameter labels and numbers") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise MetaError("unsupported term in a defined parameter", where=f"{name} := {expr}",
                            found=type(node).__name__, expected="arithmetic (+ - * / ^) on labels and numbers")
        if isinstance(node, ast.Name) and node.id not in labels:
            raise MetaError("a defined parameter uses an unknown label", where=f"{name} := {expr}",
                            found=node.id, expected="labels of the model (a*x): " + ", ".join(sorted(labels)))
    def fun(theta, fixed):
        env = {lab: (theta[k] if k >= 0 else fixed[lab]) for lab, k in labels.items()}
        return _arithmetic(tree.body, env)  # walks the checked tree: no code is ever executed

    return fun


_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}


def _arithmetic(node, env):
    """Value of an arithmetic expression tree (numbers, labels, + - * / **) with labels from ``env``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_arithmetic(node.left, env), _arithmetic(node.right, env))
    return _UNARY[type(node.op)](_arithmetic(node.operand, env))


def _split_syntax(model):
    lines, defined = [], []
    for raw in re.split(r"[\n;]", model):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ":=" in line:
            name, expr = (x.strip() for x in line.split(":=", 1))
            defined.append((name, expr))
        elif "==" in line or re.search(r"(?<![=~])[<>]", line):
            raise MetaError("constraints are not supported in a TSSEM model", where=line,
                            expected="equal labels for equality constraints")
        else:
            lines.append(line)
    return "\n".join(lines), defined


class _CorrModel:
    """A lavaan-syntax model as a correlation structure: RAM matrices from the SEM engine, exogenous
    variances fixed at 1, each endogenous (residual) variance 1 - explained variance."""

    def __init__(self, model, variables):
        text, self.defined_src = _split_syntax(model)
        try:
            rows = parse_model(text)
        except SEMError as err:
            raise MetaError(f"model syntax: {err}") from err
        if not rows:
            raise MetaError("the model has no paths", found=repr(model))
        for lhs, op, rhs, mod in rows:
            if op == "~1":
                raise MetaError("intercepts have no place in a correlation structure", where=f"{lhs} ~ 1")
        latents = list(dict.fromkeys(lhs for lhs, op, _, _ in rows if op == "=~"))
        names = list(dict.fromkeys(v for lhs, _, rhs, _ in rows for v in (lhs, rhs) if v))
        obs = [v for v in names if v not in latents]
        unknown = [v for v in obs if v not in variables]
        if unknown:
            raise MetaError("model variable(s) not among the pooled correlations", found=", ".join(unknown),
                            expected=", ".join(variables) + " (latent variables need =~)")
        dep = {lhs for lhs, op, _, _ in rows if op == "~"}
        ind = {rhs for _, op, rhs, _ in rows if op == "=~"}
        regs = {rhs for _, op, rhs, _ in rows if op == "~"}
        endo = dep | ind
        exo = [v for v in names if v not in endo]
        user_var = {}
        for lhs, op, rhs, mod in rows:
            if op == "~~" and lhs == rhs:
                user_var[lhs] = mod
        for v, mod in user_var.items():
            if v in endo:
                raise MetaError(f"the residual variance of {v} is 1 minus its explained variance in a correlation"
                                " structure", where=f"{v} ~~ {v}", expected="no variance statement for it")
            if not (isinstance(mod, float) and mod == 1.0):
                raise MetaError(f"the variance of the exogenous variable {v} is 1 in a correlation structure",
                                where=f"{v} ~~ {v}", found=repr(mod), expected=f"{v} ~~ 1*{v} or nothing")
        aug = list(rows)
        aug += [(v, "~~", v, 1.0) for v in exo if v not in user_var]
        ov_x = [v for v in obs if v in regs and v not in endo]
        lv_x = [v for v in latents if v not in endo]
        ys = [v for v in names if v in dep and v not in regs and v not in ind]
        for group in (ov_x, lv_x, ys):
            aug += [(group[a], "~~", group[b], None) for a in range(len(group)) for b in range(a + 1, len(group))]
        self.mod = mod = Model(aug, obs, "none", False)
        mod.set_fixed(np.zeros(len(obs)), np.eye(len(obs)))
        self.obs, self.latents, self.vars = mod.obs, mod.latents, mod.vars
        self.E = np.array([mod.idx[v] for v in mod.vars if v in endo], dtype=int)
        po = len(self.obs)
        self.pi, self.pj = np.tril_indices(po, -1)
        self.npar = mod.npar
        # parameter names and labels
        self.labels = {}
        self.fixed_labels = {}
        for r in mod.table:
            if r["label"]:
                if r["free"]:
                    self.labels[r["label"]] = r["free"] - 1
                else:
                    self.fixed_labels[r["label"]] = r.get("fixed_value", 0.0)
        self.regressions = [(r["rhs"], r["lhs"], r["free"] - 1, r.get("fixed_value", np.nan)) for r in mod.table
                            if r["op"] == "~"]

    def implied(self, theta):
        """Implied covariance of all variables, B = (I - A)^-1, and the computed residual variances."""
        A, S, _ = self.mod.matrices(theta)
        B = np.linalg.inv(np.eye(self.mod.nv) - A)
        E = self.E
        psi = np.zeros(0)
        if len(E):
            V0 = B @ S @ B.T
            M = B[np.ix_(E, E)] ** 2
            psi = np.linalg.solve(M, 1.0 - np.diag(V0)[E])
            S = S.copy()
            S[E, E] += psi
        return B @ S @ B.T, B, psi

    def rho(self, theta):
        V = self.implied(theta)[0]
        return V[self.pi, self.pj]

    def jacobian(self, theta):
        """d rho / d theta (pairs x parameters), the residual variances following the parameters."""
        V, B, _ = self.implied(theta)
        dA, dS = self.mod.dA, self.mod.dS
        G = np.einsum("ij,kjl,lm->kim", B, dA, V)
        dV = G + G.transpose(0, 2, 1) + np.einsum("ij,kjl,ml->kim", B, dS, B)
        E = self.E
        if len(E):
            M = B[np.ix_(E, E)] ** 2
            dpsi = -np.linalg.solve(M, np.diagonal(dV, axis1=1, axis2=2)[:, E].T).T
            BE = B[:, E]
            dV = dV + np.einsum("ie,ke,je->kij", BE, dpsi, BE)
        return dV[:, self.pi, self.pj].T

    def start(self, R):
        """Loadings 0.7, covariances of exogenous observed variables at their pooled correlation, else 0."""
        theta = np.zeros(self.npar)
        oi = {v: i for i, v in enumerate(self.obs)}
        endo = {self.vars[i] for i in self.E}
        for r in self.mod.table:
            k = r["free"] - 1
            if k < 0:
                continue
            if r["op"] == "=~":
                theta[k] = 0.7
            elif (r["op"] == "~~" and r["lhs"] in oi and r["rhs"] in oi and r["lhs"] != r["rhs"]
                  and r["lhs"] not in endo and r["rhs"] not in endo):
                theta[k] = R[oi[r["lhs"]], oi[r["rhs"]]]
        return theta


def _indirect_chains(cm):
    """Every directed chain x -> m ... -> y of two or more regression paths (specific indirect effects)."""
    out_edges = {}
    for x, y, k, fv in cm.regressions:
        out_edges.setdefault(x, []).append((y, k, fv))
    chains = []

    def walk(path, ks):
        for y, k, fv in out_edges.get(path[-1], []):
            if y in path:
                continue
            if len(path) >= 2:
                chains.append((path + [y], ks + [(k, fv)]))
            walk(path + [y], ks + [(k, fv)])

    for x in out_edges:
        walk([x], [])
    return chains


def _chain_fun(ks):
    def fun(theta, fixed):
        out = 1.0
        for k, fv in ks:
            out = out * (theta[k] if k >= 0 else fv)
        return out
    return fun


def _gn_fit(cm, r, W, theta0, maxit=500):
    """Minimise ``T = (r - rho)' W (r - rho)``: Gauss-Newton with step halving, then Newton steps
    with the exact Hessian (finite differences of the analytic gradient), which converge
    quadratically also when the model does not fit (where Gauss-Newton slows down)."""
    theta = theta0.copy()

    def F(t):
        try:
            e = r - cm.rho(t)
        except np.linalg.LinAlgError:
            return np.inf, None
        return float(e @ W @ e), e

    def grad(t, e):
        return -2 * cm.jacobian(t).T @ W @ e

    f, e = F(theta)
    for it in range(maxit):
        J = cm.jacobian(theta)
        g = -2 * J.T @ W @ e
        if np.max(np.abs(g)) < 1e-12:
            return theta, f, g
        H = 2 * J.T @ W @ J
        if it >= 5 and f > 1e-8:  # misfit: Newton with the full Hessian
            h = 1e-6
            Hn = np.column_stack([(grad(theta + h * u, F(theta + h * u)[1]) - grad(theta - h * u, F(theta - h * u)[1]))
                                  / (2 * h) for u in np.eye(len(theta))])
            Hn = (Hn + Hn.T) / 2
            if np.all(np.linalg.eigvalsh(Hn) > 0):
                H = Hn
        try:
            step = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, -g, rcond=None)[0]
        a = 1.0
        while a > 1e-10:
            fn, en = F(theta + a * step)
            if fn <= f + 1e-4 * a * (g @ step):
                break
            a /= 2
        else:
            break
        theta = theta + a * step
        f, e = fn, en
        if np.max(np.abs(a * step)) < 1e-14:
            break
    return theta, f, grad(theta, e)


# --------------------------------------------------------------------------- stage 2: the result
@dataclass
class TSSEMResult(FitMeasures, ResultMixin):
    """Two-stage MASEM: stage-1 pooling and the stage-2 WLS fit of the structural model.

    Attributes
    ----------
    stage1 : TSSEM1Result
    model : str
        The lavaan syntax fitted.
    estimates : pandas.DataFrame
        One row per parameter (``lhs``, ``op``, ``rhs``, ``label``): ``estimate``, ``se``,
        ``statistic``, ``pvalue``, ``ci_low``, ``ci_high`` (likelihood-based or Wald, see
        ``ci_method``), ``wald_ci_low``, ``wald_ci_high``; computed residual variances
        (``op`` "~~", no SE) and defined effects (``op`` ":=") included.
    fit : dict
        ``chisq``, ``df``, ``pvalue``, ``rmsea`` (with its 90% CI), ``cfi``, ``tli``, ``srmr``,
        ``aic``, ``bic`` (metaSEM's, ``chisq - 2 df`` / ``chisq - log(N) df``), ``n``,
        ``baseline_chisq``, ``baseline_df``, ``npar``.
    implied : pandas.DataFrame
        Model-implied correlation matrix of the observed variables.
    vcov : pandas.DataFrame
        Covariance matrix of the free parameters.
    """

    stage1: TSSEM1Result
    model: str
    estimates: pd.DataFrame
    fit: dict
    implied: pd.DataFrame
    vcov: pd.DataFrame
    ci_level: float
    ci_method: str
    converged: bool
    proper: bool
    reason: str = ""

    _headline = ("chisq", "df", "cfi", "rmsea", "srmr", "converged")
    _title = "Two-stage meta-analytic SEM (TSSEM)"
    _summary_columns = ("table", "term", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high")

    @property
    def paths(self):
        """Regression paths (``op == "~"``)."""
        return self.estimates[self.estimates["op"] == "~"].reset_index(drop=True)

    @property
    def defined(self):
        """Defined effects: the model's ``:=`` lines, or the indirect effects found by path tracing."""
        return self.estimates[self.estimates["op"] == ":="].reset_index(drop=True)

    def __repr__(self):
        f = self.fit
        return (f"TSSEMResult(k={self.stage1.k}, N={f['n']:g}, chisq={f['chisq']:.3f}, df={f['df']}, "
                f"rmsea={f['rmsea']:.3f}, cfi={f['cfi']:.3f}, srmr={f['srmr']:.3f}, converged={self.converged})")

    def to_frame(self):
        """One long table: stage-1 pooled correlations and homogeneity test, stage-2 estimates, fit.

        ``table`` is ``pooled``, ``heterogeneity``, ``path`` (``outcome`` <- ``predictor``),
        ``loading``, ``covariance``, ``residual_variance``, ``indirect`` (with ``from``/``via``/``to``),
        ``defined`` or ``fit`` (``term`` = the index, value in ``estimate``).
        """
        s1 = self.stage1.to_frame()
        est = self.estimates.copy()
        tab = np.select([est["op"] == "~", est["op"] == "=~", (est["op"] == "~~") & (est["lhs"] == est["rhs"]),
                         est["op"] == "~~"], ["path", "loading", "residual_variance", "covariance"], "defined")
        est.insert(0, "table", tab)
        est.insert(1, "stage", 2)
        est["outcome"] = np.where(est["op"] == "~", est["lhs"], None)
        est["predictor"] = np.where(est["op"] == "~", est["rhs"], None)
        est["term"] = np.where(est["op"] == ":=", est["lhs"], est["lhs"] + " " + est["op"] + " " + est["rhs"])
        chain = est["op"].eq(":=") & est["lhs"].astype(str).str.contains(" -> ") & est["label"].eq("")
        if chain.any():
            parts = est.loc[chain, "lhs"].str.split(" -> ")
            est.loc[chain, "table"] = "indirect"
            est.loc[chain, "from"] = parts.str[0]
            est.loc[chain, "via"] = parts.str[1:-1].str.join(" -> ")
            est.loc[chain, "to"] = parts.str[-1]
        fit = pd.DataFrame({"table": "fit", "stage": 2, "term": list(self.fit),
                            "estimate": [float(v) for v in self.fit.values()]})
        out = pd.concat([s1, est, fit], ignore_index=True)
        first = ["table", "stage", "term", "pair", "var1", "var2", "lhs", "op", "rhs", "label", "outcome", "predictor",
                 "from", "via", "to", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "ci_method",
                 "wald_ci_low", "wald_ci_high"]
        cols = [c for c in first if c in out] + [c for c in out if c not in first]
        return out[cols]

    def summary(self):
        """A short plain-text report of both stages."""
        f = self.fit
        lines = [self.stage1.summary(), "",
                 f"TSSEM stage 2: WLS fit of the model to the pooled correlation matrix (N = {f['n']:g})",
                 f"{'parameter':<28}{'estimate':>10}{'se':>9}{'z':>8}{'p':>9}{'ci_low':>9}{'ci_high':>9}"]
        for _, r in self.estimates.iterrows():
            name = r["lhs"] if r["op"] == ":=" else f"{r['lhs']} {r['op']} {r['rhs']}"
            se = "" if not np.isfinite(r["se"]) else f"{r['se']:>9.4f}{r['statistic']:>8.2f}{r['pvalue']:>9.4f}"
            ci = "" if not np.isfinite(r["ci_low"]) else f"{r['ci_low']:>9.4f}{r['ci_high']:>9.4f}"
            lines.append(f"{name[:27]:<28}{r['estimate']:>10.4f}{se:<26}{ci}")
        lines.append(f"CIs: {self.ci_method} ({100 * self.ci_level:g}%)")
        pv = "NA" if not np.isfinite(f["pvalue"]) else f"{f['pvalue']:.4g}"
        lines.append(f"chisq({f['df']}) = {f['chisq']:.3f}, p = {pv}; RMSEA = {f['rmsea']:.4f} "
                     f"[{f['rmsea_ci_low']:.4f}, {f['rmsea_ci_high']:.4f}], CFI = {f['cfi']:.4f}, "
                     f"SRMR = {f['srmr']:.4f}")
        if not self.converged or not self.proper:
            lines.append(("NOT CONVERGED: " if not self.converged else "IMPROPER: ") + self.reason)
        return "\n".join(lines)

    def to_dict(self):
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "stage1": self.stage1.to_dict(), "model": self.model, "estimates": _records(self.estimates),
                "fit": {k: _clean(v) for k, v in self.fit.items()}, "implied": self.implied.to_numpy().tolist(),
                "implied_names": list(self.implied.index), "vcov": self.vcov.to_numpy().tolist(),
                "parameters": list(self.vcov.index), "ci_level": self.ci_level, "ci_method": self.ci_method,
                "converged": bool(self.converged), "proper": bool(self.proper), "reason": self.reason}


def _lb_interval(cm, r, W, theta, f0, fun, grad, vcov, crit):
    """Likelihood-based interval of ``fun(theta)``: its extremes over {theta: T(theta) <= T_min + crit}."""
    def F_and_grad(t):
        e = r - cm.rho(t)
        return float(e @ W @ e), -2 * cm.jacobian(t).T @ W @ e

    con = {"type": "ineq", "fun": lambda t: f0 + crit - F_and_grad(t)[0], "jac": lambda t: -F_and_grad(t)[1]}
    g0 = grad(theta)
    sd = np.sqrt(g0 @ vcov @ g0)
    out = []
    for sign in (1.0, -1.0):  # minimise, then maximise
        t0 = theta - sign * np.sqrt(crit) * vcov @ g0 / sd if sd > 0 else theta
        res = optimize.minimize(lambda t, s=sign: s * fun(t), t0, jac=lambda t, s=sign: s * grad(t),
                                constraints=[con], method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
        Fb = F_and_grad(res.x)[0]
        ok = np.isfinite(res.fun) and abs(Fb - f0 - crit) < 1e-5 * max(1.0, crit)
        out.append(float(fun(res.x)) if ok else np.nan)
    return out[0], out[1]


@renamed(level="ci_level", ci="ci_method")
def tssem2(stage1, model, *, ci_method="LB", ci_level=None, n=None, indirect=None):
    """Stage 2 of TSSEM: fit a structural model to the pooled correlation matrix by WLS.

    The model, in lavaan syntax (``~``, ``=~``, ``~~``, labels ``a*x``, equal labels for equality
    constraints, ``name := expression`` for defined effects), is a correlation structure: the
    exogenous variables (and latent factors) have variance 1, the exogenous observed variables
    correlate freely (lavaan's ``fixed.x = FALSE``), the residual variances are 1 - explained
    variance. It is fitted by minimising ``T = (r - rho(theta))' acov^-1 (r - rho(theta))`` over the
    pooled correlations ``r`` (Cheung & Chan, 2005); ``T`` is the model chi-square with
    ``#correlations - #parameters`` df.

    Parameters
    ----------
    stage1 : TSSEM1Result or dict
        :func:`tssem1`'s result, or ``{"R": DataFrame, "acov": DataFrame (index "a.b" labels with
        the variables in alphabetical order), "n": total N}``.
    model : str
        lavaan syntax.
    ci_method : {"LB", "wald"}
        Likelihood-based intervals (the parameter values at which ``T`` rises by the
        ``chi2(1)`` quantile; metaSEM ``intervals.type = "LB"``) or Wald intervals. Wald limits
        are always in ``wald_ci_low``/``wald_ci_high``.
    ci_level : float, optional
        Confidence level (default: stage 1's).
    n : float, optional
        Total N for the RMSEA (default: the summed sample size of the studies in stage 1).
    indirect : bool, optional
        Add every specific indirect effect (each chain of two or more regression paths) as a
        defined effect named like ``acog -> conf -> perf``. Default: only when the model has no
        ``:=`` line.

    Returns
    -------
    TSSEMResult
        Estimates and SEs match ``lavaan::sem(model, sample.cov = R, sample.nobs = N,
        NACOV = N * acov, WLS.V = solve(NACOV), estimator = "WLS", fixed.x = FALSE)`` with the
        residual variances constrained to 1 - explained variance; the chi-square, RMSEA, CFI,
        TLI and SRMR are metaSEM's ``summary(tssem2(...))`` formulas. SEs use the expected
        information ``Delta' acov^-1 Delta`` (lavaan; metaSEM's OpenMx Hessian adds a residual
        term that vanishes when the model fits exactly).

    References
    ----------
    Cheung, M. W.-L., & Chan, W. (2005). Meta-analytic structural equation modeling: A two-stage
    approach. *Psychological Methods*, 10(1), 40-64.
    Cheung, M. W.-L. (2015). *Meta-analysis: A structural equation modeling approach*. Wiley.
    Neale, M. C., & Miller, M. B. (1997). The use of likelihood-based confidence intervals in
    genetic models. *Behavior Genetics*, 27(2), 113-120.
    """
    if isinstance(stage1, TSSEM1Result):
        R_df, acov_df, n_total, level0 = stage1.R, stage1.acov, stage1.n_total, stage1.ci_level
    else:
        try:
            R_df, acov_df, n_total = stage1["R"], stage1["acov"], stage1["n"]
        except (KeyError, TypeError):
            raise MetaError("stage1 must be a TSSEM1Result or a dict with R, acov and n",
                            found=type(stage1).__name__) from None
        level0 = 0.95
        stage1 = _stage1_stub(R_df, acov_df, n_total)
    level = level0 if ci_level is None else float(ci_level)
    ci = ci_method
    if str(ci).upper() not in ("LB", "WALD"):
        raise MetaError("unknown ci", where="ci", found=repr(ci), expected="'LB' or 'wald'")
    ci = "LB" if str(ci).upper() == "LB" else "wald"
    N = float(n_total if n is None else n)
    variables = list(R_df.index)
    cm = _CorrModel(model, variables)
    Rm = R_df.loc[cm.obs, cm.obs].to_numpy(float)
    labs = []
    for i, j in zip(cm.pi, cm.pj):
        a, b = sorted((cm.obs[i], cm.obs[j]), key=variables.index)
        labs.append(f"{a}.{b}")
    miss = [lab for lab in labs if lab not in acov_df.index]
    if miss or not np.isfinite(Rm).all():
        raise MetaError("the pooled matrix lacks correlations the model needs", found=", ".join(miss) or "NaN",
                        expected="every pair of the model's observed variables pooled in stage 1")
    r = Rm[cm.pi, cm.pj]
    acov = acov_df.loc[labs, labs].to_numpy(float)
    W = np.linalg.inv(acov)
    npair, K = len(r), cm.npar
    if K > npair:
        raise MetaError("the model has more free parameters than pooled correlations", found=f"{K} > {npair}",
                        expected="an identified model")
    theta, f0, g = _gn_fit(cm, r, W, cm.start(Rm))
    J = cm.jacobian(theta)
    converged = bool(np.isfinite(f0) and np.max(np.abs(g), initial=0) < 1e-6)
    reason = "" if converged else f"WLS did not converge (max |gradient| = {np.max(np.abs(g), initial=0):.3g})"
    try:
        vcov = np.linalg.inv(J.T @ W @ J)
    except np.linalg.LinAlgError:
        vcov = np.full((K, K), np.nan)
        reason = (reason + "; " if reason else "") + "information matrix singular: the model is not identified"
    V, _, psi = cm.implied(theta)
    proper = bool((psi >= 0).all() and np.linalg.eigvalsh(V[:len(cm.obs), :len(cm.obs)]).min() > -1e-10)
    if not (psi >= 0).all():
        neg = [cm.vars[i] for i, p in zip(cm.E, psi) if p < 0]
        reason = (reason + "; " if reason else "") + "negative residual variance(s): " + ", ".join(neg)
    # defined effects
    defined = []
    for name, expr in cm.defined_src:
        defined.append((name, expr, _compile_defined(name, expr, {**cm.labels,
                                                                  **{k: -1 for k in cm.fixed_labels}})))
    if indirect or (indirect is None and not cm.defined_src):
        for path, ks in _indirect_chains(cm):
            defined.append((" -> ".join(path), " * ".join(f"{b}~{a}" for a, b in zip(path, path[1:])),
                            _chain_fun(ks)))
    fixed = dict(cm.fixed_labels)
    crit_z = stats.norm.ppf(0.5 + level / 2)
    crit = stats.chi2.ppf(level, 1)

    def grad_of(fun):
        def grad(t):
            h = 1e-20
            return np.array([np.imag(fun(t + 1j * h * e, fixed)) / h for e in np.eye(K)])
        return grad

    rows = []
    par_names = [""] * K
    for rr in cm.mod.table:
        k = rr["free"] - 1
        if rr["op"] not in ("~", "=~", "~~"):
            continue
        if rr["op"] == "~~" and rr["lhs"] == rr["rhs"]:
            continue
        if k < 0 and rr["op"] == "~~":
            continue
        if k >= 0 and not par_names[k]:
            par_names[k] = rr["label"] or f"{rr['lhs']}{rr['op']}{rr['rhs']}"
        est = theta[k] if k >= 0 else rr.get("fixed_value", np.nan)
        se = np.sqrt(vcov[k, k]) if k >= 0 else np.nan
        rows.append({"lhs": rr["lhs"], "op": rr["op"], "rhs": rr["rhs"], "label": rr["label"], "free": k >= 0,
                     "estimate": est, "se": se, "_k": k, "_fun": None})
    for i, pr in zip(cm.E, psi):
        v = cm.vars[i]
        rows.append({"lhs": v, "op": "~~", "rhs": v, "label": "", "free": False, "estimate": pr, "se": np.nan,
                     "_k": -1, "_fun": None})
    user_defined = {name for name, _ in cm.defined_src}
    for name, expr, fun in defined:
        gr = grad_of(fun)(theta)
        rows.append({"lhs": name, "op": ":=", "rhs": expr, "label": name if name in user_defined else "", "free": False,
                     "estimate": float(np.real(fun(theta, fixed))), "se": float(np.sqrt(gr @ vcov @ gr)),
                     "_k": -1, "_fun": fun})
    est = pd.DataFrame(rows)
    est["statistic"] = est["estimate"] / est["se"]
    est["pvalue"] = 2 * stats.norm.sf(np.abs(est["statistic"]))
    est["wald_ci_low"] = est["estimate"] - crit_z * est["se"]
    est["wald_ci_high"] = est["estimate"] + crit_z * est["se"]
    est["ci_low"], est["ci_high"] = est["wald_ci_low"], est["wald_ci_high"]
    est["ci_method"] = np.where(np.isfinite(est["se"]), "Wald", "")
    if ci == "LB" and converged and np.isfinite(vcov).all():
        for i, row in est.iterrows():
            if row["_k"] >= 0:
                k = int(row["_k"])
                fun = (lambda t, f_=None, k=k: t[k])
                gr = (lambda t, k=k: np.eye(K)[k])
            elif row["_fun"] is not None:
                fun_c = row["_fun"]
                fun = (lambda t, f_=None, fun_c=fun_c: float(np.real(fun_c(t, fixed))))
                gr = grad_of(fun_c)
            else:
                continue
            lo, hi = _lb_interval(cm, r, W, theta, f0, fun, gr, vcov, crit)
            est.loc[i, ["ci_low", "ci_high"]] = [lo, hi]
            est.loc[i, "ci_method"] = "LB" if np.isfinite(lo) and np.isfinite(hi) else "LB failed"
    est = est.drop(columns=["_k", "_fun"])
    # fit indices (metaSEM summary.wls)
    df = npair - K
    T = float(f0)
    TB = float(r @ W @ r)
    dfB = npair
    rmsea = np.sqrt(max((T - df) / (N - 1), 0.0) / df) if df > 0 else 0.0
    res_e = r - cm.rho(theta)
    fit = {"chisq": T, "df": int(df), "pvalue": float(stats.chi2.sf(T, df)) if df > 0 else np.nan,
           "rmsea": float(rmsea),
           "rmsea_ci_low": float(rmsea_ci(T, df, N - 1, 0.95)) if df > 0 else np.nan,
           "rmsea_ci_high": float(rmsea_ci(T, df, N - 1, 0.05)) if df > 0 else np.nan,
           "cfi": float(1 - max(T - df, 0) / max(T - df, TB - dfB, 0)) if max(T - df, TB - dfB, 0) > 0 else 1.0,
           "tli": float((TB / dfB - T / df) / (TB / dfB - 1)) if df > 0 else np.nan,
           "srmr": float(np.sqrt(np.mean(res_e ** 2))), "aic": T - 2 * df, "bic": float(T - np.log(N) * df), "n": N,
           "baseline_chisq": TB, "baseline_df": int(dfB), "npar": int(K)}
    po = len(cm.obs)
    implied = pd.DataFrame(V[:po, :po], index=cm.obs, columns=cm.obs)
    names = [nm or f"p{k + 1}" for k, nm in enumerate(par_names)]
    return TSSEMResult(stage1=stage1, model=model, estimates=est, fit=fit, implied=implied,
                       vcov=pd.DataFrame(vcov, index=names, columns=names), ci_level=level, ci_method=ci,
                       converged=converged, proper=proper, reason=reason)


def _stage1_stub(R_df, acov_df, n_total):
    labels = list(acov_df.index)
    b = np.array([R_df.loc[lab.split(".")[0], lab.split(".")[1]] if len(lab.split(".")) == 2 else np.nan
                  for lab in labels])
    se = np.sqrt(np.diag(acov_df.to_numpy(float)))
    pooled = pd.DataFrame({"pair": labels, "estimate": b, "se": se, "statistic": b / se,
                           "pvalue": 2 * stats.norm.sf(np.abs(b / se)), "ci_low": np.nan, "ci_high": np.nan,
                           "tau2": np.nan, "I2": np.nan, "k": 0})
    return TSSEM1Result(variables=list(R_df.index), pooled=pooled, R=R_df, acov=acov_df,
                        tau2=pd.DataFrame(np.nan, index=labels, columns=labels), Q=np.nan, Q_df=0, Q_pvalue=np.nan,
                        k=0, n_total=float(n_total), n_obs=0, logLik=np.nan, method="given", struct="given",
                        acov_type="given", ci_level=0.95)


@renamed(level="ci_level", ci="ci_method")
def tssem(data, model, *, ri="ri", ni="ni", var1="var1", var2="var2", study="study", acov="weighted",
          struct="UN", method="REML", ci_method="LB", ci_level=0.95, indirect=None):
    """Two-stage meta-analytic SEM (Cheung & Chan, 2005): :func:`tssem1` then :func:`tssem2`.

    Parameters
    ----------
    data : pandas.DataFrame
        Long correlation table (``study``, ``ri``, ``ni``, ``var1``, ``var2``).
    model : str
        lavaan syntax of the structural model, e.g. ``"conf ~ a1*acog + a2*asom\\nperf ~ b*conf +
        acog + asom\\nind_acog := a1*b"``.
    acov, struct, method
        Stage 1 (see :func:`tssem1`).
    ci_method, ci_level, indirect
        Stage 2 (see :func:`tssem2`).

    Returns
    -------
    TSSEMResult

    Examples
    --------
    >>> fit = tssem(craft, "conf ~ acog + asom\\nperf ~ conf")                 # doctest: +SKIP
    >>> fit.fit["chisq"], fit.fit["df"]                                        # doctest: +SKIP
    """
    s1 = tssem1(data, ri=ri, ni=ni, var1=var1, var2=var2, study=study, acov=acov, struct=struct, method=method,
                ci_level=ci_level)
    if not s1.converged:
        raise MetaError("stage 1 did not converge: " + s1.reason)
    return tssem2(s1, model, ci_method=ci_method, ci_level=ci_level, indirect=indirect)
