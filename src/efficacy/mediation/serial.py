"""Serial multiple mediators: PROCESS model 6 (Hayes 2018, ch. 5).

Two to four mediators in a causal chain ``x -> m1 -> m2 (-> m3) -> y``: every mediator is regressed
on ``x``, on every mediator before it in the chain and on the covariates; the outcome on ``x``, all
mediators and the covariates. The specific indirect effects are the products of the path
coefficients along each route from ``x`` to ``y`` through an ordered subset of the mediators
(``a1*b1``, ``a1*d21*b2``, ``a2*b2`` for two mediators; seven routes for three), the total
indirect effect is their sum and the pairwise contrasts are their differences (PROCESS
``contrast=1``).

Estimation and inference follow :func:`efficacy.mediation.mediate`: OLS paths (equal to lavaan's
ML estimates of this just-identified path model), delta-method standard errors from the ML
covariance of the paths (residual variance ``RSS / n``, ``fixed.x = TRUE``: the equations of a
recursive model with uncorrelated residuals are independent, so the covariance is block diagonal),
and batched bootstrap (percentile or BCa, all resamples in one weighted least-squares computation,
the BCa acceleration from closed-form leave-one-out coefficients) or Monte Carlo intervals. With
``missing="fiml"`` or ``"mi"`` the paths come from :mod:`efficacy.mediation.missing`.

Two entry points, on purpose: :func:`serial_mediation` is the public function, and
:func:`efficacy.mediation.mediate` accepts the chain syntax ``m="m1 -> m2"`` and dispatches here, so
parallel mediators (a list) and serial mediators (a chain) share one ``m=`` argument without a new
keyword in ``mediate``'s signature.

The effect algebra here (products and sums of labelled paths, their gradients, and the inference
on them from any point estimate, covariance matrix and batch of resampled paths) is shared with the
FIML and multiple-imputation mediation of :mod:`efficacy.mediation.missing`.

References
----------
Hayes, A. F. (2018). *Introduction to mediation, moderation, and conditional process analysis*
(2nd ed.), ch. 5. Guilford. (PROCESS model 6.)
Taylor, A. B., MacKinnon, D. P., & Tein, J.-Y. (2008). Tests of the three-path mediated effect.
*Organizational Research Methods, 11*(2), 241-269.
Efron, B. (1987). Better bootstrap confidence intervals. *JASA, 82*, 171-185.

R equivalent: ``lavaan::sem(model, fixed.x = TRUE)`` with ``:=`` defined parameters
(``ind1 := a1*b1``, ``ind2 := a1*d21*b2``, ...), ``parameterEstimates(boot.ci.type = "perc")``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> x = rng.integers(0, 2, 300).astype(float)
>>> m1 = 0.5 * x + rng.normal(size=300); m2 = 0.4 * m1 + rng.normal(size=300)
>>> y = 0.3 * m2 + 0.2 * m1 + rng.normal(size=300)
>>> d = pd.DataFrame({"x": x, "m1": m1, "m2": m2, "y": y})
>>> res = serial_mediation(d, "x", ["m1", "m2"], "y", n_boot=500, seed=1)
>>> list(res.specific.index)
['m1', 'm1 -> m2', 'm2']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations, pairwise

import numpy as np
import pandas as pd
from scipy import stats

from .._api import as_rng, check_columns, renamed
from .._linalg import lstsq
from ..errors import DataError
from ..resampling import bca_interval
from ..results import ResultMixin
from .observed import MIN_CASES, _boot_wls, _loo_coefs, _near_singular, _numeric

__all__ = ["CHAIN_SEP", "SERIAL_COLUMNS", "SerialMediationResult", "parse_chain", "serial_mediation"]

#: separator of the chain syntax ``m="m1 -> m2 -> m3"``
CHAIN_SEP = "->"
MAX_CHAIN = 4
#: a mediator whose R^2 on its predictors exceeds this gets a collinearity warning (VIF > 100)
COLLINEAR_R2 = 0.99

SERIAL_COLUMNS = ["effect", "mediator", "label", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high",
                  "boot_se", "ci_method", "n_boot_failed", "reason"]


def parse_chain(m):
    """``"m1 -> m2 -> m3"`` -> ``["m1", "m2", "m3"]``; ``None`` when ``m`` is not chain syntax."""
    if isinstance(m, str) and CHAIN_SEP in m:
        parts = [p.strip() for p in m.split(CHAIN_SEP)]
        if any(not p for p in parts):
            raise DataError("empty mediator name in the chain syntax", where="argument m", found=repr(m),
                            expected="'m1 -> m2 -> m3'")
        return parts
    return None


# ----------------------------------------------------------------------------- effect algebra
def path_labels(k, structure):
    """Labels of the structural paths, in the order of the parameter vector.

    ``a{j}`` (x -> m_j), for ``structure="serial"`` ``d{j}{i}`` (m_i -> m_j, i < j), ``b{j}``
    (m_j -> y) and ``cp`` (x -> y). Returns the labels and the equations as
    ``[(lhs_index, [(predictor_index, label), ...]), ...]`` over the variable order
    ``[x, m_1..m_k, y]`` (index 0 = x, j = m_j, k + 1 = y).
    """
    a = [f"a{j + 1}" for j in range(k)]
    d = [f"d{j + 1}{i + 1}" for j in range(k) for i in range(j)] if structure == "serial" else []
    b = [f"b{j + 1}" for j in range(k)]
    eqs = []
    for j in range(k):
        preds = [(0, a[j])]
        if structure == "serial":
            preds += [(i + 1, f"d{j + 1}{i + 1}") for i in range(j)]
        eqs.append((j + 1, preds))
    eqs.append((k + 1, [(0, "cp")] + [(j + 1, b[j]) for j in range(k)]))
    return a + d + b + ["cp"], eqs


def routes(k, structure):
    """Routes from x to y through the mediators: tuples of mediator indices (0-based), PROCESS order
    (grouped by the first mediator: (0,), (0, 1), (0, 2), (0, 1, 2), (1,), ...)."""
    if structure != "serial":
        return [(j,) for j in range(k)]
    out = []
    for first in range(k):
        rest = list(range(first + 1, k))
        for r in range(len(rest) + 1):
            out += [(first, *c) for c in combinations(rest, r)]
    return out


def _route_labels(route):
    labs = [f"a{route[0] + 1}"]
    labs += [f"d{j + 1}{i + 1}" for i, j in pairwise(route)]
    return labs + [f"b{route[-1] + 1}"]


@dataclass
class _Effect:
    """One row of an effect table: a polynomial in the paths (``terms``: (coefficient, label indices))
    or, with ``ratio``, the quotient of two earlier rows (their positions)."""

    effect: str
    mediator: str
    label: str
    terms: list = field(default_factory=list)
    ratio: tuple | None = None


def effect_defs(ms, structure, *, contrasts=True):
    """Effect rows of a mediation model with mediators ``ms`` (see :func:`path_labels`).

    ``structure="parallel"``: the row layout of :func:`efficacy.mediation.mediate` (a_j, b_j, direct,
    total, indirect_j, total indirect, prop_mediated). ``"serial"``: a_j, d_ji, b_j, direct, every
    specific indirect effect, total indirect, total, pairwise contrasts (PROCESS ``contrast=1``),
    prop_mediated. Returns (labels, equations, rows).
    """
    k = len(ms)
    labels, eqs = path_labels(k, structure)
    pos = {lab: i for i, lab in enumerate(labels)}
    rts = routes(k, structure)
    ind_terms = [(1.0, tuple(pos[lab] for lab in _route_labels(r))) for r in rts]
    ind_rows = [_Effect("indirect", " -> ".join(ms[i] for i in r), "*".join(_route_labels(r)), [t])
                for r, t in zip(rts, ind_terms)]
    ind_total = _Effect("indirect", "total", "+".join(row.label for row in ind_rows), list(ind_terms))
    direct = _Effect("direct", "", "cp", [(1.0, (pos["cp"],))])
    total = _Effect("total", "", "cp+" + ind_total.label, [(1.0, (pos["cp"],))] + list(ind_terms))
    paths = [_Effect("a", ms[j], f"a{j + 1}", [(1.0, (pos[f"a{j + 1}"],))]) for j in range(k)]
    if structure == "serial":
        paths += [_Effect("d", f"{ms[i]} -> {ms[j]}", f"d{j + 1}{i + 1}", [(1.0, (pos[f"d{j + 1}{i + 1}"],))])
                  for j in range(k) for i in range(j)]
    paths += [_Effect("b", ms[j], f"b{j + 1}", [(1.0, (pos[f"b{j + 1}"],))]) for j in range(k)]
    if structure == "parallel":
        rows = paths + [direct, total] + ind_rows + [ind_total]
        i_ind, i_tot = len(rows) - 1, 2 * k + 1
    else:
        rows = paths + [direct] + ind_rows + [ind_total, total]
        i_ind, i_tot = len(rows) - 2, len(rows) - 1
        if contrasts:
            for (i, ri), (j, rj) in combinations(enumerate(ind_rows), 2):
                rows.append(_Effect("contrast", f"({ri.mediator}) - ({rj.mediator})", f"{ri.label}-{rj.label}",
                                    [ind_terms[i], (-1.0, ind_terms[j][1])]))
    rows.append(_Effect("prop_mediated", "", f"({ind_total.label})/({total.label})", ratio=(i_ind, i_tot)))
    return labels, eqs, rows


def evaluate(rows, T):
    """Effect values for a batch of path vectors T (B, P) -> (B, E)."""
    T = np.atleast_2d(T)
    out = np.empty((T.shape[0], len(rows)))
    for e, row in enumerate(rows):
        if row.ratio is None:
            v = np.zeros(T.shape[0])
            for c, idx in row.terms:
                v = v + c * np.prod(T[:, list(idx)], axis=1)
            out[:, e] = v
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, e] = out[:, row.ratio[0]] / out[:, row.ratio[1]]
    return out


def gradients(rows, t):
    """Gradient of every effect at the path vector t (P,) -> (E, P), or for a batch T (B, P) ->
    (B, E, P) (delta method)."""
    t = np.asarray(t, float)
    T = np.atleast_2d(t)
    G = np.zeros((T.shape[0], len(rows), T.shape[1]))
    val = evaluate(rows, T)
    for e, row in enumerate(rows):
        if row.ratio is None:
            for c, idx in row.terms:
                for p, j in enumerate(idx):
                    others = [i for q, i in enumerate(idx) if q != p]
                    G[:, e, j] += c * np.prod(T[:, others], axis=1)
        else:
            i, j = row.ratio
            with np.errstate(divide="ignore", invalid="ignore"):
                G[:, e] = (G[:, i] * val[:, j, None] - val[:, i, None] * G[:, j]) / val[:, j, None] ** 2
    return G[0] if t.ndim == 1 else G


def infer(rows, t, V, *, ci, level, T_boot=None, T_jack=None, n_draws=0, rng=None):
    """Estimates, delta-method SEs and intervals of the effects.

    ``t`` (P,) and ``V`` (P, P): path estimates and their covariance. ``ci``: "bca" / "percentile"
    use the resampled paths ``T_boot`` (B, P; NaN rows = failed resamples; ``T_jack`` (n, P) the
    leave-one-out paths for the BCa acceleration); "montecarlo" draws ``n_draws`` paths from
    N(t, V) with ``rng``; "delta" gives normal-theory intervals. Returns a dict of arrays
    (est, se, lo, hi, boot_se) and ``n_valid``.
    """
    est = evaluate(rows, t[None, :])[0]
    G = gradients(rows, t)
    se = np.sqrt(np.clip(np.einsum("ep,pq,eq->e", G, V, G), 0, None))
    alpha = (1 - level) / 2
    if ci == "montecarlo" and n_draws:
        D = rng.multivariate_normal(t, V, size=int(n_draws), method="eigh")
        sim = evaluate(rows, D)
        n_valid = int(np.isfinite(sim[:, :-1]).all(axis=1).sum())
        lo, hi = np.nanquantile(sim, [alpha, 1 - alpha], axis=0)
        boot_se = np.nanstd(sim, axis=0, ddof=1)
    elif ci in ("bca", "percentile") and T_boot is not None:
        boot = evaluate(rows, T_boot)
        n_valid = int(np.isfinite(T_boot).all(axis=1).sum())
        boot_se = np.nanstd(boot, axis=0, ddof=1) if n_valid > 1 else np.full(est.shape, np.nan)
        if n_valid < 10:
            lo = hi = np.full(est.shape, np.nan)
        elif ci == "bca":
            lo, hi = bca_interval(boot, est, evaluate(rows, T_jack), level)
        else:
            lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
    else:
        zc = stats.norm.ppf(1 - alpha)
        lo, hi = est - zc * se, est + zc * se
        boot_se = np.full(est.shape, np.nan)
        n_valid = 0
    return dict(est=est, se=se, lo=np.asarray(lo, float), hi=np.asarray(hi, float),
                boot_se=np.asarray(boot_se, float), n_valid=n_valid)


def effect_table(rows, res, ci_name, n_failed, reason):
    """Tidy table of :func:`infer`'s output (columns :data:`SERIAL_COLUMNS`)."""
    est, se = res["est"], res["se"]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    return pd.DataFrame({
        "effect": [r.effect for r in rows], "mediator": [r.mediator for r in rows],
        "label": [r.label for r in rows], "estimate": est, "se": se, "statistic": z,
        "pvalue": 2 * stats.norm.sf(np.abs(z)), "ci_low": res["lo"], "ci_high": res["hi"],
        "boot_se": res["boot_se"], "ci_method": ci_name, "n_boot_failed": int(n_failed), "reason": reason,
    }, columns=SERIAL_COLUMNS)


