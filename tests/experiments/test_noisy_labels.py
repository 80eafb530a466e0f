"""ntk/noisy-labels: a tiny run, the claims on the quick preset, the lambda = 0 negative control, the helpers."""

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.ntk.noisy_labels import _antisymmetric_, _paired_se
from dltheory.models.ntk import ntk_mlp
from dltheory.probes.ntk import empirical_ntk
from dltheory.runner import run_experiment

EXP = "ntk/noisy-labels"


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"noise_fitted", "noise_hurts_plain", "regularized_beats_plain", "below_noise_rate",
                                                     "matches_krr", "krr_closed_form"}
    z = np.load(r.run_dir / "artifacts" / "data.npz")
    n, n_test = 40, 1797 - 40
    assert z["ntk_train"].shape == (n, n) and z["ntk_test_train"].shape == (n_test, n) and z["krr_test"].shape == (n_test,)
    assert z["outputs_aux_b"].shape == (n,) and np.abs(z["f0"]).max() < 1e-12


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_no_regularization_fits_the_noise(runs_dir):
    # lambda = 0: RDI and AUX are plain training, the flipped labels are fitted and the regularized nets gain nothing
    r = run_experiment(EXP, preset="quick", overrides={"ridge_scale": 0.0}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert c["noise_fitted"]["holds"]
    assert not c["regularized_beats_plain"]["holds"]


def test_odd_width_is_rejected(runs_dir):
    with pytest.raises(ConfigError, match="width"):
        run_experiment(EXP, preset="tiny", overrides={"width": 63}, runs_dir=runs_dir)


def test_antisymmetric_init_outputs_zero_and_keeps_the_kernel_scale():
    g = torch.Generator().manual_seed(0)
    net = ntk_mlp([5, 4000, 1], activation="relu", sigma_w=1.5, sigma_b=0.1, generator=g, dtype=torch.float64)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64)
    before = empirical_ntk(net, x)
    _antisymmetric_(net)
    assert float(net(x).detach().abs().max()) < 1e-12  # zero up to rounding in the sums
    after = empirical_ntk(net, x)
    # the halves are copies: the kernel is that of 2000 units, close to the 4000-unit one (both near the limit)
    assert torch.allclose(after, before, rtol=0.1, atol=0.1 * float(before.diagonal().mean()))


def test_paired_standard_error_is_mcnemar():
    a = np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    b = np.array([1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    # discordant pairs: positions 1, 2, 4 -> sqrt(3) / 8; equals the std of the paired differences without centring
    assert _paired_se(a, b) == pytest.approx(np.sqrt(3) / 8)
    assert _paired_se(a, b) == pytest.approx(np.sqrt(np.mean((a.astype(float) - b) ** 2) / len(a)))
