"""Multiverse analysis of a mediation claim: every defensible analysis choice, one specification each.

A mediation verdict rests on choices the analyst made: which exclusion rules were applied, how the
mediator scale was scored, which covariates entered, which estimator and missing-data method were
used, which bootstrap interval was reported. A *multiverse* analysis (Steegen, Tuerlinckx, Gelman &
Vanpaemel 2016) runs the analysis under every combination of the defensible choices; a
*specification curve* (Simonsohn, Simmons & Nelson 2020) shows the estimates ranked, with the choices
behind each one, and tests the curve as a whole against the null of no effect.

This module builds the grid of specifications from a study's codebook (:func:`specification_grid`),
fits one specification (:func:`run_specification`), tests the curve by resampling under the null
(:func:`curve_test`), splits the variance of the estimate by dimension (:func:`variance_decomposition`)
and does all of it in one call (:func:`run_multiverse`). The workflow runs one Snakemake job per
specification (``snakemake multiverse``, ``workflow/rules/multiverse.smk``).

The effect is the indirect effect ``a*b`` of the codebook's treatment on one continuous outcome
through one mediator (PROCESS model 4; Hayes 2018), in the outcome's units (it does not depend on
the mediator's metric, so sum, mean and latent scores give comparable estimates).

Dimensions (defaults from what the codebook makes possible)
-----------------------------------------------------------
``exclusions``
    Each of the codebook's exclusion rules, by name, applied (``True``) or not (``False``). A rule's
    name is its variable (``attention``, ``age``; ``age_2`` for a second rule on the same variable);
    the rule's ``reason`` text is accepted too. Default: every rule, on and off.
``scoring``
    Of the mediator scale: ``mean`` (the codebook score: mean of the answered items when at least
    ``min_items`` are answered), ``sum`` (sum of the items, only when every item is answered) or
    ``latent`` (the scale as a factor of its items in the SEM, first loading fixed to 1). Default:
    all three for a multi-item scale, ``mean`` for a mediator that is a plain variable. Latent
    scoring of a one-item scale or of a plain variable is not estimable (the row says why). The
    outcome and covariates always carry their codebook scores.
``covariates``
    Covariate sets; default none and all of the codebook's design covariates.
``estimator``
    ``ML`` or ``MLR`` (Huber-White sandwich standard errors; lavaan ``estimator = "MLR"``), or ``MLM``
    (complete data only), from :func:`efficacy.sem.sem`. ML and MLR give the same estimates and
    bootstrap intervals; they differ in the standard errors, the delta-method p-value and the joint
    significance test. ``WLSMV`` (the mediator's items as ordered categories, lavaan
    ``estimator = "WLSMV", ordered = <items>``) may be asked for when the mediator is a scale the codebook
    marks ordinal (:attr:`efficacy.codebook.Scale.is_ordinal`; otherwise a :class:`ConfigError` at load
    time). Its specifications always get their row: with ``sum`` or ``mean`` scoring, or with FIML, it is
    ``not estimable`` (a score is a continuous variable, not ordered categories; WLSMV has no FIML), and
    with latent scoring and listwise deletion the latent mediation model is fitted by
    :func:`efficacy.sem.sem` with ``estimator="WLSMV"``: the mediator's items ordered, the treatment,
    covariates and outcome continuous, lavaan's ``conditional.x = TRUE`` (probit regressions on the
    treatment and covariates, residual polychoric / polyserial correlations; :mod:`efficacy.sem.wls_mixed`,
    equal to lavaan). The row takes its estimates and a delta-method interval (no bootstrap of a WLSMV
    fit). WLSMV is not among the default estimators: of its specifications only latent scoring with
    listwise deletion is estimable, so by default it would mostly add rows that cannot be estimated.
``missing``
    ``listwise`` deletion or ``fiml`` (full-information ML, lavaan ``missing = "ml"``).
``ci``
    Bootstrap interval of the indirect effect: ``percentile`` or ``bca``.

Estimation of one specification
-------------------------------
Paths, standard errors and the delta-method SE of ``a*b`` come from :func:`efficacy.sem.sem` with the
specification's estimator and missing-data method (lavaan conventions: ``fixed.x = TRUE``, first
loading fixed to 1; checked against lavaan in ``tests/reference/multiverse.R``); an observed mediator
with listwise deletion and ML is fitted by least squares, which is the same ML estimate. The bootstrap
interval comes from :func:`efficacy.mediation.mediate` (observed mediator, listwise),
:func:`efficacy.mediation.latent_mediation` (latent mediator), or the same batched ML engine with the
observed mediator carried as a factor with one indicator and zero residual variance (observed
mediator, FIML). The sensitivity parameter rho at which the indirect effect vanishes (Imai, Keele &
Yamamoto 2010) is the closed form of :func:`efficacy.mediation.sensitivity`,
``b psi / sqrt(psi (b^2 psi + sigma^2))``, at the ML estimates (residual variances ``psi`` of the
mediator and ``sigma^2`` of the outcome); for an observed mediator with listwise deletion it is
``sensitivity(...).rho_at_zero`` (checked in the tests). The verdict follows the mediation stage:
``no evidence`` when the interval includes zero, ``fragile`` when ``|rho| < fragile_rho``, else
``robust``; ``not estimable`` with the reason when the specification cannot be fitted. Every
specification gets its row.

The curve test
--------------
Simonsohn et al. (2020) test a curve by resampling data in which the null is true: each
specification's estimated effect is subtracted from its data, rows are resampled, and every
specification is refitted, giving the distribution of the curve's summary statistics under the
null. Three statistics are tested, each two-sided (in its more extreme direction, in the observed
data and in every null resample alike): the median estimate, the share of specifications that are
significant in the dominant direction, and the share of estimates with the dominant sign. The
p-value is ``(1 + #{null >= observed}) / (1 + valid resamples)``.

For an indirect effect the null ``a*b = 0`` is a union of two nulls (``a = 0`` or ``b = 0``), and
forcing only one of them gives a test that rejects too often when the other is the true one (a
treatment that moves nothing, or a mediator that carries nothing). The test is therefore run twice,
once with ``a`` forced to zero (the mediator indicators minus ``t lambda_j a x``) and once with ``b``
forced to zero (the outcome minus ``t b m`` for an observed mediator; for a latent mediator, whose
scores cannot be subtracted, the indicators minus ``t lambda_j kappa r`` with ``r`` the outcome's
reduced-form residual and ``kappa = b psi / (b^2 psi + sigma^2)``, which makes the factor and the
outcome conditionally uncorrelated and leaves ``a`` unchanged). For an observed mediator with complete
rows ``t = 1`` zeroes the path exactly and leaves the other path and every residual variance as they
were; for a latent mediator (whose loadings re-adjust) or with missing values under FIML, ``t`` is
found by the secant method so that the refitted path is zero to 1e-6 of its estimate. The reported
p-value is the larger of the two (an intersection-union test, Berger 1982): the curve is declared
inconsistent with the null only if it is inconsistent with both. Because of this, and because the
two share statistics are discrete, the test is conservative when both paths are zero; when one path
is clearly non-zero its false-positive rate is alpha (``tests/test_multiverse.py`` checks it by
simulation). A specification counts as significant by the joint significance test (both ``a`` and
``b`` significant at ``1 - ci_level``; MacKinnon, Lockwood, Hoffman, West & Sheets 2002) with its own
standard errors. In each null resample every specification is refitted, all resamples of a model at
once (weighted least squares for an observed mediator with complete rows, batched Fisher scoring in
the ML engine of :mod:`efficacy.mediation.latent` otherwise), and its ML standard errors are
rescaled by the specification's full-sample ratio of its estimator's SE to the ML SE (so MLR
specifications stay MLR). Specifications that differ only in estimator or CI share their refits.

Variance decomposition
----------------------
:func:`variance_decomposition` regresses the estimate on every dimension (treatment-coded main
effects) and reports each dimension's Type II sum of squares (the drop in fit when it is left out,
R ``drop1(lm(...))``) as a share of the total; what the main effects leave is the interactions.
With a full factorial grid the shares are the classic eta-squared of a balanced ANOVA.

Why not the ``specification-curve`` package
-------------------------------------------
``specification-curve`` (PyPI, 0.3.9, A. Turrell) runs OLS/logit regressions over combinations of
outcomes, predictors and controls with statsmodels and draws the curve. It cannot express this
multiverse: a specification there is a set of regressors, not an exclusion rule, a latent mediator,
an estimator or a missing-data method, and the effect is one coefficient, not the product of two
from different equations. Its null resampling draws 10% subsamples in Python loops over resamples
and specifications from a module-level generator with a fixed seed, and its p-values are t-tests of
per-specification null medians, not Simonsohn et al.'s share of null curves at least as extreme.
It also pulls in ipywidgets, nbclient and typeguard. We use our own SEM engine, our vectorised
bootstrap and our figure module (:func:`efficacy.plots.specification_curve`) instead.

References
----------
Simonsohn, U., Simmons, J. P., & Nelson, L. D. (2020). Specification curve analysis. *Nature Human
Behaviour, 4*, 1208-1214.
Steegen, S., Tuerlinckx, F., Gelman, A., & Vanpaemel, W. (2016). Increasing transparency through a
multiverse analysis. *Perspectives on Psychological Science, 11*(5), 702-712.
Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling. *Technometrics,
24*(4), 295-300.
MacKinnon, D. P., Lockwood, C. M., Hoffman, J. M., West, S. G., & Sheets, V. (2002). A comparison of
methods to test mediation and other intervening variable effects. *Psychological Methods, 7*(1),
83-104.
Imai, K., Keele, L., & Yamamoto, T. (2010). Identification, inference and sensitivity analysis for
causal mediation effects. *Statistical Science, 25*(1), 51-71.
Orben, A., & Przybylski, A. K. (2019). The association between adolescent well-being and digital
technology use. *Nature Human Behaviour, 3*, 173-182 (the dominant-sign statistics).

Example
-------
>>> from efficacy.codebook import load_codebook
>>> from efficacy.multiverse import prepare_data, run_multiverse
>>> cb = load_codebook("data/raw/mastery_trial")                       # doctest: +SKIP
>>> res = run_multiverse(prepare_data(cb), cb, n_boot=200, n_null=100, seed=1)  # doctest: +SKIP
>>> print(res.summary())                                              # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from ._api import as_rng
from ._linalg import lstsq, well_conditioned
from .codebook import Codebook
from .errors import ConfigError, DataError
from .results import ResultMixin

__all__ = [
    "DIMENSIONS",
    "SPEC_COLUMNS",
    "Specification",
    "SpecificationGrid",
    "SpecificationResult",
    "CurveTestResult",
    "VarianceDecomposition",
    "MultiverseResult",
    "exclusion_names",
    "specification_grid",
    "multiverse_grids",
    "prepare_data",
    "run_specification",
    "curve_test",
    "variance_decomposition",
    "summarise",
    "aggregate",
    "run_multiverse",
]

#: The analysis dimensions after the exclusion rules (one column each in the specification table).
DIMENSIONS = ("scoring", "covariates", "estimator", "missing", "ci")

#: Values each dimension may take.
DIMENSION_VALUES = {
    "scoring": ("sum", "mean", "latent"),
    "estimator": ("ML", "MLR", "MLM", "WLSMV"),
    "missing": ("listwise", "fiml"),
    "ci": ("percentile", "bca"),
}

#: Estimators asked for in the issue that the SEM engine does not offer, with the reason.
_NOT_OFFERED = {
    "WLS": "efficacy.sem has no WLS estimator",
    "DWLS": "efficacy.sem has no DWLS estimator",
    "ULS": "efficacy.sem has no ULS estimator",
    "GLS": "efficacy.sem has no GLS estimator",
}

_CONFIG_KEYS = ("mediator", "outcome", "exclusions", "scoring", "covariates", "estimator", "missing", "ci")

#: Columns of the specification table after the choices (``exclude_<rule>`` ..., then DIMENSIONS).
SPEC_COLUMNS = ["n", "n_excluded", "a", "a_se", "b", "b_se", "indirect", "indirect_se", "pvalue",
                "ci_low", "ci_high", "ci_level", "direct", "direct_se", "direct_ci_low", "direct_ci_high",
                "total", "p_joint", "significant", "rho_at_zero", "verdict", "n_boot", "n_boot_failed",
                "converged", "reason"]

_MIN_CASES = 10


# ----------------------------------------------------------------------------- specifications
def exclusion_names(codebook: Codebook) -> dict:
    """The codebook's exclusion rules by name: the rule's variable, ``<variable>_2``, ... for repeats.

    Returns
    -------
    dict
        name -> :class:`efficacy.codebook.Exclusion`, in codebook order.
    """
    names: dict = {}
    for rule in codebook.exclusions:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", str(rule.variable)).strip("_") or "rule"
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}_{i}"
        names[name] = rule
    return names


def _cov_label(covs) -> str:
    return "+".join(covs) if covs else "none"


@dataclass(frozen=True)
class Specification:
    """One combination of analysis choices.

    Attributes
    ----------
    study, treatment, mediator, outcome : str
        What is analysed (fixed within a study's grid).
    exclusions : tuple of (name, bool)
        Every exclusion rule of the codebook with whether it is applied, in codebook order.
    scoring, estimator, missing, ci : str
    covariates : tuple of str
    """

    study: str
    treatment: str
    mediator: str
    outcome: str
    exclusions: tuple
    scoring: str
    covariates: tuple
    estimator: str
    missing: str
    ci: str

    @property
    def choices(self) -> dict:
        """The choices as table columns: ``exclude_<rule>`` (bool) and the DIMENSIONS."""
        out = {f"exclude_{name}": bool(on) for name, on in self.exclusions}
        out.update(scoring=self.scoring, covariates=_cov_label(self.covariates), estimator=self.estimator,
                   missing=self.missing, ci=self.ci)
        return out

    @property
    def id(self) -> str:
        """Stable id: a hash of the choices (independent of the grid's order and size)."""
        key = json.dumps({"exclusions": [[n, bool(o)] for n, o in self.exclusions], "scoring": self.scoring,
                          "covariates": list(self.covariates), "estimator": self.estimator,
                          "missing": self.missing, "ci": self.ci}, sort_keys=True)
        return "s" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]

    @property
    def model_key(self) -> tuple:
        """The choices that change the point estimates (not estimator or CI)."""
        return (self.exclusions, self.scoring, self.covariates, self.missing)

    def to_dict(self) -> dict:
        """JSON-serialisable form (inverse: :meth:`from_dict`)."""
        return {"id": self.id, "study": self.study, "treatment": self.treatment, "mediator": self.mediator,
                "outcome": self.outcome, "exclusions": [[n, bool(o)] for n, o in self.exclusions],
                "scoring": self.scoring, "covariates": list(self.covariates), "estimator": self.estimator,
                "missing": self.missing, "ci": self.ci}

    @classmethod
    def from_dict(cls, d: dict) -> Specification:
        """A specification from :meth:`to_dict` output (checks the id when given)."""
        spec = cls(study=d["study"], treatment=d["treatment"], mediator=d["mediator"], outcome=d["outcome"],
                   exclusions=tuple((str(n), bool(o)) for n, o in d["exclusions"]), scoring=d["scoring"],
                   covariates=tuple(d["covariates"]), estimator=d["estimator"], missing=d["missing"],
                   ci=d["ci"])
        if "id" in d and d["id"] != spec.id:
            raise ConfigError("specification id does not match its choices", found=repr(d["id"]),
                              expected=repr(spec.id))
        return spec


@dataclass(repr=False)
class SpecificationGrid(ResultMixin):
    """All specifications of one study (see :func:`specification_grid`)."""

    study: str
    treatment: str
    mediator: str
    outcome: str
    dimensions: dict
    specs: list

    _headline = ("study", "n_specifications")

    def __len__(self):
        return len(self.specs)

    @property
    def n_specifications(self) -> int:
        return len(self.specs)

    @property
    def ids(self) -> list:
        return [s.id for s in self.specs]

    def get(self, spec_id) -> Specification:
        """The specification with this id."""
        for s in self.specs:
            if s.id == spec_id:
                return s
        raise ConfigError(f"no specification {spec_id!r} in the multiverse of study {self.study!r}")

    def to_frame(self) -> pd.DataFrame:
        """One row per specification: ``spec_id`` and the choice columns."""
        return pd.DataFrame([{"spec_id": s.id, **s.choices} for s in self.specs])

    def to_dict(self) -> dict:
        return {"result": type(self).__name__, "study": self.study, "treatment": self.treatment,
                "mediator": self.mediator, "outcome": self.outcome, "dimensions": {k: list(v) for k, v in self.dimensions.items()},
                "specifications": [s.to_dict() for s in self.specs]}

    def summary(self) -> str:
        dims = "\n".join(f"  {k:22s} {', '.join(str(v) for v in vals)}" for k, vals in self.dimensions.items())
        return (f"Multiverse of {self.study}: {self.treatment} -> {self.mediator} -> {self.outcome}, "
                f"{len(self.specs)} specifications\n{dims}")


def _as_list(value, where, file):
    if isinstance(value, (str, bool, int, float)):
        return [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError("a dimension needs a non-empty list of values", file=file, where=where,
                          found=repr(value))
    return list(value)


def _mediation_roles(codebook, settings, where, file):
    des = codebook.design
    if not des.treatment or not des.mediators or not des.outcomes:
        raise ConfigError(f"study {codebook.study!r} declares no treatment, mediator and outcome in its "
                          "codebook design: it has no mediation multiverse", file=file, where=where)
    mediator = settings.get("mediator") or des.mediators[0]
    known = set(codebook.variables) | set(codebook.scales)
    if mediator not in known:
        raise ConfigError("mediator is not a variable or scale of the codebook", file=file,
                          where=f"{where}.mediator", found=repr(mediator),
                          expected=f"one of {', '.join(des.mediators)}")
    continuous = [o for o in des.outcomes if not codebook.is_binary(o)]
    outcome = settings.get("outcome")
    if outcome is None:
        if not continuous:
            raise ConfigError(f"study {codebook.study!r} has no continuous design outcome: the "
                              "product-of-coefficients indirect effect needs one", file=file, where=where)
        outcome = continuous[0]
    if outcome not in known:
        raise ConfigError("outcome is not a variable or scale of the codebook", file=file,
                          where=f"{where}.outcome", found=repr(outcome), expected=f"one of {', '.join(des.outcomes)}")
    if codebook.is_binary(outcome):
        raise ConfigError("binary outcome: the multiverse's product-of-coefficients indirect effect needs a "
                          "continuous outcome", file=file, where=f"{where}.outcome", found=repr(outcome),
                          expected=f"one of {', '.join(continuous) or '(none)'}")
    if len({des.treatment, mediator, outcome}) < 3:
        raise ConfigError("treatment, mediator and outcome must differ", file=file, where=where,
                          found=f"{des.treatment}, {mediator}, {outcome}")
    return des.treatment, mediator, outcome


def _default_dimensions(codebook, mediator):
    scale = codebook.scales.get(mediator)
    scoring = ["mean", "sum", "latent"] if scale is not None and scale.k >= 2 else ["mean"]
    covs = list(codebook.design.covariates or [])
    return {
        "exclusions": list(exclusion_names(codebook)),
        "scoring": scoring,
        "covariates": [[], covs] if covs else [[]],
        "estimator": ["ML", "MLR"],
        "missing": ["listwise", "fiml"],
        "ci": ["percentile", "bca"],
    }


def specification_grid(codebook: Codebook, config=None, *, config_file="config/config.yaml") -> SpecificationGrid:
    """The multiverse of one study: every combination of the dimensions' values.

    Parameters
    ----------
    codebook : Codebook
        The study's codebook (design roles, scales, exclusion rules).
    config : dict, optional
        The ``multiverse:`` section of the workflow config: ``dimensions`` (for every study) and
        ``studies: {<study>: {...}}`` (for one study) with any of ``mediator``, ``outcome``,
        ``exclusions`` (rule names, each varied on/off; ``[]`` to apply none), ``scoring``,
        ``covariates`` (a list of covariate lists, or ``{label: [...]}``), ``estimator``,
        ``missing``, ``ci``. Study settings win over ``dimensions``, which win over the defaults
        derived from the codebook (see the module docstring).
    config_file : str
        Named in error messages.

    Returns
    -------
    SpecificationGrid

    Raises
    ------
    ConfigError
        A study without a mediation design, an unknown exclusion rule, scoring, estimator (e.g.
        ``WLSMV`` for a mediator that is not an ordinal scale), missing-data method, interval or covariate,
        an unknown key, or a covariate that
        is also the treatment, mediator or outcome.
    """
    config = config or {}
    study = codebook.study
    glob = dict(config.get("dimensions") or {})
    local = dict((config.get("studies") or {}).get(study) or {})
    for where, block in (("multiverse.dimensions", glob), (f"multiverse.studies.{study}", local)):
        unknown = sorted(set(block) - set(_CONFIG_KEYS))
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}", file=config_file, where=where,
                              expected=f"one of {', '.join(_CONFIG_KEYS)}")
    if "mediator" in glob or "outcome" in glob:
        raise ConfigError("mediator and outcome are set per study", file=config_file,
                          where="multiverse.dimensions", expected="multiverse.studies.<study>.mediator/outcome")
    settings = {**glob, **local}
    where = f"multiverse.studies.{study}" if local else "multiverse"
    treatment, mediator, outcome = _mediation_roles(codebook, settings, where, config_file)
    dims = _default_dimensions(codebook, mediator)
    rules = exclusion_names(codebook)
    by_reason = {r.reason: n for n, r in rules.items()}

    def place(key):
        return f"{'multiverse.studies.' + study if key in local else 'multiverse.dimensions'}.{key}"

    if "exclusions" in settings:
        chosen = settings["exclusions"]
        if chosen is None:
            chosen = []
        if not isinstance(chosen, (list, tuple)):
            raise ConfigError("exclusions is a list of rule names", file=config_file, where=place("exclusions"),
                              found=repr(chosen))
        names = []
        for i, c in enumerate(chosen):
            name = c if c in rules else by_reason.get(c)
            if name is None:
                raise ConfigError(f"study {study!r} has no exclusion rule {c!r}", file=config_file,
                                  where=f"{place('exclusions')}[{i}]", found=repr(c),
                                  expected=(f"one of {', '.join(rules)} (the rule's variable) or its reason"
                                            if rules else "no rules: the codebook declares none"))
            if name not in names:
                names.append(name)
        dims["exclusions"] = names
    for key in ("scoring", "estimator", "missing", "ci"):
        if key not in settings:
            continue
        values = _as_list(settings[key], place(key), config_file)
        out = []
        for i, v in enumerate(values):
            v2 = str(v).upper() if key == "estimator" else str(v).lower()
            if key == "missing" and v2 == "ml":
                v2 = "fiml"
            if key == "estimator" and v2 in _NOT_OFFERED:
                raise ConfigError(f"estimator {v2!r} is not available: {_NOT_OFFERED[v2]}", file=config_file,
                                  where=f"{place(key)}[{i}]", found=repr(v),
                                  expected=f"one of {', '.join(DIMENSION_VALUES[key])}")
            if v2 not in DIMENSION_VALUES[key]:
                raise ConfigError(f"unknown {key}", file=config_file, where=f"{place(key)}[{i}]", found=repr(v),
                                  expected=f"one of {', '.join(DIMENSION_VALUES[key])}")
            if key == "estimator" and v2 == "WLSMV":
                scale = codebook.scales.get(mediator)
                if scale is None or not scale.is_ordinal:
                    raise ConfigError("estimator 'WLSMV' treats the mediator's items as ordered categories: the "
                                      f"mediator {mediator!r} is not a scale the codebook marks ordinal",
                                      file=config_file, where=f"{place(key)}[{i}]", found=repr(v),
                                      expected="ML, MLR or MLM (or a scale with ordinal: true, or Likert items "
                                               "with at most 7 categories)")
            if v2 not in out:
                out.append(v2)
        dims[key] = out
    if "covariates" in settings:
        raw = settings["covariates"]
        sets = list(raw.values()) if isinstance(raw, dict) else _as_list(raw, place("covariates"), config_file)
        known = set(codebook.variables) | set(codebook.scales)
        out = []
        for i, cs in enumerate(sets):
            cs = [] if cs is None else ([cs] if isinstance(cs, str) else list(cs))
            for c in cs:
                if c not in known:
                    raise ConfigError("covariate is not a variable or scale of the codebook", file=config_file,
                                      where=f"{place('covariates')}[{i}]", found=repr(c))
                if c in (treatment, mediator, outcome):
                    raise ConfigError("a covariate cannot also be the treatment, mediator or outcome",
                                      file=config_file, where=f"{place('covariates')}[{i}]", found=repr(c))
                var = codebook.variables.get(c)
                if var is not None and not var.is_numeric:
                    raise ConfigError("covariate must be numeric (code categorical covariates as 0/1 columns)",
                                      file=config_file, where=f"{place('covariates')}[{i}]", found=f"{c}: {var.type}")
            if cs not in out:
                out.append(cs)
        dims["covariates"] = out
    for c in dims["covariates"]:
        bad = [v for v in c if v in (treatment, mediator, outcome)]
        if bad:
            raise ConfigError("a design covariate is also the treatment, mediator or outcome", file=config_file,
                              where=where, found=", ".join(bad))
    excl_levels = [[(n, False), (n, True)] for n in dims["exclusions"]]
    # rules left out of the grid are never applied
    fixed_off = [n for n in rules if n not in dims["exclusions"]]
    specs = []
    for combo in itertools.product(*excl_levels, dims["scoring"], dims["covariates"], dims["estimator"],
                                   dims["missing"], dims["ci"]):
        ex = dict(combo[:len(excl_levels)])
        sc, cv, est, mi, ci = combo[len(excl_levels):]
        exclusions = tuple((n, bool(ex.get(n, False))) for n in rules)
        specs.append(Specification(study, treatment, mediator, outcome, exclusions, sc, tuple(cv), est, mi, ci))
    dimensions = {f"exclude_{n}": [False, True] for n in dims["exclusions"]}
    dimensions.update(scoring=dims["scoring"], covariates=[_cov_label(c) for c in dims["covariates"]],
                      estimator=dims["estimator"], missing=dims["missing"], ci=dims["ci"])
    for n in fixed_off:
        dimensions[f"exclude_{n}"] = [False]
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):  # pragma: no cover - a 40-bit hash collision
        raise ConfigError(f"two specifications of study {study!r} share an id")
    return SpecificationGrid(study, treatment, mediator, outcome, dimensions, specs)


