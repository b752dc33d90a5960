"""Export the item-level analysis data of mastery_trial for tests/reference/latent.R.

Run from the repo root: ``.venv/bin/python tests/reference/latent_export.py`` (then
``Rscript tests/reference/latent.R``). Cleans data/raw/mastery_trial with
efficacy.cleaning.clean_study (missing codes -> NA, se3 reverse-scored, exclusions applied)
and writes tests/reference/latent_mastery.csv with the efficacy items, treat, behavior, age.
"""
from efficacy.cleaning import clean_study
from efficacy.io import write_table

cols = ["pid", "treat", "age", "se1", "se2", "se3", "se4", "se5", "se6", "behavior"]
res = clean_study("data/raw/mastery_trial")
write_table(res.clean[cols], "tests/reference/latent_mastery.csv")
