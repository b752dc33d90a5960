"""Reading and writing result tables, atomically and deterministically.

Every table the workflow writes goes through :func:`write_table`, so a killed
run never leaves a truncated file at its final path (the table is written to a
temporary file in the same folder, flushed and renamed) and the same numbers
always give the same bytes (a fixed float format, ``\\n`` line ends).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "FLOAT_FORMAT",
    "atomic_write_text",
    "write_table",
    "read_table",
    "read_clean",
    "write_json",
]

#: Float format of every written table: 10 significant digits, enough for
#: any estimate and stable across platforms.
FLOAT_FORMAT = "%.10g"


def atomic_write_text(path, text, *, encoding="utf-8"):
    """Write ``text`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give results the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_table(df, path, *, index=False, float_format=FLOAT_FORMAT):
    """Write a DataFrame as CSV atomically with a fixed float format.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : str or Path
        Destination; its folder is created if missing.
    index : bool
        Whether to write the index.
    float_format : str
        printf-style float format; ``"%.17g"`` round-trips doubles exactly
        (used for clean data).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"write_table expects a DataFrame, got {type(df).__name__}")
    text = df.to_csv(index=index, float_format=float_format, lineterminator="\n")
    atomic_write_text(path, text)


def read_table(path, **kwargs):
    """Read a table written by :func:`write_table`."""
    return pd.read_csv(path, **kwargs)


def read_clean(path):
    """Read a study's ``clean.csv`` (or ``clean_long.csv``)."""
    return pd.read_csv(path)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(obj, path):
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    atomic_write_text(path, text + "\n")
