"""Difference tests between nested SEMs and score tests of equality constraints (issue #18).

* :func:`lrt_difference` - the chi-square difference test of two nested fits, as
  ``lavaan::lavTestLRT(m1, m0, method = ...)``: the plain likelihood-ratio test for ML; for the
  robust ML estimators (MLR, MLM) the scaled difference of Satorra & Bentler (2001), or of
  Satorra & Bentler (2010), whose scaling factor comes from the less restricted model evaluated
  at the estimates of the more restricted one (never negative for nested models); for WLSMV the
  DWLS difference test of Satorra (2000) with the scale-shift of Asparouhov & Muthen (2010)
  (lavaan's ``method = "satorra.2000"``, ``scaled.shifted = TRUE``).
* :func:`score_test` - the score (Lagrange multiplier) test of releasing equality constraints
  of a fitted model, as the univariate tests of ``lavaan::lavTestScore(fit)`` (expected
  information; with FIML the observed information): ``g' I^-1 g`` with ``g`` the gradient of the
  log-likelihood of the released model at the restricted estimates (Rao, 1948; Sorbom, 1989).
  For WLSMV fits it is lavaan's (non-robust) DWLS version, ``N g' E^-1 g`` with ``g`` the gradient
  of the DWLS discrepancy and ``E`` the expected information ``sum_g (n_g / N) Delta_g' W_g Delta_g``
  (lavaan warns that it falls back to this "ordinary" score test for robust estimators).

References
----------
Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample analysis of moment
structures. In Heijmans, Pollock & Satorra (Eds.), *Innovations in multivariate statistical
analysis* (pp. 233-247). Kluwer.
Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test statistic for moment
structure analysis. *Psychometrika, 66*, 507-514.
Satorra, A., & Bentler, P. M. (2010). Ensuring positiveness of the scaled difference chi-square
test statistic. *Psychometrika, 75*, 243-248.
Asparouhov, T., & Muthen, B. (2010). Simple second order chi-square correction. Mplus technical
appendix.
Sorbom, D. (1989). Model modification. *Psychometrika, 54*, 371-384.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, stats

from ..errors import SEMError

__all__ = ["LRT_METHODS", "default_method", "lrt_difference", "score_test"]

#: difference-test methods (lavaan ``lavTestLRT(method=)`` names)
LRT_METHODS = ("standard", "satorra.bentler.2001", "satorra.bentler.2010", "satorra.2000")


def default_method(estimator: str) -> str:
    """lavaan 0.6's default ``lavTestLRT`` method for an estimator ("satorra.bentler.2001" for MLR/MLM)."""
    return {"ML": "standard", "MLR": "satorra.bentler.2001", "MLM": "satorra.bentler.2001",
            "WLSMV": "satorra.2000"}.get(estimator, "standard")


def _nan_result(method, m):
    return {"delta_chisq": np.nan, "delta_df": m, "pvalue": np.nan, "method": method, "scaling_factor": np.nan,
            "shift": np.nan}


def lrt_difference(m1, m0, *, method: str = "default", m10=None) -> dict:
    """Chi-square difference test of two nested models (``m0`` nested in ``m1``).

    Parameters
    ----------
    m1, m0 : SEMResult
        The less restricted and the more restricted fit (same data, same estimator).
    method : {"default", "standard", "satorra.bentler.2001", "satorra.bentler.2010", "satorra.2000"}
        "default": "standard" for ML, "satorra.bentler.2001" for MLR/MLM (lavaan 0.6's default),
        "satorra.2000" for WLSMV.
    m10 : SEMResult, optional
        For "satorra.bentler.2010": ``m1``'s model evaluated (not fitted) at ``m0``'s estimates,
        ``sem(..., at=m0.estimates)`` (lavaan's ``lav_test_diff_m10``).

    Returns
    -------
    dict
        ``delta_chisq`` (the scaled difference for robust estimators), ``delta_df``, ``pvalue``,
        ``method``, ``scaling_factor`` (the difference's scaling factor ``cd``; 1/a for
        "satorra.2000") and ``shift`` (b, "satorra.2000" only). Matches
        ``lavaan::lavTestLRT(m1, m0, method = )`` ("Chisq diff", "Df diff", "Pr(>Chisq)").
    """
    est = m1.estimator
    if m0.estimator != est:
        raise SEMError("difference test of fits with different estimators", found=f"{est} and {m0.estimator}")
    if method == "default":
        method = default_method(est)
    if method not in LRT_METHODS:
        raise SEMError("unknown difference-test method", found=repr(method), expected=", ".join(LRT_METHODS))
    if est == "ML" and method != "standard":
        method = "standard"   # lavaan: no robust statistics -> the standard difference test
    f1, f0 = m1.fit, m0.fit
    T1, T0 = f1["chisq"], f0["chisq"]
    r1, r0 = f1["df"], f0["df"]
    m = int(r0 - r1)
    if m <= 0:
        out = _nan_result(method, m)
        out["delta_chisq"] = T0 - T1
        return out
    if method == "standard":
        d = T0 - T1
        return {"delta_chisq": d, "delta_df": m, "pvalue": float(stats.chi2.sf(d, m)), "method": method,
                "scaling_factor": 1.0, "shift": 0.0}
    if method == "satorra.2000":
        if est != "WLSMV":
            raise SEMError("method 'satorra.2000' is implemented for WLSMV fits", found=f"estimator {est!r}")
        return _satorra2000(m1, m0, m)
    if est not in ("MLR", "MLM"):
        raise SEMError(f"method {method!r} needs MLR or MLM fits", found=f"estimator {est!r}")
    c1 = f1.get("chisq.scaling.factor", np.nan) if r1 > 0 else 1.0
    c0 = f0.get("chisq.scaling.factor", np.nan) if r0 > 0 else 1.0
    if method == "satorra.bentler.2010":
        if m10 is None:
            raise SEMError("method 'satorra.bentler.2010' needs m10 (m1 evaluated at m0's estimates)")
        c1 = m10.fit.get("chisq.scaling.factor", np.nan) if r1 > 0 else 1.0
    cd = (r0 * c0 - r1 * c1) / m
    if not (cd > 0):
        return _nan_result(method, m)
    d = (T0 - T1) / cd
    return {"delta_chisq": float(d), "delta_df": m, "pvalue": float(stats.chi2.sf(d, m)), "method": method,
            "scaling_factor": float(cd), "shift": 0.0}


