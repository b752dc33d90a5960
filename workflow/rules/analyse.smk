# The per-study statistics in one job (issue #22): reliability (efficacy.reliability.run_stage),
# measurement -- CFA and discriminant validity (efficacy.measurement.run_stage) --, mediation with its
# causal sensitivity analysis and evidence profile (efficacy.mediation.run_stage) and latent mediation
# (efficacy.mediation.latent.run_stage). Each stage computes and writes exactly what its own job wrote
# before; they share one job because each of them took well under a second of statistics and paid about
# a second of Python, pandas and SciPy imports as a separate job. Every output is still its own file (and
# report item), so reruns stay per study: a change to one study's raw data or codebook reruns this job of
# that study only; a change to a stage's config section reruns it for every study.
# Invariance (one job per study and grouping variable, measurement.smk) stays separate: a partial-
# invariance search can take much longer than the rest.


rule analyse:
    input:
        unpack(mediation_inputs),
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
        cfa_fit=report(
            "results/{study}/cfa_fit.csv",
            caption="../report/measurement_cfa_fit.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
        cfa_estimates=report(
            "results/{study}/cfa_estimates.csv",
            caption="../report/measurement_cfa_estimates.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
        discriminant=report(
            "results/{study}/discriminant.csv",
            caption="../report/measurement_discriminant.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
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
        latent_mediation=report(
            "results/{study}/latent_mediation.csv",
            caption="../report/latent_mediation.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
    log:
        "logs/{study}/analyse.log",
    benchmark:
        "benchmarks/out/{study}/analyse.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        reliability={
            "threshold": config["reliability"]["threshold"],
            "n_boot": config["reliability"]["n_boot"],
            "ci_method": config["reliability"]["ci_method"],
            "ci_level": config["reliability"]["ci_level"],
            "missing": config["reliability"]["missing"],
            "flag_on": config["reliability"]["flag_on"],
            "seed": config["seed"],
        },
        measurement={
            "parts": ["cfa", "discriminant"],
            "missing": config["measurement"]["missing"],
            "n_boot": config["measurement"]["n_boot"],
            "ci_level": config["measurement"]["ci_level"],
            "htmt_method": config["measurement"]["htmt_method"],
            "min_items": config["measurement"]["min_items"],
            "max_joint_items": config["measurement"]["max_joint_items"],
            "seed": config["seed"],
        },
        measurement_model=measurement_model,
        mediation={
            "n_boot": config["mediation"]["n_boot"],
            "ci_method": config["mediation"]["ci"],
            "missing": config["mediation"].get("missing", "auto"),
            "fragile_rho": config["mediation"]["fragile_rho"],
            "n_sims": config["mediation"].get("n_sims", 1000),
            "moderated_model": config["mediation"].get("moderated_model", 7),
            "evidence": config["mediation"].get("evidence", {}),
            "seed": config["seed"],
        },
        latent_mediation={
            "n_boot": config["mediation"]["latent_n_boot"],
            "seed": config["seed"],
        },
    script:
        "../scripts/analyse.py"
