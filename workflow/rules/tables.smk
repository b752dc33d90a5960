# Manuscript tables (issue #23): each study's reliability, CFA fit and loadings, invariance steps, mediation
# and sensitivity, and each meta-analysis, as APA 7 tables in Word and LaTeX (efficacy.tables).
# Not part of the default target: `snakemake tables`.


rule manuscript_tables:
    input:
        manuscript_table_inputs,
    output:
        docx=report(
            "results/{study}/tables/tables.docx",
            caption="../report/manuscript_tables.rst",
            category="8. Manuscript tables",
            subcategory="{study}",
        ),
        tex="results/{study}/tables/tables.tex",
    log:
        "logs/{study}/manuscript_tables.log",
    benchmark:
        "benchmarks/out/{study}/manuscript_tables.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="study",
        title=lambda wildcards: wildcards.study,
    script:
        "../scripts/tables.py"


rule meta_manuscript_tables:
    input:
        "results/meta/{name}/summary.csv",
    output:
        docx=report(
            "results/meta/{name}/tables/tables.docx",
            caption="../report/manuscript_tables.rst",
            category="8. Manuscript tables",
            subcategory="{name}",
        ),
        tex="results/meta/{name}/tables/tables.tex",
    log:
        "logs/meta/{name}/manuscript_tables.log",
    benchmark:
        "benchmarks/out/meta/{name}/manuscript_tables.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="meta",
        title=lambda wildcards: f"Meta-analysis {wildcards.name}",
    script:
        "../scripts/tables.py"


rule tables:
    input:
        tables_targets(),
    threads: 1
    resources:
        mem_mb=100,
        runtime=1,
