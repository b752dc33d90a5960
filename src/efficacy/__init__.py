"""efficacy: a reproducible statistical pipeline for self-efficacy research.

The library holds every statistic used by the Snakemake workflow, so that the
same numbers can be reproduced from a notebook or a Python session.

Modules
-------
codebook      read and validate study codebooks (``load_codebook``)
cleaning      raw study file -> clean, scored data with a participant flow
reliability   alpha, omega, item analysis, test-retest ICCs
sem           maximum-likelihood structural equation models (lavaan conventions)
measurement   CFA, measurement invariance, discriminant validity
mediation     bootstrap, moderated mediation and sensitivity analysis
causal        causal mediation by simulation of potential outcomes (Imai et al.)
latent        latent mediation: the efficacy factor as mediator (SEM)
panel         CLPM, RI-CLPM and within-person multilevel models
meta          effect sizes, random-effects meta-analysis, bias diagnostics, MASEM
simulate      seeded generator of realistic example studies
plots         publication-quality figures
simulation    Monte Carlo power and CI-coverage studies
summary       the APA-style results/summary.md and .html
resampling    bootstrap case counts and BCa intervals shared by the estimators
io            atomic table writes and reading clean data
provenance    the run record: versions, config, input checksums
workflow      glue for the Snakemake rules: parse-time checks, stage output writers
cli           `efficacy validate` and `efficacy new-study`
notebooks     run the student notebooks (used by the tests)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("efficacy")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
