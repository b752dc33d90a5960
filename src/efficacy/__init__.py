"""efficacy: a reproducible statistical pipeline for self-efficacy research.

The library holds every statistic used by the Snakemake workflow, so that the
same numbers can be reproduced from a notebook or a Python session::

    import efficacy as ef
    res = ef.mediate(data, x="treat", m="job_seek", y="depress2", n_boot=2000, seed=1)
    res.indirect, res.ci, print(res.summary()), res.to_frame(), res.to_dict()

The documented functions are available at the top (``ef.cronbach_alpha``,
``ef.cfa``, ``ef.mediate``, ``ef.random_effects``, ...; ``ef.__all__`` lists
them). They are loaded on first use, so ``import efficacy`` is fast and a
workflow job imports only the modules it needs. Submodules stay importable.

Layout
------
Statistics (depend on the engine and shared pieces below them, never on the pipeline side):

reliability   alpha, omega, item analysis, test-retest ICCs
measurement   CFA, measurement invariance (groups, waves, alignment), discriminant validity (HTMT)
sem/          the one SEM engine (lavaan syntax, ML, FIML, multi-group): every model goes through it
mediation/    observed, moderated, causal and latent mediation, sensitivity, the mediation stage
panel         CLPM, RI-CLPM and within-person multilevel models
meta/         effect sizes, univariate and multilevel meta-analysis, bias, MASEM, TSSEM
simulation    Monte Carlo power and CI-coverage studies
multiverse    every defensible analysis choice of a mediation claim: specification curve and its test
power         power for the next study from this study's fitted model (power_from_fit)
plots/        publication figures, one module per stage

Shared pieces (imported by the statistics, importing none of them):

errors        one error hierarchy: every input error is an ``EfficacyError``
_api          the argument conventions: seeds, renamed keywords, column checks with close matches
results       the result interface every analysis shares (``ResultMixin``, column names)
resampling    bootstrap case counts and BCa intervals

Data side:

codebook      read and validate study codebooks (``load_codebook``)
cleaning      raw study file -> clean, scored data with a participant flow
io            atomic table writes and reading clean data
simulate      seeded generator of the bundled example studies

Pipeline side:

workflow      glue for the Snakemake rules: parse-time checks, stage output writers
summary       the APA-style results/summary.md and .html
provenance    the run record: versions, config, input checksums
cli           ``efficacy validate`` and ``efficacy new-study``
notebooks     run the student notebooks (used by the tests)
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("efficacy")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

#: public name -> the module that defines it (loaded lazily, PEP 562)
_API = {
    "efficacy.errors": ["EfficacyError", "CodebookError", "DataError", "ConfigError", "SEMError",
                        "MeasurementError", "PanelError", "MetaError", "SelectionError", "SimulationError", "PlotError"],
    "efficacy.codebook": ["load_codebook", "Codebook"],
    "efficacy.cleaning": ["clean_study", "validate_study", "read_raw", "score_scale", "longstring",
                          "intra_individual_variability", "bandura_scores", "generality"],
    "efficacy.io": ["read_clean", "read_table", "write_table"],
    "efficacy.reliability": ["cronbach_alpha", "mcdonald_omega", "feldt_interval", "item_analysis", "icc",
                             "test_retest", "disattenuated_correlation", "attenuation_table", "categorical_omega"],
    "efficacy.sem": ["sem", "parse_model", "polychoric", "polyserial", "thresholds", "ordinal_alpha"],
    "efficacy.measurement": ["cfa", "invariance", "htmt", "discriminant_validity", "longitudinal_invariance",
                             "alignment"],
    "efficacy.mediation": ["mediate", "moderated_mediation", "sensitivity", "causal_mediation",
                           "latent_mediation", "compare_models", "omitted_variable_sensitivity", "robustness_value",
                           "evalue", "serial_mediation", "evidence_profile", "encouragement_iv",
                           "interventional_effects"],
    "efficacy.panel": ["clpm", "riclpm", "within_person", "compare_panel_models", "stationarity_lrt",
                       "temporal_order", "panel_syntax"],
    "efficacy.meta": ["escalc", "d_to_r", "r_to_d", "d_to_logor", "logor_to_d", "transf", "random_effects",
                      "subgroup", "leave_one_out", "influence", "cumulative", "egger_test", "trim_and_fill",
                      "pet_peese", "ranktest", "selection_model", "vevea_woods", "three_level", "che", "che_sensitivity", "impute_covariance", "rcalc", "masem",
                      "tssem", "tssem1", "tssem2"],
    "efficacy.simulation": ["power_analysis", "required_n", "coverage_study", "meta_coverage",
                            "simulate_mediation"],
    "efficacy.simulate": ["simulate_study"],
    "efficacy.multiverse": ["specification_grid", "run_specification", "curve_test", "variance_decomposition",
                            "run_multiverse"],
    "efficacy.power": ["power_from_fit"],
}
_WHERE = {name: module for module, names in _API.items() for name in names}
#: short aliases researchers type (``ef.omega`` is McDonald's omega)
_ALIASES = {"omega": "mcdonald_omega"}
_SUBMODULES = ["errors", "codebook", "cleaning", "io", "resampling", "reliability", "sem", "measurement",
               "mediation", "panel", "meta", "simulation", "multiverse", "power", "simulate", "plots", "summary", "provenance",
               "workflow", "cli", "notebooks"]

__all__ = ["__version__", *_WHERE, *_ALIASES]


def __getattr__(name):
    target = _ALIASES.get(name, name)
    if target in _WHERE:
        # ``sem`` is both a subpackage and its fitting function: always the callable subpackage, so that
        # ``ef.sem`` does not change with import order (efficacy.sem.__init__ makes the module callable)
        module = import_module(_WHERE[target])
        value = module if module.__name__ == f"efficacy.{name}" else getattr(module, target)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return import_module(f"efficacy.{name}")
    raise AttributeError(f"module 'efficacy' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | set(_SUBMODULES) | set(globals()))
