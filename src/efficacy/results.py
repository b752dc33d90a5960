"""One interface for every result object (see CONTRIBUTING.md).

Every analysis in efficacy returns an object with

- attributes for its headline numbers (``res.indirect``, ``res.ci``, ``res.tau2``, ...; listed
  in the class's ``_headline`` and returned together by :meth:`ResultMixin.headline`);
- :meth:`~ResultMixin.to_frame` - a tidy :class:`pandas.DataFrame` with the column names of
  :data:`COLUMNS` (``estimate``, ``se``, ``statistic``, ``df``, ``pvalue``, ``ci_low``,
  ``ci_high``, ``std_all``) beside lavaan's/metafor's names for model-specific quantities;
- :meth:`~ResultMixin.summary` - a short APA-style plain-text table (a str, like
  ``statsmodels``' ``summary()``);
- :meth:`~ResultMixin.to_dict` - a JSON-serialisable dict (``json.dumps(res.to_dict())``);
- ``_repr_html_`` - the rich display in a notebook, and a readable ``repr``.

:class:`ResultMixin` gives all of these from ``to_frame()`` and ``_headline``; a result class
overrides a method only when it has something better to say. :class:`TableResult` is the
result of an analysis whose answer is one table (leave-one-out, item analysis, ...).

This module sits below the statistics (it imports only numpy and pandas).
"""

from __future__ import annotations

import dataclasses
import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "COLUMN_ALIASES", "ResultMixin", "FitMeasures", "TableResult", "jsonable", "format_table"]

#: the column names of every tidy table (``to_frame()`` and the workflow's CSV files)
COLUMNS = ("estimate", "se", "statistic", "df", "pvalue", "ci_low", "ci_high", "std_all")

#: names these columns must not have (the names other packages use for them): alias -> name
COLUMN_ALIASES = {
    "est": "estimate", "coef": "estimate", "std_estimate": "std_all", "std.all": "std_all",
    "std_err": "se", "se_est": "se",
    "z": "statistic", "t": "statistic", "zval": "statistic", "tval": "statistic", "z_value": "statistic",
    "t_value": "statistic",
    "p": "pvalue", "pval": "pvalue", "p_value": "pvalue", "p-value": "pvalue", "p.value": "pvalue",
    "lower": "ci_low", "upper": "ci_high", "ci_lower": "ci_low", "ci_upper": "ci_high", "ci.lower": "ci_low",
    "ci.upper": "ci_high", "ci_lb": "ci_low", "ci_ub": "ci_high", "ci.lb": "ci_low", "ci.ub": "ci_high",
    "lo": "ci_low", "hi": "ci_high",
}

_SKIP = object()
_MAX_ROWS = 40


