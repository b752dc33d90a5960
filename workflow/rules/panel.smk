rule panel:
    input:
        clean="results/{study}/clean.csv",
        long="results/{study}/clean_long.csv",
        codebook=codebook_path,
    output:
        clpm=report(
            "results/{study}/clpm.csv",
            caption="../report/panel_clpm.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
        riclpm=report(
            "results/{study}/riclpm.csv",
            caption="../report/panel_riclpm.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
        panel_comparison=report(
            "results/{study}/panel_comparison.csv",
            caption="../report/panel_comparison.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
        within_person=report(
            "results/{study}/within_person.csv",
            caption="../report/panel_within.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
        longitudinal_invariance=report(
            "results/{study}/longitudinal_invariance.csv",
            caption="../report/panel_longitudinal_invariance.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/panel.log",
    benchmark:
        "benchmarks/out/{study}/panel.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        stationary=config["panel"]["stationary"],
        alpha=config["panel"]["alpha"],
        ci_level=config["panel"]["ci_level"],
        missing=config["panel"]["missing"],
        use_covariates=config["panel"]["use_covariates"],
        within=config["panel"]["within"],
        random_slopes=config["panel"]["random_slopes"],
    script:
        "../scripts/panel.py"
