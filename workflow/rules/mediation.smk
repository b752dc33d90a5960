rule mediation:
    input:
        clean="results/{study}/clean.csv",
        codebook="data/raw/{study}/codebook.yaml",
    output:
        mediation=report(
            "results/{study}/mediation.csv",
            caption="../report/mediation.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        sensitivity="results/{study}/sensitivity.csv",
        verdict=report(
            "results/{study}/verdict.md",
            caption="../report/mediation.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/mediation.log",
    benchmark:
        "benchmarks/out/{study}/mediation.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        n_boot=config["mediation"]["n_boot"],
        ci=config["mediation"]["ci"],
        fragile_rho=config["mediation"]["fragile_rho"],
        seed=config["seed"],
    script:
        "../scripts/mediation.py"
