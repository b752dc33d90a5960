# Figures (issue #8): one rule per figure kind, each a PNG (in the report) + PDF, drawn by
# efficacy.plots.render_stage_figure; a missing or failed stage result gives a placeholder saying why.


rule fig_flow:
    input:
        flow="results/{study}/flow.csv",
    output:
        png=report(
            "results/{study}/figures/flow.png",
            caption="../report/fig_flow.rst",
            category="1. Data",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/flow.pdf",
    log:
        "logs/{study}/fig_flow.log",
    benchmark:
        "benchmarks/out/{study}/fig_flow.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="flow",
        options={},
    script:
        "../scripts/figures.py"


rule fig_missingness:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        png=report(
            "results/{study}/figures/missingness.png",
            caption="../report/fig_missingness.rst",
            category="1. Data",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/missingness.pdf",
    log:
        "logs/{study}/fig_missingness.log",
    benchmark:
        "benchmarks/out/{study}/fig_missingness.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="missingness",
        options={},
    script:
        "../scripts/figures.py"


rule fig_items:
    input:
        clean="results/{study}/clean.csv",
        codebook=codebook_path,
    output:
        png=report(
            "results/{study}/figures/items.png",
            caption="../report/fig_items.rst",
            category="1. Data",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/items.pdf",
    log:
        "logs/{study}/fig_items.log",
    benchmark:
        "benchmarks/out/{study}/fig_items.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="items",
        options={},
    script:
        "../scripts/figures.py"


rule fig_reliability:
    input:
        reliability="results/{study}/reliability.csv",
    output:
        png=report(
            "results/{study}/figures/reliability.png",
            caption="../report/fig_reliability.rst",
            category="2. Reliability",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/reliability.pdf",
    log:
        "logs/{study}/fig_reliability.log",
    benchmark:
        "benchmarks/out/{study}/fig_reliability.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="reliability",
        options={"threshold": config["reliability"]["threshold"]},
    script:
        "../scripts/figures.py"


rule fig_mediation_path:
    input:
        mediation="results/{study}/mediation.csv",
        codebook=codebook_path,
    output:
        png=report(
            "results/{study}/figures/mediation_path.png",
            caption="../report/fig_mediation_path.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/mediation_path.pdf",
    log:
        "logs/{study}/fig_mediation_path.log",
    benchmark:
        "benchmarks/out/{study}/fig_mediation_path.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="mediation_path",
        options={},
    script:
        "../scripts/figures.py"


rule fig_sensitivity:
    input:
        sensitivity="results/{study}/sensitivity.csv",
    output:
        png=report(
            "results/{study}/figures/sensitivity.png",
            caption="../report/fig_sensitivity.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/sensitivity.pdf",
    log:
        "logs/{study}/fig_sensitivity.log",
    benchmark:
        "benchmarks/out/{study}/fig_sensitivity.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="sensitivity",
        options={},
    script:
        "../scripts/figures.py"


rule fig_riclpm_within:
    input:
        riclpm="results/{study}/riclpm.csv",
    output:
        png=report(
            "results/{study}/figures/riclpm_within.png",
            caption="../report/fig_riclpm_within.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/riclpm_within.pdf",
    log:
        "logs/{study}/fig_riclpm_within.log",
    benchmark:
        "benchmarks/out/{study}/fig_riclpm_within.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="riclpm_within",
        options={},
    script:
        "../scripts/figures.py"


rule fig_riclpm_between:
    input:
        riclpm="results/{study}/riclpm.csv",
    output:
        png=report(
            "results/{study}/figures/riclpm_between.png",
            caption="../report/fig_riclpm_between.rst",
            category="5. Temporal order",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/riclpm_between.pdf",
    log:
        "logs/{study}/fig_riclpm_between.log",
    benchmark:
        "benchmarks/out/{study}/fig_riclpm_between.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="riclpm_between",
        options={},
    script:
        "../scripts/figures.py"


rule fig_forest:
    input:
        studies="results/meta/{name}/studies.csv",
        summary="results/meta/{name}/summary.csv",
    output:
        png=report(
            "results/meta/{name}/figures/forest.png",
            caption="../report/fig_forest.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        pdf="results/meta/{name}/figures/forest.pdf",
    log:
        "logs/meta/{name}/fig_forest.log",
    benchmark:
        "benchmarks/out/meta/{name}/fig_forest.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="forest",
        options={},
    script:
        "../scripts/figures.py"


rule fig_funnel:
    input:
        studies="results/meta/{name}/studies.csv",
        summary="results/meta/{name}/summary.csv",
    output:
        png=report(
            "results/meta/{name}/figures/funnel.png",
            caption="../report/fig_funnel.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        pdf="results/meta/{name}/figures/funnel.pdf",
    log:
        "logs/meta/{name}/fig_funnel.log",
    benchmark:
        "benchmarks/out/meta/{name}/fig_funnel.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="funnel",
        options={},
    script:
        "../scripts/figures.py"


rule fig_masem_path:
    input:
        masem="results/meta/{name}/masem.csv",
    output:
        png=report(
            "results/meta/{name}/figures/masem_path.png",
            caption="../report/fig_masem_path.rst",
            category="7. Meta-analysis",
            subcategory="{name}",
        ),
        pdf="results/meta/{name}/figures/masem_path.pdf",
    log:
        "logs/meta/{name}/fig_masem_path.log",
    benchmark:
        "benchmarks/out/meta/{name}/fig_masem_path.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="masem_path",
        options={},
    script:
        "../scripts/figures.py"


# Measurement invariance: one figure per grouping variable. (The simulation study's power and coverage
# figures are drawn by rule simulation_figures in simulation.smk, with the same efficacy.plots functions.)
rule fig_invariance:
    input:
        invariance="results/{study}/invariance_{group}.csv",
    output:
        png=report(
            "results/{study}/figures/invariance_{group}.png",
            caption="../report/fig_invariance.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/invariance_{group}.pdf",
    log:
        "logs/{study}/fig_invariance_{group}.log",
    benchmark:
        "benchmarks/out/{study}/fig_invariance_{group}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="invariance",
        options={},
    script:
        "../scripts/figures.py"


rule fig_cfa_path:
    input:
        cfa_fit="results/{study}/cfa_fit.csv",
        cfa_estimates="results/{study}/cfa_estimates.csv",
    output:
        png=report(
            "results/{study}/figures/cfa_path.png",
            caption="../report/fig_cfa_path.rst",
            category="3. Measurement",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/cfa_path.pdf",
    log:
        "logs/{study}/fig_cfa_path.log",
    benchmark:
        "benchmarks/out/{study}/fig_cfa_path.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="cfa_path",
        options={},
    script:
        "../scripts/figures.py"


rule fig_latent_mediation_path:
    input:
        latent_mediation="results/{study}/latent_mediation.csv",
        codebook=codebook_path,
    output:
        png=report(
            "results/{study}/figures/latent_mediation_path.png",
            caption="../report/fig_latent_mediation_path.rst",
            category="4. Mediation",
            subcategory="{study}",
        ),
        pdf="results/{study}/figures/latent_mediation_path.pdf",
    log:
        "logs/{study}/fig_latent_mediation_path.log",
    benchmark:
        "benchmarks/out/{study}/fig_latent_mediation_path.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind="latent_mediation_path",
        options={},
    script:
        "../scripts/figures.py"
