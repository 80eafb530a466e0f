"""sparse-coding/csc-local-global: the designed filters, the stripe-sparse codes, a tiny run, the claims on a small instance, the dense-stripe negative control."""

import numpy as np
import torch

from dltheory.experiments.sparse_coding import csc_local_global as clg
from dltheory.runner import run_experiment
from dltheory.sparse import conv_mutual_coherence, stripe_norm

EXP = "sparse-coding/csc-local-global"


def test_designed_pair_has_coherence_one_quarter():
    F = clg.DESIGNED_FILTERS
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0)
    corr = [np.correlate(F[i], F[j], mode="full") for i in range(2) for j in range(2)]
    corr[0][15] = corr[3][15] = 0  # an atom with itself
    assert max(np.abs(c).max() for c in corr) == 0.25
    assert conv_mutual_coherence(torch.tensor(F[:, None, :])) == 0.25


def test_stripe_sparse_codes_are_capped_and_maximal():
    rng = np.random.default_rng(0)
    G = clg.stripe_sparse_codes(2, 100, 5, 2, rng)
    assert clg.brute_force_stripe_norm(G, 5) == 2 == int(stripe_norm(torch.tensor(G[None]), 5)[0])
    assert ((np.abs(G[G != 0]) >= 1) & (np.abs(G[G != 0]) <= 2)).all()
    for j, t in zip(*np.nonzero(G == 0), strict=True):  # maximal: no zero entry can be switched on without breaking the cap
        H = G.copy()
        H[j, t] = 1.0
        assert clg.brute_force_stripe_norm(H, 5) > 2


def test_patch_noise_norm_is_the_largest_circular_patch_norm():
    e = np.array([3.0, 0, 0, 0, 0, 4.0])
    assert clg.patch_noise_norm(e, 2) == 5.0  # the patch (e5, e0) wraps around
    assert clg.patch_noise_norm(e, 1) == 4.0


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"bp_recovers_at_every_length", "omp_recovers_at_every_length", "global_count_beyond_global_bound",
                                                     "lasso_support_inside_truth", "lasso_error_within_bound", "coherence_matches_explicit_gram",
                                                     "stripe_norm_matches_brute_force", "lasso_matches_sklearn"}
    z = np.load(r.run_dir / "artifacts" / "codes_and_signals.npz")
    from dltheory.oracles.convolution import circulant_dictionary
    np.testing.assert_allclose(z["N64_codes"][0].reshape(-1) @ circulant_dictionary(z["filters"][:, None], (64,)).T, z["N64_signals"][0], atol=1e-12)


SMALL = {"lengths": [64, 128], "trials": 3, "lasso_trials": 4}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides=SMALL, seed=5, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_dense_stripes_break_recovery(runs_dir):
    # stripe sparsity 12, far above (1 + 1/mu)/2 = 2.5: basis pursuit and OMP both miss
    r = run_experiment(EXP, preset="quick", overrides=SMALL | {"k": 12}, seed=5, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["bp_recovers_at_every_length"]["holds"] and not c["omp_recovers_at_every_length"]["holds"]
    assert c["stripe_norm_matches_brute_force"]["holds"]


def test_coherent_random_filters_are_refused(runs_dir):
    r = run_experiment(EXP, preset="tiny", overrides={"filters": "random", "num_filters": 8, "filter_length": 4}, runs_dir=runs_dir)
    assert r.status == "error" and "coherence" in r.result["error"]