def jsonable(obj):
    """``obj`` as plain JSON types: numbers, str, bool, None, lists and dicts.

    numpy scalars and arrays become Python numbers and lists, non-finite floats ``None``,
    DataFrames a list of row records, Series a dict, result objects their :meth:`to_dict`.
    Objects without a JSON form (fitted model objects, functions) are left out of containers.
    """
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, complex):
        return _SKIP
    if isinstance(obj, ResultMixin):
        return obj.to_dict()
    if isinstance(obj, pd.DataFrame):
        return [jsonable({str(k): v for k, v in rec.items()}) for rec in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            j = jsonable(v)
            if j is not _SKIP:
                out[str(k)] = j
        return out
    if isinstance(obj, (list, tuple, set, frozenset, pd.Index)):
        return [j for j in (jsonable(v) for v in obj) if j is not _SKIP]
    if obj is pd.NA or obj is pd.NaT:
        return None
    return _SKIP


def _fmt(v, pcol=False) -> str:
    """One table cell: numbers with 3-4 decimals (p-values APA style), NaN as empty."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if not math.isfinite(x):
            return "" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if pcol:
            return "<.001" if x < 0.001 else f"{x:.3f}".replace("0.", ".", 1) if x < 1 else "1.000"
        if x == int(x) and abs(x) < 1e9:
            return f"{int(x)}"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.3e}"
        return f"{x:.4f}" if abs(x) < 1000 else f"{x:.2f}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(u) for u in v) + "]"
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _is_p(name) -> bool:
    n = str(name)
    return n == "pvalue" or n.endswith("_pvalue")


def format_table(df: pd.DataFrame, max_rows: int = _MAX_ROWS) -> str:
    """A DataFrame as an aligned plain-text table (numbers formatted as in :meth:`ResultMixin.summary`)."""
    if df is None or len(df.columns) == 0:
        return "(empty table)"
    d = df
    more = 0
    if len(d) > max_rows:
        more = len(d) - max_rows
        d = d.iloc[:max_rows]
    keep = [c for c in d.columns
            if not (d[c].isna().all() or (d[c].dtype == object and d[c].astype(str).isin(["", "nan", "None"]).all()))]
    d = d[keep] if keep else d
    cols = []
    for c in d.columns:
        vals = [_fmt(v, _is_p(c)) for v in d[c]]
        left = not (pd.api.types.is_numeric_dtype(d[c]) or pd.api.types.is_bool_dtype(d[c]))
        w = max([len(str(c)), *(len(v) for v in vals)])
        cols.append([str(c).ljust(w) if left else str(c).rjust(w)]
                    + [v.ljust(w) if left else v.rjust(w) for v in vals])
    lines = ["  ".join(parts).rstrip() for parts in zip(*cols)]
    text = "\n".join(lines) + ("" if len(d) else "\n(no rows)")
    return text + (f"\n... ({more} more rows; see to_frame())" if more else "")


def _wrap(pairs, width=78):
    lines, cur = [], ""
    for p in pairs:
        if cur and len(cur) + 3 + len(p) > width:
            lines.append(cur)
            cur = p
        else:
            cur = f"{cur}   {p}" if cur else p
    if cur:
        lines.append(cur)
    return lines


class ResultMixin:
    """The common interface of result objects (mixed into every result dataclass).

    A class sets ``_headline`` (names of its headline attributes), optionally ``_title`` and
    ``_summary_columns``, and implements :meth:`to_frame`; everything else follows.
    """

    #: names of the headline attributes (numbers the reader wants first)
    _headline: tuple = ()
    #: first line of :meth:`summary`
    _title: str = ""
    #: columns of :meth:`to_frame` shown by :meth:`summary` (all when empty)
    _summary_columns: tuple = ()
    #: fields left out of :meth:`to_dict` (large or not serialisable)
    _dict_skip: tuple = ()

    # ------------------------------------------------------------------ the interface
    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - every result class defines it
        """The tidy result table."""
        raise NotImplementedError

    def headline(self) -> dict:
        """The headline attributes as a dict ``{name: value}``."""
        out = {}
        for name in self._headline:
            try:
                out[name] = getattr(self, name)
            except (AttributeError, KeyError, IndexError, ValueError, TypeError):
                out[name] = None
        return out

    def to_dict(self) -> dict:
        """A JSON-serialisable dict: the result's class, headline numbers, settings and tables.

        ``json.dumps(res.to_dict())`` works; NaN and infinities become ``null``.
        """
        out = {"result": type(self).__name__}
        for k, v in self.headline().items():
            j = jsonable(v)
            out[k] = None if j is _SKIP else j
        if dataclasses.is_dataclass(self):
            for f in dataclasses.fields(self):
                if f.name.startswith("_") or f.name in self._dict_skip or f.name in out or f.name == "table":
                    continue
                j = jsonable(getattr(self, f.name))
                if j is not _SKIP:
                    out[f.name] = j
        out["table"] = jsonable(self.to_frame())
        return out

    def summary(self) -> str:
        """A short APA-style plain-text report: title, headline numbers, the table and notes."""
        head = self._summary_title()
        heads = [f"{k} = {_fmt(v)}" for k, v in self.headline().items() if not isinstance(v, (pd.DataFrame, dict))]
        table = format_table(self._summary_frame())
        width = max([len(head), *(len(ln) for ln in table.splitlines()), 40])
        width = min(width, 110)
        lines = [head, "=" * width, *_wrap(heads, width), "-" * width, table, "=" * width]
        notes = self._notes()
        lines += [f"Note: {n}" for n in notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Rich display in Jupyter: the title, the headline numbers and the table."""
        heads = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                        for k, v in self.headline().items() if not isinstance(v, (pd.DataFrame, dict)))
        try:
            frame = self._summary_frame()
            more = len(frame) - _MAX_ROWS
            tab = frame.head(_MAX_ROWS).to_html(index=False, na_rep="", float_format=lambda x: _fmt(x), border=0)
            if more > 0:
                tab += f"<p>... {more} more rows (<code>to_frame()</code>)</p>"
        except Exception as exc:  # noqa: BLE001 - a display must never raise
            tab = f"<p>(no table: {html.escape(str(exc))})</p>"
        notes = "".join(f"<p><em>Note:</em> {html.escape(n)}</p>" for n in self._notes())
        return (f"<div class='efficacy-result'><p><strong>{html.escape(self._summary_title())}</strong></p>"
                f"<table>{heads}</table>{tab}{notes}</div>")

    def __repr__(self) -> str:
        heads = ", ".join(f"{k}={_fmt(v)}" for k, v in self.headline().items()
                          if not isinstance(v, (pd.DataFrame, dict)))
        try:
            rows = f", rows={len(self.to_frame())}"
        except Exception:  # noqa: BLE001
            rows = ""
        return f"{type(self).__name__}({heads}{rows})"

    # ------------------------------------------------------------------ hooks
    def _summary_title(self) -> str:
        return f"{self._title} ({type(self).__name__})" if self._title else type(self).__name__

    def _summary_frame(self) -> pd.DataFrame:
        t = self.to_frame()
        if self._summary_columns:
            t = t[[c for c in self._summary_columns if c in t.columns]]
        return t

    def _notes(self) -> list:
        notes = []
        reason = getattr(self, "reason", "")
        if isinstance(reason, str) and reason:
            notes.append(reason)
        for w in getattr(self, "warnings", None) or []:
            if str(w) not in notes:
                notes.append(str(w))
        return notes


@dataclass(repr=False)
class TableResult(ResultMixin):
    """A result whose answer is one table (e.g. :func:`efficacy.meta.leave_one_out`).

    ``to_frame()`` returns a copy of ``table``; ``len(res)`` is its number of rows.
    """

    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The result table (a copy)."""
        return self.table.copy()

    def __len__(self) -> int:
        return len(self.table)


class FitMeasures:
    """Headline fit measures of a fitted SEM as attributes (read from its lavaan-named ``fit`` dict):
    ``chisq``, ``df``, ``cfi``, ``tli``, ``rmsea``, ``srmr`` (NaN when not computed)."""

    def _fit_value(self, key):
        v = (getattr(self, "fit", None) or {}).get(key, np.nan)
        try:
            return float(v)
        except (TypeError, ValueError):
            return np.nan

    @property
    def chisq(self) -> float:
        """Model chi-square (lavaan ``chisq``)."""
        return self._fit_value("chisq")

    @property
    def df(self) -> float:
        """Degrees of freedom of the model test."""
        return self._fit_value("df")

    @property
    def cfi(self) -> float:
        return self._fit_value("cfi")

    @property
    def tli(self) -> float:
        return self._fit_value("tli")

    @property
    def rmsea(self) -> float:
        return self._fit_value("rmsea")

    @property
    def srmr(self) -> float:
        return self._fit_value("srmr")
