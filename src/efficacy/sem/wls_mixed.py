"""WLSMV with continuous observed variables beside ordered ones (:func:`efficacy.sem.sem` with
``estimator="WLSMV"`` and ``ordered=`` naming some of the observed variables).

lavaan's treatment of a mixed model (``lavaan::sem(..., ordered = items, estimator = "WLSMV")``, lavaan
0.6.14). Without exogenous observed covariates, or with ``conditional.x = FALSE``, every observed variable -
ordered items, continuous outcomes and covariates alike - is in the joint moments:

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

**Exogenous observed covariates, ``conditional.x = TRUE``** (lavaan's default for categorical data; the
default here too): the statistics are those of the endogenous observed variables *given* the covariates.
Step 1 fits a probit regression of every ordered item on the covariates (thresholds and slopes, ML) and a
linear regression of every continuous one (intercept, slopes, residual variance); step 2 the residual
polychoric (bivariate probit with case-specific thresholds), polyserial and Pearson correlations. The WLS
statistics are the threshold block, the slopes (``vec`` of the variables-by-covariates matrix), the residual
variances of continuous variables and the residual covariances; Gamma as above with the slope scores in the
first step. The covariates' means and (co)variances are fixed at their sample values (fixed.x; lavaan's
``cov.x`` with divisor n - 1) and the implied conditional statistics follow from the model's joint implied
moments: slopes ``Pi = Sigma_yx Sigma_xx^-1``, residual covariances ``Sigma_yy - Pi Sigma_xy`` (the residual
variance of an ordered item is ``1 - `` its explained conditional variance), intercepts
``mu_y - Pi mu_x``. ``conditional_x=False`` instead puts the covariates into the joint moments above.

**Missing data**: listwise deletion (lavaan's default for categorical data), or ``missing="pairwise"``:
univariate statistics from each variable's observed values, correlations from the rows where both are
observed (a Pearson correlation then by ML with the univariate means and variances fixed, lavaan's
``lav_bvreg_cor_twostep_fit``), casewise scores zero where their variables are missing; ``N`` is the number
of rows with any observed model variable. With ``conditional.x = TRUE`` the same per regression on the
covariates (each probit / linear regression from the rows where its variable is observed, each residual
correlation from the rows where both are); rows with a missing covariate are dropped first, with a warning,
as lavaan does with fixed.x = TRUE.

**Groups** (``group=``, ``equal=``, ``partial=``): each group has its own statistics and Gamma; the
ordered items take the Wu & Estabrook (2016) identification of :mod:`efficacy.sem.wls` (equal thresholds free
their scaling factors ``delta_i`` and latent-response intercepts in groups 2, 3, ...: the implied statistics
above then carry ``delta_i``; with ``conditional.x = TRUE`` the item's slopes and residual covariances too),
continuous indicators have free intercepts and residual variances in every group unless ``"intercepts"`` /
``"residuals"`` make them equal, as ``semTools::measEq.syntax`` writes a mixed model.

Estimation, robust standard errors and the scale-shifted test are those of :mod:`efficacy.sem.wls`
(DWLS weight ``diag(Gamma)^-1``). lavaan reports no robust CFI, TLI and RMSEA for models with continuous
variables (its catML model needs an all-ordered polychoric matrix): NaN here too. ``srmr`` is lavaan's for
categorical data: the off-diagonal residual covariances standardised by the sample standard deviations, their
sum of squares divided by the number of pairs plus the number of observed variables (covariates included).

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
from scipy import optimize, stats
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


_SQRT_2PI = float(np.sqrt(2 * np.pi))


def _bvmix_scores(z, sd, var, c, tau, rho):
    """Casewise scores of the polyserial log-likelihood (continuous z = standardised x, ordinal codes c)."""
    s_ = np.sqrt(1 - rho * rho)
    tp = np.concatenate([[-np.inf], tau, [np.inf]])
    up, lo = tp[c + 1], tp[c]
    fin1, fin0 = np.isfinite(up), np.isfinite(lo)
    u1 = np.where(fin1, (np.where(fin1, up, 0.0) - rho * z) / s_, np.inf)
    u0 = np.where(fin0, (np.where(fin0, lo, 0.0) - rho * z) / s_, -np.inf)
    a1, a0 = np.where(fin1, u1, 0.0), np.where(fin0, u0, 0.0)
    f1 = np.where(fin1, np.exp(-0.5 * a1 * a1) / _SQRT_2PI, 0.0)   # normal density (scipy.stats.norm.pdf's)
    f0 = np.where(fin0, np.exp(-0.5 * a0 * a0) / _SQRT_2PI, 0.0)
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


def _pearson_pair_scores(y1, y2, both, e1, e2, s1, s2, r):
    """Casewise scores of a bivariate-normal pair's log-likelihood (centred values ``y1``, ``y2``, 0 where
    missing; variances ``e1``, ``e2``, SDs ``s1``, ``s2``; correlation ``r``): d/d rho, d/d mu1, d/d mu2,
    d/d var1, d/d var2; zero on rows where not both are observed (the means' scores are used only
    multiplied by the rho score)."""
    R = 1 - r * r
    d_mu1 = (y1 / e1 - r * y2 / (s1 * s2)) / R
    d_mu2 = (y2 / e2 - r * y1 / (s1 * s2)) / R
    d_v1 = -(0.5 / e1 - (y1 * y1 / e1 ** 2 - r * y1 * y2 / (e1 * s1 * s2)) / (2 * R))
    d_v2 = -(0.5 / e2 - (y2 * y2 / e2 ** 2 - r * y1 * y2 / (e2 * s1 * s2)) / (2 * R))
    zz = y1 * y1 / e1 - 2 * r * y1 * y2 / (s1 * s2) + y2 * y2 / e2
    d_r = np.where(both, r / R + y1 * y2 / (s1 * s2 * R) - zz * r / R ** 2, 0.0)
    return d_r, d_mu1, d_mu2, np.where(both, d_v1, 0.0), np.where(both, d_v2, 0.0)


def _pair_ml_pearson(z1, z2, both, start):
    """ML correlation of two standardised normal variables on the rows where both are observed, their means and
    variances fixed at the univariate (available-case) values (lavaan's ``lav_bvreg_cor_twostep_fit``)."""
    a, b = z1[both], z2[both]
    s11, s22, s12, m = float(a @ a), float(b @ b), float(a @ b), a.size

    def negll(r):
        R = 1 - r * r
        return 0.5 * m * np.log(R) + (s11 - 2 * r * s12 + s22) / (2 * R)

    start = float(np.clip(start, -0.99, 0.99))
    res = optimize.minimize_scalar(negll, bounds=(-0.999, 0.999), method="bounded",
                                   options={"xatol": 1e-12, "maxiter": 500})
    return float(res.x) if negll(res.x) <= negll(start) else start


def _second_step_gamma(S2, A21, IF1, rho, sd, is_ord, iu, ju, var_pos, th_start, nidx, items, cluster=None):
    """lavaan's two-step NACOV from the casewise scores: the correlations' influence functions (second
    step corrected for the first, ``(S2 - IF1 A21') / a22``), turned into covariances of the continuous
    variables by the delta method (lavaan's ``H``), beside the first-step ones; a continuous variable's
    entry in the threshold block is minus its mean. Returns ``(gamma, covariance statistics)``.

    ``cluster`` (integer codes 0..G-1 of the rows): ``gamma`` is the pair (row-level, cluster-robust), the
    latter from the influence functions summed within clusters, times ``G / (G - 1)`` (lavaan 0.7's
    ``cluster=`` for categorical data; the bread and so the influence functions unchanged)."""
    a22 = np.einsum("ij,ij->j", S2, S2)
    if np.any(a22 <= 0):
        raise SEMError("a correlation has no second-step information: no WLSMV weight",
                       found=", ".join(f"{items[i]} & {items[j]}" for i, j, a in zip(iu, ju, a22) if a <= 0))
    IF2 = (S2 - IF1 @ A21.T) / a22
    IFc = IF2 * (sd[iu] * sd[ju])
    for k, (i, j) in enumerate(zip(iu, ju)):
        if not is_ord[i]:
            IFc[:, k] += sd[j] * rho[k] / (2 * sd[i]) * IF1[:, var_pos[i]]
        if not is_ord[j]:
            IFc[:, k] += sd[i] * rho[k] / (2 * sd[j]) * IF1[:, var_pos[j]]
    IF = np.concatenate([IF1, IFc], axis=1)
    IF[:, [th_start[i] for i in nidx]] *= -1
    n = IF.shape[0]
    gamma = n * (IF.T @ IF)
    if cluster is not None:
        ncl = int(cluster.max()) + 1
        agg = np.zeros((ncl, IF.shape[1]))
        np.add.at(agg, cluster, IF)
        gamma = (gamma, n * ncl / (ncl - 1) * (agg.T @ agg))
    return gamma, rho * sd[iu] * sd[ju]


def mixed_moments(frame, items, ordered, max_categories=20, missing="listwise", cluster=None):
    """lavaan's WLS sample statistics and their NACOV for ordered and continuous variables.

    ``missing="listwise"``: ``frame`` has complete rows. ``"pairwise"`` (lavaan ``missing = "pairwise"``):
    univariate statistics from each variable's observed values, correlations from the rows where both
    are observed (a Pearson correlation then by ML with the univariate means and variances fixed), every
    casewise score zero where its variables are missing.

    ``cluster``: integer cluster codes (0..G-1) of the rows of ``frame``, or None; with clusters the namespace
    has ``gamma_cluster``, the cluster-robust NACOV (see :func:`_second_step_gamma`).

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
    # ordered items: codes (-1 missing) and thresholds
    coded = [cat._code_item(frame[items[i]], items[i], max_categories) for i in oidx]
    ocodes = np.column_stack([c[0] for c in coded]) if coded else np.zeros((n, 0), int)
    oncat = np.array([len(c[1]) for c in coded], dtype=int)
    counts, _, prop, _, tpad = cat._uni(ocodes, oncat)
    # continuous variables: mean, ML variance (available cases)
    X = np.zeros((n, p))
    obs = np.ones((n, p), dtype=bool)
    for i in nidx:
        v = items[i]
        if not pd.api.types.is_numeric_dtype(frame[v]):
            raise DataError("a continuous variable must be numeric", where=f"column {v!r}", found=str(frame[v].dtype),
                            expected="numbers, or name the column in `ordered`")
        xv = frame[v].to_numpy(float)
        obs[:, i] = np.isfinite(xv)
        X[:, i] = np.where(obs[:, i], xv, 0.0)
    for k, i in enumerate(oidx):
        obs[:, i] = ocodes[:, k] >= 0
    mean = np.zeros(p)
    var = np.ones(p)
    for i in nidx:
        o = obs[:, i]
        mean[i] = X[o, i].mean() if o.any() else np.nan
        var[i] = ((X[o, i] - mean[i]) ** 2).mean() if o.any() else 0.0
    zero = [items[i] for i in nidx if not var[i] > 0]
    if zero:
        raise DataError("continuous variable(s) without variance in the analysed rows: no WLSMV moments",
                        where=", ".join(zero), found="variance 0", expected="a variable that varies")
    sd = np.sqrt(var)
    Z = np.zeros((n, p))
    Z[:, nidx] = np.where(obs[:, nidx], (X[:, nidx] - mean[nidx]) / sd[nidx], 0.0)
    Xc = np.where(obs, X - mean, 0.0)   # centred continuous values, 0 where missing
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
            S1[:, sl] = np.where((c >= 0)[:, None], sc_cat[q, np.maximum(c, 0), :nth_v[i]], 0.0)
            s1_vals[sl] = tpad[q, 1:oncat[q]]
            for t in range(nth_v[i]):
                labels.append(f"{v}|t{t + 1}")
                th_item.append(i)
                th_num.append(t + 1)
                th_labels.append(f"{v}|t{t + 1}")
        else:
            res = Xc[:, i]
            S1[:, th_start[i]] = res / var[i]
            S1[:, var_pos[i]] = np.where(obs[:, i], -1 / (2 * var[i]) + res * res / (2 * var[i] ** 2), 0.0)
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
        pc = cat.polychoric(frame[[items[i] for i in oidx]], missing=missing, se=False,
                            max_categories=max_categories)
        warns.extend(pc.warnings)
        piu, pju = cat._pair_index(len(oidx))
        prho = np.array([pc.rho.iloc[a, b] for a, b in zip(piu, pju)])
        kmax = int(oncat.max())
        ci, cj = ocodes[:, piu], ocodes[:, pju]
        pobs = (ci >= 0) & (cj >= 0)
        flat = (np.arange(piu.size)[None, :] * kmax + ci) * kmax + cj
        _, s2o, a21o = cat._nacov(ocodes, oncat, counts, prop, tpad, piu, pju,
                                    np.clip(prho, -cat._BOUND, cat._BOUND), flat, pobs, parts=True)
        oth_start = np.concatenate([[0], np.cumsum(oncat - 1)[:-1]])
        for q, (a, b) in enumerate(zip(piu, pju)):
            i, j = oidx[a], oidx[b]
            k = pos[(i, j)]
            rho[k] = prho[q]
            S2[:, k] = s2o[:, q]
            for src, dst in ((a, i), (b, j)):
                A21[k, th_start[dst]:th_start[dst] + nth_v[dst]] = \
                    a21o[q, oth_start[src]:oth_start[src] + nth_v[dst]]
    # polyserial pairs: every second-step estimate at once (vectorised over pairs)
    ps_pairs = [(k, *((i, j) if not is_ord[i] else (j, i))) for k, (i, j) in enumerate(zip(iu, ju))
                if is_ord[i] != is_ord[j]]
    ps_rho, ps_conv = {}, {}
    if ps_pairs:
        ks, xis, yjs = (np.array(a) for a in zip(*ps_pairs))
        qs = np.array([opos[y] for y in yjs])
        cc = ocodes[:, qs]
        ok = obs[:, xis] & (cc >= 0)
        cz = np.maximum(cc, 0)
        up = tpad[qs[None, :], cz + 1]
        lo = tpad[qs[None, :], cz]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            rr, cv = cat._polyserial_rhos(Z[:, xis], up, lo, ok)
        ps_rho, ps_conv = dict(zip(ks.tolist(), rr)), dict(zip(ks.tolist(), cv))
    for k, (i, j) in enumerate(zip(iu, ju)):
        if is_ord[i] and is_ord[j]:
            continue
        if not is_ord[i] and not is_ord[j]:   # Pearson correlation, bivariate-normal scores
            both = obs[:, i] & obs[:, j]
            if obs[:, i].all() and obs[:, j].all():
                r = float(np.mean(Z[:, i] * Z[:, j]))
            else:
                with np.errstate(invalid="ignore"):
                    r0 = np.corrcoef(X[both, i], X[both, j])[0, 1] if both.sum() > 2 else 0.0
                r = _pair_ml_pearson(Z[:, i], Z[:, j], both, np.nan_to_num(r0))
            y1, y2 = np.where(both, Xc[:, i], 0.0), np.where(both, Xc[:, j], 0.0)
            e1, e2, s1_, s2_ = var[i], var[j], sd[i], sd[j]
            d_r, d_mu1, d_mu2, d_v1, d_v2 = _pearson_pair_scores(y1, y2, both, e1, e2, s1_, s2_, r)
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
        r, conv = float(ps_rho[k]), bool(ps_conv[k])
        if not conv:
            warns.append(f"estimation polyserial correlation did not converge for variables {items[xi]} and "
                         f"{items[yj]}")
        if abs(r) > cat._NEAR_ONE:
            warns.append(f"correlation between variables {items[xi]} and {items[yj]} is (nearly) 1.0")
        d_r, d_mu, d_v, d_th = _bvmix_scores(Z[:, xi], sd[xi], var[xi], np.maximum(c, 0), tau, r)
        both = (obs[:, xi] & (c >= 0)).astype(float)
        d_r, d_mu, d_v, d_th = d_r * both, d_mu * both, d_v * both, d_th * both[:, None]
        rho[k] = r
        S2[:, k] = d_r
        A21[k, th_start[xi]] = d_r @ d_mu
        A21[k, var_pos[xi]] = d_r @ d_v
        A21[k, th_start[yj]:th_start[yj] + nth_v[yj]] = d_r @ d_th
    gamma, cov_vals = _second_step_gamma(S2, A21, IF1, rho, sd, is_ord, iu, ju, var_pos, th_start, nidx, items,
                                         cluster=cluster)
    gamma, gamma_cl = gamma if cluster is not None else (gamma, None)
    labels += [f"{items[i]}~~{items[j]}" for i, j in zip(iu, ju)]
    s = np.concatenate([s1_vals, cov_vals])
    R = np.eye(p)
    R[iu, ju] = R[ju, iu] = rho
    return SimpleNamespace(labels=labels, s=s, gamma=gamma, gamma_cluster=gamma_cl, is_ord=is_ord, mean=mean, var=var, cor=R, iu=iu, ju=ju,
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

    Local parameter vector: ``[RAM free parameters (K), thresholds of the ordered items (nth), free scaling
    factors (ns)]``; the scaling factors of the ordered items are fixed at 1 unless freed (groups 2, 3, ... of
    a multi-group model with equal thresholds, Wu & Estabrook 2016); a continuous variable has none.
    """

    def __init__(self, frame, rows, items, ordered, auto, level=None, missing="listwise", free_lv_means=False,
                 cluster=None):
        from .engine import _Model

        mod = _Model(rows, list(frame.columns), auto, True, free_lv_means=free_lv_means)
        self.mod, self.level = mod, level
        obs, mm = self._moments(mod, frame, ordered, missing, cluster=cluster)
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
        # DWLS weight from the row-level Gamma; with clusters Gamma (SEs, test) is the cluster-robust one
        self.Gamma = mm.gamma if getattr(mm, "gamma_cluster", None) is None else mm.gamma_cluster
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

    @staticmethod
    def _moments(mod, frame, ordered, missing, cluster=None):
        mod.set_fixed(np.zeros(len(mod.obs)), np.eye(len(mod.obs)))
        obs = list(mod.obs)
        return obs, mixed_moments(frame[obs], obs, ordered, missing=missing, cluster=cluster)

    @property
    def nloc(self):
        return self.K + self.nth + self.ns

    def split(self, t):
        return t[:self.K], t[self.K:self.K + self.nth], t[self.K + self.nth:]

    def free_scales(self, which):
        """Free the scaling factors (``~*~``) of the ordered items among ``which`` (indices of ``items``)."""
        for i in which:
            if self.is_ord[i] and self.scale_free[i] < 0:
                self.scale_free[i] = self.K + self.nth + self.ns
                self.ns += 1

    def delta(self, t):
        d = np.ones(self.p)
        m = self.scale_free >= 0
        if m.any():
            d[m] = t[self.scale_free[m]]
        return d

    def implied(self, t, jac=False):
        """Implied statistics (threshold block, variances of continuous variables, covariances): the thresholds
        ``delta_i (tau_ic - mu_i)`` of an ordered item, ``-mu_i`` of a continuous one, ``Sigma_ii`` of a
        continuous variable and ``delta_i delta_j Sigma_ij`` (delta 1 for a continuous variable)."""
        ram, tau, _ = self.split(t)
        Sig0, mu = self.mod.implied(ram)
        dl = self.delta(t)
        bi, bt = self.tb_item, self.tb_tau
        isth = bt >= 0
        tb = tau[np.where(isth, bt, 0)]
        thb = np.where(isth, dl[bi] * (tb - mu[bi]), -mu[bi])
        nm = self.num
        iu, ju = self.iu, self.ju
        dd = dl[iu] * dl[ju]
        est = np.concatenate([thb, Sig0[nm, nm], dd * Sig0[iu, ju]])
        if not jac:
            return est, Sig0, mu
        dS, dmu = self.mod.derivatives(ram)
        nb, nv = len(bi), len(nm)
        J = np.zeros((len(est), self.nloc))
        if self.K:
            J[:nb, :self.K] = -(dl[bi][:, None] * dmu[:, bi].T)
            J[nb:nb + nv, :self.K] = dS[:, nm, nm].T
            J[nb + nv:, :self.K] = dd[:, None] * dS[:, iu, ju].T
        rows = np.flatnonzero(isth)
        J[rows, self.K + bt[rows]] = dl[bi[rows]]
        for i in np.flatnonzero(self.scale_free >= 0):
            k = self.scale_free[i]
            r_t = np.flatnonzero(isth & (bi == i))
            J[r_t, k] = tb[r_t] - mu[i]
            a = np.flatnonzero(iu == i)
            J[nb + nv + a, k] = dl[ju[a]] * Sig0[i, ju[a]]
            b = np.flatnonzero(ju == i)
            J[nb + nv + b, k] = dl[iu[b]] * Sig0[iu[b], i]
        return est, Sig0, mu, J

    def theta_diag(self, t):
        """Residual variances: ``1 / delta^2 - explained variance`` for ordered items, the RAM residual
        variance for continuous variables."""
        ram = self.split(t)[0]
        Sig0, _ = self.mod.implied(ram)
        _, S, _ = self.mod.matrices(ram)
        out = 1.0 / self.delta(t) ** 2 - np.diag(Sig0)
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
        from .wls import factor_starts  # wls imports this module: import here, no cycle
        lam_start, var_start = factor_starts(mod, self.R, self.items, sd)
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
        t[self.K + self.nth:] = 1.0
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


def _mixed_group(data, rows, ordered, obs, auto, missing="listwise", level=None, free_nu=(), free_lv_means=False,
                 conditional_x=None, cluster=None):
    """One group of a mixed model: its rows (listwise or pairwise), moments and model (:class:`_MixedGroup`, or
    :class:`_CondGroup` with exogenous covariates and ``conditional_x`` not False). ``free_nu``: ordered items
    whose latent-response intercept is free (multi-group Wu & Estabrook identification)."""
    from .wls import _wls_rows

    wrows = _wls_rows(rows, ordered, free_nu)
    # conditional.x = FALSE: lavaan sets fixed.x = FALSE, exogenous covariates get free means, variances and
    # covariances (explicit rows take precedence over the engine's fixed.x rows)
    xs = _ov_x(rows)
    cond = bool(xs) and conditional_x is not False
    ndrop_x = 0
    if missing == "pairwise" and cond:
        # lavaan (fixed.x = TRUE) drops rows with a missing covariate, then rows with no observed outcome
        okx = data[xs].notna().all(axis=1)
        ndrop_x = int((~okx).sum())
        ys = [v for v in obs if v not in xs]
        frame = data.loc[okx & data[ys].notna().any(axis=1), obs]
    elif missing == "pairwise":   # rows with no observed model variable carry no information
        frame = data.loc[data[obs].notna().any(axis=1), obs]
    else:
        frame = data[obs].dropna()
    if len(frame) < 2:
        raise DataError("too few rows for WLSMV", found=f"{len(frame)} row(s)", where=f"missing={missing!r}"
                        + (f", group {level!r}" if level is not None else ""))
    cl = None if cluster is None else cat._cluster_codes(data.loc[frame.index], cluster, np.arange(len(frame)))
    if cond:
        G = _CondGroup(frame, list(wrows), obs, ordered, auto, level=level, missing=missing,
                       free_lv_means=free_lv_means, cluster=cl)
        if ndrop_x:
            G.pc.warnings.append(f"{ndrop_x} row(s) deleted for missing values in the exogenous covariate(s) "
                                 f"({', '.join(xs)}), as lavaan with fixed.x = TRUE")
        return G, cond
    extra = [(v, "~~", v, None) for v in xs] + [(v, "~1", "", None) for v in xs]
    extra += [(xs[a], "~~", xs[b], None) for a in range(len(xs)) for b in range(a + 1, len(xs))]
    return _MixedGroup(frame, list(wrows) + extra, obs, ordered, auto, level=level, missing=missing,
                       free_lv_means=free_lv_means, cluster=cl), cond


def fit_wlsmv_mixed(data, rows, ordered, obs, *, missing="listwise", auto="sem", ci_level=0.95, conditional_x=None,
                    cluster=None):
    """WLSMV for a model with ordered and continuous observed variables.

    Called by :func:`efficacy.sem.wls.fit_wlsmv` when ``ordered`` names some, not all, of the observed
    variables; see the module docstring. ``conditional_x`` (lavaan ``conditional.x``) matters only when the
    model has exogenous observed covariates: None or True (lavaan's default for categorical data) models the
    endogenous variables given the covariates (probit / linear regressions on them, residual correlations;
    covariate moments fixed at their sample values); False puts the covariates into the joint moments with
    free means and variances. Matches ``lavaan::sem(..., ordered = ..., estimator = "WLSMV",
    conditional.x = ...)``. ``missing``: "listwise" (lavaan's default for categorical data) or "pairwise"
    (see :func:`mixed_moments` and :func:`conditional_moments`; rows with a missing covariate dropped when
    ``conditional_x`` is not False). Multi-group models:
    :func:`efficacy.sem.wls._fit_multigroup`, one :func:`_mixed_group` per group. ``cluster`` (a column):
    cluster-robust Gamma, SEs and test as in :func:`efficacy.sem.wls.fit_wlsmv`.
    """
    from .engine import SEMResult
    from .wls import _finish

    G, cond = _mixed_group(data, rows, ordered, obs, auto, missing, conditional_x=conditional_x, cluster=cluster)
    res = _finish([G], [np.arange(G.nloc)], G.nloc, [G.start()], ci_level, missing, SEMResult, multigroup=False,
                  cluster=cluster)
    res.wls_obs = pd.Series(G.s, index=G.mm.labels)
    res.gamma = pd.DataFrame(G.Gamma, index=G.mm.labels, columns=G.mm.labels)
    res.conditional_x = cond
    return res


def _srmr_residuals(self, est):
    """lavaan's srmr for categorical data (``srmr_bentler_nomean``, lav_residuals_summary) for one group:
    off-diagonal residual covariances standardised by the sample standard deviations (1 for ordered items),
    their sum of squares over (number of pairs + number of observed variables)."""
    sd = np.sqrt(self.mm.var)
    nb, nv = len(self.tb_item), len(self.num)
    iu, ju = self.iu, self.ju
    e_off = (self.s[nb + nv:] - est[nb + nv:]) / (sd[iu] * sd[ju])
    return float(np.sqrt(np.sum(e_off ** 2) / (len(iu) + self.p)))


_MixedGroup.srmr_residuals = _srmr_residuals


# --------------------------------------------------------------------------- conditional.x = TRUE


def _newton(fun_grad, x0, maxit=100, tol=1e-10):
    """Newton steps with a finite-difference Hessian of the analytic gradient and step halving (small problems:
    the univariate probit regressions). ``fun_grad(x) -> (f, g)``, f minimised."""
    x = np.asarray(x0, float).copy()
    f, g = fun_grad(x)
    conv = False
    for _ in range(maxit):
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        H = np.empty((x.size, x.size))
        for k in range(x.size):
            e = np.zeros_like(x)
            e[k] = h[k]
            H[:, k] = (fun_grad(x + e)[1] - fun_grad(x - e)[1]) / (2 * h[k])
        H = (H + H.T) / 2
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = -g
        a = 1.0
        while a > 1e-8:
            fn, gn = fun_grad(x + a * step)
            if np.isfinite(fn) and fn <= f + 1e-12 * abs(f):
                break
            a /= 2
        x, f, g = x + a * step, fn, gn
        if np.max(np.abs(a * step)) < tol:
            conv = True
            break
    return x, conv


def _probit_fit(c, ncat, X, tau0):
    """Ordinal probit regression ``P(y <= k | x) = Phi(tau_k - x'beta)`` by ML (lavaan's ``lav_uvord_fit``).

    Returns thresholds, slopes, casewise scores (thresholds then slopes), the upper and lower thresholds of
    each case's category minus ``x'beta`` and the threshold indicator matrices.
    """
    n, q = X.shape
    nth = ncat - 1
    Y1 = np.zeros((n, nth))   # threshold k is the upper bound of the case's category
    Y2 = np.zeros((n, nth))   # ... its lower bound
    Y1[c < nth, np.minimum(c, nth - 1)[c < nth]] = 1.0
    Y2[c > 0, (c - 1)[c > 0]] = 1.0

    def parts(th):
        tau, beta = th[:nth], th[nth:]
        eta = X @ beta
        tp = np.concatenate([[-np.inf], tau, [np.inf]])
        z1, z2 = tp[c + 1] - eta, tp[c] - eta
        pr = np.maximum(ndtr(z1) - ndtr(z2), _EPS)
        f1 = np.where(np.isfinite(z1), stats.norm.pdf(np.where(np.isfinite(z1), z1, 0.0)), 0.0)
        f2 = np.where(np.isfinite(z2), stats.norm.pdf(np.where(np.isfinite(z2), z2, 0.0)), 0.0)
        sc = np.concatenate([(Y1 * f1[:, None] - Y2 * f2[:, None]) / pr[:, None],
                             -((f1 - f2) / pr)[:, None] * X], axis=1)
        return -np.log(pr).sum(), sc, z1, z2

    def fg(th):
        if np.any(np.diff(th[:nth]) <= 0):
            return np.inf, np.zeros_like(th)
        f, sc, _, _ = parts(th)
        return f, -sc.sum(0)

    th, conv = _newton(fg, np.concatenate([tau0, np.zeros(q)]))
    _, sc, z1, z2 = parts(th)
    return th[:nth], th[nth:], sc, z1, z2, Y1, Y2, conv


def _bvmix_scores_x(z, sd, var, z1, z2, Y1, Y2, rho):
    """Polyserial scores with case-specific (covariate-shifted) thresholds ``z1`` (upper), ``z2`` (lower) of the
    ordinal partner (lavaan's ``lav_bvmix_cor_scores_cache``): d rho, d mu, d var of the continuous variable,
    d thresholds and d eta (the linear predictor) of the ordinal one."""
    R = np.sqrt(1 - rho * rho)
    fin1, fin2 = np.isfinite(z1), np.isfinite(z2)
    a1 = np.where(fin1, (np.where(fin1, z1, 0.0) - rho * z) / R, np.inf)
    a2 = np.where(fin2, (np.where(fin2, z2, 0.0) - rho * z) / R, -np.inf)
    y1 = np.where(fin1, stats.norm.pdf(np.where(fin1, a1, 0.0)), 0.0)
    y2 = np.where(fin2, stats.norm.pdf(np.where(fin2, a2, 0.0)), 0.0)
    pr = np.maximum(ndtr(a1) - ndtr(a2), _EPS)
    d_mu = (z + rho / R * (y1 - y2) / pr) / sd
    d_var = ((z * z - 1) + rho * z / R * (y1 - y2) / pr) / (2 * var)
    d_th = (Y1 * y1[:, None] - Y2 * y2[:, None]) / (R * pr)[:, None]
    d_eta = -(y1 - y2) / (R * pr)
    t1 = np.where(fin1, y1 * (np.where(fin1, z1, 0.0) * rho - z), 0.0)
    t2 = np.where(fin2, y2 * (np.where(fin2, z2, 0.0) * rho - z), 0.0)
    d_rho = (t1 - t2) / (R ** 3 * pr)
    return d_rho, d_mu, d_var, d_th, d_eta


def _bvord_p(u1, u2, v1, v2, rho):
    """Bivariate probit cell probabilities of cases with bounds (u2, u1] x (v2, v1] (floored as lavaan)."""
    P = (cat.bivariate_normal_cdf(u1, v1, rho) - cat.bivariate_normal_cdf(u2, v1, rho)
         - cat.bivariate_normal_cdf(u1, v2, rho) + cat.bivariate_normal_cdf(u2, v2, rho))
    return np.maximum(P, cat._TINY)


def _bvord_x(u1, u2, v1, v2, rho):
    """Bivariate probit cell probabilities and scores for cases with bounds (u2, u1] x (v2, v1]."""
    P = _bvord_p(u1, u2, v1, v2, rho)
    dr = (cat._bvn_density(u1, v1, rho) - cat._bvn_density(u2, v1, rho) - cat._bvn_density(u1, v2, rho)
          + cat._bvn_density(u2, v2, rho)) / P

    def phi(a):
        return np.where(np.isfinite(a), stats.norm.pdf(np.where(np.isfinite(a), a, 0.0)), 0.0)

    # d P / d u1 = phi(u1) [Phi((v1 - r u1)/s) - Phi((v2 - r u1)/s)], likewise for the other bounds
    gu1 = phi(u1) * (cat._cond_cdf(u1, v1, rho) - cat._cond_cdf(u1, v2, rho)) / P
    gu2 = phi(u2) * (cat._cond_cdf(u2, v1, rho) - cat._cond_cdf(u2, v2, rho)) / P
    gv1 = phi(v1) * (cat._cond_cdf(v1, u1, rho) - cat._cond_cdf(v1, u2, rho)) / P
    gv2 = phi(v2) * (cat._cond_cdf(v2, u1, rho) - cat._cond_cdf(v2, u2, rho)) / P
    return P, dr, gu1, gu2, gv1, gv2


def conditional_moments(frame, items, ordered, xs, max_categories=20, cluster=None, missing="listwise"):
    """lavaan's WLS statistics with ``conditional.x = TRUE`` and their NACOV.

    ``missing="listwise"``: complete rows. ``"pairwise"`` (lavaan ``missing = "pairwise"``): the covariates
    complete (lavaan drops rows with a missing covariate, fixed.x), each univariate regression from the rows
    where its variable is observed, each residual correlation from the rows where both are observed (a Pearson
    one then by ML with the univariate regressions fixed), casewise scores zero where their variables are missing.

    ``cluster``: integer cluster codes of the rows (``gamma_cluster`` then cluster-robust, as in
    :func:`mixed_moments`).

    For the endogenous observed variables ``items`` given the exogenous covariates ``xs``: probit regressions
    of ordered items (thresholds, slopes) and linear regressions of continuous ones (intercept, slopes,
    residual variance), then residual polychoric / polyserial / Pearson correlations given x. Statistics in
    lavaan's order: threshold block (minus the intercept for a continuous variable), slopes (vec of the
    variables-by-covariates matrix), residual variances of continuous variables, residual covariances.
    """
    p, q, n = len(items), len(xs), len(frame)
    for v in xs:
        if not pd.api.types.is_numeric_dtype(frame[v]):
            raise DataError("an exogenous covariate must be numeric (code a binary treatment 0/1)",
                            where=f"column {v!r}", found=str(frame[v].dtype), expected="numbers")
    X = frame[xs].to_numpy(float)
    for k, v in enumerate(xs):
        if not np.ptp(X[:, k]) > 0:
            raise DataError("exogenous covariate without variance in the analysed rows", where=f"column {v!r}",
                            found="variance 0", expected="a variable that varies")
    X1 = np.column_stack([np.ones(n), X])
    ordset = set(ordered)
    is_ord = np.array([v in ordset for v in items])
    oidx, nidx = np.flatnonzero(is_ord), np.flatnonzero(~is_ord)
    warns = []
    _, ocodes, ocats = cat._coded(frame, [items[i] for i in oidx], missing, max_categories)
    oncat = np.array([len(c) for c in ocats])
    _, _, _, _, tpad = cat._uni(ocodes, oncat)
    opos = {i: k for k, i in enumerate(oidx)}
    nth_v = np.ones(p, dtype=int)
    for i in oidx:
        nth_v[i] = oncat[opos[i]] - 1
    th_start = np.concatenate([[0], np.cumsum(nth_v)[:-1]])
    nthb = int(nth_v.sum())
    sl_pos = nthb + np.arange(q)[None, :] * p + np.arange(p)[:, None]   # (p, q): vec(SLOPES), column-major
    var_pos = {i: nthb + p * q + k for k, i in enumerate(nidx)}
    k1 = nthb + p * q + len(nidx)
    S1 = np.zeros((n, k1))
    s1_vals = np.zeros(k1)
    labels = [""] * k1
    th_item, th_num, th_labels = [], [], []
    fits = {}
    E = np.zeros((n, p))       # residuals of continuous variables
    var = np.ones(p)
    obs = np.ones((n, p), dtype=bool)
    for i in range(p):
        v = items[i]
        sl = slice(th_start[i], th_start[i] + nth_v[i])
        if is_ord[i]:
            o = opos[i]
            c = ocodes[:, o]
            ob = c >= 0
            obs[:, i] = ob
            tau, beta, sco, z1o, z2o, Y1o, Y2o, conv = _probit_fit(c[ob], oncat[o], X[ob], tpad[o, 1:oncat[o]])
            if not conv:
                warns.append(f"probit regression of {v} on the covariates did not converge")
            sc = np.zeros((n, sco.shape[1]))
            z1, z2 = np.zeros(n), np.zeros(n)
            Y1, Y2 = np.zeros((n, Y1o.shape[1])), np.zeros((n, Y2o.shape[1]))
            sc[ob], z1[ob], z2[ob], Y1[ob], Y2[ob] = sco, z1o, z2o, Y1o, Y2o
            fits[i] = (np.maximum(c, 0), z1, z2, Y1, Y2, X @ beta)
            S1[:, sl] = sc[:, :nth_v[i]]
            S1[:, sl_pos[i]] = sc[:, nth_v[i]:]
            s1_vals[sl] = tau
            s1_vals[sl_pos[i]] = beta
            for t in range(nth_v[i]):
                labels[th_start[i] + t] = f"{v}|t{t + 1}"
                th_item.append(i)
                th_num.append(t + 1)
                th_labels.append(f"{v}|t{t + 1}")
        else:
            if not pd.api.types.is_numeric_dtype(frame[v]):
                raise DataError("a continuous variable must be numeric", where=f"column {v!r}",
                                found=str(frame[v].dtype), expected="numbers, or name the column in `ordered`")
            y = frame[v].to_numpy(float)
            ob = np.isfinite(y)
            obs[:, i] = ob
            b = np.linalg.lstsq(X1[ob], y[ob], rcond=None)[0]
            res = np.where(ob, np.where(ob, y, 0.0) - X1 @ b, 0.0)
            ev = float(np.mean(res[ob] ** 2)) if ob.any() else 0.0
            if not ev > 0:
                raise DataError("continuous variable without residual variance given the covariates",
                                where=f"column {v!r}", found="residual variance 0")
            E[:, i], var[i] = res, ev
            S1[:, th_start[i]] = res / ev
            S1[:, sl_pos[i]] = (res / ev)[:, None] * X
            S1[:, var_pos[i]] = np.where(ob, -1 / (2 * ev) + res * res / (2 * ev * ev), 0.0)
            s1_vals[th_start[i]] = -b[0]
            s1_vals[sl_pos[i]] = b[1:]
            s1_vals[var_pos[i]] = ev
            labels[th_start[i]] = f"{v}~1"
            labels[var_pos[i]] = f"{v}~~{v}"
        for k in range(q):
            labels[sl_pos[i, k]] = f"{v}~{xs[k]}"
    sd = np.sqrt(var)
    a11_inv = np.zeros((k1, k1))
    for i in range(p):
        blk = list(range(th_start[i], th_start[i] + nth_v[i])) + list(sl_pos[i]) + \
            ([var_pos[i]] if not is_ord[i] else [])
        inv, sing = _pinv_block(S1[:, blk].T @ S1[:, blk])
        a11_inv[np.ix_(blk, blk)] = inv
        if sing:
            warns.append(f"{items[i]}: singular first-step information; generalised inverse used, as lavaan")
    IF1 = S1 @ a11_inv
    iu, ju = np.triu_indices(p, 1)
    m = iu.size
    rho = np.zeros(m)
    S2 = np.zeros((n, m))
    A21 = np.zeros((m, k1))
    for k, (i, j) in enumerate(zip(iu, ju)):
        both = obs[:, i] & obs[:, j]
        if not is_ord[i] and not is_ord[j]:   # residual Pearson correlation
            y1, y2 = np.where(both, E[:, i], 0.0), np.where(both, E[:, j], 0.0)
            e1, e2, s1_, s2_ = var[i], var[j], sd[i], sd[j]
            if both.all():
                r = float(np.mean(y1 * y2) / (s1_ * s2_))
            else:
                with np.errstate(invalid="ignore"):
                    r0 = np.corrcoef(y1[both], y2[both])[0, 1] if both.sum() > 2 else 0.0
                r = _pair_ml_pearson(y1 / s1_, y2 / s2_, both, np.nan_to_num(r0))
            d_r, d_mu1, d_mu2, d_v1, d_v2 = _pearson_pair_scores(y1, y2, both, e1, e2, s1_, s2_, r)
            A21[k, th_start[i]] = d_r @ d_mu1
            A21[k, th_start[j]] = d_r @ d_mu2
            A21[k, sl_pos[i]] = (d_r * d_mu1) @ X
            A21[k, sl_pos[j]] = (d_r * d_mu2) @ X
            A21[k, var_pos[i]] = d_r @ d_v1
            A21[k, var_pos[j]] = d_r @ d_v2
        elif is_ord[i] and is_ord[j]:   # residual polychoric correlation (bivariate probit)
            _, z1i, z2i, Y1i, Y2i, _ = fits[i]
            _, z1j, z2j, Y1j, Y2j, _ = fits[j]

            def negll(r, a=(z1i[both], z2i[both], z1j[both], z2j[both])):
                return -np.log(_bvord_p(a[0], a[1], a[2], a[3], r)).sum()

            opt = optimize.minimize_scalar(negll, bounds=(-cat._BOUND, cat._BOUND), method="bounded",
                                           options={"xatol": 1e-12, "maxiter": 500})
            r = float(opt.x)
            _, d_r, gu1, gu2, gv1, gv2 = _bvord_x(z1i, z2i, z1j, z2j, r)
            d_r, gu1, gu2, gv1, gv2 = (np.where(both, a, 0.0) for a in (d_r, gu1, gu2, gv1, gv2))
            dth_i = Y1i * gu1[:, None] - Y2i * gu2[:, None]
            dth_j = Y1j * gv1[:, None] - Y2j * gv2[:, None]
            A21[k, th_start[i]:th_start[i] + nth_v[i]] = d_r @ dth_i
            A21[k, th_start[j]:th_start[j] + nth_v[j]] = d_r @ dth_j
            A21[k, sl_pos[i]] = (d_r * -(gu1 - gu2)) @ X
            A21[k, sl_pos[j]] = (d_r * -(gv1 - gv2)) @ X
        else:   # residual polyserial correlation
            xi, yj = (i, j) if not is_ord[i] else (j, i)
            c, z1, z2, Y1, Y2, _ = fits[yj]
            Z = E[:, xi] / sd[xi]

            def negll(r, Z=Z[both], z1=z1[both], z2=z2[both]):
                R = np.sqrt(1 - r * r)
                return -np.log(np.maximum(ndtr((z1 - r * Z) / R) - ndtr((z2 - r * Z) / R), _EPS)).sum()

            opt = optimize.minimize_scalar(negll, bounds=(-cat._BOUND_PS, cat._BOUND_PS), method="bounded",
                                           options={"xatol": 1e-12, "maxiter": 500})
            r = float(opt.x)
            d_r, d_mu, d_v, d_th, d_eta = _bvmix_scores_x(Z, sd[xi], var[xi], z1, z2, Y1, Y2, r)
            d_r, d_mu, d_v, d_eta = (np.where(both, a, 0.0) for a in (d_r, d_mu, d_v, d_eta))
            d_th = np.where(both[:, None], d_th, 0.0)
            A21[k, th_start[xi]] = d_r @ d_mu
            A21[k, sl_pos[xi]] = (d_r * d_mu) @ X
            A21[k, var_pos[xi]] = d_r @ d_v
            A21[k, th_start[yj]:th_start[yj] + nth_v[yj]] = d_r @ d_th
            A21[k, sl_pos[yj]] = (d_r * d_eta) @ X
        if abs(r) > cat._NEAR_ONE:
            warns.append(f"correlation between variables {items[i]} and {items[j]} is (nearly) 1.0")
        rho[k] = r
        S2[:, k] = d_r
    gamma, cov_vals = _second_step_gamma(S2, A21, IF1, rho, sd, is_ord, iu, ju, var_pos, th_start, nidx, items,
                                         cluster=cluster)
    gamma, gamma_cl = gamma if cluster is not None else (gamma, None)
    labels += [f"{items[i]}~~{items[j]}" for i, j in zip(iu, ju)]
    s = np.concatenate([s1_vals, cov_vals])
    Rm = np.eye(p)
    Rm[iu, ju] = Rm[ju, iu] = rho
    return SimpleNamespace(labels=labels, s=s, gamma=gamma, gamma_cluster=gamma_cl, is_ord=is_ord, var=var, cor=Rm,
                           iu=iu, ju=ju,
                           th_start=th_start, nth_v=nth_v, sl_pos=sl_pos, var_pos=var_pos, nthb=nthb, n=n,
                           mean=np.array([np.nanmean(frame[v].to_numpy(float)) if not is_ord[i] else 0.0
                                          for i, v in enumerate(items)]),
                           th_item=np.array(th_item, dtype=int), th_num=np.array(th_num, dtype=int),
                           th_labels=th_labels, ncat=np.where(is_ord, nth_v + 1, 0), warnings=warns,
                           thresholds=pd.DataFrame({"item": [items[i] for i in th_item], "threshold": th_num,
                                                    "label": th_labels,
                                                    "estimate": [s1_vals[th_start[i] + t - 1]
                                                                 for i, t in zip(th_item, th_num)]}),
                           x_mean=X.mean(0), x_cov=np.atleast_2d(np.cov(X, rowvar=False)))   # lavaan's cov.x: divisor n - 1


class _CondGroup(_MixedGroup):
    """``conditional.x = TRUE``: the statistics are those of the endogenous observed variables given the
    exogenous covariates (fixed.x: their moments fixed at the sample values). The implied conditional
    statistics come from the model's joint implied moments: slopes ``Pi = S_yx S_xx^-1``, residual covariances
    ``S_yy - Pi S_xy``, intercepts ``mu_y - Pi mu_x``."""

    @staticmethod
    def _moments(mod, frame, ordered, missing, cluster=None):
        xs = list(mod.ov_x)
        ys = [v for v in mod.obs if v not in xs]
        mm = conditional_moments(frame[ys + xs], ys, ordered, xs, cluster=cluster, missing=missing)
        mean = np.zeros(len(mod.obs))
        cov = np.eye(len(mod.obs))
        xi = [mod.obs.index(v) for v in xs]
        mean[xi] = mm.x_mean
        cov[np.ix_(xi, xi)] = mm.x_cov
        mod.set_fixed(mean, cov)
        return ys, mm

    def _xy(self):
        if not hasattr(self, "_yi"):
            obs = self.mod.obs
            self._yi = np.array([obs.index(v) for v in self.items])
            self._xi = np.array([obs.index(v) for v in self.mod.ov_x])
            self._xinv = np.linalg.inv(self.mm.x_cov)
        return self._yi, self._xi, self._xinv

    def _conditional(self, ram):
        yi, xi, Xinv = self._xy()
        Sig0, mu = self.mod.implied(ram)
        Syx = Sig0[np.ix_(yi, xi)]
        Pi = Syx @ Xinv
        Sc = Sig0[np.ix_(yi, yi)] - Pi @ Syx.T
        muc = mu[yi] - Pi @ mu[xi]
        return Sig0, mu, Pi, Sc, muc

    def implied(self, t, jac=False):
        """Implied conditional statistics; an ordered item's thresholds, slopes and residual covariances carry its
        scaling factor ``delta_i`` (1 unless freed: groups 2, 3, ... with equal thresholds)."""
        ram, tau, _ = self.split(t)
        Sig0, mu, Pi, Sc, muc = self._conditional(ram)
        dl = self.delta(t)
        bi, bt = self.tb_item, self.tb_tau
        isth = bt >= 0
        tb = tau[np.where(isth, bt, 0)]
        thb = np.where(isth, dl[bi] * (tb - muc[bi]), -muc[bi])
        nm, iu, ju = self.num, self.iu, self.ju
        dd = dl[iu] * dl[ju]
        est = np.concatenate([thb, (dl[:, None] * Pi).T.ravel(), Sc[nm, nm], dd * Sc[iu, ju]])
        if not jac:
            return est, Sig0, mu
        yi, xi, Xinv = self._xy()
        dS, dmu = self.mod.derivatives(ram)
        dSyx = dS[:, yi][:, :, xi]
        dPi = dSyx @ Xinv
        dSc = dS[:, yi][:, :, yi] - dSyx @ Pi.T - Pi @ np.swapaxes(dSyx, 1, 2)
        dmuc = dmu[:, yi] - dPi @ mu[xi]
        nb, nsl, nv = len(bi), Pi.size, len(nm)
        J = np.zeros((len(est), self.nloc))
        if self.K:
            J[:nb, :self.K] = -(dl[bi][:, None] * dmuc[:, bi].T)
            J[nb:nb + nsl, :self.K] = np.swapaxes(dl[None, :, None] * dPi, 1, 2).reshape(self.K, -1).T
            J[nb + nsl:nb + nsl + nv, :self.K] = dSc[:, nm, nm].T
            J[nb + nsl + nv:, :self.K] = dd[:, None] * dSc[:, iu, ju].T
        rows = np.flatnonzero(isth)
        J[rows, self.K + bt[rows]] = dl[bi[rows]]
        p, q = Pi.shape
        o = nb + nsl + nv
        for i in np.flatnonzero(self.scale_free >= 0):
            k = self.scale_free[i]
            r_t = np.flatnonzero(isth & (bi == i))
            J[r_t, k] = tb[r_t] - muc[i]
            J[nb + np.arange(q) * p + i, k] = Pi[i]
            a = np.flatnonzero(iu == i)
            J[o + a, k] = dl[ju[a]] * Sc[i, ju[a]]
            b = np.flatnonzero(ju == i)
            J[o + b, k] = dl[iu[b]] * Sc[iu[b], i]
        return est, Sig0, mu, J

    def theta_diag(self, t):
        ram = self.split(t)[0]
        _, _, _, Sc, _ = self._conditional(ram)
        _, S, _ = self.mod.matrices(ram)
        out = 1.0 / self.delta(t) ** 2 - np.diag(Sc)
        for i in self.num:
            k = self.mod.idx[self.items[i]]
            out[i] = S[k, k]
        return out

    def srmr_residuals(self, est):
        """srmr on the off-diagonal residual (conditional) covariances, standardised by the sample residual SDs;
        lavaan divides by (number of pairs + number of observed variables, covariates included)."""
        sd = np.sqrt(self.mm.var)
        o = len(self.tb_item) + self.p * len(self.mod.ov_x) + len(self.num)
        iu, ju = self.iu, self.ju
        e_off = (self.s[o:] - est[o:]) / (sd[iu] * sd[ju])
        return float(np.sqrt(np.sum(e_off ** 2) / (len(iu) + len(self.mod.obs))))
