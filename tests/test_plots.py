"""Figures render from the bundled data, are valid non-blank images of the expected size,
and saving is byte-deterministic."""
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from efficacy import plots

ROOT = Path(__file__).resolve().parents[1]
BCG = dict(name="bcg", source="table", input="data/literature/bcg.csv", measure="RR",
           columns={"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}, method="REML", test="z",
           label="author", order="year")


@pytest.fixture(scope="module")
def bcg():
    from efficacy.meta import run_analysis
    return run_analysis(BCG, {"input": pd.read_csv(ROOT / BCG["input"])})


@pytest.fixture(scope="module")
def mastery():
    from efficacy.cleaning import clean_study
    from efficacy.codebook import load_codebook
    from efficacy.reliability import run_stage
    res = clean_study(ROOT / "data/raw/mastery_trial")
    cb = load_codebook(ROOT / "data/raw/mastery_trial")
    out = run_stage(res.clean, cb, n_boot=50, seed=1)
    return res, out


def check_written(fig_size_in, paths):
    png, pdf = Path(paths["png"]), Path(paths["pdf"])
    img = mpimg.imread(png)
    w_in, h_in = fig_size_in
    assert img.shape[0] == round(h_in * plots.DPI)
    assert img.shape[1] == round(w_in * plots.DPI)
    rgb = img[..., :3]
    nonwhite = (rgb < 0.95).any(axis=-1).mean()
    assert nonwhite > 0.01, f"{png.name} looks blank ({nonwhite:.4f} non-white)"
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert not list(png.parent.glob(".*.tmp"))


def save_and_check(fig, path_stem):
    size = tuple(fig.get_size_inches())
    paths = plots.save_figure(fig, path_stem, close=False)
    check_written(size, paths)
    return fig, paths


def test_forest_plot_bcg(bcg, tmp_path):
    fig = plots.forest_plot(bcg["studies"], bcg["summary"])
    save_and_check(fig, tmp_path / "forest")
    # axis is back-transformed: RR labels are exp of the log-scale ticks
    ax = fig.axes[0]
    ticks = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    np.testing.assert_allclose([float(s) for s in labels], np.exp(ticks), atol=0.006)
    # imputed studies are not in the forest plot, real ones are
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert "filled_1" not in names and "Aronson" in names
    plt.close(fig)


def test_forest_plot_zcor_labels():
    studies = pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.2, 0.4, 0.3], "vi": [0.01, 0.02, 0.015],
                            "ci_low": [0.0, 0.12, 0.06], "ci_high": [0.4, 0.68, 0.54], "weight": [1, 2, 3]})
    summary = pd.DataFrame({"estimate": [0.3], "ci_low": [0.15], "ci_high": [0.45], "pi_low": [0.1],
                            "pi_high": [0.5], "measure": ["ZCOR"]})
    fig = plots.forest_plot(studies, summary)
    ax = fig.axes[0]
    np.testing.assert_allclose([float(t.get_text()) for t in ax.get_xticklabels()], np.tanh(ax.get_xticks()),
                               atol=0.006)
    assert "Correlation" in ax.get_xlabel()
    plt.close(fig)


def test_funnel_plot_bcg(bcg, tmp_path):
    assert bcg["studies"]["filled"].astype(bool).any()
    fig = plots.funnel_plot(bcg["studies"], bcg["summary"])
    save_and_check(fig, tmp_path / "funnel")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "Imputed (trim and fill)" in labels and "p < .01" in labels
    plt.close(fig)


def test_reliability_plot_mastery(mastery, tmp_path):
    rel = mastery[1]["reliability"]
    fig = plots.reliability_plot(rel, threshold=0.70)
    save_and_check(fig, tmp_path / "reliability")
    ax = fig.axes[0]
    bold = [t.get_text() for t in ax.get_yticklabels() if t.get_fontweight() == "bold"]
    flagged = rel.loc[(rel["flag"] != "ok") & (rel["group"] == "all"), "scale"].tolist()
    assert flagged and all(any(f in b for b in bold) for f in flagged)
    plt.close(fig)


def test_flow_diagram_mastery(mastery, tmp_path):
    flow = mastery[0].flow
    fig = plots.flow_diagram(flow)
    save_and_check(fig, tmp_path / "flow")
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"n = {int(flow['remaining'].iloc[-1])}" in texts
    plt.close(fig)


