"""Effect sizes and their sampling variances, and conversions between them.

:func:`escalc` is metafor's ``escalc()`` for the measures efficacy studies report (SMD with
Hedges' correction, MD, COR, ZCOR, OR, RR, RD); :func:`d_to_r`, :func:`r_to_d`,
:func:`d_to_logor`, :func:`logor_to_d` are the conversions of Borenstein et al. (2009, ch. 7);
:func:`transf` back-transforms pooled estimates.

References
----------
Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009). *Introduction to
meta-analysis*. Wiley.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._api import column, data_or_none
from ..errors import MetaError

__all__ = ["escalc", "d_to_r", "r_to_d", "d_to_logor", "logor_to_d", "transf"]

MEASURES = ("SMD", "MD", "COR", "ZCOR", "OR", "RR", "RD")


# --------------------------------------------------------------------------- effect sizes
def _col(data, value, name):
    if value is None:
        return None
    return np.asarray(column(data, value, name), dtype=float)


def _need(cols, names, measure):
    missing = [n for n in names if cols.get(n) is None]
    if missing:
        raise MetaError(f"measure {measure} needs {', '.join(missing)}", found="missing arguments",
                        expected=", ".join(names))


def escalc(data=None, measure=None, *, add=0.5, to="only0", **columns):
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor ``escalc()``).

    Parameters
    ----------
    data : pandas.DataFrame, optional
        Table holding the columns named in ``columns`` (values may also be arrays, then ``data``
        is omitted: ``escalc(measure="COR", ri=[...], ni=[...])``).
    measure : {"SMD", "MD", "COR", "ZCOR", "OR", "RR", "RD"}
        ``SMD``: bias-corrected standardised mean difference (Hedges' g) with metafor's exact
        correction ``J = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))``, ``m = n1+n2-2``
        and ``vi = 1/n1 + 1/n2 + g^2/(2(n1+n2))`` (Hedges, 1981); from ``m1i, sd1i, n1i, m2i,
        sd2i, n2i``, or from a t statistic ``ti`` (or ``Fi`` with one numerator df, sign taken
        from ``ti``/positive) with ``n1i, n2i`` when means are missing.
        ``MD``: raw mean difference, ``vi = sd1^2/n1 + sd2^2/n2``.
        ``COR``: raw r, ``vi = (1-r^2)^2/(n-1)``; ``ZCOR``: Fisher z, ``vi = 1/(n-3)``; from ``ri, ni``.
        ``OR``/``RR``/``RD``: log odds ratio, log risk ratio, risk difference from the 2x2 cells
        ``ai, bi, ci, di`` (or ``ai, n1i, ci, n2i``).
    add, to : float, str
        Continuity correction as metafor's default (``add=1/2, to="only0"``): 0.5 is added to
        every cell of a 2x2 table that has a zero cell (OR, RR and RD, as metafor 3.8).
        ``to="none"`` disables it; ``to="all"`` adds to every table. A log ratio that is then
        infinite (a zero cell left uncorrected) is NA, as metafor recodes +-Inf to NA.

    Returns
    -------
    pandas.DataFrame
        The input columns (when ``data`` is given) plus ``yi``, ``vi`` and ``note`` (the
        correction applied, or why a row is NA).

    Examples
    --------
    >>> es = escalc(measure="COR", ri=[0.30, 0.15], ni=[120, 80])
    >>> es["vi"].round(5).tolist()
    [0.00696, 0.0121]
    >>> escalc(measure="OR", ai=[0], bi=[10], ci=[3], di=[7])["note"][0]
    "zero cell: 0.5 added to each cell (metafor add=1/2, to='only0')"

    Notes
    -----
    Matches ``metafor::escalc``. A correlation outside (-1, 1), a sample size too small for the
    variance, or a non-positive SD raises :class:`MetaError` naming the row.
    """
    if isinstance(data, str):
        raise TypeError(f"escalc(): the first argument is the data table; give the measure by keyword, "
                        f"escalc(data, measure={data!r}, ...) or escalc(measure={data!r}, ...)")
    data = data_or_none(data, "escalc", "ri=..., ni=...")
    if measure is None:
        raise TypeError("escalc() needs measure= (e.g. 'SMD', 'COR', 'ZCOR', 'OR', 'RR', 'RD', 'MD')")
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise MetaError(f"unknown measure {measure!r}", found=measure, expected=", ".join(MEASURES))
    cols = {k: _col(data, v, k) for k, v in columns.items()}
    note = None
    if measure in ("SMD", "MD"):
        if measure == "SMD" and cols.get("m1i") is None and (cols.get("ti") is not None or cols.get("Fi") is not None):
            _need(cols, ["n1i", "n2i"], measure)
            n1, n2 = cols["n1i"], cols["n2i"]
            t = cols.get("ti")
            if t is None:
                t = np.sqrt(cols["Fi"])
            d = t * np.sqrt(1 / n1 + 1 / n2)
        else:
            _need(cols, ["m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"], measure)
            n1, n2, s1, s2 = cols["n1i"], cols["n2i"], cols["sd1i"], cols["sd2i"]
            for nm, arr in (("sd1i", s1), ("sd2i", s2)):
                bad = np.flatnonzero(~(arr > 0) & ~np.isnan(arr))
                if bad.size:
                    raise MetaError("standard deviation must be positive", where=f"row {bad[0]}, column {nm}",
                                    found=arr[bad[0]], expected="> 0")
            diff = cols["m1i"] - cols["m2i"]
            if measure == "MD":
                yi, vi = diff, s1**2 / n1 + s2**2 / n2
                return _es_frame(data, yi, vi, note)
            sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
            d = diff / sp
        m = n1 + n2 - 2
        from scipy.special import gammaln

        J = np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))
        yi = J * d
        vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    elif measure in ("COR", "ZCOR"):
        _need(cols, ["ri", "ni"], measure)
        r, n = cols["ri"], cols["ni"]
        bad = np.flatnonzero(~(np.abs(r) < 1) & ~np.isnan(r))
        if bad.size:
            raise MetaError("correlation outside (-1, 1)", where=f"row {bad[0]}, column ri",
                            found=r[bad[0]], expected="-1 < r < 1")
        lim = 3 if measure == "ZCOR" else 1
        bad = np.flatnonzero(~(n > lim) & ~np.isnan(n))
        if bad.size:
            raise MetaError("sample size too small for the sampling variance", where=f"row {bad[0]}, column ni",
                            found=n[bad[0]], expected=f"> {lim}")
        if measure == "COR":
            yi, vi = r, (1 - r**2) ** 2 / (n - 1)
        else:
            yi, vi = np.arctanh(r), 1 / (n - 3)
    else:
        ai, ci = cols.get("ai"), cols.get("ci")
        bi, di = cols.get("bi"), cols.get("di")
        if bi is None and cols.get("n1i") is not None and ai is not None:
            bi = cols["n1i"] - ai
        if di is None and cols.get("n2i") is not None and ci is not None:
            di = cols["n2i"] - ci
        _need({"ai": ai, "bi": bi, "ci": ci, "di": di}, ["ai", "bi", "ci", "di"], measure)
        cells = np.column_stack([ai, bi, ci, di])
        neg = np.argwhere(cells < 0)
        if neg.size:
            raise MetaError("negative cell count", where=f"row {neg[0][0]}, column {['ai','bi','ci','di'][neg[0][1]]}")
        # metafor corrects the tables of all three 2x2 measures (RD too)
        if to == "all":
            fix = np.ones(len(cells), bool)
        elif to == "only0":
            fix = (cells == 0).any(axis=1)
        else:
            fix = np.zeros(len(cells), bool)
        cells = cells + np.where(fix[:, None], add, 0.0)
        if fix.any() and to != "all":
            note = np.where(fix, f"zero cell: {add} added to each cell (metafor add=1/2, to='only0')", None)
        ai, bi, ci, di = cells.T
        n1, n2 = ai + bi, ci + di
        with np.errstate(divide="ignore", invalid="ignore"):  # uncorrected zero cells (to="none")
            if measure == "OR":
                yi = np.log(ai * di / (bi * ci))
                vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
            elif measure == "RR":
                yi = np.log((ai / n1) / (ci / n2))
                vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
            else:
                p1, p2 = ai / n1, ci / n2
                yi = p1 - p2
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        yi, vi = np.where(np.isinf(yi), np.nan, yi), np.where(np.isinf(vi), np.nan, vi)  # metafor: +-Inf -> NA
    return _es_frame(data, yi, vi, note)


