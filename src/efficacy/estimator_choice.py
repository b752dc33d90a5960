"""Which estimator a workflow stage uses for a scale, and why (issue #18, "Workflow").

The codebook decides per scale (:meth:`efficacy.codebook.Codebook.estimator_for`): its
``estimator`` key, else WLSMV for ordinal items (a ``ordinal`` key, or a Likert response range
of at most 7 categories), else MLR when a ``cluster`` is declared, else ML. The stages
(measurement, reliability, latent mediation, panel) ask this module for an
:class:`EstimatorChoice`: the estimator, whether the indicators are passed as ``ordered``, the
cluster column of cluster-robust standard errors, and a sentence saying why, which the stages
write into their tables (column ``estimator_reason``) and the summary quotes.

Rules beyond the codebook's per-scale choice:

* **A model of several scales** (the measurement stage's joint CFA): the common estimator when
  every scale asks for the same one. A model mixing ordinal and continuous scales is fitted by
  WLSMV with the ordinal scales' items ordered and the others continuous (lavaan's mixed moments,
  :mod:`efficacy.sem.wls_mixed`, listwise or pairwise; its invariance across groups by the same
  estimator, :func:`efficacy.measurement.invariance`), and the reason says so; as for one ordinal
  scale, a declared cluster gives cluster-robust WLSMV. Scales that ask
  for different non-ordinal estimators get MLR. Latent mediation with
  an ordinal mediator scale is fitted by WLSMV when its stage deletes listwise
  (:func:`efficacy.mediation.latent.run_stage`).
* **A model of scale scores** (panel models, the observed outcome of latent mediation): the
  mean of several Likert items is no longer an ordered item, so WLSMV does not apply; a score
  of an ordinal (or robust-estimator) scale gets MLR, bounded and skewed as it is.
* **A declared cluster** gives cluster-robust standard errors and test (lavaan ``cluster=``)
  with MLR (or MLM when the codebook asks for it), and with WLSMV for ordinal scales: an ordinal
  scale in a clustered study stays WLSMV with the cluster-robust Gamma of its thresholds and
  polychoric correlations (casewise scores summed within clusters, lavaan 0.7 / Mplus
  ``TYPE = COMPLEX``; :func:`efficacy.sem.wls.fit_wlsmv`).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EstimatorChoice", "missing_for", "model_choice", "scale_choice", "score_choice"]

_ROBUST = ("MLR", "MLM")


@dataclass(frozen=True)
class EstimatorChoice:
    """An estimator decision: lavaan's ``estimator``, ``ordered`` and ``cluster``.

    ``ordered`` is True (every indicator ordered), False, or a tuple of item names (the ordinal scales'
    items of a model that mixes them with continuous ones).
    """

    estimator: str = "ML"
    ordered: bool | tuple = False
    cluster: str | None = None
    reason: str = ""

    @property
    def ordered_arg(self):
        """lavaan's ``ordered=`` for this choice: True, a list of items, or None."""
        if not self.ordered:
            return None
        return True if self.ordered is True else list(self.ordered)

    @property
    def kwargs(self) -> dict:
        """Keyword arguments for :func:`efficacy.sem.sem` / :func:`efficacy.measurement.cfa`."""
        out = {"estimator": self.estimator}
        if self.ordered:
            out["ordered"] = self.ordered_arg
        if self.cluster:
            out["cluster"] = self.cluster
        return out


def _categories(scale) -> str:
    n = scale.n_categories
    return f"{n} response categories" if n is not None else "no integer response range"


def scale_choice(codebook, scale) -> EstimatorChoice:
    """The estimator of the items of one scale (its CFA or reliability), with the reason in words.

    Parameters
    ----------
    codebook : efficacy.codebook.Codebook
    scale : str or efficacy.codebook.Scale

    Returns
    -------
    EstimatorChoice
        e.g. ``EstimatorChoice("WLSMV", True, None, "ordinal: 5 response categories -> WLSMV")``.
    """
    s = codebook.scales[scale] if isinstance(scale, str) else scale
    cluster = getattr(codebook, "cluster", None)
    est = codebook.estimator_for(s).upper()
    if s.estimator:
        why = f"codebook sets `estimator: {s.estimator}`"
    elif est == "WLSMV":
        why = (f"ordinal (codebook `ordinal: true`, {_categories(s)})" if s.ordinal
               else f"ordinal: {_categories(s)}")
    elif s.ordinal is False:
        why = "codebook sets `ordinal: false` (continuous)"
    elif s.format != "likert":
        why = f"{s.format}-format scale, {_categories(s)}: continuous"
    else:
        why = f"continuous: {_categories(s)}"
    if est == "WLSMV":
        reason = f"{why} -> WLSMV"
        if cluster:
            reason += f"; cluster `{cluster}` declared -> cluster-robust SEs (WLSMV)"
        return EstimatorChoice("WLSMV", True, cluster or None, reason)
    if cluster and est in _ROBUST:
        return EstimatorChoice(est, False, cluster, f"{why}; cluster `{cluster}` declared -> cluster-robust "
                                                    f"SEs ({est})")
    if cluster and est == "ML":
        return EstimatorChoice("ML", False, None, f"{why} -> ML (cluster `{cluster}` declared, but the codebook "
                                                  "sets ML: SEs are not cluster-robust)")
    return EstimatorChoice(est, False, None, f"{why} -> {est}")


