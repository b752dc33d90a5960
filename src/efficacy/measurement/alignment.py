"""Approximate measurement invariance across many groups by the alignment method (issue #18).

:func:`alignment` implements Asparouhov & Muthen (2014): the configural multi-group model is fitted
once (no equality constraints); for each factor the group factor means and variances are then chosen
to minimise a simplicity (component loss) function of the pairwise group differences of the implied
loadings and intercepts; the fit is unchanged, and most parameters end up nearly equal across groups
while the few non-invariant ones stand out. A testing procedure then lists, per parameter, the groups
outside its largest invariant set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._api import check_columns
from ..errors import MeasurementError
from ..results import ResultMixin
from .cfa import _scales_to_syntax, cfa
from .invariance import _indicators

__all__ = ["alignment", "AlignmentResult", "ALIGNMENT_COLUMNS", "simplicity_loss"]

#: columns of :meth:`AlignmentResult.to_frame` (one row per factor, parameter and group)
ALIGNMENT_COLUMNS = ["factor", "param", "lhs", "op", "rhs", "group", "configural", "estimate", "se", "invariant_mean",
                     "difference", "invariant"]
EPS = 0.01


def simplicity_loss(x, eps: float = EPS):
    """The component loss of Asparouhov & Muthen (2014): ``sqrt(sqrt(x^2 + eps))``, elementwise.

    Nearly ``|x|^(1/2)``: it favours solutions with many differences near zero and a few large ones
    (as rotation criteria favour simple structure) over many middle-sized differences.
    """
    return np.sqrt(np.sqrt(np.asarray(x, dtype=float) ** 2 + eps))


def _dloss(x, eps=EPS):
    return 0.5 * x * (x ** 2 + eps) ** (-0.75)


def _align_factor(lam0, nu0, w, n_starts=3):
    """Minimise the total loss over (alpha_g, log psi_g), g = 2..G (group 1: alpha 0, psi 1; Mplus FIXED)."""
    G, _ = lam0.shape
    w = w.copy()
    np.fill_diagonal(w, 0.0)   # a group with itself is no pair
    scale = float(np.sum(np.triu(w, 1)) * lam0.shape[1])   # the loss per weighted pair and item is O(1)

    def unpack(x):
        alpha = np.concatenate([[0.0], x[:G - 1]])
        u = np.concatenate([[0.0], x[G - 1:]])
        return alpha, u

    def f(x):
        alpha, u = unpack(x)
        s = np.exp(-u / 2)[:, None]                 # 1 / sqrt(psi_g)
        lam1 = lam0 * s
        nu1 = nu0 - alpha[:, None] * lam1
        dl = lam1[:, None, :] - lam1[None, :, :]    # G x G x p
        dn = nu1[:, None, :] - nu1[None, :, :]
        W = w[:, :, None]
        F = 0.5 * np.sum(W * (simplicity_loss(dl) + simplicity_loss(dn)))
        gl = 2 * 0.5 * np.sum(W * _dloss(dl), axis=1)   # dF/dlam1[g, p] (both orders of each pair)
        gn = np.sum(W * _dloss(dn), axis=1)
        d_alpha = -np.sum(gn * lam1, axis=1)
        d_u = np.sum(gl * (-lam1 / 2) + gn * (alpha[:, None] * lam1 / 2), axis=1)
        return F / scale, np.concatenate([d_alpha[1:], d_u[1:]]) / scale

    # starts: no shift; and the median-based linking of the groups to group 1 (as a Haebara-like start)
    med_l = np.median(lam0, axis=1)
    psi_s = (med_l / med_l[0]) ** 2
    alpha_s = (np.median(nu0, axis=1) - np.median(nu0[0])) / np.median(lam0, axis=1)
    starts = [np.zeros(2 * (G - 1)), np.concatenate([alpha_s[1:], np.log(np.clip(psi_s[1:], 1e-3, 1e3))])]
    rng = np.random.default_rng(0)
    for _ in range(max(n_starts - 2, 0)):
        starts.append(starts[1] + rng.normal(0, 0.3, size=starts[1].size))
    best = None
    for x0 in starts:
        r = optimize.minimize(f, x0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
        if best is None or r.fun < best.fun - 1e-12:
            best = r
    alpha, u = unpack(best.x)
    gmax = float(np.max(np.abs(f(best.x)[1]))) if best.x.size else 0.0
    return alpha, np.exp(u), float(best.fun) * scale, gmax < 1e-6, gmax


def _invariant_set(x, se, n, alpha_pair=0.01, alpha_mean=0.001, maxit=50):
    """Largest invariant set of groups for one parameter (a documented simplification of Asparouhov &
    Muthen's procedure): start from all groups and drop, one at a time, the group with the most
    significant pairwise differences (z-test, ``alpha_pair``) until no pair in the set differs; then
    compare every group with the n-weighted mean of the set (``alpha_mean``), re-forming the set from
    the groups that do not differ, until it no longer changes."""
    G = len(x)
    zcrit_p = stats.norm.isf(alpha_pair / 2)
    zcrit_m = stats.norm.isf(alpha_mean / 2)
    z = np.abs(x[:, None] - x[None, :]) / np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
    np.fill_diagonal(z, 0.0)
    inset = np.ones(G, bool)
    while inset.sum() > 1:
        sig = (z > zcrit_p) & inset[None, :] & inset[:, None]
        if not sig.any():
            break
        count = np.where(inset, sig.sum(axis=1) + 1e-6 * np.where(sig, z, 0).sum(axis=1), -1)
        inset[int(np.argmax(count))] = False
    for _ in range(maxit):
        wts = n * inset
        mean = np.sum(wts * x) / wts.sum()
        var_mean = np.sum(wts ** 2 * se ** 2) / wts.sum() ** 2
        zz = np.abs(x - mean) / np.sqrt(se ** 2 + var_mean)
        new = zz <= zcrit_m
        if not new.any():
            break
        if np.array_equal(new, inset):
            break
        inset = new
    wts = n * inset
    return inset, float(np.sum(wts * x) / wts.sum())


@dataclass(repr=False)
class AlignmentResult(ResultMixin):
    """Result of :func:`alignment`.

    Attributes
    ----------
    groups : list
        Group labels (group 1 is the reference: factor mean 0, variance 1).
    factor_means, factor_variances : pandas.DataFrame
        Aligned factor means (alpha) and variances (psi), one row per group, one column per factor.
    table : pandas.DataFrame
        One row per factor, parameter (``"loading"`` / ``"intercept"``) and group
        (:data:`ALIGNMENT_COLUMNS`): configural (std.lv) and aligned estimate with its SE, the mean of
        the parameter over its invariant set, the difference from it, and ``invariant``.
    noninvariant : dict
        ``{group: ["x3 ~1", ...]}``: the parameters outside their invariant set, per group.
    loss : dict
        ``{factor: total simplicity loss at the optimum}``.
    configural : CFAResult
        The configural fit (``chisq``, ``df``, ...).
    aligned_chisq : float
        Chi-square of the aligned solution (equal to the configural one: alignment changes no fit).
    converged : bool
    reason : str
    """

    groups: list
    factor_means: pd.DataFrame
    factor_variances: pd.DataFrame
    table: pd.DataFrame
    noninvariant: dict
    loss: dict
    configural: object = field(repr=False)
    aligned_chisq: float = np.nan
    converged: bool = True
    reason: str = ""
    estimator: str = "ML"
    group: str = ""

    _headline = ("group", "n_groups", "chisq", "df", "aligned_chisq", "n_noninvariant", "converged")
    _title = "Alignment (Asparouhov & Muthen, 2014)"
    _summary_columns = ("factor", "param", "lhs", "op", "rhs", "group", "estimate", "se", "difference",
                        "invariant")
    _dict_skip = ("configural",)

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def chisq(self) -> float:
        return float(self.configural.fit["chisq"])

    @property
    def df(self) -> float:
        return float(self.configural.fit["df"])

    @property
    def n_noninvariant(self) -> int:
        return int((~self.table["invariant"].astype(bool)).sum())

    @property
    def fraction_noninvariant(self) -> float:
        """Share of group-specific parameters outside their invariant set (Muthen & Asparouhov suggest
        trusting the aligned means when it is below about 25%)."""
        return float(self.n_noninvariant / max(len(self.table), 1))

    def to_frame(self) -> pd.DataFrame:
        """Every aligned loading and intercept of every group (:data:`ALIGNMENT_COLUMNS`)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        """JSON-serialisable dict; factor means and variances as ``{group: {factor: value}}``."""
        out = super().to_dict()
        for k in ("factor_means", "factor_variances"):
            out[k] = {str(g): {str(f): float(v) for f, v in row.items()} for g, row in getattr(self, k).iterrows()}
        return out

    def _summary_frame(self) -> pd.DataFrame:
        t = self.table[~self.table["invariant"].astype(bool)]
        return (t if len(t) else self.table.head(0))[list(self._summary_columns)]

    def _notes(self) -> list:
        means = ", ".join(f"{g}: {self.factor_means.loc[g].round(3).to_dict()}" for g in self.groups)
        notes = [(f"{self.n_noninvariant} of {len(self.table)} group-specific loadings/intercepts are non-invariant "
                  f"({100 * self.fraction_noninvariant:.0f}%); table shows them only (to_frame() has all)."),
                 f"aligned factor means: {means}"]
        return notes + ([self.reason] if self.reason else [])


def alignment(data: pd.DataFrame, model, group: str, *, estimator: str = "ML") -> AlignmentResult:
    """Approximate measurement invariance by the alignment method (Asparouhov & Muthen, 2014).

    1. The configural model (:func:`~efficacy.measurement.cfa` with ``group=``, no constraints) is
       fitted and put in the metric of factor means 0 and variances 1 in every group: loadings
       ``lambda0 = lambda sqrt(psi)``, intercepts ``nu0 = nu``.
    2. For each factor, the group factor means ``alpha_g`` and variances ``psi_g`` (group 1, the
       reference, fixed at 0 and 1: Mplus's FIXED alignment) minimise the total loss
       ``sum_p sum_{g<h} w_gh [f(lambda1_pg - lambda1_ph) + f(nu1_pg - nu1_ph)]`` with
       ``lambda1 = lambda0 / sqrt(psi_g)``, ``nu1 = nu0 - alpha_g lambda0 / sqrt(psi_g)``, the component
       loss ``f(x) = sqrt(sqrt(x^2 + 0.01))`` and weights ``w_gh = sqrt(n_g n_h)``; BFGS with an
       analytic gradient from several starts. Every such solution has the configural likelihood:
       ``aligned_chisq`` equals the configural chi-square.
    3. Invariance testing, per loading and intercept (a documented simplification of the procedure of
       Asparouhov & Muthen, 2014, p. 497): z-tests of the pairwise group differences of the aligned
       parameters (p < .01) give a starting invariant set (groups are dropped, most significant
       differences first, until no pair in the set differs); each group is then compared with the
       n-weighted mean of the set (p < .001) and the set is re-formed until stable. Standard errors
       are the configural ones carried to the aligned metric by the delta method with ``alpha`` and
       ``psi`` treated as known (Mplus takes them from the model re-estimated at the aligned values,
       which also carries the uncertainty of ``alpha`` and ``psi``; the tests here are therefore a
       little liberal).

    Multi-factor models are aligned one factor at a time (simple structure: each item loads on one
    factor). With complete data (listwise deletion). The optimisation corresponds to Mplus
    ``ANALYSIS: ALIGNMENT = FIXED`` and to ``sirt::invariance.alignment`` (neither installable here): it is
    checked against the same loss minimised in R on lavaan's ``std.lv`` configural fit
    (``tests/reference/alignment.R``) and by planted truth.

    Parameters
    ----------
    data : pandas.DataFrame
    model : str or dict
        lavaan syntax (``=~`` lines, optionally residual covariances) or ``{factor: [items]}``.
    group : str
        Grouping column (countries, cultures, ...): at least 2 groups, alignment pays off with many.
    estimator : {"ML", "MLR"}
        Estimator of the configural model (MLR changes the SEs and hence the testing).

    Returns
    -------
    AlignmentResult
        ``factor_means`` / ``factor_variances`` (aligned), ``noninvariant`` (per group, the
        non-invariant parameters), ``to_frame()`` (every loading and intercept of every group).

    Raises
    ------
    MeasurementError
        One group only, a cross-loading item, a factor with fewer than 2 items, an unknown estimator.

    References
    ----------
    Asparouhov, T., & Muthen, B. (2014). Multiple-group factor analysis alignment. *Structural
    Equation Modeling, 21*(4), 495-508. https://doi.org/10.1080/10705511.2014.919210
    Muthen, B., & Asparouhov, T. (2018). Recent methods for the study of measurement invariance with
    many groups: Alignment and random effects. *Sociological Methods & Research, 47*(4), 637-664.

    Examples
    --------
    >>> res = alignment(df, {"efficacy": ["se1", "se2", "se3", "se4"]}, "country")   # doctest: +SKIP
    >>> res.factor_means, res.noninvariant                                           # doctest: +SKIP
    """
    if not isinstance(data, pd.DataFrame):
        raise MeasurementError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    est = str(estimator).upper()
    if est not in ("ML", "MLR"):
        raise MeasurementError("unknown estimator for alignment", found=repr(estimator), expected="'ML' or 'MLR'")
    check_columns(data, [("group", group)], error=MeasurementError)
    syntax = _scales_to_syntax(model) if isinstance(model, dict) else str(model)
    ind = _indicators(syntax)
    items = [v for vs in ind.values() for v in vs]
    dup = sorted({v for v in items if items.count(v) > 1})
    if dup:
        raise MeasurementError("alignment needs simple structure: an item loads on more than one factor",
                               found=", ".join(dup), expected="each item on one factor")
    small = [f for f, vs in ind.items() if len(vs) < 2]
    if small or not ind:
        raise MeasurementError("each factor needs at least 2 items", found=repr(small or ind))
    check_columns(data, [("an item", items)], error=MeasurementError)
    d = data.dropna(subset=items + [group])
    levels = list(pd.unique(d[group]))
    if len(levels) < 2:
        raise MeasurementError("alignment needs at least 2 groups", where=f"column {group!r}",
                               found=f"{len(levels)} group(s) {levels}", expected=">= 2 groups (many, ideally)")
    conf = cfa(d, syntax, group=group, estimator=est)
    if not conf.converged:
        raise MeasurementError("the configural model did not converge, so it cannot be aligned", found=conf.reason)
    E = conf.estimates
    V = conf.sem.vcov.to_numpy()
    vidx = {name: i for i, name in enumerate(conf.sem.vcov.index)}
    G = len(levels)
    glabel = {g: lv for g, lv in zip(range(1, G + 1), E.drop_duplicates("group")["group_level"])} \
        if "group_level" in E else {g: lv for g, lv in zip(range(1, G + 1), levels)}
    groups = [glabel[g] for g in range(1, G + 1)]
    n = d.groupby(group, sort=False).size().reindex(groups).to_numpy(dtype=float)
    w = np.sqrt(np.outer(n, n))

    def row(g, lhs, op, rhs=""):
        r = E[(E["group"] == g) & (E["lhs"] == lhs) & (E["op"] == op) & (E["rhs"] == rhs)]
        return r.iloc[0]

    def vc(a, b):
        ia, ib = int(a["free"]), int(b["free"])
        if ia == 0 or ib == 0:
            return 0.0
        return float(V[vidx[f"p{ia}"], vidx[f"p{ib}"]])

    rows, means, variances, losses, warn = [], {}, {}, {}, []
    ok_all = True
    Lam1, Nu1 = {}, {}
    for fac, its in ind.items():
        p = len(its)
        lam0 = np.zeros((G, p))
        nu0 = np.zeros((G, p))
        var_l0 = np.zeros((G, p))
        var_n0 = np.zeros((G, p))
        cov_ln0 = np.zeros((G, p))
        for g in range(1, G + 1):
            ps = row(g, fac, "~~", fac)
            psi = float(ps["estimate"])
            if psi <= 0:
                raise MeasurementError("the configural model has a non-positive factor variance",
                                       where=f"group {glabel[g]!r}, factor {fac!r}", found=f"{psi:.4g}")
            sq = np.sqrt(psi)
            for j, v in enumerate(its):
                lr, nr = row(g, fac, "=~", v), row(g, v, "~1")
                lam = float(lr["estimate"])
                lam0[g - 1, j] = lam * sq
                nu0[g - 1, j] = float(nr["estimate"])
                # delta method: lambda0 = lambda sqrt(psi) -> grad (sqrt(psi), lambda / (2 sqrt(psi)))
                a, b = sq, lam / (2 * sq)
                var_l0[g - 1, j] = a * a * vc(lr, lr) + b * b * vc(ps, ps) + 2 * a * b * vc(lr, ps)
                var_n0[g - 1, j] = vc(nr, nr)
                cov_ln0[g - 1, j] = a * vc(lr, nr) + b * vc(ps, nr)
        alpha, psi_a, loss, ok, gmax = _align_factor(lam0, nu0, w)
        if not ok:
            ok_all = False
            warn.append(f"alignment of {fac!r} did not converge (max |gradient| {gmax:.2g})")
        means[fac], variances[fac], losses[fac] = alpha, psi_a, loss
        s = 1 / np.sqrt(psi_a)[:, None]
        lam1 = lam0 * s
        nu1 = nu0 - alpha[:, None] * lam1
        se_l1 = np.sqrt(np.clip(var_l0, 0, None)) * s
        c = alpha[:, None] * s
        se_n1 = np.sqrt(np.clip(var_n0 + c ** 2 * var_l0 - 2 * c * cov_ln0, 0, None))
        Lam1[fac], Nu1[fac] = lam1, nu1
        for kind, conf0, val, se, op in (("loading", lam0, lam1, se_l1, "=~"), ("intercept", nu0, nu1, se_n1, "~1")):
            for j, v in enumerate(its):
                inset, m = _invariant_set(val[:, j], np.maximum(se[:, j], 1e-10), n)
                for g in range(G):
                    rows.append(dict(factor=fac, param=kind, lhs=fac if op == "=~" else v, op=op,
                                     rhs=v if op == "=~" else "", group=groups[g], configural=conf0[g, j],
                                     estimate=val[g, j], se=se[g, j], invariant_mean=m, difference=val[g, j] - m,
                                     invariant=bool(inset[g])))
    table = pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)
    nonin = {g: [f"{r.lhs} {r.op} {r.rhs}".strip() for r in table[(table["group"] == g) & ~table["invariant"]]
                 .itertuples()] for g in groups}
    aligned_chisq = _aligned_chisq(d, group, groups, ind, E, Lam1, Nu1, means, variances)
    return AlignmentResult(groups, pd.DataFrame(means, index=groups), pd.DataFrame(variances, index=groups), table,
                           nonin, losses, conf, aligned_chisq, ok_all, "; ".join(warn), est, group)


