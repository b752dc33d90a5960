"""Benchmark: cleaning a 500-item x 100,000-row study (issue #11).

Times ``efficacy.cleaning.clean_study`` (read as text, type, missing codes,
ranges, reverse scoring, 50 scale scores, careless indices) beside the bare
``pandas.read_csv`` of the same file as the reference, prints the ratio and
the peak resident memory. Run: ``.venv/bin/python benchmarks/bench_cleaning.py``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def make_big_study(folder, k=500, n=100_000, seed=11, per_scale=10):
    """Write a study folder with ``k`` integer items (1-5, code 9 = missing) and ``n`` rows.

    Returns the folder and the item values as written (uint8, 9 = missing).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(k)]
    cb = {"study": folder.name, "data": {"file": "data.csv", "format": "csv"}, "id": "pid", "missing_codes": [9],
          "variables": {"pid": {"type": "id"}, **{i: {"type": "integer", "range": [1, 5]} for i in items}},
          "scales": {f"s{b}": {"construct": "other", "items": items[b * per_scale:(b + 1) * per_scale],
                               "reverse": [items[b * per_scale]], "response_range": [1, 5],
                               "min_items": per_scale - 2}
                     for b in range(k // per_scale)}}
    (folder / "codebook.yaml").write_text(yaml.safe_dump(cb, sort_keys=False), encoding="utf-8")
    idw = 7  # "p" + 6 digits
    buf = np.empty((n, idw + 2 * k + 1), dtype=np.uint8)
    ids = np.char.zfill(np.arange(n).astype(str), idw - 1)
    buf[:, 0] = ord("p")
    buf[:, 1:idw] = np.frombuffer("".join(ids.tolist()).encode(), dtype=np.uint8).reshape(n, idw - 1)
    vals = rng.integers(1, 6, size=(n, k), dtype=np.uint8)
    vals[rng.random((n, k)) < 0.01] = 9
    buf[:, idw:idw + 2 * k:2] = ord(",")
    buf[:, idw + 1:idw + 2 * k:2] = vals + ord("0")
    buf[:, -1] = ord("\n")
    with open(folder / "data.csv", "wb") as fh:
        fh.write(("pid," + ",".join(items) + "\n").encode())
        fh.write(buf.tobytes())
    return folder, vals


def main(n=100_000, k=500):
    import pandas as pd

    from efficacy.cleaning import clean_study

    with tempfile.TemporaryDirectory() as tmp:
        folder, _ = make_big_study(Path(tmp) / "big", k=k, n=n)
        t0 = time.perf_counter()
        pd.read_csv(folder / "data.csv")
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = clean_study(folder)
        t_ours = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"clean_study {k} items x {n} rows: {t_ours:.1f} s; pandas.read_csv alone: {t_ref:.1f} s; "
          f"ratio {t_ours / t_ref:.1f}; clean shape {res.clean.shape}; peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
