rule reliability:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        reliability=report(
            "results/{study}/reliability.csv",
            caption="../report/reliability.rst",
            category="2. Reliability",
            subcategory="{study}",
        ),
        item_stats="results/{study}/items.csv",
        retest="results/{study}/retest.csv",
        attenuation=report(
            "results/{study}/attenuation.csv",
            caption="../report/attenuation.rst",
            category="2. Reliability",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/reliability.log",
    benchmark:
        "benchmarks/out/{study}/reliability.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        threshold=config["reliability"]["threshold"],
        n_boot=config["reliability"]["n_boot"],
        ci_method=config["reliability"]["ci_method"],
        ci_level=config["reliability"]["ci_level"],
        missing=config["reliability"]["missing"],
        flag_on=config["reliability"]["flag_on"],
        seed=config["seed"],
    script:
        "../scripts/reliability.py"
