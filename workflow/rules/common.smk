# Helpers and validation shared by every rule file. No rules here.
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from efficacy.workflow import check_studies, load_study_codebooks

validate(config, schema="../schemas/config.schema.yaml")

from efficacy.simulation import grid_jobs

SIM_JOBS = grid_jobs(config["simulation"])  # raises naming an impossible cell

# Parse-time checks: duplicated study names, folders, codebook schema and consistency.
# Every path in config and codebooks must stay inside the project (allow_external_paths: true to opt out).
CODEBOOKS = load_study_codebooks(
    config["studies"],
    raw_dir=config["raw_dir"],
    config=config,
    config_file=", ".join(str(f) for f in workflow.configfiles) or "config/config.yaml",
)
STUDIES = list(CODEBOOKS)
WAVE_STUDIES = [
    s
    for s, cb in CODEBOOKS.items()
    if cb.waves and cb.design.panel_x and cb.design.panel_y
]


def codebook_path(wildcards):
    """A study's codebook.yaml under config["raw_dir"] (never a hard-coded data/raw)."""
    return str(CODEBOOKS[wildcards.study].path)


def raw_data_file(wildcards):
    """The raw data file a study's codebook declares."""
    return str(CODEBOOKS[wildcards.study].data_file)


def all_inputs():
    """Every input file of the run (for provenance checksums)."""
    files = []
    for cb in CODEBOOKS.values():
        files += [str(cb.path), str(cb.data_file)]
    files += sorted(str(p) for p in Path("data/literature").glob("*.csv"))
    return files


def study_targets(stems):
    """results/<study>/<stem> for every study."""
    return expand("results/{study}/{stem}", study=STUDIES, stem=stems)


def all_targets():
    """Targets of the default target, i.e. every stage output of every study."""
    targets = study_targets(["clean.csv", "cleaning.md"])
    targets += study_targets(
        ["reliability.csv", "items.csv", "retest.csv", "attenuation.csv"]
    )
    targets += study_targets(
        [
            "mediation.csv",
            "sensitivity.csv",
            "causal_mediation.csv",
            "model_comparison.csv",
            "verdict.md",
            "evidence.csv",
            "latent_mediation.csv",
        ]
    )
    targets += expand(
        "results/{study}/{stem}",
        study=WAVE_STUDIES,
        stem=[
            "clpm.csv",
            "riclpm.csv",
            "panel_comparison.csv",
            "within_person.csv",
            "longitudinal_invariance.csv",
        ],
    )
    targets += measurement_targets()
    targets += meta_targets()
    targets += figure_targets()
    targets.append("results/provenance.json")
    return targets


def figure_targets():
    """PNG figures (rules in figures.smk; each also writes a PDF)."""
    figs = study_targets(
        [
            f"figures/{k}.png"
            for k in ["flow", "missingness", "items", "reliability"]
            + ["cfa_path", "mediation_path", "latent_mediation_path", "sensitivity"]
        ]
    )
    figs.append("results/figures/evidence.png")  # cross-study evidence profile
    for s, gs in MEASUREMENT_GROUPS.items():  # invariance figure per codebook group
        figs += [f"results/{s}/figures/invariance_{g}.png" for g in gs]
    figs += expand(
        "results/{study}/figures/{fig}.png",
        study=WAVE_STUDIES,
        fig=["riclpm_within", "riclpm_between"],
    )
    for name, spec in META.items():
        source = spec.get("source", "table")
        if source in ("masem", "tssem"):
            kinds = [f"{source}_path"]
        else:
            kinds = ["forest", "funnel"] + (
                ["subgroup_forest"] if spec.get("subgroup") else []
            )
        figs += [f"results/meta/{name}/figures/{k}.png" for k in kinds]
    return figs


# Measurement stage: invariance tables for each codebook grouping variable (none without groups).
MEASUREMENT_GROUPS = {s: list(cb.groups or []) for s, cb in CODEBOOKS.items()}
MEASUREMENT_GROUP_RE = "|".join(
    sorted({re.escape(g) for gs in MEASUREMENT_GROUPS.values() for g in gs}) or ["(?!)"]
)


