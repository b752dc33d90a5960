rule mediation:
    input:
        unpack(mediation_inputs),
    output:
        mediation=report(
            "results/{study}/mediation.csv",
            caption="../report/mediation.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        sensitivity="results/{study}/sensitivity.csv",
        causal_mediation=report(
            "results/{study}/causal_mediation.csv",
            caption="../report/mediation_causal.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        model_comparison=report(
            "results/{study}/model_comparison.csv",
            caption="../report/mediation_models.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        moderated_mediation=report(
            "results/{study}/moderated_mediation.csv",
            caption="../report/moderated_mediation.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        evidence=report(
            "results/{study}/evidence.csv",
            caption="../report/mediation_evidence.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
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
        ci_method=config["mediation"]["ci"],
        missing=config["mediation"].get("missing", "auto"),
        fragile_rho=config["mediation"]["fragile_rho"],
        n_sims=config["mediation"].get("n_sims", 1000),
        moderated_model=config["mediation"].get("moderated_model", 7),
        evidence=config["mediation"].get("evidence", {}),
        seed=config["seed"],
    script:
        "../scripts/mediation.py"


rule latent_mediation:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        latent_mediation=report(
            "results/{study}/latent_mediation.csv",
            caption="../report/latent_mediation.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/latent_mediation.log",
    benchmark:
        "benchmarks/out/{study}/latent_mediation.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        n_boot=config["mediation"]["latent_n_boot"],
        seed=config["seed"],
    script:
        "../scripts/latent_mediation.py"