def test_flow_diagram_no_exclusions(tmp_path):
    flow = pd.DataFrame({"step": [0], "reason": ["raw data"], "excluded": [0], "remaining": [899]})
    fig = plots.flow_diagram(flow)
    save_and_check(fig, tmp_path / "flow1")
    assert "no exclusions" in " ".join(t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_placeholder_figure(tmp_path):
    paths = plots.placeholder_figure(tmp_path / "sub" / "missing", "improper solution: negative residual variance")
    check_written((plots.SINGLE_COLUMN, plots.SINGLE_COLUMN * 0.6), paths)


def test_save_is_byte_identical(bcg, tmp_path):
    fig = plots.forest_plot(bcg["studies"], bcg["summary"])
    a = plots.save_figure(fig, tmp_path / "a", close=False)
    b = plots.save_figure(fig, tmp_path / "b")
    assert Path(a["png"]).read_bytes() == Path(b["png"]).read_bytes()
    assert Path(a["pdf"]).read_bytes() == Path(b["pdf"]).read_bytes()


def test_bad_input_names_column():
    with pytest.raises(ValueError, match="alpha_ci_low"):
        plots.reliability_plot(pd.DataFrame({"scale": ["x"], "alpha": [0.8]}))
    with pytest.raises(ValueError, match="remaining"):
        plots.flow_diagram(pd.DataFrame({"step": [0], "reason": ["raw"], "excluded": [0]}))


def _power_df():
    rows = []
    for a in (0.14, 0.39):
        for b in (0.14, 0.39):
            for m in ("percentile", "sobel"):
                for n in (50, 100, 200):
                    p = 1 / (1 + np.exp(-(n * a * b / 8 - 2)))
                    rows.append(dict(n=n, a=a, b=b, reliability=1.0, method=m, power=p,
                                     power_mcse=np.sqrt(p * (1 - p) / 200), n_reps=200))
    return pd.DataFrame(rows)


def test_power_curve(tmp_path):
    df = _power_df()
    fig = plots.power_curve(df, title="Power of the indirect effect")
    save_and_check(fig, tmp_path / "power")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4  # one panel per (a, b)
    ax = visible[0]
    assert any(np.allclose(line.get_ydata(), 0.8) for line in ax.get_lines())  # the 80% line
    labels = fig.legends[0].get_texts()
    assert {t.get_text() for t in labels} >= {"percentile", "sobel", "80% power"}
    plt.close(fig)
    with pytest.raises(ValueError, match="power"):
        plots.power_curve(df.drop(columns="power"))


def test_coverage_plot(tmp_path):
    rows = [dict(target=t, method=m, n=n, true_value=0.1, coverage=c, coverage_mcse=0.01, bias=0.0, bias_mcse=0.0,
                 rejection_rate=0.5, n_reps=500)
            for t, c0 in (("acme", 0.93), ("ade", 0.95)) for m in ("bca", "percentile") for n, c in
            ((50, c0), (200, c0 + 0.01))]
    df = pd.DataFrame(rows)
    fig = plots.coverage_plot(df)
    save_and_check(fig, tmp_path / "coverage")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["acme: bca", "acme: percentile", "ade: bca",
                                                           "ade: percentile"]
    labels = ax.get_legend_handles_labels()[1]
    assert "Nominal 95%" in labels and "n = 50" in labels and any(lab.startswith("Acceptable") for lab in labels)
    plt.close(fig)
    with pytest.raises(ValueError, match="coverage"):
        plots.coverage_plot(df.drop(columns="coverage"))


@pytest.fixture(scope="module")
def mastery_mediation(mastery):
    from efficacy.codebook import load_codebook
    from efficacy.mediation import run_stage
    cb = load_codebook(ROOT / "data/raw/mastery_trial")
    return run_stage(mastery[0].clean, cb, n_boot=100, seed=1), cb


@pytest.fixture(scope="module")
def craft():
    import yaml
    from efficacy.meta import run_analysis
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    spec = next(a for a in cfg["meta"]["analyses"] if a["name"] == "craft2003")
    return run_analysis(spec, {"input": pd.read_csv(ROOT / spec["input"])})


def test_sensitivity_curve_mastery(mastery_mediation, tmp_path):
    sens = mastery_mediation[0]["sensitivity"]
    fig = plots.sensitivity_curve(sens)
    save_and_check(fig, tmp_path / "sensitivity")
    ax = fig.axes[0]
    r0 = sens.loc[sens["acme"].notna(), "rho_at_zero"].iloc[0]
    assert any(lab == f"ACME = 0 at \u03c1 = {r0:.2f}" for lab in ax.get_legend_handles_labels()[1])
    assert "via efficacy" in ax.get_ylabel() and "behavior" in ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="no rows"):
        plots.sensitivity_curve(sens, y="adherent")  # binary outcome: not run


def test_graph_layers_and_cycle():
    lay = plots.graph_layers(["X", "M", "Y"], [("X", "M"), ("M", "Y"), ("X", "Y")])
    assert lay == {"X": 0, "M": 1, "Y": 2}
    with pytest.raises(ValueError, match="cycle"):
        plots.graph_layers(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="unknown node 'Z'"):
        plots.path_diagram(["X", "Y"], [{"from": "X", "to": "Z"}])
    # the long edge X -> Y gets a dummy in layer 1; real nodes of a tie sit around it (parallel mediation)
    pos = plots.graph_layout(["X", "M1", "M2", "Y"], [("X", "M1"), ("X", "M2"), ("M1", "Y"), ("M2", "Y"), ("X", "Y")])
    assert pos["M1"][1] == -pos["M2"][1] != 0 and pos[("__dummy", 4, 1)] == (1, 0.0)


