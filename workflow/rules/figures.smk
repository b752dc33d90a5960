# Figures (issue #8): rules generated from the table FIGURE_RULES in common.smk. The `figures` job of a study
# draws all its figures in one process (issue #22: matplotlib is imported once instead of eight times);
# every figure kind keeps its own PNG (a report item with its caption) and PDF, drawn by
# efficacy.plots.render_stage_figures. A missing or failed stage result gives a placeholder saying why, and
# a figure that fails unexpectedly does not lose the others (the job fails only with figures.strict: true).
# (The simulation study's power and coverage figures are drawn by rule simulation_figures in
# simulation.smk, with the same efficacy.plots functions.)


for _name, _spec in FIGURE_RULES.items():

    rule:
        name:
            _name
        input:
            **figure_rule_inputs(_spec),
        output:
            **figure_rule_outputs(_spec),
        log:
            f"logs/{_spec['log']}.log",
        benchmark:
            f"benchmarks/out/{_spec['log']}.tsv"
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1500,
            runtime=10,
        params:
            figures=figure_rule_params(_spec),
            strict=config["figures"]["strict"],
        script:
            "../scripts/figures.py"
