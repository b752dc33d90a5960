"""Latent mediation: the efficacy *factor*, not its sum score, as the mediator.

A mediator measured with error attenuates the b-path and hence the indirect effect
(and inflates the direct effect): the sum score's reliability sits between the true
effect and the estimate (Hoyle & Kenny 1999; Cole & Preacher 2014). When the mediator
is a multi-item scale, :func:`latent_mediation` fits the structural equation model

.. code-block:: text

    eff =~ item1 + item2 + ...            # first loading fixed to 1 (lavaan's default)
    eff ~ a*x + covariates
    y   ~ b*eff + c*x + covariates        # y observed, or a second factor (outcome_items)
    ind := a*b
    tot := c + a*b

by maximum likelihood with lavaan's conventions (``lavaan::sem()``, Rosseel 2012):
``fixed.x = TRUE`` (the treatment and covariates are fixed at their sample moments, so the
likelihood is that of the endogenous variables given them), listwise deletion or
full-information ML (``missing = "ml"``; Arbuckle 1996), expected information for complete
data and observed information for FIML, delta-method standard errors of the defined
parameters ``ind`` and ``tot`` as lavaan's ``:=``, and ``std.all`` standardisation. The
bootstrap confidence intervals (percentile or BCa, Efron 1987) are computed by us, by
resampling rows and refitting the model.

Estimation. Because the exogenous variables are fixed, the model is a multivariate normal
regression ``w | x ~ N(nu + Pi(theta) x, Sigma(theta))`` of the items and the outcome ``w``
on ``u = (1, x, covariates)``. Its log-likelihood only needs, per missing-data pattern, the
weighted cross-products ``sum_i c_i z_i z_i'`` of ``z_i = (w_i, u_i)`` with case weights
``c_i`` (1 for the sample, the resample counts in a bootstrap, 0/1 in the jackknife). The
fit is Fisher scoring (expected information, step-halving on the log-likelihood) written
over a *batch* of weight vectors at once: every bootstrap refit is an iterative ML fit, so
the resamples cannot be computed in one least-squares solve, but they are computed
together, in batches of ``batch`` resamples, each started from the full-sample estimate
(warm start; fewer than ten scoring steps on the bundled studies). There is no Python loop over resamples.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software, 48*(2), 1-36.
Hoyle, R. H., & Kenny, D. A. (1999). Sample size, reliability, and tests of statistical
mediation. In R. H. Hoyle (Ed.), *Statistical strategies for small sample research*
(pp. 195-222). Sage.
Cole, D. A., & Preacher, K. J. (2014). Manifest variable path analysis: Potentially serious
and misleading consequences due to uncorrected measurement error. *Psychological Methods,
19*(2), 300-315.
Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data.
Efron, B. (1987). Better bootstrap confidence intervals. *JASA, 82*, 171-185.

Example
-------
>>> from efficacy.mediation.latent import latent_mediation
>>> res = latent_mediation(clean, "treat", ["se1", "se2", "se3", "se4", "se5", "se6"],
...                        "behavior", covariates=["age"], n_boot=500, seed=1)  # doctest: +SKIP
>>> res.indirect, res.indirect_ci, res.sum_score_indirect                      # doctest: +SKIP
>>> res.to_frame()                                                             # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import as_rng, check_columns, renamed
from .._linalg import lstsq
from ..errors import DataError
from ..resampling import bca_interval, draw_counts
from ..results import ResultMixin
from ..sem.batch import fisher_scoring
from ..sem.core import Patterns as _Patterns
from ..sem.core import em_saturated as _em_saturated
from ..sem.fit import ml_indices, srmr_terms
from .observed import mediate

__all__ = ["LatentMediationResult", "latent_mediation", "run_stage", "LATENT_COLUMNS"]

_LOG2PI = np.log(2 * np.pi)
MIN_CASES = 10

LATENT_COLUMNS = ["outcome", "mediator", "model", "effect", "estimate", "se", "ci_low", "ci_high", "pvalue",
                  "std_all", "ci_method", "n_boot", "n_failed", "n", "missing", "estimator", "test",
                  "estimator_reason", "chisq", "df", "chisq_pvalue", "cfi", "tli", "rmsea", "srmr", "chisq_scaled",
                  "chisq_scaling_factor", "cfi_robust", "rmsea_robust", "converged", "proper", "reason"]


# ----------------------------------------------------------------------------- the model
class _Spec:
    """Parameter layout of the latent mediation model (conditional on the exogenous variables).

    Latent variables: 0 = mediator factor, 1 = outcome (a factor, or the observed outcome
    carried as a latent with loading 1 and zero residual variance, as lavaan does internally).
    """

    def __init__(self, k, ky, r, y_name, med_name, items, y_items, xs):
        self.k, self.ky, self.r = k, ky, r
        self.m = k + max(ky, 1)
        self.y_observed = ky == 0
        ends = list(items) + (list(y_items) if ky else [y_name])
        self.ends = ends
        params = []  # (name, kind, i, j)
        for j in range(1, k):
            params.append((f"{med_name}=~{items[j]}", "L", j, 0))
        for j in range(1, ky):
            params.append((f"{y_name}=~{y_items[j]}", "L", k + j, 1))
        for j, xv in enumerate(xs):
            params.append((f"{med_name}~{xv}", "G", 0, j))
        params.append((f"{y_name}~{med_name}", "B", 1, 0))
        for j, xv in enumerate(xs):
            params.append((f"{y_name}~{xv}", "G", 1, j))
        for j in range(k):
            params.append((f"{items[j]}~~{items[j]}", "T", j, j))
        for j in range(ky):
            params.append((f"{y_items[j]}~~{y_items[j]}", "T", k + j, k + j))
        params.append((f"{med_name}~~{med_name}", "P", 0, 0))
        params.append((f"{y_name}~~{y_name}", "P", 1, 1))
        for j, v in enumerate(ends):
            params.append((f"{v}~1", "N", j, 0))
        self.params = params
        self.names = [p[0] for p in params]
        self.P = len(params)
        self.idx = {p[0]: i for i, p in enumerate(params)}
        self.ia = self.idx[f"{med_name}~{xs[0]}"]
        self.ib = self.idx[f"{y_name}~{med_name}"]
        self.ic = self.idx[f"{y_name}~{xs[0]}"]
        self.n_int = self.m
        self.var_idx = [i for i, p in enumerate(params) if p[1] in ("T", "P")]
        # fixed parts
        self.L0 = np.zeros((self.m, 2))
        self.L0[0, 0] = 1.0
        self.L0[k, 1] = 1.0

    def matrices(self, th):
        """Batched model matrices from theta (nb, P)."""
        nb = th.shape[0]
        L = np.broadcast_to(self.L0, (nb, self.m, 2)).copy()
        Bm = np.zeros((nb, 2, 2))
        G = np.zeros((nb, 2, self.r))
        Ps = np.zeros((nb, 2, 2))
        Th = np.zeros((nb, self.m, self.m))
        nu = np.zeros((nb, self.m))
        for q, (_, kind, i, j) in enumerate(self.params):
            v = th[:, q]
            if kind == "L":
                L[:, i, j] = v
            elif kind == "B":
                Bm[:, i, j] = v
            elif kind == "G":
                G[:, i, j] = v
            elif kind == "P":
                Ps[:, i, j] = v
            elif kind == "T":
                Th[:, i, j] = v
            else:
                nu[:, i] = v
        Bi = np.linalg.inv(np.eye(2) - Bm)
        return L, Bm, G, Ps, Th, nu, Bi

    def implied(self, th, deriv=False):
        """K = [nu, Pi] (nb, m, 1+r) and Sigma (nb, m, m); with deriv, their derivatives (nb, P, ...)."""
        L, Bm, G, Ps, Th, nu, Bi = self.matrices(th)
        LB = L @ Bi
        Phi = Bi @ Ps @ np.swapaxes(Bi, 1, 2)
        BG = Bi @ G
        Pi = L @ BG
        K = np.concatenate([nu[:, :, None], Pi], axis=2)
        Sig = LB @ Ps @ np.swapaxes(LB, 1, 2) + Th
        if not deriv:
            return K, Sig
        nb, m, r = th.shape[0], self.m, self.r
        dS = np.zeros((nb, self.P, m, m))
        dK = np.zeros((nb, self.P, m, 1 + r))
        LPhi = L @ Phi
        for q, (_, kind, i, j) in enumerate(self.params):
            if kind == "L":
                # d Sigma = E_ij Phi L' + L Phi E_ji ; d Pi = E_ij Bi G
                t = np.zeros((nb, m, m))
                t[:, i, :] = LPhi[:, :, j]
                dS[:, q] = t + np.swapaxes(t, 1, 2)
                dK[:, q, i, 1:] = BG[:, j, :]
            elif kind == "B":
                dBi = Bi[:, :, i:i + 1] * Bi[:, j:j + 1, :]        # Bi E_ij Bi
                t = L @ dBi @ Ps @ np.swapaxes(LB, 1, 2)
                dS[:, q] = t + np.swapaxes(t, 1, 2)
                dK[:, q, :, 1:] = L @ dBi @ G
            elif kind == "G":
                dK[:, q, :, 1 + j] = LB[:, :, i]
            elif kind == "P":
                dS[:, q] = LB[:, :, i, None] * LB[:, None, :, i]
            elif kind == "T":
                dS[:, q, i, i] = 1.0
            else:
                dK[:, q, i, 0] = 1.0
        return K, Sig, dS, dK


class _Data:
    """Missing-data patterns of the endogenous block with their rows."""

    def __init__(self, W, U):
        self.W, self.U = W, U
        self.n = W.shape[0]
        obs = ~np.isnan(W)
        keys, inv = np.unique(obs, axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        self.pats = []
        for g, key in enumerate(keys):
            rows = np.flatnonzero(inv == g)
            if not key.any():
                continue
            o = np.flatnonzero(key)
            Z = np.column_stack([W[np.ix_(rows, o)], U[rows]])
            self.pats.append((o, rows, Z))

    def moments(self, C):
        """Weighted cross-products per pattern for weights C (nb, n): list of (o, N (nb,), M (nb, d, d))."""
        out = []
        for o, rows, Z in self.pats:
            Cg = C[:, rows]
            M = np.einsum("bi,id,ie->bde", Cg, Z, Z, optimize=True)
            out.append((o, Cg.sum(axis=1), M))
        return out


def _inv_logdet(S):
    """Batched inverse and log-determinant; non-positive-definite matrices give NaN / -inf."""
    sign, logdet = np.linalg.slogdet(S)
    ok = sign > 0
    Si = np.full_like(S, np.nan)
    if ok.any():
        Si[ok] = np.linalg.inv(S[ok])
    logdet = np.where(ok, logdet, np.nan)
    return Si, logdet, ok


def _loglik(spec, mom, th, grad=False):
    """Conditional log-likelihood (nb,), and with grad its gradient (nb, P) and expected information."""
    if grad:
        K, Sig, dS, dK = spec.implied(th, deriv=True)
    else:
        K, Sig = spec.implied(th)
    nb = th.shape[0]
    ll = np.zeros(nb)
    g = np.zeros((nb, spec.P)) if grad else None
    info = np.zeros((nb, spec.P, spec.P)) if grad else None
    for o, N, M in mom:
        po = len(o)
        So = Sig[:, o][:, :, o]
        Si, logdet, ok = _inv_logdet(So)
        T = np.concatenate([np.broadcast_to(np.eye(po), (nb, po, po)), -K[:, o, :]], axis=2)
        TM = T @ M
        R = TM @ np.swapaxes(T, 1, 2)
        ll += -0.5 * (N * (po * _LOG2PI + logdet) + np.einsum("bij,bji->b", Si, R))
        if grad:
            Gs = 0.5 * (Si @ R @ Si - N[:, None, None] * Si)
            Gk = Si @ TM[:, :, po:]
            dSo = dS[:, :, o][:, :, :, o]
            dKo = dK[:, :, o, :]
            g += np.einsum("bij,bqij->bq", Gs, dSo) + np.einsum("biu,bqiu->bq", Gk, dKo)
            A = Si[:, None] @ dSo                                      # (nb, P, po, po)
            info += 0.5 * N[:, None, None] * np.einsum("bkij,blji->bkl", A, A, optimize=True)
            Muu = M[:, po:, po:]
            SdK = Si[:, None] @ dKo                                    # (nb, P, po, 1+r)
            info += np.einsum("bkiu,buv,bliv->bkl", SdK, Muu, dKo, optimize=True)
        ll = np.where(ok, ll, -np.inf)
    return (ll, g, info) if grad else ll


def _fit_batch(spec, mom, th0, *, maxit=200, tol=1e-9):
    """Fisher scoring with step-halving for a batch of weight vectors (rows of mom): the batched
    driver :func:`efficacy.sem.batch.fisher_scoring` on this model's likelihood."""
    return fisher_scoring(lambda m, th, grad=False: _loglik(spec, m, th, grad=grad), mom, th0, maxit=maxit, tol=tol)


