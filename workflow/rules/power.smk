# Power for the next study from each study's own fitted mediation model (efficacy.power.power_from_fit):
# `snakemake power`, not part of `all`. One job per study and planned n (like the simulation grid's jobs),
# then one aggregation per study: studies with a mediation design (treatment, mediator, continuous outcome)
# and, failing that, panel studies (design.panel_x / panel_y over 3+ waves: the RI-CLPM); others have none.
from efficacy.power import power_studies

POWER_STUDIES = power_studies(CODEBOOKS)


rule power_from_fit_job:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        "results/{study}/power/n{n}.csv",
    log:
        "logs/{study}/power/n{n}.log",
    benchmark:
        "benchmarks/out/{study}/power/n{n}.tsv"
    wildcard_constraints:
        n="[0-9]+",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        grid=config["power"]["n"],
        n_reps=config["power"]["n_reps"],
        n_draws=config["power"]["n_draws"],
        model=config["power"]["model"],
        missing=config["power"]["missing"],
        alpha=config["power"]["alpha"],
        ci_level=config["power"]["ci_level"],
        exogenous=config["power"]["exogenous"],
        panel_stationary=config["power"]["panel_stationary"],
        seed=config["seed"],
    script:
        "../scripts/power_job.py"


rule power_from_fit:
    input:
        expand("results/{{study}}/power/n{n}.csv", n=config["power"]["n"]),
    output:
        table=report(
            "results/{study}/power_from_fit.csv",
            caption="../report/power_from_fit.rst",
            category="9. Power for the next study",
            subcategory="{study}",
        ),
        figure=report(
            "results/{study}/power_from_fit.png",
            caption="../report/fig_power_from_fit.rst",
            category="9. Power for the next study",
            subcategory="{study}",
        ),
        figure_pdf="results/{study}/power_from_fit.pdf",
    log:
        "logs/{study}/power/aggregate.log",
    benchmark:
        "benchmarks/out/{study}/power/aggregate.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/power_aggregate.py"


rule power:
    input:
        expand("results/{study}/power_from_fit.csv", study=POWER_STUDIES),
        expand("results/{study}/power_from_fit.png", study=POWER_STUDIES),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
