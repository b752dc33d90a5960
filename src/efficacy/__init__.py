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
mediation     bootstrap, causal mediation and sensitivity analysis
panel         CLPM, RI-CLPM and within-person multilevel models
meta          effect sizes, random-effects meta-analysis, bias diagnostics, MASEM
simulate      seeded generator of realistic example studies
plots         publication-quality figures
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("efficacy")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
