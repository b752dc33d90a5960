"""From a raw study file to clean, scored data with a participant flow.

The cleaning stage reads a study's raw data file as its codebook declares it,
never modifies it, and produces:

* ``clean``: one row per analysed participant; missing codes recoded to NaN,
  out-of-range values set to NaN (and counted) or, under ``strict: true``,
  stopping the run; reverse-keyed items rescored as ``min + max - x``; one
  score column per scale (the mean of the answered items when at least
  ``min_items`` are answered, else NaN); for Bandura-format scales also
  ``<scale>_magnitude`` and ``<scale>_strength``;
* ``long``: the repeated measures in long shape (id, wave, one column per measure);
* ``flow``: the participant flow from the raw n through each exclusion to the
  analysed n;
* ``missingness``: per variable, missing codes, out-of-range values and the
  share missing among analysed participants;
* ``careless``: careless-responding indices per participant (longstring and
  intra-individual response variability), reported, never silently used;
* ``generality``: how far efficacy carries across the domains of the
  Bandura-format scales (their correlations and a general factor's share);
* ``dictionary``: what every clean column is.

References
----------
Bandura, A. (2006). Guide for constructing self-efficacy scales. In F. Pajares &
T. Urdan (Eds.), *Self-efficacy beliefs of adolescents* (pp. 307-337).
Curran, P. G. (2016). Methods for the detection of carelessly invalid responses
in survey data. *Journal of Experimental Social Psychology*, 66, 4-19.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._api import renamed
from .codebook import Codebook, load_codebook
from .errors import CodebookError, DataError

__all__ = [
    "read_raw",
    "find_identifier_columns",
    "type_data",
    "longstring",
    "intra_individual_variability",
    "score_scale",
    "bandura_scores",
    "generality",
    "CleaningResult",
    "clean_study",
    "validate_study",
    "sha256_file",
]

_NA_STRINGS = {"", "na", "n/a", "nan", "null", "none", "."}

# ---------------------------------------------------------------- privacy guard
# Column names are compared as snake-case tokens (camelCase, spaces, hyphens and
# dots split), so "RecipientFirstName", "First Name", "E-mail" and "IPAddress"
# read as first_name, e_mail and ip_address.
_IDENTIFIER_NAME = re.compile(
    r"(^|_)(first_?name|last_?name|sur_?name|full_?name|given_?name|family_?name|fore_?name|middle_?name|"
    r"maiden_?name|e_?mail|email_?address|emailaddress|phone|phonenumber|telephone|tel|fax|cell_?phone|"
    r"mobile_?phone|mobile_?number|address|street|streetaddress|post_?code|postal_?code|zip|zip_?code|ssn|"
    r"social_security|national_insurance|passport|dob|d_o_b|date_of_birth|dateofbirth|birth_?date|birth_?day|"
    r"ip_?address|latitude|longitude|geo_?location|comments?|free_?text|notes?|remarks?)($|_)",
)
# Generic words that name an identifier only when the column holds many distinct
# text values ("name", "cell" and "mobile" also name condition labels, design
# cells and phone-use measures).
_WEAK_IDENTIFIER_NAME = re.compile(r"(^|_)(name|names|cell|mobile|contact_?details?)($|_)")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$")
_PHONE = re.compile(r"^\+?[\d\s\-().]{7,}(\s*(ext\.?|x|extension)\s*\d{1,5})?$", re.IGNORECASE)
_E164 = re.compile(r"^\+\d{8,15}$")
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")
_IPV6 = re.compile(r"^(?=.*:.*:)[0-9A-Fa-f:]{2,39}$")
_DATE = re.compile(r"^(?:(\d{4})[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](\d{4}|\d{2}))"
                   r"(?:[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_ADDRESS = re.compile(
    r"^\d+[A-Za-z]?,?\s+(?:[^\W\d_][\w'.-]*\s+){0,4}(street|st|road|rd|avenue|ave|lane|ln|drive|dr|"
    r"boulevard|blvd|way|court|ct|place|pl|square|sq|terrace|crescent|close|rue|strasse|straße|via|calle)\b",
    re.IGNORECASE,
)
_NAME_WORD = r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*\.?"
_PERSON_NAME = re.compile(rf"^(?:{_NAME_WORD}(?:\s+{_NAME_WORD}){{1,3}}|{_NAME_WORD},\s*{_NAME_WORD}(?:\s+{_NAME_WORD})?)$")


def sha256_file(path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- reading


def read_raw(cb: Codebook) -> pd.DataFrame:
    """Read a study's raw data file as declared, without changing it.

    Text formats are read as strings (so that no value is silently coerced);
    SPSS and Stata files are read with pyreadstat, user-defined missing values
    becoming NaN; Excel files with openpyxl, fully empty trailing columns and
    rows removed.

    Raises
    ------
    DataError
        Missing, unreadable or unsupported file; wrong encoding; no data rows.
    """
    path = Path(cb.data_file)
    opts = cb.read_options
    fmt = cb.data_format
    if not path.exists():
        raise DataError("data file not found", file=path, where=f"declared in {cb.path} (data.file)")
    if path.stat().st_size == 0:
        raise DataError("data file is empty", file=path, expected="a header row and at least one data row")
    try:
        if fmt in ("csv", "tsv"):
            sep = opts.get("sep", "," if fmt == "csv" else "\t")
            encoding = opts.get("encoding", "utf-8")
            if encoding.lower().replace("-", "") in ("utf8",):
                encoding = "utf-8-sig"  # tolerate a byte-order mark
            df = pd.read_csv(
                path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                skiprows=opts.get("skip_rows", 0), skip_blank_lines=True,
            )
            decimal = opts.get("decimal", ".")
            if decimal == ",":
                df = df.apply(lambda s: s.str.replace(",", ".", regex=False) if s.dtype == object or
                              pd.api.types.is_string_dtype(s) else s)
        elif fmt in ("sav", "dta"):
            import pyreadstat

            reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
            df, _meta = reader(str(path), apply_value_formats=False, user_missing=False)
        elif fmt == "xlsx":
            df = pd.read_excel(path, sheet_name=opts.get("sheet", 0), skiprows=opts.get("skip_rows", 0),
                               dtype=object, engine="openpyxl")
            unnamed = [c for c in df.columns if str(c).startswith("Unnamed:") and df[c].isna().all()]
            df = df.drop(columns=unnamed).dropna(how="all")
            df.columns = [str(c) for c in df.columns]
        else:  # pragma: no cover - the schema rejects other formats
            raise DataError("unsupported data format", file=path, found=fmt, expected="csv, tsv, sav, dta or xlsx")
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(
            f"cannot be decoded as {opts.get('encoding', 'utf-8')} (byte {exc.start})", file=path,
            expected="the encoding declared under data.encoding in the codebook",
        ) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot be parsed as {fmt}: {str(exc).strip()}", file=path) from None
    except pd.errors.EmptyDataError:
        raise DataError("data file has no columns", file=path) from None
    except Exception as exc:  # unreadable binary formats raise library-specific errors
        raise DataError(f"cannot be read as {fmt}: {type(exc).__name__}: {exc}", file=path) from None
    df.columns = [str(c).strip() for c in df.columns]
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise DataError("duplicated column names in the header", file=path, found=", ".join(dup))
    if len(df) == 0:
        raise DataError("no data rows (empty study)", file=path, expected="at least one participant")
    return df.reset_index(drop=True)


def _snake_tokens(name) -> str:
    """A column name as lower-case snake tokens ("RecipientFirstName" -> "recipient_first_name")."""
    text = str(name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)  # IPAddress -> IP_Address
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)  # camelCase -> camel_Case
    text = re.sub(r"([A-Za-z])([0-9])", r"\1_\2", text)  # firstName2 -> first_Name_2
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()


def _share(sample: pd.Series, test) -> float:
    return float(sample.map(test).mean()) if len(sample) else 0.0


def _is_phone(v: str) -> bool:
    if _E164.match(v):
        return True
    if _DATE.match(v) or _IPV4.match(v) or _is_number(v):
        return False
    return bool(_PHONE.match(v)) and sum(ch.isdigit() for ch in v) >= 7


def _looks_like_person_names(sample: pd.Series) -> bool:
    """Mostly distinct capitalised two- to four-word strings (or "Family, Given")."""
    if len(sample) < 5 or sample.nunique() <= 0.8 * len(sample):
        return False
    def is_name(v):
        return bool(_PERSON_NAME.match(v)) and all(w[0].isupper() for w in re.split(r"[\s,]+", v) if w)
    return _share(sample, is_name) > 0.8


def _birth_date_spread(sample: pd.Series) -> bool:
    """Dates spread over many years (as birth dates are; session dates cluster in a year or two)."""
    years = sample.map(_year_of)
    years = years[years.notna()]
    if len(years) < 5 or len(years) < 0.8 * len(sample):
        return False
    q1, q3 = np.percentile(years.astype(float), [25, 75])
    return years.nunique() >= 5 and (q3 - q1) >= 5


def _year_of(v: str):
    m = _DATE.match(v)
    if not m:
        return None
    if m.group(1):
        return int(m.group(1))
    y = m.group(2)
    return int(y) if len(y) == 4 else None  # two-digit years are ambiguous: not counted


def _identifier_reason(col, s: pd.Series, *, name_checks=True) -> str | None:
    """Why a column looks like a direct identifier, or None."""
    tokens = _snake_tokens(col)
    hit = _IDENTIFIER_NAME.search(tokens) if name_checks else None
    if hit:
        return f"its name reads as '{hit.group(2)}'"
    if pd.api.types.is_datetime64_any_dtype(s):
        sample = _first_nonblank(s.dt.strftime("%Y-%m-%d"), 500)
        return "its values look like dates of birth (spread over many years)" if _birth_date_spread(sample) \
            else None
    if not (s.dtype == object or pd.api.types.is_string_dtype(s)):
        return None
    sample = _first_nonblank(s, 500)
    if len(sample) == 0:
        return None
    numeric = float(pd.to_numeric(sample, errors="coerce").notna().mean())
    weak = _WEAK_IDENTIFIER_NAME.search(tokens) if name_checks else None
    if weak and numeric < 0.5 and sample.nunique() > 0.5 * len(sample) and len(sample) >= 2:
        return f"its name reads as '{weak.group(2)}' and its values are mostly distinct text"
    if numeric == 1.0 and not sample.str.startswith("+").any():
        return None  # plain numbers (items, scores, counts): nothing more to check (fast path, large studies)
    if _share(sample, lambda v: bool(_EMAIL.match(v))) > 0.5:
        return "its values look like e-mail addresses"
    if _share(sample, lambda v: bool(_IPV4.match(v) or _IPV6.match(v))) > 0.5:
        return "its values look like IP addresses"
    if _share(sample, _is_phone) > 0.5:
        return "its values look like phone numbers"
    if _share(sample, lambda v: bool(_DATE.match(v))) > 0.5:
        return "its values look like dates of birth (spread over many years)" if _birth_date_spread(sample) \
            else None
    if _share(sample, lambda v: bool(_ADDRESS.match(v))) > 0.5:
        return "its values look like postal addresses"
    if _looks_like_person_names(sample):
        return "its values look like person names"
    if (sample.str.len().mean() > 20 and sample.str.contains(" ").mean() > 0.5
            and sample.nunique() > 0.8 * len(sample)):
        return "its values look like free text"
    return None


def find_identifier_columns(df: pd.DataFrame, *, ignore=(), id_column=None) -> dict[str, str]:
    """Columns that look like direct identifiers, with the reason.

    A column is flagged when its name (read as snake-case tokens, so that
    ``RecipientFirstName``, ``First Name``, ``E-mail`` and ``IPAddress`` are
    recognised) names a person's name, e-mail, phone, postal or IP address,
    geolocation, date of birth, national id or free-text field; or when most
    of its (first 500 non-blank) values look like e-mail addresses, IP
    addresses, phone numbers (national, international and E.164 formats,
    with extensions), postal addresses, person names (mostly distinct
    capitalised two- to four-word strings), dates spread over many years (as
    dates of birth are; session dates are not flagged) or free text.
    Generic words (``name``, ``cell``, ``mobile``) flag a column only when its
    values are mostly distinct text, so condition labels, design cells and
    phone-use measures pass.

    Parameters
    ----------
    df : DataFrame
        The raw data as read.
    ignore : sequence of str
        Columns not checked (e.g. those the codebook drops).
    id_column : str, optional
        The participant id column: checked by its values only (it must hold
        pseudonymous codes, not e-mails, phone numbers or names).

    Returns
    -------
    dict
        Column -> reason, in the data's column order.

    Examples
    --------
    >>> import pandas as pd
    >>> find_identifier_columns(pd.DataFrame({"se1": ["1", "4"], "RecipientEmail": ["a@b.org", "c@d.net"]}))
    {'RecipientEmail': "its name reads as 'email'"}
    """
    flagged: dict[str, str] = {}
    for col in df.columns:
        if col in ignore and col != id_column:
            continue
        why = _identifier_reason(col, df[col], name_checks=col != id_column)
        if why:
            flagged[col] = why
    return flagged


def _first_nonblank(s: pd.Series, size: int) -> pd.Series:
    """The first ``size`` non-missing, non-blank values of ``s`` as stripped text.

    Reads the column in growing chunks, so a long column costs only what the
    sample needs.
    """
    found = []
    start, step, n = 0, 2 * size, len(s)
    total = 0
    while start < n and total < size:
        chunk = s.iloc[start:start + step].dropna().astype(str).str.strip()
        chunk = chunk[chunk != ""]
        found.append(chunk)
        total += len(chunk)
        start += step
        step *= 4
    if not found:
        return pd.Series([], dtype=object)
    return pd.concat(found).iloc[:size]


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _is_missing_code(values: pd.Series, codes) -> pd.Series:
    """Which values equal one of the missing codes (numerically or as text)."""
    if not codes:
        return pd.Series(False, index=values.index)
    text = values.astype(str).str.strip()
    hit = text.isin([str(c) for c in codes])
    num = pd.to_numeric(text, errors="coerce")
    numeric_codes = [float(c) for c in codes if not isinstance(c, str) or _is_number(c)]
    if numeric_codes:
        hit |= num.isin(numeric_codes)
    return hit & values.notna()


def _parse_floats(arr: np.ndarray) -> np.ndarray:
    """Numbers of an object array of raw cells; NaN where a cell is not a number.

    The fast path converts the whole column at once (blank cells treated as
    NaN); a column with any other non-number (or an underscore, which Python's
    ``float`` would accept as a digit separator) falls back to
    :func:`pandas.to_numeric` with ``errors="coerce"``.
    """
    try:
        blank = arr == ""
        filled = np.where(blank, "nan", arr) if blank.any() else arr
        if "_" in "".join(filled):
            raise ValueError("digit separator")
        return filled.astype(float)
    except (TypeError, ValueError):
        return np.asarray(pd.to_numeric(arr, errors="coerce"), dtype=float)


def _numeric_column(s: pd.Series, codes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse one raw column of a numeric variable, vectorised.

    Returns the float values (NaN for blanks, missing codes and bad values),
    the mask of missing codes and the mask of values that are not numbers.
    Numbers are parsed in one pass (surrounding spaces allowed); only cells
    that do not parse (blanks, NA strings, text codes, bad values - usually
    few) are looked at one by one.
    """
    arr = s.to_numpy(dtype=object) if s.dtype != float else s.to_numpy()
    if arr.dtype == object:
        num = _parse_floats(arr)
    else:
        num = arr.astype(float, copy=True)
    n = len(num)
    coded = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    numeric_codes = [float(c) for c in codes if not isinstance(c, str) or _is_number(c)]
    if numeric_codes:
        coded |= np.isin(num, numeric_codes)
    text_codes = {str(c).strip() for c in codes}
    for i in np.flatnonzero(np.isnan(num)):
        v = arr[i]
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            continue
        t = v.strip() if isinstance(v, str) else str(v)
        if t.lower() in _NA_STRINGS:
            continue
        if t in text_codes:
            coded[i] = True
        else:
            bad[i] = True
    num[coded] = np.nan
    return num, coded, bad