def measurement_targets():
    """cfa_fit, cfa_estimates, discriminant for every study; invariance_<group> per codebook group."""
    targets = study_targets(["cfa_fit.csv", "cfa_estimates.csv", "discriminant.csv"])
    for s, gs in MEASUREMENT_GROUPS.items():
        targets += [f"results/{s}/invariance_{g}.csv" for g in gs]
    return targets


def measurement_model(wildcards):
    """The study's lavaan model text from config measurement.models (None: one factor per scale)."""
    return (config["measurement"].get("models") or {}).get(wildcards.study)


def mediation_inputs(wildcards):
    """Clean data and codebook; for studies with waves also the panel stage's temporal order."""
    inputs = {
        "clean": f"results/{wildcards.study}/clean.csv",
        "codebook": codebook_path(wildcards),
    }
    if wildcards.study in WAVE_STUDIES:
        inputs["panel"] = f"results/{wildcards.study}/panel_comparison.csv"
    return inputs


# Meta-analysis stage: one analysis per config entry (efficacy.meta.run_analysis).
META = {a["name"]: a for a in config.get("meta", {}).get("analyses", [])}
META_STEMS = [
    "summary.csv",
    "studies.csv",
    "diagnostics.csv",
    "bias.csv",
    "masem.csv",
    "tssem.csv",
    "subgroup.csv",
]
for _name, _spec in META.items():
    _unknown = sorted(set(_spec.get("studies") or []) - set(STUDIES))
    if _unknown:
        raise ValueError(
            f"config/config.yaml: meta.analyses '{_name}' studies: {', '.join(_unknown)} "
            f"not listed under studies ({', '.join(STUDIES)})"
        )


def meta_inputs(wildcards):
    """Input files of the meta-analysis named by the wildcard."""
    spec = META[wildcards.name]
    source = spec.get("source", "table")
    if source in ("table", "masem", "tssem"):
        return {"tables": [spec["input"]]}
    if source == "indirect":
        chosen = spec.get("studies") or STUDIES
        return {"tables": [f"results/{s}/mediation.csv" for s in chosen]}
    return {
        "tables": study_targets(["clean.csv"]),
        "codebooks": [str(CODEBOOKS[s].path) for s in STUDIES],
    }


def meta_spec(wildcards):
    """The config entry of the analysis, with the stage-wide level."""
    return {"level": config["meta"]["level"], **META[wildcards.name]}


def meta_targets():
    """results/meta/<name>/<stem> for every configured analysis."""
    return expand("results/meta/{name}/{stem}", name=list(META), stem=META_STEMS)


def drop_local_rate_limiter(workflow):
    """Work around a Snakemake 9 scheduler cost that grows with the square of the run (issue #22).

    With a job rate limiter (``--max-jobs-per-timespan``, default ``100/1s``), every pass of the
    scheduler loop arms a ``threading.Timer`` that wakes the loop again one timespan later, and every
    finished job wakes the loop too, so each finished job starts one more endless chain of wake-ups:
    after k jobs the loop runs ~k times a second, each pass restating every ready job's input files.
    Measured (benchmarks/bench_scheduler.py, N = 20 studies, 139 jobs): 23,604 scheduler passes and
    2.85 million stat calls. A local run has no use for the limiter (it exists to spare a cluster's
    queue), so it is removed for local runs only; cluster runs keep their profile's
    ``max-jobs-per-second``. Called from ``onstart`` (after the scheduler is built, before it runs).
    """
    scheduler = getattr(workflow, "scheduler", None)
    if (
        scheduler is not None
        and workflow.local_exec
        and getattr(scheduler, "job_rate_limiter", None)
    ):
        scheduler.job_rate_limiter = None


def finished_message():
    """What a finished run prints: where the results and the report are."""
    return (
        "\nefficacy: run complete.\n"
        f"  results:   {Path('results').resolve()}/ (one folder per study: {', '.join(STUDIES)})\n"
        f"  summary:   {Path('results/summary.md').resolve()} (and summary.html)\n"
        "  report:    snakemake --report results/report.html  (then open results/report.html)\n"
        f"  provenance: {Path('results/provenance.json').resolve()}\n"
    )


