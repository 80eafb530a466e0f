"""dropout/frequency-principle: a tiny run, the claims on the quick preset, the Fourier-feature negative control."""

import numpy as np

from dltheory.runner import run_experiment

EXP = "dropout/frequency-principle"


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"frequency_order", "fitted", "low_before_high", "dft_matches_numpy", "filter_matches_direct"}
    z = np.load(r.run_dir / "artifacts" / "one_d.npz")
    assert z["relative_error"].shape == (61, 3) and z["outputs"].shape == (61, 32)
    im = np.load(r.run_dir / "artifacts" / "images.npz")
    assert im["e_low"].shape == im["e_high"].shape == im["steps"].shape
    assert (r.run_dir / "figures" / "frequency_principle.png").exists()


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_fourier_features_break_the_order(runs_dir):
    # the net sees (cos x, cos 5x, sin x, sin 5x): sin(5x) is linear in the input, fitted before sin(3x)
    r = run_experiment(EXP, preset="quick", overrides={"features": [1, 5]}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert c["fitted"]["holds"]  # every frequency is fitted: the order, not the fit, fails
    assert not c["frequency_order"]["holds"]
    m = r.result["metrics"]
    assert m["t_first_below_k5"] < m["t_first_below_k3"]
