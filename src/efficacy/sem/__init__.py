"""The structural equation modelling engine: every model in efficacy goes through it.

One engine (:mod:`efficacy.sem.engine`) fits a model written in lavaan syntax by
normal-theory maximum likelihood, with full-information ML for missing data and
multi-group equality constraints. CFA and invariance (:mod:`efficacy.measurement`),
latent mediation (:mod:`efficacy.mediation.latent`) and the panel models
(:mod:`efficacy.panel`) are built on it.

Modules
-------
engine        model building (RAM form), ML and FIML likelihoods, optimiser, SEs,
              fit measures, multi-group models; :func:`sem` and :func:`parse_model`
robust        MLR / MLM: sandwich SEs, Yuan-Bentler and Satorra-Bentler scaled tests, robust CFI/TLI/RMSEA,
              cluster-robust SEs (``cluster=``)
wls           WLSMV for ordered indicators: DWLS on thresholds and polychorics, robust SEs, scale-shifted test
lrt           difference tests of nested fits (LRT; Satorra-Bentler 2001 / 2010; Satorra 2000 DWLS) and
              score tests of released equality constraints (lavaan lavTestLRT / lavTestScore)
categorical   ordered-categorical items: thresholds, polychoric and polyserial correlations
              (two-step, Olsson 1979) with their asymptotic covariance (the WLSMV input), ordinal alpha
fit           std_all, SRMR and CFI/TLI/RMSEA, shared by the ML, multi-group and WLSMV fitters
core          the engine's internal interface for the other modules (Model, Patterns, loglik_grad,
              numerical_hessian, saturated_fit, em_saturated, rmsea_ci): they never import its privates
batch         batched ML fitters for bootstrap refits: one_factor_ml (omega) and fisher_scoring (latent
              mediation, multiverse)

The package is callable: ``ef.sem(data, model, ...)`` is :func:`efficacy.sem.engine.sem`, also after
``import efficacy.sem`` has made the attribute ``efficacy.sem`` this package rather than the function.
"""

import inspect as _inspect
import sys as _sys
import types as _types

from ..errors import SEMError
from .categorical import PolychoricResult, ordinal_alpha, polychoric, polyserial, thresholds
from .engine import SEMResult, parse_model, sem
from .lrt import lrt_difference, score_test

__all__ = ["SEMError", "SEMResult", "parse_model", "sem", "PolychoricResult", "polychoric", "polyserial", "thresholds",
           "ordinal_alpha", "lrt_difference", "score_test"]


class _CallablePackage(_types.ModuleType):
    """``efficacy.sem`` is both the subpackage and (through ``ef.sem``) the fitting function: the
    import system binds the subpackage to the name ``sem`` of ``efficacy``, so calling it fits."""

    def __call__(self, *args, **kwargs):
        return sem(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
__signature__ = _inspect.signature(sem)