def _text_of(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + " " + \
        " ".join(t.get_text() for t in fig.texts)


def test_path_diagram_mediation(mastery_mediation, tmp_path):
    med, cb = mastery_mediation
    g = plots.mediation_graph(med["mediation"], x=cb.design.treatment)
    assert g["nodes"] == ["treat", "efficacy", "behavior"]
    fig = plots.path_diagram(**g)
    save_and_check(fig, tmp_path / "path_mediation")
    m = med["mediation"]
    a = m[(m["effect"] == "a")].iloc[0]
    assert f"{a['estimate']:.2f} [{a['ci_low']:.2f}, {a['ci_high']:.2f}]" in _text_of(fig)
    assert "Indirect via efficacy" in _text_of(fig)
    # layout from the graph: treatment left of the mediator left of the outcome
    xs = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts}
    assert xs["treat"] < xs["efficacy"] < xs["behavior"]
    plt.close(fig)


def test_path_diagram_craft_masem(craft, tmp_path):
    g = plots.masem_graph(craft["masem"])
    assert set(g["nodes"]) == {"acog", "asom", "conf", "perf"}
    assert len(g["covariances"]) == 1  # the two exogenous anxiety scores covary
    fig = plots.path_diagram(**g)
    save_and_check(fig, tmp_path / "path_masem")
    xs = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts if t.get_text() in g["nodes"]}
    assert xs["acog"] == xs["asom"] < xs["conf"] < xs["perf"]
    plt.close(fig)


def _riclpm_table():
    rows = []
    for t in range(1, 4):
        for typ, dr, a, b in (("autoregressive", "x->x", f"x{t}", f"x{t + 1}"),
                              ("autoregressive", "y->y", f"y{t}", f"y{t + 1}"),
                              ("cross-lagged", "x->y", f"x{t}", f"y{t + 1}"),
                              ("cross-lagged", "y->x", f"y{t}", f"x{t + 1}")):
            rows.append(dict(x="eff", y="beh", stationary=False, type=typ, direction=dr, from_wave=t,
                             to_wave=t + 1, from_var=a, to_var=b, estimate=0.2, ci_low=0.1, ci_high=0.3))
    for t in range(1, 5):
        rows.append(dict(x="eff", y="beh", stationary=False, type="within covariance" if t == 1 else
                         "within residual covariance", direction="x~y", from_wave=t, to_wave=t,
                         from_var=f"wx{t}", to_var=f"wy{t}", estimate=0.05, ci_low=-0.1, ci_high=0.2))
    rows.append(dict(x="eff", y="beh", stationary=False, type="random-intercept covariance", direction="x~y",
                     from_wave=np.nan, to_wave=np.nan, from_var="RIx", to_var="RIy", estimate=0.5, ci_low=0.3,
                     ci_high=0.7))
    return pd.DataFrame(rows)


def test_path_diagram_riclpm(tmp_path):
    r = _riclpm_table()
    w = plots.riclpm_graph(r, part="within")
    assert w["nodes"] == [f"w{s}{t}" for t in range(1, 5) for s in "xy"]
    assert len(w["edges"]) == 12 and len(w["covariances"]) == 4
    fig = plots.path_diagram(**w, width=plots.DOUBLE_COLUMN)
    save_and_check(fig, tmp_path / "riclpm_within")
    assert "eff t1" in _text_of(fig)
    plt.close(fig)
    b = plots.riclpm_graph(r, part="between")
    assert b["latent"] == ["RIx", "RIy"] and set(b["nodes"]) == {"RIx", "RIy"} | {f"{s}{t}" for s in "xy"
                                                                                 for t in range(1, 5)}
    fig = plots.path_diagram(**b, width=plots.DOUBLE_COLUMN)
    save_and_check(fig, tmp_path / "riclpm_between")
    from matplotlib.patches import Ellipse
    assert sum(isinstance(p, Ellipse) for p in fig.axes[0].patches) == 2  # latent intercepts as ellipses
    plt.close(fig)


def test_item_distributions_and_missingness(mastery, tmp_path):
    from efficacy.codebook import load_codebook
    cb = load_codebook(ROOT / "data/raw/mastery_trial")
    clean = mastery[0].clean
    fig = plots.item_distributions(clean, cb)
    save_and_check(fig, tmp_path / "items")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "efficacy: se1" in labels and len(labels) == sum(len(s.items) for s in cb.scales.values())
    # ceiling share of the first exercise task, printed and flagged when above 15%
    lo, hi = cb.scales["exercise_tasks"].response_range
    x = clean["ex1"].dropna()
    ceil = f"{(x >= hi).mean() * 100:.0f}%"
    flagged = [t for t in ax.texts if t.get_text() == ceil and t.get_fontweight() == "bold"]
    assert (x >= hi).mean() * 100 <= 15 or flagged
    plt.close(fig)
    fig = plots.missingness_map(clean, cb)
    save_and_check(fig, tmp_path / "missing")
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (len(clean), len(fig.axes[0].get_xticklabels()))
    assert img.sum() == clean[[t.get_text() for t in fig.axes[0].get_xticklabels()]].isna().to_numpy().sum()
    plt.close(fig)


