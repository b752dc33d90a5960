"""Small-study effects and publication bias.

:func:`egger_test` is metafor's ``regtest()`` (Egger et al. 1997), :func:`trim_and_fill` is
``trimfill()`` (Duval & Tweedie 2000), :func:`pet_peese` the conditional PET-PEESE estimator
(Stanley & Doucouliagos 2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..results import ResultMixin
from .univariate import RMAResult, _fit_of, random_effects

__all__ = ["EggerResult", "egger_test", "TrimFillResult", "trim_and_fill", "PETPEESEResult", "pet_peese"]


@dataclass(repr=False)
class EggerResult(ResultMixin):
    """Result of :func:`egger_test` (metafor ``regtest()``).

    Attributes
    ----------
    statistic, pvalue : float
        The test of the ``sei`` slope (z, or t with ``df`` under ``test="knha"``).
    df : int
        Residual degrees of freedom (k - 2).
    test : {"z", "t"}
        The reference distribution of ``statistic``.
    limit_estimate, limit_ci_low, limit_ci_high : float
        The intercept: the effect as the standard error goes to 0, with its interval.
    """

    statistic: float
    pvalue: float
    df: int
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    test: str = "z"

    _headline = ("statistic", "pvalue", "df", "limit_estimate", "limit_ci_low", "limit_ci_high")
    _title = "Egger's regression test for funnel plot asymmetry"

    def to_frame(self) -> pd.DataFrame:
        """One row: test, statistic, df, pvalue, limit_estimate, limit_ci_low, limit_ci_high."""
        return pd.DataFrame([{"test": self.test, "statistic": self.statistic, "df": self.df, "pvalue": self.pvalue,
                              "limit_estimate": self.limit_estimate, "limit_ci_low": self.limit_ci_low,
                              "limit_ci_high": self.limit_ci_high}])


@dataclass(repr=False)
class PETPEESEResult(ResultMixin):
    """Result of :func:`pet_peese`: the PET and PEESE meta-regressions and the conditional estimate.

    ``estimate``, ``ci_low``, ``ci_high`` (and ``ci``) are those of the ``chosen`` model ("PET" or
    "PEESE"); ``pet_*`` and ``peese_*`` are each model's intercept (``estimate``, ``se``,
    ``pvalue``) and slope.
    """

    pet_estimate: float
    pet_se: float
    pet_pvalue: float
    pet_slope: float
    peese_estimate: float
    peese_se: float
    peese_pvalue: float
    peese_slope: float
    chosen: str
    estimate: float
    ci_low: float
    ci_high: float

    _headline = ("estimate", "ci", "chosen", "pet_estimate", "pet_pvalue", "peese_estimate")
    _title = "PET-PEESE (Stanley & Doucouliagos, 2014)"

    @property
    def ci(self) -> tuple:
        return self.ci_low, self.ci_high

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([{f: getattr(self, f) for f in (
            "pet_estimate", "pet_se", "pet_pvalue", "pet_slope", "peese_estimate", "peese_se", "peese_pvalue",
            "peese_slope", "chosen", "estimate", "ci_low", "ci_high")}])


# --------------------------------------------------------------------------- small-study effects
def egger_test(res):
    """Egger's regression test as metafor ``regtest()`` default.

    The mixed-effects model ``rma(yi, vi, mods = ~ sei, method = res.method)`` is fitted; the
    test of the ``sei`` slope gives ``statistic``/``pvalue`` and its intercept is the limit estimate
    (effect as the standard error goes to 0; Egger et al., 1997; Sterne & Egger, 2005).

    Returns
    -------
    EggerResult

    Examples
    --------
    >>> from efficacy.meta import escalc, random_effects
    >>> es = escalc(measure="ZCOR", ri=[0.30, 0.15, 0.42, 0.25, 0.05], ni=[120, 80, 60, 200, 150])
    >>> eg = egger_test(random_effects(es))
    >>> round(eg.statistic, 3), round(eg.pvalue, 3)
    (0.892, 0.373)
    """
    y, v = _fit_of(res)
    m = random_effects(yi=y, vi=v, mods=np.sqrt(v), method=res.method, test=res.test, ci_level=res.ci_level,
                       _r2=False)
    t = m.coef_table
    return EggerResult(statistic=float(t["statistic"].iloc[1]), pvalue=float(t["pvalue"].iloc[1]), df=m.k - 2,
                       limit_estimate=float(t["estimate"].iloc[0]), limit_ci_low=float(t["ci_low"].iloc[0]),
                       limit_ci_high=float(t["ci_high"].iloc[0]), test="z" if res.test == "z" else "t")


@dataclass
class TrimFillResult(ResultMixin):
    """Trim-and-fill result: ``k0`` missing studies on ``side``, the filled model and the imputed studies.

    ``estimate`` and ``ci`` are the filled model's pooled effect.
    """

    k0: int
    se_k0: float
    side: str
    model: RMAResult
    filled: pd.DataFrame

    _headline = ("k0", "se_k0", "side", "estimate", "ci")
    _title = "Trim and fill (Duval & Tweedie, 2000)"

    @property
    def estimate(self) -> float:
        return self.model.estimate

    @property
    def ci(self) -> tuple:
        return self.model.ci_low, self.model.ci_high

    def to_frame(self) -> pd.DataFrame:
        """The filled model's table (:meth:`RMAResult.to_frame`) with ``k0``, ``se_k0`` and ``side``."""
        return self.model.to_frame().assign(k0=self.k0, se_k0=self.se_k0, side=self.side)

    def __repr__(self):
        return (f"TrimFillResult(k0={self.k0}, side={self.side!r}, estimate={self.model.estimate:.4f}, "
                f"ci=[{self.model.ci_low:.4f}, {self.model.ci_high:.4f}])")


