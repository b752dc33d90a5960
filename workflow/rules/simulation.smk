rule simulation_power_job:
    output:
        "results/simulation/jobs/power_{job}.csv",
    log:
        "logs/simulation/power_{job}.log",
    benchmark:
        "benchmarks/out/simulation/power_{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        grid=config["simulation"],
        seed=config["seed"],
    script:
        "../scripts/simulation_job.py"


rule simulation_power:
    input:
        expand("results/simulation/jobs/power_{job}.csv", job=SIM_JOBS),
    output:
        report(
            "results/simulation/power.csv",
            caption="../report/simulation_power.rst",
            category="Simulation",
        ),
    log:
        "logs/simulation/power.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/simulation_aggregate.py"


rule simulation_coverage:
    output:
        report(
            "results/simulation/coverage.csv",
            caption="../report/simulation_coverage.rst",
            category="Simulation",
        ),
    log:
        "logs/simulation/coverage.log",
    benchmark:
        "benchmarks/out/simulation/coverage.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        grid=config["simulation"],
        seed=config["seed"],
    script:
        "../scripts/simulation_coverage.py"


rule simulation:
    input:
        "results/simulation/power.csv",
        "results/simulation/coverage.csv",
        "results/simulation/power_curve.png",
        "results/simulation/coverage.png",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,


rule simulation_figures:
    input:
        power="results/simulation/power.csv",
        coverage="results/simulation/coverage.csv",
    output:
        power=report(
            "results/simulation/power_curve.png",
            caption="../report/simulation_power_curve.rst",
            category="Simulation",
        ),
        coverage=report(
            "results/simulation/coverage.png",
            caption="../report/simulation_coverage_plot.rst",
            category="Simulation",
        ),
        power_pdf="results/simulation/power_curve.pdf",
        coverage_pdf="results/simulation/coverage.pdf",
    log:
        "logs/simulation/figures.log",
    benchmark:
        "benchmarks/out/simulation/figures.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/simulation_figures.py"