def _invariance_df():
    return pd.DataFrame({
        "step": ["configural", "metric", "scalar", "partial_scalar", "strict"],
        "chisq": [15.6, 21.9, 169.6, 27.3, 32.8], "df": [18, 23, 28, 27, 33],
        "cfi": [1.0, 1.0, 0.910, 0.9998, 1.0], "rmsea": [0.0, 0.0, 0.132, 0.0064, 0.0],
        "srmr": [0.014, 0.031, 0.075, 0.033, 0.036],
        "delta_cfi": [np.nan, 0.0, -0.090, -0.0002, 0.0002], "delta_rmsea": [np.nan, 0.0, 0.132, 0.0064, -0.0064],
        "decision": ["reference", "invariant", "not invariant", "invariant", "invariant"],
        "freed": ["", "", "", "se4 ~ 1", "se4 ~ 1"]})


def test_invariance_plot(tmp_path):
    fig = plots.invariance_plot(_invariance_df())
    save_and_check(fig, tmp_path / "invariance")
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert "Chen \u2265 -0.010" in titles and "Chen \u2264 0.015" in titles
    cut = [ln.get_xdata()[0] for ln in fig.axes[2].get_lines()]
    assert -0.010 in cut
    plt.close(fig)
    bad = _invariance_df().assign(cfi=np.nan, reason="did not converge")
    with pytest.raises(ValueError, match="did not converge"):
        plots.invariance_plot(bad)


def test_render_stage_figure_and_placeholders(mastery_mediation, tmp_path):
    med, cb = mastery_mediation
    med["mediation"].to_csv(tmp_path / "mediation.csv", index=False)
    out = plots.render_stage_figure("mediation_path", {"mediation": tmp_path / "mediation.csv",
                                                       "codebook": cb.path}, tmp_path / "fig" / "mediation_path.png")
    assert out["placeholder"] is None and out["png"].name == "mediation_path.png" and out["pdf"].exists()
    # a failed stage (only a reason row) gives a placeholder stating the reason
    failed = pd.DataFrame({"outcome": [np.nan], "effect": [np.nan], "mediator": [np.nan], "estimate": [np.nan],
                           "ci_low": [np.nan], "ci_high": [np.nan], "reason": ["study declares no treatment"]})
    failed.to_csv(tmp_path / "failed.csv", index=False)
    out = plots.render_stage_figure("mediation_path", {"mediation": tmp_path / "failed.csv"}, tmp_path / "ph")
    assert out["placeholder"] == "study declares no treatment"
    check_written((plots.SINGLE_COLUMN, plots.SINGLE_COLUMN * 0.6), out)
    # an improper RI-CLPM solution
    r = _riclpm_table().assign(converged=True, proper=False, reason="negative residual variance")
    r.to_csv(tmp_path / "riclpm.csv", index=False)
    out = plots.render_stage_figure("riclpm_within", {"riclpm": tmp_path / "riclpm.csv"}, tmp_path / "ri")
    assert out["placeholder"].startswith("improper solution")
    out = plots.render_stage_figure("invariance", {"invariance": tmp_path / "absent.csv"}, tmp_path / "inv")
    assert out["placeholder"]  # missing file: placeholder, not a crash
    with pytest.raises(ValueError, match="unknown figure kind"):
        plots.stage_figure("nope", {})


