# Measurement invariance (efficacy.measurement.run_stage, parts=["invariance"]); the CFA and discriminant
# validity of a study are computed in its `analyse` job (analyse.smk).
# Invariance is one job per (study, group), which also draws its figure: the groups come from the codebook
# at parse time (measurement_targets() in common.smk), so studies without groups have no invariance outputs.


rule measurement_invariance:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        **figure_rule_outputs(INVARIANCE_FIGURE),
        invariance=report(
            "results/{study}/invariance_{group}.csv",
            caption="../report/measurement_invariance.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/measurement_invariance_{group}.log",
    benchmark:
        "benchmarks/out/{study}/measurement_invariance_{group}.tsv"
    wildcard_constraints:
        group=MEASUREMENT_GROUP_RE,
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        parts=["invariance"],
        groups=lambda wildcards: [wildcards.group],
        model=measurement_model,
        missing=config["measurement"]["missing"],
        min_items=config["measurement"]["min_items"],
        delta_cfi=config["measurement"]["delta_cfi"],
        delta_rmsea=config["measurement"]["delta_rmsea"],
        combine=config["measurement"]["combine"],
        find_partial=config["measurement"]["find_partial"],
        figures=figure_rule_params(INVARIANCE_FIGURE),
        strict=config["figures"]["strict"],
    script:
        "../scripts/invariance.py"
