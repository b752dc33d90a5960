"""Sensitivity of the indirect effect to sequential ignorability (Imai, Keele & Yamamoto 2010).

The closed-form ACME(rho) curve for a linear mediator and a linear outcome model without
interaction, as R's ``mediation::medsens``: how strongly would the residuals of the mediator and
outcome models have to be correlated (an unobserved common cause of efficacy and behaviour) for
the indirect effect to vanish?

References
----------
Imai, K., Keele, L., & Yamamoto, T. (2010). Identification, inference and sensitivity analysis for
causal mediation effects. *Statistical Science, 25*(1), 51-71.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._api import as_rng, renamed
from ..resampling import draw_counts
from ..results import ResultMixin
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

    _headline = ("rho_at_zero", "acme_at_zero_rho", "rsq_prod_residual", "rsq_prod_total", "n")
    _title = "Sensitivity to sequential ignorability (Imai, Keele & Yamamoto 2010)"

    def _summary_frame(self) -> pd.DataFrame:
        t = self.to_frame()
        return t.iloc[::10] if len(t) > 40 else t   # every 10th rho of the curve

    def to_frame(self) -> pd.DataFrame:
        """Columns: rho, acme, ci_low, ci_high, rsq_prod_residual, rsq_prod_total."""
        return self.table.copy()

    def __repr__(self):
        return (f"SensitivityResult({self.x} -> {self.m} -> {self.y}, n={self.n}: ACME(0)="
                f"{self.acme_at_zero_rho:.4f}, rho at ACME=0: {self.rho_at_zero:.4f}, "
                f"R2*M R2*Y={self.rsq_prod_residual:.4f}, R2~M R2~Y={self.rsq_prod_total:.4f})")


def _acme_curve(beta2, s1, s2, rt, rho):
    return beta2[..., None] * (s1 / s2)[..., None] * (
        rt[..., None] - rho * np.sqrt((1 - rt[..., None] ** 2) / (1 - rho**2)))


@renamed(level="ci_level", treatment="x", mediator="m", outcome="y")
def sensitivity(data, x, m, y, *, covariates=(), rhos=np.linspace(-0.9, 0.9, 181), ci_level=0.95,
                n_boot=1000, seed=None):
    """ACME as a function of the mediator-outcome error correlation rho.

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
    """
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
    r2m = 1 - np.sum((M[:, 0] - Xa @ np.linalg.lstsq(Xa, M[:, 0], rcond=None)[0]) ** 2) / np.sum(
        (M[:, 0] - M[:, 0].mean()) ** 2)
    r2y = 1 - np.sum((Y - Xb @ np.linalg.lstsq(Xb, Y, rcond=None)[0]) ** 2) / np.sum((Y - Y.mean()) ** 2)
    tab = pd.DataFrame({"rho": rhos, "acme": acme, "ci_low": lo, "ci_high": hi,
                        "rsq_prod_residual": rhos**2,
                        "rsq_prod_total": rhos**2 * (1 - r2m) * (1 - r2y)})
    acme0 = float(beta2 * s1 / s2 * rt)
    return SensitivityResult(x, m, y, n, float(rt), float(rt**2), float(rt**2 * (1 - r2m) * (1 - r2y)),
                             float(r2m), float(r2y), acme0, tab)
