"""Measurement models: CFA, measurement invariance and discriminant validity (issue #4).

- :func:`cfa` -- ML confirmatory factor analysis (single- or multi-group, ``group.equal`` /
  ``group.partial``, FIML) on the lavaan-compatible engine :mod:`efficacy.sem`, with lavaan
  ``fitMeasures`` names, parameter estimates with ``std_all`` and modification indices
  (matches ``lavaan::cfa``, ``parameterEstimates``, ``standardizedSolution``, ``modindices``).
- :func:`invariance` -- configural / metric / scalar / strict sequence with LRT
  (``lavaan::lavTestLRT``), Chen (2007) decisions and a search for partial scalar invariance.
- :func:`discriminant_validity` -- HTMT (``semTools::htmt``) with bootstrap CIs, AVE
  (``semTools::AVE``), Fornell-Larcker, and the chi-square difference test against a factor
  correlation of 1.
- :func:`run_stage` -- the workflow's ``measurement`` stage.

Examples
--------
>>> from efficacy.measurement import cfa, invariance
>>> res = cfa(df, {"efficacy": ["se1", "se2", "se3"], "esteem": ["r1", "r2", "r3"]})  # doctest: +SKIP
>>> invariance(df, {"efficacy": ["se1", "se2", "se3", "se4"]}, group="culture")     # doctest: +SKIP

Layout: :mod:`.cfa` (CFA, fit measures, modification indices), :mod:`.invariance` (multi-group
invariance), :mod:`.discriminant` (HTMT, AVE, Fornell-Larcker), :mod:`.stage` (the workflow stage).
"""
from ..errors import MeasurementError
from .cfa import FIT_KEYS, ROBUST_FIT_KEYS, CFAResult, cfa
from .discriminant import (
           DISCRIMINANT_COLUMNS,
           DiscriminantResult,
           HTMTResult,
           discriminant_validity,
           htmt,
)
from .invariance import INVARIANCE_COLUMNS, InvarianceResult, invariance
from .stage import CFA_FIT_COLUMNS, run_stage, stage_groups

__all__ = ["htmt", "HTMTResult", "cfa", "CFAResult", "FIT_KEYS", "ROBUST_FIT_KEYS", "MeasurementError",
           "invariance", "InvarianceResult", "INVARIANCE_COLUMNS", "discriminant_validity", "DiscriminantResult",
           "DISCRIMINANT_COLUMNS",
           "run_stage", "stage_groups", "CFA_FIT_COLUMNS"]
