"""sparse-coding/deconvolutional-network: the orientation statistic on known filters, phase randomization, crops, a tiny run, quick, the phase-randomized negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.sparse_coding import deconvolutional_network as dn
from dltheory.runner import run_experiment

ID = "sparse-coding/deconvolutional-network"


def _gabor(theta: float, period: float = 4.0, sigma: float = 1.5, k: int = 7) -> torch.Tensor:
    r = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    u = x * np.cos(theta) + y * np.sin(theta)
    return torch.exp(-(x**2 + y**2) / (2 * sigma**2)) * torch.cos(2 * np.pi * u / period)


def test_orientation_selectivity_of_known_filters():
    gabors = torch.stack([_gabor(t) for t in (0.0, 0.7, np.pi / 2)])
    s = dn.orientation_selectivity(gabors)
    assert (s > 0.8).all() and torch.allclose(s, s[0].expand(3), atol=0.05)  # oriented, whatever the angle
    wave = torch.cos(2 * np.pi * torch.arange(32, dtype=torch.float64) / 4)[None, :].expand(32, 32)[None]  # a pure grating on the grid
    assert dn.orientation_selectivity(wave) == pytest.approx(1.0, abs=1e-12)
    r = torch.arange(7, dtype=torch.float64) - 3
    blob = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 2)[None]
    assert dn.orientation_selectivity(blob) == pytest.approx(0.0, abs=1e-6)  # isotropic (eigvalsh of a near-multiple of I)
    # invariant to sign, scale and (circular, on the padded grid) shifts
    f = torch.randn(1, 7, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert dn.orientation_selectivity(-3 * f) == pytest.approx(float(dn.orientation_selectivity(f)), abs=1e-12)
    # random Gaussian filters: the null is far below oriented ones
    null = dn.orientation_selectivity(torch.randn(2000, 7, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert 0.45 < float(null.quantile(0.99)) < 0.65 and float(null.median()) < 0.35


def test_spatial_concentration_bounds():
    delta = torch.zeros(1, 8, 8, dtype=torch.float64)
    delta[0, 3, 4] = 1
    flat = torch.ones(1, 8, 8, dtype=torch.float64)
    assert dn.spatial_concentration(delta) == pytest.approx(1.0) and dn.spatial_concentration(flat) == pytest.approx(0.25)


def test_phase_randomization_keeps_the_power_spectrum_and_breaks_edges():
    img = torch.zeros(1, 32, 48, dtype=torch.float64)
    img[:, :, 20:] = 1.0  # a step edge
    out = dn.phase_randomize(img, torch.Generator().manual_seed(0))
    assert out.dtype == img.dtype and out.shape == img.shape
    torch.testing.assert_close(torch.fft.rfft2(out).abs(), torch.fft.rfft2(img).abs(), atol=1e-9, rtol=1e-9)

    def kurtosis(x):  # of the horizontal differences: a step edge's are 2 spikes, random phases make them near-Gaussian (3)
        d = (x - x.roll(1, -1)).flatten()
        return float(((d - d.mean()) ** 4).mean() / d.var(unbiased=False) ** 2)

    assert kurtosis(img) > 20 and kurtosis(out) < 6  # 2 columns of 48: kurtosis 24


def test_crops_are_the_highest_variance_ones():
    images = torch.randn(2, 40, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    images[1] *= 0.01  # a nearly flat image
    C = dn.image_crops(images, 8, 5, 4, torch.Generator().manual_seed(1))
    assert C.shape == (5, 1, 8, 8) and (C.flatten(1).std(1) > 0.5).all()


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(ID, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"filters_edge_like", "objective_monotone", "objective_well_below_init", "codes_equal_lasso",
                   "admm_duality_gap", "fista_equals_admm"}
    z = np.load(r.run_dir / "artifacts" / "learned.npz")
    assert z["filters"].shape == (4, 1, 5, 5) and z["crops"].shape == (8, 1, 16, 16) and z["oracle_matrix"].shape == (64, 256)
    np.testing.assert_allclose(np.linalg.norm(z["filters"].reshape(4, -1), axis=1), 1.0, atol=1e-5)  # on the unit sphere
    np.testing.assert_allclose(z["oracle_matrix"] @ z["oracle_codes_sklearn"], z["oracle_matrix"] @ z["oracle_codes_admm"], atol=1e-6)


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(ID, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_phase_randomized_images_give_no_edges(runs_dir):
    # same power spectrum, random phases: no edges, so the learned filters are no more oriented than random ones
    r = run_experiment(ID, preset="quick", seed=1, overrides={"phase_randomize": True}, runs_dir=runs_dir)
    c = _claims(r)
    assert not c["filters_edge_like"]["holds"] and c["filters_edge_like"]["measured"] <= 0.25
    assert c["objective_monotone"]["holds"] and c["codes_equal_lasso"]["holds"]  # the optimization and the oracle still work