@pytest.mark.slow
def test_report_and_summary_reference_every_figure(tmp_path):
    """A full (fast-config) run in a copy of the project, then `snakemake --report`: every figure target
    is a valid PNG, and both the Snakemake report and summary.html reference each one."""
    import shutil
    import subprocess
    import sys

    proj = tmp_path / "p"
    proj.mkdir()
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, proj / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, proj / name)
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    base = [snakemake, "--workflow-profile", "none", "--cores", "2"]
    fast = ["--configfile", str(ROOT / "tests" / "data" / "config_fast.yaml")]
    proc = subprocess.run(base + fast, cwd=proj, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = subprocess.run(base + fast + ["--report", "results/report.html"], cwd=proj, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pngs = sorted((proj / "results").rglob("figures/*.png"))
    kinds = {p.stem for p in pngs}
    assert {"flow", "missingness", "items", "reliability", "mediation_path", "sensitivity", "riclpm_within",
            "riclpm_between", "forest", "funnel", "masem_path", "cfa_path", "invariance_culture", "latent_mediation_path"} <= kinds
    report = (proj / "results" / "report.html").read_text(encoding="utf-8", errors="replace")
    summary = (proj / "results" / "summary.html").read_text(encoding="utf-8")
    for p in pngs:
        rel = p.relative_to(proj).as_posix()
        assert rel in report, f"{rel} not in the report"
        assert f"src='{p.relative_to(proj / 'results').as_posix()}'" in summary, f"{rel} not in summary.html"
        img = mpimg.imread(p)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert (img[..., :3] < 0.95).any(axis=-1).mean() > 0.005, f"{rel} looks blank"


def test_path_diagram_latent_mediation_layout(tmp_path):
    """A latent mediation SEM (factors with indicators) draws without hand-placed coordinates:
    factors as ellipses, each factor's indicators next to each other in the layer after it."""
    from matplotlib.patches import Ellipse
    nodes = ["treat", "Efficacy", "Behavior"] + [f"se{i}" for i in range(1, 4)] + [f"b{i}" for i in range(1, 4)]
    e = [{"from": "treat", "to": "Efficacy", "estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5},
         {"from": "Efficacy", "to": "Behavior", "estimate": 0.5, "ci_low": 0.3, "ci_high": 0.7},
         {"from": "treat", "to": "Behavior", "estimate": 0.1, "ci_low": -0.1, "ci_high": 0.3}]
    e += [{"from": "Efficacy", "to": f"se{i}", "estimate": 0.8, "ci_low": 0.7, "ci_high": 0.9} for i in range(1, 4)]
    e += [{"from": "Behavior", "to": f"b{i}", "estimate": 0.7, "ci_low": 0.6, "ci_high": 0.8} for i in range(1, 4)]
    pos = plots.graph_layout(nodes, [(r["from"], r["to"]) for r in e])
    layer2 = sorted((p[1], v) for v, p in pos.items() if p[0] == 2 and not isinstance(v, tuple))
    assert [v for _, v in layer2] == ["se1", "se2", "se3", "Behavior"]  # indicators kept together
    fig = plots.path_diagram(nodes, e, latent=["Efficacy", "Behavior"])
    save_and_check(fig, tmp_path / "latent")
    assert sum(isinstance(p, Ellipse) for p in fig.axes[0].patches) == 2
    plt.close(fig)


def test_mediation_graph_names_outcomes_not_drawn_and_keeps_small_effects_readable():
    """JOBS II shape: a linear outcome with a small indirect effect and a binary outcome that has only
    a reason row. The note names the outcome not drawn and why; -0.0157 is not shown as -0.02."""
    rows = [("depress2", "a", "job_seek", 0.0656, -0.040, 0.159), ("depress2", "b", "job_seek", -0.240, -0.303, -0.186),
            ("depress2", "direct", None, -0.040, -0.127, 0.037), ("depress2", "total", None, -0.056, -0.145, 0.029),
            ("depress2", "indirect", "job_seek", -0.0157, -0.0405, 0.0091)]
    med = pd.DataFrame(rows, columns=["outcome", "effect", "mediator", "estimate", "ci_low", "ci_high"])
    med = pd.concat([med, pd.DataFrame({"outcome": ["work1"], "reason": ["binary outcome: see causal_mediation.csv"]})],
                    ignore_index=True)
    g = plots.mediation_graph(med, x="treat")
    assert g["nodes"] == ["treat", "job_seek", "depress2"]
    assert "Indirect via job_seek: -0.016 [-0.041, 0.009]" in g["note"]
    assert "Not shown: work1: binary outcome: see causal_mediation.csv." in g["note"]
    labels = [plots.paths._edge_label(r) for _, r in g["edges"].iterrows()]
    assert labels == ["0.07 [-0.04, 0.16]", "-0.24 [-0.30, -0.19]", "-0.04 [-0.13, 0.04]"]


FIGURE_RULES_PROBE = """
import json
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings
with SnakemakeApi() as api:
    wapi = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                        storage_settings=StorageSettings(), snakefile=Path("Snakefile"), workdir=Path("."))
    rules = {}
    for r in wapi._workflow.rules:
        if "figures" not in r.params.keys():
            continue
        outs = []
        for key, f in r.output.items():
            rep = f.flags.get("report")
            outs.append({"name": key, "path": str(f),
                         "caption": None if rep is None else str(rep.caption.get_path_or_uri(secret_free=True)),
                         "category": None if rep is None else rep.category})
        rules[r.name] = {"output": outs, "log": [str(x) for x in r.log], "benchmark": str(r.benchmark or ""),
                         "params": {k: v for k, v in r.params.items() if not callable(v)}}
print("RULES=" + json.dumps(rules))
"""


@pytest.fixture(scope="module")
def figure_rules():
    """Every fig_* rule as Snakemake itself reads it (the rules are generated from a table in common.smk)."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", FIGURE_RULES_PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RULES=")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    return json.loads(line[0][len("RULES="):])


def test_every_figure_rule_is_in_the_report_and_the_summary(figure_rules):
    """Fast check (no workflow run) of what the slow end-to-end test proves on real output: every figure of
    every figure rule wraps its PNG in report() with an existing, non-empty caption, has a PDF beside it,
    its rule has a log and a benchmark, draws a known figure kind, and summary.html lists that figure for
    its study or meta-analysis. A study's figures are one job (rule `figures`; issue #22)."""
    import re

    from efficacy.summary import CROSS_STUDY_FIGURES, META_FIGURES, STUDY_FIGURES

    kinds = {k for rule in figure_rules.values() for k in rule["params"]["figures"]}
    assert kinds == set(plots.FIGURES) - {"power", "coverage"}, sorted(kinds)  # those two: simulation.smk
    assert len(figure_rules["figures"]["params"]["figures"]) == 8
    study_stems = {s for s, _ in STUDY_FIGURES}
    meta_stems = {s for s, _ in META_FIGURES} | {s for s, _ in CROSS_STUDY_FIGURES}  # results/figures/
    for name, rule in figure_rules.items():
        assert rule["log"] and rule["benchmark"], name
        outputs = {o["name"]: o for o in rule["output"] if o["name"].endswith(("_png", "_pdf"))}
        assert len(outputs) == 2 * len(rule["params"]["figures"]), name
        for kind in rule["params"]["figures"]:
            png, pdf = outputs[f"{kind}_png"], outputs[f"{kind}_pdf"]
            assert png["caption"] and png["category"], f"{name}/{kind}: PNG not a report() item with a caption"
            assert pdf["path"] == png["path"].removesuffix(".png") + ".pdf"
            cap = Path(png["caption"])
            cap = cap if cap.is_absolute() else ROOT / cap
            assert cap.name == f"fig_{kind}.rst", cap
            assert cap.is_file() and len(cap.read_text(encoding="utf-8").split()) >= 15, f"{name}: caption {cap}"
            path = re.sub(r"\{(\w+),[^}]*\}", r"{\1}", png["path"])  # drop wildcard constraints
            stem = path.rsplit("/", 1)[1].removesuffix(".png").split("_{", 1)[0]
            known = study_stems if path.startswith("results/{study}/") else meta_stems
            assert stem in known, f"{name}: {stem} is not listed in summary.STUDY_FIGURES / META_FIGURES"
    # and the simulation figures (rule simulation_figures) are report items too
    sim = (ROOT / "workflow" / "rules" / "simulation.smk").read_text(encoding="utf-8")
    for png in ("power_curve.png", "coverage.png"):
        assert re.search(r'report\(\s*"results/simulation/' + re.escape(png) + r'",\s*caption=', sim), png


def _cfa_tables():
    load = [("efficacy", f"se{i}", 0.7 + 0.01 * i) for i in range(1, 5)] + \
        [("self_esteem", f"rse{i}", 0.65 + 0.01 * i) for i in range(1, 4)]
    est = pd.DataFrame([{"model": "joint", "lhs": f, "op": "=~", "rhs": it, "group": 1, "estimate": 1.0 if k in (0, 4)
                         else 0.9, "ci_low": 1.0 if k in (0, 4) else 0.8, "ci_high": 1.0 if k in (0, 4) else 1.0,
                         "std_all": s} for k, (f, it, s) in enumerate(load)]
                       + [{"model": "joint", "lhs": "efficacy", "op": "~~", "rhs": "self_esteem", "group": 1,
                           "estimate": 0.1, "ci_low": -0.02, "ci_high": 0.22, "std_all": 0.34},
                          {"model": "joint", "lhs": "se1", "op": "~~", "rhs": "se1", "group": 1, "estimate": 0.4,
                           "ci_low": 0.3, "ci_high": 0.5, "std_all": 0.46}])
    fit = pd.DataFrame({"model": ["joint"], "chisq": [49.148], "df": [43], "cfi": [0.9975], "rmsea": [0.0154],
                        "srmr": [0.0292], "converged": [True], "proper": [True], "reason": [np.nan]})
    return est, fit


def test_cfa_path_diagram_and_placeholders(tmp_path):
    """The CFA figure from cfa_estimates.csv: factors as ellipses, standardised loadings on the arrows,
    the factor correlation dashed when its CI includes 0, fit in the note; improper or failed joint
    fits (cfa_fit.csv) give a placeholder saying so."""
    from matplotlib.patches import Ellipse
    est, fit = _cfa_tables()
    g = plots.cfa_graph(est, fit)
    assert g["latent"] == ["efficacy", "self_esteem"] and g["nodes"][2:] == ["se1", "se2", "se3", "se4", "rse1",
                                                                             "rse2", "rse3"]
    assert list(g["edges"]["label"])[:2] == ["0.71", "0.72"]
    assert len(g["covariances"]) == 1 and g["covariances"]["label"].iloc[0] == "0.34"  # residual variances left out
    assert "CFI = .998, RMSEA = .015" in g["note"] and "(43) = 49.15" in g["note"]
    est.to_csv(tmp_path / "est.csv", index=False)
    fit.to_csv(tmp_path / "fit.csv", index=False)
    out = plots.render_stage_figure("cfa_path", {"cfa_fit": tmp_path / "fit.csv", "cfa_estimates": tmp_path / "est.csv"},
                                    tmp_path / "cfa")
    assert out["placeholder"] is None
    assert mpimg.imread(out["png"]).shape[1] == round(plots.DOUBLE_COLUMN * plots.DPI)
    fig = plots.path_diagram(**plots.cfa_graph(est, fit), width=plots.DOUBLE_COLUMN)
    save_and_check(fig, tmp_path / "cfa2")
    assert sum(isinstance(p, Ellipse) for p in fig.axes[0].patches) == 2
    plt.close(fig)
    fit.assign(proper=False, reason="negative residual variance (se3)").to_csv(tmp_path / "bad.csv", index=False)
    out = plots.render_stage_figure("cfa_path", {"cfa_fit": tmp_path / "bad.csv", "cfa_estimates": tmp_path / "est.csv"},
                                    tmp_path / "bad")
    assert out["placeholder"] == "improper solution: negative residual variance (se3)"
    fit.assign(converged=False, proper=False, reason="joint model not fitted: 48 items > max_joint_items (30)"
               ).to_csv(tmp_path / "nf.csv", index=False)
    out = plots.render_stage_figure("cfa_path", {"cfa_fit": tmp_path / "nf.csv", "cfa_estimates": tmp_path / "est.csv"},
                                    tmp_path / "nf")
    assert out["placeholder"].startswith("joint model not fitted")


def test_coverage_plot_meta_rows_say_k_and_markers_at_one_are_visible(tmp_path):
    rows = [dict(target="indirect", method="bca", n=50, coverage=1.0, coverage_mcse=0.0),
            dict(target="meta_pooled", method="DL-knha", n=5, coverage=0.93, coverage_mcse=0.01)]
    fig = plots.coverage_plot(pd.DataFrame(rows))
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "k = 5 studies" in labels and "n = 50" in labels
    assert ax.get_xlim()[1] > 1.0  # a coverage of 1.0 is drawn whole, not cut at the axis
    save_and_check(fig, tmp_path / "cov")
    plt.close(fig)


def test_cfa_with_many_items_stacks_them_and_centres_each_factor(tmp_path):
    """weekly_panel's joint CFA shape: 5 factors x 4 items. Items are stacked (left to right layout,
    not 20 boxes squeezed into one row), each factor sits at the centre of its items, and the 10
    factor correlations are listed in the note instead of tangled arcs."""
    rows = [{"model": "joint", "lhs": f"eff_w{w}", "op": "=~", "rhs": f"se{i}_w{w}", "estimate": 1.0, "ci_low": 0.9,
             "ci_high": 1.1, "std_all": 0.8} for w in range(1, 6) for i in range(1, 5)]
    rows += [{"model": "joint", "lhs": f"eff_w{a}", "op": "~~", "rhs": f"eff_w{b}", "estimate": 0.3, "ci_low": 0.2,
              "ci_high": 0.4, "std_all": 0.5} for a in range(1, 6) for b in range(a + 1, 6)]
    g = plots.cfa_graph(pd.DataFrame(rows))
    assert g["orientation"] == "LR" and g["covariances"] is None
    assert g["note"].count("\u2013") == 10 and "eff_w1\u2013eff_w2 0.50" in g["note"]
    fig = plots.path_diagram(**g)
    ax = fig.axes[0]
    centre = {t.get_text(): ax.transData.inverted().transform(t.get_window_extent(fig.canvas.get_renderer())
                                                              .get_points().mean(axis=0))
              for t in ax.texts if t.get_text().startswith(("eff_w", "se"))}
    for w in range(1, 6):
        items_y = np.mean([centre[f"se{i}_w{w}"][1] for i in range(1, 5)])
        assert abs(centre[f"eff_w{w}"][1] - items_y) < 0.05, w
    w_in, h_in = fig.get_size_inches()
    assert w_in < plots.DOUBLE_COLUMN and h_in > w_in  # a tall single-column figure, text at full size
    save_and_check(fig, tmp_path / "cfa_many")
    plt.close(fig)


def test_latent_mediation_path(tmp_path):
    """mastery_trial's latent_mediation.csv shape: the mediator drawn as an ellipse, the latent and
    sum-score indirect effects side by side in the note; reason-only tables give a placeholder."""
    from matplotlib.patches import Ellipse
    rows = []
    for model, vals in (("latent", (0.314, 29.6, 9.09, 9.28, 18.37)), ("sum_score", (0.300, 27.7, 10.08, 8.29, 18.37))):
        for eff, v in zip(("a", "b", "direct", "indirect", "total"), vals):
            rows.append({"outcome": "behavior", "mediator": "efficacy", "model": model, "effect": eff, "estimate": v,
                         "ci_low": v * 0.5, "ci_high": v * 1.5, "chisq": 27.166 if model == "latent" else np.nan,
                         "df": 24 if model == "latent" else np.nan, "cfi": 0.9973 if model == "latent" else np.nan,
                         "proper": True if model == "latent" else np.nan, "reason": np.nan})
    rows.append({"outcome": "adherent", "mediator": "efficacy", "reason": "binary outcome"})
    lat = pd.DataFrame(rows)
    g = plots.latent_mediation_graph(lat, x="treat")
    assert g["nodes"] == ["treat", "efficacy", "behavior"] and g["latent"] == ["efficacy"]
    assert "Indirect via efficacy (latent): 9.28 [4.64, 13.92]" in g["note"]
    assert "Indirect via efficacy (sum score): 8.29 [4.14, 12.43]" in g["note"]
    assert "(24) = 27.17, CFI = .997." in g["note"]
    lat.to_csv(tmp_path / "lat.csv", index=False)
    out = plots.render_stage_figure("latent_mediation_path", {"latent_mediation": tmp_path / "lat.csv"}, tmp_path / "l")
    assert out["placeholder"] is None
    fig = plots.path_diagram(**g)
    save_and_check(fig, tmp_path / "l2")
    assert sum(isinstance(p, Ellipse) for p in fig.axes[0].patches) == 1
    plt.close(fig)
    lat.assign(proper=False, reason="negative residual variance").to_csv(tmp_path / "bad.csv", index=False)
    out = plots.render_stage_figure("latent_mediation_path", {"latent_mediation": tmp_path / "bad.csv"}, tmp_path / "b")
    assert out["placeholder"].startswith("improper solution") and "negative residual variance" in out["placeholder"]
    pd.DataFrame({"outcome": ["depress2"], "mediator": ["job_seek"], "model": [np.nan], "effect": [np.nan],
                  "estimate": [np.nan], "ci_low": [np.nan], "ci_high": [np.nan],
                  "reason": ["mediator 'job_seek' is not a multi-item scale"]}).to_csv(tmp_path / "none.csv", index=False)
    out = plots.render_stage_figure("latent_mediation_path", {"latent_mediation": tmp_path / "none.csv"}, tmp_path / "n")
    assert out["placeholder"] == "mediator 'job_seek' is not a multi-item scale"


def test_invariance_figure_uses_the_configured_cutoffs(figure_rules, tmp_path):
    """The workflow hands measurement.delta_cfi / delta_rmsea to the invariance figure (it used to pass no
    options, so a configured cut-off never reached the figure), and stage_figure draws them."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))["measurement"]
    opts = figure_rules["measurement_invariance"]["params"]["figures"]["invariance"]["options"]
    assert opts == {"delta_cfi": cfg["delta_cfi"], "delta_rmsea": cfg["delta_rmsea"]}
    fig = plots.stage_figure("invariance", {"invariance": _invariance_df()}, delta_cfi=-0.002, delta_rmsea=0.03)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Chen \u2265 -0.002" in titles and "Chen \u2264 0.030" in titles, titles
    cuts = [ln.get_xdata()[0] for ax in fig.axes[2:] for ln in ax.get_lines()]
    assert -0.002 in cuts and 0.03 in cuts and -0.010 not in cuts
    plt.close(fig)


def test_one_failing_figure_does_not_lose_the_others(tmp_path, monkeypatch):
    """The study's figure job draws every figure in one process: a figure that raises an unplanned error
    becomes a placeholder naming it, the others are still written, and strict=True fails only afterwards."""
    flow = pd.DataFrame({"step": [0, 1], "reason": ["raw data", "failed the attention check"],
                         "excluded": [0, 7], "remaining": [100, 93]})
    flow.to_csv(tmp_path / "flow.csv", index=False)
    _invariance_df().to_csv(tmp_path / "inv.csv", index=False)
    jobs = [("flow", {"flow": tmp_path / "flow.csv"}, tmp_path / "out" / "flow.png", {}),
            ("invariance", {"invariance": tmp_path / "inv.csv"}, tmp_path / "out" / "invariance_g.png",
             {"delta_cfi": -0.01, "delta_rmsea": 0.015})]
    import efficacy.plots.stage as stage_mod

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a degenerate table")

    monkeypatch.setattr(stage_mod, "invariance_plot", broken)
    out = plots.render_stage_figures(jobs)
    assert [o["kind"] for o in out] == ["flow", "invariance"]
    assert out[0]["placeholder"] is None and out[0]["error"] is None
    assert "ZeroDivisionError: a degenerate table" in out[1]["error"] == out[1]["placeholder"]
    for o in out:
        assert o["png"].stat().st_size > 0 and o["pdf"].stat().st_size > 0
    for f in (tmp_path / "out").iterdir():
        f.unlink()
    from efficacy.errors import PlotError

    with pytest.raises(PlotError, match="invariance"):
        plots.render_stage_figures(jobs, strict=True)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"flow.png", "flow.pdf", "invariance_g.png",
                                                               "invariance_g.pdf"}