# ----------------------------------------------------------------------------- result
def _clean(v):
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass
class SerialMediationResult(ResultMixin):
    """Result of :func:`serial_mediation` (PROCESS model 6).

    Attributes
    ----------
    x, m, y, covariates
        The roles; ``m`` lists the mediators in chain order.
    n : int
        Cases used (complete cases; with FIML the cases with an observed treatment and covariates;
        with MI all rows).
    n_rows : int
        Rows in the data.
    missing : str
        "listwise", "fiml" or "mi".
    n_boot, n_boot_valid : int
        Resamples (or Monte Carlo draws) requested and usable.
    ci_method : str
        "bca", "percentile", "montecarlo", "delta" or "rubin" (multiple imputation).
    ci_level : float
    indirect, ci, direct, total : float, tuple
        Total indirect effect with its interval (``ci``), direct and total effects.
    table : pandas.DataFrame
        One row per path and effect (:data:`SERIAL_COLUMNS`).
    paths : pandas.Series
        Path estimates by label (a1, d21, b1, cp, ...); ``vcov`` their covariance.
    reason, warnings
        Why rows are NA; notes on collinearity, failed resamples, dropped cases.
    converged : bool
        False when a fit (FIML optimiser, MI chains) did not converge; then estimates are NA.
    """

    x: str
    m: list
    y: str
    covariates: list
    n: int
    n_rows: int
    missing: str
    n_boot: int
    n_boot_valid: int
    ci_method: str
    ci_level: float
    table: pd.DataFrame = field(repr=False)
    paths: pd.Series = field(repr=False, default=None)
    vcov: pd.DataFrame = field(repr=False, default=None)
    reason: str = ""
    warnings: list = field(default_factory=list)
    converged: bool = True
    n_imputations: int = 0

    _headline = ("indirect", "ci", "direct", "total", "n")
    _title = "Serial mediation (PROCESS model 6)"
    _summary_columns = ("effect", "mediator", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high")

    @property
    def n_boot_failed(self) -> int:
        return self.n_boot - self.n_boot_valid if self.ci_method in ("bca", "percentile", "montecarlo") else 0

    @property
    def ci(self) -> tuple:
        """Interval of the total indirect effect."""
        t = self.table
        r = t[(t["effect"] == "indirect") & (t["mediator"] == "total")].iloc[0]
        return float(r["ci_low"]), float(r["ci_high"])

    def _get(self, effect, mediator=""):
        t = self.table
        return float(t.loc[(t["effect"] == effect) & (t["mediator"] == mediator), "estimate"].iloc[0])

    @property
    def indirect(self) -> float:
        """Total indirect effect (sum of the specific indirect effects)."""
        return self._get("indirect", "total")

    @property
    def direct(self) -> float:
        return self._get("direct")

    @property
    def total(self) -> float:
        return self._get("total")

    @property
    def specific(self) -> pd.Series:
        """Specific indirect effects, indexed by route (``"m1"``, ``"m1 -> m2"``, ...)."""
        t = self.table[(self.table["effect"] == "indirect") & (self.table["mediator"] != "total")]
        return pd.Series(t["estimate"].to_numpy(), index=t["mediator"].to_list(), name="estimate")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: effect, mediator (route), label (lavaan product), estimate, se, statistic, pvalue,
        ci_low, ci_high, boot_se, ci_method, n_boot_failed, reason."""
        return self.table.copy()

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary of the result."""
        return {
            "result": type(self).__name__,
            "model": "PROCESS model 6 (serial mediators)", "x": self.x, "m": list(self.m),
            "y": self.y, "covariates": list(self.covariates), "n": int(self.n), "n_rows": int(self.n_rows),
            "missing": self.missing, "n_imputations": int(self.n_imputations), "n_boot": int(self.n_boot),
            "n_boot_valid": int(self.n_boot_valid), "ci_method": self.ci_method, "ci_level": float(self.ci_level),
            "converged": bool(self.converged), "reason": self.reason, "warnings": list(self.warnings),
            "table": [{k: _clean(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")],
        }

    def summary(self) -> str:
        """Plain-text table of the paths and effects."""
        pct = f"{100 * self.ci_level:g}%"
        head = (f"Serial mediation (PROCESS model 6): {self.x} -> {' -> '.join(self.m)} -> {self.y}; "
                f"n = {self.n} of {self.n_rows} rows ({self.missing})"
                + (f", {self.n_imputations} imputations" if self.n_imputations else ""))
        ci_txt = {"bca": "BCa bootstrap", "percentile": "percentile bootstrap", "montecarlo": "Monte Carlo",
                  "delta": "delta-method", "rubin": "Rubin's rules"}.get(self.ci_method, self.ci_method)
        lines = [head, f"  {pct} CI: {ci_txt}" + (f" ({self.n_boot_valid}/{self.n_boot} valid)"
                                                    if self.ci_method in ("bca", "percentile", "montecarlo") else ""),
                 f"  {'effect':14s}{'route':34s}{'estimate':>10s}{'se':>9s}{'ci_low':>10s}{'ci_high':>10s}"]
        for r in self.table.itertuples():
            lines.append(f"  {r.effect:14s}{r.mediator[:33]:34s}{r.estimate:10.4f}{r.se:9.4f}"
                         f"{r.ci_low:10.4f}{r.ci_high:10.4f}")
        lines += [f"  note: {w}" for w in ([self.reason] if self.reason else []) + list(self.warnings)]
        return "\n".join(lines)

    def __repr__(self):
        return (f"SerialMediationResult({self.x} -> {' -> '.join(self.m)} -> {self.y}, n={self.n}, "
                f"missing={self.missing!r}, indirect={self.indirect:.4f}, ci_method={self.ci_method!r}"
                + (f", reason={self.reason!r}" if self.reason else "") + ")")


# ----------------------------------------------------------------------------- input checks
def check_roles(data, x, ms, y, covariates, *, structure="serial"):
    """Validate the role arguments (types, presence, distinctness, chain length)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError("data must be a pandas DataFrame", found=type(data).__name__)
    cols = [x, *ms, y, *covariates]
    for c in cols:
        if not isinstance(c, str):
            raise DataError(f"columns are named by strings, got {c!r}", found=repr(c), expected="a column name")
    check_columns(data, [("treatment x", x), ("mediator m", ms), ("outcome y", y), ("covariate", covariates)])
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataError(f"a column is used in two roles: {dup}", where=f"column {dup[0]!r}", found=repr(cols))
    if structure == "serial" and not 2 <= len(ms) <= MAX_CHAIN:
        raise DataError(f"a serial chain needs 2 to {MAX_CHAIN} mediators", where="argument m",
                        found=f"{len(ms)}: {ms!r}",
                        expected="a list in chain order, e.g. ['m1', 'm2'], or 'm1 -> m2'; one mediator: mediate()")
    for c in cols:
        if data[c].isna().all():
            raise DataError(f"role variable {c!r} is missing in every row", where=f"column {c!r}",
                            found=f"{len(data)} missing values", expected="some observed values")
    return cols


def design(Z, eqs, k, names):
    """Design matrices (with intercept) and targets of the equations over Z = [x, m_1..m_k, y, C]."""
    n = Z.shape[0]
    C = Z[:, k + 2:]
    out = []
    for lhs, preds in eqs:
        X = np.column_stack([np.ones(n), *(Z[:, i] for i, _ in preds), C])
        xn = ["(intercept)", *(names[i] for i, _ in preds), *names[k + 2:]]
        out.append((X, Z[:, [lhs]], xn, [lab for _, lab in preds]))
    return out


def _check_exact(designs):
    for X, _, xn, _ in designs:
        if np.linalg.matrix_rank(X) < X.shape[1]:
            for i in range(2, X.shape[1] + 1):
                if np.linalg.matrix_rank(X[:, :i]) < i:
                    raise DataError(
                        f"perfect collinearity: column {xn[i - 1]!r} is a linear combination of {xn[:i - 1]}",
                        where=f"column {xn[i - 1]!r}", expected="mediators and covariates that are not "
                        "linear combinations of the variables before them in the chain")


def _ml_paths(designs, labels):
    """OLS slopes of every equation and their ML covariance (RSS / n; block diagonal across equations)."""
    P = len(labels)
    pos = {lab: i for i, lab in enumerate(labels)}
    t = np.zeros(P)
    V = np.zeros((P, P))
    r2 = []
    for X, T, xn, labs in designs:
        n = X.shape[0]
        beta = lstsq(X, T[:, 0])
        e = T[:, 0] - X @ beta
        s2 = e @ e / n
        iv = np.linalg.inv(X.T @ X) * s2
        idx = [pos[lab] for lab in labs]
        t[idx] = beta[1:1 + len(labs)]
        V[np.ix_(idx, idx)] = iv[1:1 + len(labs), 1:1 + len(labs)]
        tt = T[:, 0] - T[:, 0].mean()
        r2.append(1 - e @ e / (tt @ tt) if tt @ tt > 0 else np.nan)
    return t, V, r2


def _slopes(betas, designs, labels, B):
    """Batched equation coefficients -> path matrix (B, P) (NaN rows where any equation failed)."""
    pos = {lab: i for i, lab in enumerate(labels)}
    T = np.full((B, len(labels)), np.nan)
    for (beta, ok), (_, _, _, labs) in zip(betas, designs):
        T[:, [pos[lab] for lab in labs]] = beta[:, 1:1 + len(labs), 0]
    return T


# ----------------------------------------------------------------------------- public
@renamed(level="ci_level", ci="ci_method", treatment="x", mediator="m", outcome="y")
def serial_mediation(data, x, m, y, *, covariates=(), n_boot=5000, ci_method="bca", seed=None, ci_level=0.95,
                     missing="listwise", contrasts=True, n_imputations=20):
    """Serial multiple mediator model (PROCESS model 6): specific, total indirect effects and contrasts.

    Parameters
    ----------
    data : pandas.DataFrame
    x, y : str
        Treatment and outcome columns.
    m : list of str or str
        Two to four mediators in chain order (``["m1", "m2"]``), or the chain syntax ``"m1 -> m2"``.
    covariates : sequence of str
        Entered in every equation.
    n_boot : int
        Bootstrap resamples or Monte Carlo draws (0: delta-method intervals).
    ci_method : {"bca", "percentile", "montecarlo"}
        Batched nonparametric bootstrap (BCa, Efron 1987, or percentile) or Monte Carlo intervals
        (draws of the paths from their asymptotic normal distribution, Preacher & Selig 2012).
    seed : int, numpy.random.Generator or None
    ci_level : float
    missing : {"listwise", "fiml", "mi"}
        "listwise": complete cases. "fiml": full-information ML in the SEM engine (lavaan
        ``missing = "ml"``), bootstrap by batched EM (see :mod:`efficacy.mediation.missing`).
        "mi": multiple imputation by chained equations with Rubin's rules.
    contrasts : bool
        Add the pairwise differences of the specific indirect effects.
    n_imputations : int
        Imputations for ``missing="mi"``.

    Returns
    -------
    SerialMediationResult
        ``table`` rows: ``a`` (x -> m_j), ``d`` (m_i -> m_j), ``b`` (m_j -> y), ``direct`` (c'),
        ``indirect`` per route (``mediator`` = ``"m1"``, ``"m1 -> m2"``, ...; ``label`` = the product
        of lavaan labels, e.g. ``a1*d21*b2``), ``indirect``/``total``, ``total`` (c' + total
        indirect, equal to the coefficient of x in the regression of y on x and the covariates),
        ``contrast`` rows and ``prop_mediated``. ``se`` is the delta-method SE with ML residual
        variances (equal to lavaan's ``:=`` SEs with ``fixed.x = TRUE``).

    Raises
    ------
    efficacy.errors.DataError
        Unknown columns, a column in two roles, fewer than two or more than four mediators, a role
        variable missing in every row, too few cases, a constant treatment or mediator, exact
        collinearity (names the column). A near-singular design gives NA rows with a ``reason``; a
        mediator almost determined by the earlier variables (R^2 > 0.99) is named in ``warnings``.

    Notes
    -----
    Matches ``lavaan::sem(fixed.x = TRUE)`` with ``:=`` products of labelled paths (Hayes 2018,
    ch. 5; PROCESS model 6). The specific indirect effect through ``m_i -> ... -> m_j`` is
    ``a_i d_.. b_j``; the total effect equals c' plus the sum of all specific indirect effects.
    """
    ci = ci_method
    ms = parse_chain(m) if isinstance(m, str) else list(m)
    if ms is None:
        ms = [m]
    covariates = list(covariates)
    if ci not in ("bca", "percentile", "montecarlo"):
        raise DataError(f"ci must be 'bca', 'percentile' or 'montecarlo', got {ci!r}", where="argument ci")
    if not 0 < ci_level < 1:
        raise DataError(f"ci_level must lie in (0, 1), got {ci_level!r}", where="argument ci_level")
    if missing not in ("listwise", "fiml", "mi"):
        raise DataError(f"missing must be 'listwise', 'fiml' or 'mi', got {missing!r}", where="argument missing")
    check_roles(data, x, ms, y, covariates, structure="serial")
    if missing != "listwise":
        from .missing import missing_mediation
        return missing_mediation(data, x, ms, y, covariates=covariates, n_boot=n_boot, ci_method=ci, seed=seed,
                                 ci_level=ci_level, missing=missing, structure="serial", contrasts=contrasts,
                                 n_imputations=n_imputations)
    k = len(ms)
    names = [x, *ms, y, *covariates]
    d = _numeric(data, names)
    n = len(d)
    labels, eqs, rows = effect_defs(ms, "serial", contrasts=contrasts)
    p_max = k + 2 + len(covariates)
    if n < max(MIN_CASES, p_max + 2):
        raise DataError(f"too few complete cases: {n} on columns {names}", found=str(n),
                        expected=f"at least {max(MIN_CASES, p_max + 2)}")
    Z = d.to_numpy(float)
    for j, c in enumerate(names[: k + 1]):
        if np.ptp(Z[:, j]) == 0:
            raise DataError(f"{'treatment' if j == 0 else 'mediator'} column {c!r} is constant in the complete "
                            "cases", where=f"column {c!r}", found=f"the single value {Z[0, j]:g}")
    designs = design(Z, eqs, k, names)
    _check_exact(designs)
    common = dict(x=x, m=ms, y=y, covariates=covariates, n=n, n_rows=len(data), missing="listwise",
                  n_boot=int(n_boot or 0), ci_level=ci_level)
    reason = ""
    for X, _, xn, _ in designs:
        reason = reason or _near_singular(X, xn)
    if reason:
        nan = np.full(len(rows), np.nan)
        res = dict(est=nan, se=nan, lo=nan, hi=nan, boot_se=nan)
        ci_name = ci if n_boot else "delta"
        return SerialMediationResult(**common, n_boot_valid=0, ci_method=ci_name,
                                     table=effect_table(rows, res, ci_name, 0, reason), reason=reason,
                                     converged=False)
    t, V, r2 = _ml_paths(designs, labels)
    warnings = [f"mediator {ms[j]!r} is almost collinear with the variables before it in the chain "
                f"(R^2 = {r2[j]:.4f} on {designs[j][2][1:]}): the paths through it are poorly determined"
                for j in range(k) if r2[j] > COLLINEAR_R2]
    rng = as_rng(seed)
    T_boot = T_jack = None
    ci_name = ci if n_boot else "delta"
    if n_boot and ci in ("bca", "percentile"):
        fits = _boot_wls([(X, T) for X, T, _, _ in designs], rng, int(n_boot))
        T_boot = _slopes(fits, designs, labels, int(n_boot))
        if ci == "bca":
            jack = [(_loo_coefs(X, T), None) for X, T, _, _ in designs]
            T_jack = _slopes(jack, designs, labels, n)
    res = infer(rows, t, V, ci=ci_name, level=ci_level, T_boot=T_boot, T_jack=T_jack, n_draws=int(n_boot or 0),
                rng=rng)
    n_failed = int(n_boot) - res["n_valid"] if ci_name != "delta" else 0
    if n_failed:
        warnings.append(f"{n_failed} of {int(n_boot)} {'draws' if ci == 'montecarlo' else 'bootstrap resamples'} "
                        f"failed (near-singular design in the resample) and were dropped"
                        + ("; too few valid resamples for an interval (CI is NA)" if res["n_valid"] < 10 else ""))
    table = effect_table(rows, res, ci_name, n_failed, "; ".join(warnings))
    return SerialMediationResult(**common, n_boot_valid=res["n_valid"], ci_method=ci_name, table=table,
                                 paths=pd.Series(t, index=labels), vcov=pd.DataFrame(V, index=labels, columns=labels),
                                 warnings=warnings)