# Figures: the rules are generated in figures.smk from this table. Every figure of a study (but the panel
# ones, which not every study has, and the invariance ones, drawn by the invariance jobs: INVARIANCE_FIGURE
# below) is drawn by one job, `figures`, that imports matplotlib
# once; each figure kind keeps its own PNG (in the report, with its caption) + PDF, drawn by
# efficacy.plots.render_stage_figures. rule name -> log stem and kind -> (inputs, output stem, category, options).
def _figure(category, stem, options=None, **inputs):
    return {
        "input": inputs,
        "stem": stem,
        "category": category,
        "options": options or {},
    }


def _study_figure(kind, category, options=None, **inputs):
    return _figure(category, f"results/{{study}}/figures/{kind}", options, **inputs)


def _meta_figure(kind, **inputs):
    return _figure(
        "7. Meta-analysis", f"results/meta/{{name}}/figures/{kind}", **inputs
    )


_MEDIATION = "4. Mediation"
_PANEL = "5. Temporal order"
_META = {
    "studies": "results/meta/{name}/studies.csv",
    "summary": "results/meta/{name}/summary.csv",
}
FIGURE_RULES = {
    "figures": {
        "log": "{study}/figures",
        "figures": {
            "flow": _study_figure("flow", "1. Data", flow="results/{study}/flow.csv"),
            "missingness": _study_figure(
                "missingness",
                "1. Data",
                clean="results/{study}/clean.csv",
                codebook=codebook_path,
            ),
            "items": _study_figure(
                "items",
                "1. Data",
                clean="results/{study}/clean.csv",
                codebook=codebook_path,
            ),
            "reliability": _study_figure(
                "reliability",
                "2. Reliability",
                {"threshold": config["reliability"]["threshold"]},
                reliability="results/{study}/reliability.csv",
            ),
            "cfa_path": _study_figure(
                "cfa_path",
                "3. Measurement",
                cfa_fit="results/{study}/cfa_fit.csv",
                cfa_estimates="results/{study}/cfa_estimates.csv",
            ),
            "mediation_path": _study_figure(
                "mediation_path",
                _MEDIATION,
                mediation="results/{study}/mediation.csv",
                codebook=codebook_path,
            ),
            "latent_mediation_path": _study_figure(
                "latent_mediation_path",
                _MEDIATION,
                latent_mediation="results/{study}/latent_mediation.csv",
                codebook=codebook_path,
            ),
            "sensitivity": _study_figure(
                "sensitivity", _MEDIATION, sensitivity="results/{study}/sensitivity.csv"
            ),
        },
    },
    "figures_panel": {
        "log": "{study}/figures_panel",
        "figures": {
            "riclpm_within": _study_figure(
                "riclpm_within", _PANEL, riclpm="results/{study}/riclpm.csv"
            ),
            "riclpm_between": _study_figure(
                "riclpm_between", _PANEL, riclpm="results/{study}/riclpm.csv"
            ),
        },
    },
    "fig_evidence": {  # cross-study: one input per study
        "log": "fig_evidence",
        "figures": {
            "evidence": _figure(
                _MEDIATION,
                "results/figures/evidence",
                **{f"evidence_{s}": f"results/{s}/evidence.csv" for s in STUDIES},
            ),
        },
    },
    "fig_forest": {
        "log": "meta/{name}/fig_forest",
        "figures": {"forest": _meta_figure("forest", **_META)},
    },
    "fig_funnel": {
        "log": "meta/{name}/fig_funnel",
        "figures": {"funnel": _meta_figure("funnel", **_META)},
    },
    "fig_subgroup_forest": {
        "log": "meta/{name}/fig_subgroup_forest",
        "figures": {
            "subgroup_forest": _meta_figure(
                "subgroup_forest",
                **_META,
                subgroup="results/meta/{name}/subgroup.csv",
            )
        },
    },
    "fig_masem_path": {
        "log": "meta/{name}/fig_masem_path",
        "figures": {
            "masem_path": _meta_figure(
                "masem_path", masem="results/meta/{name}/masem.csv"
            )
        },
    },
    "fig_tssem_path": {
        "log": "meta/{name}/fig_tssem_path",
        "figures": {
            "tssem_path": _meta_figure(
                "tssem_path", tssem="results/meta/{name}/tssem.csv"
            )
        },
    },
}


