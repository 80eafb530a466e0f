"""weights/heavy-tailed-spectra: the Tracy-Widom edge, the centered shuffle, the MP CDF by quadrature, null and spiked matrices, a tiny run, quick, the untrained negative control."""


import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.registry import build_config, get
from dltheory.experiments.weights import heavy_tailed_spectra as hts
from dltheory.probes.weights import esd, fit_marchenko_pastur, mp_cdf
from dltheory.runner import run_experiment

EXP = "weights/heavy-tailed-spectra"


def test_spike_threshold_in_tracy_widom_units_lies_above_lambda_plus():
    e = esd(torch.randn(300, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    t2, t4 = fit_marchenko_pastur(e, 300, 200), fit_marchenko_pastur(e, 300, 200, tw_units=4.0)
    assert t2.lambda_plus < t2.spike_threshold < t4.spike_threshold and t2.sigma2 == t4.sigma2


def test_shuffle_centered_permutes_the_centered_entries():
    W = torch.randn(30, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    S = hts.shuffle_centered(W, torch.Generator().manual_seed(2))
    assert S.shape == W.shape and abs(float(S.mean())) < 1e-12
    torch.testing.assert_close(S.reshape(-1).sort().values, (W - W.mean()).reshape(-1).sort().values)
    assert not torch.equal(S, W - W.mean())


def test_mp_cdf_by_quadrature_matches_the_closed_form_at_q1_and_the_library_grid():
    x = np.sort(np.random.default_rng(0).uniform(0.01, 3.9, 50))
    # q = 1, sigma2 = 1: density sqrt(4 - x) / (2 pi sqrt x); with x = 4 sin^2 t the CDF is (2t + sin 2t) / pi
    t = np.arcsin(np.sqrt(x / 4))
    np.testing.assert_allclose(hts.mp_cdf_quadrature(x, 1.0, 1.0), (2 * t + np.sin(2 * t)) / np.pi, atol=1e-7)
    for q in (0.25, 1.0):  # the library's grid integration is within 3e-4 (the 1/sqrt(x) edge at q = 1)
        np.testing.assert_allclose(hts.mp_cdf_quadrature(0.9 * x, q, 0.9), mp_cdf(0.9 * x, q, 0.9), atol=5e-4)
    g = np.linspace(0.25, 2.25, 200001)
    assert np.trapezoid(hts.mp_density(g, 0.25, 1.0), g) == pytest.approx(1.0, abs=1e-4)


def test_gaussian_null_fits_mp_and_a_planted_rank_one_signal_is_a_spike():
    g = torch.Generator().manual_seed(3)
    W = torch.randn(256, 256, generator=g, dtype=torch.float64) / 16
    sp = hts._spectrum(W, hts.TW_UNITS)
    assert sp["spikes"] == 0 and sp["mp"].ks_distance < hts.KS_95 / 16 / 3
    u, v = torch.randn(256, 1, generator=g, dtype=torch.float64), torch.randn(1, 256, generator=g, dtype=torch.float64)
    # rank one of singular value 3 sigma sqrt(N) (the BBP threshold is sigma sqrt(N) for a square matrix)
    sp2 = hts._spectrum(W + 3 * (u / u.norm()) @ (v / v.norm()), hts.TW_UNITS)
    assert sp2["spikes"] == 1
    # a nonzero mean is a rank-one part that a plain shuffle keeps and the centered one removes
    W3 = W + 0.01
    Sp = W3.reshape(-1)[torch.randperm(W3.numel(), generator=g)].reshape(W3.shape)
    assert hts._spectrum(Sp, hts.TW_UNITS)["spikes"] == 1
    assert hts._spectrum(hts.shuffle_centered(W3, g), hts.TW_UNITS)["spikes"] == 0


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    claims = {c["id"] for c in r.result["claims"]}
    assert {"init_fits_mp", "init_no_spikes", "trained_spikes", "alpha_falls", "shuffled_fits_mp", "shuffled_no_spikes",
            "esd_matches_numpy", "mp_ks_matches_quadrature", "power_law_mle_matches_scipy"} == claims
    z = np.load(r.run_dir / "artifacts" / "spectra.npz")
    assert z["evals"].shape == (3, 64) and z["W_final"].shape == (64, 64) and z["W_shuffled"].shape == (1, 64, 64)
    assert list(z["steps"]) == [0, 100, 200]
    assert (r.run_dir / "figures" / "esd_phases.png").exists()


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=0, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_untrained_layer_has_no_spikes_and_no_alpha_fall(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides={"steps": 0}, seed=0, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["trained_spikes"]["holds"] and c["trained_spikes"]["measured"] == 0
    assert not c["alpha_falls"]["holds"]
    assert c["init_fits_mp"]["holds"] and c["init_no_spikes"]["holds"]


def test_layer_must_exist():
    with pytest.raises(ConfigError, match="layer"):
        build_config(get(EXP), "quick", {"layer": 4})
