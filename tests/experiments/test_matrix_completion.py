"""landscape/matrix-completion: masks, the identifiability count, a tiny run."""

import numpy as np
import torch

from dltheory.core.rng import torch_generator
from dltheory.experiments.landscape import matrix_completion as mc
from dltheory.runner import run_experiment


def test_symmetric_mask_is_symmetric_and_has_the_drawn_entries():
    m = mc.symmetric_mask(0.1, 20, generator=torch_generator(0, "m"))
    torch.testing.assert_close(m, m.T)
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    # ceil(0.1 * 400) = 40 entries drawn, symmetrized: between 40 and 80 observed
    assert 40 <= int(m.sum()) <= 80


def test_underdetermined_rows():
    m = torch.zeros(4, 4)
    m[0, :3] = 1
    m[1, 1] = 1
    m[2, :2] = 1
    assert mc.underdetermined_rows(m, 2) == 2  # rows 1 (one entry) and 3 (none)
    assert mc.underdetermined_rows(m, 1) == 1
    assert mc.underdetermined_rows(torch.ones(4, 4), 4) == 0


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("landscape/matrix-completion", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    ids = {c["id"] for c in r.result["claims"]}
    assert ids == {"all_inits_global", "stationary", "hessian_psd", "low_p_not_identifiable", "low_p_recovery_fails"}
    assert "low_p_max_loss_ratio" in r.result["metrics"]
    z = np.load(r.run_dir / "artifacts" / "data_params.npz")
    assert z["U_final"].shape == (2, 10, 1) and z["hessian_eigenvalues"].shape == (2, 10)
    np.testing.assert_allclose(z["M"], z["M"].T)


SMALL = {"n": 12, "rank": 2, "p_low": 0.02, "seeds": 3, "steps": 1500}


def test_small_completion_recovers_every_init(runs_dir):
    # a small instance at a comfortable sampling rate: every claim of the theory holds
    r = run_experiment("landscape/matrix-completion", preset="tiny", overrides=SMALL | {"p": 0.5}, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_too_few_observed_entries(runs_dir):
    # the same instance observed at p = 0.03 (5 to 10 of 144 entries, far below n r log n = 60): rows with no
    # observed entry exist, their rows of U get no gradient, and no init recovers M
    r = run_experiment("landscape/matrix-completion", preset="tiny", overrides=SMALL | {"p": 0.03}, runs_dir=runs_dir)
    main = next(c for c in r.result["claims"] if c["id"] == "all_inits_global")
    assert not main["holds"] and main["measured"] > 1e-2
    mask = np.load(r.run_dir / "artifacts" / "data_params.npz")["mask"]
    assert (mask.sum(1) == 0).any()
