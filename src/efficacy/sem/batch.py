"""Batched maximum-likelihood fitters: many fits of one model at once (bootstrap, jackknife, simulation).

A bootstrap of a factor model is thousands of refits of the same model to reweighted data; here
they are one vectorised computation over the batch (numpy linear algebra on stacked matrices), never
a Python loop over resamples. Two fitters live here, the only batched ML fitters of efficacy:

one_factor_ml    the one-factor model ``Sigma = lam lam' + diag(psi)`` on a batch of covariance
                 matrices, by projected Newton (Fisher scoring) with residual variances bounded below,
                 as ``factanal``/``psych::fa`` do; omega's bootstrap and jackknife
                 (:func:`efficacy.reliability.omega`)
fisher_scoring   a model-agnostic Fisher-scoring driver with step halving for a batch of FIML fits
                 of any model given its log-likelihood, gradient and expected information; the latent
                 mediation model (:mod:`efficacy.mediation.latent`), the multiverse and power refits use it

The single fits of a model (with standard errors, fit measures, multiple groups) are the engine's
(:func:`efficacy.sem.sem`); these two give the same estimates for the same data (tests).
"""
from __future__ import annotations

import numpy as np

__all__ = ["one_factor_ml", "fisher_scoring", "PSI_LB"]


# ----------------------------------------------------------------------------------------------
# one-factor ML CFA (batched Fisher scoring)
# ----------------------------------------------------------------------------------------------
def _ml_objective(s, lam, psi, logdet_s):
    """ML discrepancy of the one-factor model for a batch: F (B,), Sigma (B, k, k), Sigma^-1 (B, k, k)."""
    sig = lam[:, :, None] * lam[:, None, :] + psi[:, :, None] * np.eye(lam.shape[1])
    sign, logdet = np.linalg.slogdet(sig)
    with np.errstate(invalid="ignore"):
        w = np.linalg.inv(sig)
    f = logdet + np.einsum("bij,bji->b", s, w) - logdet_s - lam.shape[1]
    f = np.where(sign > 0, f, np.inf)
    return f, sig, w


#: lower bound of the residual variances (correlation metric), as ``factanal`` / ``psych::fa``
PSI_LB = 0.005


