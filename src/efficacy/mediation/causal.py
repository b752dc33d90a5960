"""Causal mediation analysis by simulation of potential outcomes.

Implements the algorithm of Imai, Keele & Tingley (2010) as in R
``mediation::mediate`` (version 4.5): a linear (OLS) or binary (logit / probit
GLM) mediator model, a linear, logit or probit outcome model (optionally with a
treatment x mediator interaction), and either quasi-Bayesian Monte Carlo
inference (King, Tomz & Wittenberg 2000) or the nonparametric bootstrap. Everything is vectorised over
simulations: the potential outcomes of all draws are one batched array
computation, and bootstrap refits (OLS and logit/probit IRLS) are batched
normal-equation solves, never a Python loop over resamples.

References
----------
Imai, K., Keele, L., & Tingley, D. (2010). A general approach to causal
mediation analysis. *Psychological Methods*, 15(4), 309-334.
Imai, K., Keele, L., & Yamamoto, T. (2010). Identification, inference and
sensitivity analysis for causal mediation effects. *Statistical Science*,
25(1), 51-71.
Tingley, D., Yamamoto, T., Hirose, K., Keele, L., & Imai, K. (2014).
mediation: R package for causal mediation analysis. *Journal of Statistical
Software*, 59(5), 1-38.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from efficacy._api import as_rng, check_columns, renamed
from efficacy._linalg import SINGULAR_TOL, near_singular_column  # noqa: F401  (the one singularity rule)
from efficacy._linalg import ols as _ols
from efficacy._linalg import solve_batched as _solve_batched
from efficacy._linalg import wls_counts as _wols
from efficacy.errors import DataError
from efficacy.results import ResultMixin

__all__ = ["CausalMediationResult", "causal_mediation"]

#: Effect names in the order R's ``summary.mediate`` prints them.
EFFECTS = (
    "acme_control", "acme_treated", "acme_average",
    "ade_control", "ade_treated", "ade_average",
    "total",
    "prop_mediated_control", "prop_mediated_treated", "prop_mediated_average",
)

#: Labels used by R ``summary.mediate`` for each effect (for display).
R_LABELS = {
    "acme_control": "ACME (control)", "acme_treated": "ACME (treated)", "acme_average": "ACME (average)",
    "ade_control": "ADE (control)", "ade_treated": "ADE (treated)", "ade_average": "ADE (average)",
    "total": "Total Effect",
    "prop_mediated_control": "Prop. Mediated (control)",
    "prop_mediated_treated": "Prop. Mediated (treated)",
    "prop_mediated_average": "Prop. Mediated (average)",
}

_OUTCOME_MODELS = ("linear", "logit", "probit")
_INFERENCE = ("quasi-bayesian", "bootstrap")
_P_EPS = 1e-10          # fitted probabilities closer than this to 0/1 signal separation
_MAX_ITER = 100
_TOL = 1e-10
_CHUNK_ELEMENTS = 2_000_000   # sims x n elements per block of the potential-outcome arrays


# --------------------------------------------------------------------------- result
@dataclass(repr=False)
class CausalMediationResult(ResultMixin):
    """Result of :func:`causal_mediation`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per effect (index = effect name, see :data:`EFFECTS`) with
        ``estimate``, ``ci_low``, ``ci_high``, ``pvalue``.
    acme, ade, total, prop_mediated : float
        Average ACME, average ADE, total effect and average proportion mediated.
    acme_ci, ci : tuple
        Percentile interval of the average ACME (``ci`` is the same).
    x, m, y : str
        Treatment, mediator and outcome columns.
    n : int
        Complete cases analysed.
    n_sims : int
        Simulations (quasi-Bayesian draws or bootstrap resamples) requested.
    n_failed : int
        Bootstrap resamples whose refit failed (singular design, non-convergence,
        separation); they are dropped from the CIs and p-values.
    converged : bool
        False when the point fit failed; then all estimates are NaN and
        ``reason`` says why.
    mediator_coef, outcome_coef : pandas.Series
        Point estimates of ``M ~ T + covariates`` and ``Y ~ M + T (+ T:M) + covariates``.
    mediator_vcov, outcome_vcov : pandas.DataFrame
        Their covariance matrices (OLS; inverse Fisher information for GLMs, as
        R ``vcov``); the quasi-Bayesian draws come from these.
    sigma : float
        Residual SD of the mediator model (R ``summary(lm)$sigma``); NaN for a binary mediator.
    mediator_model : str
        "linear", "logit" or "probit".
    draws : dict of numpy.ndarray
        Simulated values of each effect (length ``n_sims - n_failed``).
    """

    table: pd.DataFrame
    n: int
    n_sims: int
    inference: str
    outcome_model: str
    interaction: bool
    ci_level: float
    x: str
    m: str
    y: str
    covariates: tuple = ()
    treat_value: float = 1.0
    control_value: float = 0.0
    n_failed: int = 0
    converged: bool = True
    reason: str = ""
    mediator_coef: pd.Series | None = None
    outcome_coef: pd.Series | None = None
    mediator_vcov: pd.DataFrame | None = None
    outcome_vcov: pd.DataFrame | None = None
    sigma: float = float("nan")
    draws: dict = field(default_factory=dict)
    mediator_model: str = "linear"

    _headline = ("acme", "acme_ci", "ade", "total", "prop_mediated", "n")
    _title = "Causal mediation (Imai, Keele & Tingley 2010)"
    _dict_skip = ("draws",)

    # convenient scalars -------------------------------------------------
    def _est(self, name):
        return float(self.table.loc[name, "estimate"])

    @property
    def acme(self) -> float:
        return self._est("acme_average")

    @property
    def acme_ci(self) -> tuple:
        """Interval of the average ACME."""
        r = self.table.loc["acme_average"]
        return float(r["ci_low"]), float(r["ci_high"])

    @property
    def ci(self) -> tuple:
        """Interval of the average ACME (same as :attr:`acme_ci`)."""
        return self.acme_ci

    def _summary_title(self) -> str:
        return (f"Causal mediation: {self.x} -> {self.m} -> {self.y}, {self.outcome_model} outcome model, "
                f"{self.inference} ({type(self).__name__})")

    @property
    def ade(self) -> float:
        return self._est("ade_average")

    @property
    def total(self) -> float:
        return self._est("total")

    @property
    def prop_mediated(self) -> float:
        return self._est("prop_mediated_average")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: columns ``effect, estimate, ci_low, ci_high, pvalue``.

        ``attrs`` hold ``n``, ``n_sims``, ``n_failed``, ``inference``,
        ``outcome_model``, ``interaction``, ``ci_level``, ``converged``, ``reason``.
        """
        df = self.table.reset_index().rename(columns={"index": "effect"})
        df = df[["effect", "estimate", "ci_low", "ci_high", "pvalue"]]
        df.attrs.update(n=self.n, n_sims=self.n_sims, n_failed=self.n_failed, inference=self.inference,
                        outcome_model=self.outcome_model, mediator_model=self.mediator_model,
                        interaction=self.interaction, ci_level=self.ci_level,
                        converged=self.converged, reason=self.reason)
        return df

    def __repr__(self) -> str:
        head = (f"CausalMediationResult({self.x} -> {self.m} -> {self.y}; "
                f"{'' if self.mediator_model == 'linear' else self.mediator_model + ' mediator model; '}"
                f"outcome model {self.outcome_model}{' with T x M interaction' if self.interaction else ''}; "
                f"{self.inference}, {self.n_sims} sims"
                f"{f', {self.n_failed} failed' if self.n_failed else ''}; n = {self.n})")
        if not self.converged:
            return head + f"\n  not estimated: {self.reason}"
        pct = f"{100 * self.ci_level:g}%"
        lines = [head, f"  {'':26s}{'estimate':>10s}  {pct + ' CI':>22s}  {'p':>6s}"]
        for name in EFFECTS:
            r = self.table.loc[name]
            lines.append(f"  {R_LABELS[name]:26s}{r.estimate:10.4f}  [{r.ci_low:9.4f}, {r.ci_high:9.4f}]"
                         f"  {r.pvalue:6.3f}")
        if self.reason:
            lines.append(f"  note: {self.reason}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- input handling
def _design_frame(data, treatment, mediator, outcome, covariates, outcome_model):
    if not isinstance(data, pd.DataFrame):
        raise DataError("data must be a pandas DataFrame", found=type(data).__name__)
    covariates = tuple(covariates)
    cols = [treatment, mediator, outcome, *covariates]
    check_columns(data, [("treatment x", treatment), ("mediator m", mediator), ("outcome y", outcome),
                         ("covariate", covariates)])
    if mediator == outcome:
        raise DataError(f"the mediator and the outcome are the same column {mediator!r}",
                        where=f"column {mediator!r}")
    if treatment in (mediator, outcome):
        raise DataError(f"the treatment column {treatment!r} is also the mediator or the outcome",
                        where=f"column {treatment!r}")
    dup = {c for c in covariates if c in (treatment, mediator, outcome)}
    if dup:
        raise DataError(f"covariate(s) {sorted(dup)} repeat the treatment, mediator or outcome",
                        where=f"column {sorted(dup)[0]!r}")
    df = data.loc[:, list(dict.fromkeys(cols))].dropna()
    for c in (treatment, mediator, outcome):
        s = df[c]
        if s.dtype == bool:
            df[c] = s.astype(float)
        elif not pd.api.types.is_numeric_dtype(s):
            raise DataError(f"column {c!r} must be numeric", where=f"column {c!r}", found=str(s.dtype),
                            expected="a numeric or 0/1 column")
    return df, covariates


def _covariate_matrix(df, covariates):
    """Numeric covariates as they are; categorical ones as treatment (dummy) contrasts
    against their first (sorted) level, as R's ``model.matrix`` does."""
    blocks, names = [], []
    for c in covariates:
        s = df[c]
        if s.dtype == bool:
            blocks.append(s.to_numpy(float)[:, None])
            names.append(c)
        elif pd.api.types.is_numeric_dtype(s):
            blocks.append(s.to_numpy(float)[:, None])
            names.append(c)
        else:
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.unique())
            levels = [lv for lv in levels if (s == lv).any()]
            for lv in levels[1:]:
                blocks.append((s == lv).to_numpy(float)[:, None])
                names.append(f"{c}[{lv}]")
    n = len(df)
    return (np.hstack(blocks) if blocks else np.empty((n, 0))), names


