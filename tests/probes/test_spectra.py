"""Spectral probes against numpy (np.linalg.svd / norm) on tiny float64 matrices."""

import numpy as np
import pytest
import torch

from dltheory.probes import spectra


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (1, 6)])
def test_singular_values_and_norms_match_numpy(shape):
    A = _rand(shape)
    s_np = np.linalg.svd(A, compute_uv=False)
    W = torch.from_numpy(A)
    np.testing.assert_allclose(spectra.singular_values(W).numpy(), s_np, rtol=1e-12)
    np.testing.assert_allclose(float(spectra.nuclear_norm(W)), np.linalg.norm(A, "nuc"), rtol=1e-12)
    np.testing.assert_allclose(float(spectra.schatten_norm(W, 1)), np.linalg.norm(A, "nuc"), rtol=1e-12)
    np.testing.assert_allclose(float(spectra.schatten_norm(W, 2)), np.linalg.norm(A, "fro"), rtol=1e-12)
    np.testing.assert_allclose(float(spectra.schatten_norm(W, float("inf"))), np.linalg.norm(A, 2), rtol=1e-12)
    np.testing.assert_allclose(float(spectra.schatten_norm(W, 0.5)), (s_np**0.5).sum() ** 2, rtol=1e-12)
    np.testing.assert_allclose(float(spectra.stable_rank(W)), np.linalg.norm(A, "fro") ** 2 / np.linalg.norm(A, 2) ** 2, rtol=1e-12)
    p = s_np / s_np.sum()
    np.testing.assert_allclose(float(spectra.effective_rank(W)), np.exp(-(p * np.log(p)).sum()), rtol=1e-12)


def test_numpy_input_batches_and_dtype():
    A = _rand((3, 4, 5))
    s = spectra.singular_values(A)  # numpy in -> float64 tensor out
    assert s.dtype == torch.float64 and s.shape == (3, 4)
    for i in range(3):
        np.testing.assert_allclose(s[i].numpy(), np.linalg.svd(A[i], compute_uv=False), rtol=1e-12)
    assert spectra.nuclear_norm(torch.from_numpy(A)).shape == (3,)
    assert spectra.singular_values(torch.ones(2, 2, dtype=torch.float32)).dtype == torch.float32
    assert spectra.singular_values(torch.eye(3, dtype=torch.int64)).dtype.is_floating_point


def test_rank_extremes():
    u, v = _rand((6, 1)), _rand((4, 1), 1)
    assert float(spectra.effective_rank(u @ v.T)) == pytest.approx(1.0, abs=1e-6)
    assert float(spectra.stable_rank(u @ v.T)) == pytest.approx(1.0, rel=1e-10)
    Q = np.linalg.qr(_rand((5, 5)))[0]
    assert float(spectra.effective_rank(3.0 * Q)) == pytest.approx(5.0, rel=1e-10)
    assert float(spectra.stable_rank(3.0 * Q)) == pytest.approx(5.0, rel=1e-10)
    Z = torch.zeros(3, 4, dtype=torch.float64)
    assert float(spectra.effective_rank(Z)) == 0.0 and float(spectra.stable_rank(Z)) == 0.0
    # bounds on random matrices
    W = _rand((7, 5), 3)
    assert 1.0 <= float(spectra.effective_rank(W)) <= 5.0
    assert 1.0 <= float(spectra.stable_rank(W)) <= 5.0


def test_singular_projections_match_numpy_svd():
    W, G = _rand((5, 4)), _rand((5, 4), 1)
    U, _, Vt = np.linalg.svd(W, full_matrices=False)
    ref = np.array([U[:, i] @ G @ Vt[i] for i in range(4)])
    out = spectra.singular_projections(torch.from_numpy(W), torch.from_numpy(G), k=4).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert spectra.singular_projections(W, G, k=2).shape == (2,)


