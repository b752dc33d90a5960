rule clean:
    input:
        codebook=codebook_path,
        data=raw_data_file,
    output:
        clean="results/{study}/clean.csv",
        long="results/{study}/clean_long.csv",
        dictionary="results/{study}/columns.csv",
        flow=report(
            "results/{study}/flow.csv",
            caption="../report/flow.rst",
            category="1. Data",
            subcategory="{study}",
        ),
        missingness="results/{study}/missingness.csv",
        careless="results/{study}/careless.csv",
        generality="results/{study}/generality.csv",
        json="results/{study}/cleaning.json",
        md=report(
            "results/{study}/cleaning.md",
            caption="../report/cleaning.rst",
            category="1. Data",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/clean.log",
    benchmark:
        "benchmarks/out/{study}/clean.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/clean.py"


rule provenance:
    input:
        all_inputs(),
    output:
        "results/provenance.json",
    log:
        "logs/provenance.log",
    benchmark:
        "benchmarks/out/provenance.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config,
    script:
        "../scripts/provenance.py"