def _check_rank(X, names, model):
    """Raise DataError naming the first column that is (almost) a linear combination of earlier ones."""
    j, message = near_singular_column(X, names)
    if j is None:
        return
    raise DataError(f"perfect or near collinearity in the {model} model: {message}",
                    where=f"column {names[j]!r}", expected="linearly independent predictors")


# --------------------------------------------------------------------------- model fitting
def _link(outcome_model):
    if outcome_model == "logit":
        def inv(eta):
            return special.expit(eta)

        def dmu(eta):
            p = special.expit(eta)
            return p * (1 - p)
    elif outcome_model == "probit":
        def inv(eta):
            return special.ndtr(eta)

        def dmu(eta):
            return stats.norm.pdf(eta)
    else:
        def inv(eta):
            return eta

        def dmu(eta):
            return np.ones_like(eta)
    return inv, dmu


def _irls(X, y, w, outcome_model, beta0=None):
    """Batched IRLS for a binomial GLM (logit or probit link), like R ``glm.fit``.

    X (n, k), y (n,), w (B, n) case weights (bootstrap counts). Returns beta (B, k),
    converged (B,), separated (B,), and the Fisher information (B, k, k).
    """
    inv, dmu = _link(outcome_model)
    nb = w.shape[0]
    k = X.shape[1]
    beta = np.zeros((nb, k)) if beta0 is None else np.broadcast_to(beta0, (nb, k)).copy()
    active = np.ones(nb, bool)
    conv = np.zeros(nb, bool)
    dev_old = np.full(nb, np.inf)
    info = np.zeros((nb, k, k))
    for _ in range(_MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        eta = beta[idx] @ X.T
        mu = np.clip(inv(eta), 1e-15, 1 - 1e-15)
        g = np.clip(dmu(eta), 1e-300, None)
        ww = w[idx] * g * g / (mu * (1 - mu))
        z = eta + (y - mu) / g
        A = np.einsum("bn,nk,nl->bkl", ww, X, X, optimize=True)
        rhs = (ww * z) @ X
        new, ok = _solve_batched(A, rhs)
        old = beta[idx]
        eta_n = new @ X.T
        mu_n = np.clip(inv(np.nan_to_num(eta_n)), 1e-300, 1 - 1e-16)
        dev = -2 * np.sum(w[idx] * (y * np.log(mu_n) + (1 - y) * np.log1p(-mu_n)), axis=1)
        ok &= np.isfinite(new).all(axis=1)
        beta[idx] = np.where(ok[:, None], new, beta[idx])   # a failed solve keeps the last finite step
        with np.errstate(invalid="ignore"):
            small_step = np.abs(new - old).max(axis=1) < _TOL * (1 + np.abs(new).max(axis=1))
            done = ok & ((np.abs(dev - dev_old[idx]) / (np.abs(dev) + 0.1) < 1e-15) | small_step)
        dev_old[idx] = dev
        conv[idx[done]] = True
        active[idx[done | ~ok]] = False
    eta = np.nan_to_num(beta @ X.T)
    mu = inv(eta)
    g = dmu(eta)
    with np.errstate(all="ignore"):
        ww = w * g * g / (mu * (1 - mu))
    ww = np.nan_to_num(ww)
    info = np.einsum("bn,nk,nl->bkl", ww, X, X, optimize=True)
    used = w > 0
    conv = conv & np.isfinite(beta).all(axis=1)
    # fitted probabilities numerically 0 or 1 (as R's glm warning), or a fit that did not
    # converge while its probabilities run off to 0/1: the ML estimates do not exist
    separated = (((mu < _P_EPS) | (mu > 1 - _P_EPS)) & used).any(axis=1)
    separated |= ~conv & (((mu < 1e-6) | (mu > 1 - 1e-6)) & used).any(axis=1)
    return beta, conv, separated, info


# --------------------------------------------------------------------------- simulation core
def _effects(bm, bt, btm, base, m1, m0, t1, t0, inv):
    """Per-draw mean effects. bm, bt, btm: (S,); base (S, n) outcome linear predictor
    without treatment and mediator terms; m1, m0 (S, n) potential mediators."""
    def f(t, m):
        return inv(base + (bt * t)[:, None] + (bm + btm * t)[:, None] * m)
    y11, y10 = f(t1, m1), f(t1, m0)
    y01, y00 = f(t0, m1), f(t0, m0)
    d1 = (y11 - y10).mean(axis=1)
    d0 = (y01 - y00).mean(axis=1)
    z1 = (y11 - y01).mean(axis=1)
    z0 = (y10 - y00).mean(axis=1)
    return d1, d0, z1, z0


def _pval(x, xhat):
    """R ``mediation`` p-value: twice the smaller share of draws on either side of 0."""
    x = x[np.isfinite(x)]
    if xhat == 0 or x.size == 0:
        return 1.0 if x.size else np.nan
    return float(min(2 * min(np.sum(x > 0), np.sum(x < 0)) / x.size, 1.0))


# --------------------------------------------------------------------------- public API
@renamed(level="ci_level", treatment="x", mediator="m", outcome="y")
def causal_mediation(data: pd.DataFrame, x: str, m: str, y: str, *,
                     covariates: Sequence[str] = (), outcome_model: str = "linear",
                     interaction: bool = False, inference: str = "quasi-bayesian", n_sims: int = 1000,
                     ci_level: float = 0.95, treat_value: float = 1, control_value: float = 0,
                     seed=None, progress: bool = False, mediator_model: str = "linear") -> CausalMediationResult:
    """Causal mediation analysis (ACME, ADE, total effect, proportion mediated).

    Simulates potential outcomes as R ``mediation::mediate`` (Imai, Keele &
    Tingley 2010; Tingley et al. 2014) for ``lm`` or ``glm(binomial("logit"|"probit"))``
    mediator and ``lm`` / ``glm(binomial("logit"|"probit"))`` outcome models fitted as
    ``M ~ T + covariates`` and ``Y ~ M + T (+ T:M) + covariates``.

    Parameters
    ----------
    data : pandas.DataFrame
        Rows with a missing value in any used column are dropped (complete cases).
    x, m, y : str
        Treatment, mediator and outcome columns. Treatment and mediator numeric;
        with ``outcome_model`` logit/probit the outcome must be 0/1, with ``mediator_model``
        logit/probit the mediator.
    covariates : sequence of str
        Pre-treatment covariates entering both models. Non-numeric columns are
        dummy-coded against their first sorted level (as R's ``factor``).
    outcome_model : {"linear", "logit", "probit"}
    mediator_model : {"linear", "logit", "probit"}
        "linear": OLS, potential mediators are the prediction plus one normal error per unit shared by
        M(1) and M(0) (as R). "logit"/"probit": a binary 0/1 mediator modelled by a binomial GLM; the
        potential mediators M(1) and M(0) of each unit and draw are independent Bernoulli draws with the
        predicted probabilities, as ``mediate()`` does for a ``glm`` mediator (``rbinom``).
    interaction : bool
        Add the treatment x mediator product to the outcome model (then
        ACME and ADE differ between the control and treated conditions).
    inference : {"quasi-bayesian", "bootstrap"}
        Quasi-Bayesian (``mediate(boot = FALSE)``): coefficients drawn from the
        asymptotic normal of both fits, point estimates are the means (medians
        for proportions mediated) of the draws. Bootstrap (``boot = TRUE``,
        percentile CI): both models refitted on each resample, point estimates
        from the original data.
    n_sims : int
        Draws or resamples (R's ``sims``).
    ci_level : float
        Confidence level of the percentile intervals (R's ``conf.level``).
    treat_value, control_value : float
        Treatment values compared (R's ``treat.value``, ``control.value``).
    seed : int or numpy.random.Generator, optional
    progress : bool
        Show a tqdm bar over simulation blocks.

    Returns
    -------
    CausalMediationResult
        With ``.to_frame()`` (effect, estimate, ci_low, ci_high, pvalue).
        The p-value is R's: ``2 * min(#draws > 0, #draws < 0) / #draws``.
        When the outcome or (binary) mediator fit shows perfect separation, the
        estimates are NaN with ``converged=False`` and a ``reason``.

    Raises
    ------
    efficacy.errors.DataError
        Missing or non-numeric columns, a constant treatment, the mediator equal
        to the outcome, perfect collinearity, too few complete cases, a
        non-0/1 outcome (mediator) with a logit/probit outcome (mediator) model, or a
        binary mediator with a single level in one treatment arm (its model's ML
        estimates do not exist).

    Notes
    -----
    The mediator draws use the point-estimate residual SD with one error per
    unit shared by M(1) and M(0), as R does. R's ``robustSE``, ``cluster`` and
    BCa options are not implemented.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> t = rng.integers(0, 2, 300); m = 0.5 * t + rng.normal(size=300)
    >>> y = 0.4 * m + 0.2 * t + rng.normal(size=300)
    >>> res = causal_mediation(pd.DataFrame({"t": t, "m": m, "y": y}), "t", "m", "y",
    ...                        n_sims=500, seed=1)
    >>> bool(res.table.loc["acme_average", "ci_low"] > 0)
    True
    >>> list(res.to_frame().columns)
    ['effect', 'estimate', 'ci_low', 'ci_high', 'pvalue']
    """
    treatment, mediator, outcome, level = x, m, y, ci_level
    if outcome_model not in _OUTCOME_MODELS:
        raise DataError(f"outcome_model must be one of {_OUTCOME_MODELS}, got {outcome_model!r}")
    if mediator_model not in _OUTCOME_MODELS:
        raise DataError(f"mediator_model must be one of {_OUTCOME_MODELS}, got {mediator_model!r}",
                        where="argument mediator_model")
    if inference not in _INFERENCE:
        raise DataError(f"inference must be one of {_INFERENCE}, got {inference!r}")
    if not (0 < level < 1):
        raise DataError(f"ci_level must lie in (0, 1), got {level!r}")
    n_sims = int(n_sims)
    if n_sims < 2:
        raise DataError(f"n_sims must be at least 2, got {n_sims}")
    if treat_value == control_value:
        raise DataError("treat_value and control_value must differ")

    df, covariates = _design_frame(data, treatment, mediator, outcome, covariates, outcome_model)
    n = len(df)
    t = df[treatment].to_numpy(float)
    m = df[mediator].to_numpy(float)
    y = df[outcome].to_numpy(float)
    n_min = max(len(covariates) + 4 + int(interaction), 5)
    if n < n_min:
        raise DataError(f"too few complete cases: {n} rows without missing values in "
                        f"{[treatment, mediator, outcome, *covariates]}", found=str(n), expected=f"at least {n_min}")
    if n and np.ptp(t) == 0:
        raise DataError(f"treatment column {treatment!r} is constant ({t[0]:g}) in the complete cases",
                        where=f"column {treatment!r}", expected="at least two treatment values")
    if n and np.ptp(m) == 0:
        raise DataError(f"mediator column {mediator!r} is constant in the complete cases",
                        where=f"column {mediator!r}")
    if n and np.array_equal(m, y):
        raise DataError(f"mediator {mediator!r} and outcome {outcome!r} hold identical values",
                        where=f"column {outcome!r}", expected="an outcome distinct from the mediator")
    binary_m = mediator_model != "linear"
    if binary_m:
        bad = ~np.isin(m, (0.0, 1.0))
        if bad.any():
            raise DataError(f"mediator column {mediator!r} must be binary 0/1 for a {mediator_model} mediator model",
                            where=f"column {mediator!r}", found=f"value {m[bad][0]:g}", expected="only 0 and 1")
        arms = np.unique(t)
        if arms.size <= 2:
            for arm in arms:
                lv = np.unique(m[t == arm])
                if lv.size < 2:
                    raise DataError(
                        f"binary mediator {mediator!r} takes only the value {lv[0]:g} in the arm {treatment} = "
                        f"{arm:g}: the {mediator_model} mediator model is perfectly separated by the treatment "
                        "(its ML estimates do not exist)", where=f"column {mediator!r}",
                        found=f"{int((t == arm).sum())} cases, all {mediator} = {lv[0]:g}",
                        expected="both 0 and 1 in every treatment arm")
    if outcome_model != "linear":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise DataError(f"outcome column {outcome!r} must be binary 0/1 for a {outcome_model} model",
                            where=f"column {outcome!r}", found=f"value {y[bad][0]:g}",
                            expected="only 0 and 1")
        if n and np.ptp(y) == 0:
            raise DataError(f"outcome column {outcome!r} is constant ({y[0]:g})", where=f"column {outcome!r}")
    C, cnames = _covariate_matrix(df, covariates)
    one = np.ones((n, 1))
    Xm = np.hstack([one, t[:, None], C])
    m_names = ["(Intercept)", treatment, *cnames]
    tm = [t[:, None] * m[:, None]] if interaction else []
    Xy = np.hstack([one, m[:, None], t[:, None], *tm, C])
    y_names = ["(Intercept)", mediator, treatment, *([f"{treatment}:{mediator}"] if interaction else []), *cnames]
    k_need = max(Xm.shape[1], Xy.shape[1]) + 1
    if n < max(k_need, 5):
        raise DataError(f"too few complete cases: {n} rows without missing values in "
                        f"{[treatment, mediator, outcome, *covariates]}",
                        found=str(n), expected=f"at least {max(k_need, 5)}")
    _check_rank(Xm, m_names, "mediator")
    _check_rank(Xy, y_names, "outcome")

    rng = as_rng(seed)
    inv, _ = _link(outcome_model)
    t1, t0 = float(treat_value), float(control_value)
    inv_m, _ = _link(mediator_model)
    common = dict(n=n, n_sims=n_sims, inference=inference, outcome_model=outcome_model, mediator_model=mediator_model,
                  interaction=interaction,
                  ci_level=level, x=treatment, m=mediator, y=outcome, covariates=covariates,
                  treat_value=t1, control_value=t0)

    # point fits ---------------------------------------------------------
    if binary_m:
        b, conv, sep, info = _irls(Xm, m, np.ones((1, n)), mediator_model)
        if sep[0]:
            return _na_result(common, "perfect separation in the mediator model: fitted probabilities of 0 or 1 "
                                      f"(the {mediator_model} ML estimates do not exist)")
        if not conv[0]:
            return _na_result(common, f"the {mediator_model} mediator model did not converge")
        bm_hat, vm, sigma = b[0], np.linalg.inv(info[0]), float("nan")
    else:
        bm_hat, vm, sigma = _ols(Xm, m)
    if outcome_model == "linear":
        by_hat, vy, _ = _ols(Xy, y)
    else:
        b, conv, sep, info = _irls(Xy, y, np.ones((1, n)), outcome_model)
        if sep[0]:
            return _na_result(common, "perfect separation in the outcome model: fitted probabilities of 0 or 1 "
                                      f"(the {outcome_model} ML estimates do not exist)")
        if not conv[0]:
            return _na_result(common, f"the {outcome_model} outcome model did not converge")
        by_hat = b[0]
        vy = np.linalg.inv(info[0])
    mcoef = pd.Series(bm_hat, index=m_names)
    ycoef = pd.Series(by_hat, index=y_names)
    fits = dict(mediator_coef=mcoef, outcome_coef=ycoef, sigma=sigma,
                mediator_vcov=pd.DataFrame(vm, index=m_names, columns=m_names),
                outcome_vcov=pd.DataFrame(vy, index=y_names, columns=y_names))
    cov_m = np.hstack([Xm[:, 2:]])          # covariate columns, same in both models
    iy = {"m": 1, "t": 2, "tm": 3 if interaction else None}
    cy = [0] + list(range(4 if interaction else 3, Xy.shape[1]))
    Xy_base = Xy[:, cy]

    def potential(MB, YB, err):
        """MB (S, km), YB (S, ky), err (S, n) normal errors (linear mediator) or a pair of (S, n) uniforms
        (binary mediator: M(t) = 1 when its uniform is below the predicted probability) -> d1, d0, z1, z0 (S,)."""
        if binary_m:
            eta = MB[:, [0]] + MB[:, 2:] @ cov_m.T
            m1 = (err[0] < inv_m(eta + (MB[:, 1] * t1)[:, None])).astype(float)
            m0 = (err[1] < inv_m(eta + (MB[:, 1] * t0)[:, None])).astype(float)
        else:
            base_m = MB[:, [0]] + MB[:, 2:] @ cov_m.T + err
            m1 = base_m + (MB[:, 1] * t1)[:, None]
            m0 = base_m + (MB[:, 1] * t0)[:, None]
        base_y = YB[:, cy] @ Xy_base.T
        btm = YB[:, iy["tm"]] if interaction else np.zeros(len(YB))
        return _effects(YB[:, iy["m"]], YB[:, iy["t"]], btm, base_y, m1, m0, t1, t0, inv)

    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    starts = range(0, n_sims, chunk)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="causal mediation", unit="block")

    n_failed = 0
    if inference == "quasi-bayesian":
        Lm = _chol(vm)
        Ly = _chol(vy)
        out = []
        for s in starts:
            S = min(chunk, n_sims - s)
            MB = bm_hat + rng.standard_normal((S, len(bm_hat))) @ Lm.T
            YB = by_hat + rng.standard_normal((S, len(by_hat))) @ Ly.T
            err = (rng.random((S, n)), rng.random((S, n))) if binary_m else rng.normal(0.0, sigma, size=(S, n))
            out.append(potential(MB, YB, err))
        d1, d0, z1, z0 = (np.concatenate(v) for v in zip(*out))
        point = None
    else:
        out = []
        for s in starts:
            S = min(chunk, n_sims - s)
            idx = rng.integers(0, n, size=(S, n))
            w = np.zeros((S, n))
            np.add.at(w, (np.repeat(np.arange(S), n), idx.ravel()), 1.0)
            if binary_m:
                MB, conv_m, sep_m, _ = _irls(Xm, m, w, mediator_model, beta0=bm_hat)
                ok_m = conv_m & ~sep_m
            else:
                MB, ok_m, sig_b = _wols(Xm, m, w)
            if outcome_model == "linear":
                YB, ok_y, _ = _wols(Xy, y, w)
            else:
                YB, conv, sep, _ = _irls(Xy, y, w, outcome_model, beta0=by_hat)
                ok_y = conv & ~sep
            ok = ok_m & ok_y
            err = ((rng.random((S, n)), rng.random((S, n))) if binary_m
                   else rng.standard_normal((S, n)) * np.nan_to_num(sig_b)[:, None])
            res = potential(np.nan_to_num(MB), np.nan_to_num(YB), err)
            res = tuple(np.where(ok, r, np.nan) for r in res)
            n_failed += int((~ok).sum())
            out.append(res)
        d1, d0, z1, z0 = (np.concatenate(v) for v in zip(*out))
        err = (rng.random((1, n)), rng.random((1, n))) if binary_m else rng.normal(0.0, sigma, size=(1, n))
        point = tuple(float(v[0]) for v in potential(bm_hat[None, :], by_hat[None, :], err))

    table, draws = _summarise(d1, d0, z1, z0, point, level)
    reason = ""
    if n_failed:
        reason = f"{n_failed} of {n_sims} bootstrap resamples failed (singular or non-converged refit) and were dropped"
        if n_failed == n_sims:
            table[["ci_low", "ci_high", "pvalue"]] = np.nan
    return CausalMediationResult(table=table, n_failed=n_failed, converged=True, reason=reason,
                                 draws=draws, **fits, **common)


