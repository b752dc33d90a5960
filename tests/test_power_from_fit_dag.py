"""`snakemake power` (issue #20): power_from_fit of every study's own fitted model as a DAG target that fans
out over the planned n like the simulation grid, one job per study and n, then one aggregation per study.

The jobs draw the random streams their n has in one power_from_fit call over the whole grid, so the
aggregated table is the one-call result, number for number (tested here in-process on small n_reps); the
Snakemake side is checked by a dry run (and, marked slow, one small real run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")

import efficacy as ef
from efficacy.cleaning import clean_study
from efficacy.codebook import load_codebook
from efficacy.errors import ConfigError, SimulationError
from efficacy.power import (
    STAGE_COLUMNS,
    aggregate_power,
    combine_power,
    power_curve_frame,
    power_job,
    power_roles,
    power_studies,
    study_fit,
)

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
GRID = [40, 80, 160]


def run(cmd, cwd, timeout=900):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def mastery():
    cb = load_codebook(ROOT / "data" / "raw" / "mastery_trial")
    return cb, clean_study(cb).clean


def test_jobs_aggregate_to_the_one_call_result(mastery):
    """One power_job per n (grid= the whole grid), aggregated, is power_from_fit over the grid: same power
    table, same n for 80% / 90% power (exactly: the same random streams)."""
    cb, clean = mastery
    jobs = [power_job(clean, cb, n=n, grid=GRID, n_reps=40, seed=11, n_draws=200) for n in reversed(GRID)]
    table = aggregate_power(jobs)
    assert list(table.columns) == STAGE_COLUMNS
    fit, data = study_fit(clean, cb)
    one = ef.power_from_fit(fit, data, n=GRID, n_reps=40, seed=11, n_draws=200)
    cols = ["n", "effect", "term", "test", "true_value", "power", "power_mcse", "n_reps", "n_valid", "n_failed"]
    pd.testing.assert_frame_equal(table[cols], one.power[cols])
    req = one.required.set_index(["effect", "term", "test", "target"])
    for r in table.drop_duplicates(["effect", "term", "test"]).itertuples():
        for target, col in ((0.8, "required_n_80"), (0.9, "required_n_90")):
            want = req.loc[(r.effect, r.term, r.test, target), "required_n"]
            got = getattr(r, col)
            assert (np.isnan(want) and np.isnan(got)) or want == got
    prim = table[table["primary"]]
    assert set(prim["effect"]) == {"indirect"} and set(prim["test"]) == {"montecarlo"} and len(prim) == len(GRID)
    np.testing.assert_allclose(prim["required_n_80"].iloc[0], one.n_80, equal_nan=True)
    # combine_power of per-n results is the one call too
    parts = [ef.power_from_fit(fit, data, n=[n], grid=GRID, n_reps=40, seed=11, n_draws=200) for n in GRID]
    both = combine_power(parts)
    pd.testing.assert_frame_equal(both.power, one.power)
    pd.testing.assert_frame_equal(both.required, one.required)
    assert both.n_grid == GRID


def test_aggregation_reads_back_the_job_csvs(mastery, tmp_path):
    """The job tables survive their CSV round trip (empty terms come back as NaN) and the figure is drawn."""
    cb, clean = mastery
    paths = []
    for n in GRID:
        p = tmp_path / f"n{n}.csv"
        power_job(clean, cb, n=n, grid=GRID, n_reps=20, seed=3, n_draws=200).to_csv(p, index=False)
        paths.append(p)
    table = aggregate_power([pd.read_csv(p) for p in paths])
    assert (table.loc[table["effect"] == "direct", "term"] == "").all()
    assert table["reason"].map(type).eq(str).all()
    frame = power_curve_frame(table)
    assert set(frame["method"]) == {"a (z)", "b (z)", "indirect: joint", "indirect: montecarlo",
                                    "indirect: sobel"}
    fig = ef.plots.power_curve(frame, title="mastery_trial")
    assert len(fig.axes) >= 1
    matplotlib.pyplot.close(fig)


def test_latent_model_and_roles(mastery):
    cb, clean = mastery
    t = power_job(clean, cb, n=80, grid=[80], n_reps=10, seed=1, n_draws=200, model="latent")
    assert t["model"].iloc[0].startswith("latent_mediation") and set(t["term"]) == {"efficacy", ""}
    assert power_roles(cb) == ("treat", ["efficacy"], "behavior", ["age"])
    codebooks = {s: load_codebook(ROOT / "data" / "raw" / s) for s in ("mastery_trial", "weekly_panel", "jobs_ii")}
    assert power_studies(codebooks) == ["mastery_trial", "weekly_panel", "jobs_ii"]
    # jobs_ii's mediator is a distributed score, not a scale: the latent model falls back to the observed one
    jobs = codebooks["jobs_ii"]
    fit, _ = study_fit(clean_study(jobs).clean, jobs, model="latent")
    assert type(fit).__name__ == "MediationResult"
    two = load_codebook(ROOT / "data" / "raw" / "two_cultures")  # neither a mediation design nor a panel
    with pytest.raises(ConfigError, match="no treatment, mediator"):
        study_fit(clean, two)
    with pytest.raises(ConfigError, match="unknown power model"):
        study_fit(clean, cb, model="bayes")
    with pytest.raises(SimulationError, match="not in grid"):
        power_job(clean, cb, n=70, grid=GRID, n_reps=5)


def test_dry_run_fans_out_over_n():
    """`snakemake -n power`: one power_from_fit_job per study with a mediation design and per planned n, one
    aggregation per study; the default target does not include them."""
    proc = run([SNAKEMAKE, "-n", "--forceall", "power", "--cores", "1"], ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    jobs = set(re.findall(r"output: results/(\w+)/power/n(\d+)\.csv", out))
    studies = {"mastery_trial", "confounded_survey", "jobs_ii", "weekly_panel"}
    assert jobs == {(s, str(n)) for s in studies for n in cfg["power"]["n"]}, sorted(jobs)
    assert len(re.findall(r"^rule power_from_fit:", out, flags=re.MULTILINE)) == len(studies)
    # not part of the default target (`rule all` in the Snakefile lists all_targets() and the summary only)
    all_rule = (ROOT / "Snakefile").read_text().split("rule all:")[1].split("onsuccess")[0]
    assert "power" not in all_rule


def test_bad_power_config_fails_at_load_time(tmp_path):
    proj = copy_project(tmp_path / "p")
    cfg = yaml.safe_load((proj / "config" / "config.yaml").read_text())
    cfg["power"]["model"] = "bayesian"
    (proj / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run([SNAKEMAKE, "-n", "power", "--workflow-profile", "none", "--cores", "1"], proj)
    assert proc.returncode != 0
    assert "bayesian" in proc.stdout + proc.stderr
    assert not (proj / "results").exists()


@pytest.mark.slow
def test_snakemake_power_runs_on_small_settings(tmp_path):
    """A real `snakemake power` for one study, two sizes, 20 replications: the table and the figure exist and
    the table is the in-process aggregation of the same jobs."""
    proj = copy_project(tmp_path / "p")
    cfg = yaml.safe_load((proj / "config" / "config.yaml").read_text())
    cfg["studies"] = ["confounded_survey"]
    cfg["meta"] = {"level": 0.95, "analyses": []}
    cfg["power"].update(n=[60, 120], n_reps=20, n_draws=200)
    (proj / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run([SNAKEMAKE, "power", "--workflow-profile", "none", "--cores", "2"], proj)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    res = proj / "results" / "confounded_survey"
    assert (res / "power_from_fit.png").stat().st_size > 1000 and (res / "power_from_fit.pdf").exists()
    got = pd.read_csv(res / "power_from_fit.csv")
    cb = load_codebook(proj / "data" / "raw" / "confounded_survey")
    clean = pd.read_csv(res / "clean.csv")
    want = aggregate_power([power_job(clean, cb, n=n, grid=[60, 120], n_reps=20, seed=cfg["seed"], n_draws=200)
                            for n in (60, 120)])
    np.testing.assert_allclose(got["power"], want["power"])
    assert list(got["n"]) == list(want["n"])


def test_panel_study_gets_the_riclpm_cross_lags():
    """A study without a mediation design but with a panel: the stationary RI-CLPM (complete cases) is the
    truth; the jobs aggregate to the one-call result and the headline is the first x -> y cross-lag."""
    cb = load_codebook(ROOT / "data" / "raw" / "weekly_panel")
    clean = clean_study(cb).clean
    grid = [60, 120]
    table = aggregate_power([power_job(clean, cb, n=n, grid=grid, n_reps=30, seed=5) for n in grid])
    fit, data = study_fit(clean, cb)
    assert data is None and fit.stationary and fit.missing == "listwise"
    one = ef.power_from_fit(fit, n=grid, n_reps=30, seed=5)
    np.testing.assert_array_equal(table["power"], one.power["power"])
    prim = table[table["primary"]]
    assert set(prim["term"]) == {"eff_w1 -> beh_w2"} and set(prim["test"]) == {"z"}
    assert set(table["effect"]) == {"cross-lagged", "autoregressive"}
    frame = power_curve_frame(table)
    assert set(frame["method"]) == {"CL: eff_w1 -> beh_w2", "CL: beh_w1 -> eff_w2", "AR: eff_w1 -> eff_w2",
                                    "AR: beh_w1 -> beh_w2"}
    np.testing.assert_allclose(frame["a"].iloc[0], round(prim["true_value"].iloc[0], 3))
