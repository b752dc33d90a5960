"""The evidence profile of a study: cause or correlate, weighed link by link.

A single sensitivity cut-off (``|rho| < 0.2`` = fragile) is replaced by a table of complementary
evidence for each treatment -> mediator -> outcome triple (Imai, Tingley & Yamamoto 2013;
VanderWeele 2015; Cinelli & Hazlett 2020):

* for every link (``X -> M``, ``M -> Y``, ``X -> M -> Y`` and the total ``X -> Y``) what the design
  identifies (a randomised treatment identifies the a-path and the total effect causally; the
  b-path is observational and the indirect effect rests on sequential ignorability), the estimate
  and its confidence interval;
* the sensitivity rho at which the indirect effect is zero (Imai, Keele & Yamamoto 2010);
* the robustness value of the b-path (Cinelli & Hazlett 2020) beside the partial R-squared of the
  study's strongest observed covariate ("a confounder as strong as *age* ...");
* E-values of the b-path association and of the indirect effect (VanderWeele & Ding 2017;
  Smith & VanderWeele 2019);
* the panel stage's within-person cross-lagged effects and temporal order where the study has waves;
* where the codebook declares an encouragement (manipulation-of-mediator) arm, the b-path estimated by
  two-stage least squares with that arm as instrument and its first-stage F
  (:func:`efficacy.mediation.encouragement.encouragement_iv`; Imai, Tingley & Yamamoto 2013);
* a graded verdict per mediator-outcome pair with the evidence that decided it (:func:`grade`,
  rules in :data:`DEFAULT_RULES`, set in ``config/config.yaml`` under ``mediation: evidence:``).

References
----------
Imai, K., Keele, L., & Yamamoto, T. (2010). Identification, inference and sensitivity analysis for
causal mediation effects. *Statistical Science*, 25(1), 51-71.
Imai, K., Tingley, D., & Yamamoto, T. (2013). Experimental designs for identifying causal
mechanisms. *JRSS A*, 176(1), 5-51.
Cinelli, C., & Hazlett, C. (2020). Making sense of sensitivity: extending omitted variable bias.
*JRSS B*, 82(1), 39-67.
VanderWeele, T. J., & Ding, P. (2017). Sensitivity analysis in observational research: introducing
the E-value. *Annals of Internal Medicine*, 167(4), 268-274.
Smith, L. H., & VanderWeele, T. J. (2019). Mediational E-values. *Epidemiology*, 30(6), 835-837.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._api import renamed
from ..errors import DataError, EfficacyError
from ..results import ResultMixin

__all__ = ["DEFAULT_RULES", "EVIDENCE_COLUMNS", "VERDICTS", "EvidenceProfile", "evidence_profile", "grade",
           "panel_evidence"]

#: verdict classes (the ``verdict_class`` column), strongest first
VERDICTS = {
    "robust": "causal mediation supported and robust",
    "sensitive": "supported but sensitive to confounding",
    "unassessed": "supported; robustness not assessed",
    "association": "association only",
    "none": "no evidence of mediation",
    "not_identified": "not identified by this design",
}

#: default verdict rules (config ``mediation.evidence``)
DEFAULT_RULES = {
    # |rho at ACME = 0| at or above this counts as robust to mediator-outcome confounding
    "rho_robust": 0.2,
    # significance level of the robustness value RV_{q=1,alpha} of the b-path
    "alpha": 0.05,
    # robust also needs RV_{1,alpha} of the b-path above the strongest observed covariate's partial R2
    "benchmark": True,
    # encouragement design: a first-stage F below this is a weak instrument (Stock-Yogo rule of thumb)
    "weak_f": 10.0,
}

EVIDENCE_COLUMNS = [
    "outcome", "mediator", "link", "identifies", "estimate", "ci_low", "ci_high", "pvalue", "rho_at_zero",
    "rv", "rv_alpha", "partial_r2", "benchmark", "benchmark_r2", "evalue", "evalue_ci", "panel_estimate",
    "temporal_order", "iv_estimate", "iv_ci_low", "iv_ci_high", "iv_pvalue", "first_stage_f", "weak_instrument",
    "verdict", "verdict_class", "decided_by", "n", "reason",
]

_LINKS = ("X -> M", "M -> Y", "X -> M -> Y", "X -> Y")


def _excludes0(lo, hi):
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def _rules(rules):
    out = dict(DEFAULT_RULES)
    for k, v in (rules or {}).items():
        if k not in DEFAULT_RULES:
            raise DataError(f"unknown verdict rule {k!r}", where="argument 'rules'", found=repr(k),
                            expected=f"one of {sorted(DEFAULT_RULES)}")
        out[k] = v
    if not (0 <= float(out["rho_robust"]) <= 1):
        raise DataError("rho_robust must lie in [0, 1]", where="argument 'rules'", found=repr(out["rho_robust"]))
    if not (0 < float(out["alpha"]) < 1):
        raise DataError("alpha must lie in (0, 1)", where="argument 'rules'", found=repr(out["alpha"]))
    if not float(out["weak_f"]) >= 0:
        raise DataError("weak_f must be >= 0", where="argument 'rules'", found=repr(out["weak_f"]))
    return out


def grade(ev, rules=None):
    """The graded verdict of one mediator-outcome pair from its evidence.

    Parameters
    ----------
    ev : dict
        ``treatment`` (bool: the design declares one), ``randomized`` (bool), ``binary`` (bool: a
        binary outcome, no closed-form sensitivity), the CIs ``a_ci``, ``b_ci``, ``indirect_ci``
        (pairs), ``rho_at_zero``, ``rv_alpha`` (RV_{1,alpha} of the b-path), ``benchmark`` (name of
        the strongest observed covariate or None) and ``benchmark_r2`` (its larger partial R2, with
        the mediator or with the outcome); ``iv`` (encouragement design, or None): a dict with the 2SLS
        b-path ``estimate``, ``ci`` (pair) and the first-stage ``f`` (the smaller of conventional and
        robust), or ``reason`` when it could not be estimated. Missing keys count as absent evidence.
    rules : dict, optional
        Overrides of :data:`DEFAULT_RULES`.

    Returns
    -------
    (str, str, str)
        ``verdict`` (words), ``verdict_class`` (a key of :data:`VERDICTS`) and ``decided_by``.

    Notes
    -----
    The rules, in order (the first that applies decides):

    1. no treatment declared -> "not identified by this design";
    2. indirect-effect CI includes 0 -> "association only" when the b-path CI excludes 0 but the
       a-path CI does not (the mediator goes with the outcome, the treatment does not move it),
       else "no evidence of mediation";
    3. the treatment is not randomised -> "association only" (no link is identified causally);
    4. binary outcome -> "supported; robustness not assessed" (no closed-form rho or RV);
    5. encouragement design with a strong instrument (first-stage F >= ``weak_f``) whose 2SLS b-path
       CI excludes 0 with the sign of the observational b-path -> "causal mediation supported and
       robust; b-path identified by the encouragement design": the design identifies M -> Y without
       the no-unmeasured-confounding assumption that rho and the robustness value probe;
    6. ``|rho at zero| >= rho_robust`` and (when ``benchmark`` is on and the study has covariates)
       ``RV_{1,alpha}`` of the b-path above the strongest covariate's partial R2 -> "causal mediation
       supported and robust"; otherwise "supported but sensitive to confounding as weak as <the
       evidence that failed>".

    With several mediators, an arm that moves more than one of them (first-stage F >= ``weak_f`` for
    each) is no instrument for either: it reaches the outcome through the others too (the exclusion
    restriction fails), so its 2SLS b-path is not used and ``decided_by`` says why.
    An encouragement arm with first-stage F < ``weak_f`` (a weak instrument; Stock & Yogo 2005) never
    strengthens the verdict: whichever rule decides, the verdict ends in "; weak instrument (first-stage
    F = ...)" and ``decided_by`` says so. A strong instrument whose 2SLS CI includes 0 (or has the
    other sign) is named in ``decided_by`` and leaves rules 6 to decide.
    """
    r = _rules(rules)
    v, vc, why = _grade(ev, r)
    iv = ev.get("iv")
    if iv is None or vc == "not_identified":
        return v, vc, why
    if iv.get("reason"):
        return v, vc, f"{why}; encouragement IV not estimated: {iv['reason']}"
    if iv.get("invalid"):
        return v, vc, f"{why}; encouragement IV not used: {iv['invalid']}"
    f = iv.get("f", np.nan)
    if not (np.isfinite(f) and f >= r["weak_f"]):
        said = (f"{why}; weak instrument: the encouragement arm barely moves the mediator (first-stage F = "
                f"{f:.2f} < {r['weak_f']:g}, Stock-Yogo rule of thumb), its 2SLS b-path is not used"
                + (f" (weak-instrument-robust Anderson-Rubin set of the b-path: {iv['ar_set']})"
                   if iv.get("ar_set") else ""))
        return f"{v}; weak instrument (first-stage F = {f:.2f} < {r['weak_f']:g})", vc, said
    return v, vc, why


def _iv_supports(ev):
    """The strong-instrument 2SLS b-path excludes 0 with the observational b-path's sign (or a reason it does not)."""
    iv = ev.get("iv") or {}
    lo, hi = iv.get("ci", (np.nan, np.nan))
    b = ev.get("b_estimate", np.nan)
    if not _excludes0(lo, hi):
        return False, f"2SLS b-path CI [{lo:.3f}, {hi:.3f}] includes 0"
    if np.isfinite(b) and np.sign(b) != np.sign(iv.get("estimate", np.nan)):
        return False, f"2SLS b-path {iv.get('estimate'):.3f} has the other sign than the OLS b-path {b:.3f}"
    return True, (f"2SLS b-path {iv.get('estimate'):.3f} [{lo:.3f}, {hi:.3f}] excludes 0 with the encouragement as "
                  f"instrument (first-stage F = {iv.get('f'):.1f})")


