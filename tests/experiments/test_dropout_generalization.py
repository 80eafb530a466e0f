"""dropout/generalization: the paired interval, the batched MLP with and without masks, a tiny run, the negative control (dropout 0)."""

import numpy as np
import pytest
import torch
from scipy import stats

from dltheory.core.stats import t_interval
from dltheory.experiments.dropout import generalization as gen
from dltheory.runner import run_experiment


def test_t_interval_matches_scipy_ttest():
    d = np.array([0.004, -0.001, 0.006, 0.003, 0.002, 0.005])
    m, lo, hi = t_interval(d)
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert m == pytest.approx(d.mean()) and lo == pytest.approx(ci.low) and hi == pytest.approx(ci.high)
    with pytest.raises(ValueError, match="at least 2"):
        t_interval(np.array([1.0]))


def _params(M, sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: v for i in range(len(sizes) - 1) for k, v in ((f"W{i}", torch.randn(M, sizes[i], sizes[i + 1], generator=g, dtype=torch.float64)),
                                                            (f"b{i}", torch.randn(M, 1, sizes[i + 1], generator=g, dtype=torch.float64)))}


def test_batched_mlp_equals_a_loop_over_nets():
    sizes, M = [5, 7, 3], 4
    ps = _params(M, sizes)
    x = torch.randn(M, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    out = gen.batched_mlp(ps, x)
    for j in range(M):
        ref = torch.relu(x[j] @ ps["W0"][j] + ps["b0"][j]) @ ps["W1"][j] + ps["b1"][j]
        torch.testing.assert_close(out[j], ref)


def test_inverted_dropout_keep_one_is_identity_and_masks_are_unbiased():
    sizes, M = [5, 7, 3], 2
    ps = _params(M, sizes)
    x = torch.randn(M, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ones = [torch.ones(M, 1, 1, dtype=torch.float64)] * 2
    torch.testing.assert_close(gen.batched_mlp(ps, x, ones, torch.Generator().manual_seed(1)), gen.batched_mlp(ps, x))
    # a linear net (one layer): E[mask / q] = 1, so the mean output over many masks is the plain output
    lin = {"W0": ps["W0"][:, :, :3], "b0": ps["b0"][:, :, :3]}
    half = [torch.full((M, 1, 1), 0.5, dtype=torch.float64)]
    g = torch.Generator().manual_seed(2)
    N = 4000
    mean = torch.stack([gen.batched_mlp(lin, x, half, g) for _ in range(N)]).mean(0)
    # per output, one draw has variance sum_j (x_j W_jk)^2 (1 - q) / q (q = 1/2): allow 5 standard errors of the mean of N
    se = ((x[..., :, None] * lin["W0"][:, None]) ** 2).sum(2).div(N).sqrt()
    assert ((mean - gen.batched_mlp(lin, x)).abs() <= 5 * se).all()


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("dropout/generalization", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert set(_claims(r)) == {"dropout_lowers_test_error", "dropout_lowers_gap", "batched_forward_matches_mlp"}
    assert _claims(r)["batched_forward_matches_mlp"]["holds"]
    z = np.load(r.run_dir / "artifacts" / "data_and_params.npz")
    assert z["train_index"].shape == (2, 200) and z["test_index"].shape == (2, 1597) and z["W0"].shape == (4, 64, 16)
    for p in range(2):  # each pair's split is a partition of the 1797 digits
        assert sorted(np.concatenate([z["train_index"][p], z["test_index"][p]])) == list(range(1797))


def test_negative_control_no_dropout_gives_no_difference(runs_dir):
    # dropout 0: the two nets of a pair are the same computation, every paired difference is 0 and the claim fails
    r = run_experiment("dropout/generalization", preset="quick", overrides={"dropout": 0.0, "num_train": 300, "width": 32, "steps": 150, "pairs": 3, "eval_every": 50},
                       runs_dir=runs_dir)
    c = _claims(r)
    assert r.result["metrics"]["test_diff_mean"] == 0 and c["dropout_lowers_test_error"]["measured"] == 0
    assert not c["dropout_lowers_test_error"]["holds"] and not c["dropout_lowers_gap"]["holds"]
