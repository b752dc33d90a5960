"""WLSMV for ordered-categorical indicators: :func:`efficacy.sem.sem` with ``estimator="WLSMV"``.

Likert items are treated as categorised normal latent responses ``y*``. The analysis is lavaan's
three-stage WLSMV (Muthen, 1984; Muthen, du Toit & Spisic, 1997), computed as
``lavaan::sem(..., ordered = ..., estimator = "WLSMV")`` (lavaan 0.6) computes it:

1. **Sample statistics.** Thresholds of every item and the polychoric correlations of every pair,
   two-step (Olsson, 1979), with their asymptotic covariance matrix ``Gamma`` (NACOV), from
   :func:`efficacy.sem.categorical.polychoric`.
2. **DWLS estimates.** The model parameters minimise
   ``F = sum_g (n_g - 1) / N * (s_g - sigma_g(theta))' W_g (s_g - sigma_g(theta)) / 2`` with
   ``s`` = (thresholds, correlations), ``W = diag(1 / diag(Gamma))`` (diagonally weighted least
   squares), by Gauss-Newton steps with step halving.
3. **Robust inference.** Standard errors from the sandwich with the *full* ``Gamma``:
   ``vcov = E^-1 (sum_g f_g D_g' W_g Gamma_g W_g D_g) E^-1 / (N - G)`` with ``E = sum_g f_g D_g' W_g
   D_g`` and ``f_g = n_g / N`` (lavaan's ``se = "robust.sem"``, expected information); the test is
   the mean-and-variance adjusted, scale-shifted statistic of Asparouhov & Muthen (2010)
   (``test = "scaled.shifted"``): with ``U = V - V D E^-1 D' V`` (``V = bdiag(f_g W_g)``, ``Gamma_all =
   bdiag(Gamma_g / f_g)``), ``a = sqrt(df / tr((U Gamma)^2))``, ``b = df - a tr(U Gamma)``, the
   scaled statistic is ``a T + b`` with ``T = sum_g (n_g - 1) e_g' W_g e_g``; lavaan reports
   ``chisq.scaling.factor = 1 / a`` and ``chisq.shift.parameters = b``.

**Model.** lavaan's ``"delta"`` parameterisation: for each ordered indicator ``y*_i = nu_i + lambda_i'
eta + eps_i``, the thresholds ``tau_i`` free, the intercepts ``nu_i`` fixed at 0, the scaling factor
``delta_i = 1 / sd(y*_i)`` fixed at 1 (``~*~`` rows), and the residual variance *not* a parameter but
``theta_ii = 1 / delta_i^2 - var(lambda_i' eta)``. The implied statistics are the thresholds
``delta_i (tau_ic - mu*_i)`` and the correlations ``delta_i delta_j Sigma*_ij``. The structural part
(loadings, regressions among latent variables, latent (co)variances, residual covariances of items)
is the RAM model of :mod:`efficacy.sem.engine`.

``parameterization="theta"`` (lavaan's other parameterisation, :class:`_ThetaGroup`): the residual
variances ``theta_ii`` of the latent responses are parameters (fixed at 1 unless freed) and the
scaling factors are derived, ``delta_i = 1 / sqrt(Sigma*_ii)`` with ``Sigma*`` the implied covariance
matrix of the latent responses; the implied statistics are the same expressions, and the Jacobian
carries ``d delta_i = -delta_i^3 d Sigma*_ii / 2``. The ``~*~`` rows then show the derived scaling
factors as fixed rows (as lavaan). Models both parameterisations can express have the same fit; only
theta can hold residual variances equal across groups or waves (strict invariance).

**Fit measures** (lavaan ``fitMeasures`` names): ``chisq``, ``df``, ``pvalue``, ``chisq.scaled``,
``df.scaled``, ``pvalue.scaled``, ``chisq.scaling.factor``, ``chisq.shift.parameters``, the baseline
(independence: thresholds free, correlations 0) statistics, ``cfi``/``tli``/``rmsea`` from the DWLS
statistic, their ``.scaled`` versions from the scale-shifted statistics, the ``.robust`` versions of
Savalei (2021) (lavaan's ``lav_fit_catml_dwls``: the normal-theory ML discrepancy of the polychoric
matrix at the DWLS estimates, rescaled by ``c = tr(U' V_ML U Gamma) / df``), and ``srmr`` (residual
correlations, lavaan's ``srmr_bentler_nomean`` for categorical data). ``N`` in RMSEA is ``N - G``, as
lavaan for (D)WLS.

**Continuous variables** beside ordered ones (``ordered=`` naming some observed variables): see
:mod:`efficacy.sem.wls_mixed` (lavaan's moments with ``conditional.x = FALSE`` or ``TRUE``); multi-group with
equality constraints as below (each group its own moments and Gamma).

**Multi-group** (``group=``): each group has its own thresholds, polychoric matrix and ``Gamma``
(every category must be observed in every group). ``equal=`` accepts ``"thresholds"`` besides the
ML types, and the identification of Wu & Estabrook (2016) for polytomous items is applied as
``semTools::measEq.syntax(ID.cat = "Wu.Estabrook.2016", parameterization = "delta")`` writes it:
with equal thresholds the scaling factors and the latent-response intercepts are freed in groups 2,
3, ...; equal intercepts (which need equal thresholds) fix the intercepts at 0 again and free the
latent means. Under ``parameterization="theta"`` equal thresholds free the residual variances instead
of the scaling factors, and ``"residuals"`` (strict) fixes them at 1 in every group again. Factors are identified by marker variables (``auto="cfa"``), equivalent to semTools'
``ID.fac = "std.lv"``: the same fit, thresholds, scaling factors, intercepts and standardised
solution. When thresholds are constrained across groups lavaan 0.6.14 reports no robust CFI, TLI
and RMSEA (NA; its catML model cannot be built); they are NaN here too.

References
----------
Muthen, B. (1984). A general structural equation model with dichotomous, ordered categorical, and
continuous latent variable indicators. *Psychometrika, 49*, 115-132.
Muthen, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using weighted least squares and
quadratic estimating equations in latent variable modeling with categorical and continuous outcomes.
Unpublished technical report.
Asparouhov, T., & Muthen, B. (2010). Simple second order chi-square correction. Mplus technical
appendix.
Savalei, V. (2021). Improving fit indices in structural equation modeling with categorical data.
*Multivariate Behavioral Research, 56*, 390-407.
Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor analysis models of different
levels of invariance for ordered categorical outcomes. *Psychometrika, 81*, 1014-1045.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of Statistical
Software, 48*(2), 1-36.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr

from ..errors import DataError, SEMError
from . import robust as sem_robust
from .categorical import polychoric
from .fit import std_all
from .robust import rmsea_ci as _rmsea_ci

__all__ = ["fit_wlsmv", "resolve_ordered"]

MAX_CATEGORIES = 20
_MISSING = ("listwise", "pairwise")


# --------------------------------------------------------------------------- input checks


def resolve_ordered(ordered, rows, allow_continuous=False):
    """The ordered indicators of a model: ``ordered=True`` -> every observed variable; a list is checked.

    Returns the list (in model order) and the observed variables of the model. With
    ``allow_continuous`` the list may leave out observed variables (continuous ones,
    :mod:`efficacy.sem.wls_mixed`).
    """
    latents = []
    for lhs, op, rhs, mod in rows:
        if op == "=~" and lhs not in latents:
            latents.append(lhs)
    obs = []
    for lhs, op, rhs, mod in rows:
        for v in (lhs, rhs):
            if v and v not in latents and v not in obs:
                obs.append(v)
    if ordered is True:
        return list(obs), obs
    if ordered is None or ordered is False:
        raise SEMError("estimator='WLSMV' needs the ordered-categorical indicators", found=f"ordered={ordered!r}",
                       expected="ordered=True (all observed variables) or a list of columns")
    names = [ordered] if isinstance(ordered, str) else list(ordered)
    if not names:
        raise SEMError("`ordered` is empty", expected="ordered=True or a list of model variables")
    bad = [v for v in names if v not in obs]
    if bad:
        raise SEMError("`ordered` names variable(s) that are not observed variables of the model",
                       found=", ".join(map(str, bad)), expected="indicators of the model: " + ", ".join(obs))
    cont = [v for v in obs if v not in names]
    if cont and not allow_continuous:
        raise SEMError("WLSMV with continuous observed variables next to ordered ones is not supported",
                       found="not in `ordered`: " + ", ".join(cont),
                       expected="every observed variable of the model ordered (ordered=True)")
    return [v for v in obs if v in names], obs


def _wls_rows(rows, ordered, free_nu=()):
    """Rows for the RAM model of the latent responses: residual variances and intercepts of items fixed at 0.

    The residual variance of an ordered item is not a parameter in the delta parameterisation (it is
    ``1 / delta^2`` minus the explained variance), so it is held at 0 in the RAM model and filled in
    afterwards; this is exact because an ordered item may not have outgoing paths.
    """
    ordset = set(ordered)
    for lhs, op, rhs, mod in rows:
        if op == "~" and rhs in ordset:
            raise SEMError("an ordered variable cannot predict another variable with WLSMV",
                           found=f"{lhs} ~ {rhs}", expected="ordered variables as indicators or outcomes only")
        if op == "=~" and lhs in ordset:
            raise SEMError("an ordered variable cannot be a latent variable", found=f"{lhs} =~ {rhs}")
        if op == "~~" and lhs == rhs and lhs in ordset and not (isinstance(mod, float) and mod == 0.0):
            raise SEMError("the residual variance of an ordered indicator is not a parameter in the delta "
                           "parameterisation (it follows from the scaling factor)", found=f"{lhs} ~~ {rhs}",
                           expected="no variance row for ordered indicators")
        if op == "~1" and lhs in ordset:
            raise SEMError("intercepts of ordered indicators are fixed at 0 (the thresholds carry the "
                           "location)", found=f"{lhs} ~ 1")
    extra = [(v, "~~", v, 0.0) for v in ordered] + [(v, "~1", "", None if v in free_nu else 0.0) for v in ordered]
    return list(rows) + extra


# --------------------------------------------------------------------------- one group


def factor_starts(mod, R, items, sd=None):
    """Start values of loadings and factor variances from a correlation matrix (polychoric / mixed).

    For each factor with at least two indicators among ``items``, the first principal component of their
    correlations gives standardised loadings ``l`` (times ``sd`` for continuous indicators; signs as the
    data say, so reverse-keyed items start negative); with the marker loading fixed at ``c`` the start is
    ``lambda_j = c l_j / l_marker`` and the factor variance ``(l_marker / c)^2``, else the loadings are
    ``l`` and the variance 1. Returns ``({(factor, item): loading}, {factor: variance})``.
    """
    oi = {v: i for i, v in enumerate(items)}
    sd = np.ones(len(items)) if sd is None else np.asarray(sd, float)
    ind = {}
    for r in mod.table:
        if r["op"] == "=~":
            ind.setdefault(r["lhs"], []).append(r)
    lam_start, var_start = {}, {}
    for f, rs in ind.items():
        its = [r for r in rs if r["rhs"] in oi]
        if len(its) < 2:
            continue
        idx = [oi[r["rhs"]] for r in its]
        ev, vec = np.linalg.eigh(R[np.ix_(idx, idx)])
        lo = vec[:, -1] * np.sqrt(max(ev[-1], 1e-6)) * sd[idx]
        mark = next((q for q, r in enumerate(its) if r["free"] == 0 and r["fixed_value"] != 0), None)
        if mark is not None and abs(lo[mark]) > 0.05 * sd[idx[mark]]:
            c = float(its[mark]["fixed_value"])
            lo = lo * np.sign(lo[mark] * c)
            var_start[f] = float((lo[mark] / c) ** 2)
            for q, r in enumerate(its):
                lam_start[(f, r["rhs"])] = c * lo[q] / lo[mark]
        else:
            lo = lo * (1.0 if lo.sum() >= 0 else -1.0)
            var_start[f] = 1.0
            for q, r in enumerate(its):
                lam_start[(f, r["rhs"])] = lo[q]
    return lam_start, var_start


class _Group:
    """One group: the RAM model, the sample statistics (thresholds, polychorics, Gamma) and the layout.

    Local parameter vector: ``[RAM free parameters (K), thresholds (nth), free scaling factors (ns)]``.
    """

    def __init__(self, frame, rows, ordered, auto, missing, level, free_lv_means=False, cluster=None):
        # engine imports this module lazily: no cycle at import time
        from .engine import _Model

        mod = _Model(rows, list(frame.columns), auto, True, free_lv_means=free_lv_means)
        mod.set_fixed(np.zeros(len(mod.obs)), np.eye(len(mod.obs)))   # only numeric fixed values (no fixed.x)
        if mod.ov_x:
            raise SEMError("exogenous observed covariates are not supported with WLSMV", found=", ".join(mod.ov_x))
        self.mod, self.level = mod, level
        obs = mod.obs
        pc = polychoric(frame, obs, missing=missing, se=True, max_categories=MAX_CATEGORIES, cluster=cluster)
        self.pc = pc
        self.items = list(obs)
        self.p = p = len(obs)
        self.n = int(pc.nobs)
        th = pc.thresholds
        self.th_item = np.array([obs.index(c) for c in th["item"]], dtype=int)
        self.th_num = th["threshold"].to_numpy(int)
        self.th_labels = list(th["label"])
        self.nth = len(th)
        self.ncat = np.bincount(self.th_item, minlength=p) + 1
        self.iu, self.ju = np.triu_indices(p, 1)
        r = pc.rho.to_numpy()
        self.R = r
        self.s = np.concatenate([th["estimate"].to_numpy(float), r[self.iu, self.ju]])
        G = pc.gamma.to_numpy()
        # DWLS weight from the row-level Gamma; with cluster= Gamma (SEs, test) is cluster-robust
        d = np.diag(G if pc.gamma_iid is None else pc.gamma_iid.to_numpy())
        if not np.all(d > 0) or not np.all(np.isfinite(G)):
            raise SEMError("the asymptotic covariance matrix of the polychoric correlations has a zero or "
                           "undefined diagonal: no WLSMV weight", where=f"group {level}" if level is not None else None,
                           found=pc.reason or "degenerate tables")
        self.Gamma = G
        self.w = 1.0 / d
        self.K = mod.npar
        # scaling factors: fixed 1 unless freed (multi-group identification)
        self.scale_free = np.full(p, -1, dtype=int)
        self.ns = 0

    def free_scales(self, which):
        for i in which:
            self.scale_free[i] = self.K + self.nth + self.ns
            self.ns += 1

    @property
    def nloc(self):
        return self.K + self.nth + self.ns

    def split(self, t):
        return t[:self.K], t[self.K:self.K + self.nth], t[self.K + self.nth:]

    def delta(self, t):
        _, _, sc = self.split(t)
        d = np.ones(self.p)
        m = self.scale_free >= 0
        d[m] = sc[self.scale_free[m] - self.K - self.nth]
        return d

    def implied(self, t, jac=False):
        """Implied statistics (thresholds, correlations); with ``jac`` also d/d(local parameters)."""
        ram, tau, _ = self.split(t)
        mod = self.mod
        Sig0, mu = mod.implied(ram)
        dl = self.delta(t)
        ti = self.th_item
        th_m = dl[ti] * (tau - mu[ti])
        iu, ju = self.iu, self.ju
        cor = dl[iu] * dl[ju] * Sig0[iu, ju]
        est = np.concatenate([th_m, cor])
        if not jac:
            return est, Sig0, mu
        dS, dmu = mod.derivatives(ram)
        nth, m = self.nth, len(iu)
        J = np.zeros((nth + m, self.nloc))
        if self.K:
            J[:nth, :self.K] = -(dl[ti][:, None] * dmu[:, ti].T)
            J[nth:, :self.K] = (dl[iu] * dl[ju])[:, None] * dS[:, iu, ju].T
        J[np.arange(nth), self.K + np.arange(nth)] = dl[ti]
        for i in np.flatnonzero(self.scale_free >= 0):
            k = self.scale_free[i]
            rows_t = np.flatnonzero(ti == i)
            J[rows_t, k] = tau[rows_t] - mu[i]
            a = np.flatnonzero(iu == i)
            J[nth + a, k] = dl[ju[a]] * Sig0[i, ju[a]]
            b = np.flatnonzero(ju == i)
            J[nth + b, k] = dl[iu[b]] * Sig0[iu[b], i]
        return est, Sig0, mu, J

    def start(self):
        """Local start values from the polychoric matrix.

        For each factor measured by ordered items, the first principal component of their correlations
        gives standardised loadings ``l`` (signs as the data say, so reverse-keyed items start negative);
        with the marker loading fixed at ``c`` the start is ``lambda_j = c l_j / l_marker`` and factor
        variance ``(l_marker / c)^2``. Other loadings start at 1, other variances at 0.5 (0.05 for
        residual variances of factors), covariances at 0, thresholds at their sample values.
        """
        mod = self.mod
        t = np.zeros(self.nloc)
        lam_start, var_start = factor_starts(mod, self.R, self.items)
        endo = {r["lhs"] for r in mod.table if r["op"] == "~"}
        for r in mod.table:
            k = r["free"] - 1
            if k < 0:
                continue
            if r["op"] == "=~":
                t[k] = lam_start.get((r["lhs"], r["rhs"]), 1.0)
            elif r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in mod.latents:
                v = var_start.get(r["lhs"], 0.5)
                t[k] = 0.5 * v if r["lhs"] in endo else v
        t[self.K:self.K + self.nth] = self.s[:self.nth]
        t[self.K + self.nth:] = 1.0
        return t

    def theta_diag(self, t):
        """Residual variances of the items (delta parameterisation): 1 / delta^2 - explained variance."""
        _, Sig0, _ = self.implied(t)
        return 1.0 / self.delta(t) ** 2 - np.diag(Sig0)


# --------------------------------------------------------------------------- theta parameterisation


PARAMETERIZATIONS = ("delta", "theta")


def _check_parameterization(parameterization):
    if parameterization not in PARAMETERIZATIONS:
        raise SEMError("unknown parameterization for WLSMV", found=repr(parameterization),
                       expected="'delta' (lavaan's default) or 'theta'")
    return parameterization


def _wls_rows_theta(rows, ordered, free_nu=(), free_theta=()):
    """Rows for the theta parameterisation: residual variances of the latent responses are RAM parameters.

    Each ordered item gets ``y ~~ 1*y`` (lavaan's default), or a free residual variance when it is in
    ``free_theta`` (the Wu & Estabrook identification in groups / waves 2, 3, ...); a residual variance
    the user wrote is kept as written. Intercepts as :func:`_wls_rows`.
    """
    ordset = set(ordered)
    own = {lhs for lhs, op, rhs, mod in rows if op == "~~" and lhs == rhs and lhs in ordset}
    rest = [r for r in rows if not (r[1] == "~~" and r[0] == r[2] and r[0] in own)]
    checked = _wls_rows(rest, ordered, free_nu)     # the checks of the delta rows; its extras: variances, intercepts
    nu_rows = checked[len(rest) + len(ordered):]
    var_rows = [(v, "~~", v, None if v in free_theta else 1.0) for v in ordered if v not in own]
    return list(rows) + var_rows + nu_rows


class _ThetaGroup(_Group):
    """One group in lavaan's ``"theta"`` parameterisation.

    The residual variances ``theta_ii`` of the latent responses are parameters of the RAM model; the
    scaling factors are derived, ``delta_i = 1 / sqrt(Sigma*_ii)`` with ``Sigma*`` the model-implied
    covariance matrix of the latent responses (no free ``~*~`` parameters). Implied statistics as in the
    delta parameterisation: thresholds ``delta_i (tau_ic - mu*_i)``, correlations ``delta_i delta_j
    Sigma*_ij``; the Jacobian carries ``d delta_i = -delta_i^3 d Sigma*_ii / 2``.
    """

    parameterization = "theta"

    def __init__(self, frame, rows, ordered, *args, **kwargs):
        super().__init__(frame, rows, ordered, *args, **kwargs)
        cont = [v for v in self.items if v not in set(ordered)]
        if cont or getattr(self.mod, "ov_x", None):
            raise SEMError("the theta parameterisation is implemented for ordered indicators only",
                           found=", ".join(cont + list(getattr(self.mod, "ov_x", []) or [])),
                           expected="every observed variable ordered, or parameterization='delta'")

    def free_scales(self, which):
        if len(list(which)):
            raise SEMError("scaling factors are not parameters in the theta parameterisation",
                           expected="free residual variances instead (free_residuals=)")

    def delta(self, t):
        Sig0, _ = self.mod.implied(self.split(t)[0])
        d = np.diag(Sig0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 1.0 / np.sqrt(np.where(d > 0, d, np.nan))

    def implied(self, t, jac=False):
        ram, tau, _ = self.split(t)
        mod = self.mod
        Sig0, mu = mod.implied(ram)
        d = np.diag(Sig0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dl = 1.0 / np.sqrt(np.where(d > 0, d, np.nan))
        ti, iu, ju = self.th_item, self.iu, self.ju
        th_m = dl[ti] * (tau - mu[ti])
        s_ij = Sig0[iu, ju]
        cor = dl[iu] * dl[ju] * s_ij
        est = np.concatenate([th_m, cor])
        if not jac:
            return est, Sig0, mu
        nth, m = self.nth, len(iu)
        J = np.zeros((nth + m, self.nloc))
        if self.K:
            dS, dmu = mod.derivatives(ram)
            p = self.p
            ddl = -0.5 * dl ** 3 * dS[:, np.arange(p), np.arange(p)]          # (K, p)
            J[:nth, :self.K] = (ddl[:, ti] * (tau - mu[ti]) - dl[ti] * dmu[:, ti]).T
            J[nth:, :self.K] = ((ddl[:, iu] * dl[ju] + dl[iu] * ddl[:, ju]) * s_ij
                                + (dl[iu] * dl[ju]) * dS[:, iu, ju]).T
        J[np.arange(nth), self.K + np.arange(nth)] = dl[ti]
        return est, Sig0, mu, J

    def theta_diag(self, t):
        """Residual variances of the latent responses: parameters (fixed or free) of the theta parameterisation."""
        _, S, _ = self.mod.matrices(self.split(t)[0])
        ix = [self.mod.idx[v] for v in self.items]
        return S[ix, ix].copy()

    def start(self):
        """The delta start values (:meth:`_Group.start`) carried to the theta scale.

        With ``h_i`` the explained variance of item i at the delta start, item i is rescaled by ``s_i =
        1 / sqrt(1 - h_i)`` (its residual variance becomes 1) and a factor by the scale of its marker item;
        loadings, paths, (co)variances, thresholds and intercepts follow.
        """
        t = _Group.start(self)
        mod = self.mod
        ram = t[:self.K]
        items = set(self.items)
        res_var = [r for r in mod.table if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in items]
        for r in res_var:
            if r["free"]:
                ram[r["free"] - 1] = 0.0
        A, S, _ = mod.matrices(ram)
        for r in res_var:           # explained variance: without the residual variances
            S[r["i"], r["i"]] = 0.0
        B = np.linalg.inv(np.eye(mod.nv) - A)
        h = np.diag(B @ S @ B.T)
        a = np.ones(mod.nv)
        for v in self.items:
            a[mod.idx[v]] = 1.0 / np.sqrt(max(1.0 - h[mod.idx[v]], 0.1))
        for r in mod.table:          # a factor takes the scale of its (fixed) marker item
            if r["op"] == "=~" and not r["free"] and r.get("fixed_value", 0) != 0 and r["rhs"] in items:
                a[mod.idx[r["lhs"]]] = a[mod.idx[r["rhs"]]]
        done = set()
        for r in mod.table:
            k = r["free"] - 1
            if k < 0 or k in done:
                continue
            done.add(k)
            i, j = r["i"], r["j"]
            if r["op"] in ("=~", "~"):
                ram[k] *= a[i] / a[j]
            elif r["op"] == "~~":
                ram[k] = 1.0 if (i == j and r["lhs"] in items) else ram[k] * a[i] * a[j]
            elif r["op"] == "~1":
                ram[k] *= a[i]
        t[:self.K] = ram
        t[self.K:self.K + self.nth] *= a[[mod.idx[self.items[q]] for q in self.th_item]]
        return t


# --------------------------------------------------------------------------- estimation


def _gauss_newton(groups, maps, nglob, theta0, *, maxit=500, tol=1e-10):
    """Minimise ``sum_g c_g e_g' W_g e_g`` (``c_g = (n_g - 1) / N``) by Gauss-Newton with step halving."""
    N = sum(G.n for G in groups)
    cg = [(G.n - 1) / N for G in groups]

    def value(theta):
        f = 0.0
        for G, mp, c in zip(groups, maps, cg):
            e = G.s - G.implied(theta[mp])[0]
            f += c * float(e @ (G.w * e))
        return f

    def pieces(theta):
        f = 0.0
        H = np.zeros((nglob, nglob))
        g = np.zeros(nglob)
        for G, mp, c in zip(groups, maps, cg):
            est, _, _, J = G.implied(theta[mp], jac=True)
            e = G.s - est
            f += c * float(e @ (G.w * e))
            Jg = np.zeros((len(e), nglob))
            np.add.at(Jg.T, mp, J.T)
            WJ = G.w[:, None] * Jg
            H += c * Jg.T @ WJ
            g += c * WJ.T @ e
        return f, H, g

    theta = np.asarray(theta0, float).copy()
    f, H, g = pieces(theta)
    for _ in range(maxit):
        if np.max(np.abs(2 * g)) < tol:
            break
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        # the full Gauss-Newton step is tried with its derivatives at once (it is nearly always taken)
        fn, Hn, gn = pieces(theta + step)
        a = 1.0
        if not (np.isfinite(fn) and fn <= f + 1e-14 * max(1.0, f)):
            a = 0.5
            while a > 1e-10:
                fn = value(theta + a * step)
                if np.isfinite(fn) and fn <= f + 1e-14 * max(1.0, f):
                    break
                a /= 2
            else:
                break
            fn, Hn, gn = pieces(theta + a * step)
        theta = theta + a * step
        f_old, f, H, g = f, fn, Hn, gn
        if abs(f_old - f) < 1e-15 * max(1.0, f) and a * np.max(np.abs(step)) < 1e-9:
            break
    converged = bool(np.isfinite(f) and np.max(np.abs(2 * g)) < 1e-6)
    return theta, f, g, converged


# --------------------------------------------------------------------------- inference


def _inference(groups, maps, nglob, theta):
    """Delta matrices, information E, robust vcov and the scale-shifted test pieces, lavaan's way."""
    N = sum(G.n for G in groups)
    ng = len(groups)
    D_all, V_blocks, G_blocks, resid = [], [], [], []
    E = np.zeros((nglob, nglob))
    M = np.zeros((nglob, nglob))
    chisq = 0.0
    for G, mp in zip(groups, maps):
        fg = G.n / N
        est, _, _, J = G.implied(theta[mp], jac=True)
        Dg = np.zeros((len(est), nglob))
        np.add.at(Dg.T, mp, J.T)
        WD = G.w[:, None] * Dg
        E += fg * Dg.T @ WD
        M += fg * WD.T @ G.Gamma @ WD
        e = G.s - est
        chisq += (G.n - 1) * float(e @ (G.w * e))
        D_all.append(Dg)
        V_blocks.append(fg * G.w)
        G_blocks.append(G.Gamma / fg)
        resid.append(e)
    Einv = np.linalg.inv(E)
    vcov = Einv @ M @ Einv / (N - ng)
    D = np.vstack(D_all)
    v = np.concatenate(V_blocks)
    Gam = _bdiag(G_blocks)
    VD = v[:, None] * D
    # U = diag(v) - B VD' with B = VD E^-1 (rank q = number of parameters): the traces tr(U Gamma) and
    # tr((U Gamma)^2) from q x p products instead of p x p x p ones (Gamma symmetric)
    B = VD @ Einv
    A = v[:, None] * Gam                      # diag(v) Gamma
    P = VD.T @ Gam                            # q x p
    tr1 = float(v @ np.diag(Gam) - np.sum(B * P.T))
    PB = P @ B                                # q x q
    tr2 = float(np.sum(A * A.T) - 2 * np.sum((P @ A) * B.T) + np.sum(PB * PB.T))
    return dict(E=E, Einv=Einv, vcov=vcov, D=D, v=v, Gamma=Gam, tr1=tr1, tr2=tr2, chisq=max(chisq, 0.0),
                resid=resid, N=N)




def _bdiag(blocks):
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    o = 0
    for b in blocks:
        k = b.shape[0]
        out[o:o + k, o:o + k] = b
        o += k
    return out


def _scaled_shifted(T, df, tr1, tr2):
    """lavaan's ``scaled.shifted`` test: (statistic, scaling factor 1/a, shift b)."""
    if df <= 0 or not (tr2 > 0):
        return (float(T) if df == 0 else np.nan), np.nan, np.nan
    a = np.sqrt(df / tr2)
    b = df - a * tr1
    return float(a * T + b), float(1 / a), float(b)


def _baseline(groups):
    """Independence model (thresholds free, correlations 0): statistic, df and the U Gamma traces."""
    N = sum(G.n for G in groups)
    T = 0.0
    df = 0
    blocks_U, blocks_G = [], []
    for G in groups:
        fg = G.n / N
        k0 = len(G.s) - len(G.iu)   # thresholds (and means, variances of continuous variables)
        r = G.s[k0:]
        # covariances of exogenous covariates stay free in lavaan's baseline model (wls_mixed)
        wr = G.w[k0:] * ~getattr(G, "baseline_free", np.zeros(len(r), bool))
        T += (G.n - 1) * float(np.sum(wr * r * r))
        df += int(np.count_nonzero(wr))
        # U = V - V D (D'V D)^-1 D'V with D = [I; 0]: the correlation block of V, thresholds removed
        u = np.concatenate([np.zeros(k0), fg * wr])
        blocks_U.append(u)
        blocks_G.append(G.Gamma / fg)
    u = np.concatenate(blocks_U)
    Gam = _bdiag(blocks_G)
    UG = u[:, None] * Gam
    tr1 = float(np.sum(u * np.diag(Gam)))
    tr2 = float(np.sum(UG * UG.T))
    return T, df, tr1, tr2


def _catml(groups, maps, theta, inf, df, baseline_df):
    """Savalei (2021) / lavaan ``lav_fit_catml_dwls``: the ML statistic of the polychoric matrices at the DWLS
    estimates and its scaling factors, for the robust CFI, TLI and RMSEA. None when a matrix is not
    positive definite (lavaan then reports NA)."""
    N = sum(G.n for G in groups)
    XX3 = XX3b = 0.0
    Vb, Wb, Gb, Db = [], [], [], []
    kbs = 0.0
    off = 0
    for G, mp in zip(groups, maps):
        if len(G.s) != G.nth + len(G.iu):   # continuous variables: lavaan reports NA
            return None
        R = G.R
        p = G.p
        if np.min(np.linalg.eigvalsh(R)) < np.sqrt(np.finfo(float).eps):
            return None
        _, Sig0, _ = G.implied(theta[mp])
        dl = G.delta(theta[mp])
        S = Sig0 * np.outer(dl, dl)
        S[np.diag_indices(p)] = 1.0
        try:
            Si = np.linalg.inv(S)
            ld_s = np.linalg.slogdet(S)[1]
        except np.linalg.LinAlgError:
            return None
        ld_r = np.linalg.slogdet(R)[1]
        XX3 += G.n * (ld_s - ld_r + np.trace(R @ Si) - p)
        XX3b += G.n * (-ld_r)
        fg = G.n / N
        iu, ju = G.iu, G.ju
        V = Si[iu[:, None], iu[None, :]] * Si[ju[:, None], ju[None, :]] + \
            Si[iu[:, None], ju[None, :]] * Si[ju[:, None], iu[None, :]]
        nrow = G.nth + len(iu)
        rows = slice(off + G.nth, off + nrow)
        Db.append(inf["D"][rows])
        Vb.append(fg * V)
        Wb.append(fg * G.w[G.nth:])
        Gr = G.Gamma[G.nth:, G.nth:] / fg
        Gb.append(Gr)
        kbs += np.trace(Gr)
        off += nrow
    D = np.vstack(Db)
    w = np.concatenate(Wb)
    V = _bdiag(Vb)
    Gam = _bdiag(Gb)
    WiU = np.eye(len(w)) - D @ inf["Einv"] @ (D.T * w[None, :])
    ks = float(np.sum((WiU.T @ V @ WiU) * Gam.T))
    c3 = ks / df if df > 0 else np.nan
    c3b = kbs / baseline_df
    return dict(XX3=float(XX3), c3=c3, XX3b=float(XX3b), c3b=float(c3b))


def _srmr(groups, maps, theta):
    """lavaan's srmr for categorical data (srmr_bentler_nomean): residual correlations, lower triangle with
    the (zero) diagonal, averaged over groups with weights n_g / N."""
    N = sum(G.n for G in groups)
    out = 0.0
    for G, mp in zip(groups, maps):
        est, _, _ = G.implied(theta[mp])
        if hasattr(G, "srmr_residuals"):   # continuous variables beside ordered ones
            out += G.n / N * G.srmr_residuals(est)
            continue
        e = G.s[G.nth:] - est[G.nth:]
        ne = G.p * (G.p + 1) // 2
        out += G.n / N * np.sqrt(np.sum(e * e) / ne)
    return float(out)


def _fit_measures(groups, maps, theta, inf, npar, warn):
    N = inf["N"]
    ng = len(groups)
    Nf = N - ng        # lavaan: N - G for (D)WLS in fit measures
    ndat = sum(len(G.s) for G in groups)
    df = ndat - npar
    T = inf["chisq"]
    Tss, scl, shift = _scaled_shifted(T, df, inf["tr1"], inf["tr2"])
    Tb, dfb, tr1b, tr2b = _baseline(groups)
    Tbss, sclb, _ = _scaled_shifted(Tb, dfb, tr1b, tr2b)
    fit = dict(chisq=float(T), df=int(df), pvalue=float(stats.chi2.sf(T, df)) if df > 0 else np.nan,
               npar=int(npar), n=int(N), ngroups=ng, baseline_chisq=float(Tb), baseline_df=int(dfb))
    fit["baseline.pvalue"] = float(stats.chi2.sf(Tb, dfb))
    fit["chisq.scaled"] = Tss
    fit["df.scaled"] = int(df)
    fit["pvalue.scaled"] = float(stats.chi2.sf(Tss, df)) if df > 0 else np.nan
    fit["chisq.scaling.factor"] = scl
    fit["chisq.shift.parameters"] = shift
    fit["baseline.chisq.scaled"] = Tbss
    fit["baseline.df.scaled"] = int(dfb)
    fit["baseline.pvalue.scaled"] = float(stats.chi2.sf(Tbss, dfb))
    fit["baseline.chisq.scaling.factor"] = sclb
    fit["cfi"] = sem_robust._cfi(T, df, Tb, dfb) if df >= 0 else np.nan
    fit["tli"] = sem_robust._tli(T, df, Tb, dfb) if df >= 0 else np.nan
    fit["cfi.scaled"] = sem_robust._cfi(Tss, df, Tbss, dfb) if df > 0 else fit["cfi"]
    fit["tli.scaled"] = sem_robust._tli(Tss, df, Tbss, dfb) if df > 0 else fit["tli"]
    fit["rmsea"] = sem_robust._rmsea(T, df, Nf, ng)
    fit["rmsea_ci_low"], fit["rmsea_ci_high"] = _rmsea_ci(T, df, Nf, G=ng)
    fit["rmsea.scaled"] = sem_robust._rmsea(Tss, df, Nf, ng)
    fit["rmsea.ci.lower.scaled"], fit["rmsea.ci.upper.scaled"] = _rmsea_ci(Tss, df, Nf, G=ng)
    # lavaan 0.6.14 cannot build its catML model when thresholds are constrained across groups (its
    # lav_object_catml drops the thresholds but keeps their equality constraints) and reports NA: so do we
    # (the same in one group when thresholds are equal across items, the longitudinal case)
    th_glob = np.concatenate([mp[G.K:G.K + G.nth] for G, mp in zip(groups, maps)])
    shared = len(np.unique(th_glob)) < len(th_glob)
    cat = _catml(groups, maps, theta, inf, df, dfb) if df > 0 and not shared else None
    if cat is None:
        if df > 0 and not shared and all(len(G.s) == G.nth + len(G.iu) for G in groups):
            warn.append("a polychoric matrix is not positive definite: no robust CFI/TLI/RMSEA (as lavaan)")
        for k in ("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust"):
            fit[k] = np.nan
    else:
        XX3, c3, XX3b, c3b = cat["XX3"], cat["c3"], cat["XX3b"], cat["c3b"]
        fit["cfi.robust"] = sem_robust._cfi(XX3, df, XX3b, dfb, c3, c3b)
        fit["tli.robust"] = sem_robust._tli(XX3, df, XX3b, dfb, c3, c3b)
        fit["rmsea.robust"] = sem_robust._rmsea(XX3, df, Nf, ng, c3)
        fit["rmsea.ci.lower.robust"], fit["rmsea.ci.upper.robust"] = _rmsea_ci(
            XX3 / c3, df, Nf, G=ng, c_hat=c3)
    fit["srmr"] = _srmr(groups, maps, theta)
    fit["loglik"] = fit["aic"] = fit["bic"] = np.nan
    return fit


# --------------------------------------------------------------------------- the parameter table


def _table_rows(G, gi, mp, theta, se_glob, zc, multigroup):
    """Parameter rows of one group (lavaan's parameterEstimates + std.all)."""
    mod = G.mod
    t = theta[mp]
    ram, tau, _ = G.split(t)
    dl = G.delta(t)
    A, S, _ = mod.matrices(ram)
    th_d = G.theta_diag(t)
    oi = {v: i for i, v in enumerate(G.items)}
    for v, i in oi.items():
        S[mod.idx[v], mod.idx[v]] = th_d[i]
    B = np.linalg.inv(np.eye(mod.nv) - A)
    V = B @ S @ B.T
    sdv = np.sqrt(np.clip(np.diag(V), 0, None))
    out = []

    def row(lhs, op, rhs, label, kloc, est, std):
        kg = int(mp[kloc]) if kloc >= 0 else -1
        se = float(se_glob[kg]) if kg >= 0 else 0.0
        out.append((lhs, op, rhs, gi + 1, label, kg + 1, float(est), se, float(std)))

    for r in mod.table:
        k = r["free"] - 1
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in oi:
            est = th_d[oi[r["lhs"]]]
        else:
            est = ram[k] if k >= 0 else r["fixed_value"]
        std = std_all(r["op"], est, r["i"], r["j"], sdv, V, S)
        row(r["lhs"], r["op"], r["rhs"], r["label"], k, est, std)
    for q in range(G.nth):
        it = G.items[G.th_item[q]]
        row(it, "|", f"t{G.th_num[q]}", "", G.K + q, tau[q], tau[q] / sdv[mod.idx[it]])
    for i, it in enumerate(G.items):
        if not getattr(G, "is_ord", np.ones(G.p, bool))[i]:   # no scaling factor for a continuous variable
            continue
        k = G.scale_free[i]
        row(it, "~*~", it, "", k, dl[i], dl[i] * sdv[mod.idx[it]] if k >= 0 else 1.0)
    return out


_OP_ORDER = {"=~": 0, "~": 1, "|": 2, "~~": 3, "~1": 4, "~*~": 5}


def _estimates_frame(rows, zc):
    """The parameter table from row tuples: z, p and CI vectorised; rows ordered by group, then operator."""
    lhs, op, rhs, grp, label, free, est, se, std = zip(*rows)
    key = np.lexsort((np.array([_OP_ORDER[o] for o in op]), np.array(grp)))
    est, se, free = np.array(est)[key], np.array(se)[key], np.array(free)[key]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where((free > 0) & (se > 0), est / se, np.nan)
    pick = [lhs, op, rhs, label]
    lhs, op, rhs, label = ([v[k] for k in key] for v in pick)
    return pd.DataFrame({"lhs": lhs, "op": op, "rhs": rhs, "group": np.array(grp)[key], "label": label,
                         "free": free, "estimate": est, "se": se, "statistic": z,
                         "pvalue": np.where(np.isfinite(z), 2 * ndtr(-np.abs(z)), np.nan),
                         "ci_low": est - zc * se, "ci_high": est + zc * se, "std_all": np.array(std)[key]})


# --------------------------------------------------------------------------- entry point


def fit_wlsmv(data, rows, *, ordered=True, group=None, equal=(), partial=(), missing="listwise", auto="sem",
              ci_level=0.95, at=None, equal_thresholds=(), free_intercepts=(), free_scales=(), parameterization="delta",
              free_residuals=(), conditional_x=None, cluster=None):
    """Fit a model to ordered-categorical indicators by WLSMV (see the module docstring).

    ``cluster`` (a column name; single- and multi-group models, with continuous variables beside the ordered
    ones and exogenous covariates too): cluster-robust standard errors and scaled-shifted
    test, Gamma from the casewise scores of the sample statistics summed within clusters, times
    ``G / (G - 1)`` (``G`` clusters), the DWLS weight and so the estimates unchanged (vcov divided by
    ``N - 1`` as without clusters): lavaan's ``cluster=`` with ``se = "robust.cluster.sem"`` for
    ordered data as implemented in its development version 0.7 (Mplus ``TYPE = COMPLEX``; lavaan
    0.6.x accepts the argument but ignores it for ordered data). With ``missing="pairwise"`` a missing
    score counts 0 in its cluster's sum, as in the row-level Gamma (lavaan 0.7 drops the whole cluster
    sum of a statistic when one of the cluster's rows is missing on it).

    Called by :func:`efficacy.sem.sem` with ``estimator="WLSMV"``; returns an
    :class:`efficacy.sem.engine.SEMResult`.

    Single-group models only (used by :func:`efficacy.measurement.longitudinal_invariance`, the
    longitudinal Wu & Estabrook identification of Liu et al. 2017):

    equal_thresholds : sequence of sequences of item names
        Each inner sequence is a set of items (the same question at several waves) whose
        thresholds are equal (lavaan: the same threshold labels, ``x_w1 | a1*t1`` and ``x_w2 |
        a1*t1``). The items of a set must have the same number of categories.
    free_intercepts : sequence of item names
        Items whose latent-response intercept is free (otherwise fixed at 0).
    free_scales : sequence of item names
        Items whose scaling factor (``~*~``) is free (otherwise fixed at 1); delta parameterisation.
    parameterization : {"delta", "theta"}
        lavaan's ``parameterization=``. "theta": the residual variances of the latent responses are
        parameters (``y ~~ 1*y`` unless freed), the scaling factors ``1 / sd(y*)`` are derived
        (``~*~`` rows, not free); single- and multi-group (see :func:`_fit_multigroup`).
    free_residuals : sequence of item names
        Theta parameterisation, single group: items whose residual variance is free (otherwise fixed
        at 1); the longitudinal counterpart of ``free_scales``.
    """
    from .engine import SEMResult

    if missing in ("default",):
        missing = "listwise"
    if isinstance(missing, str) and missing.lower() in ("fiml", "ml", "direct"):
        raise SEMError("missing-data method FIML is not available with WLSMV (a limited-information estimator: "
                       "its sample statistics need complete rows or pairwise-present data)", found=f"missing={missing!r}",
                       expected="missing='listwise' or 'pairwise', or estimator='MLR' with missing='fiml'")
    if missing not in _MISSING:
        raise SEMError("unknown missing-data method for WLSMV", found=repr(missing),
                       expected="'listwise' (lavaan's default for categorical data) or 'pairwise'")
    theta = _check_parameterization(parameterization) == "theta"
    ordered, obs = resolve_ordered(ordered, rows, allow_continuous=True)
    if theta and set(ordered) != set(obs):   # _ThetaGroup models ordered indicators only
        raise SEMError("the theta parameterisation is implemented for models whose observed variables are all "
                       "ordered", found="not ordered: " + ", ".join(v for v in obs if v not in ordered),
                       expected="ordered=True, or parameterization='delta'")
    miss_cols = [v for v in obs if v not in data.columns]
    if miss_cols:
        raise SEMError("model variable(s) not in the data", found=", ".join(miss_cols),
                       expected="observed variables that are data columns (latent variables need =~)")
    if len(ordered) < len(obs) and group is None:   # continuous variables beside ordered ones (wls_mixed)
        if at is not None or equal or partial or len(equal_thresholds) or \
                len(free_intercepts) or len(free_scales) or len(free_residuals):
            raise SEMError("WLSMV with continuous variables beside ordered ones takes equality options only in "
                           "multi-group models",
                           found="continuous: " + ", ".join(v for v in obs if v not in ordered),
                           expected="group=None and no equal/partial/equal_thresholds/free_intercepts/free_scales, "
                                    "or group= with equal=/partial=")
        from .wls_mixed import fit_wlsmv_mixed
        return fit_wlsmv_mixed(data, rows, ordered, obs, missing=missing, auto=auto, ci_level=ci_level,
                               conditional_x=conditional_x, cluster=cluster)
    if group is not None:
        if len(equal_thresholds) or len(free_intercepts) or len(free_scales) or len(free_residuals):
            raise SEMError("equal_thresholds / free_intercepts / free_scales / free_residuals are single-group "
                           "options", found=f"group={group!r}", expected="equal= and partial= for groups")
        return _fit_multigroup(data, rows, ordered, obs, group, equal, partial, missing, auto, ci_level, at=at,
                               parameterization=parameterization, conditional_x=conditional_x, cluster=cluster)
    if at is not None:
        raise SEMError("at= is implemented for multi-group models", found="group=None", expected="group=")
    if equal or partial:
        raise SEMError("equal= and partial= need a multi-group model", found=f"equal={equal!r}",
                       expected="group='<column>'")
    free_intercepts = [free_intercepts] if isinstance(free_intercepts, str) else list(free_intercepts)
    free_scales = [free_scales] if isinstance(free_scales, str) else list(free_scales)
    free_residuals = [free_residuals] if isinstance(free_residuals, str) else list(free_residuals)
    if free_scales and theta:
        raise SEMError("scaling factors are not parameters in the theta parameterisation", found="free_scales=",
                       expected="free_residuals= (free residual variances of the latent responses)")
    if free_residuals and not theta:
        raise SEMError("residual variances of ordered items are parameters only in the theta parameterisation",
                       found="free_residuals= with parameterization='delta'", expected="parameterization='theta'")
    sets = [list(s) for s in equal_thresholds]
    named = free_intercepts + free_scales + free_residuals + [v for s in sets for v in s]
    bad = [v for v in named if v not in ordered]
    if bad:
        raise SEMError("equal_thresholds / free_intercepts / free_scales name variables that are not ordered "
                       "indicators of the model", found=", ".join(map(str, dict.fromkeys(bad))),
                       expected="ordered indicators: " + ", ".join(ordered))
    if theta:
        G = _ThetaGroup(data, _wls_rows_theta(rows, ordered, tuple(free_intercepts), tuple(free_residuals)), ordered,
                        auto, missing, None, cluster=cluster)
    else:
        G = _Group(data, _wls_rows(rows, ordered, tuple(free_intercepts)), ordered, auto, missing, None,
                   cluster=cluster)
    if free_scales:
        G.free_scales([G.items.index(v) for v in dict.fromkeys(free_scales)])
    mp = np.arange(G.nloc)
    for s in sets:
        if len(s) < 2:
            continue
        idx = [G.items.index(v) for v in s]
        ncat = G.ncat[idx]
        if len(set(ncat.tolist())) > 1:
            raise SEMError("items with equal thresholds must have the same number of observed categories",
                           found=", ".join(f"{v}: {k}" for v, k in zip(s, ncat)),
                           expected="the same categories observed for every item of the set")
        if ncat[0] < 3 and (free_scales or free_intercepts or free_residuals):
            raise SEMError("equal thresholds of binary items need another identification than Wu & Estabrook's "
                           "polytomous one (not implemented)", found=", ".join(s),
                           expected="items with three or more categories")
        first = np.flatnonzero(G.th_item == idx[0])
        for i in idx[1:]:
            mp[G.K + np.flatnonzero(G.th_item == i)] = mp[G.K + first]
    _, mp = np.unique(mp, return_inverse=True)   # renumber 0..nglob-1, order kept (shared ones point back)
    return _finish([G], [mp], int(mp.max()) + 1, [G.start()], ci_level, missing, SEMResult, multigroup=False,
                   cluster=cluster)


def _theta_at(groups, maps, theta0, at):
    """Global parameters from a parameter table (``sem(at=)``): RAM rows, thresholds and scaling factors by
    (lhs, op, rhs, group); unmatched parameters keep theta0."""
    val = {(str(r.lhs), str(r.op), "" if pd.isna(r.rhs) else str(r.rhs), int(r.group)): float(r.estimate)
           for r in at.itertuples()}
    theta = theta0.copy()
    for gi, (G, mp) in enumerate(zip(groups, maps)):
        keys = [((r["lhs"], r["op"], r["rhs"] or ""), r["free"] - 1) for r in G.mod.table if r["free"] > 0]
        keys += [((G.items[G.th_item[q]], "|", f"t{G.th_num[q]}"), G.K + q) for q in range(G.nth)]
        keys += [((v, "~*~", v), int(G.scale_free[i])) for i, v in enumerate(G.items) if G.scale_free[i] >= 0]
        for key, k in keys:
            if key + (gi + 1,) in val:
                theta[mp[k]] = val[key + (gi + 1,)]
    return theta


def _score_parts(groups, maps, nglob, theta):
    """Gradient of the DWLS discrepancy (as minimised: group weights (n_g - 1) / N, zero at the estimates) and the
    expected information (weights n_g / N, as lavaan's) at theta: ``N g' E^-1 g`` is lavaan's lavTestScore
    statistic for a WLSMV fit (efficacy.sem.lrt.score_test)."""
    N = sum(G.n for G in groups)
    g = np.zeros(nglob)
    E = np.zeros((nglob, nglob))
    for G, mp in zip(groups, maps):
        est, _, _, J = G.implied(theta[mp], jac=True)
        Jg = np.zeros((len(est), nglob))
        np.add.at(Jg.T, mp, J.T)
        WJ = G.w[:, None] * Jg
        g += (G.n - 1) / N * WJ.T @ (G.s - est)
        E += G.n / N * Jg.T @ WJ
    return {"gradient": g, "information": E}


def _finish(groups, maps, nglob, starts, ci_level, missing, SEMResult, multigroup, at=None, cluster=None):
    warn = []
    for G in groups:
        where = f"group {G.level}: " if multigroup else ""
        warn.extend(where + w for w in G.pc.warnings)
    theta0 = np.zeros(nglob)
    for G, mp, t0 in zip(groups, maps, starts):
        theta0[mp] = t0
    if at is None:
        theta, _, g, converged = _gauss_newton(groups, maps, nglob, theta0)
    else:   # evaluate at given values (score tests, efficacy.sem.lrt)
        theta, g, converged = _theta_at(groups, maps, theta0, at), np.zeros(nglob), True
    if not converged:
        warn.append(f"optimiser did not converge (max |gradient| = {np.max(np.abs(2 * g)):.3g})")
    npar = nglob
    vcov = np.full((nglob, nglob), np.nan)
    try:
        inf = _inference(groups, maps, nglob, theta)
        vcov = inf["vcov"]
    except np.linalg.LinAlgError:
        warn.append("information matrix singular: model may not be identified; no standard errors or test")
        inf = None
    se_glob = np.sqrt(np.clip(np.diag(vcov), 0, None))
    zc = stats.norm.ppf(0.5 + ci_level / 2)
    rows = []
    proper = True
    for gi, (G, mp) in enumerate(zip(groups, maps)):
        rows.extend(_table_rows(G, gi, mp, theta, se_glob, zc, multigroup))
        t = theta[mp]
        th_d = G.theta_diag(t)
        where = f"group {G.level}: " if multigroup else ""
        neg = [v for v, d in zip(G.items, th_d) if d < 0]
        ram = G.split(t)[0]
        _, S, _ = G.mod.matrices(ram)
        negl = [v for v in G.mod.latents if S[G.mod.idx[v], G.mod.idx[v]] < 0]
        if neg or negl:
            proper = False
            warn.append(where + "negative variance(s): " + ", ".join(neg + negl))
    est = _estimates_frame(rows, zc)
    if multigroup:
        est["group_level"] = [groups[g - 1].level for g in est["group"]]
    if inf is not None:
        fit = _fit_measures(groups, maps, theta, inf, npar, warn)
    else:
        fit = dict(npar=int(npar), n=int(sum(G.n for G in groups)))
    if fit.get("df", 0) < 0:
        warn.append(f"model not identified: {npar} free parameters for {npar + fit['df']} sample statistics "
                    f"(df = {fit['df']})")
    if multigroup:
        pn = [f"p{k + 1}" for k in range(nglob)]
    else:
        pn = [""] * nglob
        G, mp = groups[0], maps[0]
        for k in range(G.nloc):   # local parameter k -> global mp[k] (shared thresholds: the first name)
            if pn[mp[k]]:
                continue
            if k < G.K:
                r = next(r for r in G.mod.table if r["free"] == k + 1)
                pn[mp[k]] = r["label"] or f"{r['lhs']}{r['op']}{r['rhs']}"
            elif k < G.K + G.nth:
                pn[mp[k]] = G.th_labels[k - G.K]
            else:
                pn[mp[k]] = f"{G.items[int(np.flatnonzero(G.scale_free == k)[0])]}~*~"
    res = SEMResult(converged=bool(converged), proper=bool(proper), warnings=warn, fit=fit, estimates=est,
                    vcov=pd.DataFrame(vcov, index=pn, columns=pn), loglik=np.nan, missing=missing,
                    n=int(sum(G.n for G in groups)), estimator="WLSMV", test="scaled.shifted",
                    information="expected", se_type="robust.sem" if cluster is None else "robust.cluster.sem",
                    cluster=cluster)
    res.wls_inference = inf   # Delta, information, weights and Gamma: the DWLS difference test (efficacy.sem.lrt)
    res.parameterization = getattr(groups[0], "parameterization", "delta")   # lavaan's parameterization=
    if at is not None:
        res.evaluated = _score_parts(groups, maps, nglob, theta)
    return res


_EQUAL_WLS = ("thresholds", "loadings", "intercepts", "means", "regressions", "lv.variances", "lv.covariances",
              "residual.covariances")


def _check_categories(frames, items, group, levels):
    """Every ordered item must have the same observed categories in every group (lavaan's rule)."""
    for v in items:
        allc = set()
        per = []
        for fr in frames:
            c = set(pd.unique(fr[v].dropna()))
            per.append(c)
            allc |= c
        for lev, c in zip(levels, per):
            if c != allc:
                miss = sorted(allc - c, key=lambda x: (str(type(x)), x))
                raise DataError(f"ordered item {v!r} has an empty category in a group: thresholds cannot be "
                                "compared across groups", where=f"{group} = {lev!r}",
                                found="no answer in categor" + ("y " if len(miss) == 1 else "ies ")
                                + ", ".join(map(str, miss)),
                                expected="every category observed in every group (collapse sparse categories)")


def _fit_multigroup(data, rows, ordered, obs, group, equal, partial, missing, auto, ci_level, at=None,
                    parameterization="delta", conditional_x=None, cluster=None):
    """Multi-group WLSMV with group.equal / group.partial and the Wu & Estabrook (2016) identification.

    Delta parameterisation, as ``semTools::measEq.syntax(ID.cat = "Wu.Estabrook.2016")`` writes it for
    polytomous items: configural - thresholds free in every group, latent-response intercepts 0 and scaling
    factors 1 everywhere; ``"thresholds"`` equal - the scaling factors and intercepts are freed in groups
    2, 3, ...; ``"loadings"`` - equal loadings (factor variances stay free: marker identification);
    ``"intercepts"`` (needs equal thresholds) - the intercepts are equal again (0 everywhere) and the latent
    means are freed in groups 2, 3, .... ``partial`` exempts parameters (``"x1|t2"``, ``"f =~ x2"``,
    ``"x3 ~ 1"``: an exempted intercept stays free in groups 2, 3, ...).

    Theta parameterisation (``semTools::measEq.syntax(..., parameterization = "theta")``): the residual
    variances of the latent responses are fixed at 1 in every group of the configural model; equal
    thresholds free them (with the intercepts) in groups 2, 3, ... instead of the scaling factors;
    ``"residuals"`` makes them equal across groups again (fixed at 1 everywhere: the strict step), an item
    exempted by ``partial`` (``"x3 ~~ x3"``) keeping its residual variance free in groups 2, 3, ....

    Continuous indicators beside ordered ones (delta parameterisation; :mod:`efficacy.sem.wls_mixed`): each
    group has its own mixed moments and Gamma; the ordered items follow the rules above, a continuous
    indicator has a free intercept and residual variance in every group, made equal by ``"intercepts"`` and
    ``"residuals"`` (the strict step of a mixed model: the residual variances of the continuous indicators
    only, the ordered items' are not parameters under delta), as the continuous part of
    ``semTools::measEq.syntax``. Exogenous covariates: ``conditional_x`` as in the single-group model (with
    ``conditional_x=True`` a freed scaling factor scales the item's thresholds, slopes and residual covariances).

    ``cluster``: each group's Gamma cluster-robust, from the clusters within that group (``G / (G - 1)`` with
    the group's number of clusters, at least two per group), as lavaan 0.7's ``cluster=`` with ``group=``.
    """
    from .engine import SEMResult, _row_type

    if group not in data.columns:
        raise SEMError("group column not in the data", found=repr(group), expected="a data column")
    equal = (equal,) if isinstance(equal, str) else tuple(equal)
    theta = parameterization == "theta"
    mixed = len(ordered) < len(obs)
    if "residuals" in equal and not theta and not mixed:
        raise SEMError("residual variances cannot be tested for invariance with the delta parameterisation "
                       "(as semTools::measEq.syntax)", found="equal includes 'residuals'",
                       expected="thresholds, loadings, intercepts (Wu & Estabrook 2016), or parameterization='theta'")
    bad = [e for e in equal if e not in _EQUAL_WLS + (("residuals",) if theta or mixed else ())]
    if bad:
        raise SEMError("unknown equality type for WLSMV", found=", ".join(bad), expected=", ".join(_EQUAL_WLS))
    if "intercepts" in equal and "thresholds" not in equal:
        raise SEMError("equal intercepts of the latent responses need equal thresholds (Wu & Estabrook 2016)",
                       found=f"equal={equal!r}", expected="equal=('thresholds', 'loadings', 'intercepts')")
    partial = (partial,) if isinstance(partial, str) else tuple(partial)
    pkeys = {re.sub(r"\s+", "", p) for p in partial}
    levels = list(pd.unique(data[group].dropna()))
    if len(levels) < 2:
        raise SEMError("a multi-group model needs at least two groups", found=f"{group}: {levels}")
    frames = []
    cols = obs + ([cluster] if cluster is not None and cluster not in obs else [])
    for lev in levels:
        fr = data.loc[data[group] == lev, cols]
        if missing == "listwise":
            fr = fr.dropna(subset=obs)
        elif mixed:   # rows with no observed model variable carry no information (wls_mixed)
            fr = fr.loc[fr[obs].notna().any(axis=1)]
        frames.append(fr)
    _check_categories(frames, ordered, group, levels)
    th_eq = "thresholds" in equal
    free_lv = "intercepts" in equal and "means" not in equal
    groups = []
    for gi, (lev, fr) in enumerate(zip(levels, frames)):
        free_nu = ()
        if gi > 0 and th_eq:
            free_nu = tuple(v for v in ordered if "intercepts" not in equal or f"{v}~1" in pkeys)
        if mixed:
            from .wls_mixed import _mixed_group
            G, _ = _mixed_group(fr, rows, ordered, obs, auto, missing, lev, free_nu, free_lv and gi > 0,
                                conditional_x, cluster=cluster)
        elif theta:   # equal thresholds free the residual variances of groups 2, 3, ... (unless equal residuals)
            free_th = tuple(v for v in ordered if "residuals" not in equal or f"{v}~~{v}" in pkeys) \
                if gi > 0 and th_eq else ()
            G = _ThetaGroup(fr, _wls_rows_theta(rows, ordered, free_nu, free_th), ordered, auto, missing, lev,
                            free_lv_means=(free_lv and gi > 0), cluster=cluster)
        else:
            G = _Group(fr, _wls_rows(rows, ordered, free_nu), ordered, auto, missing, lev,
                       free_lv_means=(free_lv and gi > 0), cluster=cluster)
        if gi > 0 and th_eq:
            two = [v for v, k in zip(G.items, G.ncat) if v in ordered and k < 3]
            if two:
                raise SEMError("equal thresholds of binary items need another identification than Wu & "
                               "Estabrook's polytomous one (not implemented)", found=", ".join(two),
                               expected="items with three or more categories")
            if not theta:
                G.free_scales(range(G.p))
        groups.append(G)
    # global parameter map (labels and equal types shared with group 1)
    g0 = groups[0]
    key0 = {}
    for r in g0.mod.table:
        if r["free"]:
            key0[(r["lhs"], r["op"], r["rhs"])] = r["free"] - 1
    for q, lab in enumerate(g0.th_labels):
        key0[(g0.items[g0.th_item[q]], "|", f"t{g0.th_num[q]}")] = g0.K + q
    labels = {r["label"]: r["free"] - 1 for r in g0.mod.table if r["label"] and r["free"]}
    nglob = g0.nloc
    maps = [np.arange(g0.nloc)]
    for G in groups[1:]:
        mp = np.full(G.nloc, -1)
        for r in G.mod.table:
            k = r["free"] - 1
            if k < 0 or mp[k] >= 0:
                continue
            t = _row_type(r, G.mod.latents, G.mod.ov_x)
            key = (r["lhs"], r["op"], r["rhs"])
            if r["label"] and r["label"] in labels:
                mp[k] = labels[r["label"]]
            elif t in equal and f"{r['lhs']}{r['op']}{r['rhs']}" not in pkeys and key in key0:
                mp[k] = key0[key]
            else:
                mp[k] = nglob
                nglob += 1
        for q in range(G.nth):
            key = (G.items[G.th_item[q]], "|", f"t{G.th_num[q]}")
            if th_eq and f"{key[0]}|{key[2]}" not in pkeys and key in key0:
                mp[G.K + q] = key0[key]
            else:
                mp[G.K + q] = nglob
                nglob += 1
        for k in range(G.K + G.nth, G.nloc):
            mp[k] = nglob
            nglob += 1
        maps.append(mp)
    # starts: group 1's values for shared parameters, each group's own for the rest
    starts = [G.start() for G in groups]
    theta0 = np.full(nglob, np.nan)
    for mp, t0 in zip(maps, starts):
        new = np.isnan(theta0[mp])
        theta0[mp[new]] = t0[new]
    starts = [theta0[mp] for mp in maps]
    res = _finish(groups, maps, nglob, starts, ci_level, missing, SEMResult, multigroup=True, at=at, cluster=cluster)
    if mixed:   # per group, as the single-group mixed fit (lavInspect(fit, "wls.obs"), "gamma")
        res.wls_obs = {G.level: pd.Series(G.s, index=G.mm.labels) for G in groups}
        res.gamma = {G.level: pd.DataFrame(G.Gamma, index=G.mm.labels, columns=G.mm.labels) for G in groups}
    return res