def trim_and_fill(res, side=None, maxiter=100):
    """Duval & Tweedie (2000) trim and fill with the L0 estimator (metafor ``trimfill()``).

    ``side=None`` chooses the side as metafor: the side opposite to the sign of the slope of
    ``sei`` in ``rma(yi, vi, mods = ~ sei)`` fitted with the model's method ("right" when the
    slope is negative). Returns the refitted model on observed plus imputed studies.

    Examples
    --------
    >>> from efficacy.meta import escalc, random_effects
    >>> es = escalc(measure="ZCOR", ri=[0.30, 0.15, 0.42, 0.25, 0.05], ni=[120, 80, 60, 200, 150])
    >>> tf = trim_and_fill(random_effects(es))
    >>> tf.k0, tf.side, round(tf.model.estimate, 4)
    (1, 'left', 0.1932)
    """
    y0, v0 = _fit_of(res)
    k = y0.size
    if side is None:
        m = random_effects(yi=y0, vi=v0, mods=np.sqrt(v0), method=res.method, _r2=False)
        side = "right" if m.coef[1] < 0 else "left"
    y = -y0 if side == "right" else y0.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], v0[order]
    k0, k0_prev, it = 0, -1, 0
    se_k0 = np.nan
    beta = np.nan
    while k0 != k0_prev and it < maxiter:
        k0_prev = k0
        it += 1
        keep = k - k0
        beta = random_effects(yi=y[:keep], vi=v[:keep], method=res.method, _r2=False).estimate
        yc = y - beta
        ranks = stats.rankdata(np.abs(yc), method="ordinal")
        Sr = ranks[yc > 0].sum()
        k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f - 18 * k * k0f**2
                  - 18 * k * k0f + 6 * k**2 * k0f) / 24
        se_k0 = 4 * np.sqrt(var_sr) / (2 * k - 1)
        k0 = int(max(0, np.round(k0f)))
        k0 = min(k0, k - 1)
    if k0 > 0:
        yf = 2 * beta - y[k - k0:]
        vf = v[k - k0:]
        if side == "right":
            yf = -yf
    else:
        yf, vf = np.array([]), np.array([])
    model = random_effects(yi=np.r_[y0, yf], vi=np.r_[v0, vf], method=res.method, test=res.test,
                           ci_level=res.ci_level)
    filled = pd.DataFrame({"yi": yf, "vi": vf, "filled": True})
    return TrimFillResult(k0=k0, se_k0=float(se_k0), side=side, model=model, filled=filled)


def pet_peese(res, alpha=0.05):
    """PET-PEESE (Stanley & Doucouliagos, 2014) as meta-regressions on ``sei`` and ``vi``.

    PET: ``rma(yi, vi, mods = ~ sei)``; PEESE: ``rma(yi, vi, mods = ~ vi)``, both with the
    model's method. The conditional estimate is PEESE's intercept when PET's intercept differs
    from zero at two-sided ``alpha``, else PET's intercept.

    Returns
    -------
    PETPEESEResult
    """
    y, v = _fit_of(res)
    pet = random_effects(yi=y, vi=v, mods=np.sqrt(v), method=res.method, test=res.test, _r2=False)
    peese = random_effects(yi=y, vi=v, mods=v, method=res.method, test=res.test, _r2=False)
    use = "PEESE" if pet.pvalue < alpha else "PET"
    chosen = peese if use == "PEESE" else pet
    return PETPEESEResult(pet_estimate=pet.estimate, pet_se=pet.se, pet_pvalue=pet.pvalue,
                          pet_slope=float(pet.coef[1]), peese_estimate=peese.estimate, peese_se=peese.se,
                          peese_pvalue=peese.pvalue, peese_slope=float(peese.coef[1]), chosen=use,
                          estimate=chosen.estimate, ci_low=chosen.ci_low, ci_high=chosen.ci_high)
