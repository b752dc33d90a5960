"""Export mastery_trial before exclusions for tests/reference/multiverse.R.

Run from the repo root: ``.venv/bin/python tests/reference/multiverse_export.py`` (then
``Rscript tests/reference/multiverse.R``). ``efficacy.multiverse.prepare_data`` cleans
data/raw/mastery_trial with the exclusion rules switched off (missing codes -> NA, se3
reverse-scored, ``efficacy`` = mean of the answered items when at least 4 of 6 are answered);
``efficacy_sum`` is the sum of the six items when all are answered (the multiverse's ``sum`` scoring).
"""
import numpy as np

from efficacy.codebook import load_codebook
from efficacy.io import write_table
from efficacy.multiverse import prepare_data

cb = load_codebook("data/raw/mastery_trial")
d = prepare_data(cb)
items = cb.scales["efficacy"].items
out = d[["pid", "treat", "age", "attention", *items, "efficacy", "behavior"]].copy()
x = d[items].to_numpy(float)
out["efficacy_sum"] = np.where(np.isnan(x).any(axis=1), np.nan, np.nansum(x, axis=1))
write_table(out, "tests/reference/multiverse_mastery.csv", float_format="%.17g")
