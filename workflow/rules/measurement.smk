# Measurement stage (efficacy.measurement.run_stage): CFA, discriminant validity, invariance.
# Invariance is one job per (study, group): the groups come from the codebook at parse time
# (measurement_targets() in common.smk), so studies without groups have no invariance outputs.


rule measurement:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        cfa_fit=report(
            "results/{study}/cfa_fit.csv",
            caption="../report/measurement_cfa_fit.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
        cfa_estimates=report(
            "results/{study}/cfa_estimates.csv",
            caption="../report/measurement_cfa_estimates.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
        discriminant=report(
            "results/{study}/discriminant.csv",
            caption="../report/measurement_discriminant.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/measurement.log",
    benchmark:
        "benchmarks/out/{study}/measurement.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        parts=["cfa", "discriminant"],
        model=measurement_model,
        missing=config["measurement"]["missing"],
        n_boot=config["measurement"]["n_boot"],
        ci_level=config["measurement"]["ci_level"],
        htmt_method=config["measurement"]["htmt_method"],
        min_items=config["measurement"]["min_items"],
        max_joint_items=config["measurement"]["max_joint_items"],
        seed=config["seed"],
    script:
        "../scripts/measurement.py"


rule measurement_invariance:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
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
    script:
        "../scripts/measurement.py"
