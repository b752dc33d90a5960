"""The block-wise resample counts draw exactly numpy's ``rng.integers(0, n, size=(B, n))`` stream.

Every bootstrap of the library is reproducible from its seed: the faster case counts
(:func:`efficacy.resampling.draw_counts`, int32 draws in blocks of rows, written into one reused
buffer) must give the same resamples, leave the generator in the same state, and give
bootstrap sums equal to the last bit to the former one-call int64 draws (issue #22).
"""
import numpy as np
import pytest

from efficacy.resampling import boot_products, case_counts, draw_counts


def _old_counts(idx, n):
    """The former case_counts: flat indices and one bincount (the reference)."""
    B = idx.shape[0]
    flat = (idx + (np.arange(B) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


@pytest.mark.parametrize("n,B", [(1, 3), (2, 5), (37, 2000), (500, 301), (70000, 3)])
def test_draw_counts_is_the_integers_stream(n, B):
    ref_rng = np.random.default_rng(11)
    ref = _old_counts(ref_rng.integers(0, n, size=(B, n)), n)
    rng = np.random.default_rng(11)
    got = draw_counts(rng, n, np.empty((B, n)))
    assert got.tobytes() == ref.tobytes()
    assert got.sum(axis=1).tolist() == [n] * B
    # the generator is left where the one (B, n) call leaves it, spare 32-bit half-word included
    assert rng.bit_generator.state == ref_rng.bit_generator.state
    assert rng.integers(0, 1000, size=7).tolist() == ref_rng.integers(0, 1000, size=7).tolist()


def test_case_counts_matches_bincount():
    rng = np.random.default_rng(3)
    for n, B in ((5, 4), (300, 250), (40000, 3)):
        idx = rng.integers(0, n, size=(B, n))
        assert case_counts(idx, n).tobytes() == _old_counts(idx, n).tobytes()
        assert case_counts(idx.astype(np.int32), n).tobytes() == _old_counts(idx, n).tobytes()
    np.testing.assert_array_equal(case_counts(np.array([[0, 0, 2], [1, 2, 2]]), 3), [[2, 0, 1], [0, 1, 2]])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n,n_boot,chunk", [(37, 2000, None), (500, 5000, None), (101, 250, 7), (800, 1500, None)])
def test_boot_products_equal_the_former_chunked_products(order, n, n_boot, chunk):
    """Same chunks, same operands, same matrix products as before the buffer was reused: equal bits."""
    F = np.asarray(np.random.default_rng(n).normal(size=(n, 9)), order=order)
    rng = np.random.default_rng(5)
    c = chunk or max(1, 2**19 // n)
    ref = np.empty((n_boot, F.shape[1]))
    for i0 in range(0, n_boot, c):
        b = min(c, n_boot - i0)
        ref[i0:i0 + b] = _old_counts(rng.integers(0, n, size=(b, n)), n) @ F
    got = boot_products(F, np.random.default_rng(5), n_boot, chunk)
    assert got.tobytes() == ref.tobytes()


def test_singularity_rule_decides_as_slogdet():
    """The cofactor pre-check of the bootstrap solves (p <= 4) decides every system as the former
    LU rule ``slogdet(D) > log(SINGULAR_TOL)`` does, near and far from the threshold."""
    from efficacy.mediation.causal import SINGULAR_TOL
    from efficacy.mediation.observed import _det_above_tol

    rng = np.random.default_rng(2)
    for p in (1, 2, 3, 4, 5):
        Z = rng.normal(size=(4000, 30, p))
        # columns made nearly collinear at every scale from exact to clearly independent
        eps = 10.0 ** rng.uniform(-12, 0, size=(4000, 1))
        if p > 1:
            Z[:, :, -1] = Z[:, :, 0] + eps * Z[:, :, -1]
        Z[:50, :, -1] = 0.0  # all-zero column
        Z[50:100, :, -1] = Z[50:100, :, 0]  # exact copy
        XtX = np.einsum("bnp,bnq->bpq", Z, Z)
        s = np.sqrt(np.einsum("bii->bi", XtX)).clip(1e-300)
        D = XtX / s[:, :, None] / s[:, None, :]
        s2, ld = np.linalg.slogdet(D)
        ref = (s2 > 0) & (ld > np.log(SINGULAR_TOL))
        got = _det_above_tol(D)
        np.testing.assert_array_equal(got, ref)
        if p > 1:
            assert 0 < ref.sum() < len(ref)  # both outcomes occur
