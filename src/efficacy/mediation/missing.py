"""Mediation on incomplete data: full-information ML and multiple imputation.

``mediate(..., missing="fiml")`` and ``serial_mediation(..., missing="fiml")`` fit the observed-variable
mediation model (parallel mediators, PROCESS model 4, or a serial chain, PROCESS model 6, with
covariates) by full-information maximum likelihood in the SEM engine (:func:`efficacy.sem.sem` with
``missing="fiml"``, lavaan ``missing = "ml"``, ``fixed.x = TRUE``). The engine has no ``:=`` defined
parameters, so the indirect, total and contrast effects and their delta-method SEs are computed here
from its estimates and their covariance matrix (observed information), exactly as lavaan does for
``:=`` parameters. ``missing="mi"`` is the alternative: multiple imputation by chained equations and
Rubin's rules.

FIML
----
* Cases: as lavaan with ``fixed.x = TRUE``, a case with a missing treatment or covariate is deleted
  (exogenous covariates are conditioned on, not modelled) and counted in the result; every other case
  with at least one observed value is used, also one whose mediators and outcome are all missing (it
  carries information only on the covariates' moments). ``result.n`` is the number of cases used,
  ``n_complete`` the complete cases, ``n_dropped`` the deleted ones.
* Bootstrap, batched: both models are *saturated* (just-identified; df = 0), so their ML estimates are
  the regressions implied by the saturated ML mean and covariance of the incomplete data, which the EM
  algorithm (Dempster, Laird & Rubin 1977; Little & Rubin 2020, ch. 11) computes. For every resample
  the EM sufficient statistics of each missing-data pattern are weighted sums over the original rows
  (case-count weights times per-row cross-products: one matrix product for all resamples), and the
  EM iterations run for all resamples at once as batched ``(B, p, p)`` linear algebra; the iterations
  themselves (and the handful of missing-data patterns) are the only Python loops, never the
  resamples. The engine fits the original data (its optimiser and observed information are not
  batched); the batched EM reproduces the engine's estimates on the original data to 1e-7 (tested).
  BCa acceleration: the same batched EM with the n leave-one-out weight vectors.
* Monte Carlo CIs: draws of the paths from N(estimates, covariance), vectorised.

Multiple imputation
-------------------
Chained equations (van Buuren & Groothuis-Oudshoorn 2011; van Buuren 2018, Algorithm 3.1 "norm" and
3.3 "pmm"): every incomplete role variable is imputed in turn from all the others (intercept plus
the other role variables) by Bayesian linear regression (``"norm"``: draw sigma and beta from their
posterior, impute prediction plus noise) or predictive mean matching (``"pmm"``, the default: the
observed value of one of the 5 cases whose predicted values are nearest, which keeps binary and
bounded variables in range). The ``n_imputations`` chains run in parallel as batched arrays (one
chain per imputation, each started from random draws of the observed values, as R ``mice``); the
imputation is the chain's state after ``n_iter`` iterations. Convergence: the potential scale
reduction factor (R-hat, Gelman & Rubin 1992) of the chains' means of the imputed values over the
second half of the iterations; R-hat above 1.1 for any variable makes the result NA with the reason
naming the variable. Each completed data set is analysed as complete data (OLS paths, ML
delta-method SEs), and the estimates are pooled by Rubin's rules (Rubin 1987) with the
Barnard & Rubin (1999) degrees of freedom (complete-data df = n minus the parameters of the outcome
equation); intervals are t intervals, or with ``ci_method="montecarlo"`` percentile intervals of draws from
N(pooled paths, total covariance). statsmodels' ``MICE`` runs one chain and refits per imputation in
Python; the batched chains here are the vectorised equivalent of ``mice(m = n_imputations,
maxit = n_iter)`` and make the convergence check possible.

References
----------
Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data. In
Marcoulides & Schumacker (Eds.), *Advanced structural equation modeling*. Erlbaum.
Barnard, J., & Rubin, D. B. (1999). Small-sample degrees of freedom with multiple imputation.
*Biometrika, 86*(4), 948-955.
Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from incomplete data via the
EM algorithm. *JRSS B, 39*(1), 1-38.
Gelman, A., & Rubin, D. B. (1992). Inference from iterative simulation using multiple sequences.
*Statistical Science, 7*(4), 457-472.
Rubin, D. B. (1987). *Multiple imputation for nonresponse in surveys*. Wiley.
van Buuren, S. (2018). *Flexible imputation of missing data* (2nd ed.). CRC Press.
Zhang, Z., & Wang, L. (2013). Methods for mediation analysis with missing data. *Psychometrika, 78*(1),
154-184.

R equivalents: ``lavaan::sem(model, missing = "ml", fixed.x = TRUE)`` with ``:=`` effects
(``se = "bootstrap"`` for the bootstrap); ``mice::mice`` + ``with`` + ``pool`` for multiple imputation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import as_rng, renamed
from .._linalg import well_conditioned
from ..errors import DataError, EfficacyError
from ..resampling import case_counts
from .observed import MIN_CASES, MediationResult, _mediation_table, _numeric
from .serial import (
    SerialMediationResult,
    check_roles,
    effect_defs,
    effect_table,
    evaluate,
    gradients,
    infer,
)

__all__ = ["EM_TOL", "RHAT_MAX", "MissingMediationResult", "dispatch", "em_paths", "missing_mediation"]

#: EM convergence: max change of the standardised mean and covariance entries between iterations
EM_TOL = 1e-10
EM_MAXIT = 10_000
#: R-hat above this for any imputed variable = chained equations not converged
RHAT_MAX = 1.1
PMM_DONORS = 5
#: a (standardised, full-data variance 1) variable whose variance in a resample is below this is constant
#: there: its covariances are rounding noise, so the scaled determinant cannot see the singularity
_MIN_VAR = 1e-10


# ----------------------------------------------------------------------------- result
@dataclass(repr=False)
class MissingMediationResult(MediationResult):
    """Result of :func:`efficacy.mediation.mediate` with ``missing="fiml"`` or ``"mi"``.

    Everything of :class:`~efficacy.mediation.observed.MediationResult` (``table`` in the same layout;
    ``n`` = cases used), plus:

    Attributes
    ----------
    missing : str
        "fiml" or "mi".
    n_rows : int
        Rows in the data.
    n_complete : int
        Cases with every role variable observed.
    n_dropped : int
        Cases not used: FIML deletes cases with a missing treatment or covariate (lavaan
        ``fixed.x = TRUE``); MI uses every row (0).
    n_imputations : int
        Imputations (MI).
    converged : bool
        False when the FIML optimiser or the imputation chains did not converge (estimates NA).
    rhat : dict
        R-hat of each imputed variable's chain means (MI).
    paths, vcov
        Path estimates (a1, b1, cp, ...) and their covariance (FIML: inverse observed information;
        MI: Rubin's total covariance).
    sem : SEMResult or None
        The engine's fit (FIML).
    """

    missing: str = "fiml"
    n_rows: int = 0
    n_complete: int = 0
    n_dropped: int = 0
    n_imputations: int = 0
    converged: bool = True
    rhat: dict = field(default_factory=dict)
    paths: pd.Series | None = None
    vcov: pd.DataFrame | None = None
    sem: object = None

    def summary(self) -> str:
        """Plain-text table with the case counts."""
        ci_txt = {"bca": "BCa bootstrap", "percentile": "percentile bootstrap", "montecarlo": "Monte Carlo",
                  "delta": "delta-method", "rubin": "Rubin's rules (t)"}.get(self.ci_method, self.ci_method)
        how = ("FIML (lavaan missing = 'ml', fixed.x)" if self.missing == "fiml"
               else f"multiple imputation, {self.n_imputations} imputations, Rubin's rules")
        lines = [f"Mediation {self.x} -> {self.m} -> {self.y} with missing data: {how}",
                 (f"  cases used {self.n} of {self.n_rows} rows ({self.n_complete} complete, {self.n_dropped} "
                  f"dropped); {100 * self.ci_level:g}% CI: {ci_txt}"),
                 f"  {'effect':14s}{'mediator':14s}{'estimate':>10s}{'se':>9s}{'ci_low':>10s}{'ci_high':>10s}"]
        for r in self.table.itertuples():
            lines.append(f"  {r.effect:14s}{r.mediator[:13]:14s}{r.estimate:10.4f}{r.se:9.4f}{r.ci_low:10.4f}"
                         f"{r.ci_high:10.4f}")
        lines += [f"  note: {w}" for w in ([self.reason] if self.reason else []) + list(self.warnings)]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary of the result."""
        def clean(v):
            if isinstance(v, (np.floating, float)):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v
        return {"result": type(self).__name__, "x": self.x, "m": list(self.m), "y": self.y,
                "covariates": list(self.covariates),
                "missing": self.missing, "n": int(self.n), "n_rows": int(self.n_rows),
                "n_complete": int(self.n_complete), "n_dropped": int(self.n_dropped),
                "n_imputations": int(self.n_imputations), "n_boot": int(self.n_boot),
                "n_boot_valid": int(self.n_boot_valid), "ci_method": self.ci_method, "ci_level": float(self.ci_level),
                "converged": bool(self.converged), "rhat": {k: clean(v) for k, v in self.rhat.items()},
                "reason": self.reason, "warnings": list(self.warnings),
                "table": [{k: clean(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")]}

    def __repr__(self):
        return (f"MissingMediationResult({self.x} -> {self.m} -> {self.y}, missing={self.missing!r}, "
                f"n={self.n} of {self.n_rows} ({self.n_complete} complete), {self.ci_method} CI"
                + (f", reason={self.reason!r}" if self.reason else "") + ")\n"
                + super().__repr__().split("\n", 1)[-1])


# ----------------------------------------------------------------------------- data


def _prepare(data, x, ms, y, covariates, missing):
    """Numeric role columns, the rows used and the counts. FIML drops rows with a missing treatment or
    covariate (fixed.x) and rows with nothing observed; MI keeps every row."""
    names = [x, *ms, y, *covariates]
    d = _numeric(data, names, keep_na=True)
    n_rows = len(d)
    n_complete = int(d.notna().all(axis=1).sum())
    exo = [x, *covariates]
    if missing == "fiml":
        keep = d[exo].notna().all(axis=1)
        dropped = int((~keep).sum())
        d = d[keep]
    else:
        dropped = 0
    for c in names:
        v = d[c].dropna()
        if len(v) < MIN_CASES:
            raise DataError(f"role variable {c!r} has only {len(v)} observed values"
                            + (" among the cases with an observed treatment and covariates" if missing == "fiml"
                               else ""), where=f"column {c!r}", expected=f"at least {MIN_CASES}")
        if np.ptp(v.to_numpy()) == 0:
            raise DataError(f"role variable {c!r} is constant in the cases used ({v.iloc[0]:g})",
                            where=f"column {c!r}", expected="a variable that varies")
    if len(d) < max(MIN_CASES, len(names) + 2):
        raise DataError(f"too few usable cases: {len(d)} of {n_rows} rows", found=str(len(d)),
                        expected=f"at least {max(MIN_CASES, len(names) + 2)}")
    return d, n_rows, n_complete, dropped


def _model_syntax(k, structure, n_cov):
    """lavaan syntax over safe names x0, m1..mk, y0, c1..: labels as :func:`serial.path_labels`."""
    covs = "".join(f" + c{i + 1}" for i in range(n_cov))
    lines = []
    for j in range(k):
        preds = [f"a{j + 1}*x0"]
        if structure == "serial":
            preds += [f"d{j + 1}{i + 1}*m{i + 1}" for i in range(j)]
        lines.append(f"m{j + 1} ~ " + " + ".join(preds) + covs)
    lines.append("y0 ~ " + " + ".join([f"b{j + 1}*m{j + 1}" for j in range(k)] + ["cp*x0"]) + covs)
    if structure == "parallel":
        lines += [f"m{i + 1} ~~ m{j + 1}" for i in range(k) for j in range(i + 1, k)]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- batched EM
class _EM:
    """Saturated normal ML (EM) of incomplete data for many case-weight vectors at once.

    ``Z`` (n, p): standardised data, NaN = missing (the treatment and covariate columns are complete).
    :meth:`fit` takes weights W (B, n) and returns the ML mean (B, p) and covariance (B, p, p) of each
    weighted data set, and which of them converged.
    """

    def __init__(self, Z):
        self.Z = Z
        self.p = Z.shape[1]
        obs = ~np.isnan(Z)
        keys, inv = np.unique(obs, axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        self.pats = []
        for g, key in enumerate(keys):
            rows = np.flatnonzero(inv == g)
            o = np.flatnonzero(key)
            mis = np.flatnonzero(~key)
            Zo = Z[np.ix_(rows, o)]
            iu = np.triu_indices(len(o))
            F = np.column_stack([np.ones(len(rows)), Zo, Zo[:, iu[0]] * Zo[:, iu[1]]])
            self.pats.append((rows, o, mis, iu, F))

    def stats(self, W):
        """Per-pattern weighted counts, sums and cross-products for weights W (B, n)."""
        out = []
        for rows, o, mis, iu, F in self.pats:
            G = W[:, rows] @ F
            q = len(o)
            N = G[:, 0]
            s = G[:, 1:1 + q]
            C = np.zeros((W.shape[0], q, q))
            C[:, iu[0], iu[1]] = G[:, 1 + q:]
            C[:, iu[1], iu[0]] = G[:, 1 + q:]
            out.append((o, mis, N, s, C))
        return out

    def fit(self, W, mu0, S0, tol=EM_TOL, maxit=EM_MAXIT):
        B = W.shape[0]
        st = self.stats(W)
        Ntot = W.sum(axis=1)
        mu = np.broadcast_to(mu0, (B, self.p)).copy()
        S = np.broadcast_to(S0, (B, self.p, self.p)).copy()
        active = np.ones(B, bool)
        ok = np.ones(B, bool)
        conv = np.zeros(B, bool)
        for _ in range(maxit):
            a = np.flatnonzero(active)
            if a.size == 0:
                break
            mu_a, S_a = mu[a], S[a]
            T1 = np.zeros((a.size, self.p))
            T2 = np.zeros((a.size, self.p, self.p))
            bad = np.zeros(a.size, bool)
            for o, mis, N, s, C in st:
                N, s, C = N[a], s[a], C[a]
                if mis.size == 0:
                    T1[:, o] += s
                    T2[:, o[:, None], o] += C
                    continue
                Soo = S_a[:, o[:, None], o]
                Smo = S_a[:, mis[:, None], o]
                dg = np.einsum("bii->bi", Soo)
                sing = ~well_conditioned(Soo, exact=True) | (dg < _MIN_VAR).any(axis=1)
                bad |= sing
                Soo = np.where(sing[:, None, None], np.eye(len(o)), Soo)
                Beta = np.linalg.solve(Soo, Smo.transpose(0, 2, 1)).transpose(0, 2, 1)  # (b, |m|, |o|)
                c = mu_a[:, mis] - np.einsum("bmo,bo->bm", Beta, mu_a[:, o])
                cond = S_a[:, mis[:, None], mis] - Beta @ Smo.transpose(0, 2, 1)
                Bs = np.einsum("bmo,bo->bm", Beta, s)
                T1[:, o] += s
                T1[:, mis] += N[:, None] * c + Bs
                Emo = c[:, :, None] * s[:, None, :] + Beta @ C
                T2[:, o[:, None], o] += C
                T2[:, mis[:, None], o] += Emo
                T2[:, o[:, None], mis] += Emo.transpose(0, 2, 1)
                T2[:, mis[:, None], mis] += (N[:, None, None] * (cond + c[:, :, None] * c[:, None, :])
                                             + c[:, :, None] * Bs[:, None, :] + Bs[:, :, None] * c[:, None, :]
                                             + Beta @ C @ Beta.transpose(0, 2, 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                mu_n = T1 / Ntot[a, None]
                S_n = T2 / Ntot[a, None, None] - mu_n[:, :, None] * mu_n[:, None, :]
                S_n = (S_n + S_n.transpose(0, 2, 1)) / 2
                delta = np.maximum(np.abs(mu_n - mu_a).max(axis=1), np.abs(S_n - S_a).max(axis=(1, 2)))
            fin = np.isfinite(delta) & ~bad
            mu[a], S[a] = mu_n, S_n
            done = fin & (delta < tol)
            conv[a[done]] = True
            ok[a[~fin]] = False
            active[a[done | ~fin]] = False
        return mu, S, conv & ok


def _regressions(S, eqs, labels):
    """Path coefficients (B, P) from saturated covariances S (B, p, p): each equation's slopes
    ``S_PP^-1 S_Py`` over the predictors P (paths and covariates); NaN where S_PP is near-singular."""
    B = S.shape[0]
    pos = {lab: i for i, lab in enumerate(labels)}
    T = np.full((B, len(labels)), np.nan)
    for lhs, preds, cov_idx in eqs:
        P = np.array([i for i, _ in preds] + list(cov_idx))
        Spp = S[:, P[:, None], P]
        dg = np.einsum("bii->bi", Spp)
        good = well_conditioned(Spp, exact=True) & (dg >= _MIN_VAR).all(axis=1)
        Spp = np.where(good[:, None, None], Spp, np.eye(len(P)))
        beta = np.linalg.solve(Spp, S[:, P, lhs][:, :, None])[:, :, 0]
        beta[~good] = np.nan
        for q, (_, lab) in enumerate(preds):
            T[:, pos[lab]] = beta[:, q]
    return T


# ----------------------------------------------------------------------------- FIML
def _fiml(d, x, ms, y, covariates, structure, rows, labels, eqs, *, n_boot, ci, level, rng):
    """FIML fit in the engine, effects by the delta method, batched-EM bootstrap or Monte Carlo."""
    # local import: the listwise path of mediate() does not need the SEM engine
    from ..sem import sem

    k = len(ms)
    safe = ["x0", *[f"m{j + 1}" for j in range(k)], "y0", *[f"c{i + 1}" for i in range(len(covariates))]]
    names = [x, *ms, y, *covariates]
    back = dict(zip(safe, names))
    sd = d.copy()
    sd.columns = safe
    try:
        fit = sem(sd, _model_syntax(k, structure, len(covariates)), missing="fiml")
    except EfficacyError as e:
        msg = re.sub(r"\b(x0|y0|m\d+|c\d+)\b", lambda mt: repr(back.get(mt.group(0), mt.group(0))), str(e))
        raise DataError(f"the FIML fit failed: {msg}") from e
    est = fit.estimates.set_index("label")
    t = np.array([float(est.loc[lab, "estimate"]) for lab in labels])
    V = fit.vcov.loc[labels, labels].to_numpy(float)
    warnings = [w for w in fit.warnings]
    if not fit.converged or not np.isfinite(V).all():
        reason = ("the FIML fit did not converge: " + "; ".join(fit.warnings) if not fit.converged else
                  "the FIML fit has no standard errors: " + "; ".join(fit.warnings or ["non-finite covariance"]))
        return None, fit, reason, warnings
    T_boot = T_jack = None
    n_valid_em = None
    if n_boot and ci in ("bca", "percentile"):
        Z = sd.to_numpy(float)
        center = np.nanmean(Z, axis=0)
        scale = np.nanstd(Z, axis=0)
        Zs = (Z - center) / scale
        em = _EM(Zs)
        # start every resample at the full-data solution
        mu0, S0, c0 = em.fit(np.ones((1, len(Zs))), np.nanmean(Zs, axis=0) * 0, np.eye(Zs.shape[1]))
        if not c0[0]:
            warnings.append("the EM algorithm of the bootstrap did not converge on the full data")
        n_cov0 = 2 + k
        cov_idx = list(range(n_cov0, n_cov0 + len(covariates)))
        em_eqs = [(lhs, preds, cov_idx) for lhs, preds in eqs]

        def paths(W):
            _, S, conv = em.fit(W, mu0[0], S0[0])
            T = _regressions(S, em_eqs, labels)
            T[~conv] = np.nan
            return T

        n = len(Zs)
        chunk = max(1, 2**19 // n)
        blocks = []
        for i0 in range(0, int(n_boot), chunk):
            b = min(chunk, int(n_boot) - i0)
            blocks.append(paths(case_counts(rng.integers(0, n, size=(b, n)), n)))
        T_boot = _unscale(np.vstack(blocks), labels, eqs, scale)
        if ci == "bca":  # leave-one-out weights, in row blocks like the resamples
            jack = []
            for i0 in range(0, n, chunk):
                b = min(chunk, n - i0)
                W = np.ones((b, n))
                W[np.arange(b), i0 + np.arange(b)] = 0.0
                jack.append(paths(W))
            T_jack = _unscale(np.vstack(jack), labels, eqs, scale)
        n_valid_em = int(np.isfinite(T_boot).all(axis=1).sum())
    res = infer(rows, t, V, ci=ci if n_boot else "delta", level=level, T_boot=T_boot, T_jack=T_jack,
                n_draws=int(n_boot or 0), rng=rng)
    res["t"], res["V"] = t, V
    if n_valid_em is not None and n_valid_em < int(n_boot):
        warnings.append(f"{int(n_boot) - n_valid_em} of {int(n_boot)} bootstrap resamples failed (EM did not "
                        "converge or a singular covariance in the resample) and were dropped")
    return res, fit, "", warnings


def _unscale(T, labels, eqs, scale):
    """Standardised-scale paths -> original scale: slope(lhs <- pred) * sd(lhs) / sd(pred)."""
    T = T.copy()
    pos = {lab: i for i, lab in enumerate(labels)}
    for lhs, preds in eqs:
        for i, lab in preds:
            T[:, pos[lab]] *= scale[lhs] / scale[i]
    return T


def em_paths(data, x, m, y, *, covariates=(), structure="parallel"):
    """Path estimates from the batched EM on the original data (the bootstrap's estimator), for checks.

    Returns a Series of the paths (a1, b1, cp, ...). Equal to the FIML estimates of :func:`mediate`
    with ``missing="fiml"`` because the model is saturated.
    """
    ms = [m] if isinstance(m, str) else list(m)
    covariates = list(covariates)
    check_roles(data, x, ms, y, covariates, structure=structure)
    d, *_ = _prepare(data, x, ms, y, covariates, "fiml")
    labels, eqs, _ = effect_defs(ms, structure)
    Z = d.to_numpy(float)
    scale = np.nanstd(Z, axis=0)
    Zs = (Z - np.nanmean(Z, axis=0)) / scale
    em = _EM(Zs)
    _, S, conv = em.fit(np.ones((1, len(Zs))), np.zeros(Zs.shape[1]), np.eye(Zs.shape[1]))
    if not conv[0]:
        raise DataError("the EM algorithm did not converge on these data", found=f"{EM_MAXIT} iterations")
    k = len(ms)
    cov_idx = list(range(2 + k, 2 + k + len(covariates)))
    T = _regressions(S, [(lhs, preds, cov_idx) for lhs, preds in eqs], labels)
    return pd.Series(_unscale(T, labels, eqs, scale)[0], index=labels)


# ----------------------------------------------------------------------------- multiple imputation
def _chained_equations(Z, n_imp, n_iter, rng, method):
    """Run ``n_imp`` chained-equations chains in parallel. Z (n, p) with NaN.

    Returns the imputed data (n_imp, n, p), the R-hat per incomplete column (dict col -> R-hat) and
    the trace of chain means (n_iter, n_imp, p).
    """
    n, p = Z.shape
    miss = np.isnan(Z)
    inc = [j for j in range(p) if miss[:, j].any()]
    D = np.broadcast_to(Z, (n_imp, n, p)).copy()
    for j in inc:  # start: random draws of the observed values (mice's default start)
        ov = Z[~miss[:, j], j]
        D[:, miss[:, j], j] = rng.choice(ov, size=(n_imp, int(miss[:, j].sum())))
    trace = np.full((n_iter, n_imp, p), np.nan)
    for it in range(n_iter):
        for j in inc:
            o, mi = ~miss[:, j], miss[:, j]
            X = np.concatenate([np.ones((n_imp, n, 1)), np.delete(D, j, axis=2)], axis=2)
            Xo, Xm = X[:, o], X[:, mi]
            yo = Z[o, j]
            q = X.shape[2]
            XtX = Xo.transpose(0, 2, 1) @ Xo
            XtX = XtX + 1e-5 * np.einsum("bii->bi", XtX)[:, :, None] * np.eye(q)  # mice's ridge
            beta = np.linalg.solve(XtX, np.einsum("bnq,n->bq", Xo, yo)[:, :, None])[:, :, 0]
            resid = yo[None, :] - np.einsum("bnq,bq->bn", Xo, beta)
            df = o.sum() - q
            sigma = np.sqrt((resid ** 2).sum(axis=1) / rng.chisquare(df, size=n_imp))
            L = np.linalg.cholesky(np.linalg.inv(XtX))
            beta_d = beta + sigma[:, None] * np.einsum("bqr,br->bq", L, rng.standard_normal((n_imp, q)))
            pred_m = np.einsum("bnq,bq->bn", Xm, beta_d)
            if method == "norm":
                D[:, mi, j] = pred_m + sigma[:, None] * rng.standard_normal(pred_m.shape)
            else:  # pmm type 1: observed predicted from beta_hat, missing from the drawn beta
                pred_o = np.einsum("bnq,bq->bn", Xo, beta)
                D[:, mi, j] = yo[_pmm_donors(pred_o, pred_m, rng)]
            trace[it, :, j] = D[:, mi, j].mean(axis=1)
    rhat = {}
    half = trace[n_iter // 2:]
    L_ = half.shape[0]
    for j in inc:
        ch = half[:, :, j]  # (L, m)
        W = ch.var(axis=0, ddof=1).mean()
        Bv = L_ * ch.mean(axis=0).var(ddof=1)
        var_hat = (L_ - 1) / L_ * W + Bv / L_
        rhat[j] = float(np.sqrt(var_hat / W)) if W > 0 else (1.0 if Bv == 0 else np.inf)
    return D, rhat, trace


def _pmm_donors(pred_o, pred_m, rng, k=PMM_DONORS):
    """Predictive mean matching, batched over chains: for each missing case (pred_m (C, n_mis)) one of
    the ``k`` observed cases whose predicted values (pred_o (C, n_obs)) are nearest, at random.

    Sort-based, O(n log n) per chain: the observed predictions are sorted, each missing prediction's
    insertion point is found from one merged sort (the count of observed values before it), and the
    ``k`` nearest are among the ``2k`` sorted neighbours around that point. Returns donor indices into
    the observed cases (C, n_mis).
    """
    C, n_o = pred_o.shape
    n_m = pred_m.shape[1]
    k = min(k, n_o)
    so = np.argsort(pred_o, axis=1, kind="stable")
    vo = np.take_along_axis(pred_o, so, axis=1)
    merged = np.concatenate([vo, pred_m], axis=1)
    order = np.argsort(merged, axis=1, kind="stable")
    n_before = np.cumsum(order < n_o, axis=1)           # observed values at or before each merged position
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_o + n_m)[None, :].repeat(C, axis=0), axis=1)
    ins = np.take_along_axis(n_before, rank[:, n_o:], axis=1)  # insertion point of each missing prediction
    cand = np.clip(ins[:, :, None] + np.arange(-k, k)[None, None, :], 0, n_o - 1)  # (C, n_m, 2k), may repeat
    dist = np.abs(np.take_along_axis(vo, cand.reshape(C, -1), axis=1).reshape(C, n_m, 2 * k) - pred_m[:, :, None])
    # repeated (clipped) candidates are pushed back so that the k chosen are distinct
    dup = np.zeros_like(dist, bool)
    dup[:, :, 1:] = cand[:, :, 1:] == cand[:, :, :-1]
    dist = np.where(dup, np.inf, dist)
    near = np.argpartition(dist, k - 1, axis=2)[:, :, :k]
    pick = np.take_along_axis(near, rng.integers(0, k, size=(C, n_m, 1)), axis=2)[:, :, 0]
    pos = np.take_along_axis(cand, pick[:, :, None], axis=2)[:, :, 0]
    return np.take_along_axis(so, pos, axis=1)


def _ols_paths_batched(D, eqs, k, n_cov, labels):
    """OLS paths (M, P) and their ML covariance (M, P, P) for each completed data set D (M, n, p)."""
    M, n, _ = D.shape
    P = len(labels)
    pos = {lab: i for i, lab in enumerate(labels)}
    t = np.zeros((M, P))
    V = np.zeros((M, P, P))
    cov_idx = list(range(2 + k, 2 + k + n_cov))
    q_out = 0
    for lhs, preds in eqs:
        cols = [i for i, _ in preds] + cov_idx
        X = np.concatenate([np.ones((M, n, 1)), D[:, :, cols]], axis=2)
        yv = D[:, :, lhs]
        XtX = X.transpose(0, 2, 1) @ X
        beta = np.linalg.solve(XtX, np.einsum("bnq,bn->bq", X, yv)[:, :, None])[:, :, 0]
        e = yv - np.einsum("bnq,bq->bn", X, beta)
        s2 = (e ** 2).sum(axis=1) / n
        iv = np.linalg.inv(XtX) * s2[:, None, None]
        idx = [pos[lab] for _, lab in preds]
        t[:, idx] = beta[:, 1:1 + len(preds)]
        V[:, np.array(idx)[:, None], idx] = iv[:, 1:1 + len(preds), 1:1 + len(preds)]
        q_out = X.shape[2]
    return t, V, q_out


def _ml_cov_parallel(D, eqs, k, n_cov, labels, V):
    """Parallel mediators: Cov(a_j, a_l) = S_jl [(X'X)^-1]_xx (free residual covariance), as observed.py."""
    M, n, _ = D.shape
    pos = {lab: i for i, lab in enumerate(labels)}
    cov_idx = list(range(2 + k, 2 + k + n_cov))
    X = np.concatenate([np.ones((M, n, 1)), D[:, :, [0] + cov_idx]], axis=2)
    Mm = D[:, :, 1:1 + k]
    XtX = X.transpose(0, 2, 1) @ X
    B_ = np.linalg.solve(XtX, X.transpose(0, 2, 1) @ Mm)
    E = Mm - X @ B_
    Sm = E.transpose(0, 2, 1) @ E / n
    iA = np.linalg.inv(XtX)[:, 1, 1]
    ia = [pos[f"a{j + 1}"] for j in range(k)]
    V[:, np.array(ia)[:, None], ia] = Sm * iA[:, None, None]
    return V


def _mi(d, x, ms, y, covariates, structure, rows, labels, eqs, *, n_boot, ci, level, rng, n_imputations, n_iter,
        method):
    k, n_cov = len(ms), len(covariates)
    Z = d.to_numpy(float)
    n = len(Z)
    names = [x, *ms, y, *covariates]
    D, rhat, _ = _chained_equations(Z, n_imputations, n_iter, rng, method)
    rhat_named = {names[j]: v for j, v in rhat.items()}
    bad = {c: v for c, v in rhat_named.items() if not v < RHAT_MAX}
    if bad:
        worst = max(bad, key=bad.get)
        reason = ("multiple imputation did not converge: R-hat of the chain means of the imputed values of "
                  + ", ".join(f"{c!r} = {v:.3f}" for c, v in bad.items())
                  + f" (> {RHAT_MAX} after {n_iter} iterations of {n_imputations} chains; the chains of {worst!r} "
                  "have not mixed, e.g. variables missing together and almost collinear); increase n_iter or use "
                  "missing='fiml'")
        return None, reason, rhat_named
    t_m, V_m, q_out = _ols_paths_batched(D, eqs, k, n_cov, labels)
    if structure == "parallel":
        V_m = _ml_cov_parallel(D, eqs, k, n_cov, labels, V_m)
    m_ = n_imputations
    est_m = evaluate(rows, t_m)  # (M, E)
    G_m = gradients(rows, t_m)  # (M, E, P)
    var_m = np.einsum("mep,mpq,meq->me", G_m, V_m, G_m)
    qbar = est_m.mean(axis=0)
    ubar = var_m.mean(axis=0)
    bvar = est_m.var(axis=0, ddof=1)
    tvar = ubar + (1 + 1 / m_) * bvar
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.maximum((1 + 1 / m_) * bvar / tvar, 1e-4)  # floor as mice's barnard.rubin()
        df_old = (m_ - 1) / lam ** 2
        dfcom = n - q_out
        df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
        df = df_old * df_obs / (df_old + df_obs)
        r = (1 + 1 / m_) * bvar / ubar
        fmi = (r + 2 / (df + 3)) / (r + 1)
    se = np.sqrt(tvar)
    tq = stats.t.ppf(1 - (1 - level) / 2, df)
    lo, hi = qbar - tq * se, qbar + tq * se
    tbar = t_m.mean(axis=0)
    Tcov = V_m.mean(axis=0) + (1 + 1 / m_) * np.cov(t_m, rowvar=False, ddof=1)
    boot_se = np.full(qbar.shape, np.nan)
    n_valid = 0
    ci_name = "rubin"
    if ci == "montecarlo" and n_boot:
        mc = infer(rows, tbar, Tcov, ci="montecarlo", level=level, n_draws=int(n_boot), rng=rng)
        lo, hi, boot_se, n_valid, ci_name = mc["lo"], mc["hi"], mc["boot_se"], mc["n_valid"], "montecarlo"
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = 2 * stats.t.sf(np.abs(qbar / se), df)
    return dict(est=qbar, se=se, lo=lo, hi=hi, boot_se=boot_se, n_valid=n_valid, df=df, fmi=fmi, pvalue=pval,
                t=tbar, V=Tcov, ci_name=ci_name), "", rhat_named


# ----------------------------------------------------------------------------- public
@renamed(level="ci_level", ci="ci_method")
def missing_mediation(data, x, ms, y, *, covariates=(), n_boot=5000, ci_method="bca", seed=None, ci_level=0.95,
                      missing="fiml", structure="parallel", contrasts=True, n_imputations=20, n_iter=20,
                      imputation="pmm"):
    """Mediation (parallel or serial mediators) on incomplete data by FIML or multiple imputation.

    Called by :func:`efficacy.mediation.mediate` (``missing=``, parallel mediators) and
    :func:`efficacy.mediation.serial_mediation` (``missing=``); the arguments are theirs, plus:

    Parameters
    ----------
    missing : {"fiml", "mi"}
    structure : {"parallel", "serial"}
    n_imputations : int
        Imputations = parallel chains (MI).
    n_iter : int
        Chained-equations iterations per chain (MI); R-hat uses the second half.
    imputation : {"pmm", "norm"}
        Predictive mean matching or Bayesian linear regression (MI).

    Returns
    -------
    MissingMediationResult (parallel) or SerialMediationResult (serial)
        ``n`` = cases used, with ``n_rows``, ``n_complete``, ``n_dropped``. With MI the table has the
        Barnard-Rubin ``df`` and the fraction of missing information ``fmi`` of every row, and
        ``pvalue`` is from the t distribution.

    Raises
    ------
    efficacy.errors.DataError
        A role variable missing in every row or observed in fewer than 10, constant, non-numeric;
        bad ``missing``/``ci``/``imputation``; a FIML fit that fails in the engine.
    """
    ci = ci_method
    ms = [ms] if isinstance(ms, str) else list(ms)
    covariates = list(covariates)
    if missing not in ("fiml", "mi"):
        raise DataError(f"missing must be 'listwise', 'fiml' or 'mi', got {missing!r}", where="argument missing")
    if ci not in ("bca", "percentile", "montecarlo"):
        raise DataError(f"ci must be 'bca', 'percentile' or 'montecarlo', got {ci!r}", where="argument ci")
    if imputation not in ("pmm", "norm"):
        raise DataError(f"imputation must be 'pmm' or 'norm', got {imputation!r}", where="argument imputation")
    if not ms:
        raise DataError("at least one mediator is needed", where="argument m")
    if missing == "mi" and (int(n_imputations) < 2 or int(n_iter) < 4):
        raise DataError("multiple imputation needs n_imputations >= 2 and n_iter >= 4",
                        found=f"n_imputations={n_imputations}, n_iter={n_iter}")
    check_roles(data, x, ms, y, covariates, structure=structure)
    d, n_rows, n_complete, n_dropped = _prepare(data, x, ms, y, covariates, missing)
    labels, eqs, rows = effect_defs(ms, structure, contrasts=contrasts)
    rng = as_rng(seed)
    warnings = []
    if n_dropped:
        warnings.append(f"{n_dropped} of {n_rows} cases with a missing treatment or covariate were dropped "
                        "(fixed.x: exogenous variables are conditioned on, as lavaan missing = 'ml')")
    fit, rhat = None, {}
    if missing == "fiml":
        res, fit, reason, w = _fiml(d, x, ms, y, covariates, structure, rows, labels, eqs, n_boot=n_boot, ci=ci,
                                    level=ci_level, rng=rng)
        warnings += w
        ci_name = (ci if n_boot else "delta")
    else:
        res, reason, rhat = _mi(d, x, ms, y, covariates, structure, rows, labels, eqs, n_boot=n_boot, ci=ci,
                                level=ci_level, rng=rng, n_imputations=int(n_imputations), n_iter=int(n_iter),
                                method=imputation)
        ci_name = res["ci_name"] if res is not None else "rubin"
        if res is not None and ci in ("bca", "percentile") and n_boot:
            warnings.append("the bootstrap is not combined with multiple imputation: intervals by Rubin's rules "
                            "(t with Barnard-Rubin df); ci_method='montecarlo' gives Monte Carlo intervals from the "
                            "pooled paths")
    converged = res is not None
    if res is None:
        nan = np.full(len(rows), np.nan)
        res = dict(est=nan, se=nan, lo=nan, hi=nan, boot_se=nan, n_valid=0, t=np.full(len(labels), np.nan),
                   V=np.full((len(labels), len(labels)), np.nan))
    n_valid = int(res.get("n_valid", 0))
    n_failed = (int(n_boot) - n_valid) if (converged and ci_name in ("bca", "percentile", "montecarlo")) else 0
    if n_failed and missing == "fiml" and ci_name == "montecarlo":
        warnings.append(f"{n_failed} of {int(n_boot)} Monte Carlo draws gave a non-finite effect and were dropped")
    note = "; ".join([reason] * bool(reason) + warnings)
    n_used = len(d)
    paths = pd.Series(res["t"], index=labels)
    vcov = pd.DataFrame(res["V"], index=labels, columns=labels)
    if structure == "serial":
        table = effect_table(rows, res, ci_name, n_failed, note)
        if missing == "mi" and converged:
            table["pvalue"] = res["pvalue"]
            table["df"], table["fmi"] = res["df"], res["fmi"]
        return SerialMediationResult(x=x, m=ms, y=y, covariates=covariates, n=n_used, n_rows=n_rows,
                                     missing=missing, n_boot=int(n_boot or 0), n_boot_valid=n_valid, ci_method=ci_name,
                                     ci_level=ci_level, table=table, paths=paths, vcov=vcov, reason=reason,
                                     warnings=warnings, converged=converged,
                                     n_imputations=int(n_imputations) if missing == "mi" else 0)
    table = _mediation_table(ms, res["est"], res["se"], res["lo"], res["hi"], res["boot_se"], ci_name, n_failed,
                             note)
    if missing == "mi" and converged:
        keep = _parallel_keep(len(ms), len(rows))
        table["pvalue"] = res["pvalue"][keep]
        is_ind = table["effect"].eq("indirect")
        table["sobel_pvalue"] = np.where(is_ind, table["pvalue"], np.nan)
        table["df"], table["fmi"] = res["df"][keep], res["fmi"][keep]
    return MissingMediationResult(x, ms, y, covariates, n_used, int(n_boot or 0), n_valid, ci_name, ci_level, table,
                                  reason=reason, warnings=warnings, missing=missing, n_rows=n_rows,
                                  n_complete=n_complete, n_dropped=n_dropped,
                                  n_imputations=int(n_imputations) if missing == "mi" else 0, converged=converged,
                                  rhat=rhat, paths=paths, vcov=vcov, sem=fit)


def _parallel_keep(k, n_rows):
    """Rows of the parallel effect vector that observed._mediation_table keeps."""
    return list(range(2 * k + 2 + k)) + ([2 * k + 2 + k] if k > 1 else []) + [n_rows - 1]


def dispatch(data, x, m, y, *, covariates=(), n_boot=5000, ci_method="bca", seed=None, ci_level=0.95,
             missing="listwise"):
    """The branch of :func:`efficacy.mediation.mediate` for ``missing="fiml"``/``"mi"`` and for the chain
    syntax ``m="m1 -> m2"`` (serial mediators, :func:`efficacy.mediation.serial_mediation`)."""
    from .serial import parse_chain, serial_mediation

    if missing not in ("listwise", "fiml", "mi"):
        raise DataError(f"missing must be 'listwise', 'fiml' or 'mi', got {missing!r}", where="argument missing")
    chain = parse_chain(m)
    if chain is not None:
        return serial_mediation(data, x, chain, y, covariates=covariates, n_boot=n_boot, ci_method=ci_method,
                                seed=seed, ci_level=ci_level, missing=missing)
    return missing_mediation(data, x, m, y, covariates=covariates, n_boot=n_boot, ci_method=ci_method, seed=seed,
                             ci_level=ci_level, missing=missing, structure="parallel")
