"""sparse-coding/natural-image-dictionary: the Gabor fitter, the spread, the whitening, a tiny run, the Gaussian negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.sparse_coding import natural_image_dictionary as nid
from dltheory.experiments.sparse_coding.gabor import fit_gabor, gabor, spatial_spread
from dltheory.runner import run_experiment


def test_gabor_fit_recovers_a_planted_gabor_and_rejects_noise():
    p = np.array([1.3, 3.2, 4.6, 0.9, 1.1, 2.2, 0.22, 0.4])
    r2, q = fit_gabor(gabor(p, 8).ravel())
    assert r2 > 0.9999
    np.testing.assert_allclose(gabor(q, 8), gabor(p, 8), atol=1e-6)  # the same function (parameters are not unique: phase, angle)
    r2_noise = np.median([fit_gabor(a)[0] for a in np.random.default_rng(0).standard_normal((20, 64))])
    assert r2_noise < 0.5


def test_spatial_spread_of_a_point_a_plane_wave_and_a_blob():
    P = 8
    point = np.zeros(P * P)
    point[27] = 1
    yy, xx = np.mgrid[0:P, 0:P]
    wave = np.cos(2 * np.pi * 0.25 * xx).ravel()  # global
    s = spatial_spread(np.stack([point, wave], 1))
    assert s[0] == 0 and s[1] == pytest.approx(1.0, abs=0.05)


def test_whitening_flattens_the_spectrum_and_gaussian_like_matches_the_covariance():
    w = nid.whitened_images(2, 0.4)
    assert w.shape == (2, 213 - 16, 320 - 16) and float(w.std()) == pytest.approx(1.0)
    Y = torch.randn(20000, 3, dtype=torch.float64) @ torch.tensor([[1.0, 0.5, 0], [0, 1, 0.3], [0, 0, 2]], dtype=torch.float64)
    G = nid.gaussian_like(Y, torch.Generator().manual_seed(0))
    torch.testing.assert_close(G.T @ G / len(G), Y.T @ Y / len(Y), atol=0.1, rtol=0.05)


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("sparse-coding/natural-image-dictionary", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"learned_atoms_gabor_like", "gabor_fit_beats_pca", "learned_atoms_localized", "localized_vs_pca", "responses_heavy_tailed",
                   "gaussian_responses_kurtosis_three", "gabor_fit_recovers_planted"}
    z = np.load(r.run_dir / "artifacts" / "dictionary.npz")
    assert z["dictionary"].shape == (64, 16) and z["patches"].shape == (1000, 64) and z["gabor_r2"].shape == (16,)
    np.testing.assert_allclose(np.linalg.norm(z["dictionary"], axis=0), 1, atol=1e-12)


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment("sparse-coding/natural-image-dictionary", preset="quick", runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_gaussian_patches_give_no_gabors(runs_dir):
    # Gaussian noise with the whitened patches' covariance: no higher-order structure, so no localized Gabor atoms and kurtosis 3
    r = run_experiment("sparse-coding/natural-image-dictionary", preset="quick", overrides={"source": "gaussian"}, runs_dir=runs_dir)
    c = _claims(r)
    assert not c["learned_atoms_gabor_like"]["holds"] and not c["learned_atoms_localized"]["holds"] and not c["responses_heavy_tailed"]["holds"]
    assert c["responses_heavy_tailed"]["measured"] == pytest.approx(3, abs=0.3)
    assert c["gaussian_responses_kurtosis_three"]["holds"]