def one_factor_ml(s: np.ndarray, lam0=None, psi0=None, *, tol=1e-9, max_iter=300):
    """Batched ML one-factor model ``Sigma = lam lam' + diag(psi)`` for covariance matrices
    ``s`` (B, k, k), by projected Fisher scoring with step halving.

    The fit is done on the correlation metric with residual variances bounded below by
    ``PSI_LB`` (0.005, as ``factanal``/``psych::fa``): a Heywood case then stops at the bound
    instead of diverging (lavaan leaves psi unbounded; where its solution is proper - all psi > 0
    - both are the same optimum). The bound matters for weak scales in bootstrap resamples.

    ``lam0``/``psi0`` (B, k): warm starts (the full-sample estimates for bootstrap and jackknife
    refits); a refit that fails from the warm start is retried from the default start.

    Returns lam (B, k), psi (B, k), converged (B,).

    References
    ----------
    Joreskog, K. G. (1967). Some contributions to maximum likelihood factor analysis.
    *Psychometrika*, 32(4), 443-482.
    Bertsekas, D. P. (1982). Projected Newton methods for optimization problems with simple
    constraints. *SIAM Journal on Control and Optimization*, 20(2), 221-246.
    """
    bsz, k, _ = s.shape
    sd = np.sqrt(np.diagonal(s, axis1=1, axis2=2))
    r = s / (sd[:, :, None] * sd[:, None, :])  # fit on correlations, rescale at the end
    _, logdet_r = np.linalg.slogdet(r)
    if lam0 is None:
        psi = (1 - 0.5 / k) / np.diagonal(np.linalg.inv(r), axis1=1, axis2=2)
        rs = r / np.sqrt(psi[:, :, None] * psi[:, None, :])
        ev, evec = np.linalg.eigh(rs)
        v = evec[:, :, -1] * np.sign(evec[:, :, -1].sum(axis=1, keepdims=True) + 1e-300)
        lam = np.sqrt(psi) * v * np.sqrt(np.maximum(ev[:, -1:] - 1, 1e-2))
    else:
        lam = np.array(lam0, dtype=float) / sd
        psi = np.maximum(np.array(psi0, dtype=float) / sd**2, PSI_LB)
    f, sig, w = _ml_objective(r, lam, psi, logdet_r)
    converged = np.zeros(bsz, dtype=bool)
    active = np.ones(bsz, dtype=bool)
    for _ in range(max_iter):
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        la, pa, wa, sa, ra = lam[ia], psi[ia], w[ia], sig[ia], r[ia]
        m = wa @ (sa - ra) @ wa
        g = np.concatenate([2 * np.einsum("bij,bj->bi", m, la), np.diagonal(m, axis1=1, axis2=2)], 1)
        u = np.einsum("bij,bj->bi", wa, la)
        c = np.einsum("bi,bi->b", la, u)
        h = np.empty((ia.size, 2 * k, 2 * k))
        h[:, :k, :k] = 2 * (wa * c[:, None, None] + u[:, :, None] * u[:, None, :])
        h[:, :k, k:] = 2 * wa * u[:, None, :]
        h[:, k:, :k] = np.swapaxes(h[:, :k, k:], 1, 2)
        h[:, k:, k:] = wa * wa
        # active bound: psi at its floor with the gradient or the Newton step pushing it further
        # down -> freeze it (projected Newton; Bertsekas, 1982)
        at_floor = pa <= PSI_LB + 1e-7
        frozen = at_floor & (g[:, k:] > 0)
        for _pass in range(2):
            hh, gg = h.copy(), g.copy()
            if frozen.any():
                fz = np.concatenate([np.zeros_like(frozen), frozen], axis=1)
                hh = np.where(fz[:, :, None] | fz[:, None, :], 0.0, hh)
                hh[:, np.arange(2 * k), np.arange(2 * k)] += fz
                gg = np.where(fz, 0.0, gg)
            try:
                step = np.linalg.solve(hh, gg[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                step = np.stack([np.linalg.lstsq(a_, b_, rcond=None)[0] for a_, b_ in zip(hh, gg)])
            more = at_floor & ~frozen & (step[:, k:] > 0)
            if not more.any():
                break
            frozen = frozen | more
        g = gg
        t = np.ones(ia.size)
        fa = f[ia]
        for _half in range(30):
            ln = la - t[:, None] * step[:, :k]
            pn = np.maximum(pa - t[:, None] * step[:, k:], PSI_LB)
            fn, sn, wn = _ml_objective(ra, ln, pn, logdet_r[ia])
            bad = ~(fn <= fa + 1e-12)
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        keep = bad[:, None]  # line search failed: stay at the current point
        ln, pn = np.where(keep, la, ln), np.where(keep, pa, pn)
        fn = np.where(bad, fa, fn)
        sn, wn = np.where(keep[:, :, None], sa, sn), np.where(keep[:, :, None], wa, wn)
        change = np.maximum(np.max(np.abs(ln - la), axis=1), np.max(np.abs(pn - pa), axis=1))
        lam[ia], psi[ia], f[ia], sig[ia], w[ia] = ln, pn, fn, sn, wn
        done = (change < tol) | (np.max(np.abs(g), axis=1) < 1e-6)  # projected gradient ~ 0
        converged[ia[done]] = True
        active[ia[done]] = False
        stuck = bad & (t < 1e-8)
        # no further decrease possible: accept as converged when the projected gradient is ~0
        converged[ia[stuck & (np.max(np.abs(g), axis=1) < 1e-5)]] = True
        active[ia[stuck]] = False
    lam = lam * np.sign(lam.sum(axis=1, keepdims=True) + 1e-300)
    lam, psi, converged = lam * sd, psi * sd**2, converged & np.isfinite(f)
    retry = np.flatnonzero(~converged)
    if lam0 is not None and retry.size:  # warm start failed: retry those from the default start
        l2, p2, c2 = one_factor_ml(s[retry], tol=tol, max_iter=max_iter)
        lam[retry[c2]], psi[retry[c2]], converged[retry[c2]] = l2[c2], p2[c2], True
    return lam, psi, converged


# ----------------------------------------------------------------------------------------------
# Fisher scoring for any model (batched)
# ----------------------------------------------------------------------------------------------
def fisher_scoring(loglik, mom, th0, *, maxit=200, tol=1e-9):
    """Fisher scoring with step halving for a batch of fits of one model (one row of ``th0`` (B, P)
    per fit).

    ``loglik(mom, theta, grad=False)`` is the model's log-likelihood (B,) for the data summaries
    ``mom`` (a list of per-missing-data-pattern tuples whose arrays after the first are batched on
    their first axis, e.g. ``(observed_index, N (B,), M (B, d, d))``); with ``grad=True`` it also
    returns the gradient (B, P) and the expected information (B, P, P). A fit stops, converged, when
    the Newton decrement ``g' I^-1 g`` is below ``tol``; it stops unconverged when its information is
    singular or not finite or when 30 halvings of the step find no ascent.

    Returns theta (B, P), converged (B,), the number of iterations.
    """
    th = np.array(th0, dtype=float)
    nb = th.shape[0]
    done = np.zeros(nb, dtype=bool)
    conv = np.zeros(nb, dtype=bool)
    it = 0
    for it in range(maxit):
        act = np.flatnonzero(~done)
        if not len(act):
            break
        sub = [(o, N[act], M[act]) for o, N, M in mom]
        ll, g, info = loglik(sub, th[act], grad=True)
        bad = ~np.isfinite(ll) | ~np.isfinite(g).all(axis=1) | ~np.isfinite(info).all(axis=(1, 2))
        step = np.zeros_like(g)
        good = ~bad
        if good.any():
            try:
                step[good] = np.linalg.solve(info[good], g[good][:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                for t in np.flatnonzero(good):
                    try:
                        step[t] = np.linalg.solve(info[t], g[t])
                    except np.linalg.LinAlgError:
                        bad[t] = True
        dec = np.einsum("bq,bq->b", g, step)
        fin = good & ~bad & (np.abs(dec) < tol)
        conv[act[fin]] = True
        done[act[fin | bad]] = True
        move = np.flatnonzero(good & ~bad & ~fin)
        if not len(move):
            continue
        # step-halving line search (all moving fits at once)
        ids = act[move]
        cur = th[ids]
        stp = step[move]
        ll0 = ll[move]
        t = np.ones(len(ids))
        accepted = np.zeros(len(ids), dtype=bool)
        new = cur.copy()
        for _ in range(30):
            trial = cur + t[:, None] * stp
            lt = loglik([(o, N[ids], M[ids]) for o, N, M in mom], trial)
            okm = ~accepted & np.isfinite(lt) & (lt >= ll0 - 1e-10 * np.abs(ll0))
            new[okm] = trial[okm]
            accepted |= okm
            if accepted.all():
                break
            t = np.where(accepted, t, t / 2)
        th[ids] = new
        stuck = ~accepted
        done[ids[stuck]] = True           # no ascent possible: not converged unless already at the top
    return th, conv, it
