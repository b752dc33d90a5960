rule summary:
    input:
        all_targets(),
    output:
        md="results/summary.md",
        html=report(
            "results/summary.html",
            caption="../report/summary.rst",
            category="0. Summary",
        ),
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/out/summary.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        studies=STUDIES,
        fragile_rho=config["mediation"]["fragile_rho"],
    script:
        "../scripts/summary.py"