def multiverse_grids(codebooks: dict, config=None, *, config_file="config/config.yaml") -> dict:
    """Grids of every study with a mediation design (treatment, mediator, continuous outcome).

    Studies without one are skipped, unless ``config["studies"]`` names them (then the reason is a
    :class:`ConfigError`); a study named there but not in the run is an error too.

    Returns
    -------
    dict
        study -> :class:`SpecificationGrid`.
    """
    config = config or {}
    named = dict(config.get("studies") or {})
    unknown = sorted(set(named) - set(codebooks))
    if unknown:
        raise ConfigError(f"study {unknown[0]!r} is not listed under studies", file=config_file,
                          where=f"multiverse.studies.{unknown[0]}", expected=f"one of {', '.join(codebooks)}")
    grids = {}
    for study, cb in codebooks.items():
        des = cb.design
        eligible = bool(des.treatment and des.mediators and any(not cb.is_binary(o) for o in des.outcomes))
        if not eligible and study not in named:
            continue
        grids[study] = specification_grid(cb, config, config_file=config_file)
    return grids


# ----------------------------------------------------------------------------- data of one specification
def prepare_data(codebook: Codebook) -> pd.DataFrame:
    """The study's clean, scored data *before* any exclusion rule (the multiverse's input).

    :func:`efficacy.cleaning.clean_study` with the exclusion rules switched off: missing codes and
    out-of-range values recoded, items reverse-scored, scale scores computed, duplicated ids
    removed. The rules are applied per specification by :func:`run_specification`.
    """
    from .cleaning import clean_study

    return clean_study(replace(codebook, exclusions=[])).clean


