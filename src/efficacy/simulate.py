"""Simulated self-efficacy studies from documented data-generating models.

This module generates realistic, seeded data for the bundled example studies
(``data/raw/<study>/``) and for tests. Every study function returns the data,
its codebook (the dict written as ``codebook.yaml``) and the *true* parameters
of the data-generating model, so that analyses of the simulated data can be
checked against the truth.

Building blocks
---------------
A latent standard-normal factor eta drives each multi-item scale. An item
has a continuous response on the response scale,

    y*_ij = nu_j + lambda_j * eta_i + e_ij,      e_ij ~ N(0, sigma_j^2),

and the observed ordinal response (``lo .. hi``) counts the thresholds
``tau_1 < ... < tau_{K-1}`` that y* exceeds (default thresholds are the
half-way points ``lo + 0.5, ..., hi - 0.5``, i.e. rounding y* to the nearest
category and clipping at the ends: the ordinal-response model of Samejima,
1969, with a normal-ogive link). A reverse-keyed item is generated in the
keyed direction and reported as ``lo + hi - x``. Non-invariant item
intercepts (differential item functioning) are a per-group shift of nu_j.

Bandura-format scales (Bandura, 2006, *Guide for constructing self-efficacy
scales*) list tasks of increasing difficulty b_j; confidence in doing each
task is ``100 * Phi(a * (eta - b_j)) + noise``, rounded to the nearest 10
and clipped to 0-100.

Waves follow the random-intercept cross-lagged panel model (RI-CLPM;
Hamaker, Kuiper & Grasman, 2015): a stable person intercept plus a
stationary within-person VAR(1) process.

Missingness: MCAR cells, MAR cells whose probability depends on an observed
variable through a logistic model, and whole missing occasions, all written
with a missing code (default ``-99``).

The studies
-----------
``mastery_trial``, ``confounded_survey``, ``weekly_panel``, ``two_cultures``;
see each function's docstring and the study's README for the model and its
true parameters. The command-line interface writes one study folder::

    python -m efficacy.simulate mastery_trial --seed 20260101 --out data/raw/mastery_trial

Examples
--------
>>> from efficacy.simulate import mastery_trial
>>> data, codebook, truth = mastery_trial(n=200, seed=1)
>>> truth["parameters"]["a_treat_to_efficacy"]
0.5
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import norm

__all__ = [
    "MISSING_CODE",
    "STUDIES",
    "DEFAULT_SEEDS",
    "latent_normal",
    "correlated_factor",
    "randomise",
    "likert_items",
    "expected_likert_mean",
    "bandura_ratings",
    "ri_clpm_waves",
    "stationary_within_covariance",
    "add_missing",
    "missing_occasions",
    "mastery_trial",
    "confounded_survey",
    "weekly_panel",
    "two_cultures",
    "simulate_study",
    "write_study",
    "codebook_to_yaml",
    "main",
]

#: Missing-value code written into the simulated files.
MISSING_CODE = -99

#: Seeds used to generate the bundled studies (``data/raw/<study>``).
DEFAULT_SEEDS = {
    "mastery_trial": 20260101,
    "confounded_survey": 20260102,
    "weekly_panel": 20260103,
    "two_cultures": 20260104,
}


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def latent_normal(n, rng, mean=0.0, sd=1.0):
    """Draw ``n`` values of a normal latent variable.

    Parameters
    ----------
    n : int
        Number of participants.
    rng : numpy.random.Generator or int
        Random generator or seed.
    mean, sd : float or array_like
        Mean and standard deviation (broadcast against ``n``).

    Returns
    -------
    numpy.ndarray of shape (n,)
    """
    rng = _rng(rng)
    return mean + sd * rng.standard_normal(n)


def correlated_factor(base, r, rng, base_sd=None):
    """A standard-normal factor with population correlation ``r`` with ``base``.

    ``f = r * base / sd(base) + sqrt(1 - r^2) * z``, with ``z ~ N(0, 1)``
    independent of ``base``. ``base_sd`` is the *population* SD of ``base``
    (default: the sample SD), so that ``r`` is a population value.

    Parameters
    ----------
    base : array_like of shape (n,)
    r : float
        Correlation in [-1, 1].
    rng : numpy.random.Generator or int
    base_sd : float, optional

    Returns
    -------
    numpy.ndarray of shape (n,)
    """
    if not -1.0 <= r <= 1.0:
        raise ValueError(f"correlation r must lie in [-1, 1]; got {r}")
    rng = _rng(rng)
    base = np.asarray(base, dtype=float)
    sd = float(np.std(base)) if base_sd is None else float(base_sd)
    return r * base / sd + np.sqrt(1.0 - r * r) * rng.standard_normal(base.shape[0])


def randomise(n, rng, p=0.5):
    """Complete randomisation: exactly ``round(p * n)`` of ``n`` are treated.

    Returns
    -------
    numpy.ndarray of int (0/1), shape (n,)
    """
    rng = _rng(rng)
    treat = np.zeros(n, dtype=int)
    treat[: int(round(p * n))] = 1
    return rng.permutation(treat)


def _default_thresholds(lo, hi):
    return np.arange(lo, hi, dtype=float) + 0.5


def likert_items(eta, loadings, intercepts, residual_sd, rng, *, response_range=(1, 5),
                 thresholds=None, reverse=None, intercept_shift=None):
    """Ordinal Likert items from a latent factor via thresholds on y*.

    ``y*_ij = nu_j + shift_ij + lambda_j * eta_i + e_ij``; the observed response
    is ``lo + #{k : y*_ij > tau_k}``; reverse-keyed items are reported as
    ``lo + hi - x`` (so reverse-scoring them recovers the keyed response).

    Parameters
    ----------
    eta : array_like of shape (n,)
        Latent factor scores.
    loadings, intercepts, residual_sd : array_like of shape (k,) or scalar
        lambda_j, nu_j and sigma_j on the response scale.
    rng : numpy.random.Generator or int
    response_range : (int, int)
        Lowest and highest response category.
    thresholds : array_like of shape (hi - lo,), optional
        Increasing thresholds; default the half-way points between categories.
    reverse : array_like of bool, shape (k,), optional
        Which items are reverse-keyed.
    intercept_shift : array_like of shape (n, k), optional
        Per-participant intercept shifts (e.g. a group's non-invariant item).

    Returns
    -------
    numpy.ndarray of int, shape (n, k)
    """
    rng = _rng(rng)
    eta = np.asarray(eta, dtype=float)
    lo, hi = (int(v) for v in response_range)
    lam = np.atleast_1d(np.asarray(loadings, dtype=float))
    k = lam.shape[0]
    nu = np.broadcast_to(np.asarray(intercepts, dtype=float), (k,))
    sig = np.broadcast_to(np.asarray(residual_sd, dtype=float), (k,))
    tau = _default_thresholds(lo, hi) if thresholds is None else np.asarray(thresholds, dtype=float)
    if tau.shape != (hi - lo,) or np.any(np.diff(tau) <= 0):
        raise ValueError(f"thresholds must be {hi - lo} increasing values for range [{lo}, {hi}]")
    ystar = nu + eta[:, None] * lam + sig * rng.standard_normal((eta.shape[0], k))
    if intercept_shift is not None:
        ystar = ystar + np.asarray(intercept_shift, dtype=float)
    x = lo + (ystar[:, :, None] > tau).sum(axis=2)
    if reverse is not None:
        rev = np.asarray(reverse, dtype=bool)
        x[:, rev] = lo + hi - x[:, rev]
    return x.astype(int)


def expected_likert_mean(mean, sd, response_range=(1, 5), thresholds=None):
    """Population mean of an ordinal item whose y* is ``N(mean, sd^2)``.

    ``E[x] = lo + sum_k Phi((mean - tau_k) / sd)``. Used to state true item means.

    Returns
    -------
    float or numpy.ndarray
    """
    lo, hi = (int(v) for v in response_range)
    tau = _default_thresholds(lo, hi) if thresholds is None else np.asarray(thresholds, dtype=float)
    mean = np.asarray(mean, dtype=float)
    return lo + norm.cdf((mean[..., None] - tau) / np.asarray(sd, dtype=float)[..., None]).sum(axis=-1)


def bandura_ratings(eta, difficulty, rng, *, discrimination=1.2, noise_sd=8.0, step=10):
    """Bandura-format 0-100 confidence ratings of graded tasks.

    Confidence for task j: ``100 * Phi(a * (eta_i - b_j)) + e_ij``,
    ``e_ij ~ N(0, noise_sd^2)``, rounded to the nearest ``step`` and clipped to
    [0, 100] (Bandura, 2006).

    Parameters
    ----------
    eta : array_like of shape (n,)
    difficulty : array_like of shape (k,)
        Task difficulties b_j (latent units), increasing for a graded scale.
    rng : numpy.random.Generator or int
    discrimination : float
    noise_sd : float
    step : int

    Returns
    -------
    numpy.ndarray of int, shape (n, k)
    """
    rng = _rng(rng)
    eta = np.asarray(eta, dtype=float)
    b = np.asarray(difficulty, dtype=float)
    conf = 100.0 * norm.cdf(discrimination * (eta[:, None] - b))
    conf = conf + noise_sd * rng.standard_normal(conf.shape)
    conf = step * np.round(conf / step)
    return np.clip(conf, 0, 100).astype(int)


def stationary_within_covariance(ar_x, ar_y, x_to_y, y_to_x):
    """Stationary within-person covariance and innovation covariance of a VAR(1).

    Model: ``x_t = ar_x x_{t-1} + y_to_x y_{t-1} + u_t``,
    ``y_t = x_to_y x_{t-1} + ar_y y_{t-1} + v_t``, with uncorrelated
    innovations scaled so that the stationary variances of x and y are 1.

    Returns
    -------
    sigma : numpy.ndarray (2, 2)
        Stationary covariance (unit diagonal) of (x_t, y_t).
    q : numpy.ndarray (2, 2)
        Diagonal innovation covariance.
    """
    a = np.array([[ar_x, y_to_x], [x_to_y, ar_y]], dtype=float)
    if np.max(np.abs(np.linalg.eigvals(a))) >= 1.0:
        raise ValueError(f"VAR(1) matrix {a.tolist()} is not stationary (an eigenvalue has modulus >= 1)")
    s12 = (ar_x * x_to_y + y_to_x * ar_y) / (1.0 - ar_x * ar_y - y_to_x * x_to_y)
    sigma = np.array([[1.0, s12], [s12, 1.0]])
    q = sigma - a @ sigma @ a.T
    if abs(q[0, 1]) > 1e-12 or np.any(np.diag(q) <= 0):
        raise ValueError("no stationary solution with unit variances and uncorrelated innovations")
    return sigma, np.diag(np.diag(q))


def ri_clpm_waves(n, n_waves, rng, *, ar_x=0.3, ar_y=0.3, x_to_y=0.25, y_to_x=0.0,
                  ri_sd=(1.0, 1.0), ri_corr=0.5):
    """Latent x and y over waves from a random-intercept cross-lagged panel model.

    ``x_it = RI^x_i + w^x_it``, ``y_it = RI^y_i + w^y_it``; the random
    intercepts are bivariate normal (SDs ``ri_sd``, correlation ``ri_corr``);
    the within-person parts follow the stationary VAR(1) of
    :func:`stationary_within_covariance` (unit within variances, so the
    unstandardised within-person paths are also the standardised ones) and
    start in the stationary distribution (Hamaker et al., 2015). The loop
    runs over waves; participants are vectorised.

    Returns
    -------
    x, y : numpy.ndarray of shape (n, n_waves)
    """
    rng = _rng(rng)
    sigma, q = stationary_within_covariance(ar_x, ar_y, x_to_y, y_to_x)
    a = np.array([[ar_x, y_to_x], [x_to_y, ar_y]])
    if not -1.0 <= ri_corr <= 1.0 or min(ri_sd) < 0:
        raise ValueError(f"need ri_sd >= 0 and ri_corr in [-1, 1]; got {ri_sd}, {ri_corr}")
    z = rng.standard_normal((n, 2))
    ri = np.column_stack([ri_sd[0] * z[:, 0],
                          ri_sd[1] * (ri_corr * z[:, 0] + np.sqrt(1.0 - ri_corr ** 2) * z[:, 1])])
    w = np.empty((n, n_waves, 2))
    w[:, 0] = rng.standard_normal((n, 2)) @ np.linalg.cholesky(sigma).T
    innov = rng.standard_normal((n, n_waves, 2)) * np.sqrt(np.diag(q))
    for t in range(1, n_waves):
        w[:, t] = w[:, t - 1] @ a.T + innov[:, t]
    return ri[:, [0]] + w[:, :, 0], ri[:, [1]] + w[:, :, 1]


def add_missing(data, columns, rate, rng, *, mechanism="MCAR", driver=None, slope=1.0,
                code=MISSING_CODE):
    """Replace cells by a missing code, MCAR or MAR.

    MCAR: each cell is missing with probability ``rate``. MAR: each cell of
    row i is missing with probability ``expit(c + slope * z_i)``, ``z`` the
    standardised ``driver`` column (observed, never itself made missing here)
    and ``c`` chosen so that the mean probability equals ``rate``.

    Parameters
    ----------
    data : pandas.DataFrame
        Modified copy is returned.
    columns : list of str
    rate : float
    rng : numpy.random.Generator or int
    mechanism : {"MCAR", "MAR"}
    driver : str, optional
        Column driving MAR missingness.
    slope : float
        Log-odds change per SD of the driver.
    code : int

    Returns
    -------
    pandas.DataFrame
    """
    rng = _rng(rng)
    out = data.copy()
    columns = list(columns)
    n = len(out)
    if mechanism == "MCAR":
        p = np.full(n, float(rate))
    elif mechanism == "MAR":
        if driver is None or driver not in out:
            raise ValueError(f"MAR missingness needs an observed driver column; got {driver!r}")
        d = out[driver].to_numpy(dtype=float)
        z = (d - d.mean()) / d.std()
        c = brentq(lambda c: expit(c + slope * z).mean() - rate, -30, 30)
        p = expit(c + slope * z)
    else:
        raise ValueError(f"mechanism must be 'MCAR' or 'MAR'; got {mechanism!r}")
    mask = rng.random((n, len(columns))) < p[:, None]
    for j, col in enumerate(columns):
        vals = out[col].to_numpy().copy()
        vals[mask[:, j]] = code
        out[col] = vals
    return out


def missing_occasions(data, wave_columns, rate, rng, *, code=MISSING_CODE):
    """Whole missing occasions (MCAR): all columns of a wave missing together.

    Parameters
    ----------
    data : pandas.DataFrame
    wave_columns : list of list of str
        For each wave, the columns measured at that occasion.
    rate : float
        Probability that a participant misses a given wave.

    Returns
    -------
    data : pandas.DataFrame
        Modified copy.
    mask : numpy.ndarray of bool, shape (n, n_waves)
        True where the occasion is missing.
    """
    rng = _rng(rng)
    out = data.copy()
    mask = rng.random((len(out), len(wave_columns))) < rate
    for t, cols in enumerate(wave_columns):
        for col in cols:
            vals = out[col].to_numpy().copy()
            vals[mask[:, t]] = code
            out[col] = vals
    return out, mask


# ---------------------------------------------------------------------------
# Shared pieces of the studies
# ---------------------------------------------------------------------------


def _ids(n, prefix="P"):
    width = max(4, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _age(n, rng, mean=40.0, sd=12.0, lo=18, hi=80):
    return np.clip(np.round(mean + sd * rng.standard_normal(n)), lo, hi).astype(int)


def _gender(n, rng):
    return rng.choice(np.array(["female", "male", "diverse"], dtype=object), size=n,
                      p=[0.52, 0.46, 0.02])


def _item_block(data, prefix, x, start=1):
    for j in range(x.shape[1]):
        data[f"{prefix}{j + start}"] = x[:, j]


def _item_var(label, lo, hi):
    return {"type": "integer", "range": [lo, hi], "label": label}


def _scale(construct, items, response_range, *, domain=None, reverse=(), min_items=None,
           label=None, **extra):
    spec = {"construct": construct}
    if domain is not None:
        spec["domain"] = domain
    if label is not None:
        spec["label"] = label
    spec["items"] = list(items)
    spec["reverse"] = list(reverse)
    spec["response_range"] = list(response_range)
    spec["min_items"] = int(min_items if min_items is not None else max(1, len(items) - 2))
    spec.update(extra)
    return spec


def _header(study, title, description):
    return {
        "study": study,
        "title": title,
        "description": description,
        "data": {"file": "data.csv", "format": "csv"},
        "id": "pid",
        "missing_codes": [MISSING_CODE],
        "strict": False,
        "duplicates": "keep_first",
        "drop": [],
    }


_SELF_EFFICACY_ITEMS = [
    "I can keep exercising even when I feel tired",
    "I can exercise when I have worries",
    "I doubt I can exercise when I am busy (reverse-keyed)",
    "I can stick to my plan after a setback",
    "I can exercise when the weather is bad",
    "I can make time for exercise on most days",
]


# ---------------------------------------------------------------------------
# Study 1: mastery_trial
# ---------------------------------------------------------------------------


def mastery_trial(n=400, seed=DEFAULT_SEEDS["mastery_trial"]):
    """Randomised mastery intervention in which efficacy truly mediates behaviour.

    Data-generating model (latent units; all noises independent N(0, 1) unless
    stated):

    - ``treat``: complete randomisation, n/2 per arm.
    - efficacy ``eta = 0.5 * treat + e`` (population SD sqrt(1.0625)).
    - outcome expectation factor: correlation 0.4 with eta; self-esteem
      factor: correlation 0.3 with eta.
    - sources of efficacy (mastery, vicarious, persuasion, arousal): factors
      with correlations 0.5, 0.3, 0.4, -0.3 with eta; 4 items each (1-5);
      vicarious items have weak loadings (alpha about .55), the others strong.
    - Bandura-format task ratings (0-100): exercise tasks driven by eta,
      diet tasks by a factor correlated 0.6 with eta.
    - behaviour ``b* = 0.4 * eta + 0.1 * treat + e``; ``behavior`` = minutes
      of moderate-to-vigorous activity per week = ``200 + 50 * b*`` (rounded to
      0.1, floored at 0); ``adherent = behavior >= 150``.
    - Planted problems: about 3% fail the attention check (``attention != 4``),
      2 participants younger than 18, about 2% MCAR item nonresponse coded
      -99, 3 out-of-range values, 1 duplicated row (a double submission).

    Parameters
    ----------
    n : int
        Number of distinct participants (the file has n + 1 rows).
    seed : int or numpy.random.Generator

    Returns
    -------
    data : pandas.DataFrame
    codebook : dict
    truth : dict
    """
    if n < 40:
        raise ValueError(f"mastery_trial needs n >= 40; got {n}")
    rng = _rng(seed)
    a, b, c = 0.5, 0.4, 0.1
    treat = randomise(n, rng)
    eta = a * treat + rng.standard_normal(n)
    eta_sd = float(np.sqrt(a * a * 0.25 + 1.0))
    oe = correlated_factor(eta, 0.4, rng, eta_sd)
    est = correlated_factor(eta, 0.3, rng, eta_sd)
    src_r = {"mastery": 0.5, "vicarious": 0.3, "persuasion": 0.4, "arousal": -0.3}
    src = {k: correlated_factor(eta, r, rng, eta_sd) for k, r in src_r.items()}
    diet = correlated_factor(eta, 0.6, rng, eta_sd)
    bstar = b * eta + c * treat + rng.standard_normal(n)
    behavior = np.maximum(0.0, np.round(200.0 + 50.0 * bstar, 1))

    d = {"pid": _ids(n), "treat": treat, "age": _age(n, rng), "gender": _gender(n, rng)}
    se_rev = [False, False, True, False, False, False]
    se = likert_items(eta, [0.8, 0.75, 0.7, 0.85, 0.7, 0.8], [3.0, 3.2, 2.9, 3.0, 2.7, 3.1], 0.6,
                      rng, reverse=se_rev)
    _item_block(d, "se", se)
    _item_block(d, "oe", likert_items(oe, [0.7, 0.8, 0.75, 0.7], [3.4, 3.6, 3.3, 3.5], 0.6, rng))
    rse_rev = [False, True, False, False, True]
    _item_block(d, "rse", likert_items(est, [0.55, 0.6, 0.5, 0.6, 0.55], [2.9, 2.8, 3.0, 2.9, 2.8],
                                       0.5, rng, response_range=(1, 4), reverse=rse_rev))
    src_items = {}
    for name, prefix in [("mastery", "sm"), ("vicarious", "sv"), ("persuasion", "sp"), ("arousal", "sa")]:
        if name == "vicarious":
            lam, sig = [0.55, 0.5, 0.6, 0.55], 0.9
        else:
            lam, sig = [0.8, 0.75, 0.85, 0.8], 0.55
        x = likert_items(src[name], lam, [3.0, 3.1, 2.9, 3.0], sig, rng)
        _item_block(d, prefix, x)
        src_items[name] = [f"{prefix}{j}" for j in range(1, 5)]
    ex_b = np.linspace(-1.5, 1.8, 7)
    di_b = np.linspace(-1.2, 1.5, 6)
    _item_block(d, "ex", bandura_ratings(eta, ex_b, rng))
    _item_block(d, "di", bandura_ratings(diet, di_b, rng))
    d["behavior"] = behavior
    d["adherent"] = (behavior >= 150).astype(int)
    attention = np.full(n, 4)
    fail = rng.random(n) < 0.03
    attention[fail] = rng.choice(np.array([1, 2, 3, 5]), size=int(fail.sum()))
    d["attention"] = attention
    data = pd.DataFrame(d)

    item_cols = ([f"se{j}" for j in range(1, 7)] + [f"oe{j}" for j in range(1, 5)]
                 + [f"rse{j}" for j in range(1, 6)] + sum(src_items.values(), [])
                 + [f"ex{j}" for j in range(1, 8)] + [f"di{j}" for j in range(1, 7)])
    data = add_missing(data, item_cols, 0.02, rng)
    # planted problems (row positions drawn at random, distinct)
    rows = rng.choice(n, size=6, replace=False)
    data.loc[rows[0], "age"] = 16
    data.loc[rows[1], "age"] = 17
    data.loc[rows[2], "se2"] = 7        # out of range 1-5
    data.loc[rows[3], "rse4"] = 5       # out of range 1-4
    data.loc[rows[4], "ex3"] = 150      # out of range 0-100
    dup = data.iloc[[rows[5]]]
    data = pd.concat([data, dup], ignore_index=True)   # double submission: duplicated id
    planted = {
        "attention_failed_ids": sorted(data.loc[:n - 1].loc[fail, "pid"].tolist()),
        "under_18_ids": sorted(data.loc[rows[:2], "pid"].tolist()),
        "out_of_range": [
            {"id": data.loc[rows[2], "pid"], "variable": "se2", "value": 7},
            {"id": data.loc[rows[3], "pid"], "variable": "rse4", "value": 5},
            {"id": data.loc[rows[4], "pid"], "variable": "ex3", "value": 150},
        ],
        "duplicated_id": str(dup["pid"].iloc[0]),
        "item_nonresponse": {"mechanism": "MCAR", "rate": 0.02, "code": MISSING_CODE,
                             "columns": "all scale items"},
    }

    cb = _header("mastery_trial", "Randomised mastery intervention (simulated)",
                 "Simulated randomised trial of a mastery-experience exercise workshop; self-efficacy "
                 "truly mediates the effect on weekly activity. Generated by efficacy.simulate; see "
                 "README.md for the data-generating model and its true parameters.")
    v = {
        "pid": {"type": "id"},
        "treat": {"type": "binary", "levels": [0, 1], "label": "Assigned to the mastery workshop"},
        "age": {"type": "numeric", "range": [14, 99], "label": "Age in years"},
        "gender": {"type": "categorical", "levels": ["female", "male", "diverse"], "label": "Gender"},
    }
    for j in range(1, 7):
        v[f"se{j}"] = _item_var(f"Exercise self-efficacy: {_SELF_EFFICACY_ITEMS[j - 1]}", 1, 5)
    oe_lab = ["Exercise will make me feel better", "Exercise will improve my health",
              "Exercise will help me sleep", "Exercise will give me more energy"]
    for j in range(1, 5):
        v[f"oe{j}"] = _item_var(f"Outcome expectation: {oe_lab[j - 1]}", 1, 5)
    for j in range(1, 6):
        v[f"rse{j}"] = _item_var(f"Self-esteem item {j}" + (" (reverse-keyed)" if rse_rev[j - 1] else ""), 1, 4)
    src_lab = {"mastery": "Mastery experience", "vicarious": "Vicarious experience",
               "persuasion": "Verbal persuasion", "arousal": "Physiological/affective arousal"}
    for name, items in src_items.items():
        for j, it in enumerate(items, 1):
            v[it] = _item_var(f"Sources of efficacy, {src_lab[name].lower()} item {j}", 1, 5)
    for j in range(1, 8):
        v[f"ex{j}"] = {"type": "integer", "range": [0, 100],
                       "label": f"Confidence (0-100) to do exercise task {j} (difficulty rank {j} of 7)"}
    for j in range(1, 7):
        v[f"di{j}"] = {"type": "integer", "range": [0, 100],
                       "label": f"Confidence (0-100) to do diet task {j} (difficulty rank {j} of 6)"}
    v["behavior"] = {"type": "numeric", "range": [0, 1000],
                     "label": "Minutes of moderate-to-vigorous activity per week (follow-up)"}
    v["adherent"] = {"type": "binary", "levels": [0, 1], "label": "Met 150 minutes per week (follow-up)"}
    v["attention"] = {"type": "integer", "range": [1, 5],
                      "label": "Attention check: 'please select agree (4) here'"}
    cb["variables"] = v
    cb["scales"] = {
        "efficacy": _scale("self_efficacy", [f"se{j}" for j in range(1, 7)], [1, 5], domain="exercise",
                           reverse=["se3"], min_items=4, label="Exercise self-efficacy"),
        "outcome_exp": _scale("outcome_expectation", [f"oe{j}" for j in range(1, 5)], [1, 5],
                              domain="exercise", min_items=3, label="Exercise outcome expectations"),
        "self_esteem": _scale("self_esteem", [f"rse{j}" for j in range(1, 6)], [1, 4],
                              reverse=["rse2", "rse5"], min_items=4, label="Global self-esteem"),
    }
    for name, items in src_items.items():
        cb["scales"][name] = _scale(name, items, [1, 5], domain="exercise", min_items=3,
                                    label=f"Sources of efficacy: {src_lab[name].lower()}")
    cb["scales"]["exercise_tasks"] = _scale(
        "self_efficacy", [f"ex{j}" for j in range(1, 8)], [0, 100], domain="exercise", min_items=5,
        label="Bandura-format exercise self-efficacy (graded tasks)", format="bandura", threshold=50)
    cb["scales"]["diet_tasks"] = _scale(
        "self_efficacy", [f"di{j}" for j in range(1, 7)], [0, 100], domain="diet", min_items=4,
        label="Bandura-format dietary self-efficacy (graded tasks)", format="bandura", threshold=50)
    cb["design"] = {"treatment": "treat", "mediators": ["efficacy"], "outcomes": ["behavior", "adherent"],
                    "covariates": ["age"], "moderator": None}
    cb["exclusions"] = [
        {"variable": "attention", "op": "!=", "value": 4, "reason": "failed the attention check"},
        {"variable": "age", "op": "<", "value": 18, "reason": "younger than 18"},
    ]
    truth = {
        "study": "mastery_trial", "seed": _seed_repr(seed), "n_participants": n, "n_rows": n + 1,
        "parameters": {
            "a_treat_to_efficacy": a,
            "b_efficacy_to_behavior_latent": b,
            "c_prime_treat_to_behavior_latent": c,
            "behavior_scale_minutes_per_latent_unit": 50.0,
            "b_efficacy_to_behavior_minutes": b * 50.0,
            "direct_effect_minutes": c * 50.0,
            "indirect_effect_minutes": a * b * 50.0,
            "total_effect_minutes": (c + a * b) * 50.0,
            "proportion_mediated": a * b / (c + a * b),
            "efficacy_latent_sd": eta_sd,
            "r_efficacy_outcome_expectation": 0.4,
            "r_efficacy_self_esteem": 0.3,
            "r_efficacy_sources": src_r,
            "r_efficacy_diet_factor": 0.6,
            "adherent_rule": "behavior >= 150",
            "bandura_difficulties_exercise": [round(float(x), 4) for x in ex_b],
            "bandura_difficulties_diet": [round(float(x), 4) for x in di_b],
            "observed_metric_approx": {
                "source": "OLS on the efficacy scale score (mean of se1-se6, se3 reversed), one simulated "
                          "sample of n = 200,000 (seed 1); the scale score is an unreliable, rescaled measure "
                          "of eta, so these differ from the latent values",
                "a_treat_to_efficacy_score": 0.361, "b_efficacy_score_to_behavior_minutes": 23.9,
                "direct_effect_minutes": 5.9, "indirect_effect_minutes": 8.6, "total_effect_minutes": 14.5},
            "vicarious_subscale": "weak loadings (0.5-0.6, residual SD 0.9): population alpha about .55; "
                                  "other source subscales about .85",
        },
        "planted": planted,
    }
    return data, cb, truth


# ---------------------------------------------------------------------------
# Study 2: confounded_survey
# ---------------------------------------------------------------------------


#: Loading of the unmeasured common cause U on efficacy and on behaviour. It sets the error
#: correlation U induces between mediator and outcome, u^2 / (u^2 + 1) = 0.168: the size of
#: confounding a sensitivity analysis must be able to call fragile (its rho at ACME = 0 estimates
#: this correlation, attenuated by the scale's unreliability, when the causal b-path is 0).
CONFOUNDER_LOADING = 0.45


def confounded_survey(n=600, seed=DEFAULT_SEEDS["confounded_survey"]):
    """Efficacy and behaviour correlated only through an unmeasured common cause.

    Model (latent units, independent N(0, 1) noises): ``treat`` completely
    randomised; U ~ N(0, 1) unmeasured (not in the data);
    ``eta = 0.5 * treat + 0.45 * U + e``; ``b* = 0.2 * treat + 0.45 * U + e'``
    with NO effect of eta on b*; ``behavior = 200 + 50 * b*`` minutes per week
    (rounded to 0.1, floored at 0). Outcome expectations: a factor correlated
    0.4 with eta. Item nonresponse: MAR, 3% of outcome-expectation items,
    more likely in older participants (logistic slope 1 per SD of age), and
    1% MCAR on the efficacy items, coded -99.

    Returns
    -------
    data, codebook, truth
    """
    if n < 40:
        raise ValueError(f"confounded_survey needs n >= 40; got {n}")
    rng = _rng(seed)
    treat = randomise(n, rng)
    u = rng.standard_normal(n)
    lu = CONFOUNDER_LOADING
    eta = 0.5 * treat + lu * u + rng.standard_normal(n)
    eta_sd = float(np.sqrt(0.0625 + lu ** 2 + 1.0))
    bstar = 0.2 * treat + lu * u + rng.standard_normal(n)
    oe = correlated_factor(eta, 0.4, rng, eta_sd)
    d = {"pid": _ids(n), "treat": treat, "age": _age(n, rng), "gender": _gender(n, rng)}
    _item_block(d, "se", likert_items(eta, [0.7, 0.65, 0.6, 0.75, 0.6, 0.7], [3.0, 3.2, 2.9, 3.0, 2.7, 3.1],
                                      0.6, rng, reverse=[False, False, True, False, False, False]))
    _item_block(d, "oe", likert_items(oe, [0.7, 0.8, 0.75, 0.7], [3.4, 3.6, 3.3, 3.5], 0.6, rng))
    d["behavior"] = np.maximum(0.0, np.round(200.0 + 50.0 * bstar, 1))
    data = pd.DataFrame(d)
    data = add_missing(data, [f"oe{j}" for j in range(1, 5)], 0.03, rng, mechanism="MAR", driver="age")
    data = add_missing(data, [f"se{j}" for j in range(1, 7)], 0.01, rng)
    cb = _header("confounded_survey", "Efficacy and behaviour confounded by an unmeasured cause (simulated)",
                 "Simulated randomised study in which the treatment raises self-efficacy but efficacy has no "
                 "causal effect on behaviour; the two correlate only through an unmeasured common cause. "
                 "A mediation analysis that ignores this finds a spurious indirect effect. Generated by "
                 "efficacy.simulate; see README.md for the true parameters.")
    v = {
        "pid": {"type": "id"},
        "treat": {"type": "binary", "levels": [0, 1], "label": "Assigned to the intervention"},
        "age": {"type": "numeric", "range": [18, 99], "label": "Age in years"},
        "gender": {"type": "categorical", "levels": ["female", "male", "diverse"], "label": "Gender"},
    }
    for j in range(1, 7):
        v[f"se{j}"] = _item_var(f"Exercise self-efficacy: {_SELF_EFFICACY_ITEMS[j - 1]}", 1, 5)
    for j in range(1, 5):
        v[f"oe{j}"] = _item_var(f"Exercise outcome expectation item {j}", 1, 5)
    v["behavior"] = {"type": "numeric", "range": [0, 1000],
                     "label": "Minutes of moderate-to-vigorous activity per week"}
    cb["variables"] = v
    cb["scales"] = {
        "efficacy": _scale("self_efficacy", [f"se{j}" for j in range(1, 7)], [1, 5], domain="exercise",
                           reverse=["se3"], min_items=4, label="Exercise self-efficacy"),
        "outcome_exp": _scale("outcome_expectation", [f"oe{j}" for j in range(1, 5)], [1, 5],
                              domain="exercise", min_items=3, label="Exercise outcome expectations"),
    }
    cb["design"] = {"treatment": "treat", "mediators": ["efficacy"], "outcomes": ["behavior"],
                    "covariates": ["age"], "moderator": None}
    cb["exclusions"] = []
    # naive (confounded) regression of b* on eta given treat: cov(eta, b* | treat) / var(eta | treat)
    naive_b = lu ** 2 / (lu ** 2 + 1.0)
    truth = {
        "study": "confounded_survey", "seed": _seed_repr(seed), "n_participants": n, "n_rows": n,
        "parameters": {
            "a_treat_to_efficacy": 0.5,
            "u_to_efficacy": lu,
            "u_to_behavior_latent": lu,
            "error_correlation_induced_by_u": naive_b,
            "b_efficacy_to_behavior_causal": 0.0,
            "c_treat_to_behavior_latent": 0.2,
            "behavior_scale_minutes_per_latent_unit": 50.0,
            "total_effect_minutes": 10.0,
            "indirect_effect_causal": 0.0,
            "naive_b_latent_given_treat": naive_b,
            "naive_indirect_minutes_latent_metric": 0.5 * naive_b * 50.0,
            "efficacy_latent_sd": eta_sd,
            "r_efficacy_outcome_expectation": 0.4,
            "observed_metric_approx": {
                "source": "OLS on the efficacy scale score, one simulated sample of n = 200,000 (seed 1)",
                "a_treat_to_efficacy_score": 0.320, "b_efficacy_score_to_behavior_minutes_naive": 11.6,
                "direct_effect_minutes_naive": 6.1, "indirect_effect_minutes_naive": 3.7,
                "total_effect_minutes": 9.8},
            "note": "U is not in the data; the naive indirect effect is pure confounding bias "
                    "(attenuated when efficacy is measured by an unreliable scale score).",
        },
        "planted": {"item_nonresponse": [
            {"columns": "oe1-oe4", "mechanism": "MAR on age (logistic slope 1 per SD)", "rate": 0.03},
            {"columns": "se1-se6", "mechanism": "MCAR", "rate": 0.01}], "code": MISSING_CODE},
    }
    return data, cb, truth


# ---------------------------------------------------------------------------
# Study 3: weekly_panel
# ---------------------------------------------------------------------------


def weekly_panel(n=300, seed=DEFAULT_SEEDS["weekly_panel"], n_waves=5):
    """Five weekly waves of efficacy and behaviour with a known RI-CLPM structure.

    Model: random intercepts RI^eff, RI^beh ~ N(0, 1), correlation 0.5; the
    within-person parts are a stationary VAR(1) with unit variances:
    ``w^eff_t = 0.3 w^eff_{t-1} + u_t``, ``w^beh_t = 0.3 w^beh_{t-1} + 0.25 w^eff_{t-1} + v_t``,
    and NO behaviour -> efficacy path. Latent efficacy ``RI^eff + w^eff_t`` is
    measured at each wave by 4 items (1-5); behaviour
    ``beh_wt = 50 + 10 * (RI^beh + w^beh_t)`` (rounded to 0.1, floored at 0: 3.5 SD
    below the mean, so practically never). About 5% of
    occasions are missing (MCAR; all of that wave's items and behaviour are -99).

    Returns
    -------
    data, codebook, truth
    """
    if n < 40 or n_waves < 3:
        raise ValueError(f"weekly_panel needs n >= 40 and n_waves >= 3; got n={n}, n_waves={n_waves}")
    rng = _rng(seed)
    ar, cross = 0.3, 0.25
    x, y = ri_clpm_waves(n, n_waves, rng, ar_x=ar, ar_y=ar, x_to_y=cross, y_to_x=0.0, ri_corr=0.5)
    lam = np.array([0.6, 0.55, 0.65, 0.6])
    nu = np.array([3.0, 3.1, 2.9, 3.0])
    d = {"pid": _ids(n), "age": _age(n, rng), "gender": _gender(n, rng)}
    waves_cols = []
    for t in range(n_waves):
        items = likert_items(x[:, t], lam, nu, 0.55, rng)
        cols = [f"se{j}_w{t + 1}" for j in range(1, 5)]
        for j, col in enumerate(cols):
            d[col] = items[:, j]
        d[f"beh_w{t + 1}"] = np.maximum(0.0, np.round(50.0 + 10.0 * y[:, t], 1))
        waves_cols.append(cols + [f"beh_w{t + 1}"])
    data = pd.DataFrame(d)
    data, occ = missing_occasions(data, waves_cols, 0.05, rng)
    sigma, q = stationary_within_covariance(ar, ar, cross, 0.0)
    cb = _header("weekly_panel", "Weekly panel of efficacy and behaviour (simulated)",
                 f"Simulated {n_waves}-wave weekly panel: a 4-item exercise self-efficacy scale and a behaviour "
                 "index at each wave, stable between-person differences (random intercepts, correlated .5) "
                 "and a within-person effect of efficacy on next week's behaviour only. The traditional "
                 "cross-lagged panel model confounds the two; the RI-CLPM separates them. Generated by "
                 "efficacy.simulate; see README.md for the true parameters.")
    v = {"pid": {"type": "id"},
         "age": {"type": "numeric", "range": [18, 99], "label": "Age in years"},
         "gender": {"type": "categorical", "levels": ["female", "male", "diverse"], "label": "Gender"}}
    for t in range(1, n_waves + 1):
        for j in range(1, 5):
            v[f"se{j}_w{t}"] = _item_var(f"Exercise self-efficacy item {j}, week {t}", 1, 5)
        v[f"beh_w{t}"] = {"type": "numeric", "range": [0, 200], "label": f"Activity index, week {t}"}
    cb["variables"] = v
    cb["scales"] = {
        f"eff_w{t}": _scale("self_efficacy", [f"se{j}_w{t}" for j in range(1, 5)], [1, 5], domain="exercise",
                            min_items=3, label=f"Exercise self-efficacy, week {t}", wave=t)
        for t in range(1, n_waves + 1)
    }
    cb["waves"] = {"efficacy": [f"eff_w{t}" for t in range(1, n_waves + 1)],
                   "behavior": [f"beh_w{t}" for t in range(1, n_waves + 1)]}
    cb["design"] = {"treatment": None, "mediators": [], "outcomes": [], "covariates": [],
                    "moderator": None, "panel_x": "efficacy", "panel_y": "behavior"}
    cb["exclusions"] = []
    lam_bar = float(lam.mean())
    truth = {
        "study": "weekly_panel", "seed": _seed_repr(seed), "n_participants": n, "n_waves": n_waves,
        "parameters": {
            "random_intercept_var_efficacy": 1.0,
            "random_intercept_var_behavior_latent": 1.0,
            "random_intercept_corr": 0.5,
            "within_var_efficacy": 1.0,
            "within_var_behavior_latent": 1.0,
            "within_ar_efficacy": ar,
            "within_ar_behavior": ar,
            "within_efficacy_to_behavior": cross,
            "within_behavior_to_efficacy": 0.0,
            "within_standardized": {"ar_efficacy": ar, "ar_behavior": ar,
                                    "efficacy_to_behavior": cross, "behavior_to_efficacy": 0.0},
            "within_same_wave_corr_stationary": float(sigma[0, 1]),
            "innovation_var_efficacy": float(q[0, 0]),
            "innovation_var_behavior": float(q[1, 1]),
            "behavior_points_per_latent_unit": 10.0,
            "within_efficacy_to_behavior_unstandardized_latent_to_points": cross * 10.0,
            "efficacy_item_loadings": lam.tolist(),
            "efficacy_item_intercepts": nu.tolist(),
            "efficacy_item_residual_sd": 0.55,
            "approx_within_efficacy_score_to_behavior_points": cross * 10.0 / lam_bar,
            "note": "Standardised within-person paths equal the unstandardised latent ones (unit within "
                    "variances, stationary). On the observed scale score (mean of 4 items, about "
                    f"{lam_bar:.3f} response units per latent unit before rounding) the efficacy -> behaviour "
                    "path is about 0.25 * 10 / 0.6 = 4.17 behaviour points per scale point, attenuated by "
                    "measurement error and the ordinal rounding (within-person reliability of the score about .8). "
                    "lavaan 0.6-14 RI-CLPM (FIML, equal lagged paths) on the bundled data (seed 20260103) gives "
                    "efficacy -> behaviour 3.99 (SE 0.55), behaviour -> efficacy -0.003 (SE 0.003), efficacy AR "
                    "0.19, behaviour AR 0.28, RI correlation 0.60; the CLPM instead shows a spurious "
                    "behaviour -> efficacy path (standardised about .11).",
        },
        "planted": {"missing_occasions": {"mechanism": "MCAR", "rate": 0.05, "code": MISSING_CODE,
                                          "n_missing_occasions": int(occ.sum())}},
    }
    return data, cb, truth


# ---------------------------------------------------------------------------
# Study 4: two_cultures
# ---------------------------------------------------------------------------


def two_cultures(n_per_group=300, seed=DEFAULT_SEEDS["two_cultures"], dif_shift=0.8, dif_item=4):
    """Two cultures with one non-invariant efficacy item.

    Model: ``culture`` A or B (n per group each). Latent efficacy
    ``eta ~ N(mu_g, 1)`` with mu_A = 0, mu_B = -0.2. Six efficacy items (1-5,
    item 3 reverse-keyed) with loadings and residual SDs equal across
    cultures; item ``dif_item`` (default 4) has its intercept shifted by
    ``dif_shift`` (default +0.8) response units in culture B (the planted
    non-invariant item, uniform DIF). Self-esteem: 5 items (1-4, items 2 and
    5 reversed) on a factor correlated 0.3 with eta, invariant.
    Behaviour ``b* = 0.4 * eta + e``; ``behavior = 200 + 50 * b*`` minutes.

    Returns
    -------
    data, codebook, truth
    """
    if n_per_group < 20:
        raise ValueError(f"two_cultures needs n_per_group >= 20; got {n_per_group}")
    if not 1 <= dif_item <= 6:
        raise ValueError(f"dif_item must be in 1..6; got {dif_item}")
    rng = _rng(seed)
    n = 2 * n_per_group
    culture = np.repeat(np.array(["A", "B"], dtype=object), n_per_group)
    culture = culture[rng.permutation(n)]
    is_b = culture == "B"
    mu = np.array([0.0, -0.2])
    eta = mu[is_b.astype(int)] + rng.standard_normal(n)
    lam = np.array([0.8, 0.75, 0.7, 0.8, 0.7, 0.8])
    nu = np.array([3.0, 3.2, 2.9, 2.8, 2.7, 3.1])
    sig = 0.6
    rev = [False, False, True, False, False, False]
    shift = np.zeros((n, 6))
    shift[is_b, dif_item - 1] = dif_shift
    est = correlated_factor(eta - mu[is_b.astype(int)], 0.3, rng, 1.0)
    bstar = 0.4 * eta + rng.standard_normal(n)
    d = {"pid": _ids(n), "culture": culture, "age": _age(n, rng), "gender": _gender(n, rng)}
    _item_block(d, "se", likert_items(eta, lam, nu, sig, rng, reverse=rev, intercept_shift=shift))
    _item_block(d, "rse", likert_items(est, [0.55, 0.6, 0.5, 0.6, 0.55], [2.9, 2.8, 3.0, 2.9, 2.8], 0.5, rng,
                                       response_range=(1, 4), reverse=[False, True, False, False, True]))
    d["behavior"] = np.maximum(0.0, np.round(200.0 + 50.0 * bstar, 1))
    data = pd.DataFrame(d)
    data = add_missing(data, [f"se{j}" for j in range(1, 7)] + [f"rse{j}" for j in range(1, 6)], 0.01, rng)
    cb = _header("two_cultures", "Self-efficacy in two cultures with one non-invariant item (simulated)",
                 "Simulated two-culture sample (A, B). Loadings are invariant; one efficacy item has a "
                 "shifted intercept in culture B (uniform DIF), so scalar invariance fails for that item only. "
                 "A self-esteem scale sits beside the efficacy scale. Generated by efficacy.simulate; see "
                 "README.md for the true parameters.")
    v = {"pid": {"type": "id"},
         "culture": {"type": "categorical", "levels": ["A", "B"], "label": "Culture"},
         "age": {"type": "numeric", "range": [18, 99], "label": "Age in years"},
         "gender": {"type": "categorical", "levels": ["female", "male", "diverse"], "label": "Gender"}}
    for j in range(1, 7):
        v[f"se{j}"] = _item_var(f"Exercise self-efficacy: {_SELF_EFFICACY_ITEMS[j - 1]}", 1, 5)
    for j in range(1, 6):
        v[f"rse{j}"] = _item_var(f"Self-esteem item {j}" + (" (reverse-keyed)" if j in (2, 5) else ""), 1, 4)
    v["behavior"] = {"type": "numeric", "range": [0, 1000],
                     "label": "Minutes of moderate-to-vigorous activity per week"}
    cb["variables"] = v
    cb["scales"] = {
        "efficacy": _scale("self_efficacy", [f"se{j}" for j in range(1, 7)], [1, 5], domain="exercise",
                           reverse=["se3"], min_items=4, label="Exercise self-efficacy"),
        "self_esteem": _scale("self_esteem", [f"rse{j}" for j in range(1, 6)], [1, 4],
                              reverse=["rse2", "rse5"], min_items=4, label="Global self-esteem"),
    }
    cb["groups"] = ["culture"]
    cb["design"] = {"treatment": None, "mediators": [], "outcomes": ["behavior"], "covariates": ["age"],
                    "moderator": None}
    cb["exclusions"] = []
    ysd = np.sqrt(lam ** 2 + sig ** 2)   # SD of y* given unit latent variance
    exp_a = expected_likert_mean(nu + lam * mu[0], ysd)
    exp_b = expected_likert_mean(nu + lam * mu[1] + np.eye(6)[dif_item - 1] * dif_shift, ysd)
    exp_a = np.where(rev, 6 - exp_a, exp_a)
    exp_b = np.where(rev, 6 - exp_b, exp_b)
    truth = {
        "study": "two_cultures", "seed": _seed_repr(seed), "n_per_group": n_per_group, "n_participants": n,
        "parameters": {
            "latent_mean": {"A": 0.0, "B": -0.2},
            "latent_var": {"A": 1.0, "B": 1.0},
            "noninvariant_item": f"se{dif_item}",
            "intercept_shift_B_response_units": dif_shift,
            "loadings_invariant": lam.tolist(),
            "intercepts_A": nu.tolist(),
            "residual_sd": sig,
            "reverse_keyed": ["se3"],
            "expected_item_means_raw": {"A": [round(float(v_), 4) for v_ in exp_a],
                                        "B": [round(float(v_), 4) for v_ in exp_b]},
            "r_efficacy_self_esteem_within_group": 0.3,
            "b_efficacy_to_behavior_latent": 0.4,
            "behavior_scale_minutes_per_latent_unit": 50.0,
            "note": "Intercept shift is on the continuous response y*; the observed mean shift of the item is "
                    "smaller because of rounding and the ceiling at 5 (see expected_item_means_raw). "
                    "lavaan 0.6-14 multi-group CFA on the bundled data (seed 20260104, se3 reversed, FIML): "
                    "scalar vs metric chi-square difference 149.8 on 5 df; the univariate score test points "
                    "at the se4 intercept (X2 = 130; next largest 16); with se4's intercept freed, its "
                    "intercepts are 3.44 (B) and 2.70 (A).",
        },
        "planted": {"item_nonresponse": {"mechanism": "MCAR", "rate": 0.01, "code": MISSING_CODE}},
    }
    return data, cb, truth


# ---------------------------------------------------------------------------
# Registry, YAML/README writers and the command line
# ---------------------------------------------------------------------------

STUDIES = {
    "mastery_trial": mastery_trial,
    "confounded_survey": confounded_survey,
    "weekly_panel": weekly_panel,
    "two_cultures": two_cultures,
}


def _seed_repr(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def simulate_study(study, seed=None, **kwargs):
    """Run the generator of a bundled study by name.

    Parameters
    ----------
    study : str
        One of :data:`STUDIES`.
    seed : int, optional
        Default :data:`DEFAULT_SEEDS` [study].
    **kwargs
        Passed to the study function (e.g. ``n=``).

    Returns
    -------
    data, codebook, truth
    """
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; expected one of {sorted(STUDIES)}")
    seed = DEFAULT_SEEDS[study] if seed is None else seed
    return STUDIES[study](seed=seed, **kwargs)


_SECTION_COMMENTS = {
    "study": "Simulated study; must equal the folder name.",
    "data": "The raw data file, relative to this folder.",
    "id": "Participant id column (a pseudonymous code; no direct identifiers in the file).",
    "missing_codes": "Code for item nonresponse / missing occasions in every column.",
    "strict": "false: out-of-range values become missing and are counted (some are planted on purpose).",
    "duplicates": "Duplicated ids keep their first row; later rows are excluded and reported.",
    "drop": "No identifier columns to drop.",
    "variables": "Every column of data.csv: type, valid range or levels, label.",
    "scales": "Multi-item scales; reverse-keyed items are scored lo + hi - x; score = mean of answered items.",
    "waves": "Repeated measures: measure -> one column (scale or variable) per wave, in order.",
    "groups": "Grouping variables for per-group analyses and measurement invariance.",
    "design": "Design roles (scale or variable names).",
    "exclusions": "Applied in order, on cleaned values.",
}


def _dump(obj, flow):
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=flow, width=10 ** 6,
                          allow_unicode=True).removesuffix("\n...\n").strip()


def codebook_to_yaml(codebook, command=None):
    """Render a codebook dict as commented YAML (deterministic).

    Parameters
    ----------
    codebook : dict
    command : str, optional
        The generating command, written in the header comment.

    Returns
    -------
    str
        YAML text; ``yaml.safe_load`` of it equals ``codebook``.
    """
    out = io.StringIO()
    out.write(f"# Codebook of the simulated study '{codebook['study']}' (generated by efficacy.simulate).\n")
    if command:
        out.write(f"# Generated with: {command}\n")
    out.write("# Do not edit by hand: regenerate. The data-generating model and TRUE parameters are in README.md.\n")
    for key, value in codebook.items():
        out.write("\n")
        if key in _SECTION_COMMENTS:
            out.write(f"# {_SECTION_COMMENTS[key]}\n")
        if key == "variables":
            out.write("variables:\n")
            for name, spec in value.items():
                out.write(f"  {name}: {_dump(spec, True)}\n")
        elif key == "scales":
            out.write("scales:\n")
            for name, spec in value.items():
                lines = [f"    {line}" for line in _dump(spec, None).splitlines()]
                out.write(f"  {name}:\n" + "\n".join(lines) + "\n")
        elif key == "exclusions":
            out.write("exclusions:\n" if value else "exclusions: []\n")
            for rule in value:
                out.write(f"  - {_dump(rule, True)}\n")
        elif isinstance(value, dict):
            out.write(f"{key}:\n" if value else f"{key}: {{}}\n")
            for name, spec in value.items():
                out.write(f"  {name}: {_dump(spec, True)}\n")
        else:
            out.write(f"{key}: {_dump(value, True)}\n")
    text = out.getvalue()
    if yaml.safe_load(text) != codebook:   # pragma: no cover - guards the writer itself
        raise RuntimeError("codebook YAML does not round-trip")
    return text


def _csv_text(data):
    # floats were rounded by the generators; %.10g prints them exactly and deterministically
    return data.to_csv(index=False, float_format="%.10g", lineterminator="\n")


_MODEL_DOC = {name: (fn.__doc__ or "") for name, fn in STUDIES.items()}


class _TruthDumper(yaml.SafeDumper):
    """Block-style mappings, flow-style lists of scalars."""


def _represent_list(dumper, data):
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_TruthDumper.add_representer(list, _represent_list)


def _dump_truth(truth):
    return yaml.dump(_tidy(truth), Dumper=_TruthDumper, sort_keys=False, default_flow_style=False,
                     width=10 ** 6, allow_unicode=True).strip()


def _tidy(obj):
    """Round floats to 10 significant digits (no 15.000000000000002 in the README)."""
    if isinstance(obj, dict):
        return {k: _tidy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_tidy(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(f"{float(obj):.10g}")
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _readme(study, codebook, truth, command):
    doc = _MODEL_DOC[study].strip().split("\n")
    body = "\n".join(line[4:] if line.startswith("    ") else line for line in doc[1:])
    body = body.split("Parameters\n----------")[0].split("Returns\n-------")[0].strip()
    return (
        f"# {codebook['title']}\n\n"
        f"{codebook['description']}\n\n"
        "## Generating command\n\n"
        "From the repository root (same seed gives a byte-identical `data.csv`):\n\n"
        f"```\n{command}\n```\n\n"
        "## Data-generating model\n\n"
        f"{doc[0].strip()}\n\n{body}\n\n"
        "## True parameters\n\n"
        "As returned by the generator (`truth`); latent units unless stated.\n\n"
        f"```yaml\n{_dump_truth(truth)}\n```\n\n"
        "## Files\n\n"
        "- `data.csv`: the raw data (missing code -99; planted problems listed above).\n"
        "- `codebook.yaml`: variables, scales, design roles, exclusions.\n"
        "- Licence: simulated data, CC0.\n"
    )


def write_study(study, out, seed=None, force=False, **kwargs):
    """Generate a study and write ``data.csv``, ``codebook.yaml`` and ``README.md``.

    Parameters
    ----------
    study : str
    out : str or pathlib.Path
        Output folder; must not exist unless ``force``.
    seed : int, optional
    force : bool
        Overwrite an existing folder's three files.

    Returns
    -------
    pathlib.Path
        The folder written.
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force (force=True) to overwrite")
    seed = DEFAULT_SEEDS[study] if seed is None else int(seed)
    data, codebook, truth = simulate_study(study, seed=seed, **kwargs)
    extra = "".join(f" --n {v}" for k, v in kwargs.items() if k in ("n", "n_per_group"))
    command = f"python -m efficacy.simulate {study} --seed {seed}{extra} --out {out.as_posix()}"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in [("data.csv", _csv_text(data)), ("codebook.yaml", codebook_to_yaml(codebook, command)),
                       ("README.md", _readme(study, codebook, truth, command))]:
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8", newline="\n")
        tmp.replace(out / name)
    return out


def main(argv=None):
    """Command line: ``python -m efficacy.simulate <study> --seed S --out DIR [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m efficacy.simulate",
                                     description="Write a simulated example study (data.csv, codebook.yaml, "
                                                 "README.md).")
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--seed", type=int, default=None, help="default: the bundled study's seed")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/raw/<study>")
    parser.add_argument("--n", type=int, default=None, help="sample size (per group for two_cultures)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing folder")
    args = parser.parse_args(argv)
    kwargs = {}
    if args.n is not None:
        kwargs["n_per_group" if args.study == "two_cultures" else "n"] = args.n
    try:
        path = write_study(args.study, args.out, seed=args.seed, force=args.force, **kwargs)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