def _grade(ev, r):
    """:func:`grade` without the weak-instrument suffix."""
    g = ev.get
    nan2 = (np.nan, np.nan)
    if not g("treatment", False):
        return VERDICTS["not_identified"], "not_identified", "design: no treatment declared"
    a_x, b_x = _excludes0(*g("a_ci", nan2)), _excludes0(*g("b_ci", nan2))
    i_x = _excludes0(*g("indirect_ci", nan2))
    if not i_x:
        if b_x and not a_x and np.isfinite(g("a_ci", nan2)[0]):
            return (VERDICTS["association"], "association",
                    ("indirect-effect CI includes 0; b-path CI excludes 0 but a-path CI includes 0 "
                     "(the treatment does not move the mediator)"))
        return VERDICTS["none"], "none", "indirect-effect CI includes 0"
    if not g("randomized", True):
        return (VERDICTS["association"], "association",
                "design: treatment not randomised, no link is identified causally")
    if g("binary", False):
        return (VERDICTS["unassessed"] + " (binary outcome)", "unassessed",
                ("ACME CI excludes 0 (logit outcome model); no closed-form rho or robustness value for a "
                 "binary outcome"))
    rho0 = g("rho_at_zero", np.nan)
    rv = g("rv_alpha", np.nan)
    bname, br2 = g("benchmark"), g("benchmark_r2", np.nan)
    why = ["indirect-effect CI excludes 0"]
    iv = g("iv")
    if iv and not iv.get("reason") and not iv.get("invalid") and np.isfinite(iv.get("f", np.nan)) \
            and iv["f"] >= r["weak_f"]:
        ok, said = _iv_supports(ev)
        if ok:
            return (f"{VERDICTS['robust']}; b-path identified by the encouragement design", "robust",
                    f"indirect-effect CI excludes 0; {said}: M -> Y needs no no-unmeasured-confounding assumption")
        why.append(said)
    weak = []
    if np.isfinite(rho0) and abs(rho0) >= r["rho_robust"]:
        why.append(f"|rho at zero| {abs(rho0):.3f} >= {r['rho_robust']:g}")
    else:
        weak.append(f"an error correlation of |rho| = {abs(rho0):.3f}" if np.isfinite(rho0) else
                    "an unknown rho (not computed)")
        why.append(f"|rho at zero| {abs(rho0):.3f} < {r['rho_robust']:g}" if np.isfinite(rho0)
                   else "rho at zero not computed")
    if r["benchmark"] and bname is not None and np.isfinite(br2):
        if np.isfinite(rv) and rv > br2:
            why.append(f"b-path RV(alpha={r['alpha']:g}) {rv:.3f} > partial R2 of {bname} {br2:.3f}")
        else:
            weak.append(f"a confounder as strong as {bname} (partial R2 {br2:.3f} >= RV {rv:.3f})")
            why.append(f"b-path RV(alpha={r['alpha']:g}) {rv:.3f} <= partial R2 of {bname} {br2:.3f}")
    elif r["benchmark"]:
        why.append("no observed covariate to benchmark the robustness value")
    if weak:
        return (f"{VERDICTS['sensitive']} as weak as {' or '.join(weak)}", "sensitive", "; ".join(why))
    return VERDICTS["robust"], "robust", "; ".join(why)