def _exclusion_hits(clean_raw, codebook):
    from .cleaning import _apply_exclusion

    hits = {}
    for name, rule in exclusion_names(codebook).items():
        if rule.variable not in clean_raw.columns:
            raise DataError("the data lack the variable of an exclusion rule", where=f"column {rule.variable!r}",
                            expected="the output of efficacy.multiverse.prepare_data")
        hits[name] = _apply_exclusion(clean_raw[rule.variable], rule.op, rule.value).to_numpy(bool)
    return hits


def _check_spec(spec, codebook):
    if spec.study != codebook.study:
        raise ConfigError("the specification belongs to another study", found=repr(spec.study),
                          expected=repr(codebook.study))
    roles = set(codebook.variables) | set(codebook.scales)
    for role in ("treatment", "mediator", "outcome"):
        if getattr(spec, role) not in roles:
            raise ConfigError(f"the specification's {role} is not a variable or scale of the codebook",
                              found=repr(getattr(spec, role)))
    known = exclusion_names(codebook)
    for name, _ in spec.exclusions:
        if name not in known:
            raise ConfigError(f"study {codebook.study!r} has no exclusion rule {name!r}",
                              expected=f"one of {', '.join(known) or '(none)'}")
    for key, allowed in DIMENSION_VALUES.items():
        if getattr(spec, key) not in allowed:
            raise ConfigError(f"unknown {key}", found=repr(getattr(spec, key)), expected=f"one of {', '.join(allowed)}")


class _NotEstimable(Exception):
    """A specification that cannot be fitted; the message is the row's reason."""


@dataclass
class _ModelData:
    """The rows and columns one specification analyses."""

    rows: np.ndarray          # indices into clean_raw of the analysed rows
    X: np.ndarray             # (n, r) treatment then covariates
    W: np.ndarray             # (n, k + 1) mediator indicators (or the observed score) then the outcome
    xs: list
    indicators: list
    latent: bool
    n_excluded: int

    @property
    def frame(self) -> pd.DataFrame:
        cols = self.xs + self.indicators + ["__y__"]
        return pd.DataFrame(np.column_stack([self.X, self.W]), columns=cols)


