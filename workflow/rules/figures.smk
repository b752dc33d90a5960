# Figures (issue #8): one rule per figure kind, generated from the table FIGURE_RULES in common.smk
# (inputs, output stem, report category, options). Each writes a PNG (in the report) + PDF, drawn by
# efficacy.plots.render_stage_figure; a missing or failed stage result gives a placeholder saying why.
# (The simulation study's power and coverage figures are drawn by rule simulation_figures in
# simulation.smk, with the same efficacy.plots functions.)


for _kind, _fig in FIGURE_RULES.items():

    rule:
        name:
            f"fig_{_kind}"
        input:
            **_fig["input"],
        output:
            png=report(
                f"{_fig['stem']}.png",
                caption=f"../report/fig_{_kind}.rst",
                category=_fig["category"],
                subcategory=_fig["subcategory"],
            ),
            pdf=f"{_fig['stem']}.pdf",
        log:
            _fig["log"],
        benchmark:
            _fig["benchmark"]
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        params:
            kind=_kind,
            options=_fig["options"],
        script:
            "../scripts/figures.py"