def panel_evidence(panel_comparison):
    """Temporal order and within-person cross-lags from the panel stage's ``panel_comparison`` table.

    Returns None when the table is missing or has no verdict row, else a dict with ``order``,
    ``x``, ``y``, ``x_to_y_estimate``, ``y_to_x_estimate`` and ``detail``.
    """
    t = panel_comparison
    if t is None or len(t) == 0 or "temporal_order" not in t:
        return None
    rows = t[t["row_type"] == "verdict"] if "row_type" in t else t
    if rows.empty or rows["temporal_order"].isna().all():
        return None
    r = rows.iloc[0]
    get = lambda k: float(r[k]) if k in r and pd.notna(r[k]) else np.nan
    return {"order": str(r["temporal_order"]), "x": str(r.get("x", "")), "y": str(r.get("y", "")),
            "x_to_y_estimate": get("x_to_y_estimate"), "y_to_x_estimate": get("y_to_x_estimate"),
            "detail": str(r["reason"]) if "reason" in r and pd.notna(r["reason"]) else ""}


@dataclass(repr=False)
class EvidenceProfile(ResultMixin):
    """Result of :func:`evidence_profile`.

    Attributes
    ----------
    study : str
    table : pandas.DataFrame
        One row per outcome x mediator x link, columns :data:`EVIDENCE_COLUMNS`; the verdict columns
        repeat the pair's verdict on each of its rows.
    rules : dict
        The verdict rules used.
    panel : dict or None
        The panel stage's temporal-order result (:func:`panel_evidence`).
    """

    study: str
    table: pd.DataFrame
    rules: dict = field(default_factory=dict)
    panel: dict | None = None

    _headline = ("study", "n_pairs")
    _title = "Evidence profile: cause or correlate?"
    _summary_columns = ("outcome", "mediator", "link", "estimate", "ci_low", "ci_high", "rho_at_zero", "evalue",
                        "verdict")

    @property
    def n_pairs(self) -> int:
        """Mediator-outcome pairs profiled."""
        return int(len(self.verdicts))

    @property
    def verdicts(self) -> pd.DataFrame:
        """One row per mediator-outcome pair: ``verdict``, ``verdict_class``, ``decided_by``."""
        return (self.table.drop_duplicates(["outcome", "mediator"])
                .loc[:, ["outcome", "mediator", "verdict", "verdict_class", "decided_by"]].reset_index(drop=True))

    def to_frame(self) -> pd.DataFrame:
        """The evidence table (a copy), with a leading ``study`` column."""
        t = self.table.copy()
        t.insert(0, "study", self.study)
        return t

    def to_dict(self) -> dict:
        """JSON-serialisable: study, rules, panel and the table as records (NaN -> None)."""
        def clean(v):
            if isinstance(v, (float, np.floating)):
                return float(v) if math.isfinite(v) else None
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v
        panel = None if self.panel is None else {k: clean(v) for k, v in self.panel.items()}
        return {"result": type(self).__name__, "study": self.study, "rules": {k: clean(v) for k, v in self.rules.items()}, "panel": panel,
                "rows": [{k: clean(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")]}

    def summary(self) -> str:
        """Plain-text profile: per pair, one line per link and the verdict with what decided it."""
        f = lambda v, d=3: "-" if not (isinstance(v, (int, float)) and math.isfinite(v)) else f"{v:.{d}f}"
        lines = [f"Evidence profile: {self.study}"]
        for (out, med), g in self.table.groupby(["outcome", "mediator"], sort=False, dropna=False):
            lines.append(f"  {med} -> {out}" if isinstance(med, str) else f"  {out}")
            for r in g.itertuples():
                extra = []
                if math.isfinite(r.rho_at_zero):
                    extra.append(f"rho0 {f(r.rho_at_zero)}")
                if math.isfinite(r.rv_alpha):
                    extra.append(f"RV {f(r.rv_alpha)}" + (f" vs {r.benchmark} {f(r.benchmark_r2)}"
                                                          if isinstance(r.benchmark, str) else ""))
                if math.isfinite(r.evalue):
                    extra.append(f"E {f(r.evalue, 2)} (CI {f(r.evalue_ci, 2)})")
                if math.isfinite(r.iv_estimate):
                    extra.append(f"2SLS {f(r.iv_estimate)} [{f(r.iv_ci_low)}, {f(r.iv_ci_high)}], first-stage F "
                                 f"{f(r.first_stage_f, 1)}" + (" (weak instrument)" if r.weak_instrument is True else ""))
                if isinstance(r.temporal_order, str) and r.temporal_order:
                    extra.append(f"temporal order: {r.temporal_order}")
                lines.append(f"    {r.link:12s} {str(r.identifies)[:34]:34s} {f(r.estimate):>8s} "
                             f"[{f(r.ci_low)}, {f(r.ci_high)}]  " + "; ".join(extra))
            v = g.iloc[0]
            lines.append(f"    verdict: {v.verdict} (decided by: {v.decided_by})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"EvidenceProfile(study={self.study!r}, {len(self.verdicts)} pair(s))"


def _row(**kw):
    r = {c: np.nan for c in EVIDENCE_COLUMNS}
    r.update(identifies="", benchmark=None, temporal_order="", reason="")
    r.update(kw)
    return r


def _strongest(data, x, m, y, covariates, alpha):
    """OVB sensitivity of the b-path benchmarked on each observed covariate; the strongest one."""
    from .robustness import omitted_variable_sensitivity

    covs = [c for c in covariates if c not in (x, m, y)]
    ovb = omitted_variable_sensitivity(data, m, y, covariates=[x, *covs], benchmark=covs or None, kd=1,
                                       alpha=alpha)
    if covs and len(ovb.benchmarks):
        bm = ovb.benchmarks.assign(r2=ovb.benchmarks[["r2dxj_x", "r2yxj_dx"]].max(axis=1))
        top = bm.loc[bm["r2"].idxmax()]
        return ovb, str(top["benchmark"]), float(top["r2"])
    return ovb, None, np.nan


def _evalue(est, lo, hi, sd, delta, effect):
    from .robustness import evalue

    try:
        ci = (lo, hi) if np.isfinite(lo) and np.isfinite(hi) and lo <= est <= hi else None
        e = evalue(est, ci=ci, measure="OLS", sd=sd, delta=delta, effect=effect)
        return e.evalue, e.evalue_ci
    except EfficacyError:
        return np.nan, np.nan


@renamed(ci="ci_method", treatment="x", mediator="m", outcome="y")
def evidence_profile(data, x, m, y, *, covariates=(), randomized=True, binary=(), panel=None, study="",
                     rules=None, n_boot=1000, ci_method="bca", n_sims=1000, seed=0, missing="listwise",
                     fits=None, encouragement=None):
    """The evidence profile of a study: per link what the design identifies, the estimate and its
    robustness, and a graded verdict per mediator-outcome pair.

    For each continuous outcome ``y`` and mediator ``m``: the a-path, b-path, indirect and total
    effects with bootstrap CIs (:func:`efficacy.mediation.mediate`, one mediator at a time), the rho
    at which the indirect effect is zero (:func:`efficacy.mediation.sensitivity`), the robustness
    value ``RV_{1,alpha}`` and partial R-squared of the b-path with bounds benchmarked on each observed
    covariate (:func:`efficacy.mediation.robustness.omitted_variable_sensitivity`, the mediator as
    "treatment" and ``x`` among the covariates, as ``sensemakr``), and E-values of the b-path
    association (1 SD of the mediator, on the outcome's SD) and of the indirect effect
    (:func:`efficacy.mediation.robustness.evalue`, ``measure="OLS"`` as ``EValue::evalues.OLS``). For
    a binary outcome the indirect effect is the average ACME of
    :func:`efficacy.mediation.causal.causal_mediation` (logit outcome model). The verdict is
    :func:`grade`.

    Parameters
    ----------
    data : pandas.DataFrame
        Clean data.
    x : str or None
        Treatment column; None when the design has none (then every pair is "not identified by this
        design" and only the panel evidence is reported).
    m, y : str or sequence of str
        Mediator(s) and outcome(s).
    covariates : sequence of str
        Observed covariates (adjusted for, and the benchmarks of the robustness value).
    randomized : bool, default True
        Whether ``x`` was randomised (identifies the a-path and total effect causally).
    binary : sequence of str
        Outcomes that are binary (0/1).
    panel : pandas.DataFrame or dict, optional
        The panel stage's ``panel_comparison`` table (or :func:`panel_evidence` of it).
    study : str
    rules : dict, optional
        Overrides of :data:`DEFAULT_RULES`.
    n_boot, ci_method, n_sims, seed
        Bootstrap resamples and interval type of the mediation CIs, simulations of the causal
        mediation of a binary outcome, random seed.
    missing : {"listwise", "fiml", "mi"} or dict
        Missing-data method of the mediation model (:func:`efficacy.mediation.mediate`), or one per
        outcome (``{outcome: method}``, "listwise" for an outcome not in it); the sensitivity rho,
        robustness values and E-values use the complete cases.
    fits : dict, optional
        Fits already computed by the caller, ``{(outcome, mediator): {"mediation": ..., "sensitivity":
        ..., "causal": ...}}`` (a single-mediator :func:`mediate` result with the same ``n_boot``,
        ``ci_method``, ``seed`` and ``missing``; a :func:`sensitivity` result; a logit
        :func:`causal_mediation` result); a pair or key not given is fitted here. The mediation stage
        passes its own tables so that nothing is bootstrapped twice.
    encouragement : str, optional
        The encouragement (manipulation-of-mediator) arm of a parallel encouragement design: the
        b-path is then also estimated by 2SLS with it as instrument
        (:func:`efficacy.mediation.encouragement.encouragement_iv`, with ``x`` and the covariates as
        exogenous regressors; a linear probability model for a binary outcome), in the ``M -> Y``
        row's ``iv_*`` columns with the first-stage F (the smaller of conventional and robust) and
        ``weak_instrument``; :func:`grade` uses it.

    Returns
    -------
    EvidenceProfile

    References
    ----------
    Imai, K., Tingley, D., & Yamamoto, T. (2013). Experimental designs for identifying causal
    mechanisms. *JRSS A*, 176(1), 5-51.
    Cinelli, C., & Hazlett, C. (2020). Making sense of sensitivity. *JRSS B*, 82(1), 39-67.
    VanderWeele, T. J., & Ding, P. (2017). Introducing the E-value. *Ann Intern Med*, 167, 268-274.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1); n = 300
    >>> d = pd.DataFrame({"x": rng.integers(0, 2, n), "age": rng.normal(size=n)})
    >>> d["m"] = 0.6 * d.x + rng.normal(size=n); d["y"] = 0.5 * d.m + rng.normal(size=n)
    >>> evidence_profile(d, "x", "m", "y", covariates=["age"], n_boot=200).verdicts.verdict_class[0]
    'robust'
    """
    from .causal import causal_mediation
    from .encouragement import encouragement_iv
    from .observed import mediate
    from .sensitivity import sensitivity

    iv_cache = {}

    def iv_fit(out, mj):
        if (out, mj) not in iv_cache:
            try:
                iv_cache[out, mj] = encouragement_iv(data, encouragement, mj, out, x=x, covariates=covs)
            except (ValueError, EfficacyError) as exc:
                iv_cache[out, mj] = exc
        return iv_cache[out, mj]

    def first_f(e):
        return float(np.nanmin([e.first_stage_f, e.first_stage_f_robust]))

    def iv_for(out, mj):
        """(evidence for grade, columns of the M -> Y row) of the encouragement IV, or (None, {})."""
        if not encouragement:
            return None, {}
        e = iv_fit(out, mj)
        if isinstance(e, Exception):
            return {"reason": str(e)}, {}
        f = first_f(e)
        ev = {"estimate": e.estimate, "ci": e.ci, "f": f, "ar_set": e.ar_set}
        cols = {"iv_estimate": e.estimate, "iv_ci_low": e.ci_low, "iv_ci_high": e.ci_high, "iv_pvalue": e.pvalue,
                "first_stage_f": f, "weak_instrument": bool(not f >= r["weak_f"])}
        # one arm, several mediators: the 2SLS b-path of mj needs the arm to reach the outcome only through
        # mj (exclusion restriction); an arm that also moves another mediator breaks it
        others = []
        for mk in ms:
            if mk != mj:
                ek = iv_fit(out, mk)
                if not isinstance(ek, Exception) and first_f(ek) >= r["weak_f"]:
                    others.append(f"`{mk}` (first-stage F = {first_f(ek):.1f})")
        if others and f >= r["weak_f"]:
            ev["invalid"] = (f"the encouragement arm also moves {', '.join(others)}, so it does not reach the outcome "
                             f"only through `{mj}` (exclusion restriction): its 2SLS b-path is not used")
        return ev, cols

    r = _rules(rules)
    ms = [m] if isinstance(m, str) else list(m or [])
    ys = [y] if isinstance(y, str) else list(y or [])
    covs = list(covariates or [])
    pan = panel_evidence(panel) if isinstance(panel, pd.DataFrame) else panel
    pan_kw = {}
    if pan is not None:
        pan_kw = {"temporal_order": pan["order"], "panel_estimate": pan.get("x_to_y_estimate", np.nan)}
    rows = []
    if not x or not ms or not ys:
        v, vc, why = grade({"treatment": False}, r)
        if pan is not None:
            why += f"; panel stage (RI-CLPM, within persons): temporal order supports {pan['order']}"
            rows.append(_row(outcome=pan.get("y") or "", mediator=pan.get("x") or "",
                             link="M -> Y (panel)", identifies="within-person temporal order (RI-CLPM)",
                             verdict=v, verdict_class=vc, decided_by=why,
                             reason=f"cross-lag {pan.get('y')} -> {pan.get('x')}: "
                                    f"{pan.get('y_to_x_estimate', np.nan):.3f}; {pan.get('detail', '')}",
                             **pan_kw))
        else:
            rows.append(_row(outcome="", mediator="", link="", verdict=v, verdict_class=vc, decided_by=why,
                             reason="study declares no treatment, mediator and outcome in codebook design"))
        return EvidenceProfile(study=study, table=pd.DataFrame(rows, columns=EVIDENCE_COLUMNS), rules=r, panel=pan)
    ident = {"X -> M": "causal (randomised treatment)" if randomized else "association (treatment not randomised)",
             "M -> Y": ("association (observational b-path); 2SLS with the encouragement arm in iv_*" if encouragement
                        else "association (observational b-path)"),
             "X -> M -> Y": "causal under sequential ignorability",
             "X -> Y": "causal (randomised treatment)" if randomized else "association (treatment not randomised)"}
    for out in ys:
        is_bin = out in set(binary)
        for mj in ms:
            pair = []
            base = {"outcome": out, "mediator": mj}
            pre = dict((fits or {}).get((out, mj)) or {})
            iv_ev, iv_cols = iv_for(out, mj)
            iv_note = (f"encouragement IV not estimated: {iv_ev['reason']}" if iv_ev and iv_ev.get("reason") else
                       f"encouragement IV not used: {iv_ev['invalid']}" if iv_ev and iv_ev.get("invalid") else "")
            try:
                if is_bin:
                    cm = pre.get("causal")
                    if cm is None:
                        cm = causal_mediation(data, x, mj, out, covariates=covs, outcome_model="logit",
                                              n_sims=n_sims, seed=seed)
                    ct = cm.to_frame().set_index("effect")
                    eff = {"X -> M -> Y": ct.loc["acme_average"], "X -> Y": ct.loc["total"]}
                    n = cm.n
                    for link in _LINKS:
                        e = eff.get(link)
                        pair.append(_row(**base, link=link, identifies=ident[link], n=n,
                                         **({} if e is None else {"estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high,
                                                                      "pvalue": e.get("pvalue")}),
                                         reason="" if e is not None else
                                         "binary outcome: see causal_mediation.csv (logit model)"))
                    from .robustness import omitted_variable_sensitivity

                    a = omitted_variable_sensitivity(data, x, mj, covariates=covs)   # the a-path by OLS
                    pair[0].update(estimate=a.estimate, ci_low=a.ci_low, ci_high=a.ci_high, pvalue=a.pvalue,
                                   n=a.n, reason="")
                    pair[1].update(**iv_cols)
                    if iv_note:
                        pair[1]["reason"] += f"; {iv_note}"
                    ev = {"treatment": True, "randomized": randomized, "binary": True,
                          "indirect_ci": (eff["X -> M -> Y"].ci_low, eff["X -> M -> Y"].ci_high),
                          "a_ci": (a.ci_low, a.ci_high)}
                else:
                    res = pre.get("mediation")
                    if res is None:
                        meth = missing.get(out, "listwise") if isinstance(missing, dict) else missing
                        res = mediate(data, x, mj, out, covariates=covs, n_boot=n_boot, ci_method=ci_method,
                                      seed=seed, missing=meth)
                    t = res.to_frame().set_index("effect")
                    if res.reason:
                        raise DataError(res.reason)
                    s = pre.get("sensitivity")
                    if s is None:  # only rho at zero (closed form) is used: a short bootstrap suffices
                        s = sensitivity(data, x, mj, out, covariates=covs, n_boot=min(n_boot, 200) or 100,
                                        seed=seed)
                    ovb, bname, br2 = _strongest(data, x, mj, out, covs, r["alpha"])
                    d = data[[x, mj, out, *covs]].dropna()
                    sd_y, sd_m = float(d[out].std()), float(d[mj].std())
                    key = {"X -> M": "a", "M -> Y": "b", "X -> M -> Y": "indirect", "X -> Y": "total"}
                    eb = _evalue(t.loc["b", "estimate"], t.loc["b", "ci_low"], t.loc["b", "ci_high"], sd_y, sd_m,
                                 "mediator-outcome")
                    ei = _evalue(t.loc["indirect", "estimate"], t.loc["indirect", "ci_low"],
                                 t.loc["indirect", "ci_high"], sd_y, 1.0, "indirect")
                    et = _evalue(t.loc["total", "estimate"], t.loc["total", "ci_low"], t.loc["total", "ci_high"],
                                 sd_y, 1.0, "total")
                    for link in _LINKS:
                        e = t.loc[key[link]]
                        kw = {"estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high, "pvalue": e.pvalue,
                                  "n": res.n}
                        if link == "M -> Y":
                            kw.update(rv=ovb.rv_q, rv_alpha=ovb.rv_qa, partial_r2=ovb.partial_r2, benchmark=bname,
                                      benchmark_r2=br2, evalue=eb[0], evalue_ci=eb[1], **pan_kw, **iv_cols)
                            if iv_note:
                                kw["reason"] = iv_note
                        elif link == "X -> M -> Y":
                            kw.update(rho_at_zero=s.rho_at_zero, evalue=ei[0], evalue_ci=ei[1])
                        elif link == "X -> Y":
                            kw.update(evalue=et[0], evalue_ci=et[1])
                        pair.append(_row(**base, link=link, identifies=ident[link], **kw))
                    ev = {"treatment": True, "randomized": randomized, "binary": False,
                          "a_ci": (t.loc["a", "ci_low"], t.loc["a", "ci_high"]),
                          "b_ci": (t.loc["b", "ci_low"], t.loc["b", "ci_high"]),
                          "indirect_ci": (t.loc["indirect", "ci_low"], t.loc["indirect", "ci_high"]),
                          "rho_at_zero": s.rho_at_zero, "rv_alpha": ovb.rv_qa, "benchmark": bname,
                          "benchmark_r2": br2, "b_estimate": t.loc["b", "estimate"]}
                ev["iv"] = iv_ev
            except (ValueError, EfficacyError) as exc:
                rows.append(_row(**base, link="X -> M -> Y", identifies=ident["X -> M -> Y"],
                                 verdict="not analysed", verdict_class="", decided_by=f"analysis failed: {exc}",
                                 reason=str(exc)))
                continue
            v, vc, why = grade(ev, r)
            if pan is not None:
                why += f"; panel stage (RI-CLPM, within persons): temporal order supports {pan['order']}"
            for row in pair:
                row.update(verdict=v, verdict_class=vc, decided_by=why)
            rows += pair
    return EvidenceProfile(study=study, table=pd.DataFrame(rows, columns=EVIDENCE_COLUMNS), rules=r, panel=pan)
