rule meta:
    input:
        unpack(meta_inputs),
    output:
        summary=report(
            "results/meta/{name}/summary.csv",
            caption="../report/meta_summary.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        studies=report(
            "results/meta/{name}/studies.csv",
            caption="../report/meta_studies.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        diagnostics=report(
            "results/meta/{name}/diagnostics.csv",
            caption="../report/meta_diagnostics.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        bias=report(
            "results/meta/{name}/bias.csv",
            caption="../report/meta_bias.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        masem=report(
            "results/meta/{name}/masem.csv",
            caption="../report/meta_masem.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        tssem=report(
            "results/meta/{name}/tssem.csv",
            caption="../report/meta_tssem.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        subgroup=report(
            "results/meta/{name}/subgroup.csv",
            caption="../report/meta_subgroup.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
    log:
        "logs/meta/{name}.log",
    benchmark:
        "benchmarks/out/meta/{name}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        spec=meta_spec,
    script:
        "../scripts/meta.py"
