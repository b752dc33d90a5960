"""Power for the next study from this study's own fitted model.

:func:`power_from_fit` takes a fitted analysis, treats its estimates as the population truth,
simulates ``n_reps`` new data sets of each planned size ``n`` from that model, refits the same
analysis to every data set and reports the share of replications in which each effect is
significant (power), with its Monte Carlo standard error, and the sample size that reaches 80% and
90% power, with its Monte Carlo error. This is the "Monte Carlo power analysis from a fitted model"
of Muthén & Muthén (2002) and Thoemmes, MacKinnon & Reiser (2010), done in R by ``simsem::sim``
with a model fitted by lavaan (the feature request of simsem issue 58), and by ``pwrSEM``.

Supported fits
--------------
* Observed-variable mediation, :class:`efficacy.mediation.MediationResult` from
  :func:`efficacy.mediate` (listwise; one or several parallel mediators; covariates).
* Cross-lagged panel models, :class:`efficacy.panel.PanelResult` from :func:`efficacy.riclpm` or
  :func:`efficacy.clpm` (complete data, no covariates; stationary or not): power of every
  cross-lagged and autoregressive path (Wald z test, as the engine reports), data simulated from the
  model-implied moments and refitted by batched ML (see ``_PanelModel``).
* Latent mediation, :class:`efficacy.mediation.latent.LatentMediationResult` from
  :func:`efficacy.latent_mediation` (listwise or FIML; covariates; a latent outcome too): the data are
  simulated from the whole fitted model, measurement part included (loadings, item residual variances,
  intercepts, the structural paths, the disturbance variances), ``w | u ~ N(K u, Sigma(theta))`` given the
  exogenous row ``u``; with FIML each simulated row carries the missingness pattern of a resampled row of
  the study (the row its treatment and covariates come from). Every replication is refitted by the
  batched Fisher scoring of :mod:`efficacy.mediation.latent` (per-pattern cross-products of all
  replications at once, started at the truth), with the expected information (listwise) or the observed
  information (FIML, central differences of the analytic gradient) as :func:`efficacy.latent_mediation`;
  checked replication by replication against it in ``tests/test_power_latent.py``. With near-perfect
  indicators its power is that of observed mediation on the mean score (same test file).

Not yet: observed mediation fitted with FIML / multiple imputation (:mod:`efficacy.mediation.missing`),
panel models with covariates or FIML.

The workflow (``snakemake power``, not part of ``all``) runs :func:`power_job` once per study and
planned n (the study's mediation model, :func:`study_fit`; a study with a panel instead of a mediation
design gets its RI-CLPM), each with ``grid=`` the whole grid so that it draws the streams its n has in one call over the
grid, and :func:`aggregate_power` combines them into ``results/<study>/power_from_fit.csv`` (the same
numbers as one call; :func:`combine_power` does the same for :class:`PowerResult` objects).

The data-generating model
-------------------------
For ``mediate(data, x, m, y, covariates=C)`` the truth is the OLS fit on ``data``::

    M = alpha_M + a X + Gamma_M C + e_M,        e_M ~ N(0, Sigma_M)      (k mediators)
    Y = alpha_Y + c' X + b' M + Gamma_Y C + e_Y, e_Y ~ N(0, sigma2_Y)

with the ML residual (co)variances (``RSS / n``, lavaan's convention, as :func:`efficacy.mediate`).
The result holds the paths but not the residual variances, intercepts, covariate slopes or the
distribution of the exogenous variables, so the study's ``data`` is passed alongside the result;
the fit is recomputed from it and must reproduce the result's estimates (a guard against passing
the wrong data). The exogenous variables (treatment and covariates) of each simulated data set are
drawn either by resampling rows of the study's complete cases (``exogenous="resample"``, default:
keeps a binary treatment binary and the covariates' joint distribution as observed) or from the
multivariate normal with their mean and (ML) covariance (``exogenous="normal"``).

The analysis refitted per replication
-------------------------------------
All replications of one size are simulated at once as ``(n_reps, n)`` arrays (in blocks of
replications to bound memory; each block has its own seed spawned from ``seed``, so the numbers
do not depend on anything but ``seed``) and fitted by batched least squares (one batched solve
of the normal equations per equation, no Python loop over replications). Tests:

* paths ``a``, ``b``, ``direct``: Wald test at level ``alpha``; ``path_test="z"`` (default) uses
  the ML standard errors and the normal reference, exactly as :func:`efficacy.mediate` and lavaan;
  ``path_test="t"`` uses ``lm()``'s standard errors (``RSS / (n - p)``) and the t reference with
  the residual degrees of freedom, as OLS regression software (and Fritz & MacKinnon 2007).
* ``total``: delta-method Wald z test (the ``total`` row of :func:`efficacy.mediate`).
* indirect effects: the joint significance test (``"joint"``: both a_j and b_j significant,
  MacKinnon, Lockwood, Hoffman, West & Sheets 2002), the Sobel / delta-method z test
  (``"sobel"``) and the Monte Carlo confidence interval (``"montecarlo"``, Preacher & Selig 2012,
  as ``semTools::monteCarloCI``): ``n_draws`` draws of the path vector from its estimated normal
  sampling distribution per replication, all replications at once, significant when the
  ``ci_level`` percentile interval excludes 0. The bootstrap CI that :func:`efficacy.mediate`
  reports by default is *not* used: a bootstrap inside every replication costs
  ``n_reps * n_boot`` refits of size ``n`` (2000 x 5000 x n) and is not needed for power: the
  Monte Carlo CI has practically the same power as the percentile bootstrap (Preacher & Selig
  2012; Fritz & MacKinnon 2007, table 3) and the joint significance test is close to the
  bias-corrected bootstrap. :func:`efficacy.simulation.power_analysis` runs the bootstrap for the
  simple X -> M -> Y model when it is wanted.

Power is the share of valid replications that reject; ``power_mcse = sqrt(p (1 - p) / n_valid)``
(Morris, White & Crowther 2019). A replication whose design is near-singular (e.g. a binary
treatment constant in a small resample) is dropped and counted (``n_failed``).

Sample size for a target power: linear interpolation of the power curve between the two grid
sizes that bracket the target, ``n* = n0 + (t - p0) (n1 - n0) / (p1 - p0)``. Its Monte Carlo
error is the delta method over the two independent power estimates:
``dn*/dp0 = -(n1 - n0)(p1 - t) / (p1 - p0)^2``, ``dn*/dp1 = -(n1 - n0)(t - p0) / (p1 - p0)^2``.
NA when the grid does not bracket the target (all below, or the smallest n already above it).

Example
-------
>>> import numpy as np, pandas as pd, efficacy as ef
>>> rng = np.random.default_rng(1)
>>> x = rng.normal(size=200); m = 0.4 * x + rng.normal(size=200); y = 0.3 * m + rng.normal(size=200)
>>> data = pd.DataFrame({"x": x, "m": m, "y": y})
>>> fit = ef.mediate(data, "x", "m", "y", n_boot=0)
>>> pw = ef.power_from_fit(fit, data, n=[50, 100, 200], n_reps=200, seed=1)
>>> pw.power.columns[:4].tolist()
['n', 'effect', 'term', 'test']

References
----------
Fritz, M. S., & MacKinnon, D. P. (2007). Required sample size to detect the mediated effect.
*Psychological Science*, 18, 233-239.
MacKinnon, D. P., Lockwood, C. M., Hoffman, J. M., West, S. G., & Sheets, V. (2002). A comparison
of methods to test mediation and other intervening variable effects. *Psychological Methods*, 7, 83-104.
Morris, T. P., White, I. R., & Crowther, M. J. (2019). Using simulation studies to evaluate
statistical methods. *Statistics in Medicine*, 38, 2074-2102.
Satorra, A., & Saris, W. E. (1985). Power of the likelihood ratio test in covariance structure
analysis. *Psychometrika*, 50, 83-90.
Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the cross-lagged panel
model. *Psychological Methods*, 20, 102-116.
Muthén, L. K., & Muthén, B. O. (2002). How to use a Monte Carlo study to decide on sample size and
determine power. *Structural Equation Modeling*, 9, 599-620.
Preacher, K. J., & Selig, J. P. (2012). Advantages of Monte Carlo confidence intervals for indirect
effects. *Communication Methods and Measures*, 6, 77-98.
Thoemmes, F., MacKinnon, D. P., & Reiser, M. R. (2010). Power analysis for complex mediational
designs using Monte Carlo methods. *Structural Equation Modeling*, 17, 510-534.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ._api import as_seed_sequence
from ._linalg import lstsq, well_conditioned
from .errors import DataError, SimulationError
from .results import ResultMixin

__all__ = ["POWER_COLUMNS", "STAGE_COLUMNS", "PowerResult", "aggregate_power", "combine_power", "panel_roles",
           "power_curve_frame", "power_from_fit", "power_job", "power_roles", "power_studies", "study_fit"]

POWER_COLUMNS = ["n", "effect", "term", "test", "true_value", "power", "power_mcse", "n_reps", "n_valid",
                 "n_failed"]
REQUIRED_COLUMNS = ["effect", "term", "test", "target", "required_n", "required_n_mcse", "reason"]
_BLOCK_ELEMENTS = 3_000_000  # floats per block of replications (fixed: results depend on seed only)


# ----------------------------------------------------------------------------- result
@dataclass(repr=False)
class PowerResult(ResultMixin):
    """Result of :func:`power_from_fit`.

    Attributes
    ----------
    power : pandas.DataFrame
        One row per planned n, effect and test: ``n, effect, term, test, true_value, power,
        power_mcse, n_reps, n_valid, n_failed``.
    required : pandas.DataFrame
        Sample size for each target power (0.8, 0.9) per effect and test: ``required_n`` and its
        Monte Carlo error ``required_n_mcse`` (NA with a ``reason`` when the grid does not bracket it).
    n_80, n_90 : float
        Headline: n for 80% / 90% power of ``primary_effect`` by ``primary_test`` (mediation: the
        (total) indirect effect, Monte Carlo CI; panel: the first x -> y cross-lag, z test).
    """

    model: str
    n_grid: list
    n_reps: int
    alpha: float
    ci_level: float
    path_test: str
    exogenous: str
    n_draws: int
    seed: object
    truth: dict
    power: pd.DataFrame = field(repr=False)
    required: pd.DataFrame = field(repr=False)
    primary_test: str = "montecarlo"
    primary_effect: tuple = ("indirect", "")
    warnings: list = field(default_factory=list)

    _headline = ("n_80", "n_90")

    def _req(self, target):
        r = self.required
        eff, med = self.primary_effect
        hit = r[(r["effect"] == eff) & (r["term"] == med) & (r["test"] == self.primary_test)
                & np.isclose(r["target"], target)]
        return float(hit["required_n"].iloc[0]) if len(hit) else float("nan")

    @property
    def n_80(self) -> float:
        """n for 80% power of ``primary_effect`` by ``primary_test`` (NA if not bracketed)."""
        return self._req(0.8)

    @property
    def n_90(self) -> float:
        """n for 90% power of ``primary_effect`` by ``primary_test`` (NA if not bracketed)."""
        return self._req(0.9)

    def to_frame(self) -> pd.DataFrame:
        """The power table (tidy; one row per n x effect x test)."""
        return self.power.copy()

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary (NaN as None)."""
        def rows(df):
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else
                         (v.item() if hasattr(v, "item") else v)) for k, v in rec.items()}
                    for rec in df.to_dict("records")]
        seed = self.seed if isinstance(self.seed, (int, type(None))) else repr(self.seed)
        return {"result": type(self).__name__, "model": self.model, "n_grid": [int(v) for v in self.n_grid], "n_reps": self.n_reps,
                "alpha": self.alpha, "ci_level": self.ci_level, "path_test": self.path_test,
                "exogenous": self.exogenous, "n_draws": self.n_draws, "seed": seed,
                "truth": {k: float(v) for k, v in self.truth.items()},
                "n_80": None if not np.isfinite(self.n_80) else self.n_80,
                "n_90": None if not np.isfinite(self.n_90) else self.n_90,
                "primary_test": self.primary_test, "power": rows(self.power),
                "required": rows(self.required), "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Short plain-text table: power by n for each effect and test, then the required n."""
        p = self.power
        wide = p.assign(label=p["effect"] + np.where(p["term"] != "", "[" + p["term"] + "]", "")
                        + " (" + p["test"] + ")").pivot_table(index="label", columns="n", values="power",
                                                              sort=False)
        mcse = float(p["power_mcse"].max())
        lines = [f"Power from the fitted model: {self.model}",
                 (f"{self.n_reps} replications per n; alpha={self.alpha}, CI level={self.ci_level}, "
                  f"path tests: {self.path_test}, exogenous: {self.exogenous}; max Monte Carlo SE {mcse:.3f}"),
                 wide.to_string(float_format=lambda v: f"{v:.3f}")]
        for t, val in ((0.8, self.n_80), (0.9, self.n_90)):
            r = self.required
            eff, med = self.primary_effect
            hit = r[(r["effect"] == eff) & (r["term"] == med) & (r["test"] == self.primary_test)
                    & np.isclose(r["target"], t)]
            se = float(hit["required_n_mcse"].iloc[0]) if len(hit) else np.nan
            why = str(hit["reason"].iloc[0]) if len(hit) else ""
            lines.append(f"n for {t:.0%} power of {eff}[{med}] ({self.primary_test}): "
                         + (f"{val:.0f} (Monte Carlo SE {se:.1f})" if np.isfinite(val) else f"NA ({why})"))
        lines += [f"note: {w}" for w in self.warnings]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- batched OLS
def _batched_ols(X, T):
    """X (r,n,p), T (r,n,k) -> beta (r,p,k), inv(X'X) (r,p,p), RSS matrix (r,k,k), ok (r,)."""
    p = X.shape[2]
    XtX = np.einsum("rni,rnj->rij", X, X)
    ok = well_conditioned(XtX, exact=True)
    A = np.where(ok[:, None, None], XtX, np.eye(p))
    inv = np.linalg.inv(A)
    beta = inv @ np.einsum("rni,rnk->rik", X, T)
    E = T - X @ beta
    rss = np.einsum("rni,rnj->rij", E, E)
    return beta, inv, rss, ok


# ----------------------------------------------------------------------------- the model
class _ObservedMediationModel:
    """Truth and refit for :func:`efficacy.mediate` (listwise, parallel mediators, covariates)."""

    def __init__(self, result, data, exogenous):
        from .mediation.observed import MediationResult, _prepare
        try:
            from .mediation.missing import MissingMediationResult
        except ImportError:  # pragma: no cover
            MissingMediationResult = ()
        if isinstance(result, MissingMediationResult):
            raise SimulationError("power_from_fit: results with missing='fiml' or 'mi' are not supported yet; "
                                  "fit with missing='listwise' (the complete-data model)", where="result")
        if not isinstance(result, MediationResult):
            raise SimulationError(f"power_from_fit: result must be an efficacy.mediate() MediationResult, got "
                                  f"{type(result).__name__}", where="result")
        if result.reason:
            raise SimulationError(f"power_from_fit: the fit has no estimates ({result.reason})", where="result")
        if data is None or not isinstance(data, pd.DataFrame):
            raise DataError("power_from_fit: pass the study's data (a pandas DataFrame) alongside a "
                            "MediationResult: it holds the residual variances and the distribution of the "
                            "treatment and covariates that the result does not store", where="data",
                            found=type(data).__name__, expected="pandas.DataFrame")
        self.x, self.ms, self.y, self.cov = result.x, list(result.m), result.y, list(result.covariates)
        Xa, Xb, M, Y, n0 = _prepare(data, self.x, self.ms, self.y, self.cov)
        if n0 != result.n:
            raise DataError(f"power_from_fit: data has {n0} complete cases on the model's columns but the "
                            f"result was fitted to {result.n}: pass the data the result was fitted to",
                            where="data", found=str(n0), expected=str(result.n))
        k = self.k = len(self.ms)
        self.Ba = lstsq(Xa, M)  # (pa, k)
        self.bb = lstsq(Xb, Y)  # (pb,)
        Ea = M - Xa @ self.Ba
        self.Sm = Ea.T @ Ea / n0
        ey = Y - Xb @ self.bb
        self.s2y = float(ey @ ey / n0)
        a, b, cp = self.Ba[1], self.bb[2:2 + k], self.bb[1]
        mine = np.concatenate([a, b, [cp]])
        theirs = np.array([result._get("a", mj) for mj in self.ms] + [result._get("b", mj) for mj in self.ms]
                          + [result.direct])
        if not np.allclose(mine, theirs, rtol=1e-8, atol=1e-10):
            raise DataError("power_from_fit: the data do not reproduce the result's paths (refit "
                            f"{np.round(mine, 6).tolist()} vs result {np.round(theirs, 6).tolist()}): pass "
                            "the data the result was fitted to", where="data")
        self.a, self.b, self.cp = a, b, float(cp)
        self.Z = Xa[:, 1:]  # exogenous rows: x, covariates (n0, 1+q)
        self.exogenous = exogenous
        if exogenous == "normal":
            self.mu = self.Z.mean(axis=0)
            Zc = self.Z - self.mu
            self.Lz = np.linalg.cholesky(Zc.T @ Zc / n0 + 1e-300 * np.eye(self.Z.shape[1]))
        self.Lm = np.linalg.cholesky(self.Sm)
        self.pa, self.pb = Xa.shape[1], Xb.shape[1]
        self.primary = ("indirect", "total" if self.k > 1 else self.ms[0])
        self.desc = (f"mediate: {self.x} -> {self.ms} -> {self.y}"
                     + (f" | {self.cov}" if self.cov else "") + f" (fitted n={n0})")

    # effect layout: theta = (a_1..a_k, b_1..b_k, cp)
    def truth(self):
        k, a, b = self.k, self.a, self.b
        t = {}
        for j, mj in enumerate(self.ms):
            t[f"a[{mj}]"] = a[j]
            t[f"b[{mj}]"] = b[j]
            t[f"indirect[{mj}]"] = a[j] * b[j]
        t["direct"] = self.cp
        t["indirect"] = float(a @ b)
        t["total"] = self.cp + float(a @ b)
        t["sigma2_y"] = self.s2y
        for j, mj in enumerate(self.ms):
            t[f"sigma2[{mj}]"] = self.Sm[j, j]
        del k
        return t

    def min_n(self):
        return self.pb + 2

    def block_size(self, n, n_draws):
        per_rep = n * (self.pb + self.k + 4) * 2 + n_draws * (2 * self.k + 1 + self.k + 1) * 2
        return max(1, int(_BLOCK_ELEMENTS // per_rep))

    def simulate(self, rng, r, n):
        """r data sets of size n from the fitted model: designs Xa (r,n,pa), Xb (r,n,pb), M (r,n,k), Y (r,n)."""
        k = self.k
        if self.exogenous == "resample":
            Z = self.Z[rng.integers(0, self.Z.shape[0], size=(r, n))]
        else:
            Z = self.mu + rng.standard_normal((r, n, self.Z.shape[1])) @ self.Lz.T
        one = np.ones((r, n, 1))
        Xa = np.concatenate([one, Z], axis=2)
        M = Xa @ self.Ba + rng.standard_normal((r, n, k)) @ self.Lm.T
        Xb = np.concatenate([one, Z[:, :, :1], M, Z[:, :, 1:]], axis=2)
        Y = Xb @ self.bb + np.sqrt(self.s2y) * rng.standard_normal((r, n))
        return Xa, M, Xb, Y

    def fit(self, Xa, M, Xb, Y, path_test="z"):
        """Batched refit of efficacy.mediate's paths: theta (r, 2k+1) = (a_1..a_k, b_1..b_k, c'),
        its sampling covariance V (r, 2k+1, 2k+1) (ML residual variances for ``"z"``, ``lm()``'s for
        ``"t"``), ok (r,) and the residual df of the mediator and outcome models."""
        k = self.k
        r, n = Y.shape
        ba, ia, rssa, oka = _batched_ols(Xa, M)
        bb, ib, rssb, okb = _batched_ols(Xb, Y[:, :, None])
        ok = oka & okb
        da, db = (n - self.pa, n - self.pb) if path_test == "t" else (n, n)
        Sm = rssa / da
        s2 = rssb[:, 0, 0] / db
        a, b, cp = ba[:, 1, :], bb[:, 2:2 + k, 0], bb[:, 1, 0]
        d = 2 * k + 1
        V = np.zeros((r, d, d))
        V[:, :k, :k] = Sm * ia[:, 1, 1][:, None, None]
        idx = np.array([*range(2, 2 + k), 1])
        V[:, k:, k:] = s2[:, None, None] * ib[:, idx[:, None], idx[None, :]]
        V[~ok] = np.eye(d)
        theta = np.column_stack([a, b, cp])
        theta[~ok] = 0.0
        return theta, V, ok, (n - self.pa, n - self.pb)

    def simulate_and_test(self, rng, r, n, alpha, ci_level, path_test, n_draws):
        """Simulate r data sets of size n, refit, test: dict (effect, term, test) -> bool (r,), ok (r,)."""
        k = self.k
        theta, V, ok, (da, db) = self.fit(*self.simulate(rng, r, n), path_test=path_test)
        d = 2 * k + 1
        se = np.sqrt(np.einsum("rii->ri", V))
        zpath = theta / se
        if path_test == "t":
            crit = np.array([stats.t.ppf(1 - alpha / 2, da)] * k + [stats.t.ppf(1 - alpha / 2, db)] * (k + 1))
        else:
            crit = np.full(d, stats.norm.ppf(1 - alpha / 2))
        sig = np.abs(zpath) > crit
        return _mediation_tests(rng, theta, V, sig, self.ms, path_test, alpha, ci_level, n_draws), ok

    def true_values(self):
        k, t = self.k, {}
        for j, mj in enumerate(self.ms):
            t[("a", mj)] = self.a[j]
            t[("b", mj)] = self.b[j]
            t[("indirect", mj)] = self.a[j] * self.b[j]
        t[("direct", "")] = self.cp
        t[("total", "")] = self.cp + float(self.a @ self.b)
        if k > 1:
            t[("indirect", "total")] = float(self.a @ self.b)
        return t


class _LatentMediationModel:
    """Truth and batched refit for :func:`efficacy.latent_mediation` (listwise or FIML).

    The truth is the full ML fit on the study's analysed rows (recomputed from ``data`` with the same
    engine, :mod:`efficacy.mediation.latent`, and checked against the result): loadings, item residual
    variances, intercepts, the structural paths and the disturbance variances. Given the exogenous
    row ``u = (1, x, covariates)`` the endogenous block (items, outcome) is
    ``w ~ N(K u, Sigma(theta))`` (``fixed.x``); the exogenous rows are resampled from the analysed rows
    (or drawn from their normal), and with FIML each simulated row gets the missingness pattern of a
    resampled analysed row (the same row as its exogenous values under ``"resample"``). Every
    replication is refitted by the batched Fisher scoring of :mod:`efficacy.mediation.latent` (all
    replications of a block at once, started at the truth); standard errors from the expected
    information (listwise) or the observed information (FIML, numerical Jacobian of the analytic
    gradient), as :func:`efficacy.latent_mediation` and lavaan.
    """

    def __init__(self, result, data, exogenous):
        from .mediation.latent import (
            LatentMediationResult,
            _Data,
            _fit_batch,
            _Spec,
            _starts,
        )
        if not isinstance(result, LatentMediationResult):  # pragma: no cover - dispatched on type
            raise SimulationError("not a LatentMediationResult", where="result")
        if result.reason or not result.converged:
            raise SimulationError(f"power_from_fit: the latent fit has no estimates ({result.reason or 'not converged'})",
                                  where="result")
        if data is None or not isinstance(data, pd.DataFrame):
            raise DataError("power_from_fit: pass the study's data (a pandas DataFrame) alongside a "
                            "LatentMediationResult: the result does not store the intercepts or the distribution "
                            "of the treatment, covariates and missingness patterns", where="data",
                            found=type(data).__name__, expected="pandas.DataFrame")
        self.x, self.items, self.y = result.x, list(result.m), result.y
        self.cov, self.y_items = list(result.covariates), list(result.outcome_items or [])
        self.missing = result.missing
        xs = [self.x, *self.cov]
        ends = self.items + (self.y_items or [self.y])
        miss = [c for c in xs + ends if c not in data.columns]
        if miss:
            raise DataError("power_from_fit: data lack a column of the latent model", where="data",
                            found=", ".join(miss))
        Xall = data[xs].to_numpy(float)
        Wall = data[ends].to_numpy(float)
        if self.missing == "listwise":
            keep = np.isfinite(Xall).all(axis=1) & np.isfinite(Wall).all(axis=1)
        else:
            keep = np.isfinite(Xall).all(axis=1) & np.isfinite(Wall).any(axis=1)
        X, W = Xall[keep], Wall[keep]
        n0 = X.shape[0]
        if n0 != result.n:
            raise DataError(f"power_from_fit: data has {n0} usable rows for the latent model but the result was "
                            f"fitted to {result.n}: pass the data the result was fitted to", where="data",
                            found=str(n0), expected=str(result.n))
        names = result.estimates["name"].astype(str)
        fac = next((nm.split("=~")[0] for nm in names if "=~" in nm), "eta")
        self.factor = fac
        spec = _Spec(len(self.items), len(self.y_items), len(xs), self.y, fac, self.items, self.y_items, xs)
        U = np.column_stack([np.ones(n0), X])
        with _warnings.catch_warnings():  # rows without an outcome value (FIML): nanmean of nothing
            _warnings.simplefilter("ignore", RuntimeWarning)
            th0 = _starts(spec, W, U)
        th, conv, _ = _fit_batch(spec, _Data(W, U).moments(np.ones((1, n0))), th0[None], maxit=500)
        th = th[0]
        mine = np.array([th[spec.ia], th[spec.ib], th[spec.ic]])
        theirs = np.array([result.a, result.b, result.direct])
        if not conv[0] or not np.allclose(mine, theirs, rtol=1e-6, atol=1e-9):
            raise DataError("power_from_fit: the data do not reproduce the latent result's paths (refit "
                            f"{np.round(mine, 6).tolist()} vs result {np.round(theirs, 6).tolist()}): pass the "
                            "data the result was fitted to", where="data")
        self.spec, self.theta, self.n0 = spec, th, n0
        K, Sig = spec.implied(th[None])
        self.K, self.Sigma = K[0], Sig[0]
        self.L = np.linalg.cholesky(self.Sigma)
        self.X, self.U = X, U
        self.exogenous = exogenous
        if exogenous == "normal":
            self.mu = X.mean(axis=0)
            Xc = X - self.mu
            self.Lx = np.linalg.cholesky(Xc.T @ Xc / n0)
        obs = np.isfinite(W)
        keys, inv = np.unique(obs, axis=0, return_inverse=True)
        self.pat_obs = [np.flatnonzero(kk) for kk in keys]
        self.pat_id = np.asarray(inv).ravel()
        self.a, self.b, self.cp = float(th[spec.ia]), float(th[spec.ib]), float(th[spec.ic])
        self.ms = [fac]
        self.primary = ("indirect", fac)
        self.desc = (f"latent_mediation: {self.x} -> {fac}({len(self.items)} items) -> {self.y}"
                     + (f" | {self.cov}" if self.cov else "") + f", {self.missing} (fitted n={n0})")

    def min_n(self):
        from .mediation.latent import MIN_CASES
        return max(MIN_CASES, self.spec.P - self.spec.m + 2)

    def block_size(self, n, n_draws):
        m, d, P = self.spec.m, self.spec.m + self.U.shape[1], self.spec.P
        per_rep = n * d * (2 + len(self.pat_obs)) + 4 * P * m * m + n_draws * 4
        return max(1, int(_BLOCK_ELEMENTS // per_rep))

    def simulate(self, rng, r, n):
        """r data sets of size n: exogenous rows U (r, n, 1+q), endogenous W (r, n, m) with NaN where the
        resampled pattern is missing, and the pattern index of every row (r, n)."""
        idx = rng.integers(0, self.n0, size=(r, n))
        if self.exogenous == "resample":
            U = self.U[idx]
            pat = self.pat_id[idx]
        else:
            Xs = self.mu + rng.standard_normal((r, n, self.X.shape[1])) @ self.Lx.T
            U = np.concatenate([np.ones((r, n, 1)), Xs], axis=2)
            pat = self.pat_id[idx]
        W = U @ self.K.T + rng.standard_normal((r, n, self.spec.m)) @ self.L.T
        if len(self.pat_obs) > 1 or self.pat_obs[0].size < self.spec.m:
            obs = np.zeros((len(self.pat_obs), self.spec.m), bool)
            for g, o in enumerate(self.pat_obs):
                obs[g, o] = True
            W = np.where(obs[pat], W, np.nan)
        return U, W, pat

    def moments(self, U, W, pat):
        """Per missingness pattern the cross-products of (observed w, u) of every replication, in the
        layout of :meth:`efficacy.mediation.latent._Data.moments`: list of (o, N (r,), M (r, d, d))."""
        out = []
        Wz = np.nan_to_num(W)
        for g, o in enumerate(self.pat_obs):
            I = (pat == g).astype(float)
            if not I.any():
                continue
            Z = np.concatenate([Wz[:, :, o], U], axis=2)
            out.append((o, I.sum(axis=1), np.einsum("ri,rid,rie->rde", I, Z, Z, optimize=True)))
        return out

    def fit(self, U, W, pat):
        """Batched ML refit: theta (r, 2k+1) = (a, b, c'), its covariance V (r, 3, 3), ok (r,), and the
        full parameter vectors (r, P)."""
        from .mediation.latent import _fit_batch, _loglik
        spec = self.spec
        r = U.shape[0]
        mom = self.moments(U, W, pat)
        th, conv, _ = _fit_batch(spec, mom, np.repeat(self.theta[None], r, axis=0))
        P = spec.P
        if self.missing == "listwise":
            _, _, H = _loglik(spec, mom, th, grad=True)
        else:  # observed information: central differences of the analytic gradient, all replications at once
            h = 1e-5 * np.maximum(np.abs(th), 1.0)  # (r, P)
            E = h[:, :, None] * np.eye(P)[None]  # (r, P, P): row q shifts parameter q
            H = np.empty((r, P, P))
            step = max(1, _BLOCK_ELEMENTS // (P * P * spec.m * spec.m * 4))  # replications per chunk (memory)
            for s0 in range(0, r, step):  # chunks of replications, each all P shifts at once
                sl = slice(s0, min(r, s0 + step))
                rc = sl.stop - sl.start
                momP = [(o, np.repeat(N[sl], P), np.repeat(M[sl], P, axis=0)) for o, N, M in mom]
                gp = _latent_gradient(spec, momP, (th[sl, None, :] + E[sl]).reshape(rc * P, P)).reshape(rc, P, P)
                gm = _latent_gradient(spec, momP, (th[sl, None, :] - E[sl]).reshape(rc * P, P)).reshape(rc, P, P)
                H[sl] = -(gp - gm) / (2 * h[sl, :, None])
            H = (H + H.transpose(0, 2, 1)) / 2
        ok = conv & np.isfinite(H).all(axis=(1, 2))
        sgn, _ = np.linalg.slogdet(np.where(ok[:, None, None], H, np.eye(P)))
        ok &= sgn > 0
        Vfull = np.linalg.inv(np.where(ok[:, None, None], H, np.eye(P)))
        sel = np.array([spec.ia, spec.ib, spec.ic])
        V = Vfull[:, sel[:, None], sel[None, :]]
        ok &= np.all(np.einsum("rii->ri", V) > 0, axis=1)
        V[~ok] = np.eye(3)
        theta = th[:, sel].copy()
        theta[~ok] = 0.0
        return theta, V, ok, th

    def simulate_and_test(self, rng, r, n, alpha, ci_level, path_test, n_draws):
        theta, V, ok, _ = self.fit(*self.simulate(rng, r, n))
        se = np.sqrt(np.einsum("rii->ri", V))
        sig = np.abs(theta / se) > stats.norm.ppf(1 - alpha / 2)
        return _mediation_tests(rng, theta, V, sig, self.ms, "z", alpha, ci_level, n_draws), ok

    def true_values(self):
        f = self.factor
        return {("a", f): self.a, ("b", f): self.b, ("indirect", f): self.a * self.b, ("direct", ""): self.cp,
                ("total", ""): self.cp + self.a * self.b}

    def truth(self):
        t = {name: float(v) for name, v in zip(self.spec.names, self.theta)}
        t.update({"indirect": self.a * self.b, "direct": self.cp, "total": self.cp + self.a * self.b})
        return t

    def implied_joint(self):
        """Model-implied mean and covariance of (w, x) given the exogenous moments of the analysed rows
        (ML divisor): what the simulated data reproduce (``exogenous="resample"``)."""
        X = self.X
        xbar = X.mean(axis=0)
        Sxx = (X - xbar).T @ (X - xbar) / X.shape[0]
        Pi = self.K[:, 1:]
        S = np.block([[Pi @ Sxx @ Pi.T + self.Sigma, Pi @ Sxx], [Sxx @ Pi.T, Sxx]])
        mu = np.r_[self.K[:, 0] + Pi @ xbar, xbar]
        return mu, S


def _latent_gradient(spec, mom, th):
    """Gradient (nb, P) of the conditional log-likelihood of :mod:`efficacy.mediation.latent` (the gradient
    part of its ``_loglik(..., grad=True)``, without the expected information, which the observed information
    by central differences does not need and which costs P times more)."""
    from .mediation.latent import _inv_logdet
    K, Sig, dS, dK = spec.implied(th, deriv=True)
    nb = th.shape[0]
    g = np.zeros((nb, spec.P))
    for o, N, M in mom:
        po = len(o)
        Si, _, _ = _inv_logdet(Sig[:, o][:, :, o])
        T = np.concatenate([np.broadcast_to(np.eye(po), (nb, po, po)), -K[:, o, :]], axis=2)
        TM = T @ M
        R = TM @ np.swapaxes(T, 1, 2)
        Gs = 0.5 * (Si @ R @ Si - N[:, None, None] * Si)
        Gk = Si @ TM[:, :, po:]
        g += (np.einsum("bij,bqij->bq", Gs, dS[:, :, o][:, :, :, o])
              + np.einsum("biu,bqiu->bq", Gk, dK[:, :, o, :]))
    return g


def _mediation_tests(rng, theta, V, sig, ms, path_test, alpha, ci_level, n_draws):
    """Tests of a mediation fit per replication: theta (r, 2k+1) = (a_1..a_k, b_1..b_k, c'), its sampling
    covariance V (r, 2k+1, 2k+1), sig (r, 2k+1) the path tests' decisions. Returns
    {(effect, term, test): bool (r,)}: the paths, the total effect (delta z), per mediator the Sobel,
    joint significance and Monte Carlo CI tests of the indirect effect (and of their sum, k > 1)."""
    k = len(ms)
    r = theta.shape[0]
    a, b, cp = theta[:, :k], theta[:, k:2 * k], theta[:, 2 * k]
    d = 2 * k + 1
    zc = stats.norm.ppf(1 - alpha / 2)
    out = {}
    for j, mj in enumerate(ms):
        out[("a", mj, path_test)] = sig[:, j]
        out[("b", mj, path_test)] = sig[:, k + j]
    out[("direct", "", path_test)] = sig[:, 2 * k]
    # delta-method tests: total = cp + sum a b; indirect_j = a_j b_j; indirect = sum a b
    g_ind = np.concatenate([b, a, np.zeros((r, 1))], axis=1)  # (r, d)
    g_tot = g_ind.copy(); g_tot[:, 2 * k] = 1.0
    quad = lambda g: np.einsum("ri,rij,rj->r", g, V, g)
    ind = np.einsum("rj,rj->r", a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[("total", "", "z")] = np.abs((cp + ind) / np.sqrt(quad(g_tot))) > zc
        for j, mj in enumerate(ms):
            g = np.zeros((r, d)); g[:, j] = b[:, j]; g[:, k + j] = a[:, j]
            out[("indirect", mj, "sobel")] = np.abs(a[:, j] * b[:, j] / np.sqrt(quad(g))) > zc
            out[("indirect", mj, "joint")] = sig[:, j] & sig[:, k + j]
        if k > 1:
            out[("indirect", "total", "sobel")] = np.abs(ind / np.sqrt(quad(g_ind))) > zc
    # Monte Carlo CI: draws of theta ~ N(theta_hat, V) per replication, all at once
    L = np.linalg.cholesky(V + 1e-14 * np.eye(d))
    D = theta[:, None, :] + np.einsum("rij,rsj->rsi", L, rng.standard_normal((r, n_draws, d)))
    prods = D[:, :, :k] * D[:, :, k:2 * k]  # (r, s, k)
    if k > 1:
        prods = np.concatenate([prods, prods.sum(axis=2, keepdims=True)], axis=2)
    q = (1 - ci_level) / 2
    lo, hi = np.quantile(prods, [q, 1 - q], axis=1)  # (r, k[+1]) each
    excl = (lo > 0) | (hi < 0)
    for j, mj in enumerate(ms + (["total"] if k > 1 else [])):
        out[("indirect", mj, "montecarlo")] = excl[:, j]
    return out


class _PanelModel:
    """Truth and batched ML refit for :func:`efficacy.riclpm` / :func:`efficacy.clpm` (complete data).

    The panel models have a saturated mean structure (free observed intercepts, latent means 0), so the
    ML estimates of the covariance parameters depend on the sample covariance matrix ``S`` (divisor n)
    only. They are refitted for all replications at once by Fisher scoring on
    ``F(theta) = log|Sigma(theta)| + tr(S Sigma(theta)^-1)`` in RAM form (``Sigma = F B S_ B' F'``,
    ``B = (I - A)^-1``; the engine's own parameter pattern matrices), started at the truth, with step
    halving per replication; standard errors from the expected information ``n/2 tr(W dS_k W dS_l)``
    (lavaan's default for complete data). A replication that has not converged after 200 steps, or
    whose implied covariance is not positive definite, is dropped and counted.
    """

    def __init__(self, result):
        from .panel import PanelResult
        from .sem.core import Model, parse_model
        if not isinstance(result, PanelResult):  # pragma: no cover - dispatched on type
            raise SimulationError("not a PanelResult", where="result")
        if result.covariates:
            raise SimulationError("power_from_fit: panel models with covariates are not supported yet",
                                  where="result", found=f"covariates={result.covariates}")
        if result.missing != "listwise":
            raise SimulationError("power_from_fit: panel models fitted with FIML are not supported yet (the "
                                  "missingness pattern is not simulated); refit with missing='listwise'",
                                  where="result", found=f"missing={result.missing!r}")
        if not result.converged:
            raise SimulationError("power_from_fit: the panel model did not converge; no truth to simulate from",
                                  where="result")
        self.res = result
        cols = list(result.x_waves) + list(result.y_waves)
        mod = Model(parse_model(result.syntax), cols, "none", True)
        no = len(mod.obs)
        mod.set_fixed(np.zeros(no), np.zeros((no, no)))
        est = result.estimates
        theta = np.full(mod.npar, np.nan)
        for f, e in zip(est["free"].to_numpy(), est["estimate"].to_numpy()):
            if f > 0:
                theta[int(f) - 1] = e
        if np.isnan(theta).any():
            raise SimulationError("power_from_fit: could not map the panel estimates to the model's parameters",
                                  where="result")
        self.mod, self.theta = mod, theta
        self.Sigma0, self.mu0 = mod.implied(theta)
        cov = np.array([not mod.dm[k].any() for k in range(mod.npar)])
        _, dmu = mod.derivatives(theta)
        if np.abs(dmu[cov]).max(initial=0) > 0:  # pragma: no cover - not a panel model of panel_syntax
            raise SimulationError("power_from_fit: the mean structure is not saturated", where="result")
        self.cov = np.nonzero(cov)[0]
        self.dA, self.dS = mod.dA[self.cov], mod.dS[self.cov]
        self.L0 = np.linalg.cholesky(self.Sigma0)
        self.no, self.nv = no, mod.nv
        # lagged paths: parameter index per row of result.lagged
        self.paths = []
        for r in result.lagged.itertuples():
            to = "x" if r.direction.endswith("x") else "y"
            frm = r.direction[0]
            row = next((t for t in mod.table if t["op"] == "~" and t["lhs"] == f"w{to}{r.to_wave}"
                        and t["rhs"] == f"w{frm}{r.from_wave}"), None)
            if row is None or not row["free"]:
                continue
            k = int(np.nonzero(self.cov == row["free"] - 1)[0][0])
            self.paths.append((r.type, f"{r.from_var} -> {r.to_var}", k, float(theta[row["free"] - 1])))
        self.desc = (f"{result.model}{' (stationary)' if result.stationary else ''}: "
                     f"{result.x_waves} / {result.y_waves} (fitted n={result.n})")
        xy = next((p for p in self.paths if p[0] == "cross-lagged" and p[1].startswith(result.x_waves[0])), None)
        self.primary = (xy or self.paths[0])[:2]

    def min_n(self):
        return self.no + 2

    def block_size(self, n, n_draws):
        K = len(self.cov)
        per_rep = n * self.no * 2 + K * self.no * self.nv * 4 + K * K * 2
        return max(1, int(_BLOCK_ELEMENTS // per_rep))

    def simulate(self, rng, r, n):
        """Sample covariance matrices (divisor n) of r simulated data sets of size n: (r, p, p)."""
        X = rng.standard_normal((r, n, self.no)) @ self.L0.T
        Xc = X - X.mean(axis=1, keepdims=True)
        return np.einsum("rni,rnj->rij", Xc, Xc) / n

    def _moments(self, th):
        r, nv = th.shape[0], self.nv
        A = self.mod.A0 + (th @ self.dA.reshape(len(self.cov), -1)).reshape(r, nv, nv)
        S = self.mod.S0 + (th @ self.dS.reshape(len(self.cov), -1)).reshape(r, nv, nv)
        B = np.linalg.inv(np.eye(nv)[None] - A)
        Bo = B[:, :self.no]
        Sig = Bo @ S @ Bo.transpose(0, 2, 1)
        return Sig, B, Bo, S

    def _objective(self, th, Ssamp):
        Sig = self._moments(th)[0]
        sgn, ld = np.linalg.slogdet(Sig)
        W = np.linalg.inv(np.where((sgn > 0)[:, None, None], Sig, np.eye(self.no)))
        f = ld + (Ssamp * W.transpose(0, 2, 1)).sum(axis=(1, 2))
        return np.where(sgn > 0, f, np.inf)

    def _sparse_sandwich(self, L, R, D):
        """(r, K, a, b) stack of ``L D_k R`` for the unit-entry pattern matrices D (K, i, j):
        sum over the entries (i, j) of D_k of the outer products L[:, :, i] R[:, j, :]."""
        ke, ie, je = np.nonzero(D)
        r, K = L.shape[0], D.shape[0]
        outer = L[:, :, ie].transpose(0, 2, 1)[:, :, :, None] * R[:, je, None, :]  # (r, E, a, b)
        G = np.zeros((K, ke.size))
        G[ke, np.arange(ke.size)] = D[ke, ie, je]
        return (G @ outer.reshape(r, ke.size, -1)).reshape(r, K, L.shape[1], R.shape[2])

    def _score_info(self, th, Ssamp):
        Sig, B, Bo, S = self._moments(th)
        r, K, p = th.shape[0], len(self.cov), self.no
        P = self._sparse_sandwich(Bo, B, self.dA)  # Bo dA_k B
        T = P @ (S @ Bo.transpose(0, 2, 1))[:, None]
        dSig = T + T.transpose(0, 1, 3, 2) + self._sparse_sandwich(Bo, Bo.transpose(0, 2, 1), self.dS)
        W = np.linalg.inv(Sig)
        WdS = W[:, None] @ dSig
        info = 0.5 * WdS.reshape(r, K, p * p) @ WdS.transpose(0, 1, 3, 2).reshape(r, K, p * p).transpose(0, 2, 1)
        R = W @ (Ssamp - Sig) @ W
        score = 0.5 * (dSig.reshape(r, K, p * p) @ R.transpose(0, 2, 1).reshape(r, p * p, 1))[:, :, 0]
        return score, info

    def fit(self, Ssamp, n, maxit=200, tol=1e-7):
        """Batched ML fit of the covariance parameters: theta (r,K), se (r,K), ok (r,)."""
        r = Ssamp.shape[0]
        th = np.tile(self.theta[self.cov], (r, 1))
        f = self._objective(th, Ssamp)
        active = np.isfinite(f)
        done = np.zeros(r, bool)
        for _ in range(maxit):
            idx = np.nonzero(active & ~done)[0]
            if not idx.size:
                break
            sc, info = self._score_info(th[idx], Ssamp[idx])
            try:
                step = np.linalg.solve(info, sc[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                step = np.stack([np.linalg.lstsq(i_, s_, rcond=None)[0] for i_, s_ in zip(info, sc)])
            t_try, f_idx, lam = th[idx].copy(), f[idx], np.ones(idx.size)
            accepted = np.zeros(idx.size, bool)
            for _h in range(12):  # step halving, all replications at once
                cand = th[idx] + lam[:, None] * step
                f_c = self._objective(cand, Ssamp[idx])
                good = ~accepted & (f_c <= f_idx + 1e-12)
                t_try[good], f_idx = cand[good], np.where(good, f_c, f_idx)
                accepted |= good
                lam = np.where(accepted, lam, lam / 2)
                if accepted.all():
                    break
            th[idx], f[idx] = t_try, f_idx
            small = np.abs(step).max(axis=1) < tol
            done[idx[small | ~accepted]] = True
            active[idx[~accepted & ~small]] = False
        sc, info = self._score_info(th, Ssamp)
        ok = done & active & (np.abs(sc).max(axis=1) < 1e-6)
        Iok = np.where(ok[:, None, None], info, np.eye(info.shape[1]))
        V = np.linalg.inv(n * Iok)
        se = np.sqrt(np.clip(np.einsum("rkk->rk", V), 0, None))
        ok &= np.all(np.einsum("rkk->rk", V) > 0, axis=1)
        return th, se, ok

    def simulate_and_test(self, rng, r, n, alpha, ci_level, path_test, n_draws):
        th, se, ok = self.fit(self.simulate(rng, r, n), n)
        zc = stats.norm.ppf(1 - alpha / 2)
        out = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for typ, term, k, _ in self.paths:
                out[(typ, term, "z")] = np.abs(th[:, k] / se[:, k]) > zc
        return out, ok

    def true_values(self):
        return {(typ, term): val for typ, term, _, val in self.paths}

    def truth(self):
        return {f"{typ}[{term}]": val for typ, term, _, val in self.paths}

    def asymptotic_power(self, n, alpha=0.05):
        """Wald-test power from the population information at the truth (Satorra & Saris 1985 style)."""
        _, info = self._score_info(self.theta[self.cov][None], self.Sigma0[None])
        se = np.sqrt(np.diag(np.linalg.inv(n * info[0])))
        zc = stats.norm.ppf(1 - alpha / 2)
        return {(typ, term): float(stats.norm.sf(zc - abs(v) / se[k]) + stats.norm.cdf(-zc - abs(v) / se[k]))
                for typ, term, k, v in self.paths}


# ----------------------------------------------------------------------------- required n
def _required_n(power, targets=(0.8, 0.9)):
    rows = []
    for (eff, med, test), g in power.groupby(["effect", "term", "test"], sort=False):
        g = g.sort_values("n")
        ns, ps, se = (g[c].to_numpy(float) for c in ("n", "power", "power_mcse"))
        for t in targets:
            val, val_se, reason = np.nan, np.nan, ""
            above = np.nonzero(ps >= t)[0]
            if not above.size:
                reason = f"power below {t} at every n up to {int(ns[-1])}"
            elif above[0] == 0:
                reason = (f"power already {ps[0]:.3f} >= {t} at the smallest n={int(ns[0])}" if ns.size > 1 or
                          ps[0] > t else "")
                if ps[0] == t:
                    val = ns[0]
            else:
                i = above[0]
                n0, n1, p0, p1 = ns[i - 1], ns[i], ps[i - 1], ps[i]
                val = n0 + (t - p0) * (n1 - n0) / (p1 - p0)
                d0 = -(n1 - n0) * (p1 - t) / (p1 - p0) ** 2
                d1 = -(n1 - n0) * (t - p0) / (p1 - p0) ** 2
                val_se = float(np.hypot(d0 * se[i - 1], d1 * se[i]))
            rows.append({"effect": eff, "term": med, "test": test, "target": t, "required_n": val,
                         "required_n_mcse": val_se, "reason": reason})
    return pd.DataFrame(rows, columns=REQUIRED_COLUMNS)


# ----------------------------------------------------------------------------- public
def _model_of(result, data, exogenous, path_test):
    from .mediation.latent import LatentMediationResult
    from .panel import PanelResult
    if isinstance(result, PanelResult):
        return _PanelModel(result)
    if isinstance(result, LatentMediationResult):
        if path_test != "z":
            raise SimulationError("path_test='t' applies to least-squares fits; a latent mediation model is "
                                  "fitted by ML and tested with z (Wald) tests", where="path_test",
                                  found=repr(path_test), expected="'z'")
        return _LatentMediationModel(result, data, exogenous)
    return _ObservedMediationModel(result, data, exogenous)


def _check_n(n, model, where):
    n_list = np.atleast_1d(n).tolist()
    for v in n_list:
        if isinstance(v, bool) or float(v) != int(v) or int(v) < model.min_n():
            raise SimulationError(f"{where}={v!r} is not a usable sample size: need integers >= {model.min_n()} "
                                  "(fewer cases than the model's equations need)", where=where)
    return sorted({int(v) for v in n_list})


def combine_power(parts) -> PowerResult:
    """One :class:`PowerResult` from results of the same fitted model at different sizes.

    The workflow runs :func:`power_from_fit` once per planned n (``grid=`` the whole grid, so each job
    draws the streams its n has in one call over the grid) and combines the jobs here: the power tables
    are stacked and the n for 80% / 90% power is interpolated over the whole curve. The result equals
    ``power_from_fit(..., n=grid)`` with the same seed.

    Parameters
    ----------
    parts : sequence of PowerResult
        Same model, replications, levels and tests; distinct sizes.

    Returns
    -------
    PowerResult
    """
    parts = list(parts)
    if not parts:
        raise SimulationError("combine_power needs at least one PowerResult", where="parts")
    first = parts[0]
    keys = ("model", "n_reps", "alpha", "ci_level", "path_test", "exogenous", "n_draws", "primary_test")
    for p in parts[1:]:
        bad = [k for k in keys if getattr(p, k) != getattr(first, k)] + (
            ["primary_effect"] if tuple(p.primary_effect) != tuple(first.primary_effect) else [])
        if bad:
            raise SimulationError(f"combine_power: the parts differ in {bad[0]}", where="parts",
                                  found=f"{getattr(p, bad[0])!r} vs {getattr(first, bad[0])!r}")
    ns = [v for p in parts for v in p.n_grid]
    if len(set(ns)) != len(ns):
        raise SimulationError("combine_power: two parts have the same n", where="parts", found=str(sorted(ns)))
    power = pd.concat([p.power for p in parts], ignore_index=True)
    order = {n_: i for i, n_ in enumerate(sorted(ns))}
    power = power.assign(_o=power["n"].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
    power = power.reset_index(drop=True)
    return PowerResult(model=first.model, n_grid=sorted(ns), n_reps=first.n_reps, alpha=first.alpha,
                       ci_level=first.ci_level, path_test=first.path_test, exogenous=first.exogenous,
                       n_draws=first.n_draws, seed=first.seed, truth=dict(first.truth), power=power,
                       required=_required_n(power), primary_test=first.primary_test,
                       primary_effect=tuple(first.primary_effect),
                       warnings=list(dict.fromkeys(w for p in parts for w in p.warnings)))


def power_from_fit(result, data=None, *, n, n_reps=1000, seed=None, ci_level=0.95, alpha=0.05,
                   path_test="z", exogenous="resample", n_draws=1000, progress=False, grid=None):
    """Monte Carlo power of the study's own fitted model for planned sample sizes.

    Simulates ``n_reps`` data sets of each size in ``n`` from the fitted model (its estimates taken
    as the truth), refits the same analysis to each and reports, per size, the power of every path
    and of the indirect effect(s), with Monte Carlo standard errors, and the n for 80% and 90% power
    (see :mod:`efficacy.power` for the model, the tests and the Monte Carlo error formulas).

    Parameters
    ----------
    result : MediationResult, LatentMediationResult or PanelResult
        A fit of :func:`efficacy.mediate` (listwise; parallel mediators and covariates allowed), of
        :func:`efficacy.latent_mediation` (listwise or FIML), or of :func:`efficacy.riclpm` /
        :func:`efficacy.clpm` (complete data, no covariates).
    data : pandas.DataFrame
        The data the result was fitted to (required for a ``MediationResult`` or
        ``LatentMediationResult``: the result does not store the residual variances, intercepts,
        covariate slopes or the distribution of the treatment, covariates and missingness patterns;
        the refit must reproduce the result's paths). Not used for a ``PanelResult``, whose
        model-implied moments are the whole truth.
    n : int or sequence of int
        Planned sample size(s); a grid of several sizes gives the power curve and ``n_80``/``n_90``.
    n_reps : int
        Replications per size (power's Monte Carlo SE is at most ``0.5 / sqrt(n_reps)``).
    seed : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Every size gets its own stream, every block of replications its own child stream.
    ci_level : float
        Level of the Monte Carlo CI of the indirect effect.
    alpha : float
        Level of the path tests (and of the joint significance and Sobel tests).
    path_test : {"z", "t"}
        ``"z"``: ML standard errors, normal reference (as :func:`efficacy.mediate`, lavaan);
        ``"t"``: ``lm()`` standard errors and t reference with the residual df (least-squares fits
        only; a latent model is tested by z).
    exogenous : {"resample", "normal"}
        How the treatment and covariates of a simulated data set are drawn: rows resampled from the
        study's complete cases, or multivariate normal with their mean and ML covariance.
    n_draws : int
        Monte Carlo draws per replication for the Monte Carlo CI.
    progress : bool
        tqdm bar over blocks of replications.
    grid : sequence of int, optional
        The whole grid of sizes that ``n`` is part of (the workflow's one job per n): each size then
        draws the random stream it has in ``power_from_fit(..., n=grid)``, so the jobs combined by
        :func:`combine_power` (or :func:`aggregate_power`) equal that one call.

    Returns
    -------
    PowerResult
        ``power`` (tidy table), ``required`` (n for 0.8 / 0.9 power, per effect and test, with Monte
        Carlo error), headline ``n_80`` / ``n_90`` (mediation: the (total) indirect effect by the
        Monte Carlo CI; panel: the first x -> y cross-lag by its z test), ``truth``.

    Notes
    -----
    Matches the design of ``simsem::sim(n = ..., model = <lavaan fit>, generate = <fit>)`` in R
    and of Fritz & MacKinnon (2007) for the simple model; checked against
    :func:`efficacy.simulation.power_analysis` and Fritz & MacKinnon's table 3 in
    tests/test_power.py.

    References
    ----------
    Muthén & Muthén (2002); Thoemmes, MacKinnon & Reiser (2010); Fritz & MacKinnon (2007);
    Preacher & Selig (2012); Morris, White & Crowther (2019). Full citations in :mod:`efficacy.power`.
    """
    if path_test not in ("z", "t"):
        raise SimulationError(f"path_test must be 'z' or 't', got {path_test!r}", where="path_test")
    if exogenous not in ("resample", "normal"):
        raise SimulationError(f"exogenous must be 'resample' or 'normal', got {exogenous!r}", where="exogenous")
    for name, v in (("ci_level", ci_level), ("alpha", alpha)):
        if not (isinstance(v, (int, float)) and 0 < float(v) < 1):
            raise SimulationError(f"{name} must be in (0, 1), got {v!r}", where=name)
    for name, v, lo in (("n_reps", n_reps, 1), ("n_draws", n_draws, 100)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise SimulationError(f"{name} must be an integer >= {lo}, got {v!r}", where=name)
    model = _model_of(result, data, exogenous, path_test)
    n_list = _check_n(n, model, "n")
    n_reps, n_draws = int(n_reps), int(n_draws)
    if grid is None:
        cells = as_seed_sequence(seed).spawn(len(n_list))
    else:  # one part of a larger grid (the workflow's job per n): the streams of the sizes' places in it
        full = _check_n(grid, model, "grid")
        out = [v for v in n_list if v not in full]
        if out:
            raise SimulationError(f"n={out[0]} is not in grid {full}", where="n")
        streams = as_seed_sequence(seed).spawn(len(full))
        cells = [streams[full.index(v)] for v in n_list]
    plan = []
    for nn, ss in zip(n_list, cells):
        bs = model.block_size(nn, n_draws)
        starts = list(range(0, n_reps, bs))
        for st, child in zip(starts, ss.spawn(len(starts))):
            plan.append((nn, st, min(bs, n_reps - st), child))
    it = plan
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(plan, desc="power_from_fit blocks")
    hits, valid = {}, {}
    for nn, st, r, child in it:
        out, ok = model.simulate_and_test(np.random.default_rng(child), r, nn, alpha, ci_level, path_test, n_draws)
        valid.setdefault(nn, []).append(ok)
        for key, v in out.items():
            hits.setdefault((nn, key), []).append(v & ok)
    truth = model.true_values()
    rows = []
    for nn in n_list:
        ok = np.concatenate(valid[nn])
        nv = int(ok.sum())
        for key in [k for (m_, k) in hits if m_ == nn]:
            h = np.concatenate(hits[(nn, key)])
            p = float(h.sum() / nv) if nv else np.nan
            rows.append({"n": nn, "effect": key[0], "term": key[1], "test": key[2],
                         "true_value": float(truth[key[:2]]), "power": p,
                         "power_mcse": float(np.sqrt(p * (1 - p) / nv)) if nv else np.nan,
                         "n_reps": n_reps, "n_valid": nv, "n_failed": n_reps - nv})
    power = pd.DataFrame(rows, columns=POWER_COLUMNS)
    warnings = []
    failed = power.groupby("n")["n_failed"].first()
    for nn, f in failed.items():
        if f:
            warnings.append(f"n={nn}: {f} of {n_reps} replications failed (a near-singular design, e.g. a constant "
                            "treatment; or an SEM refit that did not converge or is not positive definite) and "
                            "were dropped; power is over the valid ones")
    required = _required_n(power)
    primary, primary_test = model.primary, ("z" if isinstance(model, _PanelModel) else "montecarlo")
    return PowerResult(model=model.desc, n_grid=n_list, n_reps=n_reps, alpha=float(alpha),
                       ci_level=float(ci_level), path_test=path_test, exogenous=exogenous, n_draws=n_draws,
                       seed=seed, truth=model.truth(), power=power, required=required,
                       primary_test=primary_test, primary_effect=primary, warnings=warnings)


# ----------------------------------------------------------------------------- workflow stage
#: Columns of ``results/<study>/power_from_fit.csv``.
STAGE_COLUMNS = ["study", "model", "n", "effect", "term", "test", "true_value", "power", "power_mcse", "n_reps",
                 "n_valid", "n_failed", "primary", "required_n_80", "required_n_80_mcse", "required_n_90",
                 "required_n_90_mcse", "reason"]


def power_roles(codebook):
    """Treatment, mediators, outcome and covariates of a study's power analysis, or None when the codebook
    declares no treatment, mediator and continuous outcome (such a study has no ``snakemake power`` jobs).

    The mediators are the design's mediators (parallel, as in the mediation stage), the outcome the first
    continuous design outcome, the covariates the design covariates."""
    des = codebook.design
    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        return None
    outcomes = [o for o in des.outcomes if not codebook.is_binary(o)]
    if not outcomes:
        return None
    return des.treatment, list(des.mediators), outcomes[0], list(des.covariates or [])


def panel_roles(codebook):
    """The wave columns ``(x_waves, y_waves)`` of a study's panel power analysis (``design.panel_x`` and
    ``panel_y`` with at least three waves each), or None."""
    des = codebook.design
    if des is None or not codebook.waves or not des.panel_x or not des.panel_y:
        return None
    xw, yw = list(codebook.waves.get(des.panel_x, [])), list(codebook.waves.get(des.panel_y, []))
    return (xw, yw) if len(xw) >= 3 and len(xw) == len(yw) else None


def power_studies(codebooks) -> list:
    """Studies (of a ``{study: Codebook}`` mapping) that have a power analysis: a mediation design (see
    :func:`power_roles`) or, failing that, a panel (:func:`panel_roles`)."""
    return [s for s, cb in codebooks.items() if power_roles(cb) is not None or panel_roles(cb) is not None]


def study_fit(clean, codebook, *, model="observed", missing="listwise", panel_stationary=True):
    """The study's own fitted model, the truth of the workflow's power analysis.

    Parameters
    ----------
    clean : pandas.DataFrame
        ``results/<study>/clean.csv`` (scored data after the exclusion rules).
    codebook : Codebook
    model : {"observed", "latent"}
        ``"observed"``: :func:`efficacy.mediate` on the design mediators' scores (parallel mediators,
        design covariates, listwise). ``"latent"``: :func:`efficacy.latent_mediation` with the first design
        mediator that is a multi-item scale as a factor of its items (``missing`` listwise or FIML); a
        study whose mediators are all single variables falls back to the observed model (the result's
        description says which model was fitted). A study without a mediation design but with a panel
        (``design.panel_x``/``panel_y`` over three or more waves) gets the RI-CLPM of
        :func:`efficacy.riclpm` (complete cases, as :func:`power_from_fit` needs).
    missing : {"listwise", "fiml"}
        Latent model only.
    panel_stationary : bool
        Panel studies: lagged paths equal over waves (one cross-lag per direction to power).

    Returns
    -------
    result, data
        What :func:`power_from_fit` takes.
    """
    from .errors import ConfigError
    roles = power_roles(codebook)
    if model not in ("observed", "latent"):
        raise ConfigError("unknown power model", where="power.model", found=repr(model),
                          expected="'observed' or 'latent'")
    if roles is None:
        panel = panel_roles(codebook)
        if panel is None:
            raise ConfigError(f"study {codebook.study!r} has no treatment, mediator and continuous outcome in its "
                              "codebook design, nor a panel (design.panel_x / panel_y over three or more waves): "
                              "no power analysis from its fit")
        from .panel import riclpm
        return riclpm(clean, panel[0], panel[1], stationary=bool(panel_stationary), missing="listwise"), None
    x, meds, y, covs = roles
    scale = next((codebook.scales[m] for m in meds if m in codebook.scales and codebook.scales[m].k >= 2), None)
    if model == "latent" and scale is not None:
        from .mediation.latent import latent_mediation
        res = latent_mediation(clean, x, list(scale.items), y, covariates=covs, n_boot=0, missing=missing,
                               mediator_name=scale.name, sum_score=False)
        return res, clean
    from .mediation import mediate
    return mediate(clean, x, meds if len(meds) > 1 else meds[0], y, covariates=covs, n_boot=0), clean


def power_job(clean, codebook, *, n, grid, n_reps=500, seed=0, model="observed", missing="listwise", alpha=0.05,
              ci_level=0.95, n_draws=1000, exogenous="resample", panel_stationary=True) -> pd.DataFrame:
    """One job of ``snakemake power``: :func:`power_from_fit` of the study's fit (:func:`study_fit`) at one
    planned ``n`` of the ``grid``, with the random streams that ``n`` has in one call over the whole grid.

    Returns
    -------
    pandas.DataFrame
        The power table (:data:`POWER_COLUMNS`) with ``study``, ``model`` (the fitted model) and
        ``primary`` (True on the headline rows: the indirect effect by its Monte Carlo CI; for a panel,
        the first x -> y cross-lag by its z test).
    """
    result, data = study_fit(clean, codebook, model=model, missing=missing, panel_stationary=panel_stationary)
    pw = power_from_fit(result, data, n=[int(n)], grid=list(grid), n_reps=int(n_reps), seed=seed, alpha=alpha,
                        ci_level=ci_level, n_draws=int(n_draws), exogenous=exogenous)
    t = pw.power.copy()
    t.insert(0, "model", pw.model)
    t.insert(0, "study", codebook.study)
    eff, term = pw.primary_effect
    t["primary"] = (t["effect"] == eff) & (t["term"] == term) & (t["test"] == pw.primary_test)
    t["reason"] = "; ".join(pw.warnings)
    return t


def aggregate_power(frames) -> pd.DataFrame:
    """``results/<study>/power_from_fit.csv`` from the study's :func:`power_job` tables: every n's rows, sorted
    by n, with the n for 80% and 90% power of each effect and test (interpolated over the whole curve, with
    its Monte Carlo SE; NA with the reason when the grid does not bracket it) on each of its rows.

    Equals :func:`power_from_fit` over the whole grid with the same seed (``tests/test_power_from_fit_dag.py``).
    """
    t = pd.concat(list(frames), ignore_index=True)
    if not len(t):
        return pd.DataFrame(columns=STAGE_COLUMNS)
    for c in ("term", "reason"):  # empty strings come back from a CSV as NaN
        t[c] = t[c].astype(object).fillna("").astype(str) if c in t.columns else ""
    t = t.sort_values("n", kind="stable").reset_index(drop=True)
    req = _required_n(t[POWER_COLUMNS])
    wide = []
    for (eff, term, test), g in req.groupby(["effect", "term", "test"], sort=False):
        row = {"effect": eff, "term": term, "test": test}
        why = []
        for target, tag in ((0.8, "80"), (0.9, "90")):
            h = g[np.isclose(g["target"], target)].iloc[0]
            row[f"required_n_{tag}"] = h["required_n"]
            row[f"required_n_{tag}_mcse"] = h["required_n_mcse"]
            if h["reason"]:
                why.append(f"{target:.0%}: {h['reason']}")
        row["_why"] = "; ".join(why)
        wide.append(row)
    out = t.merge(pd.DataFrame(wide), on=["effect", "term", "test"], how="left", sort=False)
    reason = out["reason"].fillna("").astype(str)
    out["reason"] = [("; ".join(v for v in (a, b) if v)) for a, b in zip(reason, out["_why"].fillna(""))]
    return out.drop(columns="_why").reindex(columns=STAGE_COLUMNS)


def power_curve_frame(table) -> pd.DataFrame:
    """The rows of ``power_from_fit.csv`` that :func:`efficacy.plots.power_curve` draws: per mediator a panel
    titled by its fitted paths a and b, one line per test (paths a and b, the indirect effect by the joint
    test, the Monte Carlo CI and Sobel), with 2 x MCSE bars. A panel study: one panel titled by the fitted
    x -> y (``a``) and y -> x (``b``) cross-lags of the first lag, one line per lagged path (``CL``
    cross-lagged, ``AR`` autoregressive; with stationary paths, those of the first lag stand for all)."""
    t = table
    rows = []
    if t["effect"].isin(["cross-lagged", "autoregressive"]).any():
        cl = t[t["effect"] == "cross-lagged"].drop_duplicates("term").head(2)  # the first lag, both directions
        prim = t.loc[t["primary"].astype(bool), "term"] if "primary" in t.columns else pd.Series([], dtype=str)
        xy = prim.iloc[0] if len(prim) else (cl["term"].iloc[0] if len(cl) else "")
        a = float(cl.loc[cl["term"] == xy, "true_value"].iloc[0]) if (cl["term"] == xy).any() else np.nan
        other = cl[cl["term"] != xy]
        b = float(other["true_value"].iloc[0]) if len(other) else np.nan
        lag = t[t["effect"].isin(["cross-lagged", "autoregressive"])]
        stationary = t["model"].astype(str).str.contains("(stationary)", regex=False).any()
        terms = lag.drop_duplicates("term")
        # stationary: the paths of the first lag (both directions) stand for every lag (one parameter each)
        keep = terms.groupby("effect", sort=False).head(2)["term"] if stationary else terms["term"]
        for r in lag[lag["term"].isin(set(keep))].itertuples():
            rows.append({"n": r.n, "a": round(a, 3), "b": round(b, 3),
                         "method": f"{'CL' if r.effect == 'cross-lagged' else 'AR'}: {r.term}", "power": r.power,
                         "power_mcse": r.power_mcse})
        return pd.DataFrame(rows, columns=["n", "a", "b", "method", "power", "power_mcse"])
    for term in [v for v in pd.unique(t["term"]) if v not in ("", "total")]:
        sub = t[t["term"] == term]
        tv = sub.groupby("effect")["true_value"].first()
        a, b = float(tv.get("a", np.nan)), float(tv.get("b", np.nan))
        for r in sub.itertuples():
            label = f"{r.effect} ({r.test})" if r.effect != "indirect" else f"indirect: {r.test}"
            rows.append({"n": r.n, "a": round(a, 3), "b": round(b, 3), "method": label, "power": r.power,
                         "power_mcse": r.power_mcse})
    return pd.DataFrame(rows, columns=["n", "a", "b", "method", "power", "power_mcse"])