# The invariance figure of a study and grouping variable is drawn by the job that fitted the models
# (measurement_invariance in measurement.smk), not by a job of its own: one Python start-up fewer per group (issue #22).
INVARIANCE_FIGURE = {
    "figures": {
        "invariance": _figure(
            "3. Measurement",
            "results/{study}/figures/invariance_{group}",
            {k: config["measurement"][k] for k in ("delta_cfi", "delta_rmsea")},
            invariance="results/{study}/invariance_{group}.csv",
        ),
    },
}


def figure_rule_inputs(spec):
    """The union of the inputs of a figure rule's figures (name -> path or function)."""
    return {k: v for fig in spec["figures"].values() for k, v in fig["input"].items()}


def figure_rule_outputs(spec):
    """kind_png (a report item with the kind's caption) and kind_pdf for every figure of the rule."""
    out = {}
    for kind, fig in spec["figures"].items():
        sub = (
            "{name}"
            if fig["stem"].startswith("results/meta/")
            else "{study}" if "{study}" in fig["stem"] else "all studies"
        )
        out[f"{kind}_png"] = report(
            f"{fig['stem']}.png",
            caption=f"../report/fig_{kind}.rst",
            category=fig["category"],
            subcategory=sub,
        )
        out[f"{kind}_pdf"] = f"{fig['stem']}.pdf"
    return out


def figure_rule_params(spec):
    """kind -> the names of its inputs and its options (read by workflow/scripts/figures.py)."""
    return {
        kind: {"inputs": sorted(fig["input"]), "options": fig["options"]}
        for kind, fig in spec["figures"].items()
    }


# Manuscript tables (tables.smk): APA 7 .docx and .tex of each study's and each meta-analysis' key tables.
def manuscript_table_inputs(wildcards):
    """The stage tables a study's manuscript tables are typeset from."""
    stems = ["reliability.csv", "cfa_fit.csv", "cfa_estimates.csv", "mediation.csv"]
    stems += ["sensitivity.csv"]
    stems += [
        f"invariance_{g}.csv" for g in MEASUREMENT_GROUPS.get(wildcards.study, [])
    ]
    return [f"results/{wildcards.study}/{s}" for s in stems]


def tables_targets():
    """Every manuscript table file (rule tables)."""
    return expand(
        "results/{study}/tables/tables.{ext}", study=STUDIES, ext=["docx", "tex"]
    ) + expand(
        "results/meta/{name}/tables/tables.{ext}", name=list(META), ext=["docx", "tex"]
    )


# Multiverse (snakemake multiverse, not part of all): one job per specification of every study with a
# mediation design. The grids are built (and the multiverse config checked) at parse time.
from efficacy.multiverse import multiverse_grids

MULTIVERSE = multiverse_grids(
    CODEBOOKS,
    config["multiverse"],
    config_file=", ".join(str(f) for f in workflow.configfiles) or "config/config.yaml",
)
MULTIVERSE_OUTPUTS = [
    "specifications.csv",
    "curve_test.csv",
    "variance.csv",
    "summary.md",
    "specification_curve.png",
]


def multiverse_spec(wildcards):
    """The specification of the {spec} wildcard (efficacy.multiverse.Specification.to_dict)."""
    return MULTIVERSE[wildcards.study].get(wildcards.spec).to_dict()


def multiverse_spec_files(wildcards):
    """One row per specification of the study, in grid order."""
    return expand(
        "results/{study}/multiverse/specs/{spec}.csv",
        study=wildcards.study,
        spec=MULTIVERSE[wildcards.study].ids,
    )


def multiverse_targets():
    """The aggregated multiverse outputs of every study with a mediation design."""
    return expand(
        "results/{study}/multiverse/{stem}",
        study=list(MULTIVERSE),
        stem=MULTIVERSE_OUTPUTS,
    )