def _model_data(clean_raw, codebook, spec, hits=None) -> _ModelData:
    """Apply the specification's exclusions, scoring and missing-data rule."""
    hits = _exclusion_hits(clean_raw, codebook) if hits is None else hits
    n_all = len(clean_raw)
    keep = np.ones(n_all, bool)
    for name, on in spec.exclusions:
        if on:
            keep &= ~hits[name]
    n_excluded = int((~keep).sum())
    x, m, y, covs = spec.treatment, spec.mediator, spec.outcome, list(spec.covariates)
    for c in [x, y, *covs]:
        if c not in clean_raw.columns:
            raise DataError("column missing from the data", where=f"column {c!r}",
                            expected="the output of efficacy.multiverse.prepare_data")
    scale = codebook.scales.get(m)
    if spec.scoring == "latent":
        if scale is None:
            raise _NotEstimable(f"latent scoring needs a multi-item scale; mediator {m!r} is a single variable")
        if scale.k < 2:
            raise _NotEstimable(f"latent scoring of the one-item scale {m!r} is not identified (a factor needs "
                                "at least two items)")
        ind = np.column_stack([clean_raw[i].to_numpy(float) for i in scale.items])
        indicators = list(scale.items)
    else:
        if m not in clean_raw.columns:
            raise DataError("column missing from the data", where=f"column {m!r}")
        if spec.scoring == "sum" and scale is not None:
            items = clean_raw[scale.items].to_numpy(float)
            score = np.where(np.isnan(items).any(axis=1), np.nan, np.nansum(items, axis=1))
        else:  # mean: the codebook score; a plain variable is used as it is
            score = clean_raw[m].to_numpy(float)
        ind = score[:, None]
        indicators = [m]
    X = np.column_stack([clean_raw[c].to_numpy(float) for c in [x, *covs]])
    Y = clean_raw[y].to_numpy(float)
    W = np.column_stack([ind, Y])
    if spec.missing == "listwise":
        ok = keep & np.isfinite(X).all(axis=1) & np.isfinite(W).all(axis=1)
    else:  # FIML: complete exogenous variables (fixed.x), at least one endogenous value
        ok = keep & np.isfinite(X).all(axis=1) & np.isfinite(W).any(axis=1)
    rows = np.flatnonzero(ok)
    return _ModelData(rows, X[rows], W[rows], [x, *covs], indicators, spec.scoring == "latent", n_excluded)


def _ols_fit(md):
    """ML fit of the observed-mediator model with complete rows by least squares (as _sem_fit's dict)."""
    X, M, Y = md.X, md.W[:, 0], md.W[:, 1]
    n = len(M)
    one = np.ones((1, n))
    Xa = np.column_stack([np.ones(n), X])
    Xb = np.column_stack([Xa, M])
    ba, sa, oka = _wls_batch(Xa, M, one)
    bb, sb, okb = _wls_batch(Xb, Y, one)
    if not (oka[0] and okb[0]):
        raise _NotEstimable("near-singular design: a column is (almost) a linear combination of the others")
    ea = M - Xa @ ba[0]
    eb = Y - Xb @ bb[0]
    return dict(a=float(ba[0, 1]), a_se=float(sa[0, 1]), b=float(bb[0, -1]), b_se=float(sb[0, -1]),
                cp=float(bb[0, 1]), cp_se=float(sb[0, 1]), cov_ab=0.0, psi=float(ea @ ea / n),
                sigma2=float(eb @ eb / n), converged=True, proper=True, warnings=[], n=n)


def _sem_fit(md, spec):
    """ML / MLR / MLM / WLSMV fit of the specification with efficacy.sem.sem; labels a, b, cp."""
    from .sem import sem

    x, covs = md.xs[0], md.xs[1:]
    frame = pd.DataFrame(np.column_stack([md.X, md.W]), columns=md.xs + md.indicators + [spec.outcome])
    rhs_c = "".join(f" + {c}" for c in covs)
    if md.latent:
        fac = "eta__"
        lines = [f"{fac} =~ {' + '.join(md.indicators)}", f"{fac} ~ a*{x}{rhs_c}",
                 f"{spec.outcome} ~ b*{fac} + cp*{x}{rhs_c}"]
        med = fac
    else:
        med = md.indicators[0]
        lines = [f"{med} ~ a*{x}{rhs_c}", f"{spec.outcome} ~ b*{med} + cp*{x}{rhs_c}"]
    ordered = list(md.indicators) if spec.estimator == "WLSMV" else None
    res = sem(frame, "\n".join(lines), estimator=spec.estimator, missing=spec.missing, ordered=ordered)
    e = res.estimates
    def row(label):
        r = e[e["label"] == label]
        return float(r["estimate"].iloc[0]), float(r["se"].iloc[0])
    def var(name):
        r = e[(e["lhs"] == name) & (e["op"] == "~~") & (e["rhs"] == name)]
        return float(r["estimate"].iloc[0])
    a, a_se = row("a")
    b, b_se = row("b")
    cp, cp_se = row("cp")
    V = res.vcov
    cov_ab = float(V.loc["a", "b"]) if "a" in V.index and "b" in V.index else 0.0
    return dict(a=a, a_se=a_se, b=b, b_se=b_se, cp=cp, cp_se=cp_se, cov_ab=cov_ab, cov_acp=float(V.loc["a", "cp"]),
                cov_bcp=float(V.loc["b", "cp"]), psi=var(med), sigma2=var(spec.outcome),
                converged=bool(res.converged), proper=bool(res.proper), warnings=list(res.warnings or []),
                n=int(res.n))


# ----------------------------------------------------------------------------- the batched ML engine
def _engine_classes():
    from .mediation.latent import _Spec

    class _ObservedMediatorSpec(_Spec):
        """The observed-mediator path model in the latent engine: the mediator carried as a factor with
        one indicator, loading 1 and zero residual variance (as lavaan carries observed variables)."""

        def __init__(self, r, xs):
            super().__init__(1, 0, r, "y", "m__", ["m"], [], xs)
            self.params = [p for p in self.params if p[1] != "T"]
            self.names = [p[0] for p in self.params]
            self.P = len(self.params)
            self.idx = {p[0]: i for i, p in enumerate(self.params)}
            self.ia = self.idx[f"m__~{xs[0]}"]
            self.ib = self.idx["y~m__"]
            self.ic = self.idx[f"y~{xs[0]}"]
            self.var_idx = [i for i, p in enumerate(self.params) if p[1] in ("T", "P")]

    return _Spec, _ObservedMediatorSpec


class _Engine:
    """One specification's model in the batched ML engine of :mod:`efficacy.mediation.latent`:
    case-weighted Fisher scoring for a whole batch of weight vectors (bootstrap resamples) at once."""

    def __init__(self, X, W, k, latent):
        from .mediation.latent import _Data

        Spec, Observed = _engine_classes()
        self.X, self.W, self.k = X, W, k
        self.observed = not latent
        r = X.shape[1]
        xs = ["x"] + [f"c{j}" for j in range(1, r)]
        self.spec = Spec(k, 0, r, "y", "eta", [f"i{j}" for j in range(k)], [], xs) if latent else Observed(r, xs)
        self.n = X.shape[0]
        self.U = np.column_stack([np.ones(self.n), X])
        self.dat = _Data(W, self.U)
        s = self.spec
        self.i_psi = s.idx[[p[0] for p in s.params if p[1] == "P" and p[2] == 0][0]]
        self.i_sig = s.idx[[p[0] for p in s.params if p[1] == "P" and p[2] == 1][0]]
        self.i_lam = {p[2]: s.idx[p[0]] for p in s.params if p[1] == "L" and p[3] == 0}

    def fit(self, th0=None):
        """Full-sample ML fit (theta, converged)."""
        from .mediation.latent import _fit_batch, _starts

        mom = self.dat.moments(np.ones((1, self.n)))
        if th0 is None:
            with warnings.catch_warnings():  # rows without a mediator value: nanmean of nothing
                warnings.simplefilter("ignore", RuntimeWarning)
                th0 = _starts(self.spec, self.W, self.U)
        th, conv, _ = _fit_batch(self.spec, mom, np.asarray(th0, float)[None], maxit=500)
        return th[0], bool(conv[0])

    def loadings(self, th):
        lam = np.ones(self.k)
        for j, q in self.i_lam.items():
            lam[j] = th[q]
        return lam

    def refit(self, C, th0, batch=250, se=False, tol=1e-9):
        """Refits for case weights C (B, n), warm-started at th0: theta (B, P), converged (B,), and with
        ``se`` the ML (expected information) standard errors of a and b (B, 2)."""
        from .mediation.latent import _fit_batch, _loglik

        B = C.shape[0]
        th_out = np.full((B, self.spec.P), np.nan)
        conv_out = np.zeros(B, bool)
        se_out = np.full((B, 2), np.nan)
        for s0 in range(0, B, batch):
            Cb = C[s0:s0 + batch]
            mom = self.dat.moments(Cb)
            nb = Cb.shape[0]
            th, conv, _ = _fit_batch(self.spec, mom, np.repeat(np.asarray(th0, float)[None], nb, axis=0), tol=tol)
            th_out[s0:s0 + nb] = th
            conv_out[s0:s0 + nb] = conv
            if se:
                _, _, info = _loglik(self.spec, mom, th, grad=True)
                ok = conv & np.isfinite(info).all(axis=(1, 2))
                ok &= np.linalg.matrix_rank(np.where(ok[:, None, None], info, np.eye(self.spec.P))) == self.spec.P
                V = np.full_like(info, np.nan)
                if ok.any():
                    V[ok] = np.linalg.inv(info[ok])
                d = np.einsum("bii->bi", V)
                with np.errstate(invalid="ignore"):
                    se_out[s0:s0 + nb, 0] = np.sqrt(d[:, self.spec.ia])
                    se_out[s0:s0 + nb, 1] = np.sqrt(d[:, self.spec.ib])
        return th_out, conv_out, se_out

    def effects(self, th):
        """a, b, c' (direct), a*b per row of th (B, 4)."""
        s = self.spec
        a, b, c = th[:, s.ia], th[:, s.ib], th[:, s.ic]
        return np.column_stack([a, b, c, a * b])

    def jackknife(self, th_hat, batch=250):
        """Leave-one-out refits: effects (n, 4)."""
        out = np.full((self.n, 4), np.nan)
        for s0 in range(0, self.n, batch):
            nb = min(batch, self.n - s0)
            C = np.ones((nb, self.n))
            C[np.arange(nb), s0 + np.arange(nb)] = 0.0
            th, conv, _ = self.refit(C, th_hat, batch=batch)
            e = self.effects(th)
            e[~conv] = np.nan
            out[s0:s0 + nb] = e
        return out


