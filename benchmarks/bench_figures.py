"""Benchmark (issue #22): CPU seconds of one study's figure job, each run in a fresh Python process.

A SCRIPT, not a test. The workflow's ``figures`` rule (``workflow/rules/figures.smk``, generated from
``FIGURE_RULES["figures"]`` in ``workflow/rules/common.smk``) draws a study's eight figures in one job
through ``workflow/scripts/figures.py`` -> ``efficacy.plots.render_stage_figures``. This script builds the same
``jobs`` list from the tables of a finished workflow run (``<run>/results/<study>/*.csv`` and the codebook
``<run>/data/raw/<study>/codebook.yaml``), runs exactly what the adapter script runs (``matplotlib.use("Agg")``,
``from efficacy.plots import render_stage_figures``, ``render_stage_figures(jobs, strict=False)``) in a fresh
interpreter, and prints that process's CPU time (``time.process_time()`` at its end: interpreter start,
imports, reading, drawing, PNG + PDF). It leaves out what every Snakemake ``script:`` job pays on top
(~0.4 s: Snakemake's script preamble, measured by ``bench_scale.py``'s no-op job). With ``--invariance`` it
also times the invariance figure (one figure, drawn by the ``measurement_invariance`` job since issue #22)
of every study that has ``invariance_<group>.csv``.

The jobs import ``efficacy`` from ``$PYTHONPATH`` (default: this checkout's ``src``), so the same script times
another version of the code. ``--phases`` splits the CPU of the first repeat into imports, reading, drawing (``stage_figure``),
``savefig`` PNG (of which PNG encoding) and PDF (of which the Type 42 font subsetting by fontTools).

The figures are written to a temporary folder and compared byte for byte with the ones of the run
(``<run>/results/<study>/figures/``, drawn by the workflow with whatever code the run had): the last column
says ``identical`` or names the files that differ. ``--keep DIR`` keeps the new figures.

Usage (from the repository root; a finished run, e.g. one kept by ``bench_scale.py --keep``)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_figures.py --run /tmp/benchscale/n10
    PYTHONPATH=src .venv/bin/python benchmarks/bench_figures.py --run . --studies mastery_trial --repeats 5 --phases
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python benchmarks/bench_figures.py ...   # another version

Without ``--studies`` it takes the first study of each bundled kind (mastery_trial, confounded_survey,
two_cultures, weekly_panel, jobs_ii; a folder ``s001_mastery_trial`` counts as a mastery_trial) found under
``<run>/results``. The machine may be shared: the load average is printed with the numbers; the minimum over
``--repeats`` is the least disturbed figure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ["mastery_trial", "confounded_survey", "two_cultures", "weekly_panel", "jobs_ii"]

# FIGURE_RULES["figures"] of workflow/rules/common.smk: kind -> input name -> path under results/<study>/
# ("codebook" is the study's codebook.yaml); checked against common.smk by _check_rule_table().
FIGURES_RULE = {
    "flow": {"flow": "flow.csv"},
    "missingness": {"clean": "clean.csv", "codebook": None},
    "items": {"clean": "clean.csv", "codebook": None},
    "reliability": {"reliability": "reliability.csv"},
    "cfa_path": {"cfa_fit": "cfa_fit.csv", "cfa_estimates": "cfa_estimates.csv"},
    "mediation_path": {"mediation": "mediation.csv", "codebook": None},
    "latent_mediation_path": {"latent_mediation": "latent_mediation.csv", "codebook": None},
    "sensitivity": {"sensitivity": "sensitivity.csv"},
}


def _check_rule_table():
    """Warn when the kinds of the figures rule in common.smk are no longer the ones listed here."""
    text = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    block = text.split('"figures": {', 1)[-1].split('"figures_panel"', 1)[0]
    kinds = re.findall(r'_study_figure\(\s*"(\w+)"', block)
    if kinds and kinds != list(FIGURES_RULE):
        print(f"warning: common.smk's figures rule draws {kinds}; this script draws {list(FIGURES_RULE)}",
              file=sys.stderr)


def _options(run):
    """The figure options the rule passes: reliability.threshold and the invariance cut-offs."""
    import yaml

    cfg = {}
    for f in (ROOT / "config" / "config.yaml", Path(run) / "config" / "config.yaml"):
        if f.exists():
            cfg = yaml.safe_load(f.read_text()) or {}
    rel, meas = cfg.get("reliability", {}), cfg.get("measurement", {})
    return {"threshold": rel.get("threshold", 0.70), "delta_cfi": meas.get("delta_cfi", -0.010),
            "delta_rmsea": meas.get("delta_rmsea", 0.015)}


def build_jobs(run, study, out, which="figures"):
    """The ``jobs`` list of workflow/scripts/figures.py for one study (``which``: figures | invariance_<g>)."""
    res, cb = Path(run) / "results" / study, str(Path(run) / "data" / "raw" / study / "codebook.yaml")
    opt = _options(run)
    if which.startswith("invariance_"):
        return [("invariance", {"invariance": str(res / f"{which}.csv")}, str(Path(out) / f"{which}.png"),
                 {"delta_cfi": opt["delta_cfi"], "delta_rmsea": opt["delta_rmsea"]})]
    jobs = []
    for kind, inputs in FIGURES_RULE.items():
        paths = {name: (cb if rel is None else str(res / rel)) for name, rel in sorted(inputs.items())}
        jobs.append((kind, paths, str(Path(out) / f"{kind}.png"),
                     {"threshold": opt["threshold"]} if kind == "reliability" else {}))
    return jobs


def child(run, study, out, which, phases):
    """One figure job, as the adapter script runs it; prints a JSON line with the CPU seconds."""
    cpu = {}
    t = time.process_time()
    import matplotlib

    matplotlib.use("Agg")
    from efficacy.plots import render_stage_figures

    cpu["imports"] = time.process_time() - t
    if phases:
        _instrument(cpu)
    jobs = build_jobs(run, study, out, which)
    results = render_stage_figures(jobs, strict=False)
    total = time.process_time()
    print(json.dumps({"cpu": total, "phases": cpu,
                      "placeholders": {r["kind"]: r["placeholder"] for r in results if r["placeholder"]}}))


def _instrument(cpu):
    """Wrap the stages of a figure job to split its CPU (only with --phases)."""
    import PIL.Image
    from matplotlib.backends import _backend_pdf_ps

    stage, style = sys.modules["efficacy.plots.stage"], sys.modules["efficacy.plots.style"]

    def wrap(owner, name, key, fmt=False):
        f = getattr(owner, name)

        def g(*a, **k):
            s = time.process_time()
            try:
                return f(*a, **k)
            finally:
                kk = f"{key} {k['format']}" if fmt else key
                cpu[kk] = cpu.get(kk, 0.0) + time.process_time() - s
        setattr(owner, name, g)

    wrap(stage, "_read_inputs", "read inputs")
    wrap(stage, "stage_figure", "draw (stage_figure)")
    wrap(style, "_atomic_save", "savefig", fmt=True)
    wrap(PIL.Image.Image, "save", "  of which PNG encoding")
    wrap(_backend_pdf_ps, "get_glyphs_subset", "  of which PDF font subsetting")


def _compare(new_dir, ref_dir):
    if not ref_dir.is_dir():
        return "no figures in the run to compare"
    diff = [p.name for p in sorted(Path(new_dir).iterdir())
            if not (ref_dir / p.name).exists() or (ref_dir / p.name).read_bytes() != p.read_bytes()]
    return "identical" if not diff else "differ: " + ", ".join(diff)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=str(ROOT), help="a finished workflow run (has results/ and data/raw/)")
    ap.add_argument("--studies", help="comma-separated study folders (default: one per bundled kind)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--invariance", action="store_true", help="also time the invariance figures (drawn in the measurement_invariance jobs)")
    ap.add_argument("--phases", action="store_true", help="split the CPU of the first repeat")
    ap.add_argument("--keep", help="keep the figures drawn here (one sub-folder per study)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child[:3], a.child[3].split(":")[0], a.child[3].endswith(":phases"))
        return
    _check_rule_table()
    run = Path(a.run).resolve()
    found = sorted(p.name for p in (run / "results").iterdir() if (p / "flow.csv").exists()) \
        if (run / "results").is_dir() else []
    if a.studies:
        studies = a.studies.split(",")
    else:
        studies = [next(s for s in found if s == k or s.endswith("_" + k)) for k in KINDS
                   if any(s == k or s.endswith("_" + k) for s in found)]
    if not studies:
        sys.exit(f"no study results under {run}/results (run the workflow, or pass --run)")
    print(f"figure jobs, CPU seconds in a fresh process (min / median of {a.repeats}); run {run}")
    print(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f} at start")
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_figures_"))
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT / "src")}
    for study in studies:
        whiches = ["figures"]
        if a.invariance:
            whiches += sorted(p.stem for p in (run / "results" / study).glob("invariance_*.csv"))
        for which in whiches:
            out = tmp / study
            out.mkdir(parents=True, exist_ok=True)
            cpus, first = [], None
            for r in range(a.repeats):
                arg = f"{which}:phases" if a.phases and r == 0 else which
                p = subprocess.run([sys.executable, __file__, "--child", str(run), study, str(out), arg],
                                   env=env, capture_output=True, text=True, check=False)
                if p.returncode:
                    sys.exit(f"{study} {which}: the job failed:\n{p.stderr}")
                res = json.loads(p.stdout.strip().splitlines()[-1])
                cpus.append(res["cpu"])
                first = first or res
            job = "figures" if which == "figures" else f"fig_{which}"
            ref = run / "results" / study / "figures"
            if which == "figures":
                cmp = _compare(out, ref)
            else:
                refs = [ref / f"{which}{x}" for x in (".png", ".pdf")]
                cmp = "no figures in the run to compare" if not all(r.exists() for r in refs) else \
                    "identical" if all(r.read_bytes() == (out / r.name).read_bytes() for r in refs) else "differ"
            print(f"{study:28s} {job:28s} {min(cpus):6.2f} / {statistics.median(cpus):6.2f} s   "
                  f"figures vs run: {cmp}")
            if first["placeholders"]:
                print(f"    placeholders: {first['placeholders']}")
            if a.phases:
                ph = first["phases"]
                for k in ("imports", "read inputs", "draw (stage_figure)", "savefig png", "  of which PNG encoding",
                          "savefig pdf", "  of which PDF font subsetting"):
                    print(f"    {k:34s} {ph.get(k, 0.0):6.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} at end; figures in {tmp}" if a.keep
          else f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