def _complement(H):
    """Orthonormal basis (as rows) of the orthogonal complement of the column space of H."""
    if H.shape[1] == 0:
        return np.eye(H.shape[0])
    return linalg.null_space(H.T, rcond=1e-7).T


def _satorra2000(m1, m0, m):
    """Satorra (2000) DWLS difference test, scale-shifted (lavaan ``lav_test_diff_Satorra2000``, H1 = TRUE).

    ``A`` spans the restrictions: the orthogonal complement of ``H = Delta1^+ Delta0`` (lavaan's
    ``A.method = "delta"``); with ``P = E1^-1`` (inverse information of m1), ``PAAPAAP =
    P A' (A P A')^+ A P`` and ``U Gamma = V Delta1 PAAPAAP Delta1' V Gamma``, ``a = sqrt(m / tr((U
    Gamma)^2))``, ``b = m - a tr(U Gamma)`` and the statistic is ``a (T0 - T1) + b``.
    """
    i1, i0 = getattr(m1, "wls_inference", None), getattr(m0, "wls_inference", None)
    if i1 is None or i0 is None:
        return _nan_result("satorra.2000", m)
    D1, D0 = i1["D"], i0["D"]
    if D1.shape[0] != D0.shape[0]:
        raise SEMError("the DWLS difference test needs fits to the same sample statistics",
                       found=f"{D1.shape[0]} and {D0.shape[0]} statistics")
    H = np.linalg.pinv(D1) @ D0
    A = _complement(H)
    P = i1["Einv"]
    APA = A @ P @ A.T
    tiny = np.sqrt(np.finfo(float).eps)
    keep = ~((np.abs(APA.sum(axis=0)) < tiny) & (np.abs(APA.sum(axis=1)) < tiny))
    A = A[keep]
    PA = P @ A.T
    PAAPAAP = PA @ np.linalg.pinv(A @ PA) @ PA.T
    v = i1["v"]
    VD = v[:, None] * D1
    UG = (VD @ PAAPAAP @ VD.T) @ i1["Gamma"]
    tr1 = float(np.trace(UG))
    tr2 = float(np.sum(UG * UG.T))
    a = np.sqrt(m / tr2)
    b = m - a * tr1
    d = (m0.fit["chisq"] - m1.fit["chisq"]) * a + b
    return {"delta_chisq": float(d), "delta_df": m, "pvalue": float(stats.chi2.sf(d, m)), "method": "satorra.2000",
            "scaling_factor": float(1 / a), "shift": float(b)}


def score_test(restricted, released) -> dict:
    """Score test of the constraints that ``released`` drops from ``restricted``.

    Parameters
    ----------
    restricted : SEMResult
        The fitted (constrained) model.
    released : SEMResult
        The model with the constraints released, evaluated at ``restricted``'s estimates:
        ``sem(..., partial=..., at=restricted.estimates)`` (it carries ``evaluated``).

    Returns
    -------
    dict
        ``statistic`` (``g' I^-1 g``), ``df`` (number of released constraints), ``pvalue``. For one
        released equality this is lavaan's univariate ``lavTestScore(fit)$uni`` ``X2``.
    """
    ev = getattr(released, "evaluated", None)
    if ev is None:
        raise SEMError("score_test needs the released model evaluated at the restricted estimates",
                       expected="sem(..., at=restricted.estimates)")
    df = int(released.fit["npar"] - restricted.fit["npar"])
    g, info = ev["gradient"], ev["information"]
    if restricted.estimator == "WLSMV":   # per-case DWLS gradient and information (efficacy.sem.wls)
        g = g * np.sqrt(restricted.n)
    try:
        stat = float(g @ np.linalg.solve(info, g))
    except np.linalg.LinAlgError:
        stat = float(g @ np.linalg.pinv(info) @ g)
    return {"statistic": stat, "df": df, "pvalue": float(stats.chi2.sf(stat, df)) if df > 0 else np.nan}
