"""The argument conventions of the public API, in one place (see CONTRIBUTING.md).

Every public function takes ``data`` first, then its column roles (``x``, ``m``, ``y``, ``w``,
``covariates``, ``group``, ``cluster``), ``ci_level=0.95``, ``seed=`` and ``n_boot=``. Three
small helpers keep that promise the same everywhere:

- :func:`as_rng` turns ``seed`` (None, an int or a :class:`numpy.random.Generator`) into a
  Generator, so every random function accepts both;
- :func:`renamed` marks the keywords a function no longer takes: a call with an old name
  raises a :class:`TypeError` naming the new one ("use ci_level, not level");
- :func:`check_columns` checks that the named columns are in ``data``; a missing one is a
  :class:`~efficacy.errors.DataError` naming it, with the closest column names.

This module sits below the statistics (it imports only :mod:`efficacy.errors`).
"""

from __future__ import annotations

import difflib
import functools

import numpy as np

from .errors import DataError

__all__ = ["as_rng", "as_seed_sequence", "renamed", "check_columns", "missing_column", "close_matches", "data_or_none", "column"]


def as_rng(seed=None, *, name: str = "seed") -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``seed``.

    Parameters
    ----------
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        None gives fresh entropy; an int (or a SeedSequence) seeds a new PCG64 generator exactly as
        :func:`numpy.random.default_rng` does; a Generator is used as it is (its stream continues,
        so several calls can share one).
    name : str
        The argument's name, for the error message.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> as_rng(1).integers(0, 10, 3).tolist() == np.random.default_rng(1).integers(0, 10, 3).tolist()
    True
    >>> g = np.random.default_rng(2); as_rng(g) is g
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be None, an int or a numpy.random.Generator, got {type(seed).__name__} "
                        f"{seed!r}")
    if seed < 0:
        raise DataError(f"{name} must be a non-negative integer", where=name, found=int(seed), expected=">= 0")
    return np.random.default_rng(int(seed))


def as_seed_sequence(seed=None, *, name: str = "seed") -> np.random.SeedSequence:
    """A :class:`numpy.random.SeedSequence` from ``seed`` (for functions that spawn independent streams).

    None, an int or a sequence of ints seed it exactly as ``numpy.random.SeedSequence(seed)``; a
    :class:`numpy.random.Generator` supplies the entropy (one 63-bit draw from it), so the caller's
    generator decides the streams.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63 - 1)))
    if isinstance(seed, (bool, np.bool_)) or isinstance(seed, (float, str, bytes)):
        raise TypeError(f"{name} must be None, an int or a numpy.random.Generator, got {type(seed).__name__} "
                        f"{seed!r}")
    return np.random.SeedSequence(seed)


def renamed(**old_to_new):
    """Decorator: keywords the function no longer takes, each with the name that replaced it.

    A call that still uses an old keyword raises :class:`TypeError` naming the new one, e.g.
    ``mediate(..., level=0.9)`` -> "mediate() got an unexpected keyword argument 'level': use
    ci_level, not level". Nothing else changes (``help()`` and :func:`inspect.signature` show the
    function's own signature).

    Examples
    --------
    >>> @renamed(level="ci_level")
    ... def f(data, *, ci_level=0.95):
    ...     return ci_level
    >>> f(None, ci_level=0.9)
    0.9
    >>> f(None, level=0.9)
    Traceback (most recent call last):
    ...
    TypeError: f() got an unexpected keyword argument 'level': use ci_level, not level
    """
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if kwargs:
                for old, new in old_to_new.items():
                    if old in kwargs:
                        raise TypeError(f"{func.__name__}() got an unexpected keyword argument {old!r}: "
                                        f"use {new}, not {old}")
            return func(*args, **kwargs)

        wrapper.__renamed__ = dict(old_to_new)
        return wrapper

    return decorate


def close_matches(name, candidates, n: int = 3) -> list:
    """Up to ``n`` of ``candidates`` that look like ``name`` (:func:`difflib.get_close_matches`,
    case-insensitive), best first."""
    cands = [str(c) for c in candidates]
    lower = {}
    for c in cands:
        lower.setdefault(c.lower(), c)
    hits = difflib.get_close_matches(str(name).lower(), list(lower), n=n, cutoff=0.65)
    return [lower[h] for h in hits]


def check_columns(data, roles, *, error=DataError, what: str = "data"):
    """Check that every named column is in ``data``.

    Parameters
    ----------
    data : pandas.DataFrame
    roles : mapping or iterable of (role, column)
        ``column`` is a name or a list of names (e.g. ``("mediator m", "eff")`` or
        ``("covariate", ["age", "sex"])``); None is skipped.
    error : type
        Error class for a ``data`` that is not a DataFrame (a missing column is always a
        :class:`~efficacy.errors.DataError`).
    what : str
        How the table is called in messages.

    Raises
    ------
    efficacy.errors.DataError
        Naming the first missing column, its role, and the closest column names (difflib).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"treat": [0, 1], "efficacy": [1.0, 2.0]})
    >>> check_columns(d, [("treatment x", "treat")])
    >>> check_columns(d, [("mediator m", "eficacy")])
    Traceback (most recent call last):
    ...
    efficacy.errors.DataError: column 'eficacy': no such column in the data (given as mediator m); did you mean 'efficacy'? (expected one of the 2 columns: 'treat', 'efficacy')
    """
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise error(f"{what} must be a pandas DataFrame", found=type(data).__name__, expected="a DataFrame")
    items = roles.items() if hasattr(roles, "items") else roles
    columns = data.columns
    for role, names in items:
        if names is None:
            continue
        for name in ([names] if isinstance(names, str) or not hasattr(names, "__iter__") else list(names)):
            try:
                present = name in columns
            except TypeError:  # an unhashable name
                present = False
            if present:
                continue
            raise missing_column(name, columns, role, what=what)


def missing_column(name, columns, role, *, what: str = "data") -> DataError:
    """The :class:`~efficacy.errors.DataError` for a column ``name`` (given as ``role``) that is not
    among ``columns``: it names the column and lists the closest column names (difflib)."""
    columns = list(columns)
    close = close_matches(name, columns)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(str(c)) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
    return DataError(f"no such column in the {what} (given as {role}){hint}", where=f"column {name!r}",
                     expected=f"one of the {len(columns)} columns: {shown}")


def data_or_none(data, func: str, arrays: str = "yi=..., vi=..."):
    """Check the ``data`` argument of a function that also takes arrays (the meta-analysis functions).

    ``data`` must be a DataFrame or None; anything else (e.g. an array given in the place where
    earlier versions took ``yi``) is a :class:`TypeError` saying how to call the function.
    """
    import pandas as pd

    if data is None or isinstance(data, pd.DataFrame):
        return data
    raise TypeError(f"{func}(): the first argument is the data table (a pandas DataFrame or None), got "
                    f"{type(data).__name__}; give arrays by keyword ({arrays}) or column names with data")


def column(data, value, role: str):
    """``data[value]`` when ``value`` is a column name (checked, with close matches), else ``value``
    itself (an array-like given directly)."""
    if isinstance(value, str):
        if data is None:
            raise DataError(f"{role} is given as the column name {value!r} but there is no data table",
                            where=role, expected="data=<DataFrame> or an array")
        check_columns(data, [(role, value)])
        return data[value]
    return value