# ----------------------------------------------------------------------------- results
@dataclass
class LatentMediationResult(ResultMixin):
    """Result of :func:`latent_mediation`.

    Attributes
    ----------
    a, b, direct, indirect, total : float
        Paths X -> factor (a), factor -> Y (b), X -> Y (c', ``direct``), ``indirect`` = a*b and
        ``total`` = c' + a*b (lavaan ``:=``), unstandardised.
    indirect_std : float
        Standardised indirect effect (lavaan ``std.all``: ``a b sd(X) / sd(Y)``).
    indirect_se, indirect_ci : float, tuple
        Delta-method SE and bootstrap CI of the indirect effect (``ci`` is the same interval).
    sum_score_indirect, sum_score_ci : float, tuple
        The same indirect effect with the mediator's mean score as an observed mediator
        (:func:`efficacy.mediation.mediate`): the attenuated estimate that the latent model removes.
    fit : dict
        lavaan ``fitMeasures`` names (chisq, df, pvalue, cfi, tli, rmsea, rmsea_ci_low, rmsea_ci_high,
        srmr, loglik, aic, bic, npar, n).
    estimates : pandas.DataFrame
        All model parameters: name, estimate, se, statistic (z), pvalue, std_all.
    converged, proper, reason, warnings
        Fit status; ``reason`` says why the numbers are NA (empty when they are not).
    n_boot, n_failed : int
        Bootstrap resamples asked for, and those whose refit failed (dropped from the CI).
    estimator, test : str
        The estimator of the latent model ("ML", "MLR", "MLM", "WLSMV") and lavaan's name of its test
        ("standard", "yuan.bentler.mplus", "satorra.bentler", "scaled.shifted").
    cluster : str or None
        Cluster column of cluster-robust SEs.
    estimator_reason : str
        Why the estimator differs from the one asked for (empty otherwise).
    table : pandas.DataFrame
        The tidy table of :meth:`to_frame`.
    """

    x: str
    m: list
    y: str
    covariates: list
    outcome_items: list | None
    n: int
    missing: str
    ci_method: str
    ci_level: float
    n_boot: int
    n_failed: int
    a: float
    b: float
    direct: float
    indirect: float
    total: float
    indirect_std: float
    indirect_se: float
    indirect_ci: tuple
    sum_score_indirect: float
    sum_score_ci: tuple
    fit: dict = field(repr=False)
    estimates: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    converged: bool = True
    proper: bool = True
    reason: str = ""
    warnings: list = field(default_factory=list)
    sum_score: object = field(default=None, repr=False)
    estimator: str = "ML"
    test: str = "standard"
    cluster: str | None = None
    estimator_reason: str = ""

    _headline = ("a", "b", "indirect", "indirect_ci", "direct", "total", "indirect_std", "sum_score_indirect",
                 "n")
    _title = "Latent mediation (ML SEM)"
    _summary_columns = ("model", "effect", "estimate", "se", "pvalue", "ci_low", "ci_high", "std_all")

    @property
    def ci(self) -> tuple:
        """Interval of the indirect effect (same as :attr:`indirect_ci`)."""
        return self.indirect_ci

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: model (``latent`` or ``sum_score``), effect (a, b, direct, indirect, total),
        estimate, se (delta method), ci_low, ci_high (bootstrap), pvalue, std_all, ci_method, reason."""
        return self.table.copy()

    def __repr__(self):
        f = self.fit
        lo, hi = self.indirect_ci
        slo, shi = self.sum_score_ci
        note = f"\n  note: {self.reason}" if self.reason else ""
        note += "".join(f"\n  note: {w}" for w in self.warnings)
        return (f"LatentMediationResult({self.x} -> factor({len(self.m)} items) -> {self.y}, "
                f"n={self.n}, missing={self.missing!r}, converged={self.converged}, proper={self.proper})\n"
                f"  latent indirect    {self.indirect: .4f} [{lo: .4f}, {hi: .4f}] ({self.ci_method}, "
                f"{self.n_boot - self.n_failed}/{self.n_boot} resamples), std {self.indirect_std: .4f}\n"
                f"  sum-score indirect {self.sum_score_indirect: .4f} [{slo: .4f}, {shi: .4f}]\n"
                f"  chisq={f.get('chisq', np.nan):.3f} df={f.get('df', np.nan)} cfi={f.get('cfi', np.nan):.3f} "
                f"rmsea={f.get('rmsea', np.nan):.3f} srmr={f.get('srmr', np.nan):.3f}{note}")


# ----------------------------------------------------------------------------- helpers
def _check(data, cols):
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_columns(data, [("a variable of the model", cols)])
    for c in cols:
        if not pd.api.types.is_numeric_dtype(data[c]):
            raise DataError("column is not numeric", where=f"column {c!r}", found=str(data[c].dtype),
                            expected="numeric values")


def _starts(spec, W, U):
    """Starting values from item means (proxy scores) and OLS."""
    k, ky = spec.k, spec.ky
    th = np.zeros(spec.P)
    var = np.nanvar(W, axis=0)
    s = np.nanmean(W[:, :k], axis=1)
    sy = np.nanmean(W[:, k:], axis=1)
    ok = np.isfinite(s) & np.isfinite(sy)

    def cov(a, b_):
        f = np.isfinite(a) & np.isfinite(b_)
        return np.cov(a[f], b_[f])[0, 1] if f.sum() > 2 else 1.0

    lam = np.array([cov(W[:, j], s) for j in range(k)])
    lam = lam / lam[0] if lam[0] != 0 else np.ones(k)
    ba = lstsq(U[ok], s[ok])
    psi1 = max(np.var(s[ok] - U[ok] @ ba), 0.05 * np.nanvar(s))
    Ub = np.column_stack([U[ok], s[ok]])
    bb = lstsq(Ub, sy[ok])
    psi2 = max(np.var(sy[ok] - Ub @ bb), 0.05 * np.nanvar(sy))
    if ky > 1:
        lamy = np.array([cov(W[:, k + j], sy) for j in range(ky)])
        lamy = lamy / lamy[0] if lamy[0] != 0 else np.ones(ky)
    for q, (_, kind, i, j) in enumerate(spec.params):
        if kind == "L":
            th[q] = lam[i] if j == 0 else lamy[i - k]
        elif kind == "G":
            th[q] = ba[1 + j] if i == 0 else bb[1 + j]
        elif kind == "B":
            th[q] = bb[-1]
        elif kind == "T":
            th[q] = 0.5 * var[i]
        elif kind == "P":
            th[q] = psi1 if i == 0 else psi2
    # intercepts reproduce the means given the slopes
    K, _ = spec.implied(th[None])
    ubar = U.mean(axis=0)
    mw = np.nanmean(W, axis=0)
    for q, (_, kind, i, _j) in enumerate(spec.params):
        if kind == "N":
            th[q] = mw[i] - K[0, i, 1:] @ ubar[1:]
    return th


def _effects(spec, th, Sxx):
    """a, b, c', a*b, c'+a*b and the standardised indirect and total effects (nb, 7).

    ``Sxx`` is the (ML) covariance of the exogenous variables, (r, r) or one per fit (nb, r, r).
    """
    Sxx = np.broadcast_to(Sxx, (th.shape[0],) + Sxx.shape[-2:])
    a, b, c = th[:, spec.ia], th[:, spec.ib], th[:, spec.ic]
    L, Bm, G, Ps, Th, nu, Bi = spec.matrices(th)
    BG = Bi @ G
    Veta = BG @ Sxx @ np.swapaxes(BG, 1, 2) + Bi @ Ps @ np.swapaxes(Bi, 1, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        sdy = np.sqrt(Veta[:, 1, 1])
        sdx = np.sqrt(Sxx[:, 0, 0])
    return np.column_stack([a, b, c, a * b, c + a * b, a * b * sdx / sdy, (c + a * b) * sdx / sdy])


_EFFECTS = ["a", "b", "direct", "indirect", "total"]


# ----------------------------------------------------------------------------- main function
@renamed(level="ci_level", ci="ci_method", mediator_items="m", treatment="x", mediator="m", outcome="y")
def latent_mediation(data, x, m, y, *, covariates=(), outcome_items=None, n_boot=1000,
                     ci_method="percentile", seed=None, missing="listwise", ci_level=0.95, batch=250,
                     progress=False, mediator_name="eff", sum_score=True, estimator="ML", cluster=None):
    """Mediation with the mediator as a latent factor measured by its items (ML SEM).

    Fits ``eff =~ items; eff ~ a*x + covariates; y ~ b*eff + c*x + covariates`` with
    ``ind := a*b`` and ``tot := c + a*b`` by maximum likelihood, as ``lavaan::sem()`` does
    (first loading fixed to 1, ``fixed.x = TRUE``), and bootstraps the effects by refitting the
    model to resampled rows. The observed-score (mean of the items) indirect effect is reported
    beside it so that the attenuation removed by the latent model is visible.

    Parameters
    ----------
    data : pandas.DataFrame
    x : str
        Treatment (exogenous; randomised for a causal a-path).
    m : list of str
        At least two items of the mediator scale (reverse-keyed items already reversed); the
        mediator is the factor they measure.
    y : str
        Outcome column; with ``outcome_items`` the outcome is a second factor named ``y``.
    covariates : sequence of str
        Exogenous covariates with paths to the factor and to the outcome.
    outcome_items : list of str or None
        Items of a latent outcome (first loading fixed to 1).
    n_boot : int
        Bootstrap resamples (0: CIs are the normal-theory delta-method intervals). Each resample
        is an iterative ML refit (warm-started at the full-sample estimate); they are fitted
        together in batches of ``batch`` (see the module notes), so 1,000 resamples take seconds.
    ci_method : {"percentile", "bca"}
        Bootstrap interval; BCa's acceleration comes from a jackknife (n more refits, also batched).
    seed : int, numpy.random.Generator or None
        Seed (or generator) of the resampling.
    missing : {"listwise", "fiml"}
        "fiml" = lavaan ``missing = "ml"`` (rows with missing treatment or covariates are dropped,
        as lavaan does with ``fixed.x = TRUE``).
    ci_level : float
        Confidence level.
    batch : int
        Resamples fitted together (memory ~ batch x parameters^2 x patterns).
    progress : bool
        Show a tqdm progress bar over bootstrap batches.
    mediator_name : str
        Name of the factor in the parameter table.
    sum_score : bool
        Also fit the observed-score mediation (:func:`efficacy.mediation.mediate`, same rows,
        resamples and CI type) with the mean of the answered mediator items.
    estimator : {"ML", "MLR", "MLM", "WLSMV"}
        Standard errors of the point-estimate table (lavaan's ``estimator=``); the estimates and the
        bootstrap intervals do not depend on it. "ML": normal-theory SEs. "MLR": Huber-White
        (sandwich) SEs and the Yuan-Bentler scaled test (``chisq.scaled``, ``cfi.robust``,
        ``rmsea.robust`` ... added to ``fit``), complete data or FIML, as ``lavaan::sem(...,
        estimator = "MLR")``; "MLM": Satorra-Bentler (complete data). Computed by the SEM engine
        (:func:`efficacy.sem.sem`) on the same rows; the delta-method SEs of ``indirect`` and
        ``total`` (and the ``n_boot = 0`` intervals) use the robust covariance matrix. The
        bootstrap intervals make no normality assumption either way. "WLSMV" (ordinal mediator
        items): the mediator's items are ordered (thresholds, polychoric correlations), the
        treatment, covariates and outcome (or the outcome's items) continuous, fitted by
        :func:`efficacy.sem.sem` with lavaan's default for categorical data with exogenous
        covariates, ``conditional.x = TRUE`` (probit regressions of the items on the treatment and
        covariates, residual polychoric / polyserial correlations; :mod:`efficacy.sem.wls_mixed`):
        estimates, robust SEs and the scale-shifted test equal ``lavaan::sem(model, data, ordered =
        m, estimator = "WLSMV")``. A WLSMV fit is not bootstrapped: its intervals are delta-method
        ones (the warnings say so when ``n_boot > 0``; the sum-score comparison keeps its bootstrap),
        and it needs complete rows (``missing="listwise"``).
    cluster : str or None
        Cluster column (students in classrooms): cluster-robust SEs and test, as lavaan's
        ``cluster=``; needs ``estimator`` "MLR", "MLM" or "WLSMV" (with WLSMV the cluster-robust
        Gamma of the conditional moments, see :func:`efficacy.sem.wls.fit_wlsmv`).

    Returns
    -------
    LatentMediationResult

    Notes
    -----
    Point estimates, delta-method SEs (expected information for complete data, observed for
    FIML), ``std.all`` and chi-square match ``lavaan::sem(model, data, missing = "listwise" | "ml")``
    with ``ind := a*b; tot := c + a*b`` (``tests/reference/latent.R``). The bootstrap corresponds to
    ``lavaan::sem(..., se = "bootstrap")`` with ``boot.ci.type = "perc" | "bca.simple"``, but its
    resamples are our own. If the full-sample fit does not converge the result is NA with the
    reason; resamples whose refit does not converge are dropped and counted in ``n_failed``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x = rng.integers(0, 2, 400); eta = 0.5 * x + rng.normal(size=400)
    >>> d = pd.DataFrame({f"i{j}": eta + rng.normal(size=400) for j in range(4)})
    >>> d["x"], d["y"] = x, 0.4 * eta + rng.normal(size=400)
    >>> res = latent_mediation(d, "x", ["i0", "i1", "i2", "i3"], "y", n_boot=200, seed=1)
    >>> bool(res.indirect > res.sum_score_indirect)   # the sum score attenuates the b-path
    True
    """
    items = [m] if isinstance(m, str) else list(m)
    ci, level = ci_method, ci_level
    covs = list(covariates)
    y_items = list(outcome_items) if outcome_items else []
    if ci not in ("percentile", "bca"):
        raise DataError("unknown bootstrap interval", found=repr(ci), expected="'percentile' or 'bca'")
    if missing in ("ml", "FIML"):
        missing = "fiml"
    if missing not in ("listwise", "fiml"):
        raise DataError("unknown missing-data method", found=repr(missing), expected="'listwise' or 'fiml'")
    est_asked = str(estimator).upper() if estimator is not None else "ML"
    if est_asked not in ("ML", "MLR", "MLM", "WLSMV"):
        raise DataError("unknown estimator", found=repr(estimator), expected="'ML', 'MLR', 'MLM' or 'WLSMV'")
    fit_est, est_reason = est_asked, ""
    if est_asked == "WLSMV":
        if missing == "fiml":
            raise DataError("WLSMV has no FIML (a limited-information estimator: complete rows here)",
                            found="missing='fiml'", expected="missing='listwise', or estimator='MLR' with FIML")
    if est_asked == "MLM" and missing == "fiml":
        raise DataError("the MLM (Satorra-Bentler) estimator needs complete data", found="missing='fiml'",
                        expected="estimator='MLR' with missing='fiml', or missing='listwise'")
    if cluster is not None and fit_est == "ML":
        raise DataError("cluster-robust standard errors need a robust estimator", found="estimator='ML'",
                        expected="estimator='MLR' or 'MLM' with cluster=")
    if len(items) < 2:
        raise DataError("a latent mediator needs at least two items", found=f"{len(items)} item(s)",
                        expected="two or more mediator items m")
    if outcome_items is not None and len(y_items) < 2:
        raise DataError("a latent outcome needs at least two items", found=f"{len(y_items)} item(s)",
                        expected="two or more outcome_items")
    names = [x, *covs, *items, *(y_items or [y])]
    if len(set(names)) != len(names):
        dup = sorted({v for v in names if names.count(v) > 1})
        raise DataError("a column has two roles", found=", ".join(dup),
                        expected="distinct treatment, covariate, item and outcome columns")
    _check(data, names)
    if cluster is not None:
        check_columns(data, [("cluster", cluster)])
        if cluster in names:
            raise DataError("the cluster column also has a role in the model", found=repr(cluster))
    if not 0 < level < 1:
        raise DataError("ci_level must be between 0 and 1", found=repr(level))
    xs = [x, *covs]
    ends = items + (y_items or [y])
    Xall = data[xs].to_numpy(dtype=float)
    Wall = data[ends].to_numpy(dtype=float)
    warnings = []
    if missing == "listwise":
        keep = np.isfinite(Xall).all(axis=1) & np.isfinite(Wall).all(axis=1)
    else:
        keep_x = np.isfinite(Xall).all(axis=1)
        if (~keep_x).any():
            warnings.append(f"{int((~keep_x).sum())} row(s) with a missing treatment or covariate dropped "
                            "(fixed.x: exogenous variables must be complete)")
        keep = keep_x & np.isfinite(Wall).any(axis=1)
    if cluster is not None and data[cluster].isna().any():
        keep = keep & data[cluster].notna().to_numpy()
        warnings.append(f"{int(data[cluster].isna().sum())} row(s) without a cluster dropped")
    X, W = Xall[keep], Wall[keep]
    n = int(keep.sum())
    spec = _Spec(len(items), len(y_items), len(xs), y, mediator_name, items, y_items, xs)
    if n < max(MIN_CASES, spec.P - spec.m + 2):
        raise DataError("too few cases for the latent mediation model", found=f"n = {n}",
                        expected=f"at least {max(MIN_CASES, spec.P - spec.m + 2)} usable rows")
    for j, c in enumerate(xs):
        if np.ptp(X[:, j]) == 0:
            raise DataError("column is constant in the analysed rows", where=f"column {c!r}",
                            expected="a variable that varies")
    for j, c in enumerate(ends):
        wj = W[:, j][np.isfinite(W[:, j])]
        if len(wj) < 2 or np.ptp(wj) == 0:
            raise DataError("column is constant (or empty) in the analysed rows", where=f"column {c!r}",
                            expected="a variable that varies")
    U = np.column_stack([np.ones(n), X])
    dat = _Data(W, U)
    mom1 = dat.moments(np.ones((1, n)))
    th0 = _starts(spec, W, U)
    th_hat, conv, _ = _fit_batch(spec, mom1, th0[None], maxit=500)
    th_hat = th_hat[0]
    converged = bool(conv[0])
    xbar = X.mean(axis=0)
    Sxx = (X - xbar).T @ (X - xbar) / n
    reason = ""
    ll, g, info = _loglik(spec, mom1, th_hat[None], grad=True)
    ll = float(ll[0])
    if not converged or not np.isfinite(ll):
        reason = "the ML fit of the latent mediation model did not converge"
    # ---- standard errors
    V = np.full((spec.P, spec.P), np.nan)
    if not reason:
        try:
            if missing == "listwise":
                H = info[0]
            else:  # observed information: numerical Jacobian of the analytic gradient
                h = 1e-5 * np.maximum(np.abs(th_hat), 1.0)
                E = np.diag(h)
                momP = [(o, np.repeat(N, spec.P), np.repeat(M, spec.P, axis=0)) for o, N, M in mom1]
                gp = _loglik(spec, momP, th_hat[None] + E, grad=True)[1]   # all P shifts in one batch
                gm = _loglik(spec, momP, th_hat[None] - E, grad=True)[1]
                H = -(gp - gm) / (2 * h[:, None])
                H = (H + H.T) / 2
            V = np.linalg.inv(H)
            if np.any(np.diag(V) < 0):
                warnings.append("information matrix not positive definite: standard errors unreliable")
        except np.linalg.LinAlgError:
            reason = "information matrix singular: the model is not identified (no standard errors)"
    robust_fit = {}
    test = "standard"
    if fit_est in ("MLR", "MLM") and not reason:
        V, robust_fit, test, msg = _robust_vcov(spec, th_hat, X, W, xs, ends, items, y_items, y, mediator_name,
                                                missing, fit_est,
                                                None if cluster is None else data.loc[keep, cluster].to_numpy())
        if msg:
            reason = msg
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    # ---- proper solution
    L, Bm, G, Ps, Th, nu, Bi = spec.matrices(th_hat[None])
    proper = True
    negv = [spec.names[q] for q in spec.var_idx if th_hat[q] < 0]
    if negv:
        proper = False
        warnings.append("negative variance(s) (Heywood case): " + ", ".join(negv))
    # ---- effects and delta-method SEs
    eff = _effects(spec, th_hat[None], Sxx)[0]
    a, b, c = th_hat[spec.ia], th_hat[spec.ib], th_hat[spec.ic]
    J = np.zeros((5, spec.P))
    J[0, spec.ia] = 1
    J[1, spec.ib] = 1
    J[2, spec.ic] = 1
    J[3, spec.ia], J[3, spec.ib] = b, a
    J[4, spec.ia], J[4, spec.ib], J[4, spec.ic] = b, a, 1
    used = np.flatnonzero(np.isfinite(np.diag(V)))   # a robust fit without mean structure has no intercepts
    if not len(used):
        used = np.arange(spec.P)
    eff_se = np.sqrt(np.einsum("qi,ij,qj->q", J[:, used], V[np.ix_(used, used)], J[:, used]))
    # ---- fit measures and std_all
    fit, std = _fit_measures(spec, dat, th_hat, ll, X, W, Sxx, missing, n)
    fit.update(robust_fit)
    std_e = [std[spec.ia], std[spec.ib], std[spec.ic], eff[5], eff[6]]
    # ---- WLSMV: the latent model refitted with ordered mediator items (the ML fit above is kept only for the
    # checks it shares with the other estimators)
    nb = int(n_boot or 0)
    nb_lat = nb
    est_w = None
    if fit_est == "WLSMV":
        w = _wlsmv_fit(X, W, xs, ends, items, y_items, y, mediator_name, level,
                       None if cluster is None else data.loc[keep, cluster].to_numpy())
        reason, eff, eff_se, std_e, fit, est_w = w["reason"], w["eff"], w["eff_se"], w["std_e"], w["fit"], w["est"]
        converged, proper, test = w["converged"], w["proper"], "scaled.shifted"
        warnings = [m for m in warnings if "Heywood" not in m] + w["warnings"]
        nb_lat = 0
        if nb > 0:
            warnings.append("WLSMV: delta-method intervals (no bootstrap of a WLSMV fit)")
    # ---- bootstrap
    n_failed = 0
    if reason:
        lo = hi = np.full(7, np.nan)
        ci_name = ci if nb_lat else "delta"
    elif nb_lat > 0:
        rng = as_rng(seed)
        counts = draw_counts(rng, n, np.empty((nb, n)))  # the rng.integers(0, n, size=(nb, n)) resamples
        boot = _refit_many(spec, dat, th_hat, counts, n, X, batch, progress, "bootstrap")
        ok = np.isfinite(boot).all(axis=1)
        n_failed = int((~ok).sum())
        bv = boot[ok]
        if ci == "bca":
            jack = _refit_many(spec, dat, th_hat, None, n, X, batch, progress, "jackknife")
            lo, hi = bca_interval(bv, eff, jack, level)
        else:
            alpha = (1 - level) / 2
            lo, hi = (np.quantile(bv, [alpha, 1 - alpha], axis=0) if len(bv) >= 10
                      else (np.full(7, np.nan), np.full(7, np.nan)))
        ci_name = ci
        if n_failed:
            warnings.append(f"{n_failed} of {nb} bootstrap refits did not converge and were dropped; the CI "
                            f"uses the {nb - n_failed} others")
    else:
        zc = stats.norm.ppf(0.5 + level / 2)
        lo = np.r_[eff[:5] - zc * eff_se, np.nan, np.nan]
        hi = np.r_[eff[:5] + zc * eff_se, np.nan, np.nan]
        ci_name = "delta"
    if reason:
        eff = np.full(7, np.nan)
        eff_se = np.full(5, np.nan)
    # ---- the observed-score comparison
    ss_res = None
    ss_ind, ss_ci = np.nan, (np.nan, np.nan)
    ss_rows = []
    if sum_score:
        sdat = pd.DataFrame(X, columns=xs)
        # mean of the answered items (all items with listwise deletion)
        sdat["__score__"] = pd.DataFrame(W[:, :len(items)]).mean(axis=1).to_numpy()
        sdat["__y__"] = pd.DataFrame(W[:, len(items):]).mean(axis=1).to_numpy()
        try:
            ss_res = mediate(sdat, x, "__score__", "__y__", covariates=covs, n_boot=nb, ci_method=ci, seed=seed,
                             ci_level=level)
            t = ss_res.to_frame()
            for e in _EFFECTS:
                r = t[t["effect"] == e].iloc[0]
                ss_rows.append(dict(model="sum_score", effect=e, estimate=r.estimate, se=r.se, ci_low=r.ci_low,
                                    ci_high=r.ci_high, pvalue=r.pvalue, std_all=np.nan, ci_method=r.ci_method,
                                    reason=r.reason))
            ss_ind = ss_res.indirect
            ri = t[t["effect"] == "indirect"].iloc[0]
            ss_ci = (float(ri.ci_low), float(ri.ci_high))
        except ValueError as exc:
            ss_rows.append(dict(model="sum_score", effect="indirect", reason=str(exc)))
    # ---- tables
    est_df = pd.DataFrame({"name": spec.names, "estimate": th_hat, "se": se})
    with np.errstate(divide="ignore", invalid="ignore"):
        est_df["statistic"] = est_df["estimate"] / est_df["se"]
    est_df["pvalue"] = 2 * stats.norm.sf(np.abs(est_df["statistic"]))
    est_df["std_all"] = std
    if reason:
        est_df[["estimate", "se", "statistic", "pvalue", "std_all"]] = np.nan
    if missing == "listwise":  # means saturated, not model parameters (lavaan meanstructure = FALSE)
        est_df = est_df[~est_df["name"].str.endswith("~1")].reset_index(drop=True)
    if est_w is not None:
        est_df = est_w
    rows = []
    for q, e in enumerate(_EFFECTS):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = eff[q] / eff_se[q]
        rows.append(dict(model="latent", effect=e, estimate=eff[q], se=eff_se[q], ci_low=lo[q], ci_high=hi[q],
                         pvalue=2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan,
                         std_all=np.nan if reason else std_e[q], ci_method=ci_name,
                         reason=reason or "; ".join(warnings)))
    rows.append(dict(model="latent", effect="indirect_std", estimate=eff[5], se=np.nan, ci_low=lo[5],
                     ci_high=hi[5], pvalue=np.nan, std_all=eff[5], ci_method=ci_name if nb_lat else "",
                     reason=reason or "; ".join(warnings)))
    table = pd.DataFrame(rows + ss_rows)
    table["n_boot"] = np.where(table["model"] == "latent", nb_lat, nb)
    table["n_failed"] = np.where(table["model"] == "latent", n_failed,
                                 ss_res.n_boot_failed if ss_res is not None else 0)
    table["n"] = n
    table["estimator"] = np.where(table["model"] == "latent", fit_est, "OLS")
    table["test"] = np.where(table["model"] == "latent", test + (f", cluster = {cluster}" if cluster else ""), "")
    table["estimator_reason"] = np.where(table["model"] == "latent", est_reason, "")
    table = table[["model", "effect", "estimate", "se", "ci_low", "ci_high", "pvalue", "std_all", "ci_method",
                   "n_boot", "n_failed", "n", "estimator", "test", "estimator_reason", "reason"]]
    return LatentMediationResult(
        x=x, m=items, y=y, covariates=covs, outcome_items=y_items or None, n=n, missing=missing,
        ci_method=ci_name, ci_level=level, n_boot=nb_lat, n_failed=n_failed, a=float(eff[0]), b=float(eff[1]),
        direct=float(eff[2]), indirect=float(eff[3]), total=float(eff[4]), indirect_std=float(eff[5]),
        indirect_se=float(eff_se[3]), indirect_ci=(float(lo[3]), float(hi[3])),
        sum_score_indirect=float(ss_ind), sum_score_ci=ss_ci, fit=fit, estimates=est_df, table=table,
        converged=converged, proper=proper and not reason, reason=reason, warnings=warnings, sum_score=ss_res,
        estimator=fit_est, test=test, cluster=cluster, estimator_reason=est_reason)


def _wlsmv_fit(X, W, xs, ends, items, y_items, y, med, level, cluster=None):
    """The latent mediation model by WLSMV: mediator items ordered, the rest continuous, conditional.x = TRUE.

    ``cluster``: the cluster identifiers of the rows (cluster-robust SEs and test), or None.

    Returns the effects (a, b, c', a*b, c' + a*b and the standardised indirect and total effects), the
    delta-method SEs of the first five from the robust covariance matrix, their std.all, lavaan's fit
    measures, the parameter table and the fit status.
    """
    from ..errors import EfficacyError
    from ..sem.engine import sem as _sem

    rest = "".join(f" + {v}" for v in xs[1:])
    lines = [f"{med} =~ " + " + ".join(items)]
    if y_items:
        lines.append(f"{y} =~ " + " + ".join(y_items))
    lines += [f"{med} ~ a__*{xs[0]}{rest}", f"{y} ~ b__*{med} + c__*{xs[0]}{rest}"]
    d = pd.DataFrame(np.column_stack([X, W]), columns=list(xs) + list(ends))
    kw = {}
    if cluster is not None:
        d["__cluster__"] = cluster
        kw["cluster"] = "__cluster__"
    out = {"eff": np.full(7, np.nan), "eff_se": np.full(5, np.nan), "std_e": [np.nan] * 5, "fit": {}, "est": None,
           "converged": False, "proper": False, "warnings": [], "reason": ""}
    try:
        res = _sem(d, "\n".join(lines), estimator="WLSMV", ordered=list(items), missing="listwise",
                   ci_level=level, **kw)
    except (EfficacyError, np.linalg.LinAlgError) as exc:
        out["reason"] = f"the WLSMV fit failed: {exc}"
        return out
    e = res.estimates
    lab = {k: e.index[e["label"] == k][0] for k in ("a__", "b__", "c__")}
    a, b, c = (float(e.loc[lab[k], "estimate"]) for k in ("a__", "b__", "c__"))
    sa, sb, sc = (float(e.loc[lab[k], "std_all"]) for k in ("a__", "b__", "c__"))
    V = res.vcov.loc[["a__", "b__", "c__"], ["a__", "b__", "c__"]].to_numpy()
    J = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [b, a, 0], [b, a, 1]], float)
    out.update(eff=np.array([a, b, c, a * b, c + a * b, sa * sb, sc + sa * sb]),
               eff_se=np.sqrt(np.clip(np.einsum("qi,ij,qj->q", J, V, J), 0, None)),
               std_e=[sa, sb, sc, sa * sb, sc + sa * sb], fit=dict(res.fit), converged=bool(res.converged),
               proper=bool(res.proper), warnings=list(res.warnings))
    est = pd.DataFrame({"name": [f"{r.lhs}{r.op}{r.rhs}" for r in e.itertuples()],
                        "estimate": e["estimate"], "se": e["se"], "statistic": e["statistic"],
                        "pvalue": e["pvalue"], "std_all": e["std_all"]})
    out["est"] = est.reset_index(drop=True)
    if not res.converged:
        out["reason"] = "the WLSMV fit of the latent mediation model did not converge"
    return out


def _robust_vcov(spec, th_hat, X, W, xs, ends, items, y_items, y, med, missing, estimator, cluster):
    """Robust (sandwich) covariance of the parameters, robust fit measures and lavaan's test name.

    The same model, on the same rows, fitted by the SEM engine with ``estimator`` (MLR/MLM, lavaan's
    sandwich and scaled test, checked there against lavaan); its ML estimates must equal ours.
    Returns ``(V, fit, test, reason)``; parameters the engine does not estimate (the intercepts of a
    complete-data fit without mean structure) are NaN rows/columns of ``V``.
    """
    from ..errors import EfficacyError
    from ..sem.engine import sem as _sem

    lines = [f"{med} =~ " + " + ".join(items)]
    if y_items:
        lines.append(f"{y} =~ " + " + ".join(y_items))
    lines.append(f"{med} ~ " + " + ".join(xs))
    lines.append(f"{y} ~ {med} + " + " + ".join(xs))
    d = pd.DataFrame(np.column_stack([X, W]), columns=list(xs) + list(ends))
    kw = {}
    if cluster is not None:
        d["__cluster__"] = cluster
        kw["cluster"] = "__cluster__"
    V = np.full((spec.P, spec.P), np.nan)
    try:
        res = _sem(d, "\n".join(lines), missing=missing, auto="sem", estimator=estimator, **kw)
    except (EfficacyError, np.linalg.LinAlgError) as exc:
        return V, {}, "", f"robust ({estimator}) standard errors failed: {exc}"
    if not res.converged:
        return V, {}, res.test, f"the {estimator} fit of the latent mediation model did not converge"
    vc = res.vcov
    names = [nm for nm in spec.names if nm in vc.index]
    idx = [spec.idx[nm] for nm in names]
    V[np.ix_(idx, idx)] = vc.loc[names, names].to_numpy(float)
    est = res.estimates
    key = est["lhs"] + est["op"] + est["rhs"].fillna("")
    theirs = dict(zip(key, est["estimate"]))
    diff = max((abs(theirs[nm] - th_hat[spec.idx[nm]]) / max(1.0, abs(th_hat[spec.idx[nm]]))
                for nm in names if nm in theirs), default=0.0)
    if diff > 1e-3:
        return np.full_like(V, np.nan), {}, res.test, (f"the {estimator} fit found other estimates than the ML fit "
                                                        f"(largest relative difference {diff:.2g}): no robust SEs")
    robust = {k: float(v) for k, v in res.fit.items() if "." in k and ("scal" in k or "robust" in k or "shift" in k)}
    return V, robust, res.test, ""


def _refit_many(spec, dat, th_hat, counts, n, X, batch, progress, desc):
    """Effects (nb, 7) of refits on bootstrap resamples (case counts (nb, n)) or, with counts None, of the
    n leave-one-out (jackknife) fits; NaN rows = failed refits."""
    total = n if counts is None else counts.shape[0]
    starts = range(0, total, batch)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=f"latent mediation {desc}", unit="batch")
    out = np.full((total, 7), np.nan)
    for s in starts:
        if counts is None:
            C = np.ones((min(batch, n - s), n))
            C[np.arange(C.shape[0]), s + np.arange(C.shape[0])] = 0.0
        else:
            C = counts[s:s + batch]
        mom = dat.moments(C)
        nb = C.shape[0]
        th, conv, _ = _fit_batch(spec, mom, np.repeat(th_hat[None], nb, axis=0))
        # fixed.x: the exogenous moments of each resample
        w = C / C.sum(axis=1, keepdims=True)
        xm = w @ X
        Xc = X[None] - xm[:, None]
        Sxx = np.einsum("bi,bij,bik->bjk", w, Xc, Xc)
        eff = _effects(spec, th, Sxx)
        eff[~conv] = np.nan
        out[s:s + nb] = eff
    return out


def _fit_measures(spec, dat, th, ll_cond, X, W, Sxx, missing, n):
    """lavaan fitMeasures and std.all of every parameter."""
    r, m = X.shape[1], W.shape[1]
    p = m + r
    K, Sig = spec.implied(th[None])
    K, Sig = K[0], Sig[0]
    xbar = X.mean(axis=0)
    Pi = K[:, 1:]
    S_joint = np.block([[Pi @ Sxx @ Pi.T + Sig, Pi @ Sxx], [Sxx @ Pi.T, Sxx]])
    mu_joint = np.r_[K[:, 0] + Pi @ xbar, xbar]
    D = np.column_stack([W, X])
    if missing == "listwise":
        Mh1 = D.mean(axis=0)
        Sh1 = (D - Mh1).T @ (D - Mh1) / n
        ll_sat = -0.5 * n * (p * _LOG2PI + np.linalg.slogdet(Sh1)[1] + p)
        meanstructure = False
        npar = spec.P - spec.m
    else:
        Mh1, Sh1, ll_sat = _em_saturated(_Patterns(D), p)
        meanstructure = True
        npar = spec.P
    ll_x = -0.5 * n * (r * _LOG2PI + np.linalg.slogdet(Sxx)[1] + r)
    ll = ll_cond + ll_x
    ndat = p * (p + 1) // 2 + (p if meanstructure else 0) - (r * (r + 1) // 2 + (r if meanstructure else 0))
    df = ndat - npar
    chisq = max(2 * (ll_sat - ll), 0.0)
    pval = stats.chi2.sf(chisq, df) if df > 0 else np.nan
    ll_b = ll_x
    for j in range(m):
        wj = W[:, j][np.isfinite(W[:, j])]
        ll_b += -0.5 * len(wj) * (_LOG2PI + np.log(wj.var()) + 1)
    b_df = p * (p - 1) // 2 - r * (r - 1) // 2
    b_chisq = 2 * (ll_sat - ll_b)
    if df > 0:
        cfi, tli, rmsea, r_lo, r_hi = ml_indices(chisq, df, b_chisq, b_df, n)
    else:
        cfi = tli = 1.0
        rmsea = 0.0
        r_lo = r_hi = np.nan
    num, ne = srmr_terms(Sh1, S_joint, Mh1, mu_joint, meanstructure)
    fit = dict(chisq=float(chisq), df=int(df), pvalue=float(pval), cfi=float(cfi), tli=float(tli),
               rmsea=float(rmsea), rmsea_ci_low=float(r_lo), rmsea_ci_high=float(r_hi),
               srmr=float(np.sqrt(num / ne)), loglik=float(ll_cond), aic=float(-2 * ll_cond + 2 * npar),
               bic=float(-2 * ll_cond + npar * np.log(n)), npar=int(npar), n=int(n),
               baseline_chisq=float(b_chisq), baseline_df=int(b_df))
    # std.all: total variances of the endogenous observed and latent variables
    L, Bm, G, Ps, Th, nu, Bi = spec.matrices(th[None])
    L, G, Ps, Bi = L[0], G[0], Ps[0], Bi[0]
    BG = Bi @ G
    Veta = BG @ Sxx @ BG.T + Bi @ Ps @ Bi.T
    with np.errstate(invalid="ignore", divide="ignore"):
        sde = np.sqrt(np.diag(Veta))
        sdw = np.sqrt(np.diag(S_joint)[:m])
        sdx = np.sqrt(np.diag(Sxx))
        std = np.full(spec.P, np.nan)
        for q, (_, kind, i, j) in enumerate(spec.params):
            v = th[q]
            if kind == "L":
                std[q] = v * sde[j] / sdw[i]
            elif kind == "B":
                std[q] = v * sde[j] / sde[i]
            elif kind == "G":
                std[q] = v * sdx[j] / sde[i]
            elif kind == "P":
                std[q] = v / Veta[i, i]
            elif kind == "T":
                std[q] = v / sdw[i] ** 2
            else:
                std[q] = v / sdw[i]
    return fit, std


# ----------------------------------------------------------------------------- workflow stage
@renamed(ci="ci_method")
def run_stage(clean, codebook, *, n_boot=500, seed=0, ci_method="percentile", missing="fiml"):
    """Workflow entry point: latent mediation for every design mediator that is a multi-item scale.

    For each continuous outcome in the codebook design and each mediator that names a scale with at
    least two items, :func:`latent_mediation` (treatment and covariates from the design) with its
    observed-score comparison. Binary outcomes, single-variable mediators and failed fits are rows
    with a ``reason``.

    The estimator comes from the codebook (:func:`efficacy.estimator_choice.scale_choice` of the
    mediator scale): ML, or MLR (robust SEs, scaled test) when the codebook asks for it; ordinal
    mediator items (WLSMV in the codebook) are fitted by WLSMV (the items ordered, the treatment,
    covariates and outcome continuous, lavaan's ``conditional.x = TRUE``; delta-method intervals, no
    bootstrap of a WLSMV fit) when the stage deletes listwise or when the model's columns have no
    missing values (FIML and listwise deletion are then the same), and by MLR with FIML when the
    stage asks for FIML on incomplete data (the workflow's default: WLSMV has no FIML, and FIML keeps
    the incomplete rows); the ``estimator_reason`` column says which and why. A declared ``cluster``
    gives cluster-robust SEs and test (MLR, MLM and WLSMV). The bootstrap intervals of the ML-based fits are the same
    whatever their estimator.

    Returns
    -------
    dict
        ``{"latent_mediation": DataFrame}`` with columns :data:`LATENT_COLUMNS`.
    """
    from ..estimator_choice import scale_choice

    des = codebook.design

    def na(reason, **kw):
        return pd.DataFrame([{c: kw.get(c, reason if c == "reason" else np.nan) for c in LATENT_COLUMNS}])

    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        return {"latent_mediation": na("study declares no treatment, mediator and outcome in codebook design")}
    rows = []
    covs = list(des.covariates or [])
    for out in des.outcomes:
        for med in des.mediators:
            scale = codebook.scales.get(med)
            if scale is None or len(scale.items) < 2:
                rows.append(na(f"mediator {med!r} is not a multi-item scale in the codebook: no latent model",
                               outcome=out, mediator=med))
                continue
            if codebook.is_binary(out):
                rows.append(na("binary outcome: the normal-theory latent mediation model does not apply "
                               "(see causal_mediation.csv)", outcome=out, mediator=med))
                continue
            ch = scale_choice(codebook, med) if hasattr(codebook, "estimator_for") else None
            est = ch.estimator if ch is not None else "ML"
            if est == "MLM" and missing == "fiml":
                est = "MLR"
            why = ch.reason if ch is not None else ""
            fit_missing = missing
            if est == "WLSMV" and missing in ("fiml", "ml"):
                role_cols = [des.treatment, *scale.items, out, *covs]
                if not clean[[c for c in role_cols if c in clean.columns]].isna().any().any():
                    # complete rows: FIML is listwise deletion, which WLSMV can do
                    fit_missing = "listwise"
                    why = "; ".join(filter(None, [why, "no missing values, so WLSMV needs no FIML"]))
            if est == "WLSMV" and fit_missing in ("fiml", "ml"):
                est = "MLR"
                why = "; ".join(filter(None, [why, ("WLSMV has no FIML, and the stage keeps the incomplete rows by "
                                                    "FIML: fitted by MLR instead (ML estimates, robust SEs); "
                                                    "bootstrap CIs unchanged")]))
            elif est == "WLSMV":
                why = "; ".join(filter(None, [why, ("mediator items ordered, treatment, covariates and outcome "
                                                    "continuous (conditional.x); delta-method intervals (no "
                                                    "bootstrap of a WLSMV fit)")]))
            cl = getattr(codebook, "cluster", None) if est != "ML" else None
            try:
                res = latent_mediation(clean, des.treatment, list(scale.items), out, covariates=covs,
                                       n_boot=n_boot, ci_method=ci_method, seed=seed, missing=fit_missing,
                                       mediator_name=med, estimator=est, cluster=cl)
            except ValueError as exc:
                rows.append(na(str(exc), outcome=out, mediator=med, estimator=est, estimator_reason=why))
                continue
            t = res.to_frame()
            t.insert(0, "mediator", med)
            t.insert(0, "outcome", out)
            lat = t["model"].eq("latent")
            t["missing"] = np.where(lat, res.missing, "mean of answered items")
            for key, col in (("chisq", "chisq"), ("df", "df"), ("pvalue", "chisq_pvalue"), ("cfi", "cfi"),
                             ("tli", "tli"), ("rmsea", "rmsea"), ("srmr", "srmr")):
                t[col] = np.where(lat, res.fit.get(key, np.nan), np.nan)
            for key, col in (("chisq.scaled", "chisq_scaled"), ("chisq.scaling.factor", "chisq_scaling_factor"),
                             ("cfi.robust", "cfi_robust"), ("rmsea.robust", "rmsea_robust")):
                t[col] = np.where(lat, res.fit.get(key, np.nan), np.nan)
            t["estimator_reason"] = np.where(lat, "; ".join(x for x in (why, res.estimator_reason) if x),
                                             "observed mean score: OLS paths (mediate)")
            t["converged"] = pd.Series(np.where(lat, res.converged, None), dtype=object)
            t["proper"] = pd.Series(np.where(lat, res.proper, None), dtype=object)
            rows.append(t)
    return {"latent_mediation": pd.concat(rows, ignore_index=True).reindex(columns=LATENT_COLUMNS)}