def _es_frame(data, yi, vi, note):
    out = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(index=range(len(yi)))
    out = out.reset_index(drop=True)
    out["yi"] = np.asarray(yi, float)
    out["vi"] = np.asarray(vi, float)
    out["note"] = pd.Series(note if note is not None else [None] * len(out), dtype=object)
    return out


def d_to_r(d, n1=None, n2=None):
    """Convert a standardised mean difference to a correlation (Borenstein et al. 2009, eq. 7.5).

    ``r = d / sqrt(d^2 + a)`` with ``a = (n1+n2)^2/(n1 n2)`` (``a = 4`` when group sizes are
    not given or equal).
    """
    a = 4.0 if n1 is None else (np.asarray(n1) + np.asarray(n2)) ** 2 / (np.asarray(n1) * np.asarray(n2))
    d = np.asarray(d, float)
    return d / np.sqrt(d**2 + a)


def r_to_d(r):
    """Convert a correlation to d: ``d = 2r / sqrt(1 - r^2)`` (Borenstein et al. 2009, eq. 7.6)."""
    r = np.asarray(r, float)
    return 2 * r / np.sqrt(1 - r**2)


def d_to_logor(d):
    """Convert d to a log odds ratio: ``log OR = d pi / sqrt(3)`` (Borenstein et al. 2009, eq. 7.2)."""
    return np.asarray(d, float) * np.pi / np.sqrt(3)


def logor_to_d(logor):
    """Convert a log odds ratio to d: ``d = log OR sqrt(3) / pi`` (Borenstein et al. 2009, eq. 7.1)."""
    return np.asarray(logor, float) * np.sqrt(3) / np.pi


def transf(x, measure):
    """Back-transform for display (metafor ``transf.ztor``, ``exp``): ZCOR -> r; OR/RR -> ratio."""
    measure = str(measure).upper()
    x = np.asarray(x, float)
    if measure == "ZCOR":
        return np.tanh(x)
    if measure in ("OR", "RR"):
        return np.exp(x)
    return x
