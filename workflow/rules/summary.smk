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
    params:
        studies=STUDIES,
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/out/summary.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../environment.yml"
    script:
        "../scripts/summary.py"
