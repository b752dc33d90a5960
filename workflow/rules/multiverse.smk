rule multiverse_data:
    input:
        codebook=codebook_path,
        data=raw_data_file,
    output:
        "results/{study}/multiverse/data.csv",
    log:
        "logs/{study}/multiverse/data.log",
    benchmark:
        "benchmarks/out/{study}/multiverse/data.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/multiverse_data.py"


rule multiverse_spec:
    input:
        data="results/{study}/multiverse/data.csv",
        codebook=codebook_path,
    output:
        "results/{study}/multiverse/specs/{spec}.csv",
    log:
        "logs/{study}/multiverse/specs/{spec}.log",
    benchmark:
        "benchmarks/out/{study}/multiverse/specs/{spec}.tsv"
    wildcard_constraints:
        spec="s[0-9a-f]{10}",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        spec=multiverse_spec,
        n_boot=config["multiverse"]["n_boot"],
        ci_level=config["multiverse"]["ci_level"],
        fragile_rho=config["mediation"]["fragile_rho"],
        seed=config["seed"],
    script:
        "../scripts/multiverse_spec.py"


rule multiverse_aggregate:
    input:
        specs=multiverse_spec_files,
        data="results/{study}/multiverse/data.csv",
        codebook=codebook_path,
    output:
        specifications=report(
            "results/{study}/multiverse/specifications.csv",
            caption="../report/multiverse_specifications.rst",
            category="8. Multiverse",
            subcategory="{study}",
        ),
        curve_test=report(
            "results/{study}/multiverse/curve_test.csv",
            caption="../report/multiverse_curve_test.rst",
            category="8. Multiverse",
            subcategory="{study}",
        ),
        variance=report(
            "results/{study}/multiverse/variance.csv",
            caption="../report/multiverse_variance.rst",
            category="8. Multiverse",
            subcategory="{study}",
        ),
        summary=report(
            "results/{study}/multiverse/summary.md",
            caption="../report/multiverse_summary.rst",
            category="8. Multiverse",
            subcategory="{study}",
        ),
        figure=report(
            "results/{study}/multiverse/specification_curve.png",
            caption="../report/fig_specification_curve.rst",
            category="8. Multiverse",
            subcategory="{study}",
        ),
        figure_pdf="results/{study}/multiverse/specification_curve.pdf",
    log:
        "logs/{study}/multiverse/aggregate.log",
    benchmark:
        "benchmarks/out/{study}/multiverse/aggregate.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        n_null=config["multiverse"]["n_null"],
        fragile_rho=config["mediation"]["fragile_rho"],
        seed=config["seed"],
    script:
        "../scripts/multiverse_aggregate.py"


rule multiverse:
    input:
        multiverse_targets(),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