def _chol(v):
    try:
        return np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        w, q = np.linalg.eigh(v)
        return q * np.sqrt(np.clip(w, 0, None))


def _summarise(d1, d0, z1, z0, point, level):
    tau = (d1 + d0 + z1 + z0) / 2
    with np.errstate(all="ignore"):
        nu0 = d0 / tau
        nu1 = d1 / tau
    draws = {
        "acme_control": d0, "acme_treated": d1, "acme_average": (d0 + d1) / 2,
        "ade_control": z0, "ade_treated": z1, "ade_average": (z0 + z1) / 2,
        "total": tau,
        "prop_mediated_control": nu0, "prop_mediated_treated": nu1, "prop_mediated_average": (nu0 + nu1) / 2,
    }
    if point is None:          # quasi-Bayesian: means, medians for proportions (R mediate, boot = FALSE)
        e = {k: float(np.nanmean(draws[k])) for k in ("acme_control", "acme_treated", "ade_control",
                                                       "ade_treated", "total")}
        e["prop_mediated_control"] = float(np.nanmedian(nu0))
        e["prop_mediated_treated"] = float(np.nanmedian(nu1))
    else:                      # bootstrap: original-data estimates
        p1, p0, q1, q0 = point
        tc = (p1 + p0 + q1 + q0) / 2
        e = {"acme_control": p0, "acme_treated": p1, "ade_control": q0, "ade_treated": q1, "total": tc,
             "prop_mediated_control": p0 / tc if tc != 0 else np.nan,
             "prop_mediated_treated": p1 / tc if tc != 0 else np.nan}
    e["acme_average"] = (e["acme_control"] + e["acme_treated"]) / 2
    e["ade_average"] = (e["ade_control"] + e["ade_treated"]) / 2
    e["prop_mediated_average"] = (e["prop_mediated_control"] + e["prop_mediated_treated"]) / 2
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for name in EFFECTS:
        x = draws[name]
        x = x[np.isfinite(x)]
        if x.size:
            q = np.quantile(x, [lo, hi])      # R quantile(type = 7)
        else:
            q = [np.nan, np.nan]
        rows.append((e[name], q[0], q[1], _pval(x, e[name])))
    table = pd.DataFrame(rows, index=pd.Index(EFFECTS, name="effect"),
                         columns=["estimate", "ci_low", "ci_high", "pvalue"])
    table.index.name = None
    draws = {k: v[np.isfinite(v)] if k.startswith("prop") else v[np.isfinite(v)] for k, v in draws.items()}
    return table, draws


def _na_result(common, reason):
    table = pd.DataFrame(np.nan, index=list(EFFECTS), columns=["estimate", "ci_low", "ci_high", "pvalue"])
    return CausalMediationResult(table=table, converged=False, reason=reason, **common)
