"""sparse-coding/ml-csc-pursuit: the dictionaries' coherence, the codes' contrast, best-bias thresholding, a tiny run, negative controls."""

import numpy as np
import pytest
import torch

from dltheory.experiments.sparse_coding import ml_csc_pursuit as ml
from dltheory.runner import run_experiment
from dltheory.sparse import mutual_coherence


def test_identity_hadamard_has_coherence_one_over_sqrt_n():
    D = ml.identity_hadamard(4)
    assert D.shape == (16, 32)
    torch.testing.assert_close(torch.linalg.vector_norm(D, dim=0), torch.ones(32, dtype=D.dtype))
    assert mutual_coherence(D) == pytest.approx(0.25, abs=1e-15) and ml.brute_force_coherence(D.numpy()) == pytest.approx(0.25, abs=1e-15)


def test_sparse_atoms_share_at_most_one_coordinate():
    D, supports = ml.sparse_atom_dictionary(64, 60, 4, np.random.default_rng(0))
    assert D.shape == (64, 60) and supports.shape == (60, 4)
    assert (D >= 0).all() and ((D != 0).sum(0) == 4).all()
    overlaps = ((D != 0).double().T @ (D != 0).double()).fill_diagonal_(0)
    assert overlaps.max() == 1  # some pair overlaps, none in two coordinates
    assert mutual_coherence(D) == pytest.approx(0.25, abs=1e-15)
    with pytest.raises(ValueError, match="m2"):
        ml.sparse_atom_dictionary(8, 40, 4, np.random.default_rng(0))


def test_codes_have_the_contrast_and_disjoint_atoms():
    D, supports = ml.sparse_atom_dictionary(64, 40, 4, np.random.default_rng(1))
    G2 = ml.draw_codes(supports, 3, 0.2, 50, np.random.default_rng(2))
    assert ((G2 != 0).sum(1) == 3).all() and (G2 >= 0).all()
    assert torch.allclose(G2.max(1).values, torch.ones(50, dtype=G2.dtype))
    assert torch.allclose(torch.where(G2 != 0, G2, torch.inf).min(1).values, torch.full((50,), 0.2, dtype=G2.dtype))
    assert ((G2 @ D.T != 0).sum(1) == 12).all()  # disjoint atoms: ||G1||_0 = s k2


def test_topk_thresholding_keeps_the_k_largest_correlations():
    D = ml.identity_hadamard(3)
    Y = torch.tensor([[3.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=D.dtype)  # D^T y: 3, 0, 2 on the identity atoms, <= 5/sqrt(8) on the others
    G = ml.topk_thresholding(D, Y, 2)
    assert set(torch.nonzero(G[0]).flatten().tolist()) == {0, 2}
    assert G[0, 0] == 3 and G[0, 2] == 2  # hard thresholding keeps the correlations


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("sparse-coding/ml-csc-pursuit", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"layered_bp_recovers", "layered_omp_recovers", "thresholding_recovers_under_bound", "thresholding_fails_low_contrast",
                   "coherence_matches_brute_force", "margin_above_worst_case", "omp_matches_sklearn"}
    z = np.load(r.run_dir / "artifacts" / "data_codes.npz")
    assert z["X"].shape == (20, 32) and z["Gamma2"].shape == (20, 16) and z["bp_Gamma1"].shape == (4, 64)
    np.testing.assert_allclose(z["Gamma2"] @ z["D2"].T @ z["D1"].T, z["X"], atol=1e-12)


SMALL = {"log2_n": 8, "s": 4, "m2": 128, "k2": 2, "trials": 40, "bp_trials": 2}


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_small_instance_every_claim_holds(runs_dir):
    r = run_experiment("sparse-coding/ml-csc-pursuit", preset="quick", overrides=SMALL | {"contrasts": [0.05, 1.0]}, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_high_contrast_thresholding_does_not_fail(runs_dir):
    # only contrast 1: the bound's violation is gone, and layered thresholding recovers every trial, so claim 4 fails
    r = run_experiment("sparse-coding/ml-csc-pursuit", preset="quick", overrides=SMALL | {"contrasts": [1.0]}, runs_dir=runs_dir)
    c = _claims(r)
    assert not c["thresholding_fails_low_contrast"]["holds"] and c["thresholding_fails_low_contrast"]["measured"] == 0
    assert c["layered_bp_recovers"]["holds"] and c["thresholding_recovers_under_bound"]["holds"]


def test_negative_control_above_the_contrast_free_bound(runs_dir):
    # n = 32: mu1 = 1/sqrt(32), the bound (1 + 1/mu1)/2 = 3.3 is below k1 = 8; layered OMP (and BP) no longer recover every trial
    r = run_experiment("sparse-coding/ml-csc-pursuit", preset="quick", overrides=SMALL | {"log2_n": 5, "m2": 32, "contrasts": [0.5, 1.0], "trials": 100, "bp_trials": 20},
                       runs_dir=runs_dir)
    c = _claims(r)
    assert r.result["metrics"]["bp_bound_layer1"] < 8
    assert not c["layered_omp_recovers"]["holds"] and c["layered_omp_recovers"]["measured"] > 1e-2
    assert not c["layered_bp_recovers"]["holds"]
