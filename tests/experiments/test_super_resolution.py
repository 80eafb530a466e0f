"""intro/super-resolution: patches, generator and discriminator shapes, the numpy spectrum oracle, a tiny run, the negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.intro import super_resolution as sr
from dltheory.probes.image_quality import radial_power_spectrum
from dltheory.runner import run_experiment


def test_checkerboard_patches_are_textured_and_disjoint():
    img = torch.rand(64, 96, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    img[:, :48] = 0.5  # a flat half: no patch may come from it
    g = torch.Generator().manual_seed(1)
    even = sr.textured_patches(img, 8, 50, 0.05, tile=16, parity=0, generator=g)
    odd = sr.textured_patches(img, 8, 50, 0.05, tile=16, parity=1, generator=g)
    assert even.shape == odd.shape == (50, 8, 8)
    assert (even.flatten(1).std(1) > 0.05).all() and (odd.flatten(1).std(1) > 0.05).all()
    # every patch is a block of the image lying in one tile of its parity: locate it by exact match
    for patches, parity in ((even, 0), (odd, 1)):
        for p in patches[:10]:
            hits = [(i, j) for i in range(64 - 7) for j in range(96 - 7) if torch.equal(img[i:i + 8, j:j + 8], p)]
            assert hits and all(i // 16 == (i + 7) // 16 and j // 16 == (j + 7) // 16 and (i // 16 + j // 16) % 2 == parity for i, j in hits)
    with pytest.raises(ValueError, match="min_std"):
        sr.textured_patches(torch.zeros(32, 32), 8, 4, 0.05, tile=16, parity=0, generator=g)


def test_generator_starts_at_bicubic_and_shapes():
    g = torch.Generator().manual_seed(0)
    p = sr.init_generator(8, 2, 4, generator=g, dtype=torch.float64)
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64, generator=g)
    y = sr.generator_forward(p, x, 4)
    assert y.shape == (3, 1, 16, 16)
    torch.testing.assert_close(y, sr.bicubic(x, 4))
    d = sr.init_discriminator(4, 16, generator=g, dtype=torch.float64)
    assert sr.discriminator_forward(d, y).shape == (3,)
    assert sr.discriminator_forward(sr.init_discriminator(4, 18, generator=g, dtype=torch.float64), torch.rand(2, 1, 18, 18, dtype=torch.float64)).shape == (2,)


def test_bicubic_keeps_constant_images_and_averages_back():
    x = torch.full((1, 1, 4, 4), 0.3, dtype=torch.float64)
    torch.testing.assert_close(sr.bicubic(x, 4), torch.full((1, 1, 16, 16), 0.3, dtype=torch.float64))


def test_numpy_oracle_matches_the_library():
    x = np.random.default_rng(0).random((4, 16, 16))
    np.testing.assert_allclose(sr.numpy_radial_power_spectrum(x), radial_power_spectrum(torch.tensor(x), window="hann").numpy(), rtol=1e-12)


def test_t_interval_matches_scipy():
    from scipy import stats

    x = np.random.default_rng(2).normal(1.0, 2.0, 30)
    m, lo, hi = sr.t_interval(x)
    ref = stats.t.interval(0.95, 29, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(ref)


CLAIMS = {"mse_net_higher_psnr", "mse_net_beats_bicubic", "gan_spectrum_closer", "mse_net_too_smooth",
          "spectrum_matches_numpy", "psnr_matches_numpy", "untrained_generator_is_bicubic"}


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("intro/super-resolution", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    c = _claims(r)
    assert set(c) == CLAIMS
    assert all(c[k]["holds"] for k in ("spectrum_matches_numpy", "psnr_matches_numpy", "untrained_generator_is_bicubic"))
    z = np.load(r.run_dir / "artifacts" / "data_outputs.npz")
    assert z["hr_test"].shape == (32, 1, 16, 16) and z["lr_test"].shape == (32, 1, 4, 4) and z["spectrum_hr"].shape == (32, 9)
    np.testing.assert_allclose(z["lr_test"], z["hr_test"].reshape(32, 1, 4, 4, 4, 4).mean((3, 5)), atol=1e-6)  # average pooling
    np.testing.assert_allclose(z["psnr_mse"], 10 * np.log10(1 / ((z["mse_net"] - z["hr_test"]) ** 2).astype(np.float64).mean((1, 2, 3))), atol=1e-4)
    p = np.load(r.run_dir / "artifacts" / "params.npz")
    assert {"mse_net.out.weight", "gan_net.out.weight", "discriminator.lin.weight"} <= set(p.files)


def test_negative_control_no_adversarial_loss(runs_dir):
    # w = 0: the GAN net gets the MSE net's gradients, Adam states and minibatches, so the two are the same net:
    # the PSNR and spectral-distance differences are exactly 0 and claims 1 and 3 fail; the MSE claims still hold
    r = run_experiment("intro/super-resolution", preset="quick", overrides={"adversarial_weight": 0.0, "train_patches": 512, "test_patches": 64,
                                                                           "pretrain_steps": 150, "finetune_steps": 40}, runs_dir=runs_dir)
    c = _claims(r)
    assert not c["gan_spectrum_closer"]["holds"] and c["gan_spectrum_closer"]["measured"] == 0
    assert not c["mse_net_higher_psnr"]["holds"] and c["mse_net_higher_psnr"]["measured"] == 0
    assert r.result["metrics"]["spectral_distance_mse_minus_gan"] == 0
    assert c["mse_net_too_smooth"]["holds"]


@pytest.mark.parametrize(("overrides", "needle"), [({"patch": 18}, "`patch` must be a multiple of `scale`"), ({"patch": 24, "tile": 16}, "`tile` must be >= `patch`")])
def test_inconsistent_sizes_are_errors(runs_dir, overrides, needle):
    r = run_experiment("intro/super-resolution", preset="tiny", overrides=overrides, runs_dir=runs_dir)
    assert r.status == "error" and needle in r.result["error"]