def _engine_boot(md, n_boot, ci, level, seed):
    """Bootstrap interval of (indirect, direct) with the batched engine (observed mediator, FIML)."""
    from .resampling import bca_interval, case_counts

    eng = _Engine(md.X, md.W, len(md.indicators), md.latent)
    th_hat, conv = eng.fit()
    if not conv:
        raise _NotEstimable("the ML fit of the mediation model did not converge")
    est = eng.effects(th_hat[None])[0]
    rng = as_rng(seed)
    idx = rng.integers(0, eng.n, size=(n_boot, eng.n))
    th, cv, _ = eng.refit(case_counts(idx, eng.n), th_hat)
    boot = eng.effects(th)
    boot[~cv] = np.nan
    ok = np.isfinite(boot).all(axis=1)
    n_failed = int((~ok).sum())
    sel = [3, 2]  # indirect, direct
    if ok.sum() < 10:
        return (np.nan, np.nan), (np.nan, np.nan), n_failed
    if ci == "bca":
        jack = eng.jackknife(th_hat)
        lo, hi = bca_interval(boot[ok][:, sel], est[sel], jack[:, sel], level)
    else:
        alpha = (1 - level) / 2
        lo, hi = np.quantile(boot[ok][:, sel], [alpha, 1 - alpha], axis=0)
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), n_failed


# ----------------------------------------------------------------------------- one specification
@dataclass(repr=False)
class SpecificationResult(ResultMixin):
    """One specification's row (see :data:`SPEC_COLUMNS`): its choices, the paths, the indirect effect
    with its bootstrap interval, the direct effect, rho at ACME = 0 and the verdict."""

    spec: Specification
    row: dict

    _headline = ("indirect", "ci", "verdict")

    @property
    def indirect(self) -> float:
        return float(self.row["indirect"])

    @property
    def ci(self) -> tuple:
        """The bootstrap interval of the indirect effect."""
        return float(self.row["ci_low"]), float(self.row["ci_high"])

    @property
    def verdict(self) -> str:
        return str(self.row["verdict"])

    @property
    def estimable(self) -> bool:
        return self.row["verdict"] != "not estimable"

    def to_frame(self) -> pd.DataFrame:
        """The one-row table (``spec_id``, the choice columns, then :data:`SPEC_COLUMNS`)."""
        return pd.DataFrame([self.row])

    def to_dict(self) -> dict:
        out = {k: (None if isinstance(v, float) and not np.isfinite(v) else
                   (v.item() if isinstance(v, np.generic) else v)) for k, v in self.row.items()}
        return {"result": type(self).__name__, **out}

    def summary(self) -> str:
        r = self.row
        choices = ", ".join(f"{k}={v}" for k, v in self.spec.choices.items())
        if not self.estimable:
            return f"Specification {r['spec_id']}\n  {choices}\n  not estimable: {r['reason']}"
        return (f"Specification {r['spec_id']}\n  {choices}\n  n = {r['n']}: indirect {r['indirect']:.4g} "
                f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}], direct {r['direct']:.4g}, rho at zero "
                f"{r['rho_at_zero']:.3f}: {r['verdict']}")


def _base_row(spec, ci_level, n_boot):
    row = {"spec_id": spec.id, "study": spec.study, "treatment": spec.treatment, "mediator": spec.mediator,
           "outcome": spec.outcome, **spec.choices}
    row.update({c: np.nan for c in SPEC_COLUMNS})
    row.update(ci_level=ci_level, n_boot=int(n_boot), n_boot_failed=0, significant=False, converged=False,
               reason="", verdict="not estimable")
    return row


def run_specification(data, codebook, spec, *, n_boot=1000, ci_level=0.95, fragile_rho=0.2, seed=0,
                      _hits=None, _boot_cache=None) -> SpecificationResult:
    """Fit one specification of the multiverse.

    Parameters
    ----------
    data : pandas.DataFrame
        The study's scored data before exclusions (:func:`prepare_data`).
    codebook : Codebook
    spec : Specification or dict
        From :func:`specification_grid` (a dict as from :meth:`Specification.to_dict`).
    n_boot : int
        Bootstrap resamples of the interval (0: delta-method normal interval).
    ci_level : float
        Level of the interval; ``1 - ci_level`` is the level of the joint significance test.
    fragile_rho : float
        Verdict ``fragile`` when ``|rho at ACME = 0|`` is below this (as ``mediation.fragile_rho``).
    seed : int or None
        Seed of the bootstrap (the same for every specification: common random numbers).

    Returns
    -------
    SpecificationResult
        Never raises for a specification that cannot be fitted: its row says ``not estimable`` and
        why (latent scoring of a one-item scale, MLM with FIML, too few cases left by the exclusions,
        a fit that does not converge, ...).

    Raises
    ------
    ConfigError, DataError
        A specification naming a rule or value the codebook or the module does not know; data without
        a needed column.
    """
    if isinstance(spec, dict):
        spec = Specification.from_dict(spec)
    _check_spec(spec, codebook)
    if not 0 < ci_level < 1:
        raise ConfigError("ci_level must be between 0 and 1", found=repr(ci_level))
    row = _base_row(spec, ci_level, n_boot)
    try:
        _estimate(row, data, codebook, spec, n_boot=int(n_boot), ci_level=ci_level,
                  fragile_rho=fragile_rho, seed=seed, hits=_hits, boot_cache=_boot_cache)
    except _NotEstimable as exc:
        row.update(verdict="not estimable", reason=str(exc), significant=False)
    return SpecificationResult(spec, row)


def _estimate(row, clean_raw, codebook, spec, *, n_boot, ci_level, fragile_rho, seed, hits, boot_cache=None):
    md = _model_data(clean_raw, codebook, spec, hits)
    row["n_excluded"] = md.n_excluded
    n = len(md.rows)
    row["n"] = n
    k = len(md.indicators)
    need = max(_MIN_CASES, len(md.xs) + k + 4)
    if n < need:
        raise _NotEstimable(f"too few cases: {n} analysed row(s) after the exclusions and the "
                            f"{spec.missing} rule; need at least {need}")
    if spec.estimator == "MLM" and spec.missing == "fiml":
        raise _NotEstimable("the MLM (Satorra-Bentler) estimator needs complete data: not available with FIML")
    if spec.estimator == "WLSMV":
        if not md.latent:
            raise _NotEstimable(f"WLSMV treats the mediator's items as ordered categories; with {spec.scoring} "
                                "scoring the mediator is a continuous score (use ML or MLR)")
        if spec.missing == "fiml":
            raise _NotEstimable("WLSMV has no FIML (lavaan: listwise or pairwise deletion with ordered items)")
    for j, c in enumerate(md.xs):
        if np.ptp(md.X[:, j]) == 0:
            raise _NotEstimable(f"column {c!r} is constant in the analysed rows")
    for j, c in enumerate(md.indicators + [spec.outcome]):
        w = md.W[:, j][np.isfinite(md.W[:, j])]
        if len(w) < 2 or np.ptp(w) == 0:
            raise _NotEstimable(f"column {c!r} is constant (or empty) in the analysed rows")
    observed_ls = not md.latent and spec.missing == "listwise"
    if observed_ls and spec.estimator == "ML":
        fit = _ols_fit(md)  # least squares = ML here (lavaan fixed.x, expected information)
    else:
        try:
            fit = _sem_fit(md, spec)
        except (ValueError, np.linalg.LinAlgError) as exc:
            if spec.estimator == "WLSMV":
                raise _NotEstimable(f"latent mediation cannot be fitted by WLSMV here: {exc}") from None
            raise _NotEstimable(f"the SEM did not fit: {exc}") from None
    if not fit["converged"]:
        raise _NotEstimable(f"the {spec.estimator} fit of the mediation model did not converge")
    a, b, cp = fit["a"], fit["b"], fit["cp"]
    ind = a * b
    ind_se = float(np.sqrt(max(b * b * fit["a_se"] ** 2 + a * a * fit["b_se"] ** 2 + 2 * a * b * fit["cov_ab"], 0)))
    z = stats.norm.ppf(0.5 + ci_level / 2)
    notes = list(fit["warnings"])
    if not fit["proper"]:
        notes.append("improper solution (negative variance)")
    # ---- bootstrap interval
    n_failed = 0
    if n_boot <= 0 or spec.estimator == "WLSMV":
        ci_i = (ind - z * ind_se, ind + z * ind_se)
        ci_d = (cp - z * fit["cp_se"], cp + z * fit["cp_se"])
        if n_boot > 0:
            notes.append("WLSMV: delta-method interval (no bootstrap of a WLSMV fit)")
    else:
        # The bootstrap does not depend on the estimator (ML and MLR share the estimates, the resamples and
        # the refits), so specifications that differ only in it share one bootstrap (run_multiverse).
        key = (spec.model_key, spec.ci, n_boot, ci_level, seed)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            boot_cache = None  # a generator (or None) gives every specification its own draws: nothing to share
        if boot_cache is not None and key in boot_cache:
            ci_i, ci_d, n_failed, boot_notes, boot_ind = boot_cache[key]
        else:
            ci_i, ci_d, n_failed, boot_notes, boot_ind = _bootstrap(md, spec, n_boot, ci_level, seed)
            if boot_cache is not None:
                boot_cache[key] = (ci_i, ci_d, n_failed, boot_notes, boot_ind)
        notes += boot_notes
        if boot_ind is not None and not np.isclose(boot_ind, ind, rtol=1e-4, atol=1e-8 * (1 + abs(ind))):
            notes.append(f"bootstrap engine estimate {boot_ind:.6g} differs from the SEM's {ind:.6g}")
    # ---- sensitivity: rho at which the indirect effect vanishes (Imai, Keele & Yamamoto 2010, Theorem 2:
    # the correlation of the mediator residual with the total-effect residual b e_m + e_y, here from the ML
    # estimates; with an observed mediator and listwise deletion it is efficacy.mediation.sensitivity's rho)
    psi, s2 = fit["psi"], fit["sigma2"]
    den = psi * (b * b * psi + s2)
    rho = float(b * psi / np.sqrt(den)) if den > 0 else np.nan
    p_a = 2 * stats.norm.sf(abs(a / fit["a_se"])) if fit["a_se"] > 0 else np.nan
    p_b = 2 * stats.norm.sf(abs(b / fit["b_se"])) if fit["b_se"] > 0 else np.nan
    p_joint = float(max(p_a, p_b))
    excl = bool(np.isfinite(ci_i[0]) and np.isfinite(ci_i[1]) and not (ci_i[0] <= 0 <= ci_i[1]))
    if not np.all(np.isfinite(ci_i)):
        verdict = "not estimable"
        notes.append("no bootstrap interval (too few valid resamples)")
    elif not excl:
        verdict = "no evidence"
    elif np.isfinite(rho) and abs(rho) < fragile_rho:
        verdict = "fragile"
    else:
        verdict = "robust"
    row.update(a=a, a_se=fit["a_se"], b=b, b_se=fit["b_se"], indirect=ind, indirect_se=ind_se,
               pvalue=float(2 * stats.norm.sf(abs(ind / ind_se))) if ind_se > 0 else np.nan,
               ci_low=ci_i[0], ci_high=ci_i[1], direct=cp, direct_se=fit["cp_se"], direct_ci_low=ci_d[0],
               direct_ci_high=ci_d[1], total=cp + ind, p_joint=p_joint,
               significant=bool(p_joint < 1 - ci_level), rho_at_zero=rho, verdict=verdict,
               n_boot_failed=int(n_failed), converged=True, reason="; ".join(dict.fromkeys(notes)))


