"""Export the data and model syntax of tests/reference/stage_estimators.R (issue #18, "Workflow").

Run from the repo root: ``.venv/bin/python tests/reference/stage_estimators_export.py`` (then
``Rscript tests/reference/stage_estimators.R``). Writes

* ``stage_estimators_panel.csv``: the wave scores of data/raw/weekly_panel cleaned by
  efficacy.cleaning.clean_study (eff_w1..eff_w5 = mean of the 5-category items, beh_w1..beh_w5);
* ``stage_estimators_panel.json``: the lavaan syntax of efficacy.panel.panel_syntax for the CLPM and
  RI-CLPM, free and stationary, on those columns;
* ``stage_estimators_classes.csv``: a simulated classroom study (seed 20261207; 40 classes of 10
  students; a classroom random effect on the efficacy factor and the outcome; five 5-category
  items; treatment assigned by student): the data of the cluster-robust latent mediation check.
"""
import json

import numpy as np
import pandas as pd

from efficacy.cleaning import clean_study
from efficacy.io import write_table
from efficacy.panel import panel_syntax

res = clean_study("data/raw/weekly_panel")
x = [f"eff_w{t}" for t in range(1, 6)]
y = [f"beh_w{t}" for t in range(1, 6)]
write_table(res.clean[x + y], "tests/reference/stage_estimators_panel.csv")
syn = {f"{m}{'_stationary' if s else ''}": panel_syntax(x, y, stationary=s, random_intercepts=(m == "riclpm"))
       for m in ("clpm", "riclpm") for s in (False, True)}
with open("tests/reference/stage_estimators_panel.json", "w", encoding="utf-8") as fh:
    json.dump(syn, fh, indent=1)

rng = np.random.default_rng(20261207)
n_class, size = 40, 10
cls = np.repeat(np.arange(1, n_class + 1), size)
n = cls.size
u = rng.normal(scale=0.6, size=n_class)[cls - 1]
treat = rng.integers(0, 2, n)
eta = 0.4 * treat + u + rng.normal(size=n)
cuts = np.array([-1.5, -0.5, 0.5, 1.5])
items = {f"i{j}": np.digitize(0.8 * eta + rng.normal(scale=0.8, size=n), cuts) + 1 for j in range(1, 6)}
d = pd.DataFrame({"class": cls, "treat": treat, **items})
d["y"] = np.round(0.5 * eta + 0.2 * treat + 0.5 * rng.normal(scale=0.7, size=n_class)[cls - 1]
                  + rng.normal(size=n), 4)
write_table(d, "tests/reference/stage_estimators_classes.csv")
