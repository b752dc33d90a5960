"""Sensitivity of the indirect effect to sequential ignorability (Imai, Keele & Yamamoto 2010).

The ACME(rho) curve as R's ``mediation::medsens``: how strongly would the residuals of the mediator and
outcome models have to be correlated (an unobserved common cause of efficacy and behaviour) for the
indirect effect to vanish? Closed form for a linear mediator and a linear outcome model without
interaction; for a probit outcome (linear mediator) or a probit mediator (linear outcome) the
quasi-Bayesian simulation of Imai, Keele & Yamamoto (2010, section 4) as ``medsens`` does it, vectorised
over the draws.

References
----------
Imai, K., Keele, L., & Yamamoto, T. (2010). Identification, inference and sensitivity analysis for
causal mediation effects. *Statistical Science, 25*(1), 51-71.
Imai, K., Keele, L., Tingley, D., & Yamamoto, T. (2010). Causal mediation analysis using R. In H. D. Vinod
(Ed.), *Advances in Social Science Research Using R* (pp. 129-154). Springer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from .._linalg import ols_resid
from .._api import as_rng, renamed
from ..errors import DataError
from ..resampling import draw_counts
from ..results import ResultMixin
from .causal import _chol, _irls, _ols
from .observed import _prepare, _wls

__all__ = ["SensitivityResult", "sensitivity"]


# ----------------------------------------------------------------------------- sensitivity
@dataclass
class SensitivityResult(ResultMixin):
    """Result of :func:`sensitivity` (Imai, Keele & Yamamoto 2010).

    Headline attributes: ``rho_at_zero`` (the error correlation at which the ACME is zero),
    ``acme_at_zero_rho`` (the ACME at rho = 0, the OLS a*b) and the R-squared products
    ``rsq_prod_residual``, ``rsq_prod_total`` at ``rho_at_zero``.
    """

    x: str
    m: str
    y: str
    n: int
    rho_at_zero: float
    rsq_prod_residual: float
    rsq_prod_total: float
    r2_mediator: float
    r2_outcome: float
    acme_at_zero_rho: float
    table: pd.DataFrame = field(repr=False)
    mediator_model: str = "linear"
    outcome_model: str = "linear"
    n_sims: int = 0
    converged: bool = True
    reason: str = ""
    draws: dict | None = field(default=None, repr=False)

    _headline = ("rho_at_zero", "acme_at_zero_rho", "rsq_prod_residual", "rsq_prod_total", "n")
    _title = "Sensitivity to sequential ignorability (Imai, Keele & Yamamoto 2010)"
    _dict_skip = ("draws",)

    def _summary_frame(self) -> pd.DataFrame:
        t = self.to_frame()
        return t.iloc[::10] if len(t) > 40 else t   # every 10th rho of the curve

    def to_frame(self) -> pd.DataFrame:
        """Columns: rho, acme, ci_low, ci_high, rsq_prod_residual, rsq_prod_total; with a probit model also
        acme_control and acme_treated (medsens' d0 and d1; acme is their average)."""
        return self.table.copy()

    def __repr__(self):
        return (f"SensitivityResult({self.x} -> {self.m} -> {self.y}, n={self.n}: ACME(0)="
                f"{self.acme_at_zero_rho:.4f}, rho at ACME=0: {self.rho_at_zero:.4f}, "
                f"R2*M R2*Y={self.rsq_prod_residual:.4f}, R2~M R2~Y={self.rsq_prod_total:.4f})")


def _acme_curve(beta2, s1, s2, rt, rho):
    return beta2[..., None] * (s1 / s2)[..., None] * (
        rt[..., None] - rho * np.sqrt((1 - rt[..., None] ** 2) / (1 - rho**2)))


#: the default rho grid: -0.9, -0.89, ..., 0.9
_RHOS = np.linspace(-0.9, 0.9, 181)


@renamed(level="ci_level", treatment="x", mediator="m", outcome="y")
def sensitivity(data, x, m, y, *, covariates=(), rhos=_RHOS, ci_level=0.95,
                n_boot=1000, seed=None, mediator_model="linear", outcome_model="linear", n_sims=1000):
    """ACME as a function of the mediator-outcome error correlation rho.

    ``mediator_model`` / ``outcome_model`` ("linear" or "probit"; at most one of them probit, as
    ``medsens``) choose the models; the linear-linear case is described first, the probit cases below.

    Closed form (Imai, Keele & Yamamoto 2010, Theorem 2) for a linear mediator model
    ``M = a0 + beta2 X + C + e2`` and a linear outcome model without interaction; with
    ``e1`` the residual of the total-effect model ``Y ~ X + C``::

        ACME(rho) = beta2 * sigma1 / sigma2 * (rho~ - rho * sqrt((1 - rho~^2) / (1 - rho^2)))

    where ``rho~ = corr(e1, e2)`` and sigma = ML residual SD (``sqrt(RSS/n)``). Because
    ``rho / sqrt(1 - rho^2)`` is increasing, ACME = 0 exactly at ``rho* = rho~``; there the
    residual R-squared product is ``R2*_M R2*_Y = rho*^2`` and the total one
    ``R2~_M R2~_Y = rho*^2 (1 - R2_M)(1 - R2_Y)``. At rho = 0 the ACME equals the OLS
    product a*b. Matches R ``mediation::medsens`` for linear-linear models (point curve);
    the CI band here is a batched percentile bootstrap (``n_boot`` resamples at ``ci_level``,
    drawn with ``seed``: an int or a numpy Generator).

    **Probit outcome, linear mediator** (``outcome_model="probit"``; IKY 2010, section 4): the latent
    outcome error and the mediator error are bivariate normal with correlation rho. The probit of ``y`` on
    ``m, x, C`` then identifies ``g = (gamma + rho / sigma2) / sqrt(1 - rho^2)``, so the mediator effect
    ``gamma(rho) = (rho* sqrt((1 - rho^2) / (1 - rho*^2)) - rho) / sigma2`` with
    ``rho* = sigma2 g / sqrt(1 + sigma2^2 g^2)`` the correlation at which the ACME is exactly zero
    (``rho_at_zero``, at the point estimates), and ``ACME_t(rho)`` follows from the reduced-form probit.
    As ``medsens``, both fits are drawn ``n_sims`` times from their asymptotic normal distributions (and
    ``sigma2`` from its scaled inverse chi-square), the curve is the mean of the draws and the band their
    percentiles. ``medsens`` 4.5.1 computes rho* as ``sigma2 g / (1 + |sigma2 g|)``, which is not the
    root of its own gamma(rho): its curve at rho = 0 then differs from the ACME that ``mediate()`` estimates
    from the same fits under sequential ignorability. We use the model's formula (at rho = 0 the curve
    equals :func:`causal_mediation`'s probit-outcome ACME; tests/test_sensitivity_binary.py shows both and
    compares a private medsens mode with medsens itself).

    **Probit mediator, linear outcome** (``mediator_model="probit"``): for every draw of the probit
    mediator model and every rho the outcome model is refitted by medsens' iterated feasible GLS with the
    generalised residual (inverse Mills ratio) correction; ``ACME(rho) = beta_m(rho) * mean(Phi(mu_1) -
    Phi(mu_0))``. ``rho_at_zero`` is the root of ``beta_m(rho)`` at the point estimates.

    In both probit cases ``R2_M`` or ``R2_Y`` of the probit model is the latent-variable R-squared
    ``var(fitted) / (1 + var(fitted))`` as in ``medsens``; ``n_boot`` is not used, ``n_sims`` is.
    """
    if mediator_model not in ("linear", "probit") or outcome_model not in ("linear", "probit"):
        bad = mediator_model if mediator_model not in ("linear", "probit") else outcome_model
        raise DataError(f"sensitivity() takes 'linear' or 'probit' models, got {bad!r}",
                        where="argument mediator_model" if bad == mediator_model else "argument outcome_model",
                        expected="'linear' or 'probit' (rho is the correlation of normal errors: a logit model has "
                                 "no such error; medsens likewise accepts only the probit link)")
    if mediator_model == "probit" and outcome_model == "probit":
        raise DataError("sensitivity() does not cover a probit mediator together with a probit outcome "
                        "(neither does mediation::medsens)", where="arguments mediator_model, outcome_model",
                        expected="at most one probit model")
    if mediator_model == "probit" or outcome_model == "probit":
        return _sensitivity_probit(data, x, m, y, covariates=covariates, rhos=rhos, ci_level=ci_level,
                                   n_sims=n_sims, seed=seed, mediator_model=mediator_model,
                                   outcome_model=outcome_model)
    Xa, Xb, M, Y, n = _prepare(data, x, [m], y, list(covariates))
    rhos = np.asarray(rhos, float)
    Xc = Xa  # total model has the same regressors as the mediator model

    def parts(W):
        ba, _ = _wls(Xa, W, M)
        bc, _ = _wls(Xc, W, Y[:, None])
        e2 = M[:, 0][None, :] - np.einsum("ni,bi->bn", Xa, ba[:, :, 0])
        e1 = Y[None, :] - np.einsum("ni,bi->bn", Xc, bc[:, :, 0])
        ws = W.sum(axis=1)
        s1 = np.sqrt((W * e1**2).sum(1) / ws)
        s2 = np.sqrt((W * e2**2).sum(1) / ws)
        rt = (W * e1 * e2).sum(1) / ws / (s1 * s2)
        return ba[:, 1, 0], s1, s2, rt

    beta2, s1, s2, rt = (v[0] for v in parts(np.ones((1, n))))
    acme = _acme_curve(np.array(beta2), np.array(s1), np.array(s2), np.array(rt), rhos)
    lo = hi = np.full(rhos.shape, np.nan)
    if n_boot and n_boot > 0:
        rng = as_rng(seed)
        W = draw_counts(rng, n, np.empty((n_boot, n)))  # = case_counts(rng.integers(0, n, size=(n_boot, n)), n)
        bb = _acme_curve(*parts(W), rhos)
        alpha = (1 - ci_level) / 2
        lo, hi = np.nanquantile(bb, [alpha, 1 - alpha], axis=0)
    r2m = 1 - np.sum(ols_resid(M[:, 0], Xa) ** 2) / np.sum(
        (M[:, 0] - M[:, 0].mean()) ** 2)
    r2y = 1 - np.sum(ols_resid(Y, Xb) ** 2) / np.sum((Y - Y.mean()) ** 2)
    tab = pd.DataFrame({"rho": rhos, "acme": acme, "ci_low": lo, "ci_high": hi,
                        "rsq_prod_residual": rhos**2,
                        "rsq_prod_total": rhos**2 * (1 - r2m) * (1 - r2y)})
    acme0 = float(beta2 * s1 / s2 * rt)
    return SensitivityResult(x, m, y, n, float(rt), float(rt**2), float(rt**2 * (1 - r2m) * (1 - r2y)),
                             float(r2m), float(r2y), acme0, tab)


# ----------------------------------------------------------------------------- probit models (medsens "bo", "bm")
_EPS = np.sqrt(np.finfo(float).eps)     # medsens' eps for the FGLS iteration
_BLOCK = 2**22                           # elements (draws x rhos x units) per block of the probit-outcome curve


def _binary(v, col, role):
    bad = ~np.isin(v, (0.0, 1.0))
    if bad.any():
        raise DataError(f"{role} column {col!r} must be binary 0/1 for a probit {role} model", where=f"column {col!r}",
                        found=f"value {v[bad][0]:g}", expected="only 0 and 1")


def _probit_fit(X, v, what):
    b, conv, sep, info = _irls(X, v, np.ones((1, len(v))), "probit")
    if sep[0]:
        return None, None, f"perfect separation in the probit {what} model (fitted probabilities of 0 or 1)"
    if not conv[0]:
        return None, None, f"the probit {what} model did not converge"
    return b[0], np.linalg.inv(info[0]), ""


def _latent_r2(X, b):
    f = X @ b
    v = f.var(ddof=1)
    return float(v / (1 + v))


def _mills(mu, mv):
    """Generalised residual of the probit: phi/Phi(mu) for m = 1, -phi/Phi(-mu) for m = 0 (log scale)."""
    logphi = -0.5 * mu**2 - 0.5 * np.log(2 * np.pi)
    return np.where(mv == 1, np.exp(logphi - special.log_ndtr(mu)), -np.exp(logphi - special.log_ndtr(-mu)))


def _fgls(Xb, Y, lam, mu, im):
    """medsens' iterated FGLS for a probit mediator, batched over draws (rows of ``lam``, ``mu``).

    The weights ``w = 1 - rho^2 h`` with ``h = lam (lam + mu)`` and the correction term ``rho lam`` are
    polynomials in rho, so the weighted cross-products are assembled once per draw and the returned
    function of rho gives the outcome model's mediator coefficient and its variance, each (S,)."""
    n, kb = Xb.shape
    h = lam * (lam + mu)
    XX = np.einsum("nk,nl->nkl", Xb, Xb).reshape(n, kb * kb)
    XtX = (Xb.T @ Xb)[None]
    H = (h @ XX).reshape(-1, kb, kb)
    xy, hy = Xb.T @ Y, (h * Y) @ Xb
    xl, hl = lam @ Xb, (h * lam) @ Xb
    e_m = np.broadcast_to(np.eye(kb)[im], hy.shape)

    def at(rho):
        w = 1 - rho**2 * h
        adj = rho * lam
        A = XtX - rho**2 * H
        rhs = np.stack([xy[None, :] - rho**2 * hy, rho * xl - rho**3 * hl, e_m], axis=2)
        sol = np.linalg.solve(A, rhs)
        bY, ba, ainv_m = sol[:, :, 0], sol[:, :, 1], sol[:, im, 2]
        eY = Y - bY @ Xb.T
        ea = adj - ba @ Xb.T
        syy, sya, saa = (w * eY * eY).sum(1), (w * eY * ea).sum(1), (w * ea * ea).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            # start: the weighted fit with the correction term as a regressor (rank kb + 1; kb at rho = 0)
            rss0 = np.where(saa > 0, syy - sya**2 / np.where(saa > 0, saa, 1), syy)
            sig = np.sqrt(rss0 / np.where(saa > 0, n - kb - 1, n - kb))
        prev = sig.copy()
        active = np.isfinite(sig)
        for _ in range(10_000):     # fixed-point iteration on the residual SD (one scalar per draw)
            if not active.any():
                break
            new = np.sqrt(np.clip(syy - 2 * sig * sya + sig**2 * saa, 0, None) / (n - kb))
            prev = np.where(active, sig, prev)
            done = ~(np.abs(new - sig) > _EPS)
            sig = np.where(active, new, sig)
            active &= ~done
        return bY[:, im] - prev * ba[:, im], sig**2 * ainv_m

    return at


def _sensitivity_probit(data, x, m, y, *, covariates, rhos, ci_level, n_sims, seed, mediator_model,
                        outcome_model, rho12="model"):
    """The probit-outcome ("bo") and probit-mediator ("bm") curves of ``medsens`` (see :func:`sensitivity`).

    ``rho12="medsens"`` reproduces medsens 4.5.1's formula ``sigma2 g / (1 + |sigma2 g|)`` for the
    probit-outcome case (used by the tests to match medsens); the default is the model's
    ``sigma2 g / sqrt(1 + sigma2^2 g^2)``."""
    Xa, Xb, M, Y, n = _prepare(data, x, [m], y, list(covariates))
    M = M[:, 0]
    rhos = np.asarray(rhos, float)
    if np.any(np.abs(rhos) >= 1):
        raise DataError("rhos must lie strictly between -1 and 1", where="argument rhos")
    n_sims = int(n_sims)
    if n_sims < 2:
        raise DataError(f"n_sims must be at least 2, got {n_sims}", where="argument n_sims")
    rng = as_rng(seed)
    grid = np.append(rhos, 0.0)           # the last column: rho = 0
    R = len(grid)
    X1, X0 = Xa.copy(), Xa.copy()
    X1[:, 1], X0[:, 1] = 1.0, 0.0
    alpha = (1 - ci_level) / 2
    common = {"x": x, "m": m, "y": y, "n": n, "mediator_model": mediator_model, "outcome_model": outcome_model, "n_sims": n_sims}

    def failed(reason):
        nan = np.full(len(rhos), np.nan)
        tab = pd.DataFrame({"rho": rhos, "acme": nan, "ci_low": nan, "ci_high": nan, "acme_control": nan,
                            "acme_treated": nan, "rsq_prod_residual": rhos**2, "rsq_prod_total": nan})
        return SensitivityResult(rho_at_zero=np.nan, rsq_prod_residual=np.nan, rsq_prod_total=np.nan,
                                 r2_mediator=np.nan, r2_outcome=np.nan, acme_at_zero_rho=np.nan, table=tab,
                                 converged=False, reason=reason, **common)

    if outcome_model == "probit":
        _binary(Y, y, "outcome")
        bm, Vm, s2 = _ols(Xa, M)
        df = n - Xa.shape[1]
        by, Vy, why = _probit_fit(Xb, Y, "outcome")
        if why:
            return failed(why)
        r2m = float(1 - np.sum((M - Xa @ bm) ** 2) / np.sum((M - M.mean()) ** 2))
        r2y = _latent_r2(Xb, by)
        Ms = bm + rng.standard_normal((n_sims, len(bm))) @ _chol(Vm).T
        Ys = by + rng.standard_normal((n_sims, len(by))) @ _chol(Vy).T
        sig = s2 * np.sqrt(df / rng.chisquare(df, n_sims))
        xg = sig * Ys[:, 2]
        r12 = xg / (1 + np.abs(xg)) if rho12 == "medsens" else xg / np.sqrt(1 + xg**2)
        keep = [0, 1, *range(3, Xb.shape[1])]                     # outcome coefficients without the mediator
        YT = Ys[:, keep] * np.sqrt(1 - r12**2)[:, None] + Ms * (r12 / sig)[:, None]
        L1, L0 = YT @ X1.T, YT @ X0.T                             # (S, n) reduced-form indices
        b2 = Ms[:, 1]
        d0 = np.empty((n_sims, R))
        d1 = np.empty((n_sims, R))
        step = max(1, _BLOCK // (n_sims * n))
        for r0 in range(0, R, step):                              # blocks of the rho grid (memory)
            g = grid[r0:r0 + step]
            gam = (-g + r12[:, None] * np.sqrt((1 - g**2) / (1 - r12[:, None] ** 2))) / sig[:, None]
            s1 = np.sqrt(gam**2 * sig[:, None] ** 2 + 2 * gam * g * sig[:, None] + 1)
            sh = (gam * b2[:, None] / s1)[:, :, None]
            d0[:, r0:r0 + step] = (special.ndtr(L0[:, None, :] + sh) - special.ndtr(L0)[:, None, :]).mean(-1)
            d1[:, r0:r0 + step] = (special.ndtr(L1)[:, None, :] - special.ndtr(L1[:, None, :] - sh)).mean(-1)
        xh = s2 * by[2]
        rho_star = float(xh / (1 + abs(xh)) if rho12 == "medsens" else xh / np.sqrt(1 + xh**2))
    else:
        _binary(M, m, "mediator")
        arms = np.unique(Xa[:, 1])
        if arms.size <= 2:
            for arm in arms:
                lv = np.unique(M[Xa[:, 1] == arm])
                if lv.size < 2:
                    raise DataError(f"binary mediator {m!r} takes only the value {lv[0]:g} in the arm {x} = {arm:g}: "
                                    "its probit model is perfectly separated by the treatment",
                                    where=f"column {m!r}", expected="both 0 and 1 in every treatment arm")
        bmed, Vm, why = _probit_fit(Xa, M, "mediator")
        if why:
            return failed(why)
        byo, _, _ = _ols(Xb, Y)
        r2m = _latent_r2(Xa, bmed)
        r2y = float(1 - np.sum((Y - Xb @ byo) ** 2) / np.sum((Y - Y.mean()) ** 2))
        Ms = bmed + rng.standard_normal((n_sims, len(bmed))) @ _chol(Vm).T
        mu, mu1, mu0 = Ms @ Xa.T, Ms @ X1.T, Ms @ X0.T
        lam = _mills(mu, M)
        delta = (special.ndtr(mu1) - special.ndtr(mu0)).mean(1)
        z = rng.standard_normal(n_sims)        # one normal per draw, shared by the rhos (a smooth curve)
        d0 = np.empty((n_sims, R))
        fgls = _fgls(Xb, Y, lam, mu, 2)
        for r, g in enumerate(grid):                              # the rho grid; draws are batched
            bmr, vr = fgls(g)
            d0[:, r] = (bmr + np.sqrt(vr) * z) * delta
        d1 = d0

        mu_hat = (Xa @ bmed)[None, :]
        fgls_hat = _fgls(Xb, Y, _mills(mu_hat, M), mu_hat, 2)

        def beta_at(rho):
            return float(fgls_hat(rho)[0][0])

        lo_b, hi_b = beta_at(-0.999), beta_at(0.999)
        rho_star = float(optimize.brentq(beta_at, -0.999, 0.999, xtol=1e-12)) if lo_b * hi_b < 0 else np.nan

    avg = (d0 + d1) / 2
    lo, hi = np.quantile(avg[:, :-1], [alpha, 1 - alpha], axis=0)
    tab = pd.DataFrame({"rho": rhos, "acme": avg[:, :-1].mean(0), "ci_low": lo, "ci_high": hi,
                        "acme_control": d0[:, :-1].mean(0), "acme_treated": d1[:, :-1].mean(0),
                        "rsq_prod_residual": rhos**2, "rsq_prod_total": rhos**2 * (1 - r2m) * (1 - r2y)})
    return SensitivityResult(rho_at_zero=rho_star, rsq_prod_residual=rho_star**2,
                             rsq_prod_total=rho_star**2 * (1 - r2m) * (1 - r2y), r2_mediator=r2m, r2_outcome=r2y,
                             acme_at_zero_rho=float(avg[:, -1].mean()), table=tab,
                             draws={"acme_control": d0[:, :-1], "acme_treated": d1[:, :-1]}, **common)
