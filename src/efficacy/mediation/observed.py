"""Mediation analysis: does efficacy carry the effect, or only go along with it?

Product-of-coefficients mediation (Baron & Kenny 1986; MacKinnon 2008; Hayes 2018,
PROCESS model 4 with parallel mediators) with delta-method standard errors that
match ``lavaan::sem(fixed.x=TRUE)`` ``:=`` defined parameters, batched bootstrap
(percentile or BCa, Efron 1987) confidence intervals, and the closed-form
sensitivity analysis to sequential ignorability of Imai, Keele & Yamamoto (2010,
*Statistical Science* 25, 51-71), which R's ``mediation::medsens`` implements for
a linear mediator and a linear outcome model without interaction.

Conventions
-----------
* Point estimates are OLS, identical to ``lm()`` and to lavaan's ML estimates of
  the same just-identified path model.
* Standard errors of paths and of the delta-method effects use the ML residual
  variance ``RSS / n`` (lavaan ``estimator="ML"``, ``fixed.x=TRUE``), not ``lm()``'s
  ``RSS / (n - p)``. The residual covariance of parallel mediators is free (lavaan's
  default for endogenous variables), so ``Cov(a_j, a_k) = S_jk [(X'X)^-1]_xx``;
  a-paths and b-paths are uncorrelated. This reproduces lavaan's SEs to 1e-6.
* Bootstrap: all resamples in one batched weighted least-squares computation (case-count
  weights times per-case cross-product features, one matrix product for every equation,
  batched ``np.linalg.solve``); BCa acceleration from the closed-form leave-one-out
  coefficients (rank-one downdates through the hat matrix, no refits).
* Numerical failure is never a silent number: a near-singular design gives NA effects with a
  ``reason`` naming the column; bootstrap resamples whose design is near-singular are dropped,
  counted (``n_boot_failed``) and stated in the ``reason`` column.
* Moderated mediation (:func:`moderated_mediation`): Hayes' PROCESS models 7 and 14,
  conditional indirect effects and the index of moderated mediation (Hayes 2015), checked
  against lavaan ``:=`` parameters.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> x = rng.integers(0, 2, 300); m = 0.5 * x + rng.normal(size=300)
>>> y = 0.4 * m + rng.normal(size=300)
>>> res = mediate(pd.DataFrame({"x": x, "m": m, "y": y}), "x", "m", "y", n_boot=500, seed=1)
>>> tab = res.to_frame()
>>> bool(res.ci[0] < res.indirect < res.ci[1])
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import as_rng, check_columns, renamed

# least squares and the one near-singularity rule live in efficacy._linalg; the old private names stay
# importable from here (moderated, serial and sensitivity use them)
from .._linalg import (  # noqa: F401
    SINGULAR_TOL,
    _det_above_tol,
    near_singular_column,
)
from .._linalg import cross_products as _features
from .._linalg import loo_coefs as _loo_coefs
from .._linalg import lstsq as _lstsq
from .._linalg import solve_many as _solve_many
from .._linalg import solve_normal as _solve  # noqa: F401
from .._linalg import wls as _wls  # noqa: F401
from .._linalg import wls_many as _wls_many  # noqa: F401
from ..errors import DataError as _InputError
from ..resampling import bca_interval, boot_products
from ..results import ResultMixin

__all__ = ["MediationResult", "mediate"]

MIN_CASES = 10


def _err(message, column=None):
    try:
        return _InputError(message, where=None if column is None else f"column {column!r}")
    except TypeError:  # plain ValueError
        return ValueError(message)


# ----------------------------------------------------------------------------- data
def _numeric(data, cols, *, keep_na=False):
    """``data[cols]`` as floats, complete cases only (``keep_na``: every row, NaN kept); a non-numeric
    value is an error naming the column and row (never silently turned into a missing value)."""
    raw = data[cols]
    if all(dt.kind in "fiu" for dt in raw.dtypes):  # numbers already: nothing to coerce or report
        d = raw
    else:
        d = raw.apply(pd.to_numeric, errors="coerce")
        bad = d.isna() & raw.notna()
        if bad.to_numpy().any():
            c = bad.any(axis=0).idxmax()
            r = bad[c].idxmax()
            raise _err(f"column {c!r} is not numeric: value {raw.at[r, c]!r} in row {r!r}", c)
    if keep_na:
        return d.astype(float)
    return d.dropna() if d.isna().to_numpy().any() else d


def _prepare(data, x, ms, y, covariates):
    cols = [x, *ms, y, *covariates]
    for c in cols:
        if not isinstance(c, str):
            raise _err(f"columns are named by strings, got {c!r} (in {cols!r})")
    check_columns(data, [("treatment x", x), ("mediator m", ms), ("outcome y", y), ("covariate", covariates)],
                  error=_InputError)
    if len(set(cols)) != len(cols):
        raise _err(f"a column is used in two roles: {cols}")
    d = _numeric(data, cols)
    n = len(d)
    p_max = 2 + len(ms) + len(covariates)
    if n < max(MIN_CASES, p_max + 2):
        raise _err(
            f"too few complete cases: {n} on columns {cols}; need at least {max(MIN_CASES, p_max + 2)}"
        )
    X = d[x].to_numpy(float)
    if np.ptp(X) == 0:
        raise _err(f"treatment column {x!r} is constant in the complete cases", x)
    Y = d[y].to_numpy(float)
    M = d[list(ms)].to_numpy(float)
    for j, mj in enumerate(ms):
        if np.ptp(M[:, j]) == 0:
            raise _err(f"mediator column {mj!r} is constant", mj)
        if np.allclose(M[:, j], Y) or abs(np.corrcoef(M[:, j], Y)[0, 1]) > 1 - 1e-10:
            raise _err(f"mediator {mj!r} is identical (perfectly correlated) to outcome {y!r}", mj)
    C = d[list(covariates)].to_numpy(float).reshape(n, len(covariates))
    one = np.ones((n, 1))
    Xa = np.column_stack([one, X, C])  # mediator models, x at column 1
    Xb = np.column_stack([one, X, M, C])  # outcome model: x at 1, mediators at 2..k+1
    names = ["(intercept)", x, *ms, *covariates]
    if np.linalg.matrix_rank(Xb) < Xb.shape[1]:
        # find the first column that is a linear combination of the ones before it
        for i in range(2, Xb.shape[1] + 1):
            if np.linalg.matrix_rank(Xb[:, :i]) < i:
                raise _err(
                    f"perfect collinearity: column {names[i - 1]!r} is a linear combination of "
                    f"{names[: i - 1]}",
                    names[i - 1],
                )
    return Xa, Xb, M, Y, n


def _near_singular(X, names):
    """Reason string when the design ``X`` fails the near-singularity check of :func:`_wls`, else ""."""
    j, message = near_singular_column(X, names)
    return "" if j is None else f"{message}, so the paths are not estimable"


def _boot_wls(designs, rng, n_boot, chunk=None, features=None):
    """Bootstrap fits of several equations: ``n_boot`` resamples of the n cases drawn by
    ``rng.integers(0, n, size=(n_boot, n))``, row block by row block.

    Each block of resample indices becomes case-count weights that are multiplied into the
    features (:func:`_features`) at once, so memory stays O(chunk * n) whatever ``n_boot``. The
    draws are those of one ``(n_boot, n)`` call: numpy's PCG64 keeps its spare 32-bit half-word
    in the bit generator state, so consecutive calls continue the same stream (checked in
    tests/test_mediation.py). ``features``: the ``(F, maps)`` of :func:`_features` for these
    designs when the caller has them already. Returns a list of ``(beta (n_boot,p,k), ok (n_boot,))``.
    """
    F, maps = features if features is not None else _features(designs)
    return _solve_many(boot_products(F, rng, n_boot, chunk), maps)


def _effects_from(ba, bb, k):
    """Effects from coefficient stacks ba (B,pa,k), bb (B,pb,1): columns a_1..a_k, b_1..b_k,
    direct, total, ind_1..ind_k, ind, pm."""
    a = ba[:, 1, :]
    b = bb[:, 2 : 2 + k, 0]
    cp = bb[:, 1, 0]
    ind = a * b
    ind_t = ind.sum(axis=1)
    tot = cp + ind_t
    with np.errstate(divide="ignore", invalid="ignore"):
        pm = ind_t / tot
    return np.column_stack([a, b, cp, tot, ind, ind_t, pm])


def _effects(Xa, Xb, M, Y, W, features=None):
    """Effects for each weight row (see :func:`_effects_from`); ``features`` as in :func:`_boot_wls`."""
    F, maps = features if features is not None else _features([(Xa, M), (Xb, Y[:, None])])
    (ba, _), (bb, _) = _solve_many(W @ F, maps)
    return _effects_from(ba, bb, M.shape[1])


# ----------------------------------------------------------------------------- results
class _BootstrapTable:
    """What the bootstrap-table mediation results share (:class:`MediationResult`,
    :class:`~efficacy.mediation.moderated.ModeratedMediationResult`): the count of failed resamples
    and the notes under their ``repr``. Needs the fields ``n_boot``, ``n_boot_valid``, ``reason``,
    ``warnings``."""

    @property
    def n_boot_failed(self) -> int:
        """Bootstrap resamples (or Monte Carlo draws) whose fit failed and were dropped."""
        return self.n_boot - self.n_boot_valid if self.n_boot else 0

    def _notes_text(self) -> str:
        return "".join(f"\n  note: {w}" for w in ([self.reason] if self.reason else []) + self.warnings)


@dataclass
class MediationResult(_BootstrapTable, ResultMixin):
    """Result of :func:`mediate`. ``table`` is the tidy table (see :meth:`to_frame`).

    Attributes
    ----------
    a, b : float or dict
        The paths X -> M and M -> Y (one float per mediator; a dict ``{mediator: value}`` with
        several mediators).
    indirect, direct, total, prop_mediated : float
        Total indirect effect (sum of a_j b_j), direct effect c', total effect c and the
        proportion mediated.
    indirect_ci, ci : tuple
        Interval of the total indirect effect (``ci`` is the same), from ``ci_method`` at
        ``ci_level``.
    x, m, y, covariates : str, list, str, list
        The columns analysed (``m`` lists the mediators).
    """

    x: str
    m: list
    y: str
    covariates: list
    n: int
    n_boot: int
    n_boot_valid: int
    ci_method: str
    ci_level: float
    table: pd.DataFrame = field(repr=False)
    reason: str = ""
    warnings: list = field(default_factory=list)

    _headline = ("a", "b", "indirect", "indirect_ci", "direct", "total", "prop_mediated", "n")
    _title = "Mediation by OLS paths (PROCESS model 4)"
    _summary_columns = ("effect", "mediator", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high")

    def _row(self, effect, mediator=""):
        t = self.table
        return t[(t["effect"] == effect) & (t["mediator"] == mediator)].iloc[0]

    def _get(self, effect, mediator=""):
        return float(self._row(effect, mediator)["estimate"])

    def _per_mediator(self, effect):
        vals = {mj: self._get(effect, mj) for mj in self.m}
        return vals[self.m[0]] if len(self.m) == 1 else vals

    @property
    def a(self):
        """Path X -> M (a dict per mediator when there are several)."""
        return self._per_mediator("a")

    @property
    def b(self):
        """Path M -> Y given X (a dict per mediator when there are several)."""
        return self._per_mediator("b")

    @property
    def _indirect_key(self):
        return "total" if len(self.m) > 1 else self.m[0]

    @property
    def indirect(self) -> float:
        """Total indirect effect (sum of a_j * b_j)."""
        return self._get("indirect", self._indirect_key)

    @property
    def indirect_ci(self) -> tuple:
        """Interval of the total indirect effect (``ci_method`` at ``ci_level``)."""
        r = self._row("indirect", self._indirect_key)
        return float(r["ci_low"]), float(r["ci_high"])

    @property
    def ci(self) -> tuple:
        """Interval of the total indirect effect (same as :attr:`indirect_ci`)."""
        return self.indirect_ci

    @property
    def direct(self) -> float:
        """Direct effect c' (X -> Y given the mediators)."""
        return self._get("direct")

    @property
    def total(self) -> float:
        """Total effect c = c' + sum of a_j b_j."""
        return self._get("total")

    @property
    def prop_mediated(self) -> float:
        """Proportion mediated, indirect / total."""
        return self._get("prop_mediated")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: effect, mediator, estimate, se, ci_low, ci_high, pvalue, statistic (z), boot_se,
        ci_method, sobel_statistic, sobel_pvalue, n_boot_failed, reason (why the row is NA, or a note on
        failed resamples)."""
        return self.table.copy()

    def __repr__(self):
        t = self.table
        rows = "\n".join(
            f"  {r.effect:9s} {r.mediator:12s} {r.estimate: .4f} [{r.ci_low: .4f}, {r.ci_high: .4f}]"
            for r in t.itertuples()
        )
        notes = self._notes_text()
        return (
            f"MediationResult({self.x} -> {self.m} -> {self.y}, n={self.n}, "
            f"{self.ci_method} CI from {self.n_boot_valid}/{self.n_boot} resamples, ci_level={self.ci_level})\n"
            f"{rows}{notes}"
        )


@renamed(level="ci_level", ci="ci_method", treatment="x", mediator="m", outcome="y")
def mediate(data, x, m, y, *, covariates=(), n_boot=5000, ci_method="bca", seed=None, ci_level=0.95,
            missing="listwise"):
    """Mediation of x -> m (one or several parallel mediators) -> y by OLS paths.

    Parameters
    ----------
    data : pandas.DataFrame
    x, y : str
        Treatment (any numeric; randomised for a causal a-path) and outcome columns.
    m : str or list of str
        Mediator(s); several are treated as parallel mediators (Hayes 2018, ch. 5).
    covariates : sequence of str
        Entered in every equation.
    n_boot : int
        Bootstrap resamples (0: no bootstrap, CIs are then normal-theory delta-method).
    ci_method : {"bca", "percentile", "montecarlo"}
        ``"montecarlo"``: Monte Carlo CI (Preacher & Selig 2012) -- ``n_boot`` draws of the path
        coefficients from their joint normal sampling distribution (delta-method covariance),
        effects recomputed per draw, percentile interval.
    seed : int, numpy.random.Generator or None
        Seed (or generator) of the resampling.
    ci_level : float
        Confidence level.
    missing : {"listwise", "fiml", "mi"}
        "listwise" (default): complete cases. "fiml": full-information ML in the SEM engine (lavaan
        ``missing = "ml"``, ``fixed.x = TRUE``), bootstrap by batched EM; "mi": multiple imputation by
        chained equations with Rubin's rules. Both return a
        :class:`~efficacy.mediation.missing.MissingMediationResult` (same table, plus the case
        counts ``n``, ``n_complete``, ``n_dropped``); see :mod:`efficacy.mediation.missing`.
        ``m`` written as a chain, ``"m1 -> m2"``, fits serial mediators (PROCESS model 6,
        :func:`efficacy.mediation.serial_mediation`) with any of these.

    Returns
    -------
    MediationResult
        Effects ``a`` and ``b`` per mediator, ``direct`` (c'), ``total`` (c = c' + sum a b),
        ``indirect`` per mediator and ``total`` (several mediators), ``prop_mediated``; the
        same as attributes (``res.a``, ``res.b``, ``res.indirect``, ``res.ci``, ...).
        ``se`` is the delta-method SE with ML residual variance (matches lavaan ``:=``
        with ``fixed.x=TRUE``); ``statistic`` its Wald z and ``pvalue`` the test's p;
        ``ci_low``/``ci_high`` the bootstrap interval; ``sobel_statistic``/``sobel_pvalue`` a
        legacy column for indirect effects;
        ``n_boot_failed`` and ``reason``. A near-singular design (a column almost a linear
        combination of others) gives NA rows and ``result.reason`` naming the column;
        resamples whose fit fails are dropped, counted (``result.n_boot_failed``) and stated
        in ``result.warnings`` and the ``reason`` column.

    Notes
    -----
    References: Baron & Kenny (1986); Sobel (1982); Efron (1987) for BCa;
    MacKinnon (2008). R equivalents: ``lavaan::sem`` with ``:=`` and
    ``parameterEstimates(boot.ci.type = "perc" | "bca.simple")``; PROCESS model 4.
    """
    if missing != "listwise" or (isinstance(m, str) and "->" in m):  # issue #19: missing data, serial chain
        from .missing import dispatch
        return dispatch(data, x, m, y, covariates=covariates, n_boot=n_boot, ci_method=ci_method, seed=seed,
                        ci_level=ci_level,
                        missing=missing)
    ms = [m] if isinstance(m, str) else list(m)
    covariates = list(covariates)
    if ci_method not in ("bca", "percentile", "montecarlo"):
        raise _InputError(f"ci_method must be 'bca', 'percentile' or 'montecarlo', got {ci_method!r}")
    if not ms:
        raise _InputError("at least one mediator is needed")
    Xa, Xb, M, Y, n = _prepare(data, x, ms, y, covariates)
    k = len(ms)
    designs = [(Xa, M), (Xb, Y[:, None])]
    features = _features(designs)  # built once, for the estimates and the bootstrap
    est = _effects(Xa, Xb, M, Y, np.ones((1, n)), features)[0]
    reason = (_near_singular(Xa, ["(intercept)", x, *covariates])
              or _near_singular(Xb, ["(intercept)", x, *ms, *covariates]))
    if reason:  # statistical failure: NA with the reason, not numbers from a singular solve
        nan = np.full(est.shape, np.nan)
        tab = _mediation_table(ms, nan, nan, nan, nan, nan, ci_method if n_boot else "delta", 0, reason)
        return MediationResult(x, ms, y, covariates, n, int(n_boot or 0), 0, ci_method if n_boot else "delta",
                               ci_level, tab, reason=reason)

    # ---- delta-method covariance (ML residual variances, lavaan fixed.x) ----
    Ba = _lstsq(Xa, M)
    Ea = M - Xa @ Ba
    Sm = Ea.T @ Ea / n
    iA = np.linalg.inv(Xa.T @ Xa)
    bb = _lstsq(Xb, Y)
    ey = Y - Xb @ bb
    s2y = ey @ ey / n
    iB = np.linalg.inv(Xb.T @ Xb) * s2y
    # theta = (a_1..a_k, b_1..b_k, cp)
    V = np.zeros((2 * k + 1, 2 * k + 1))
    V[:k, :k] = Sm * iA[1, 1]
    idx_b = [*range(2, 2 + k), 1]
    V[k:, k:] = iB[np.ix_(idx_b, idx_b)]
    a, b = est[:k], est[k : 2 * k]
    grads = []
    for j in range(k):  # a_j
        g = np.zeros(2 * k + 1); g[j] = 1; grads.append(g)
    for j in range(k):  # b_j
        g = np.zeros(2 * k + 1); g[k + j] = 1; grads.append(g)
    g = np.zeros(2 * k + 1); g[2 * k] = 1; grads.append(g)  # direct
    g_ind_t = np.concatenate([b, a, [0.0]])
    grads.append(g_ind_t + np.eye(2 * k + 1)[2 * k])  # total = cp + sum ab
    for j in range(k):  # ind_j
        g = np.zeros(2 * k + 1); g[j] = b[j]; g[k + j] = a[j]; grads.append(g)
    grads.append(g_ind_t)
    tot = est[2 * k + 1]
    ind_t = est[-2]
    g_pm = (g_ind_t * tot - ind_t * (g_ind_t + np.eye(2 * k + 1)[2 * k])) / tot**2
    grads.append(g_pm)
    G = np.array(grads)
    se = np.sqrt(np.einsum("qi,ij,qj->q", G, V, G))

    # ---- bootstrap (batched) ----
    n_valid = 0
    if n_boot and n_boot > 0 and ci_method == "montecarlo":
        rng = as_rng(seed)
        theta = est[: 2 * k + 1]
        D = rng.multivariate_normal(theta, V, size=int(n_boot), method="eigh")
        ind = D[:, :k] * D[:, k : 2 * k]
        ind_t = ind.sum(axis=1)
        tot_d = D[:, 2 * k] + ind_t
        with np.errstate(divide="ignore", invalid="ignore"):
            pm_d = ind_t / tot_d
        sim = np.column_stack([D, tot_d, ind, ind_t, pm_d])
        n_valid = int(np.isfinite(sim).all(axis=1).sum())
        boot_se = np.nanstd(sim, axis=0, ddof=1)
        alpha = (1 - ci_level) / 2
        lo, hi = np.nanquantile(sim, [alpha, 1 - alpha], axis=0)
        ci_name = ci_method
    elif n_boot and n_boot > 0:
        rng = as_rng(seed)
        (ba, _), (bb, _) = _boot_wls(designs, rng, int(n_boot), features=features)
        boot = _effects_from(ba, bb, k)
        n_valid = int(np.isfinite(boot[:, 0]).sum())
        boot_se = np.nanstd(boot, axis=0, ddof=1)
        if ci_method == "bca":
            # leave-one-out coefficients in closed form (rank-one downdates), no refits
            jack = _effects_from(_loo_coefs(Xa, M), _loo_coefs(Xb, Y[:, None]), k)
            lo, hi = bca_interval(boot, est, jack, ci_level)
        else:
            alpha = (1 - ci_level) / 2
            lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
        ci_name = ci_method
    else:
        boot_se = np.full(est.shape, np.nan)
        zc = stats.norm.ppf(1 - (1 - ci_level) / 2)
        lo, hi = est - zc * se, est + zc * se
        ci_name = "delta"
    warnings = []
    n_failed = int(n_boot or 0) - n_valid if ci_name != "delta" else 0
    if n_failed:
        warnings.append(
            f"{n_failed} of {int(n_boot)} bootstrap resamples failed (near-singular design in the resample, "
            f"e.g. a rare covariate value left out) and were dropped; the CI uses the {n_valid} valid "
            "resamples" + (" (too few for an interval: CI is NA)" if n_valid < 10 else ""))
    tab = _mediation_table(ms, est, se, lo, hi, boot_se, ci_name, n_failed, "; ".join(warnings))
    return MediationResult(x, ms, y, covariates, n, int(n_boot or 0), n_valid, ci_name, ci_level, tab,
                           warnings=warnings)


def _mediation_table(ms, est, se, lo, hi, boot_se, ci_name, n_failed, reason):
    k = len(ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    pval = 2 * stats.norm.sf(np.abs(z))
    effect = (["a"] * k + ["b"] * k + ["direct", "total"] + ["indirect"] * k
              + (["indirect"] if k > 1 else []) + ["prop_mediated"])
    med = ms + ms + ["", ""] + ms + (["total"] if k > 1 else []) + [""]
    keep = list(range(2 * k + 2 + k)) + ([2 * k + 2 + k] if k > 1 else []) + [est.size - 1]
    is_ind = np.array([e == "indirect" for e in effect])
    return pd.DataFrame({
        "effect": effect, "mediator": med, "estimate": est[keep], "se": se[keep],
        "ci_low": np.asarray(lo)[keep], "ci_high": np.asarray(hi)[keep], "pvalue": pval[keep],
        "statistic": z[keep], "boot_se": np.asarray(boot_se)[keep], "ci_method": ci_name,
        "sobel_statistic": np.where(is_ind, z[keep], np.nan), "sobel_pvalue": np.where(is_ind, pval[keep], np.nan),
        "n_boot_failed": n_failed, "reason": reason,
    })
