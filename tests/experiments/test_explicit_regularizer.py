"""dropout/explicit-regularizer: the Monte Carlo tests and the induced regularizer at a small size."""

import pytest
import torch

from dltheory.experiments.dropout import explicit_regularizer as er
from dltheory.probes.stochastic import draw_in_chunks, mean_and_se
from dltheory.runner import run_experiment


def test_draw_in_chunks_gives_all_samples():
    counter = iter(range(10))
    out = draw_in_chunks(lambda size: torch.full((size,), float(next(counter))), 7, chunk=3)
    assert out.tolist() == [0, 0, 0, 1, 1, 1, 2]


def test_mc_summary_is_mean_and_standard_error():
    mean, se = mean_and_se(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    assert mean == 2.5 and se == pytest.approx((5 / 3) ** 0.5 / 2)


def test_zipf_marginals():
    p = er._zipf(4, 1.0, torch.float64, "cpu")
    assert float(p.sum()) == pytest.approx(1.0) and bool((p[:-1] > p[1:]).all())


@pytest.mark.parametrize("keep_prob", [0.3, 0.5, 1.0])
def test_sample_moments_against_enumeration(keep_prob):
    """Mean and variance of one sample (M_ij - u_i diag(b) v_j)^2 by enumerating every entry and every mask with its
    probability (numpy, no cumulants), against the cumulant formulas; the mean also against loss + regularizer."""
    import itertools

    import numpy as np

    from dltheory.models.dropout import dropout_regularizer

    g = torch.Generator().manual_seed(4)
    m, n, r = 5, 4, 3
    M, U, V = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((m, n), (m, r), (n, r)))
    p, q = er._zipf(m, 1.0, torch.float64, "cpu"), er._zipf(n, 0.5, torch.float64, "cpu")
    masks = np.array(list(itertools.product([0.0, 1.0], repeat=r)))
    pm = np.prod(np.where(masks == 1, keep_prob, 1 - keep_prob), axis=1)
    vals = (M.numpy()[:, :, None] - np.einsum("ik,bk,jk->ijb", U.numpy(), masks / keep_prob, V.numpy())) ** 2
    w = p.numpy()[:, None, None] * q.numpy()[None, :, None] * pm[None, None, :]
    mean = (w * vals).sum()
    mu, var = er.completion_sample_moments(M, U, V, p, q, keep_prob)
    assert mu == pytest.approx(mean, rel=1e-12) and var == pytest.approx((w * (vals - mean) ** 2).sum(), rel=1e-10)
    closed = float((p[:, None] * q[None, :] * (M - U @ V.T) ** 2).sum() + dropout_regularizer(U, V, keep_prob=keep_prob, row_weights=p, col_weights=q))
    assert mu == pytest.approx(closed, rel=1e-12)


def test_claims_hold_at_a_small_size(runs_dir):
    res = run_experiment("dropout/explicit-regularizer", preset="quick", seed=3, runs_dir=runs_dir,
                         overrides={"rows": 10, "cols": 8, "width": 4, "num_samples": 300_000, "sdp_check": False})
    ids = [c["id"] for c in res.result["claims"] if c["kind"] == "claim"]
    assert ids == ["mc_uniform", "mc_nonuniform", "weighting_matters", "mc_linear_network", "induced_regularizer"]
    assert [c["id"] for c in res.result["claims"] if c["kind"] == "check"] == ["moments_uniform", "moments_nonuniform"]
    assert res.status == "ok", [(c["id"], c["measured"]) for c in res.result["claims"] if not c["holds"]]
    m = res.result["metrics"]
    assert m["regularizer_min_gd"] < m["regularizer_at_start"]


@pytest.mark.parametrize("mask_keep_prob, holds", [(None, True), (1.0, False)])
def test_negative_control_no_dropout(runs_dir, mask_keep_prob, holds):
    """Masks that keep every unit (no dropout) give the plain loss: the Monte Carlo mean misses the
    formula loss + regularizer by the regularizer, many standard errors; with dropout it matches."""
    res = run_experiment("dropout/explicit-regularizer", preset="tiny", seed=6, runs_dir=runs_dir,
                         overrides={"rows": 10, "cols": 8, "width": 4, "num_samples": 40_000, "mask_keep_prob": mask_keep_prob})
    claims = {c["id"]: c for c in res.result["claims"]}
    for cid in ("mc_uniform", "mc_nonuniform", "mc_linear_network"):
        assert claims[cid]["holds"] is holds, (cid, claims[cid]["measured"])
    if not holds:
        assert min(claims[c]["measured"] for c in ("mc_uniform", "mc_nonuniform", "mc_linear_network")) > 8
