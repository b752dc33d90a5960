"""Interventional direct and indirect effects for one or several mediators by Monte Carlo g-computation.

With several mediators that may affect each other (the sources of efficacy -> efficacy -> behaviour),
natural indirect effects through each mediator are not identified without cross-world assumptions.
Interventional effects (VanderWeele, Vansteelandt & Robins 2014; Vansteelandt & Daniel 2017) compare the
outcome mean when the mediators are set to *random draws* from their distribution under treatment or
control (given the covariates) instead of to each person's own potential values. They are identified
under no unmeasured confounding and are estimated here by parametric g-computation: mediator and outcome
regressions are fitted, mediator values are drawn from them, and the outcome model's predicted means are
averaged over units and draws.

Everything is vectorised: the draws of all units are one array, the bootstrap refits (OLS and
logit/probit IRLS) are batched over all resamples at once, and the potential-outcome arrays of blocks of
resamples are evaluated together (no Python loop over draws or resamples; the blocks bound memory).

References
----------
VanderWeele, T. J., Vansteelandt, S., & Robins, J. M. (2014). Effect decomposition in the presence of an
exposure-induced mediator-outcome confounder. *Epidemiology, 25*(2), 300-306.
Vansteelandt, S., & Daniel, R. M. (2017). Interventional effects for mediation analysis with multiple
mediators. *Epidemiology, 28*(2), 258-265.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import as_rng, check_columns, renamed
from ..errors import DataError
from ..resampling import draw_counts
from ..results import ResultMixin
from .causal import (
    _check_rank,
    _covariate_matrix,
    _irls,
    _link,
    _ols,
    _wols,
    near_singular_column,
)

__all__ = ["InterventionalResult", "interventional_effects"]

_MEDIATOR_MODELS = ("linear", "logit", "probit")
_OUTCOME_MODELS = ("linear", "logit", "probit")
#: elements (resamples x units x draws) per block of the potential-outcome arrays
_BLOCK_ELEMENTS = 2**21


# --------------------------------------------------------------------------- result
@dataclass(repr=False)
class InterventionalResult(ResultMixin):
    """Result of :func:`interventional_effects`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per effect: ``direct`` (interventional direct effect), ``indirect[<m>]`` per mediator,
        ``dependence`` (the effect through the mediators' mutual dependence; several mediators only),
        ``indirect_total`` and ``total``; columns ``estimate``, ``se`` (bootstrap SD), ``statistic``
        (estimate / se), ``pvalue`` (normal), ``ci_low``, ``ci_high`` (percentile bootstrap) and
        ``mc_se`` (Monte Carlo standard error of the point estimate from the ``n_draws`` draws).
    direct, indirect_total, total : float
        Headline effects; ``indirect`` maps each mediator to its interventional indirect effect.
    n, n_draws, n_boot, n_failed : int
        Complete cases, Monte Carlo draws per unit, bootstrap resamples requested, resamples whose
        refit failed (dropped from the intervals).
    mediator_models : tuple of str
        The model of each mediator ("linear", "logit", "probit").
    mediator_coef, outcome_coef : list of pandas.Series / pandas.Series
        Point fits: ``M_j ~ x + M_1 + ... + M_(j-1) + covariates`` and
        ``y ~ x + M_1 + ... + M_k (+ x:M_j) + covariates``.
    """

    table: pd.DataFrame
    x: str
    m: tuple
    y: str
    n: int
    n_draws: int
    n_boot: int
    ci_level: float
    mediator_models: tuple
    outcome_model: str
    interaction: bool
    covariates: tuple = ()
    treat_value: float = 1.0
    control_value: float = 0.0
    n_failed: int = 0
    converged: bool = True
    reason: str = ""
    mediator_coef: list = field(default_factory=list)
    outcome_coef: pd.Series | None = None
    boot: np.ndarray | None = field(default=None, repr=False)

    _headline = ("direct", "indirect_total", "total", "n")
    _title = "Interventional effects (Vansteelandt & Daniel 2017)"
    _dict_skip = ("boot",)

    def _est(self, name):
        return float(self.table.loc[name, "estimate"])

    @property
    def direct(self) -> float:
        """Interventional direct effect E[Y(1, G0)] - E[Y(0, G0)]."""
        return self._est("direct")

    @property
    def indirect(self) -> dict:
        """Interventional indirect effect through each mediator."""
        return {mj: self._est(f"indirect[{mj}]") for mj in self.m}

    @property
    def indirect_total(self) -> float:
        """E[Y(1, G1)] - E[Y(1, G0)]: the sum of the indirect effects and the dependence effect."""
        return self._est("indirect_total")

    @property
    def dependence(self) -> float:
        """Effect through the mediators' mutual dependence (0 with one mediator)."""
        return self._est("dependence") if "dependence" in self.table.index else 0.0

    @property
    def total(self) -> float:
        return self._est("total")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: ``effect, estimate, se, statistic, pvalue, ci_low, ci_high, mc_se``."""
        df = self.table.reset_index().rename(columns={"index": "effect"})
        df.attrs.update(n=self.n, n_draws=self.n_draws, n_boot=self.n_boot, n_failed=self.n_failed,
                        ci_level=self.ci_level, converged=self.converged, reason=self.reason)
        return df

    def _summary_title(self) -> str:
        chain = " + ".join(f"{mj} ({mm})" for mj, mm in zip(self.m, self.mediator_models))
        return (f"Interventional effects: {self.x} -> [{chain}] -> {self.y} ({self.outcome_model} outcome"
                f"{', x*M interaction' if self.interaction else ''}; {self.n_draws} draws, {self.n_boot} resamples)")


# --------------------------------------------------------------------------- input handling
def _as_list(m):
    if isinstance(m, str):
        return [m]
    try:
        out = list(m)
    except TypeError:
        raise DataError("m must be a column name or a list of column names", where="argument m",
                        found=type(m).__name__) from None
    if not out:
        raise DataError("m names no mediator", where="argument m", expected="one or more column names")
    return out


def _mediator_models(spec, ms, values):
    if spec is None or spec == "auto":
        return [("logit" if np.isin(values[:, j], (0.0, 1.0)).all() else "linear") for j in range(len(ms))]
    if isinstance(spec, str):
        spec = [spec] * len(ms)
    elif isinstance(spec, dict):
        unknown = set(spec) - set(ms)
        if unknown:
            raise DataError(f"mediator_models names columns that are not mediators: {sorted(unknown)}",
                            where="argument mediator_models", expected=f"keys among {ms}")
        auto = _mediator_models("auto", ms, values)
        spec = [spec.get(mj, auto[j]) for j, mj in enumerate(ms)]
    spec = list(spec)
    if len(spec) != len(ms):
        raise DataError(f"mediator_models has {len(spec)} entries for {len(ms)} mediators",
                        where="argument mediator_models", expected=f"{len(ms)} entries, 'auto' or a dict")
    for s in spec:
        if s not in _MEDIATOR_MODELS:
            raise DataError(f"unknown mediator model {s!r}", where="argument mediator_models",
                            expected=f"one of {_MEDIATOR_MODELS} or 'auto'")
    return spec


def _prepare(data, x, ms, y, covariates, mediator_models, outcome_model):
    check_columns(data, [("treatment x", x), ("mediator m", ms), ("outcome y", y), ("covariate", covariates)])
    roles = [x, *ms, y]
    if len(set(roles)) < len(roles):
        raise DataError(f"the treatment, mediator and outcome columns must differ, got x={x!r}, m={ms!r}, "
                        f"y={y!r}", where="arguments x, m, y")
    dup = [c for c in covariates if c in roles]
    if dup:
        raise DataError(f"covariate(s) {dup} repeat the treatment, a mediator or the outcome",
                        where=f"column {dup[0]!r}")
    df = data.loc[:, list(dict.fromkeys([*roles, *covariates]))].dropna()
    for c in roles:
        if df[c].dtype == bool:
            df[c] = df[c].astype(float)
        elif not pd.api.types.is_numeric_dtype(df[c]):
            raise DataError(f"column {c!r} must be numeric", where=f"column {c!r}", found=str(df[c].dtype),
                            expected="a numeric or 0/1 column")
    n = len(df)
    k_min = len(ms) + len(covariates) + 4
    if n < max(k_min, 5):
        raise DataError(f"too few complete cases: {n} rows without missing values in "
                        f"{[*roles, *covariates]}", found=str(n), expected=f"at least {max(k_min, 5)}")
    t = df[x].to_numpy(float)
    M = df[ms].to_numpy(float)
    yv = df[y].to_numpy(float)
    if np.ptp(t) == 0:
        raise DataError(f"treatment column {x!r} is constant ({t[0]:g}) in the complete cases",
                        where=f"column {x!r}", expected="at least two treatment values")
    models = _mediator_models(mediator_models, ms, M)
    arms = np.unique(t)
    for j, (mj, mod) in enumerate(zip(ms, models)):
        if np.ptp(M[:, j]) == 0:
            raise DataError(f"mediator column {mj!r} is constant in the complete cases", where=f"column {mj!r}")
        if mod != "linear":
            bad = ~np.isin(M[:, j], (0.0, 1.0))
            if bad.any():
                raise DataError(f"mediator column {mj!r} must be binary 0/1 for a {mod} mediator model",
                                where=f"column {mj!r}", found=f"value {M[bad, j][0]:g}", expected="only 0 and 1")
            if arms.size <= 2:
                for arm in arms:
                    lv = np.unique(M[t == arm, j])
                    if lv.size < 2:
                        raise DataError(
                            f"binary mediator {mj!r} takes only the value {lv[0]:g} in the arm {x} = {arm:g}: its "
                            f"{mod} model is perfectly separated by the treatment (the ML estimates do not exist)",
                            where=f"column {mj!r}", found=f"{int((t == arm).sum())} cases, all {mj} = {lv[0]:g}",
                            expected="both 0 and 1 in every treatment arm")
    if outcome_model != "linear":
        bad = ~np.isin(yv, (0.0, 1.0))
        if bad.any():
            raise DataError(f"outcome column {y!r} must be binary 0/1 for a {outcome_model} outcome model",
                            where=f"column {y!r}", found=f"value {yv[bad][0]:g}", expected="only 0 and 1")
    if np.ptp(yv) == 0:
        raise DataError(f"outcome column {y!r} is constant ({yv[0]:g})", where=f"column {y!r}")
    C, cnames = _covariate_matrix(df, covariates)
    # collinear mediators: a mediator that is (almost) a linear function of the treatment, the covariates
    # and the mediators before it leaves no variation of its own, and the outcome model cannot separate them
    block = np.hstack([np.ones((n, 1)), t[:, None], C, M])
    names = ["(Intercept)", x, *cnames, *ms]
    j, message = near_singular_column(block, names)
    if j is not None:
        if names[j] in ms:
            raise DataError(f"collinear mediators: {message}", where=f"column {names[j]!r}",
                            expected="mediators that are not linear functions of each other, the treatment and "
                                     "the covariates")
        _check_rank(block, names, "mediator")
    return t, M, yv, C, cnames, models, n


# --------------------------------------------------------------------------- fitting
def _fit(X, v, model, W=None):
    """Point fit (W None) or batched bootstrap refits (W (B, n) case counts) of one regression.

    Returns (coef (B, k), sigma (B,) or None, ok (B,), reason)."""
    if model == "linear":
        if W is None:
            b, _, s = _ols(X, v)
            return b[None, :], np.array([s]), np.array([True]), ""
        b, ok, s = _wols(X, v, W)
        return np.nan_to_num(b), np.nan_to_num(s), ok, ""
    w = np.ones((1, len(v))) if W is None else W
    b, conv, sep, _ = _irls(X, v, w, model)
    ok = conv & ~sep
    reason = ""
    if W is None and not ok[0]:
        reason = ("perfect separation (fitted probabilities of 0 or 1)" if sep[0] else "no convergence")
    return np.nan_to_num(b), None, ok, reason


class _Design:
    """Design matrices of the mediator chain and the outcome model."""

    def __init__(self, t, M, C, interaction):
        n, k = M.shape
        one = np.ones((n, 1))
        self.k, self.p = k, C.shape[1]
        self.C = C
        self.Xm = [np.hstack([one, t[:, None], M[:, :j], C]) for j in range(k)]
        tm = [t[:, None] * M] if interaction else []
        self.Xy = np.hstack([one, t[:, None], M, *tm, C])
        self.interaction = interaction


def _scenario_means(MB, sig, YB, design, models, outcome_model, E, W, t1, t0):
    """Unit-weighted outcome means of every scenario for a block of parameter sets.

    MB: list over mediators of (B, km_j) coefficients; sig: list of (B,) residual SDs (linear mediators);
    YB (B, ky); E[c][j] (n, D) base draws of chain c (normals or uniforms); W (B, n) case counts.
    Returns a dict scenario -> (B, D) of sum_i W_bi f_bid / sum_i W_bi.
    """
    k, p = design.k, design.p
    C = design.C
    invs = [_link(mm)[0] for mm in models]
    inv_y = _link(outcome_model)[0]
    # linear predictors without the treatment and the mediators: (B, n)
    base_m = [MB[j][:, [0]] + MB[j][:, 2 + j:] @ C.T for j in range(k)]
    base_y = YB[:, [0]] + YB[:, YB.shape[1] - p:] @ C.T
    bx = YB[:, 1]
    bm = YB[:, 2:2 + k]
    btm = YB[:, 2 + k:2 + 2 * k] if design.interaction else np.zeros_like(bm)

    cache = {}

    def chain(c, a):
        """Mediators 1..c+1 of chain c under exposure a: list of (B, n, D)."""
        if (c, a) in cache:
            return cache[(c, a)]
        out = []
        for j in range(c + 1):
            eta = base_m[j][:, :, None] + (MB[j][:, 1] * a)[:, None, None]
            for l_ in range(j):
                eta = eta + MB[j][:, 2 + l_][:, None, None] * out[l_]
            if models[j] == "linear":
                mj = eta + sig[j][:, None, None] * E[c][j][None]
            else:
                mj = (E[c][j][None] < invs[j](eta)).astype(float)
            out.append(mj)
        cache[(c, a)] = out
        return out

    wsum = W.sum(axis=1)

    def outcome(a, mediators):
        eta = base_y[:, :, None] + (bx * a)[:, None, None]
        for j, mj in enumerate(mediators):
            eta = eta + (bm[:, j] + btm[:, j] * a)[:, None, None] * mj
        f = inv_y(eta)
        return np.einsum("bn,bnd->bd", W, f) / wsum[:, None]

    joint = {a: chain(k - 1, a) for a in (t1, t0)}
    res = {"y1_j1": outcome(t1, joint[t1]), "y1_j0": outcome(t1, joint[t0]), "y0_j0": outcome(t0, joint[t0])}
    # independent draws: mediator j from chain j (chain k-1 is the joint chain and gives the last one)
    for s in range(k + 1):        # the first s mediators under t1, the others under t0
        meds = [chain(j, t1 if j < s else t0)[j] for j in range(k)]
        res[f"y1_i{s}"] = outcome(t1, meds)
    return res


def _effects(res, k, linear_outcome=False):
    """Effects (name -> (B, D)) from the scenario means."""
    eff = {"direct": res["y1_j0"] - res["y0_j0"]}
    for j in range(k):
        eff[j] = res[f"y1_i{j + 1}"] - res[f"y1_i{j}"]
    if k > 1:
        eff["dependence"] = (res["y1_j1"] - res[f"y1_i{k}"]) - (res["y1_j0"] - res["y1_i0"])
        if linear_outcome:     # the outcome mean is linear in each mediator: only the marginal means matter
            eff["dependence"] = np.zeros_like(eff["dependence"])
    eff["indirect_total"] = res["y1_j1"] - res["y1_j0"]
    eff["total"] = res["y1_j1"] - res["y0_j0"]
    return eff


# --------------------------------------------------------------------------- public API
@renamed(level="ci_level", treatment="x", mediator="m", outcome="y", n_sims="n_draws")
def interventional_effects(data: pd.DataFrame, x: str, m, y: str, *, covariates: Sequence[str] = (),
                           mediator_models="auto", outcome_model: str = "linear", interaction: bool = False,
                           n_draws: int = 1000, n_boot: int = 1000, ci_level: float = 0.95,
                           treat_value: float = 1, control_value: float = 0, seed=None) -> InterventionalResult:
    """Interventional direct and indirect effects (Vansteelandt & Daniel 2017) by Monte Carlo g-computation.

    For mediators ``M_1, ..., M_k`` (in the order given, which is taken as their causal order) and
    treatment values ``1`` (``treat_value``) and ``0`` (``control_value``), write ``G_a`` for a random draw
    of all mediators jointly from their distribution given treatment ``a`` and the unit's covariates, and
    ``G_a^j`` for an independent draw of ``M_j`` alone from its marginal distribution given ``a`` and the
    covariates. The effects are

    - direct: ``E[Y(1, G_0)] - E[Y(0, G_0)]``;
    - indirect through ``M_j``: ``E[Y(1, G_1^1..G_1^j, G_0^(j+1)..G_0^k)] - E[Y(1, G_1^1..G_1^(j-1),
      G_0^j..G_0^k)]`` (mediators drawn independently);
    - dependence: ``{E[Y(1, G_1)] - E[Y(1, G_1^1..G_1^k)]} - {E[Y(1, G_0)] - E[Y(1, G_0^1..G_0^k)]}``,
      the part of the indirect effect that acts through the mediators' mutual dependence (identically 0
      for a linear outcome model, whose mean depends on the mediators only through their means);
    - indirect_total ``E[Y(1, G_1)] - E[Y(1, G_0)]`` (= the indirect effects + dependence) and total
      ``E[Y(1, G_1)] - E[Y(0, G_0)]`` (= direct + indirect_total; the average treatment effect under the
      models and no unmeasured confounding).

    The indirect effect through ``M_j`` includes the paths from the treatment to ``M_j`` via the mediators
    before it (Vansteelandt & Daniel 2017). Under linear mediator and outcome models without interaction
    it equals the path product ``a_j * b_j`` of the parallel-mediator regressions (``a_j`` from
    ``M_j ~ x + covariates``, ``b_j`` from the outcome model) and the dependence effect is zero.

    Estimation (parametric g-formula; VanderWeele, Vansteelandt & Robins 2014): the mediators are modelled
    in sequence, ``M_j ~ x + M_1 + ... + M_(j-1) + covariates`` (OLS with normal errors, or a logit/probit
    GLM), which gives their joint distribution; the outcome by ``y ~ x + M_1 + ... + M_k (+ x:M_j) +
    covariates`` (OLS, or logit/probit GLM, effects on the mean / risk-difference scale). For every unit
    ``n_draws`` mediator vectors are simulated from the fitted chain under each treatment value; a marginal
    draw of ``M_j`` is taken from an independent chain, so draws of different mediators are independent.
    Draws are antithetic (``z`` and ``-z``; ``u`` and ``1 - u``) and shared between the treatment values
    (common random numbers), so that under linear models the Monte Carlo error of the effects is exactly 0;
    ``mc_se`` in the table is the Monte Carlo standard error of each point estimate.

    Parameters
    ----------
    data : pandas.DataFrame
        Rows with a missing value in any used column are dropped (complete cases).
    x, y : str
        Treatment and outcome columns (numeric; a 0/1 outcome for a logit/probit outcome model).
    m : str or sequence of str
        Mediator column(s), in causal order.
    covariates : sequence of str
        Pre-treatment covariates entering every model (non-numeric ones dummy-coded as R's ``factor``).
    mediator_models : "auto", None, str, sequence or dict
        Model of each mediator: "linear", "logit" or "probit". "auto" / None: "logit" for a 0/1 column,
        "linear" otherwise; one string for all; a list in the order of ``m``; or a dict (missing keys auto).
    outcome_model : {"linear", "logit", "probit"}
    interaction : bool
        Add the treatment x mediator products ``x:M_j`` to the outcome model.
    n_draws : int
        Monte Carlo draws per unit (even; antithetic pairs).
    n_boot : int
        Nonparametric bootstrap resamples (all models refitted on each; 0 for point estimates only).
    ci_level : float
        Level of the percentile intervals.
    treat_value, control_value : float
        The treatment values compared.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    InterventionalResult
        ``.to_frame()`` with columns ``effect, estimate, se, statistic, pvalue, ci_low, ci_high, mc_se``.
        A point fit that fails (separation, no convergence) gives NaN estimates, ``converged=False`` and a
        ``reason``; failed bootstrap refits are counted in ``n_failed`` and dropped.

    Raises
    ------
    efficacy.errors.DataError
        Missing or non-numeric columns; a constant treatment, mediator or outcome; a non-0/1 binary
        mediator or outcome; a binary mediator with a single level in a treatment arm; collinear
        mediators; too few complete cases; unknown model names.

    Notes
    -----
    No R package computes these exact quantities with this interface (``CMAverse::cmest(model =
    "gformula")`` and ``intmed`` are the closest); the tests check the closed forms under linear models,
    an exact enumeration for binary mediators written in base R (``tests/reference/interventional.R``) and
    planted truths.

    References
    ----------
    Vansteelandt, S., & Daniel, R. M. (2017). Interventional effects for mediation analysis with multiple
    mediators. *Epidemiology, 28*(2), 258-265.
    VanderWeele, T. J., Vansteelandt, S., & Robins, J. M. (2014). Effect decomposition in the presence of
    an exposure-induced mediator-outcome confounder. *Epidemiology, 25*(2), 300-306.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1); n = 400
    >>> t = rng.integers(0, 2, n); m1 = 0.5 * t + rng.normal(size=n); m2 = 0.3 * t + 0.4 * m1 + rng.normal(size=n)
    >>> yv = 0.2 * t + 0.3 * m1 + 0.5 * m2 + rng.normal(size=n)
    >>> d = pd.DataFrame({"t": t, "m1": m1, "m2": m2, "y": yv})
    >>> res = interventional_effects(d, "t", ["m1", "m2"], "y", n_draws=100, n_boot=200, seed=1)
    >>> list(res.to_frame()["effect"])
    ['direct', 'indirect[m1]', 'indirect[m2]', 'dependence', 'indirect_total', 'total']
    """
    ms = _as_list(m)
    covariates = tuple(covariates)
    if outcome_model not in _OUTCOME_MODELS:
        raise DataError(f"unknown outcome model {outcome_model!r}", where="argument outcome_model",
                        expected=f"one of {_OUTCOME_MODELS}")
    if not 0 < ci_level < 1:
        raise DataError(f"ci_level must lie in (0, 1), got {ci_level!r}", where="argument ci_level")
    n_draws = int(n_draws)
    if n_draws < 2 or n_draws % 2:
        raise DataError(f"n_draws must be an even number >= 2 (antithetic pairs), got {n_draws}",
                        where="argument n_draws")
    n_boot = int(n_boot or 0)
    if n_boot < 0:
        raise DataError(f"n_boot must be >= 0, got {n_boot}", where="argument n_boot")
    if treat_value == control_value:
        raise DataError("treat_value and control_value must differ", where="arguments treat_value, control_value")
    if not isinstance(data, pd.DataFrame):
        raise DataError("data must be a pandas DataFrame", found=type(data).__name__)
    t, M, yv, C, cnames, models, n = _prepare(data, x, ms, y, list(covariates), mediator_models, outcome_model)
    k = len(ms)
    design = _Design(t, M, C, interaction)
    _check_rank(design.Xy, ["(Intercept)", x, *ms, *([f"{x}:{mj}" for mj in ms] if interaction else []), *cnames],
                "outcome")
    t1, t0 = float(treat_value), float(control_value)
    rng = as_rng(seed)
    common = {"x": x, "m": tuple(ms), "y": y, "n": n, "n_draws": n_draws, "n_boot": n_boot, "ci_level": ci_level,
                  "mediator_models": tuple(models), "outcome_model": outcome_model, "interaction": bool(interaction),
                  "covariates": covariates, "treat_value": t1, "control_value": t0}
    rows = ["direct", *[f"indirect[{mj}]" for mj in ms], *(["dependence"] if k > 1 else []), "indirect_total",
            "total"]
    keys = ["direct", *range(k), *(["dependence"] if k > 1 else []), "indirect_total", "total"]

    # point fits
    MB, sig = [], []
    for j in range(k):
        b, s, ok, why = _fit(design.Xm[j], M[:, j], models[j])
        if not ok[0]:
            return _na_result(common, rows, f"the {models[j]} model of mediator {ms[j]!r} failed: {why}")
        MB.append(b)
        sig.append(s)
    YB, _, ok, why = _fit(design.Xy, yv, outcome_model)
    if not ok[0]:
        return _na_result(common, rows, f"the {outcome_model} outcome model failed: {why}")
    m_names = [["(Intercept)", x, *ms[:j], *cnames] for j in range(k)]
    y_names = ["(Intercept)", x, *ms, *([f"{x}:{mj}" for mj in ms] if interaction else []), *cnames]

    # antithetic base draws, one independent set per chain and mediator, shared by both treatment values
    half = n_draws // 2
    E = []
    for c in range(k):
        Ec = []
        for j in range(c + 1):
            if models[j] == "linear":
                z = rng.standard_normal((n, half))
                Ec.append(np.concatenate([z, -z], axis=1))
            else:
                u = rng.random((n, half))
                Ec.append(np.concatenate([u, 1.0 - u], axis=1))
        E.append(Ec)

    ones = np.ones((1, n))
    lin = outcome_model == "linear"
    eff = _effects(_scenario_means(MB, sig, YB, design, models, outcome_model, E, ones, t1, t0), k, lin)
    est = np.array([eff[q][0].mean() for q in keys])
    pairs = np.array([(eff[q][0][:half] + eff[q][0][half:]) / 2 for q in keys])       # iid antithetic pairs
    mc_se = pairs.std(axis=1, ddof=1) / np.sqrt(half) if half > 1 else np.full(len(keys), np.nan)

    boot = None
    n_failed = 0
    if n_boot:
        W = draw_counts(rng, n, np.empty((n_boot, n)))
        ok = np.ones(n_boot, bool)
        MBb, sigb = [], []
        for j in range(k):
            b, s, okj, _ = _fit(design.Xm[j], M[:, j], models[j], W)
            MBb.append(b)
            sigb.append(s)
            ok &= okj
        YBb, _, oky, _ = _fit(design.Xy, yv, outcome_model, W)
        ok &= oky
        boot = np.full((n_boot, len(keys)), np.nan)
        block = max(1, _BLOCK_ELEMENTS // (n * n_draws))
        for s0 in range(0, n_boot, block):         # blocks of resamples (memory), each block one array computation
            sl = slice(s0, min(n_boot, s0 + block))
            e = _effects(_scenario_means([b[sl] for b in MBb], [None if s is None else s[sl] for s in sigb],
                                         YBb[sl], design, models, outcome_model, E, W[sl], t1, t0), k, lin)
            boot[sl] = np.column_stack([e[q].mean(axis=1) for q in keys])
        boot[~ok] = np.nan
        n_failed = int((~ok).sum())
    table = _table(rows, est, boot, mc_se, ci_level)
    reason = (f"{n_failed} of {n_boot} bootstrap resamples failed (singular, separated or non-converged refit) "
              "and were dropped") if n_failed else ""
    return InterventionalResult(table=table, n_failed=n_failed, reason=reason,
                                mediator_coef=[pd.Series(MB[j][0], index=m_names[j]) for j in range(k)],
                                outcome_coef=pd.Series(YB[0], index=y_names), boot=boot, **common)


def _table(rows, est, boot, mc_se, ci_level):
    lo_q, hi_q = (1 - ci_level) / 2, 1 - (1 - ci_level) / 2
    if boot is not None and np.isfinite(boot).any(axis=0).all():
        good = boot[np.isfinite(boot).all(axis=1)]
        se = good.std(axis=0, ddof=1) if len(good) > 1 else np.full(len(rows), np.nan)
        lo, hi = np.quantile(good, [lo_q, hi_q], axis=0)
    else:
        se = lo = hi = np.full(len(rows), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    return pd.DataFrame({"estimate": est, "se": se, "statistic": z, "pvalue": p, "ci_low": lo, "ci_high": hi,
                         "mc_se": mc_se}, index=pd.Index(rows, name="effect"))


def _na_result(common, rows, reason):
    nan = np.full(len(rows), np.nan)
    table = _table(rows, nan, None, nan, common["ci_level"])
    return InterventionalResult(table=table, converged=False, reason=reason, **common)
