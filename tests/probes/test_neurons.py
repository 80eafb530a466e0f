"""probes.neurons: cosine matrix and direction clustering against numpy and scikit-learn, on tiny float64 cases."""

import numpy as np
import pytest
import torch
from sklearn.cluster import AgglomerativeClustering

from dltheory.probes.neurons import (
    cosine_similarity_matrix,
    input_weights,
    neuron_directions,
    orientation_amplitude,
)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs_a = a[:, None] == a[None, :]
    pairs_b = b[:, None] == b[None, :]
    return bool((pairs_a == pairs_b).all())


def _planted(seed: int, k: int = 3, per: int = 6, d: int = 3, spread: float = 0.05, flip: bool = False) -> torch.Tensor:
    g = np.random.default_rng(seed)
    centers = np.linalg.qr(g.standard_normal((d, d)))[0][:k]  # orthonormal: well-separated planted directions
    rows = []
    for c in centers:
        for _ in range(per):
            v = c / np.linalg.norm(c) + spread * g.standard_normal(d)
            rows.append(v * g.uniform(0.5, 2) * (g.choice([-1, 1]) if flip else 1))
    return torch.tensor(np.array(rows))


def test_input_weights_appends_bias_and_keeps_dtype():
    lin = torch.nn.Linear(3, 5).double()
    u = input_weights(lin)
    assert u.shape == (5, 4) and u.dtype == torch.float64
    np.testing.assert_array_equal(u[:, 3].numpy(), lin.bias.detach().numpy())
    assert input_weights(lin, bias=False).shape == (5, 3)


@pytest.mark.parametrize("sign_invariant", [False, True])
def test_cosine_matrix_matches_numpy(sign_invariant):
    u = torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    un = u.numpy() / np.linalg.norm(u.numpy(), axis=1, keepdims=True)
    ref = un @ un.T
    got = cosine_similarity_matrix(u, sign_invariant=sign_invariant).numpy()
    np.testing.assert_allclose(got, np.abs(ref) if sign_invariant else ref, atol=1e-12)
    assert cosine_similarity_matrix(u).dtype == torch.float64


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sign_invariant", [False, True])
@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.99])
def test_clusters_equal_sklearn_complete_linkage(seed, sign_invariant, threshold):
    u = torch.randn(25, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    un = u.numpy() / np.linalg.norm(u.numpy(), axis=1, keepdims=True)
    c = un @ un.T
    dist = 1 - (np.abs(c) if sign_invariant else c)
    np.fill_diagonal(dist, 0)
    ref = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="complete", distance_threshold=1 - threshold).fit(dist).labels_
    d = neuron_directions(u, threshold=threshold, sign_invariant=sign_invariant)
    assert _same_partition(d.labels.numpy(), ref)
    # inside every cluster every pair exceeds the threshold
    sim = np.abs(c) if sign_invariant else c
    for k in np.unique(d.labels.numpy()):
        idx = np.nonzero(d.labels.numpy() == k)[0]
        assert sim[np.ix_(idx, idx)].min() > threshold


def test_masses_and_count_by_direct_computation():
    u = _planted(1)
    d = neuron_directions(u, threshold=0.9)
    norms = np.linalg.norm(u.numpy(), axis=1)
    assert d.mass.shape == (3,) and np.isclose(float(d.mass.sum()), 1.0)
    for k in range(3):
        assert np.isclose(float(d.mass[k]), norms[d.labels.numpy() == k].sum() / norms.sum())
    assert (np.diff(d.mass.numpy()) <= 0).all()
    need = int(np.searchsorted(np.cumsum(d.mass.numpy()), 0.9 - 1e-12) + 1)
    assert d.count == need
    assert neuron_directions(u, threshold=0.9, coverage=1.0).count == 3


def test_sign_invariance_merges_opposite_directions():
    u = _planted(2, k=2, flip=True)
    assert len(neuron_directions(u, threshold=0.9, sign_invariant=True).mass) == 2
    assert len(neuron_directions(u, threshold=0.9).mass) > 2
    lines = neuron_directions(u, threshold=0.9, sign_invariant=True)
    assert torch.allclose(lines.centers.norm(dim=1), torch.ones(2, dtype=torch.float64))


def test_invariant_to_rescaling_units_and_rotation():
    u = _planted(3)
    q = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    scale = torch.rand(u.shape[0], 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 0.1
    a, b = neuron_directions(u), neuron_directions(u @ q.T)
    assert _same_partition(a.labels.numpy(), b.labels.numpy())
    c = neuron_directions(u * scale)
    assert _same_partition(a.labels.numpy(), c.labels.numpy())


def test_orientation_amplitude_closed_form():
    u = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0], [0.0, -3.0]], dtype=torch.float64)
    theta, amp = orientation_amplitude(u)
    np.testing.assert_allclose(amp.numpy(), [1, 2, np.sqrt(2), 3])
    np.testing.assert_allclose(theta.numpy(), [0, np.pi / 2, -3 * np.pi / 4, -np.pi / 2], atol=1e-12)


def test_float32_stays_float32():
    u = _planted(4).float()
    d = neuron_directions(u)
    assert d.mass.dtype == torch.float32 and d.centers.dtype == torch.float32 and d.cosine.dtype == torch.float32


def test_errors():
    u = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="threshold"):
        neuron_directions(u, threshold=1.0)
    with pytest.raises(ValueError, match="coverage"):
        neuron_directions(u, coverage=0.0)
    with pytest.raises(ValueError, match="nonzero"):
        neuron_directions(torch.cat([u, torch.zeros(1, 2, dtype=torch.float64)]))
    with pytest.raises(ValueError, match="2-D"):
        cosine_similarity_matrix(torch.randn(3))
    with pytest.raises(TypeError, match="floating"):
        cosine_similarity_matrix(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="nn.Linear or a torch.Tensor"):
        input_weights(np.ones((3, 2)))
    with pytest.raises(ValueError, match="bias"):
        input_weights(torch.nn.Linear(2, 3, bias=False))
    with pytest.raises(ValueError, match="2-D input weights"):
        orientation_amplitude(torch.randn(3, 3))