def _aligned_chisq(d, group, groups, ind, E, Lam1, Nu1, means, variances):
    """ML chi-square of the aligned solution: implied moments from the aligned loadings, intercepts,
    factor means and variances (factor correlations and residual (co)variances from the configural
    fit), against each group's sample means and (biased) covariances."""
    facs = list(ind)
    obs = [v for f in facs for v in ind[f]]
    p, m = len(obs), len(facs)
    total = 0.0
    for gi, lv in enumerate(groups):
        Eg = E[E["group"] == gi + 1]
        L = np.zeros((p, m))
        nu = np.zeros(p)
        for k, f in enumerate(facs):
            for j, v in enumerate(ind[f]):
                L[obs.index(v), k] = Lam1[f][gi, j]
                nu[obs.index(v)] = Nu1[f][gi, j]
        est = {(r.lhs, r.rhs): r.estimate for r in Eg[Eg["op"] == "~~"].itertuples()}
        psi_m = np.array([est[(f, f)] for f in facs])          # configural (marker) variances
        R = np.eye(m)
        for a in range(m):
            for b in range(a + 1, m):
                c = est.get((facs[a], facs[b]), est.get((facs[b], facs[a]), 0.0))
                R[a, b] = R[b, a] = c / np.sqrt(psi_m[a] * psi_m[b])
        sd = np.sqrt([variances[f][gi] for f in facs])
        Phi = R * np.outer(sd, sd)
        alpha = np.array([means[f][gi] for f in facs])
        Th = np.zeros((p, p))
        for (a, b), val in est.items():
            if a in obs and b in obs:
                Th[obs.index(a), obs.index(b)] = Th[obs.index(b), obs.index(a)] = val
        Sig = L @ Phi @ L.T + Th
        mu = nu + L @ alpha
        X = d.loc[d[group] == lv, obs].to_numpy(dtype=float)
        ng = len(X)
        S = np.cov(X, rowvar=False, bias=True)
        xbar = X.mean(axis=0)
        Si = np.linalg.inv(Sig)
        e = xbar - mu
        F = np.linalg.slogdet(Sig)[1] + np.trace(S @ Si) - np.linalg.slogdet(S)[1] - p + e @ Si @ e
        total += ng * F
    return float(total)