def _bootstrap(md, spec, n_boot, ci_level, seed):
    """Bootstrap intervals of the indirect and direct effects of one specification's model:
    (ci_indirect, ci_direct, n_failed, notes, the bootstrap engine's point estimate of a*b or None)."""
    notes = []
    boot_ind = None
    if not md.latent and spec.missing == "listwise":
        from .mediation import mediate

        res = mediate(md.frame, md.xs[0], md.indicators[0], "__y__", covariates=md.xs[1:], n_boot=n_boot,
                      ci_method=spec.ci, seed=seed, ci_level=ci_level)
        t = res.to_frame()
        ri = t[t["effect"] == "indirect"].iloc[0]
        rd = t[t["effect"] == "direct"].iloc[0]
        ci_i, ci_d = (float(ri.ci_low), float(ri.ci_high)), (float(rd.ci_low), float(rd.ci_high))
        n_failed = res.n_boot_failed
        notes += res.warnings
    elif md.latent:
        from .mediation import latent_mediation

        res = latent_mediation(md.frame, md.xs[0], md.indicators, "__y__", covariates=md.xs[1:], n_boot=n_boot,
                               ci_method=spec.ci, seed=seed, missing=spec.missing, ci_level=ci_level,
                               sum_score=False)
        t = res.to_frame()
        rd = t[(t["model"] == "latent") & (t["effect"] == "direct")].iloc[0]
        ci_i, ci_d = res.indirect_ci, (float(rd.ci_low), float(rd.ci_high))
        n_failed = res.n_failed
        if res.reason:
            raise _NotEstimable(res.reason)
        boot_ind = res.indirect
    else:
        ci_i, ci_d, n_failed = _engine_boot(md, n_boot, spec.ci, ci_level, seed)
        if n_failed:
            notes.append(f"{n_failed} of {n_boot} bootstrap refits did not converge and were dropped")
    return ci_i, ci_d, n_failed, notes, boot_ind


# ----------------------------------------------------------------------------- the curve test
@dataclass(repr=False)
class CurveTestResult(ResultMixin):
    """Result of :func:`curve_test` (Simonsohn, Simmons & Nelson 2020).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per statistic (``median_estimate``, ``share_significant``, ``share_dominant_sign``):
        ``estimate`` (observed), ``direction``, ``pvalue`` (the larger of the two forced nulls),
        ``pvalue_force_a``, ``pvalue_force_b``, ``null_median`` and ``null_q95`` (of the statistic
        under the binding null), ``n_specifications``, ``n_null``, ``n_null_valid``.
    null : dict
        Per forced path (``"a"``, ``"b"``), the null estimates (specifications x resamples).
    """

    table: pd.DataFrame
    n_null: int
    n_specifications: int
    ci_level: float
    null: dict = field(repr=False, default_factory=dict)
    warnings: list = field(default_factory=list)

    _headline = ("n_specifications", "n_null", "median_pvalue")

    @property
    def median_pvalue(self) -> float:
        """p-value of the median estimate."""
        return self.pvalue("median_estimate")

    def pvalue(self, statistic) -> float:
        return float(self.table.set_index("quantity").loc[statistic, "pvalue"])

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"result": type(self).__name__, "n_null": self.n_null, "n_specifications": self.n_specifications,
                "ci_level": self.ci_level,
                "statistics": t.to_dict(orient="records"), "warnings": list(self.warnings)}

    def summary(self) -> str:
        lines = [f"Specification curve test ({self.n_specifications} specifications, {self.n_null} resamples "
                 "under the null; p = max over forcing a = 0 and b = 0)"]
        for r in self.table.itertuples():
            est = f"{r.estimate:.4g}" if r.quantity == "median_estimate" else f"{r.estimate:.1%}"
            lines.append(f"  {r.quantity:20s} {est:>9s} ({r.direction})  p = {r.pvalue:.4f} "
                         f"(force a: {r.pvalue_force_a:.4f}, force b: {r.pvalue_force_b:.4f})")
        lines += [f"  note: {w}" for w in self.warnings]
        return "\n".join(lines)


def _curve_statistics(est, sig):
    """Two-sided curve statistics per column: est, sig (K, B) with sig in {-1, 0, 1} (NaN est = failed).

    Returns (|median|, signed median, max share significant, its sign, max share of a sign, its sign)."""
    valid = np.isfinite(est)
    nv = valid.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        med = np.nanmedian(np.where(valid, est, np.nan), axis=0) if est.size else np.full(est.shape[1], np.nan)
        pos = np.where(valid, est > 0, False).sum(axis=0) / nv
        neg = np.where(valid, est < 0, False).sum(axis=0) / nv
        sp = np.where(valid, sig > 0, False).sum(axis=0) / nv
        sn = np.where(valid, sig < 0, False).sum(axis=0) / nv
    return (np.abs(med), med, np.maximum(sp, sn), np.where(sn > sp, -1, 1), np.maximum(pos, neg),
            np.where(neg > pos, -1, 1))


def _force_direction(eng, th, which):
    """The shift D of the engine's data (W - D forces path ``which`` to zero to first order; module docstring):
    ``lambda_j a x`` on the mediator indicators for a; ``b m`` on the outcome (observed mediator) or
    ``lambda_j kappa r`` on the indicators (latent mediator) for b. Zero where a value is missing."""
    s, k = eng.spec, eng.k
    D = np.zeros_like(eng.W)
    lam = eng.loadings(th)
    a, b = th[s.ia], th[s.ib]
    if which == "a":
        D[:, :k] = lam[None, :] * a * eng.X[:, :1]
    elif eng.observed:
        D[:, k] = b * eng.W[:, 0]
    else:
        psi, s2 = th[eng.i_psi], th[eng.i_sig]
        kappa = b * psi / (b * b * psi + s2)
        K, _ = s.implied(th[None])
        r = eng.W[:, k] - eng.U @ K[0, k, :]
        D[:, :k] = lam[None, :] * kappa * r[:, None]
    return np.nan_to_num(D, nan=0.0)


def _force_null(eng, th, which, *, tol=1e-6, maxit=12):
    """The engine of the data with path ``which`` ("a" or "b") forced to zero, and its ML estimates.

    The data are shifted by ``t D`` (:func:`_force_direction`) with the scalar ``t`` found by the secant
    method so that the refitted path is zero to ``tol`` times its estimate. ``t = 1`` is exact for an
    observed mediator with complete rows; a latent mediator (whose loadings re-adjust) or rows with
    missing values under FIML need a few refits. Returns (engine, theta, converged, |remaining| / |original|).
    """
    q = eng.spec.ia if which == "a" else eng.spec.ib
    orig = th[q]
    scale = abs(orig) or 1.0
    D = _force_direction(eng, th, which)

    def path(t, start):
        e = _Engine(eng.X, eng.W - t * D, eng.k, not eng.observed)
        th_t, conv = e.fit(start)
        return e, th_t, conv, th_t[q]

    t_prev, g_prev = 0.0, orig
    t = 1.0
    e, th_t, conv, g = path(t, th)
    for _ in range(maxit):
        if not conv or abs(g) <= tol * scale or g == g_prev:
            break
        t, t_prev, g_prev = t - g * (t - t_prev) / (g - g_prev), t, g
        e, th_t, conv, g = path(t, th_t)
    return e, th_t, bool(conv), abs(g) / scale


def _wls_batch(D, t, C):
    """Weighted least squares of t on D for every row of case weights C (B, n): beta (B, p), ML SEs
    (residual variance sum(w e^2) / sum(w), as lavaan's ML with fixed.x), ok (B,)."""
    n, p = D.shape
    F = (D[:, :, None] * D[:, None, :]).reshape(n, p * p)
    G = (C @ F).reshape(-1, p, p)
    h = C @ (D * t[:, None])
    ok = well_conditioned(G, exact=True)
    G = np.where(ok[:, None, None], G, np.eye(p))
    Gi = np.linalg.inv(G)
    beta = np.einsum("bpq,bq->bp", Gi, h)
    e = t[None, :] - beta @ D.T
    s2 = (C * e * e).sum(axis=1) / C.sum(axis=1)
    se = np.sqrt(np.clip(s2[:, None] * np.einsum("bii->bi", Gi), 0, None))
    beta[~ok] = np.nan
    return beta, se, ok


