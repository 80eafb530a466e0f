"""Dropout masks and the explicit regularizer against the exact expectation over all 2^r masks."""

import itertools

import pytest
import torch

from dltheory.models.dropout import (
    MaskStream,
    bernoulli_mask,
    dropout_lambda,
    dropout_product,
    dropout_regularizer,
)


def _all_masks(r, theta):
    """Every mask in {0, 1/theta}^r with its probability."""
    bits = torch.tensor(list(itertools.product([0.0, 1.0], repeat=r)), dtype=torch.float64)
    probs = theta ** bits.sum(1) * (1 - theta) ** (r - bits.sum(1))
    return bits / theta, probs


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_lambda():
    assert dropout_lambda(0.5) == 1.0
    assert dropout_lambda(0.8) == pytest.approx(0.25)
    assert dropout_lambda(1.0) == 0.0
    with pytest.raises(ValueError, match="`keep_prob` must be a float > 0.0; got 0.0"):
        dropout_lambda(0.0)
    with pytest.raises(ValueError, match="`keep_prob` must be a float <= 1.0; got 1.5"):
        dropout_lambda(1.5)


def test_mask_values_mean_and_reproducibility():
    b = bernoulli_mask((20000, 3), keep_prob=0.25, generator=_gen())
    assert set(torch.unique(b).tolist()) == {0.0, 4.0}
    # unbiased: E b = 1, Var b = (1 - theta)/theta = 3; the mean of 60000 entries has SE sqrt(3/60000) ~ 0.007
    assert abs(float(b.mean()) - 1.0) < 5 * (3 / 60000) ** 0.5
    assert float(b.var()) == pytest.approx(3.0, rel=0.05)
    assert torch.equal(b, bernoulli_mask((20000, 3), keep_prob=0.25, generator=_gen()))
    unscaled = bernoulli_mask(5, keep_prob=0.5, generator=_gen(), scale=False)
    assert unscaled.shape == (5,) and set(unscaled.tolist()) <= {0.0, 1.0}


def test_mask_errors():
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        bernoulli_mask(3, keep_prob=0.5, generator=0)
    with pytest.raises(ValueError, match=r"`shape\[1\]` must be an int >= 1; got 0"):
        bernoulli_mask((2, 0), keep_prob=0.5, generator=_gen())
    with pytest.raises(ValueError, match="`keep_prob`"):
        bernoulli_mask(3, keep_prob=-0.1, generator=_gen())


def test_mask_stream():
    stream = MaskStream(4, keep_prob=0.5, generator=_gen(), num_masks=3)
    it = iter(stream)
    first, second = next(it), next(it)
    assert first.shape == (3, 4) and not torch.equal(first, second)
    assert torch.equal(next(iter(MaskStream(4, keep_prob=0.5, generator=_gen(), num_masks=3))), first)
    with pytest.raises(ValueError, match="`num_masks` must be an int >= 1; got 0"):
        MaskStream(4, keep_prob=0.5, generator=_gen(), num_masks=0)


@pytest.mark.parametrize("weights", ["identity", "diagonal", "matrix"])
@pytest.mark.parametrize("theta", [0.3, 0.5, 0.9])
def test_regularizer_is_exact_expectation_over_masks(weights, theta):
    g = _gen(1)
    m, n, r = 4, 3, 4
    U, V, M = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((m, r), (n, r), (m, n)))
    P = Q = None
    if weights == "diagonal":
        P, Q = torch.rand(m, generator=g, dtype=torch.float64), torch.rand(n, generator=g, dtype=torch.float64)
        Pm, Qm = torch.diag(P), torch.diag(Q)
    elif weights == "matrix":
        A, B = torch.randn(m, m, generator=g, dtype=torch.float64), torch.randn(n, n, generator=g, dtype=torch.float64)
        P, Q = A @ A.T, B @ B.T
        Pm, Qm = P, Q
    else:
        Pm, Qm = torch.eye(m, dtype=torch.float64), torch.eye(n, dtype=torch.float64)
    masks, probs = _all_masks(r, theta)

    def weighted_sq(E):  # ||P^{1/2} E Q^{1/2}||_F^2 = tr(E^T P E Q)
        return torch.trace(E.T @ Pm @ E @ Qm)

    expected = sum(p * weighted_sq(M - U @ torch.diag(b) @ V.T) for b, p in zip(masks, probs, strict=True))
    reg = dropout_regularizer(U, V, keep_prob=theta, row_weights=P, col_weights=Q)
    assert float(expected - weighted_sq(M - U @ V.T)) == pytest.approx(float(reg), rel=1e-12)


def test_regularizer_shapes_and_errors():
    U, V = torch.ones(3, 2, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64)
    # all-ones factors: lambda * r * m * n
    assert float(dropout_regularizer(U, V, keep_prob=0.5)) == pytest.approx(2 * 3 * 4)
    with pytest.raises(ValueError, match=r"same number of columns; got shapes \(3, 2\) and \(4, 3\)"):
        dropout_regularizer(U, torch.ones(4, 3), keep_prob=0.5)
    with pytest.raises(ValueError, match=r"`row_weights` must have shape \(3,\) or \(3, 3\)"):
        dropout_regularizer(U, V, keep_prob=0.5, row_weights=torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"`col_weights` must have shape \(4,\)"):
        dropout_regularizer(U, V, keep_prob=0.5, col_weights=torch.ones(5))


def test_dropout_product_matches_loop():
    g = _gen(2)
    U, V = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g)
    masks = bernoulli_mask((6, 4), keep_prob=0.5, generator=g, dtype=torch.float32)
    out = dropout_product(U, V, masks)
    ref = torch.stack([U @ torch.diag(b) @ V.T for b in masks])
    torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match=r"`masks` must have shape \(K, 4\)"):
        dropout_product(U, V, masks[:, :3])