def test_factor_alignment_and_balancedness():
    # balanced pair built from an SVD: W2^T W2 = W1 W1^T, singular spaces aligned
    rng = np.random.default_rng(0)
    U1 = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    V1 = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    U2 = np.linalg.qr(rng.standard_normal((5, 5)))[0][:, :3]
    s = np.array([3.0, 2.0, 0.5])
    W1 = U1[:, :3] @ np.diag(s) @ V1.T  # (4, 3)
    W2 = U2 @ np.diag(s) @ U1[:, :3].T  # (5, 4)
    np.testing.assert_allclose(W2.T @ W2, W1 @ W1.T, atol=1e-12)
    np.testing.assert_allclose(spectra.factor_alignment(W2, W1, k=3).numpy(), np.ones(3), atol=1e-10)
    assert float(spectra.subspace_overlap(W2, W1, k=3)) == pytest.approx(1.0, abs=1e-10)
    assert float(spectra.balancedness(W2, W1)) == pytest.approx(0.0, abs=1e-10)
    # independent random factors: alignment equals the numpy reference and is below 1
    A, B = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    Vt_a = np.linalg.svd(A)[2]
    U_b = np.linalg.svd(B)[0]
    ref = np.abs([Vt_a[i] @ U_b[:, i] for i in range(3)])
    np.testing.assert_allclose(spectra.factor_alignment(A, B).numpy(), ref, rtol=1e-10)
    ref_overlap = np.linalg.norm(Vt_a[:2] @ U_b[:, :2]) ** 2 / 2
    assert float(spectra.subspace_overlap(A, B, k=2)) == pytest.approx(ref_overlap, rel=1e-10)
    D = np.linalg.norm(A.T @ A - B @ B.T)
    assert float(spectra.balancedness(A, B)) == pytest.approx(D, rel=1e-12)
    rel = D / (np.linalg.norm(A) ** 2 + np.linalg.norm(B) ** 2)
    assert float(spectra.balancedness(A, B, relative=True)) == pytest.approx(rel, rel=1e-12)


def test_track_singular_values_in_the_training_loop():
    from dltheory.models.factorization import end_to_end
    from dltheory.train import Callback, train

    M = torch.from_numpy(_rand((3, 3)))
    params = {"factors.0": 0.1 * torch.eye(3, dtype=torch.float64), "factors.1": 0.1 * torch.eye(3, dtype=torch.float64)}
    fn = spectra.track_singular_values(end_to_end, top=2)
    res = train(lambda p, b: ((end_to_end(p) - M) ** 2).sum(), params, steps=5, lr=0.01,
                callbacks=[Callback(fn, every=2)], progress=False)
    steps, s0 = res.history["sigma_0"]
    assert list(steps) == [0, 2, 4, 5] and "sigma_1" in res.history and "sigma_2" not in res.history
    np.testing.assert_allclose(s0[-1], np.linalg.svd(end_to_end(res.params).numpy(), compute_uv=False)[0], rtol=1e-12)
    assert s0[0] == pytest.approx(0.01)


def test_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        spectra.singular_values(torch.ones(3))
    with pytest.raises(TypeError, match="must be a torch.Tensor or numpy array"):
        spectra.nuclear_norm([[1.0]])
    with pytest.raises(ValueError, match="`p` must be a float > 0"):
        spectra.schatten_norm(torch.eye(2), 0.0)
    with pytest.raises(TypeError, match="`p` must be a float"):
        spectra.schatten_norm(torch.eye(2), "fro")
    with pytest.raises(ValueError, match="chain as W_next @ W_prev"):
        spectra.factor_alignment(torch.ones(3, 4), torch.ones(3, 2))
    with pytest.raises(ValueError, match="`k` must be an int <= 2"):
        spectra.factor_alignment(torch.ones(3, 2), torch.ones(2, 2), k=3)
    with pytest.raises(ValueError, match="same shape"):
        spectra.singular_projections(torch.ones(3, 2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="`top` must be an int >= 1"):
        spectra.track_singular_values(lambda p: p, top=0)
    with pytest.raises(TypeError, match="callable"):
        spectra.track_singular_values(3)