def _ols_paths(X, M, Y, C):
    """a, b and their ML SEs (B, 2) each, ok (B,), for the observed-mediator model with weights C."""
    n = len(M)
    Xa = np.column_stack([np.ones(n), X])
    Xb = np.column_stack([Xa, M])
    ba, sa, oka = _wls_batch(Xa, M, C)
    bb, sb, okb = _wls_batch(Xb, Y, C)
    e = np.column_stack([ba[:, 1], bb[:, -1]])
    se = np.column_stack([sa[:, 1], sb[:, -1]])
    return e, se, oka & okb & np.isfinite(e).all(axis=1)


def _ols_null(md, C):
    """Null resamples of an observed-mediator model with complete rows, in closed form: the forcing is
    exact (M - a x, or Y - b M) and each refit is a weighted least-squares solve."""
    X, M, Y = md.X, md.W[:, 0], md.W[:, 1]
    one = np.ones((1, len(M)))
    e0, se0, ok0 = _ols_paths(X, M, Y, one)
    if not ok0[0]:
        return "the least-squares fit is singular"
    a, b = e0[0]
    out = {}
    for f in ("a", "b"):
        Mf, Yf = (M - a * X[:, 0], Y) if f == "a" else (M, Y - b * M)
        e, se, ok = _ols_paths(X, Mf, Yf, C)
        out[f] = (e, se, ok, 0.0)
    return se0[0], out


def _engine_null(md, C, batch):
    """Null resamples with the batched ML engine (latent mediator, or FIML with missing values)."""
    eng = _Engine(md.X, md.W, len(md.indicators), md.latent)
    th_hat, conv = eng.fit()
    if not conv:
        return "the ML fit did not converge"
    _, _, se_full = eng.refit(np.ones((1, eng.n)), th_hat, se=True)
    out = {}
    for f in ("a", "b"):
        ef, th0, conv0, rel = _force_null(eng, th_hat, f)
        if not conv0:
            out[f] = f"the fit under the forced null {f} = 0 did not converge"
            continue
        th, cv, se = ef.refit(C, th0, batch=batch, se=True, tol=1e-7)
        e = ef.effects(th)[:, :2]
        ok = cv & np.isfinite(e).all(axis=1) & np.isfinite(se).all(axis=1)
        out[f] = (e, se, ok, rel)
    return se_full[0], out


def curve_test(data, codebook, results, *, n_null=500, seed=0, batch=250) -> CurveTestResult:
    """Inferential specification curve test (Simonsohn, Simmons & Nelson 2020), under-the-null bootstrap.

    Parameters
    ----------
    data : pandas.DataFrame
        Scored data before exclusions (:func:`prepare_data`).
    codebook : Codebook
    results : pandas.DataFrame or list of SpecificationResult
        The specification table (rows of :func:`run_specification`; the workflow's
        ``specifications.csv``). Specifications that are not estimable are left out of the curve.
    n_null : int
        Resamples under each forced null (Simonsohn et al. used 500).
    seed : int or None
        Seed of the resampled rows (the same rows for every specification in a resample).
    batch : int
        Resamples refitted together.

    Returns
    -------
    CurveTestResult

    Notes
    -----
    See the module docstring: each specification's data get its own estimated ``a`` (then ``b``)
    subtracted, the rows of the study (before exclusions) are resampled with replacement, each
    specification keeps the resampled rows its exclusions and missing-data rule admit, and every
    specification is refitted (batched over resamples). A resample whose refit fails is left out of
    that resample's curve; ``n_null_valid`` counts resamples with at least one valid estimate.
    """
    tab = _as_table(results)
    level = float(tab["ci_level"].dropna().iloc[0]) if tab["ci_level"].notna().any() else 0.95
    est_tab = tab[tab["verdict"] != "not estimable"].reset_index(drop=True)
    est_tab = est_tab[np.isfinite(est_tab[["a", "b", "a_se", "b_se"]].to_numpy(float)).all(axis=1)]
    est_tab = est_tab.reset_index(drop=True)
    K = len(est_tab)
    stat_names = ["median_estimate", "share_significant", "share_dominant_sign"]
    if K == 0:
        t = pd.DataFrame({"quantity": stat_names, "estimate": np.nan, "direction": "", "pvalue": np.nan,
                          "pvalue_force_a": np.nan, "pvalue_force_b": np.nan, "null_median": np.nan,
                          "null_q95": np.nan, "n_specifications": 0, "n_null": int(n_null), "n_null_valid": 0})
        return CurveTestResult(t, int(n_null), 0, level, warnings=["no estimable specification"])
    zc = stats.norm.ppf(0.5 + level / 2)
    specs = [_spec_from_row(r, codebook) for r in est_tab.to_dict(orient="records")]
    obs_est = est_tab["indirect"].to_numpy(float)
    a_se, b_se = est_tab["a_se"].to_numpy(float), est_tab["b_se"].to_numpy(float)
    za = est_tab["a"].to_numpy(float) / a_se
    zb = est_tab["b"].to_numpy(float) / b_se
    obs_sig = np.where((np.abs(za) > zc) & (np.abs(zb) > zc), np.sign(obs_est), 0.0)
    obs = _curve_statistics(obs_est[:, None], obs_sig[:, None])
    hits = _exclusion_hits(data, codebook)
    n_all = len(data)
    rng = as_rng(seed)
    from .resampling import case_counts

    counts = case_counts(rng.integers(0, n_all, size=(int(n_null), n_all)), n_all)
    groups: dict = {}
    for i, s in enumerate(specs):
        groups.setdefault(s.model_key, []).append(i)
    null_est = {f: np.full((K, int(n_null)), np.nan) for f in ("a", "b")}
    null_sig = {f: np.zeros((K, int(n_null))) for f in ("a", "b")}
    warnings_ = []
    residual = {"a": 0.0, "b": 0.0}
    for key, members in groups.items():
        md = _model_data(data, codebook, specs[members[0]], hits)
        C = counts[:, md.rows]
        fast = not md.latent and np.isfinite(md.W).all()  # observed mediator, complete rows: least squares
        null = _ols_null(md, C) if fast else _engine_null(md, C, batch)
        if isinstance(null, str):
            warnings_.append(f"model of {specs[members[0]].id}: {null}: left out of the null")
            continue
        se_full, by_force = null
        ra = a_se[members] / se_full[0]
        rb = b_se[members] / se_full[1]
        for f, out in by_force.items():
            if isinstance(out, str):
                warnings_.append(f"model of {specs[members[0]].id}: {out}: left out of the null {f} = 0")
                continue
            e, se, ok, rel = out
            residual[f] = max(residual[f], rel)
            ind = np.where(ok, e[:, 0] * e[:, 1], np.nan)
            for j, i in enumerate(members):
                sa = np.abs(e[:, 0]) > zc * se[:, 0] * ra[j]
                sb = np.abs(e[:, 1]) > zc * se[:, 1] * rb[j]
                null_est[f][i] = ind
                null_sig[f][i] = np.where(ok & sa & sb, np.sign(ind), 0.0)
    for f in ("a", "b"):
        if residual[f] > 1e-4:
            warnings_.append(f"forcing {f} = 0 left up to {residual[f]:.2%} of the estimated {f} in some "
                             "specification's data")
    names_obs = {"median_estimate": (obs[0][0], obs[1][0]), "share_significant": (obs[2][0], obs[3][0]),
                 "share_dominant_sign": (obs[4][0], obs[5][0])}
    pv = {f: {} for f in ("a", "b")}
    nulls = {f: {} for f in ("a", "b")}
    valid = {}
    for f in ("a", "b"):
        ns = _curve_statistics(null_est[f], null_sig[f])
        ok = np.isfinite(null_est[f]).any(axis=0)
        valid[f] = int(ok.sum())
        for name, vals in zip(stat_names, (ns[0], ns[2], ns[4])):
            v = vals[ok]
            t_obs = names_obs[name][0]
            pv[f][name] = (1 + np.sum(v >= t_obs - 1e-12)) / (1 + len(v)) if len(v) else np.nan
            nulls[f][name] = v
    rows = []
    for name in stat_names:
        t_obs, sgn = names_obs[name]
        bind = "a" if pv["a"][name] >= pv["b"][name] else "b"
        v = nulls[bind][name]
        est_val = obs[1][0] if name == "median_estimate" else t_obs
        rows.append({"quantity": name, "estimate": float(est_val),
                     "direction": "positive" if sgn >= 0 else "negative",
                     "pvalue": float(max(pv["a"][name], pv["b"][name])),
                     "pvalue_force_a": float(pv["a"][name]), "pvalue_force_b": float(pv["b"][name]),
                     "null_median": float(np.median(v)) if len(v) else np.nan,
                     "null_q95": float(np.quantile(v, 0.95)) if len(v) else np.nan,
                     "n_specifications": K, "n_null": int(n_null), "n_null_valid": min(valid.values())})
    return CurveTestResult(pd.DataFrame(rows), int(n_null), K, level, null={"a": null_est["a"], "b": null_est["b"]},
                           warnings=list(dict.fromkeys(warnings_)))


def _as_table(results) -> pd.DataFrame:
    if isinstance(results, pd.DataFrame):
        return results.reset_index(drop=True)
    return pd.DataFrame([r.row for r in results])


def _spec_from_row(row, codebook) -> Specification:
    rules = exclusion_names(codebook)
    exclusions = tuple((n, _truthy(row.get(f"exclude_{n}", False))) for n in rules)
    cov = row.get("covariates")
    covs = () if cov in (None, "none") or (isinstance(cov, float) and np.isnan(cov)) else tuple(str(cov).split("+"))
    return Specification(str(row["study"]), str(row["treatment"]), str(row["mediator"]), str(row["outcome"]),
                         exclusions, str(row["scoring"]), covs, str(row["estimator"]), str(row["missing"]),
                         str(row["ci"]))


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "on")
    return bool(v) and not (isinstance(v, float) and np.isnan(v))


