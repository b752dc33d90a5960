# efficacy: one DAG from raw study files to the report.
# Thin by design: config + validation, includes, rule all. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    study="|".join(STUDIES),


include: "workflow/rules/clean.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/measurement.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/panel.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/simulation.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/multiverse.smk"
include: "workflow/rules/power.smk"


localrules:
    all,
    provenance,
    summary,
    simulation,
    simulation_power,
    tables,
    multiverse,
    power,
    power_from_fit,


rule all:
    default_target: True
    input:
        all_targets(),
        "results/summary.md",
        "results/summary.html",


onstart:
    drop_local_rate_limiter(workflow)


onsuccess:
    print(finished_message())
