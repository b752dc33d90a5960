"""WLSMV with continuous observed variables beside ordered ones (:func:`efficacy.sem.sem` with
``estimator="WLSMV"`` and ``ordered=`` naming some of the observed variables).

lavaan's treatment of a mixed model with ``conditional.x = FALSE`` (``lavaan::sem(..., ordered = items,
estimator = "WLSMV", conditional.x = FALSE)``, lavaan 0.6.14), where every observed variable - ordered
items, continuous outcomes and exogenous covariates alike - is in the joint moments:

**Sample statistics** (Muthen, 1984; lavaan's ``muthen1984``), each two-step:

1. univariate: the thresholds of every ordered item (probit margins) and the mean and (ML, divisor n)
   variance of every continuous variable;
2. bivariate, with the univariate statistics fixed: the polychoric correlation of two ordered items
   (Olsson, 1979), the polyserial correlation of a continuous variable and an ordered item (Olsson,
   Drasgow & Dorans, 1982; ML over the conditional distribution of the item given the standardised
   continuous variable), the Pearson correlation of two continuous variables.

The WLS statistics are, in lavaan's order, the *threshold block* (each ordered item's thresholds; for a
continuous variable minus its mean), the variances of the continuous variables and the off-diagonal
covariances (correlations rescaled by the standard deviations, ordered items having variance 1).
Their asymptotic covariance matrix ``Gamma`` comes from the casewise scores: with ``A11`` the per-variable
information blocks of step 1 (outer products, a generalised inverse where a block is singular - a binary
variable treated as continuous - as lavaan), ``A22`` the diagonal of the step-2 information and ``A21`` the
cross-information of each correlation with the univariate statistics of its pair, the casewise influence is
``[A11^-1 s1 ; A22^-1 (s2 - A21 A11^-1 s1)]``; the delta method (``H``) carries correlations to
covariances, and ``Gamma = N * IF' IF``.

**Model** (delta parameterisation): ordered items as in :mod:`efficacy.sem.wls`; continuous variables
keep their intercepts and (residual) variances in the model. The implied statistics are the thresholds
``delta_i (tau_ic - mu_i)`` and ``-mu_i``, the variances ``Sigma_ii`` of the continuous variables and the
covariances ``d_i d_j Sigma_ij`` (``d`` = scaling factor of an ordered item, 1 for a continuous variable).
An exogenous observed covariate is a continuous variable like the others: its mean and variance are
free parameters (lavaan sets ``fixed.x = FALSE`` with ``conditional.x = FALSE``).

Estimation, robust standard errors and the scale-shifted test are those of :mod:`efficacy.sem.wls`
(DWLS weight ``diag(Gamma)^-1``). lavaan reports no robust CFI, TLI and RMSEA for models with continuous
variables (its catML model needs an all-ordered polychoric matrix): NaN here too. ``srmr`` is computed
on the standardised residuals (sample standard deviations), diagonal included.

References
----------
Muthen, B. (1984). A general structural equation model with dichotomous, ordered categorical, and
continuous latent variable indicators. *Psychometrika, 49*, 115-132.
Olsson, U., Drasgow, F., & Dorans, N. J. (1982). The polyserial correlation coefficient.
*Psychometrika, 47*, 337-347.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr

from ..errors import DataError, SEMError
from . import categorical as cat

__all__ = ["fit_wlsmv_mixed", "mixed_moments"]

_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------- sample statistics


def _pinv_block(a):
    """lavaan: solve(A11), MASS::ginv when singular."""
    try:
        if np.linalg.cond(a) < 1e12:
            return np.linalg.inv(a), False
    except np.linalg.LinAlgError:
        pass
    return np.linalg.pinv(a), True


def _bvmix_scores(z, sd, var, c, tau, rho):
    """Casewise scores of the polyserial log-likelihood (continuous z = standardised x, ordinal codes c)."""
    s_ = np.sqrt(1 - rho * rho)
    tp = np.concatenate([[-np.inf], tau, [np.inf]])
    up, lo = tp[c + 1], tp[c]
    fin1, fin0 = np.isfinite(up), np.isfinite(lo)
    u1 = np.where(fin1, (np.where(fin1, up, 0.0) - rho * z) / s_, np.inf)
    u0 = np.where(fin0, (np.where(fin0, lo, 0.0) - rho * z) / s_, -np.inf)
    f1 = np.where(fin1, stats.norm.pdf(np.where(fin1, u1, 0.0)), 0.0)
    f0 = np.where(fin0, stats.norm.pdf(np.where(fin0, u0, 0.0)), 0.0)
    pr = np.maximum(ndtr(u1) - ndtr(u0), _EPS)
    t1 = np.where(fin1, np.where(fin1, up, 0.0) * rho - z, 0.0)
    t0 = np.where(fin0, np.where(fin0, lo, 0.0) * rho - z, 0.0)
    d_rho = (f1 * t1 - f0 * t0) / (s_ ** 3 * pr)
    d_mu = (z + rho / s_ * (f1 - f0) / pr) / sd
    d_var = ((z * z - 1) + rho * z / s_ * (f1 - f0) / pr) / (2 * var)
    nth = tau.size
    d_th = np.zeros((z.size, nth))
    for t in range(nth):
        d_th[:, t] = (np.where(c == t, f1, 0.0) - np.where(c == t + 1, f0, 0.0)) / (s_ * pr)
    return d_rho, d_mu, d_var, d_th


def mixed_moments(frame, items, ordered, max_categories=20):
    """lavaan's WLS sample statistics and their NACOV for ordered and continuous variables (complete rows).

    Returns a namespace: ``labels``, ``s`` (WLS statistics), ``gamma`` (N x asymptotic covariance),
    ``is_ord``, ``mean``, ``var`` (1 for ordered items), ``cor`` (polychoric / polyserial / Pearson),
    per-item threshold layout (``th_item``, ``th_num``, ``th_labels``, ``ncat``), ``n`` and ``warnings``.
    """
    p = len(items)
    n = len(frame)
    ordset = set(ordered)
    is_ord = np.array([v in ordset for v in items])
    oidx = np.flatnonzero(is_ord)
    nidx = np.flatnonzero(~is_ord)
    warns = []
    # ordered items: codes and thresholds
    _, ocodes, ocats = cat._coded(frame, [items[i] for i in oidx], "listwise", max_categories)
    oncat = np.array([len(c) for c in ocats])
    counts, _, prop, _, tpad = cat._uni(ocodes, oncat)
    # continuous variables: mean, ML variance
    X = np.zeros((n, p))
    for i in nidx:
        v = items[i]
        if not pd.api.types.is_numeric_dtype(frame[v]):
            raise DataError("a continuous variable must be numeric", where=f"column {v!r}", found=str(frame[v].dtype),
                            expected="numbers, or name the column in `ordered`")
        X[:, i] = frame[v].to_numpy(float)
    mean = np.zeros(p)
    var = np.ones(p)
    mean[nidx] = X[:, nidx].mean(0)
    var[nidx] = ((X[:, nidx] - mean[nidx]) ** 2).mean(0)
    zero = [items[i] for i in nidx if not var[i] > 0]
    if zero:
        raise DataError("continuous variable(s) without variance in the analysed rows: no WLSMV moments",
                        where=", ".join(zero), found="variance 0", expected="a variable that varies")
    sd = np.sqrt(var)
    Z = np.zeros((n, p))
    Z[:, nidx] = (X[:, nidx] - mean[nidx]) / sd[nidx]
    # layout of the first-step statistics: per variable its thresholds, or its mean; then the variances
    nth_v = np.ones(p, dtype=int)
    opos = {i: k for k, i in enumerate(oidx)}
    for i in oidx:
        nth_v[i] = oncat[opos[i]] - 1
    th_start = np.concatenate([[0], np.cumsum(nth_v)[:-1]])
    nthb = int(nth_v.sum())
    var_pos = {i: nthb + k for k, i in enumerate(nidx)}
    k1 = nthb + len(nidx)
    S1 = np.zeros((n, k1))
    s1_vals = np.zeros(k1)
    labels = []
    th_item, th_num, th_labels = [], [], []
    sc_cat = cat._th_scores(tpad, prop, oncat) if len(oidx) else None
    for i in range(p):
        v = items[i]
        if is_ord[i]:
            q = opos[i]
            c = ocodes[:, q]
            sl = slice(th_start[i], th_start[i] + nth_v[i])
            S1[:, sl] = sc_cat[q, c, :nth_v[i]]
            s1_vals[sl] = tpad[q, 1:oncat[q]]
            for t in range(nth_v[i]):
                labels.append(f"{v}|t{t + 1}")
                th_item.append(i)
                th_num.append(t + 1)
                th_labels.append(f"{v}|t{t + 1}")
        else:
            res = X[:, i] - mean[i]
            S1[:, th_start[i]] = res / var[i]
            S1[:, var_pos[i]] = -1 / (2 * var[i]) + res * res / (2 * var[i] ** 2)
            s1_vals[th_start[i]] = -mean[i]
            labels.append(f"{v}~1")
    for i in nidx:
        labels.append(f"{items[i]}~~{items[i]}")
        s1_vals[var_pos[i]] = var[i]
    # A11^-1, block per variable
    a11_inv = np.zeros((k1, k1))
    for i in range(p):
        blk = list(range(th_start[i], th_start[i] + nth_v[i])) + ([var_pos[i]] if not is_ord[i] else [])
        inv, sing = _pinv_block(S1[:, blk].T @ S1[:, blk])
        a11_inv[np.ix_(blk, blk)] = inv
        if sing:
            warns.append(f"{items[i]}: singular first-step information (e.g. a binary variable treated as "
                         "continuous); generalised inverse used, as lavaan ('trouble constructing W matrix')")
    IF1 = S1 @ a11_inv
    # second step, all pairs (i < j)
    iu, ju = np.triu_indices(p, 1)
    m = iu.size
    rho = np.zeros(m)
    S2 = np.zeros((n, m))
    A21 = np.zeros((m, k1))
    pos = {(a, b): q for q, (a, b) in enumerate(zip(iu, ju))}
    if len(oidx) >= 2:   # polychoric pairs, with lavaan's rules (lavCor) from efficacy.sem.categorical
        pc = cat.polychoric(frame[[items[i] for i in oidx]], missing="listwise", se=False,
                            max_categories=max_categories)
        warns.extend(pc.warnings)
        piu, pju = cat._pair_index(len(oidx))
        prho = np.array([pc.rho.iloc[a, b] for a, b in zip(piu, pju)])
        kmax = int(oncat.max())
        ci, cj = ocodes[:, piu], ocodes[:, pju]
        obs = (ci >= 0) & (cj >= 0)
        flat = (np.arange(piu.size)[None, :] * kmax + ci) * kmax + cj
        _, s2o, a21o = cat._nacov(ocodes, oncat, counts, prop, tpad, piu, pju,
                                    np.clip(prho, -cat._BOUND, cat._BOUND), flat, obs, parts=True)
        oth_start = np.concatenate([[0], np.cumsum(oncat - 1)[:-1]])
        for q, (a, b) in enumerate(zip(piu, pju)):
            i, j = oidx[a], oidx[b]
            k = pos[(i, j)]
            rho[k] = prho[q]
            S2[:, k] = s2o[:, q]
            for src, dst in ((a, i), (b, j)):
                A21[k, th_start[dst]:th_start[dst] + nth_v[dst]] = \
                    a21o[q, oth_start[src]:oth_start[src] + nth_v[dst]]
    for k, (i, j) in enumerate(zip(iu, ju)):
        if is_ord[i] and is_ord[j]:
            continue
        if not is_ord[i] and not is_ord[j]:   # Pearson correlation, bivariate-normal scores
            r = float(np.mean(Z[:, i] * Z[:, j]))
            y1, y2 = X[:, i] - mean[i], X[:, j] - mean[j]
            e1, e2, s1_, s2_ = var[i], var[j], sd[i], sd[j]
            R = 1 - r * r
            d_mu1 = (y1 / e1 - r * y2 / (s1_ * s2_)) / R
            d_mu2 = (y2 / e2 - r * y1 / (s1_ * s2_)) / R
            d_v1 = -(0.5 / e1 - (y1 * y1 / e1 ** 2 - r * y1 * y2 / (e1 * s1_ * s2_)) / (2 * R))
            d_v2 = -(0.5 / e2 - (y2 * y2 / e2 ** 2 - r * y1 * y2 / (e2 * s1_ * s2_)) / (2 * R))
            zz = y1 * y1 / e1 - 2 * r * y1 * y2 / (s1_ * s2_) + y2 * y2 / e2
            d_r = r / R + y1 * y2 / (s1_ * s2_ * R) - zz * r / R ** 2
            rho[k] = r
            S2[:, k] = d_r
            A21[k, th_start[i]] = d_r @ d_mu1
            A21[k, th_start[j]] = d_r @ d_mu2
            A21[k, var_pos[i]] = d_r @ d_v1
            A21[k, var_pos[j]] = d_r @ d_v2
            continue
        xi, yj = (i, j) if not is_ord[i] else (j, i)   # continuous, ordered
        q = opos[yj]
        c = ocodes[:, q]
        tau = tpad[q, 1:oncat[q]]
        with np.errstate(invalid="ignore", divide="ignore"):   # its own SE is not used here
            r, _, _, conv = cat._polyserial_pair(X[:, xi], c, tau)
        if not conv:
            warns.append(f"estimation polyserial correlation did not converge for variables {items[xi]} and "
                         f"{items[yj]}")
        if abs(r) > cat._NEAR_ONE:
            warns.append(f"correlation between variables {items[xi]} and {items[yj]} is (nearly) 1.0")
        d_r, d_mu, d_v, d_th = _bvmix_scores(Z[:, xi], sd[xi], var[xi], c, tau, r)
        rho[k] = r
        S2[:, k] = d_r
        A21[k, th_start[xi]] = d_r @ d_mu
        A21[k, var_pos[xi]] = d_r @ d_v
        A21[k, th_start[yj]:th_start[yj] + nth_v[yj]] = d_r @ d_th
    a22 = np.einsum("ij,ij->j", S2, S2)
    if np.any(a22 <= 0):
        raise SEMError("a correlation has no second-step information: no WLSMV weight",
                       found=", ".join(f"{items[i]} & {items[j]}" for i, j, a in zip(iu, ju, a22) if a <= 0))
    IF2 = (S2 - IF1 @ A21.T) / a22
    # correlations -> covariances (delta method, H of lavaan)
    IFc = IF2 * (sd[iu] * sd[ju])
    for k, (i, j) in enumerate(zip(iu, ju)):
        if not is_ord[i]:
            IFc[:, k] += sd[j] * rho[k] / (2 * sd[i]) * IF1[:, var_pos[i]]
        if not is_ord[j]:
            IFc[:, k] += sd[i] * rho[k] / (2 * sd[j]) * IF1[:, var_pos[j]]
    IF = np.concatenate([IF1, IFc], axis=1)
    # a continuous variable's entry in the threshold block is minus its mean
    IF[:, [th_start[i] for i in nidx]] *= -1
    gamma = n * (IF.T @ IF)
    labels += [f"{items[i]}~~{items[j]}" for i, j in zip(iu, ju)]
    cov_vals = rho * sd[iu] * sd[ju]
    s = np.concatenate([s1_vals, cov_vals])
    R = np.eye(p)
    R[iu, ju] = R[ju, iu] = rho
    return SimpleNamespace(labels=labels, s=s, gamma=gamma, is_ord=is_ord, mean=mean, var=var, cor=R, iu=iu, ju=ju,
                           th_start=th_start, nth_v=nth_v, var_pos=var_pos, nthb=nthb, n=n,
                           th_item=np.array(th_item, dtype=int), th_num=np.array(th_num, dtype=int),
                           th_labels=th_labels, ncat=np.where(is_ord, nth_v + 1, 0), warnings=warns,
                           thresholds=pd.DataFrame({"item": [items[i] for i in th_item], "threshold": th_num,
                                                    "label": th_labels,
                                                    "estimate": [s1_vals[th_start[i] + t - 1]
                                                                 for i, t in zip(th_item, th_num)]}))


# --------------------------------------------------------------------------- the model of one group


class _MixedGroup:
    """One group with ordered and continuous variables; the interface of :class:`efficacy.sem.wls._Group`.

    Local parameter vector: ``[RAM free parameters (K), thresholds of the ordered items (nth)]``; the
    scaling factors of the ordered items are fixed at 1 (single group).
    """

    def __init__(self, frame, rows, items, ordered, auto, level=None):
        from .engine import _Model

        mod = _Model(rows, list(frame.columns), auto, True)
        mod.set_fixed(np.zeros(len(mod.obs)), np.eye(len(mod.obs)))
        self.mod, self.level = mod, level
        obs = list(mod.obs)
        mm = mixed_moments(frame[obs], obs, ordered)
        self.mm = mm
        self.pc = SimpleNamespace(warnings=mm.warnings, reason="")
        self.items = obs
        self.p = len(obs)
        self.n = mm.n
        self.is_ord = mm.is_ord
        self.th_item, self.th_num, self.th_labels = mm.th_item, mm.th_num, mm.th_labels
        self.nth = len(mm.th_item)
        self.ncat = mm.ncat
        self.iu, self.ju = mm.iu, mm.ju
        self.R = mm.cor
        self.s = mm.s
        d = np.diag(mm.gamma)
        if not np.all(d > 0) or not np.all(np.isfinite(mm.gamma)):
            raise SEMError("the asymptotic covariance matrix of the sample statistics has a zero or undefined "
                           "diagonal: no WLSMV weight", found="degenerate tables")
        self.Gamma = mm.gamma
        self.w = 1.0 / d
        self.K = mod.npar
        self.scale_free = np.full(self.p, -1, dtype=int)
        self.ns = 0
        # rows of the threshold block: (variable, threshold number or -1 for a continuous variable's -mean)
        tb_item, tb_tau = [], []
        q = 0
        for i in range(self.p):
            if self.is_ord[i]:
                for _ in range(mm.nth_v[i]):
                    tb_item.append(i)
                    tb_tau.append(q)
                    q += 1
            else:
                tb_item.append(i)
                tb_tau.append(-1)
        self.tb_item, self.tb_tau = np.array(tb_item), np.array(tb_tau)
        self.num = np.flatnonzero(~self.is_ord)
        xs = set(mod.ov_x)
        self.baseline_free = np.array([self.items[i] in xs and self.items[j] in xs for i, j in zip(self.iu, self.ju)],
                                      dtype=bool)

    @property
    def nloc(self):
        return self.K + self.nth + self.ns

    def split(self, t):
        return t[:self.K], t[self.K:self.K + self.nth], t[self.K + self.nth:]

    def delta(self, t):
        return np.ones(self.p)

    def implied(self, t, jac=False):
        """Implied statistics (threshold block, variances of continuous variables, covariances)."""
        ram, tau, _ = self.split(t)
        Sig0, mu = self.mod.implied(ram)
        bi, bt = self.tb_item, self.tb_tau
        isth = bt >= 0
        thb = np.where(isth, tau[np.where(isth, bt, 0)] - mu[bi], -mu[bi])
        nm = self.num
        iu, ju = self.iu, self.ju
        est = np.concatenate([thb, Sig0[nm, nm], Sig0[iu, ju]])
        if not jac:
            return est, Sig0, mu
        dS, dmu = self.mod.derivatives(ram)
        nb, nv = len(bi), len(nm)
        J = np.zeros((len(est), self.nloc))
        if self.K:
            J[:nb, :self.K] = -dmu[:, bi].T
            J[nb:nb + nv, :self.K] = dS[:, nm, nm].T
            J[nb + nv:, :self.K] = dS[:, iu, ju].T
        rows = np.flatnonzero(isth)
        J[rows, self.K + bt[rows]] = 1.0
        return est, Sig0, mu, J

    def theta_diag(self, t):
        """Residual variances: ``1 - explained variance`` for ordered items (delta = 1), the RAM residual
        variance for continuous variables."""
        ram = self.split(t)[0]
        Sig0, _ = self.mod.implied(ram)
        _, S, _ = self.mod.matrices(ram)
        out = 1.0 - np.diag(Sig0)
        for i in self.num:
            k = self.mod.idx[self.items[i]]
            out[i] = S[k, k]
        return out

    def start(self):
        """Start values: loadings from the first principal component of the correlations of each factor's
        indicators, rescaled by the standard deviations of continuous indicators (marker metric); latent
        variances from the marker; intercepts at the sample means, residual variances of continuous
        variables at half their sample variance (the whole variance for exogenous ones); thresholds at
        their sample values."""
        mod, mm = self.mod, self.mm
        t = np.zeros(self.nloc)
        oi = {v: i for i, v in enumerate(self.items)}
        sd = np.sqrt(mm.var)
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
            ev, vec = np.linalg.eigh(self.R[np.ix_(idx, idx)])
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
        endo = {r["lhs"] for r in mod.table if r["op"] == "~"}
        for r in mod.table:
            k = r["free"] - 1
            if k < 0:
                continue
            lhs = r["lhs"]
            if r["op"] == "=~":
                t[k] = lam_start.get((lhs, r["rhs"]), 1.0)
            elif r["op"] == "~~" and lhs == r["rhs"]:
                if lhs in mod.latents:
                    v = var_start.get(lhs, 0.5)
                    t[k] = 0.5 * v if lhs in endo else v
                elif lhs in oi:
                    v = mm.var[oi[lhs]]
                    t[k] = v if lhs in mod.ov_x else 0.5 * v
            elif r["op"] == "~~" and lhs in mod.ov_x and r["rhs"] in mod.ov_x:
                t[k] = mm.cor[oi[lhs], oi[r["rhs"]]] * sd[oi[lhs]] * sd[oi[r["rhs"]]]
            elif r["op"] == "~1" and lhs in oi:
                t[k] = mm.mean[oi[lhs]]
        t[self.K:self.K + self.nth] = mm.thresholds["estimate"].to_numpy(float)
        return t


def _ov_x(rows):
    latents = {lhs for lhs, op, rhs, mod in rows if op == "=~"}
    dep = {lhs for lhs, op, rhs, mod in rows if op == "~"}
    ind = {rhs for lhs, op, rhs, mod in rows if op == "=~"}
    out = []
    for lhs, op, rhs, mod in rows:
        if op == "~" and rhs not in latents and rhs not in dep and rhs not in ind and rhs not in out:
            out.append(rhs)
    return out


def fit_wlsmv_mixed(data, rows, ordered, obs, *, missing="listwise", auto="sem", ci_level=0.95):
    """WLSMV for a model with ordered and continuous observed variables (``conditional.x = FALSE``).

    Called by :func:`efficacy.sem.wls.fit_wlsmv` when ``ordered`` names some, not all, of the observed
    variables; see the module docstring. Matches ``lavaan::sem(..., ordered = ..., estimator = "WLSMV",
    conditional.x = FALSE)``. Listwise deletion only.
    """
    from .engine import SEMResult
    from .wls import _finish, _wls_rows

    if missing != "listwise":
        raise SEMError("WLSMV with continuous variables beside ordered ones uses complete rows only",
                       found=f"missing={missing!r}", expected="missing='listwise'")
    frame = data[obs].dropna()
    if len(frame) < 2:
        raise DataError("too few complete rows for WLSMV", found=f"{len(frame)} row(s)")
    wrows = _wls_rows(rows, ordered)
    # conditional.x = FALSE: lavaan sets fixed.x = FALSE, exogenous covariates get free means, variances and
    # covariances (explicit rows take precedence over the engine's fixed.x rows)
    xs = _ov_x(rows)
    extra = [(v, "~~", v, None) for v in xs] + [(v, "~1", "", None) for v in xs]
    extra += [(xs[a], "~~", xs[b], None) for a in range(len(xs)) for b in range(a + 1, len(xs))]
    G = _MixedGroup(frame, list(wrows) + extra, obs, ordered, auto)
    res = _finish([G], [np.arange(G.nloc)], G.nloc, [G.start()], ci_level, missing, SEMResult, multigroup=False)
    res.wls_obs = pd.Series(G.s, index=G.mm.labels)
    res.gamma = pd.DataFrame(G.Gamma, index=G.mm.labels, columns=G.mm.labels)
    res.conditional_x = False
    return res


def _srmr_residuals(self, est):
    """lavaan's srmr (Bentler, no means) for one group: residual covariances standardised by the sample
    standard deviations (1 for ordered items), lower triangle with the diagonal."""
    mm = self.mm
    sd = np.sqrt(mm.var)
    nb, nv = len(self.tb_item), len(self.num)
    iu, ju = self.iu, self.ju
    e_off = (self.s[nb + nv:] - est[nb + nv:]) / (sd[iu] * sd[ju])
    e_dia = (self.s[nb:nb + nv] - est[nb:nb + nv]) / mm.var[self.num]
    ne = self.p * (self.p + 1) // 2
    return float(np.sqrt((np.sum(e_off ** 2) + np.sum(e_dia ** 2)) / ne))


_MixedGroup.srmr_residuals = _srmr_residuals
