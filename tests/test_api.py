"""The one public API (issue #23): names, argument conventions and the result interface.

Every function in ``ef.__all__`` is either an analysis, called here on small data (``EXAMPLES``),
whose result must have the common interface of :class:`efficacy.results.ResultMixin` (headline
attributes, ``to_frame()`` with the canonical column names, ``summary()``, ``to_dict()`` that
``json.dumps`` accepts, ``_repr_html_``), or it is listed in ``NOT_ANALYSES`` with what it returns
instead (data, a number, a codebook). A new public function must join one of the two.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import efficacy as ef
from efficacy.errors import DataError
from efficacy.results import COLUMN_ALIASES, COLUMNS, ResultMixin

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"

#: public functions that are not analyses, with what they return
NOT_ANALYSES = {
    "load_codebook": "a Codebook", "clean_study": "a CleaningResult (the data side)",
    "validate_study": "a CleaningResult (the data side)", "read_raw": "the raw data",
    "score_scale": "scale scores", "longstring": "careless-responding indices",
    "intra_individual_variability": "careless-responding indices", "bandura_scores": "scale scores",
    "generality": "a cleaning table", "read_clean": "data", "read_table": "data", "write_table": "a file",
    "feldt_interval": "two numbers", "disattenuated_correlation": "a number", "parse_model": "parsed syntax",
    "panel_syntax": "lavaan syntax", "escalc": "data with yi, vi", "d_to_r": "numbers", "r_to_d": "numbers",
    "d_to_logor": "numbers", "logor_to_d": "numbers", "transf": "numbers",
    "impute_covariance": "a covariance matrix", "rcalc": "data and a covariance matrix",
    "simulate_mediation": "simulated data", "simulate_study": "simulated data",
    "robustness_value": "a number (a formula of t and df)",
}

#: keyword names the convention replaced (a public function must not take them)
OLD_NAMES = {"level", "treatment", "mediator", "outcome", "mediator_items", "x_waves", "y_waves", "person",
             "rng", "ratings", "scores", "moderator"}
#: column roles: a function with one of these takes ``data`` first
ROLES = {"x", "m", "y", "w", "covariates", "group", "cluster", "yi", "vi", "items", "columns"}


# ----------------------------------------------------------------------------- small data
@lru_cache(maxsize=None)
def mediation_data():
    rng = np.random.default_rng(23)
    n = 150
    x = rng.integers(0, 2, n).astype(float)
    w = rng.normal(size=n)
    eta = 0.5 * x + 0.2 * x * w + rng.normal(size=n)
    d = pd.DataFrame({f"i{j}": eta + rng.normal(scale=0.8, size=n) for j in range(4)})
    d["x"], d["w"], d["c"] = x, w, rng.normal(size=n)
    d["m"] = d[[f"i{j}" for j in range(4)]].mean(axis=1)
    d["y"] = 0.4 * eta + 0.2 * d["c"] + rng.normal(size=n)
    return d


@lru_cache(maxsize=None)
def hs():
    return pd.read_csv(REF / "measurement_hs1939.csv")


HS_MODEL = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


@lru_cache(maxsize=None)
def bcg():
    d = pd.read_csv(ROOT / "data" / "literature" / "bcg.csv")
    return ef.escalc(d, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")


@lru_cache(maxsize=None)
def rma():
    return ef.random_effects(bcg())


@lru_cache(maxsize=None)
def dependent():
    return pd.DataFrame({"study": [1, 1, 2, 2, 2, 3, 4, 4, 5, 5, 6, 6],
                         "es": [1, 2, 1, 2, 3, 1, 1, 2, 1, 2, 1, 2],
                         "yi": [0.3, 0.5, 0.1, 0.2, 0.0, 0.6, 0.4, 0.2, 0.1, 0.35, 0.25, 0.45],
                         "vi": [0.02, 0.03, 0.01, 0.02, 0.015, 0.05, 0.02, 0.03, 0.01, 0.02, 0.02, 0.03]})


PANEL_X, PANEL_Y = [f"x{t}" for t in range(1, 5)], [f"y{t}" for t in range(1, 5)]


@lru_cache(maxsize=None)
def panel_fits():
    d = pd.read_csv(REF / "panel_sim.csv")
    return {"clpm": ef.clpm(d, PANEL_X, PANEL_Y), "riclpm": ef.riclpm(d, PANEL_X, PANEL_Y),
            "riclpm_stationary": ef.riclpm(d, PANEL_X, PANEL_Y, stationary=True)}


@lru_cache(maxsize=None)
def ordinal():
    d = hs()[["x1", "x2", "x3", "x4"]].round().astype(int).clip(1, 7)
    d["score"] = hs()["x5"]
    return d


@lru_cache(maxsize=None)
def craft():
    return pd.read_csv(ROOT / "data" / "literature" / "craft2003.csv")


@lru_cache(maxsize=None)
def power():
    return ef.power_analysis([40, 80], 0.39, 0.39, n_reps=20, n_boot=20, methods=("percentile", "sobel"), seed=1)


@lru_cache(maxsize=None)
def mastery():
    from efficacy.codebook import load_codebook
    from efficacy.multiverse import prepare_data

    cb = load_codebook(ROOT / "data" / "raw" / "mastery_trial")
    return cb, prepare_data(cb)


#: a two-specification multiverse (sum and mean scoring of the mediator)
MULTIVERSE = {"dimensions": {"exclusions": [], "scoring": ["mean", "sum"], "covariates": [[]], "estimator": ["ML"],
                             "missing": ["listwise"], "ci": ["percentile"]}}


@lru_cache(maxsize=None)
def multiverse():
    cb, d = mastery()
    return ef.run_multiverse(d, cb, MULTIVERSE, n_boot=50, n_null=19, seed=1)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _items():
    return mediation_data()[[f"i{j}" for j in range(4)]]


# ----------------------------------------------------------------------------- one call per analysis
EXAMPLES = {
    "cronbach_alpha": lambda: ef.cronbach_alpha(mediation_data(), [f"i{j}" for j in range(4)]),
    "mcdonald_omega": lambda: ef.mcdonald_omega(_items(), n_boot=50, seed=1),
    "omega": lambda: ef.omega(_items(), n_boot=0),
    "item_analysis": lambda: ef.item_analysis(_items(), response_range=(-4, 4)),
    "icc": lambda: ef.icc(_items()),
    "test_retest": lambda: ef.test_retest(_items(), ["i0", "i1"]),
    "attenuation_table": lambda: ef.attenuation_table(mediation_data()[["m", "y", "c"]],
                                                      {"m": 0.8, "y": 0.7, "c": 0.9}),
    "sem": lambda: ef.sem(hs(), "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6", auto="cfa"),
    "cfa": lambda: ef.cfa(hs(), HS_MODEL),
    "invariance": lambda: ef.invariance(hs(), {"visual": ["x1", "x2", "x3"]}, "school",
                                        levels=("configural", "metric", "scalar"), find_partial=False),
    "longitudinal_invariance": lambda: ef.longitudinal_invariance(
        pd.read_csv(REF / "longitudinal_panel.csv"), {w: [f"se{j}_w{w}" for j in (1, 2, 3)] for w in (1, 2)}),
    "alignment": lambda: ef.alignment(hs(), {"visual": ["x1", "x2", "x3"]}, "school"),
    "htmt": lambda: ef.htmt(hs(), HS_MODEL, n_boot=50, seed=1),
    "discriminant_validity": lambda: ef.discriminant_validity(hs(), {"visual": HS_MODEL["visual"],
                                                                     "speed": HS_MODEL["speed"]}, n_boot=20, seed=1),
    "mediate": lambda: ef.mediate(mediation_data(), "x", "m", "y", covariates=["c"], n_boot=200, seed=1),
    "moderated_mediation": lambda: ef.moderated_mediation(mediation_data(), "x", "m", "y", "w", n_boot=100, seed=1),
    "sensitivity": lambda: ef.sensitivity(mediation_data(), "x", "m", "y", n_boot=50, seed=1),
    "causal_mediation": lambda: ef.causal_mediation(mediation_data(), "x", "m", "y", n_sims=100, seed=1),
    "latent_mediation": lambda: ef.latent_mediation(mediation_data(), "x", [f"i{j}" for j in range(4)], "y",
                                                    n_boot=0),
    "compare_models": lambda: ef.compare_models(mediation_data(), "x", "m", "y"),
    "clpm": lambda: panel_fits()["clpm"],
    "riclpm": lambda: panel_fits()["riclpm"],
    "within_person": lambda: ef.within_person(pd.read_csv(REF / "panel_log.csv"), "eff", "beh", cluster="person",
                                              time="day"),
    "compare_panel_models": lambda: ef.compare_panel_models(panel_fits()["clpm"], panel_fits()["riclpm"]),
    "stationarity_lrt": lambda: ef.stationarity_lrt(panel_fits()["riclpm"], panel_fits()["riclpm_stationary"]),
    "temporal_order": lambda: ef.temporal_order(panel_fits()["riclpm"]),
    "random_effects": rma,
    "subgroup": lambda: ef.subgroup(bcg(), group="alloc"),
    "leave_one_out": lambda: ef.leave_one_out(rma()),
    "influence": lambda: ef.influence(rma()),
    "cumulative": lambda: ef.cumulative(rma()),
    "egger_test": lambda: ef.egger_test(rma()),
    "trim_and_fill": lambda: ef.trim_and_fill(rma()),
    "pet_peese": lambda: ef.pet_peese(rma()),
    "three_level": lambda: ef.three_level(dependent(), study="study", es_id="es", robust=True),
    "che": lambda: ef.che(dependent(), es_id="es"),
    "che_sensitivity": lambda: ef.che_sensitivity(dependent(), es_id="es", r=(0.4, 0.8)),
    "masem": lambda: ef.masem(craft(), {"conf": ["acog", "asom"], "perf": ["acog", "asom", "conf"]}),
    "tssem1": lambda: ef.tssem1(craft()),
    "tssem2": lambda: ef.tssem2(ef.tssem1(craft()), "conf ~ acog + asom\nperf ~ conf", ci_method="wald"),
    "tssem": lambda: ef.tssem(craft(), "conf ~ acog + asom\nperf ~ conf", ci_method="wald"),
    "ranktest": lambda: ef.ranktest(rma()),
    "selection_model": lambda: _quiet(ef.selection_model, bcg(), steps=(0.025, 1)),  # warns: a weight at its bound
    "vevea_woods": lambda: ef.vevea_woods(bcg()),
    "polychoric": lambda: ef.polychoric(ordinal(), ["x1", "x2", "x3"]),
    "polyserial": lambda: ef.polyserial(ordinal(), "score", ["x1", "x2"]),
    "thresholds": lambda: ef.thresholds(ordinal(), ["x1", "x2"]),
    "ordinal_alpha": lambda: ef.ordinal_alpha(ordinal(), ["x1", "x2", "x3", "x4"]),
    "omitted_variable_sensitivity": lambda: ef.omitted_variable_sensitivity(mediation_data(), "x", "y",
                                                                            covariates=["c"], benchmark="c"),
    "evalue": lambda: ef.evalue(1.8, ci=(1.2, 2.7)),
    "serial_mediation": lambda: ef.serial_mediation(mediation_data(), "x", ["i0", "i1"], "y", n_boot=100, seed=1),
    "categorical_omega": lambda: ef.categorical_omega(ordinal(), {"f": ["x1", "x2", "x3", "x4"]}),
    "power_analysis": power,
    "required_n": lambda: ef.required_n(power(), target=0.5),
    "coverage_study": lambda: ef.coverage_study(n=[40], n_reps=20, n_boot=20, methods=("percentile",), seed=1),
    "meta_coverage": lambda: ef.meta_coverage(k=[5], n_reps=50, seed=1),
    "encouragement_iv": lambda: ef.encouragement_iv(mediation_data(), "x", "m", "y", covariates=["c"]),
    "interventional_effects": lambda: ef.interventional_effects(mediation_data(), "x", "m", "y", covariates=["c"],
                                                                n_draws=20, n_boot=20, seed=1),
    "evidence_profile": lambda: ef.evidence_profile(mediation_data(), "x", "m", "y", covariates=["c"], n_boot=50,
                                                    n_sims=50, seed=1),
    "power_from_fit": lambda: ef.power_from_fit(ef.mediate(mediation_data(), "x", "m", "y", n_boot=0),
                                                mediation_data(), n=[50, 100], n_reps=50, n_draws=100, seed=1),
    "specification_grid": lambda: ef.specification_grid(mastery()[0], MULTIVERSE),
    "run_specification": lambda: ef.run_specification(mastery()[1], mastery()[0],
                                                      ef.specification_grid(mastery()[0], MULTIVERSE).specs[0],
                                                      n_boot=50, seed=1),
    "run_multiverse": multiverse,
    "curve_test": lambda: ef.curve_test(mastery()[1], mastery()[0], multiverse().table, n_null=19, seed=1),
    "variance_decomposition": lambda: ef.variance_decomposition(multiverse().table),
}


def _public_functions():
    # ``ef.sem`` may be the callable subpackage (once ``efficacy.sem`` is imported) or the function
    return sorted(n for n in ef.__all__ if n != "__version__" and callable(getattr(ef, n))
                  and not isinstance(getattr(ef, n), type))


def test_every_public_function_is_classified():
    names = set(_public_functions())
    unclassified = names - set(EXAMPLES) - set(NOT_ANALYSES)
    assert not unclassified, f"add an example call to EXAMPLES (or a reason to NOT_ANALYSES): {sorted(unclassified)}"
    assert not (set(EXAMPLES) & set(NOT_ANALYSES))
    assert set(EXAMPLES) | set(NOT_ANALYSES) <= names, "a listed name is no longer public"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_result_interface(name):
    res = EXAMPLES[name]()
    assert isinstance(res, ResultMixin), f"{name} returns {type(res).__name__}, not a result object"
    assert res._headline, f"{type(res).__name__} declares no headline attributes"
    for attr in res._headline:
        assert hasattr(res, attr), f"{type(res).__name__}.{attr}"
    frame = res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame.columns)
    bad = [c for c in frame.columns if c in COLUMN_ALIASES]
    assert not bad, f"{name}: columns {bad} should be named {[COLUMN_ALIASES[c] for c in bad]}"
    for c in set(COLUMNS) & set(frame.columns):
        assert pd.api.types.is_numeric_dtype(frame[c]) or frame[c].isna().all(), f"{name}: column {c} not numeric"
    text = res.summary()
    assert isinstance(text, str) and len(text.splitlines()) >= 2
    payload = json.dumps(res.to_dict(), allow_nan=False)  # strict JSON: NaN became null
    assert json.loads(payload)["result"] == type(res).__name__
    html = res._repr_html_()
    assert isinstance(html, str) and html.startswith("<div") and "<table" in html
    assert isinstance(repr(res), str) and repr(res)


# ----------------------------------------------------------------------------- argument conventions
def _all_public():
    """Functions of ``ef.__all__`` and of the subpackages' ``__all__``."""
    out = {n: getattr(ef, n) for n in _public_functions()}
    for mod in map(importlib.import_module, ("efficacy.mediation", "efficacy.meta", "efficacy.plots", "efficacy.sem")):
        for n in mod.__all__:
            obj = getattr(mod, n)
            if callable(obj) and not isinstance(obj, type):
                out[f"{mod.__name__}.{n}"] = obj
    return out


