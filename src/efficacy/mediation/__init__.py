"""Mediation: does self-efficacy carry the effect of an intervention, or only go along with it?

Modules
-------
observed      product-of-coefficients mediation with parallel mediators, delta-method SEs,
              batched bootstrap and Monte Carlo CIs (:func:`mediate`; PROCESS model 4)
serial        serial mediators in a chain, PROCESS model 6 (:func:`serial_mediation`; also
              ``mediate(m="m1 -> m2")``): specific and total indirect effects, contrasts
missing       mediation on incomplete data: FIML in the SEM engine (batched-EM bootstrap) and
              multiple imputation with Rubin's rules (``mediate(..., missing="fiml" | "mi")``)
moderated     conditional indirect effects, index of moderated mediation (PROCESS 7 and 14)
sensitivity   the ACME(rho) curve for sequential ignorability (Imai, Keele & Yamamoto 2010)
robustness    omitted-variable bias bounds and robustness values (Cinelli & Hazlett 2020), E-values
causal        causal mediation by simulation of potential outcomes (Imai et al. 2010); linear or
              binary (logit/probit) mediator
interventional interventional direct and indirect effects of one or several (linear or binary)
              mediators by Monte Carlo g-computation (Vansteelandt & Daniel 2017)
encouragement the b path identified by an encouragement arm: 2SLS with first-stage F and the
              Anderson-Rubin set (:func:`encouragement_iv`; Imai, Tingley & Yamamoto 2013)
evidence      the evidence profile: per link what the design identifies, robustness, E-values,
              panel order, and a graded verdict per pair (:func:`evidence_profile`)
latent        latent mediation: the efficacy scale as a factor in the SEM engine
stage         the workflow stage: every design role of a codebook, model comparisons, verdict

The modules depend downwards only: ``stage`` uses the others, ``latent`` uses ``observed``
(for the sum-score comparison), and nothing here imports ``stage``.
"""

from .causal import CausalMediationResult, causal_mediation
from .encouragement import EncouragementResult, encouragement_iv
from .evidence import EvidenceProfile, evidence_profile
from .interventional import InterventionalResult, interventional_effects
from .latent import LatentMediationResult, latent_mediation
from .missing import MissingMediationResult
from .moderated import MODERATED_COLUMNS, ModeratedMediationResult, moderated_mediation
from .observed import MediationResult, mediate
from .robustness import (EValueResult, OmittedVariableSensitivity, evalue, omitted_variable_sensitivity,
                         robustness_value)
from .sensitivity import SensitivityResult, sensitivity
from .serial import SerialMediationResult, serial_mediation
from .stage import (
                    MODEL_COMPARISON_COLUMNS,
                    MODERATED_STAGE_COLUMNS,
                    ModelComparisonResult,
                    compare_models,
                    run_stage,
                    verdict,
)

__all__ = [
    "MediationResult", "mediate", "MissingMediationResult",
    "SerialMediationResult", "serial_mediation",
    "ModeratedMediationResult", "moderated_mediation", "MODERATED_COLUMNS",
    "SensitivityResult", "sensitivity",
    "OmittedVariableSensitivity", "omitted_variable_sensitivity", "robustness_value", "EValueResult", "evalue",
    "CausalMediationResult", "causal_mediation", "InterventionalResult", "interventional_effects",
    "EncouragementResult", "encouragement_iv",
    "LatentMediationResult", "latent_mediation", "EvidenceProfile", "evidence_profile",
    "ModelComparisonResult", "compare_models", "run_stage", "verdict", "MODEL_COMPARISON_COLUMNS", "MODERATED_STAGE_COLUMNS",
]
