"""Meta-analysis: effect sizes, random-effects pooling, diagnostics, bias, multilevel models, MASEM.

Names follow R's metafor (Viechtbauer, 2010, *Journal of Statistical Software*, 36(3)) so that
researchers recognise them: :func:`escalc` computes ``yi``/``vi``; :func:`random_effects` is
``rma()``; :func:`leave_one_out`, :func:`influence` and :func:`cumulative` are ``leave1out()``,
``influence()`` and ``cumul()``; :func:`egger_test` is ``regtest()``; :func:`trim_and_fill` is
``trimfill()``; :func:`three_level` is ``rma.mv(random = ~ 1 | study/es_id)``; :func:`masem`
is the two-stage approach with ``rcalc()``, ``rma.mv(struct="UN")`` and ``matreg()``;
:func:`tssem` is metaSEM's ``tssem1()`` + ``tssem2()`` (stage 2 on the project's SEM engine).

Modules
-------
effect_sizes  ``escalc()`` and conversions between effect-size metrics
univariate    ``rma()``: tau-squared estimators, moderators, tests, influence, subgroups
bias          small-study effects: Egger's test, trim-and-fill, PET-PEESE
selection     rank test, step-function and beta selection models, Vevea & Woods sensitivity table
multilevel    three-level models with cluster-robust (CR2) inference
dependent     the CHE working model with CR2 / Satterthwaite inference, variance per level
masem         meta-analytic SEM on pooled correlation matrices, Becker's GLS route (``matreg()``)
tssem         two-stage SEM (Cheung & Chan 2005): pooled matrix, then a lavaan-syntax model by WLS
stage         the workflow stage (``run_analysis``, ``load_tables``)

Every number is checked against metafor 3.8 in ``tests/test_meta.py`` (fixtures written by
``tests/reference/meta.R``).

Example
-------
>>> from efficacy.meta import escalc, random_effects, transf
>>> es = escalc(measure="ZCOR", ri=[0.30, 0.15, 0.42, 0.25, 0.05], ni=[120, 80, 60, 200, 150])
>>> res = random_effects(es, method="REML")      # the columns yi, vi of the escalc table
>>> round(res.estimate, 4), round(res.tau2, 4), round(res.I2, 1)
(0.2292, 0.0104, 54.3)
>>> round(float(transf(res.estimate, "ZCOR")), 3)   # pooled r
0.225

On ``dat.bcg`` (``data/literature/bcg.csv``; ``escalc(bcg, "RR", ai="tpos", bi="tneg", ci="cpos",
di="cneg")``) this gives metafor's -0.7145 (SE 0.1798), tau2 0.3132 [0.1197, 1.1115].
"""

from ..errors import MetaError
from .bias import EggerResult, PETPEESEResult, TrimFillResult, egger_test, pet_peese, trim_and_fill
from .dependent import (
                        CHEResult,
                        CHESensitivityResult,
                        che,
                        che_sensitivity,
                        impute_covariance,
)
from .effect_sizes import (
                        MEASURES,
                        d_to_logor,
                        d_to_r,
                        escalc,
                        logor_to_d,
                        r_to_d,
                        transf,
)
from .masem import MASEMResult, masem, rcalc
from .multilevel import ThreeLevelResult, three_level
from .selection import (
                        VEVEA_WOODS_2005,
                        RankTestResult,
                        SelectionResult,
                        VeveaWoodsResult,
                        ranktest,
                        selection_model,
                        vevea_woods,
)
from .stage import load_tables, run_analysis
from .tssem import TSSEM1Result, TSSEMResult, tssem, tssem1, tssem2
from .univariate import (
                        METHODS,
                        CumulativeResult,
                        InfluenceResult,
                        LeaveOneOutResult,
                        RMAResult,
                        SubgroupResult,
                        cumulative,
                        influence,
                        leave_one_out,
                        random_effects,
                        subgroup,
)

__all__ = [
    "MetaError", "METHODS", "MEASURES",
    "escalc", "d_to_r", "r_to_d", "d_to_logor", "logor_to_d", "transf",
    "RMAResult", "random_effects", "SubgroupResult", "subgroup", "LeaveOneOutResult", "leave_one_out",
    "InfluenceResult", "influence", "CumulativeResult", "cumulative",
    "EggerResult", "egger_test", "TrimFillResult", "trim_and_fill", "PETPEESEResult", "pet_peese",
    "RankTestResult", "ranktest", "SelectionResult", "selection_model", "VeveaWoodsResult", "vevea_woods",
    "VEVEA_WOODS_2005",
    "ThreeLevelResult", "three_level",
    "CHEResult", "CHESensitivityResult", "che", "che_sensitivity", "impute_covariance",
    "MASEMResult", "rcalc", "masem",
    "TSSEM1Result", "TSSEMResult", "tssem", "tssem1", "tssem2",
    "run_analysis", "load_tables",
]