def test_no_old_argument_names():
    offenders = {name: sorted(set(inspect.signature(f).parameters) & OLD_NAMES) for name, f in _all_public().items()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"renamed arguments still in use: {offenders}"


def test_data_first_and_ci_level():
    """Analyses take ``data`` first (the data side's scoring helpers take their item table first under
    its own name)."""
    for name in EXAMPLES:
        params = list(inspect.signature(getattr(ef, name)).parameters.values())  # noqa: E501
        names = [p.name for p in params]
        if set(names) & ROLES:
            assert names[0] == "data", f"{name}{inspect.signature(getattr(ef, name))}: data must come first"
        if "ci_level" in names:
            p = params[names.index("ci_level")]
            # None: taken from an earlier result (tssem2 uses stage 1's level)
            assert p.default in (0.95, None), f"{name}: ci_level default {p.default}"


@pytest.mark.parametrize("call,old,new", [
    (lambda: ef.mediate(mediation_data(), "x", "m", "y", level=0.9), "level", "ci_level"),
    (lambda: ef.mediate(mediation_data(), "x", "m", "y", ci="bca"), "ci", "ci_method"),
    (lambda: ef.causal_mediation(mediation_data(), treatment="x", m="m", y="y"), "treatment", "x"),
    (lambda: ef.latent_mediation(mediation_data(), "x", None, "y", mediator_items=["i0", "i1"]),
     "mediator_items", "m"),
    (lambda: ef.random_effects(bcg(), level=0.9), "level", "ci_level"),
    (lambda: ef.within_person(pd.DataFrame(), "a", "b", person="p", time="t"), "person", "cluster"),
    (lambda: ef.riclpm(pd.DataFrame(), x_waves=PANEL_X, y_waves=PANEL_Y), "x_waves", "x"),
    (lambda: ef.cronbach_alpha(_items(), level=0.9), "level", "ci_level"),
    (lambda: ef.htmt(hs(), HS_MODEL, level=0.9), "level", "ci_level"),
    (lambda: ef.simulate_mediation(10, 0.1, 0.1, 2, rng=1), "rng", "seed"),
    (lambda: ef.plots.coverage_plot(pd.DataFrame(), level=0.9), "level", "ci_level"),
])
def test_old_keyword_names_the_new_one(call, old, new):
    with pytest.raises(TypeError, match=f"use {new}, not {old}"):
        call()


def test_old_positional_order_fails_loudly():
    """Meta functions moved data first: an array where data belongs is a TypeError saying how to call."""
    es = bcg()
    with pytest.raises(TypeError, match="give arrays by keyword"):
        ef.random_effects(es["yi"], es["vi"])
    with pytest.raises(TypeError, match="measure="):
        ef.escalc("COR", ri=[0.2, 0.3], ni=[50, 60])
    with pytest.raises(TypeError, match="items="):
        ef.cronbach_alpha(["i0", "i1"])


@pytest.mark.parametrize("call,column,close", [
    (lambda: ef.mediate(mediation_data(), "x", "mm", "y"), "mm", "m"),
    (lambda: ef.mediate(mediation_data(), "x", "m", "y", covariates=["C"]), "C", "c"),
    (lambda: ef.causal_mediation(mediation_data(), "X", "m", "y"), "X", "x"),
    (lambda: ef.moderated_mediation(mediation_data(), "x", "m", "y", "ww"), "ww", "w"),
    (lambda: ef.compare_models(mediation_data(), "x", "m", "yy"), "yy", "y"),
    (lambda: ef.latent_mediation(mediation_data(), "x", ["i0", "i1", "i22"], "y"), "i22", "i2"),
    (lambda: ef.cronbach_alpha(mediation_data(), ["i0", "i01"]), "i01", "i0"),
    (lambda: ef.cfa(hs(), "f =~ x1 + x2 + X3"), "X3", "x3"),
    (lambda: ef.invariance(hs(), HS_MODEL, "schol"), "schol", "school"),
    (lambda: ef.random_effects(bcg(), "yii"), "yii", "yi"),
    (lambda: ef.within_person(pd.read_csv(REF / "panel_log.csv"), "eff", "beh", cluster="persons", time="day"),
     "persons", "person"),
])
def test_missing_column_names_close_matches(call, column, close):
    with pytest.raises(DataError, match=f"column '{column}': no such column") as err:
        call()
    assert re.search(f"did you mean [^?]*'{close}'", str(err.value)), str(err.value)


def test_seed_takes_an_int_or_a_generator():
    d = mediation_data()
    a = ef.mediate(d, "x", "m", "y", n_boot=200, seed=5)
    b = ef.mediate(d, "x", "m", "y", n_boot=200, seed=np.random.default_rng(5))
    assert a.ci == b.ci
    with pytest.raises(TypeError, match="seed must be"):
        ef.mediate(d, "x", "m", "y", n_boot=20, seed=1.5)


def test_headline_attributes_agree_with_the_table():
    res = EXAMPLES["mediate"]()
    t = res.to_frame().set_index("effect")
    assert res.a == t.loc["a", "estimate"] and res.b == t.loc["b", "estimate"]
    assert res.indirect == t.loc["indirect", "estimate"]
    assert res.ci == (t.loc["indirect", "ci_low"], t.loc["indirect", "ci_high"])
    r = rma()
    row = r.to_frame().iloc[0]
    assert (r.estimate, r.statistic, r.pvalue, r.tau2) == (row["estimate"], row["statistic"], row["pvalue"],
                                                           row["tau2"])


def test_ef_sem_is_the_function_even_after_the_subpackage_is_imported():
    import efficacy.sem.engine  # noqa: F401  (binds the subpackage to efficacy.sem)

    res = ef.sem(hs(), "visual =~ x1 + x2 + x3", auto="cfa")
    assert isinstance(res, ResultMixin) and res.df == 0
    assert list(inspect.signature(ef.sem).parameters)[:2] == ["data", "model"]
    assert ef.sem.parse_model("f =~ x1")[0][:3] == ("f", "=~", "x1")