@dataclass
class _Typing:
    data: pd.DataFrame
    n_missing_code: dict
    n_out_of_range: dict
    out_of_range_rows: dict


def type_data(raw: pd.DataFrame, cb: Codebook) -> _Typing:
    """Convert raw values to typed columns as the codebook declares.

    Missing codes (global and per variable) and blank cells become NaN; a value
    that is not a number in a numeric variable stops with a :class:`DataError`
    naming the row (1 = first data row), the column and the value; values
    outside the declared range or levels become NaN and are counted, or stop
    the run when the codebook is ``strict``.
    """
    out = {}
    n_code, n_range, range_rows = {}, {}, {}
    file = cb.data_file
    for name, var in cb.variables.items():
        s = raw[name]
        codes = tuple(cb.missing_codes) + tuple(var.missing_codes)
        if var.is_numeric and var.type != "id":
            values, coded, bad = _numeric_column(s, codes)
            n_code[name] = int(coded.sum())
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"non-numeric value in numeric variable ({int(bad.sum())} such value(s))",
                    file=file, where=f"row {i + 1}, column '{name}'", found=repr(s.iloc[i]),
                    expected=f"a number{' in ' + str(list(var.range)) if var.range else ''}",
                )
            num = values
            invalid = np.zeros(len(num), dtype=bool)
            present = ~np.isnan(num)
            if var.range is not None:
                invalid |= (num < var.range[0]) | (num > var.range[1])
            if var.type == "integer":
                invalid |= present & (num != np.round(num))
            if var.type == "binary":
                levels = [float(v) for v in var.levels] if var.levels is not None else [0.0, 1.0]
                invalid |= present & ~np.isin(num, levels)
            invalid = pd.Series(invalid & present, index=s.index)
            values = pd.Series(num, index=s.index)
            s_obj = s
        else:
            s_obj = s.astype(object)
            blank = s_obj.isna() | s_obj.map(lambda v: isinstance(v, str) and v.strip().lower() in _NA_STRINGS)
            coded = _is_missing_code(s_obj, codes) & ~blank
            n_code[name] = int(coded.sum())
            keep = ~(blank | coded)
            if var.type == "id":
                vals = s_obj.where(keep)
                out[name] = vals.map(lambda v: v.strip() if isinstance(v, str) else v)
                continue
            values = s_obj.where(keep).map(lambda v: v.strip() if isinstance(v, str) else v)
            if var.type == "binary":
                # Text levels of a binary variable are coded 0 (first level) and 1 (second level).
                levels = [str(lv) for lv in var.levels]
                invalid = values.notna() & ~values.astype(str).isin(levels)
                values = values.map({levels[0]: 0.0, levels[1]: 1.0}).astype(float)
            elif var.levels is not None:
                levels = {str(lv) for lv in var.levels}
                values = values.map(lambda v: v if v is None or (isinstance(v, float) and math.isnan(v))
                                    else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
                invalid = values.notna() & ~values.isin(levels)
            else:
                invalid = pd.Series(False, index=values.index)
        n_range[name] = int(invalid.sum())
        if invalid.any():
            rows = (np.flatnonzero(invalid.to_numpy()) + 1).tolist()
            range_rows[name] = rows
            if cb.strict:
                i = rows[0] - 1
                expected = (f"a value in [{var.range[0]}, {var.range[1]}]" if var.range is not None
                            else f"one of {var.levels}")
                raise DataError(
                    f"value out of range ({len(rows)} such value(s); the codebook is strict)",
                    file=file, where=f"row {rows[0]}, column '{name}'", found=repr(s_obj.iloc[i]), expected=expected,
                )
            values = values.where(~invalid)
        out[name] = values
    data = pd.DataFrame(out, index=raw.index)
    return _Typing(data, n_code, n_range, range_rows)


# --------------------------------------------------------------------------- indices and scores


def longstring(responses: np.ndarray) -> np.ndarray:
    """Longest run of identical consecutive responses per row (Curran, 2016).

    Missing responses break a run. Rows with no answered item get NaN.
    """
    x = np.asarray(responses, dtype=float)
    n, k = x.shape
    if k == 0:
        return np.full(n, np.nan)
    best = np.where(np.isnan(x[:, 0]), 0, 1).astype(float)
    run = best.copy()
    for j in range(1, k):  # loop over items, vectorised over participants
        same = (x[:, j] == x[:, j - 1]) & ~np.isnan(x[:, j])
        run = np.where(same, run + 1, np.where(np.isnan(x[:, j]), 0, 1))
        best = np.maximum(best, run)
    best[np.isnan(x).all(axis=1)] = np.nan
    return best


def intra_individual_variability(responses: np.ndarray) -> np.ndarray:
    """Within-person SD across items (IRV; Dunn et al., 2018), ddof = 1.

    Rows with fewer than two answered items get NaN.
    """
    x = np.asarray(responses, dtype=float)
    count = (~np.isnan(x)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(count[:, None] > 0, x, 0.0), axis=1)
        sd = np.sqrt(np.nansum((x - mean[:, None]) ** 2, axis=1) / (count - 1))
    sd[count < 2] = np.nan
    return sd


def score_scale(items: pd.DataFrame, min_items: int) -> pd.Series:
    """Mean of answered items when at least ``min_items`` are answered, else NaN."""
    answered = items.notna().sum(axis=1)
    score = items.mean(axis=1, skipna=True)
    return score.where(answered >= min_items)


def bandura_scores(items: pd.DataFrame, threshold: float, min_items: int) -> pd.DataFrame:
    """Magnitude and strength of a Bandura-format efficacy scale (Bandura, 2006).

    Parameters
    ----------
    items : DataFrame
        Confidence ratings (0-100) of graded tasks, one column per task.
    threshold : float
        A task counts toward magnitude when rated at or above it.
    min_items : int
        Minimum answered tasks; otherwise both indices are NaN.

    Returns
    -------
    DataFrame with ``magnitude`` (number of tasks rated at or above the
    threshold) and ``strength`` (mean confidence over answered tasks).
    """
    answered = items.notna().sum(axis=1)
    magnitude = (items >= threshold).sum(axis=1).astype(float)
    strength = items.mean(axis=1, skipna=True)
    ok = answered >= min_items
    return pd.DataFrame({"magnitude": magnitude.where(ok), "strength": strength.where(ok)})


@renamed(scores="data")
def generality(data: pd.DataFrame) -> pd.DataFrame:
    """Generality of efficacy across domains (Bandura, 1977).

    Pairwise correlations of domain-specific efficacy strengths and the share of
    their variance carried by a general factor (the first eigenvalue of the
    correlation matrix divided by the number of domains; 1/m means no
    generality, 1 means one undifferentiated belief).

    Returns
    -------
    DataFrame with rows ``quantity`` in {"r", "general_factor_share"}, the pair
    of domains, the value and the number of complete cases. ``data`` holds one column of
    efficacy strength per domain.
    """
    scores = data
    cols = list(scores.columns)
    rows = []
    complete = scores.dropna()
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            pair = scores[[cols[i], cols[j]]].dropna()
            r = float(pair.corr().iloc[0, 1]) if len(pair) > 2 else float("nan")
            rows.append({"quantity": "r", "scale_1": cols[i], "scale_2": cols[j], "value": r, "n": len(pair)})
    if len(cols) >= 2 and len(complete) > len(cols):
        eig = np.linalg.eigvalsh(np.corrcoef(complete.to_numpy(), rowvar=False))
        share = float(eig[-1] / len(cols))
    else:
        share = float("nan")
    rows.append({"quantity": "general_factor_share", "scale_1": "+".join(cols), "scale_2": "",
                 "value": share, "n": len(complete)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the stage


@dataclass
class CleaningResult:
    """Everything the cleaning stage produces for one study."""

    study: str
    clean: pd.DataFrame
    long: pd.DataFrame
    flow: pd.DataFrame
    missingness: pd.DataFrame
    careless: pd.DataFrame
    generality: pd.DataFrame
    dictionary: pd.DataFrame
    report: dict = field(default_factory=dict)

    @property
    def n_raw(self) -> int:
        """Rows in the raw file."""
        return int(self.flow["remaining"].iloc[0])

    @property
    def n_analysed(self) -> int:
        """Participants in the clean data."""
        return len(self.clean)

    def to_markdown(self) -> str:
        """A human-readable cleaning report."""
        r = self.report
        lines = [f"# Cleaning report: {self.study}", ""]
        lines.append(f"Raw file `{r['data_file']}` (SHA-256 `{r['data_sha256'][:16]}...`): "
                     f"{r['n_raw']} rows; analysed: {r['n_analysed']} participants.")
        lines += ["", "## Participant flow", "", "| step | reason | excluded | remaining |", "|---|---|---|---|"]
        for _, row in self.flow.iterrows():
            exc = "" if row["step"] == 0 else str(int(row["excluded"]))
            lines.append(f"| {row['step']} | {row['reason']} | {exc} | {int(row['remaining'])} |")
        recoded = {k: v for k, v in r["out_of_range"].items() if v}
        lines += ["", "## Values set to missing", ""]
        if recoded:
            lines.append("Out-of-range values (set to missing): " +
                         ", ".join(f"`{k}` {v}" for k, v in sorted(recoded.items())) + ".")
        else:
            lines.append("No out-of-range values.")
        codes = sum(r["missing_codes"].values())
        lines.append(f"Missing-value codes recoded: {codes}.")
        if r["duplicated_ids"]:
            # a count only: this file is part of the report, which never shows row-level data
            lines.append(f"Duplicated ids: {len(r['duplicated_ids'])} (later rows excluded; the ids are listed "
                         "in cleaning.json, which is not part of the report).")
        c = r["careless"]
        lines += ["", "## Careless responding (reported, not used to exclude)", ""]
        if c["items"]:
            lines.append(f"Across {c['items']} Likert items: longstring median {c['longstring_median']}, "
                         f"max {c['longstring_max']}; {c['n_all_identical']} participant(s) gave the same answer "
                         f"to every item; IRV median {c['irv_median']:.3g}.")
        else:
            lines.append("No Likert items.")
        lines += ["", "## Scales", "", "| scale | construct | items | reversed | min items | scored n |",
                  "|---|---|---|---|---|---|"]
        for s in r["scales"]:
            lines.append(f"| {s['scale']} | {s['construct']} | {s['k']} | {', '.join(s['reverse']) or '-'} | "
                         f"{s['min_items']} | {s['n_scored']} |")
        return "\n".join(lines) + "\n"


def _apply_exclusion(values: pd.Series, op: str, value) -> pd.Series:
    """Rows matched by an exclusion rule (comparisons apply to non-missing values)."""
    if op == "missing":
        return values.isna()
    present = values.notna()
    if op in ("in", "not in"):
        wanted = list(value)
        if pd.api.types.is_numeric_dtype(values):
            wanted = [float(v) for v in wanted]
        hit = values.isin(wanted)
        return present & (hit if op == "in" else ~hit)
    if pd.api.types.is_numeric_dtype(values):
        v = float(value)
        s = values
    else:
        v = str(value)
        s = values.astype(str)
    result = {
        "==": s == v, "!=": s != v, "<": s < v, "<=": s <= v, ">": s > v, ">=": s >= v,
    }[op]
    return present & result


def clean_study(study) -> CleaningResult:
    """Run the cleaning stage on one study folder (or a loaded codebook).

    Parameters
    ----------
    study : str, Path or Codebook

    Returns
    -------
    CleaningResult

    Raises
    ------
    CodebookError, DataError
        With the file, the place and what was expected.
    """
    cb = study if isinstance(study, Codebook) else load_codebook(study)
    raw = read_raw(cb)
    n_raw = len(raw)

    # Privacy first: identifiers are dropped (if declared) or stop the run.
    if cb.id_generated:
        if cb.id in raw.columns:
            raise DataError(f"the data has a column '{cb.id}', reserved for the generated id", file=cb.data_file,
                            expected="an 'id' key in the codebook naming the id column")
        raw.insert(0, cb.id, [str(i) for i in range(1, n_raw + 1)])
    present_drop = [c for c in cb.drop if c in raw.columns]
    raw = raw.drop(columns=present_drop)
    flagged = find_identifier_columns(raw, ignore=[cb.id], id_column=None if cb.id_generated else cb.id)
    if cb.id in flagged:
        raise DataError(
            f"the participant id column '{cb.id}' holds direct identifiers ({flagged[cb.id]}); replace them "
            "with pseudonymous codes before analysis", file=cb.data_file, where=f"column '{cb.id}'",
        )
    if flagged:
        col, why = next(iter(flagged.items()))
        others = [f"'{c}' ({w})" for c, w in flagged.items() if c != col]
        raise DataError(
            f"looks like a direct identifier ({why}); list the column under 'drop' in the codebook "
            "so it is removed before analysis" + (f"; also: {', '.join(others)}" if others else ""),
            file=cb.data_file, where=f"column '{col}'",
        )
    missing = [v for v in cb.variables if v not in raw.columns]
    if missing:
        raise CodebookError(
            f"declared variable(s) missing from the data file {cb.data_file}: {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else ""),
            file=cb.path, where=f"variables.{missing[0]}", expected=f"a column of {cb.data_file.name}",
        )

    typed = type_data(raw, cb)
    raw = None  # the raw text frame is no longer needed: free it before scoring (large studies)
    data = typed.data
    typed.data = None
    ids = data[cb.id]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError("participant id is missing", file=cb.data_file, where=f"row {i + 1}, column '{cb.id}'")
    dup_mask = ids.duplicated(keep="first")
    dup_ids = sorted(set(ids[dup_mask].astype(str)))
    if dup_ids and cb.duplicates == "error":
        i = int(np.flatnonzero(dup_mask.to_numpy())[0])
        raise DataError(f"duplicated participant id ({len(dup_ids)} id(s))", file=cb.data_file,
                        where=f"row {i + 1}, column '{cb.id}'", found=repr(ids.iloc[i]), expected="unique ids")

    # Careless-responding indices on the responses as given (before reverse scoring).
    likert_items = [i for s in cb.scales.values() if s.format == "likert" for i in s.items]
    likert_items = list(dict.fromkeys(likert_items))
    resp = data[likert_items].to_numpy(dtype=float) if likert_items else np.empty((n_raw, 0))
    careless = pd.DataFrame({
        cb.id: ids,
        "n_items_answered": (~np.isnan(resp)).sum(axis=1) if likert_items else 0,
        "longstring": longstring(resp),
        "irv": intra_individual_variability(resp) if likert_items else np.nan,
    })

    # Reverse scoring and scale scores (row-wise, so they may be used by exclusions).
    scored = data  # typed data is ours: reverse-score in place (no copy of a large study)
    del data
    for scale in cb.scales.values():
        for item in scale.reverse:
            lo, hi = scale.response_range
            scored[item] = lo + hi - scored[item]
    extra = {}
    for scale in cb.scales.values():
        items = scored[scale.items]
        if scale.format == "bandura":
            b = bandura_scores(items, scale.threshold, scale.min_items)
            extra[scale.name] = b["strength"]
            extra[f"{scale.name}_magnitude"] = b["magnitude"]
            extra[f"{scale.name}_strength"] = b["strength"]
        else:
            extra[scale.name] = score_scale(items, scale.min_items)
    scored = pd.concat([scored, pd.DataFrame(extra, index=scored.index)], axis=1)

    # Participant flow.
    keep = pd.Series(True, index=scored.index)
    flow = [{"step": 0, "reason": "raw data", "excluded": 0, "remaining": n_raw}]
    if dup_mask.any():
        keep &= ~dup_mask
        flow.append({"step": len(flow), "reason": "duplicated id (later rows)", "excluded": int(dup_mask.sum()),
                     "remaining": int(keep.sum())})
    for rule in cb.exclusions:
        hit = _apply_exclusion(scored[rule.variable], rule.op, rule.value) & keep
        keep &= ~hit
        flow.append({"step": len(flow), "reason": rule.reason, "excluded": int(hit.sum()),
                     "remaining": int(keep.sum())})
    flow_df = pd.DataFrame(flow)
    if keep.sum() == 0:
        raise DataError("every participant was excluded", file=cb.path, where="exclusions",
                        expected="at least one analysed participant")

    clean = scored.loc[keep].reset_index(drop=True)
    order = [cb.id] + [v for v in cb.variables if v != cb.id] + list(extra)
    clean = clean[order]
    careless = careless.loc[keep].reset_index(drop=True)

    # Long shape for repeated measures.
    if cb.waves:
        n_waves = len(next(iter(cb.waves.values())))
        parts = []
        for w in range(n_waves):
            part = pd.DataFrame({cb.id: clean[cb.id], "wave": w + 1})
            for measure, cols in cb.waves.items():
                part[measure] = clean[cols[w]].to_numpy()
            parts.append(part)
        long = pd.concat(parts, ignore_index=True).sort_values([cb.id, "wave"], kind="mergesort")
        long = long.reset_index(drop=True)
    else:
        long = pd.DataFrame({cb.id: pd.Series(dtype=object), "wave": pd.Series(dtype=int)})

    # Missingness per variable (analysed participants) with recoding counts (raw rows).
    miss_rows = []
    for name in order[1:]:
        n_miss = int(clean[name].isna().sum())
        miss_rows.append({
            "variable": name,
            "n": len(clean),
            "n_missing": n_miss,
            "pct_missing": 100.0 * n_miss / len(clean),
            "n_missing_code_raw": typed.n_missing_code.get(name, 0),
            "n_out_of_range_raw": typed.n_out_of_range.get(name, 0),
        })
    missingness = pd.DataFrame(miss_rows)

    bandura = [s.name for s in cb.scales.values() if s.format == "bandura"]
    if len(bandura) >= 2:
        gen = generality(clean[bandura])
    else:
        gen = pd.DataFrame({"quantity": ["general_factor_share"], "scale_1": ["+".join(bandura)], "scale_2": [""],
                            "value": [np.nan], "n": [0]})
    gen.insert(0, "study", cb.study)
    if len(bandura) < 2:
        gen["note"] = "generality needs Bandura-format scales in two or more domains"

    dict_rows = []
    item_scale = {i: s for s in cb.scales.values() for i in s.items}
    for name in order:
        if name in cb.variables:
            var = cb.variables[name]
            scale = item_scale.get(name)
            dict_rows.append({
                "column": name, "kind": "id" if var.type == "id" else ("item" if scale else "variable"),
                "type": var.type, "label": var.label, "scale": scale.name if scale else "",
                "construct": scale.construct if scale else "",
                "reverse_scored": bool(scale and name in scale.reverse),
                "wave": cb.wave_of(name) or (scale.wave if scale else None),
            })
        else:
            base = name.rsplit("_", 1)[0] if name not in cb.scales else name
            scale = cb.scales[base]
            kind = "scale score" if name == base else f"bandura {name.rsplit('_', 1)[1]}"
            dict_rows.append({"column": name, "kind": kind, "type": "numeric", "label": scale.label,
                              "scale": scale.name, "construct": scale.construct, "reverse_scored": False,
                              "wave": cb.wave_of(scale.name)})
    dictionary = pd.DataFrame(dict_rows)

    lstr = careless["longstring"].dropna()
    irv = careless["irv"].dropna()
    report = {
        "study": cb.study,
        "codebook": str(cb.path),
        "data_file": str(cb.data_file),
        "data_sha256": sha256_file(cb.data_file),
        "n_raw": n_raw,
        "n_analysed": len(clean),
        "flow": flow,
        "dropped_identifier_columns": present_drop,
        "missing_codes": typed.n_missing_code,
        "out_of_range": typed.n_out_of_range,
        "out_of_range_rows": typed.out_of_range_rows,
        "duplicated_ids": dup_ids,
        "careless": {
            "items": len(likert_items),
            "longstring_median": float(lstr.median()) if len(lstr) else None,
            "longstring_max": float(lstr.max()) if len(lstr) else None,
            "n_all_identical": int((careless["longstring"] >= len(likert_items)).sum()) if likert_items else 0,
            "irv_median": float(irv.median()) if len(irv) else None,
        },
        "scales": [
            {"scale": s.name, "construct": s.construct, "k": s.k, "reverse": s.reverse, "min_items": s.min_items,
             "format": s.format, "n_scored": int(clean[s.name].notna().sum())}
            for s in cb.scales.values()
        ],
    }
    return CleaningResult(cb.study, clean, long, flow_df, missingness, careless, gen, dictionary, report)


def validate_study(study) -> CleaningResult:
    """Check a codebook and its data without writing anything.

    Runs every check of the cleaning stage in memory and returns its result;
    raises the first problem found as a :class:`~efficacy.errors.EfficacyError`.
    """
    return clean_study(study)