# ----------------------------------------------------------------------------- variance decomposition
@dataclass(repr=False)
class VarianceDecomposition(ResultMixin):
    """Result of :func:`variance_decomposition`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per dimension (largest share first), then ``interactions`` (what the main effects
        leave) and ``total``: ``dimension``, ``df``, ``ss`` (Type II sum of squares), ``share``
        (of the total sum of squares), ``range`` (largest minus smallest level mean) and
        ``level_means`` (``level=mean; ...``).
    leading : str
        The dimension with the largest share ("" when the estimate does not vary).
    """

    table: pd.DataFrame
    estimate: str
    n: int
    leading: str

    _headline = ("leading", "n")

    def share(self, dimension) -> float:
        return float(self.table.set_index("dimension").loc[dimension, "share"])

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"result": type(self).__name__, "estimate": self.estimate, "n": self.n, "leading": self.leading,
                "rows": t.to_dict(orient="records")}

    def summary(self) -> str:
        lines = [f"Variance of {self.estimate} over {self.n} specifications by dimension (Type II, main effects):"]
        for r in self.table.itertuples():
            lines.append(f"  {r.dimension:24s} share {r.share:6.1%}  range {r.range:.4g}")
        return "\n".join(lines)


def dimension_columns(table) -> list:
    """The choice columns of a specification table: ``exclude_<rule>`` ... and :data:`DIMENSIONS`."""
    return [c for c in table.columns if str(c).startswith("exclude_")] + [d for d in DIMENSIONS if d in table.columns]


def variance_decomposition(data, dimensions=None, *, estimate="indirect") -> VarianceDecomposition:
    """Share of the variance of the estimate explained by each dimension (ANOVA-style, Type II).

    Parameters
    ----------
    data : pandas.DataFrame
        Specification table (not-estimable rows, with a missing estimate, are left out).
    dimensions : list of str, optional
        Choice columns (default :func:`dimension_columns`); columns with one level are skipped.
    estimate : str
        The column decomposed.

    Returns
    -------
    VarianceDecomposition

    Notes
    -----
    The estimate is regressed on all dimensions (treatment-coded main effects); a dimension's sum of
    squares is the increase of the residual sum of squares when it is dropped (R
    ``drop1(lm(estimate ~ d1 + d2 + ...))``, the Type II sum of squares of a main-effects model).
    In a balanced full-factorial grid these are the main-effect sums of squares of the ANOVA and add
    up with the interactions to the total.
    """
    dims = list(dimensions) if dimensions is not None else dimension_columns(data)
    d = data[np.isfinite(pd.to_numeric(data[estimate], errors="coerce"))].reset_index(drop=True)
    y = d[estimate].to_numpy(float)
    n = len(y)
    used = [c for c in dims if c in d.columns and d[c].astype(str).nunique() > 1]
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if n else np.nan

    def design(cols):
        parts = [np.ones((n, 1))]
        for c in cols:
            lv = sorted(d[c].astype(str).unique())
            parts.append(np.column_stack([(d[c].astype(str) == v).to_numpy(float) for v in lv[1:]]))
        return np.column_stack(parts)

    def rss(cols):
        Xd = design(cols)
        beta = lstsq(Xd, y)
        e = y - Xd @ beta
        return float(e @ e), int(np.linalg.matrix_rank(Xd))

    rows = []
    if n:
        rss_full, rank_full = rss(used)
        for c in used:
            r_c, rank_c = rss([u for u in used if u != c])
            means = d.groupby(d[c].astype(str), sort=True)[estimate].mean()
            ss = r_c - rss_full
            ss = ss if ss > 1e-10 * ss_tot else 0.0  # rounding noise of a dimension that does not move it
            rows.append({"dimension": c, "df": rank_full - rank_c, "ss": ss,
                         "share": ss / ss_tot if ss_tot > 0 else 0.0,
                         "range": float(means.max() - means.min()),
                         "level_means": "; ".join(f"{k}={v:.6g}" for k, v in means.items())})
        rows.sort(key=lambda r: -r["ss"])
        rows.append({"dimension": "interactions", "df": n - rank_full, "ss": rss_full,
                     "share": rss_full / ss_tot if ss_tot > 0 else 0.0, "range": np.nan, "level_means": ""})
        rows.append({"dimension": "total", "df": n - 1, "ss": ss_tot, "share": 1.0 if ss_tot > 0 else 0.0,
                     "range": float(y.max() - y.min()), "level_means": ""})
    t = pd.DataFrame(rows, columns=["dimension", "df", "ss", "share", "range", "level_means"])
    leading = rows[0]["dimension"] if rows and used and ss_tot > 0 and rows[0]["ss"] > 0 else ""
    return VarianceDecomposition(t, estimate, n, leading)


# ----------------------------------------------------------------------------- putting it together
@dataclass(repr=False)
class MultiverseResult(ResultMixin):
    """A study's multiverse: the specification table, the curve test and the variance decomposition."""

    study: str
    table: pd.DataFrame
    curve: CurveTestResult
    variance: VarianceDecomposition
    fragile_rho: float = 0.2

    _headline = ("study", "n_specifications")

    @property
    def n_specifications(self) -> int:
        return int(len(self.table))

    def to_frame(self) -> pd.DataFrame:
        """The specification table (one row per specification)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {"result": type(self).__name__, "study": self.study, "specifications": t.to_dict(orient="records"),
                "curve_test": self.curve.to_dict(), "variance": self.variance.to_dict()}

    def summary(self) -> str:
        """Markdown: does the verdict hold across the multiverse, and which choice moves it most."""
        return summarise(self.study, self.table, self.curve, self.variance)


def summarise(study, table, curve, variance) -> str:
    """The report section (markdown) of a study's multiverse."""
    t = table
    n = len(t)
    est = t[t["verdict"] != "not estimable"]
    counts = est["verdict"].value_counts()
    first = t.iloc[0] if n else {}
    lines = [f"# Multiverse: {study}", ""]
    if n:
        lines.append(f"Indirect effect of `{first['treatment']}` on `{first['outcome']}` through "
                     f"`{first['mediator']}` under {n} specifications ({len(est)} estimable).")
    if n - len(est):
        why = t.loc[t["verdict"] == "not estimable", "reason"].astype(str).value_counts()
        lines.append("Not estimable: " + "; ".join(f"{c} x {r}" for r, c in why.items()) + ".")
    lines.append("")
    if len(est):
        parts = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("robust", "fragile", "no evidence") if counts.get(v, 0))
        if len(counts) == 1:
            lines.append(f"**The verdict holds across the multiverse**: {counts.index[0]} in every estimable "
                         f"specification ({parts}).")
        else:
            top = counts.index[0]
            lines.append(f"**The verdict depends on the choices**: {parts} (most often {top}).")
        lo, hi = est["indirect"].min(), est["indirect"].max()
        lines.append(f"Estimates range from {lo:.4g} to {hi:.4g}; "
                     f"{(est['indirect'] > 0).mean():.0%} are positive; "
                     f"{((est['ci_low'] > 0) | (est['ci_high'] < 0)).mean():.0%} of the intervals exclude zero.")
        lines.append("")
    if curve is not None and curve.n_specifications:
        c = curve.table.set_index("quantity")
        m, s, g = c.loc["median_estimate"], c.loc["share_significant"], c.loc["share_dominant_sign"]
        lines.append(f"Specification curve test (Simonsohn, Simmons & Nelson 2020; {curve.n_null} resamples under "
                     f"the null, p the larger of forcing a = 0 and b = 0): median indirect effect {m.estimate:.4g} "
                     f"(p = {m.pvalue:.3g}); {s.estimate:.0%} of the specifications significant in the "
                     f"{s.direction} direction by the joint test (p = {s.pvalue:.3g}); {g.estimate:.0%} with a "
                     f"{g.direction} estimate (p = {g.pvalue:.3g}).")
        lines.append("")
    if variance is not None and variance.leading:
        v = variance.table.set_index("dimension")
        r = v.loc[variance.leading]
        lines.append(f"The choice that moves the estimate most: **{_dim_label(variance.leading)}** "
                     f"({r.share:.0%} of the variance of the estimate; level means {r.level_means}).")
        others = [f"{_dim_label(d)} {v.loc[d, 'share']:.0%}" for d in v.index
                  if d not in (variance.leading, "interactions", "total")]
        if others:
            lines.append("Other dimensions: " + ", ".join(others) + f"; interactions {v.loc['interactions', 'share']:.0%}.")
    elif variance is not None:
        lines.append("The estimate does not vary over the dimensions.")
    return "\n".join(lines).rstrip() + "\n"


def _dim_label(d):
    return f"exclusion rule `{d[len('exclude_'):]}`" if d.startswith("exclude_") else f"`{d}`"


def aggregate(rows, data, codebook, *, n_null=500, seed=0, fragile_rho=0.2) -> MultiverseResult:
    """Assemble the specification rows of a study (from the per-specification jobs) into its result:
    the table, :func:`curve_test` and :func:`variance_decomposition`."""
    frames = [r.to_frame() if isinstance(r, SpecificationResult) else r for r in rows]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(table):
        for c in ("significant", "converged", *[c for c in table.columns if str(c).startswith("exclude_")]):
            if c in table.columns:
                table[c] = table[c].map(_truthy)
        table["reason"] = table["reason"].astype(object).where(table["reason"].notna(), "").astype(str)
    study = codebook.study
    curve = curve_test(data, codebook, table, n_null=n_null, seed=seed)
    var = variance_decomposition(table)
    return MultiverseResult(study, table, curve, var, fragile_rho)


def run_multiverse(data, codebook, config=None, *, n_boot=1000, n_null=500, ci_level=0.95,
                   fragile_rho=0.2, seed=0) -> MultiverseResult:
    """Every specification of :func:`specification_grid` fitted in this process, then aggregated.

    The workflow does the same with one job per specification (``snakemake multiverse``).

    Parameters
    ----------
    data : pandas.DataFrame
        :func:`prepare_data` of the study.
    codebook : Codebook
    config : dict, optional
        The ``multiverse:`` config section (dimensions); ``n_boot``, ``n_null``, ``ci_level`` and
        ``seed`` given here win over it.

    Returns
    -------
    MultiverseResult
    """
    grid = specification_grid(codebook, config)
    hits = _exclusion_hits(data, codebook)
    boot_cache: dict = {}  # specifications that differ only in the estimator share their bootstrap
    rows = [run_specification(data, codebook, s, n_boot=n_boot, ci_level=ci_level, fragile_rho=fragile_rho,
                              seed=seed, _hits=hits, _boot_cache=boot_cache) for s in grid.specs]
    return aggregate(rows, data, codebook, n_null=n_null, seed=seed, fragile_rho=fragile_rho)
