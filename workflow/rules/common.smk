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
            "latent_mediation.csv",
        ]
    )
    targets += expand(
        "results/{study}/{stem}",
        study=WAVE_STUDIES,
        stem=["clpm.csv", "riclpm.csv", "panel_comparison.csv", "within_person.csv"],
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


def finished_message():
    """What a finished run prints: where the results and the report are."""
    return (
        "\nefficacy: run complete.\n"
        f"  results:   {Path('results').resolve()}/ (one folder per study: {', '.join(STUDIES)})\n"
        f"  summary:   {Path('results/summary.md').resolve()} (and summary.html)\n"
        "  report:    snakemake --report results/report.html  (then open results/report.html)\n"
        f"  provenance: {Path('results/provenance.json').resolve()}\n"
    )


# Figures: one rule per kind, generated in figures.smk from this table (kind -> inputs, output stem without
# suffix, report category, options handed to efficacy.plots.render_stage_figure).
def _study_figure(kind, category, options=None, file=None, **inputs):
    file = (
        file or kind
    )  # the output's name without suffix, when it is not the kind's name
    return {
        "input": inputs,
        "stem": f"results/{{study}}/figures/{file}",
        "category": category,
        "subcategory": "{study}",
        "options": options or {},
        "log": f"logs/{{study}}/fig_{file}.log",
        "benchmark": f"benchmarks/out/{{study}}/fig_{file}.tsv",
    }


def _meta_figure(kind, **inputs):
    return {
        "input": inputs,
        "stem": f"results/meta/{{name}}/figures/{kind}",
        "category": "7. Meta-analysis",
        "subcategory": "{name}",
        "options": {},
        "log": f"logs/meta/{{name}}/fig_{kind}.log",
        "benchmark": f"benchmarks/out/meta/{{name}}/fig_{kind}.tsv",
    }


FIGURE_RULES = {
    "flow": _study_figure("flow", "1. Data", flow="results/{study}/flow.csv"),
    "missingness": _study_figure(
        "missingness",
        "1. Data",
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    ),
    "items": _study_figure(
        "items", "1. Data", clean="results/{study}/clean.csv", codebook=codebook_path
    ),
    "reliability": _study_figure(
        "reliability",
        "2. Reliability",
        reliability="results/{study}/reliability.csv",
        options={"threshold": config["reliability"]["threshold"]},
    ),
    "mediation_path": _study_figure(
        "mediation_path",
        "4. Mediation",
        mediation="results/{study}/mediation.csv",
        codebook=codebook_path,
    ),
    "sensitivity": _study_figure(
        "sensitivity", "4. Mediation", sensitivity="results/{study}/sensitivity.csv"
    ),
    "riclpm_within": _study_figure(
        "riclpm_within", "5. Temporal order", riclpm="results/{study}/riclpm.csv"
    ),
    "riclpm_between": _study_figure(
        "riclpm_between", "5. Temporal order", riclpm="results/{study}/riclpm.csv"
    ),
    "forest": _meta_figure(
        "forest",
        studies="results/meta/{name}/studies.csv",
        summary="results/meta/{name}/summary.csv",
    ),
    "funnel": _meta_figure(
        "funnel",
        studies="results/meta/{name}/studies.csv",
        summary="results/meta/{name}/summary.csv",
    ),
    "subgroup_forest": _meta_figure(
        "subgroup_forest",
        studies="results/meta/{name}/studies.csv",
        summary="results/meta/{name}/summary.csv",
        subgroup="results/meta/{name}/subgroup.csv",
    ),
    "masem_path": _meta_figure("masem_path", masem="results/meta/{name}/masem.csv"),
    "tssem_path": _meta_figure("tssem_path", tssem="results/meta/{name}/tssem.csv"),
    "invariance": _study_figure(
        "invariance",
        "3. Measurement",
        file="invariance_{group}",
        invariance="results/{study}/invariance_{group}.csv",
        options={k: config["measurement"][k] for k in ("delta_cfi", "delta_rmsea")},
    ),
    "cfa_path": _study_figure(
        "cfa_path",
        "3. Measurement",
        cfa_fit="results/{study}/cfa_fit.csv",
        cfa_estimates="results/{study}/cfa_estimates.csv",
    ),
    "latent_mediation_path": _study_figure(
        "latent_mediation_path",
        "4. Mediation",
        latent_mediation="results/{study}/latent_mediation.csv",
        codebook=codebook_path,
    ),
}
