"""Mutation check for the reference tests (issue #24): does a wrong constant make a test fail?

For each mutation, the library source is copied to a temporary directory, one constant is changed
(a degrees-of-freedom, a variance divisor, a quantile, a continuity-correction rule), and the test
that holds that estimator against R is run on the mutated copy. The mutation is "killed" when the
test fails. A surviving mutation means the test cannot catch that error.

Run from the repository root (a few minutes):  .venv/bin/python benchmarks/mutation_check.py
Exit status 1 if any mutation survives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (file under src/efficacy, original text, mutated text, test node id, what the mutation breaks)
MUTATIONS = [
    ("meta/effect_sizes.py", "vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))",
     "vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2 - 2))",
     "tests/test_references.py::test_escalc_means_match_metafor", "SMD variance divisor"),
    ("meta/effect_sizes.py", "yi, vi = r, (1 - r**2) ** 2 / (n - 1)", "yi, vi = r, (1 - r**2) ** 2 / n",
     "tests/test_references.py::test_escalc_correlations_match_metafor", "COR variance df (n - 1 -> n)"),
    ("meta/effect_sizes.py", "fix = (cells == 0).any(axis=1)", "fix = (cells[:, :1] == 0).any(axis=1)",
     "tests/test_references.py::test_escalc_zero_cells_match_metafor", "zero-cell rule (only ai checked)"),
    ("meta/effect_sizes.py", "a = 4.0 if n1 is None", "a = 3.0 if n1 is None",
     "tests/test_references.py::test_d_to_r_matches_borenstein_and_metafor", "d -> r constant a = 4"),
    ("meta/effect_sizes.py", "return np.asarray(d, float) * np.pi / np.sqrt(3)", "return np.asarray(d, float) * np.pi / 1.7",
     "tests/test_references.py::test_r_to_d_and_log_odds_conversions_match_borenstein", "d -> log OR constant"),
    ("cleaning.py", "axis=1) / (count - 1))", "axis=1) / count)",
     "tests/test_references.py::test_longstring_and_irv_match_their_definitions_in_r", "IRV divisor (k - 1 -> k)"),
    ("cleaning.py", "magnitude = (items >= threshold)", "magnitude = (items > threshold)",
     "tests/test_references.py::test_bandura_scores_match_hand_formula_in_r", "magnitude threshold (>= -> >)"),
    ("mediation/causal.py", "q = np.quantile(x, [lo, hi])", "q = np.quantile(x, [lo * 1.2, hi])",
     "tests/test_causal.py::test_matches_large_simulation_r_reference", "causal CI lower quantile (2.5% -> 3%)"),
    ("meta/univariate.py", "m = random_effects(dd, yi, vi, mods=[group], method=method, test=test, ci_level=level)",
     "m = random_effects(dd, yi, vi, mods=[group], method=\"DL\", test=test, ci_level=level)",
     "tests/test_meta.py::test_subgroup", "subgroup between-test tau^2 estimator (REML -> DL)"),
    # resampling, sensitivity, power and coverage references (tests/test_references_{resampling,sensitivity,simulation}.py)
    ("mediation/sensitivity.py", "rt[..., None] - rho * np.sqrt(", "rt[..., None] + rho * np.sqrt(",
     "tests/test_references_sensitivity.py::test_acme_curve_and_r2_products_match_medsens",
     "sensitivity ACME(rho) sign of the rho term"),
    ("mediation/sensitivity.py", '"rsq_prod_total": rhos**2 * (1 - r2m) * (1 - r2y)})',
     '"rsq_prod_total": rhos**2 * (1 - r2m)})',
     "tests/test_references_sensitivity.py::test_acme_curve_and_r2_products_match_medsens",
     "total-variance R2 product (1 - R2_Y dropped)"),
    ("resampling.py", "dd = np.where(jfin, jm - jack, 0.0)", "dd = np.where(jfin, jack - jm, 0.0)",
     "tests/test_references_resampling.py::test_bca_interval_equals_boot_ci_on_the_same_draws",
     "BCa acceleration sign"),
    ("mediation/latent.py", "C[np.arange(C.shape[0]), s + np.arange(C.shape[0])] = 0.0",
     "C[np.arange(C.shape[0]), s + np.arange(C.shape[0])] = 0.5",
     "tests/test_references_resampling.py::test_latent_jackknife_and_acceleration_match_lavaan",
     "latent jackknife leaves half a case in"),
    ("mediation/moderated.py", "lo, hi = np.quantile(sim, [alpha, 1 - alpha], axis=0)",
     "lo, hi = np.quantile(sim, [alpha * 2, 1 - alpha], axis=0)",
     "tests/test_references_resampling.py::test_moderated_percentile_matches_lavaan",
     "moderated percentile lower quantile (2.5% -> 5%)"),
    ("measurement.py", "lo, hi = np.nanquantile(boots, [a, 1 - a], axis=0)",
     "lo, hi = np.nanquantile(boots, [a * 2, 1 - a], axis=0)",
     "tests/test_references_resampling.py::test_htmt_percentile_matches_semtools_boot",
     "HTMT percentile lower quantile (2.5% -> 5%)"),
    ("reliability.py", "return _bca(omega_h, boot, jack, level)", "return _bca(omega_h, boot, boot, level)",
     "tests/test_references_resampling.py::test_omega_h_jackknife_matches_psych",
     "omega_h acceleration from the wrong replicates"),
    ("simulation.py", "half = stats.norm.ppf(1 - alpha / 2) * np.abs(ab / z)",
     "half = stats.norm.ppf(1 - alpha) * np.abs(ab / z)",
     "tests/test_references_simulation.py::test_sobel_power_at_fritz_mackinnon_n",
     "Sobel critical value one-sided"),
    ("simulation.py", "lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=1)",
     "lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=1)",
     "tests/test_references_simulation.py::test_coverage_and_rejection_match_r_run",
     "simulation percentile interval 90% instead of 95%"),
    ("simulation.py", "d = jab.mean(axis=1, keepdims=True) - jab", "d = jab - jab.mean(axis=1, keepdims=True)",
     "tests/test_references_simulation.py::test_simulation_intervals_equal_r_on_the_same_resamples",
     "simulation BCa acceleration sign"),
    ("simulation.py", "val = n0 + (target - p0) * (n1 - n0) / (p1 - p0)", "val = n1",
     "tests/test_references_simulation.py::test_required_n_recovers_fritz_mackinnon_sobel_n",
     "required_n without interpolation"),
    ("simulation.py", "stats.t.ppf(1 - alpha / 2, kk - 1)", "stats.t.ppf(1 - alpha / 2, kk)",
     "tests/test_references_simulation.py::test_meta_coverage_matches_metafor_run",
     "Knapp-Hartung df (k - 1 -> k)"),
]


def run(mutation, workdir: Path) -> bool:
    fname, old, new, test, _ = mutation
    src = workdir / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    path = src / "efficacy" / fname
    text = path.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"mutation target not found exactly once in {fname}: {old!r} (source changed?)")
    path.write_text(text.replace(old, new))
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    return proc.returncode != 0   # killed


def main():
    # the tests must pass on the unmutated source first, or a "killed" mutation proves nothing
    tests = sorted({m[3] for m in MUTATIONS})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("the reference tests fail on the unmutated source:\n" + proc.stdout[-2000:])
    survived = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in MUTATIONS:
            killed = run(m, Path(tmp))
            print(f"{'killed  ' if killed else 'SURVIVED'}  {m[4]:<50} {m[3]}", flush=True)
            if not killed:
                survived.append(m)
    print(f"{len(MUTATIONS) - len(survived)} of {len(MUTATIONS)} mutations killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