def model_choice(codebook, scales, items=None) -> EstimatorChoice:
    """The estimator of one model of several scales (e.g. the joint CFA): see the module notes.

    ``items``: the model's indicators, when it holds only some of the scales' items (a config model);
    a mixed model's ``ordered`` keeps only those.
    """
    names = [s if isinstance(s, str) else s.name for s in scales]
    choices = {n: scale_choice(codebook, n) for n in names}
    if not choices:
        return EstimatorChoice("ML", False, None, "no scale")
    ests = {c.estimator for c in choices.values()}
    if len(ests) == 1:
        c = next(iter(choices.values()))
        if len(choices) == 1:
            return c
        by_reason: dict = {}
        for n, ch in choices.items():
            by_reason.setdefault(ch.reason, []).append(n)
        reason = (next(iter(by_reason)) if len(by_reason) == 1
                  else "; ".join(f"{', '.join(ns)}: {r}" for r, ns in by_reason.items()))
        return EstimatorChoice(c.estimator, c.ordered, c.cluster, f"every scale {c.estimator}: {reason}")
    cluster = getattr(codebook, "cluster", None)
    ordinal = [n for n, c in choices.items() if c.estimator == "WLSMV"]
    other = [n for n in names if n not in ordinal]
    if ordinal:
        keep = None if items is None else set(items)
        ordered = tuple(dict.fromkeys(v for n in ordinal for v in codebook.scales[n].items
                                      if keep is None or v in keep))
        reason = (f"ordinal ({', '.join(ordinal)}) and continuous ({', '.join(other)}) scales in one model -> "
                  "WLSMV, the ordinal scales' items ordered, the others continuous")
        if cluster:
            reason += f"; cluster `{cluster}` declared -> cluster-robust SEs (WLSMV)"
        return EstimatorChoice("WLSMV", ordered, cluster or None, reason)
    reason = "scales ask for different estimators (" + ", ".join(f"{n}: {c.estimator}" for n, c in
                                                                 choices.items()) + ") -> MLR"
    if cluster:
        reason += f"; cluster `{cluster}` declared -> cluster-robust SEs"
    return EstimatorChoice("MLR", False, cluster, reason)


def score_choice(codebook, columns) -> EstimatorChoice:
    """The estimator of a model of observed scores (panel models, an observed outcome).

    ``columns`` are data columns; those that are scale scores bring their scale's choice: an
    ordinal or robust-estimator scale makes the model MLR (the mean of Likert items is bounded and
    skewed, not an ordered item); a declared cluster makes it cluster-robust MLR.
    """
    cluster = getattr(codebook, "cluster", None)
    robust = []
    for c in columns:
        s = codebook.scales.get(c)
        if s is None:
            continue
        est = codebook.estimator_for(s).upper()
        if est != "ML":
            robust.append((c, est, s))
    if not robust and not cluster:
        return EstimatorChoice("ML", False, None, "scores of continuous scales and observed variables -> ML")
    parts = []
    if robust:
        ords = [c for c, e, _ in robust if e == "WLSMV"]
        others = [f"{c} ({e})" for c, e, _ in robust if e != "WLSMV"]
        if ords:
            n = {robust_s.n_categories for c, e, robust_s in robust if e == "WLSMV"}
            cats = "/".join(str(k) for k in sorted(x for x in n if x is not None))
            parts.append(f"mean scores of ordinal items ({', '.join(ords)}"
                         + (f"; {cats} categories" if cats else "") + "): not ordered items, so not WLSMV")
        if others:
            parts.append("codebook asks for a robust estimator for " + ", ".join(others))
    reason = "; ".join(parts) + (" -> MLR" if parts else "")
    if cluster:
        reason = (reason + "; " if reason else "") + f"cluster `{cluster}` declared -> cluster-robust SEs (MLR)"
    return EstimatorChoice("MLR", False, cluster, reason)


def missing_for(choice: EstimatorChoice, missing: str) -> str:
    """The missing-data option a fit with ``choice`` takes when the stage asks for ``missing``.

    WLSMV has no full-information likelihood: "fiml" becomes "pairwise" (polychoric correlations
    from the rows where both items are observed); MLM needs complete data: "fiml" becomes
    "listwise".
    """
    if choice.estimator == "WLSMV":
        return "pairwise" if missing in ("fiml", "ml", "pairwise") else "listwise"
    if choice.estimator == "MLM" and missing in ("fiml", "ml"):
        return "listwise"
    return missing
