"""Measurement models: CFA, measurement invariance and discriminant validity (issue #4).

- :func:`cfa` -- ML confirmatory factor analysis (single- or multi-group, ``group.equal`` /
  ``group.partial``, FIML) on the lavaan-compatible engine :mod:`efficacy.sem`, with lavaan
  ``fitMeasures`` names, parameter estimates with ``std_all`` and modification indices
  (matches ``lavaan::cfa``, ``parameterEstimates``, ``standardizedSolution``, ``modindices``).
- :func:`invariance` -- configural / metric / scalar / strict sequence (ML, MLR, MLM) or the Wu &
  Estabrook (2016) ordinal sequence (WLSMV) with (scaled) difference tests (``lavaan::lavTestLRT``),
  delta-CFI decisions and a search for partial scalar invariance by score tests (``lavTestScore``).
- :func:`discriminant_validity` -- HTMT (``semTools::htmt``) with bootstrap CIs, AVE
  (``semTools::AVE``), Fornell-Larcker, and the chi-square difference test against a factor
  correlation of 1.
- :func:`longitudinal_invariance` -- the same scale at each wave of a panel: configural / metric /
  scalar / strict over waves with correlated item residuals, or for ordered items (WLSMV)
  configural / thresholds / metric / scalar (:mod:`.longitudinal`).
- :func:`alignment` -- approximate invariance across many groups by the alignment method
  (Asparouhov & Muthen, 2014), with the non-invariant parameters per group (:mod:`.alignment`).
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
from .alignment import ALIGNMENT_COLUMNS, AlignmentResult, alignment
from .cfa import FIT_KEYS, ROBUST_FIT_KEYS, CFAResult, cfa
from .discriminant import (
           DISCRIMINANT_COLUMNS,
           DiscriminantResult,
           HTMTResult,
           discriminant_validity,
           htmt,
)
from .invariance import (
           INVARIANCE_COLUMNS,
           PARTIAL_SEARCH_COLUMNS,
           InvarianceResult,
           invariance,
)
from .longitudinal import (
           LONGITUDINAL_COLUMNS,
           LongitudinalInvarianceResult,
           longitudinal_invariance,
           longitudinal_syntax,
)
from .stage import CFA_FIT_COLUMNS, run_stage, stage_groups

__all__ = ["htmt", "HTMTResult", "cfa", "CFAResult", "FIT_KEYS", "ROBUST_FIT_KEYS", "MeasurementError",
           "invariance", "InvarianceResult", "INVARIANCE_COLUMNS", "PARTIAL_SEARCH_COLUMNS", "discriminant_validity",
           "DiscriminantResult", "DISCRIMINANT_COLUMNS", "longitudinal_invariance", "longitudinal_syntax",
           "LongitudinalInvarianceResult", "LONGITUDINAL_COLUMNS", "alignment", "AlignmentResult", "ALIGNMENT_COLUMNS",
           "run_stage", "stage_groups", "CFA_FIT_COLUMNS"]
