"""landscape/hessian-spectrum: the mixture data, the outlier counter, a tiny run and the claims at a small size."""

import numpy as np
import pytest
import torch

from dltheory.core import torch_generator
from dltheory.core.errors import ConfigError
from dltheory.data.synthetic import gaussian_mixture
from dltheory.experiments.landscape import hessian_spectrum as hs
from dltheory.runner import run_experiment


def test_gaussian_mixture_shapes_labels_and_determinism():
    x, y, means = gaussian_mixture(4, 6, 10, separation=2.0, generator=torch_generator(0, "d"), dtype=torch.float64)
    assert x.shape == (40, 6) and y.shape == (40,) and means.shape == (4, 6)
    assert torch.equal(torch.bincount(y), torch.full((4,), 10))
    x2, _, _ = gaussian_mixture(4, 6, 10, separation=2.0, generator=torch_generator(0, "d"), dtype=torch.float64)
    assert torch.equal(x, x2)


def test_count_outliers_finds_the_planted_gap():
    eigs = np.concatenate([np.linspace(-0.01, 0.25, 200), [1.0, 0.9, 0.8, 0.3]])  # 3 outliers, then the bulk up to 0.3
    assert hs.count_outliers(eigs, 3) == (3, pytest.approx(0.8 / 0.3))
    k, _ = hs.count_outliers(np.concatenate([np.full(50, 0.05), [5.0, 4.0, 3.0, 2.0, 0.1]]), 3)  # gap after 4 (> C, still found)
    assert k == 4
    assert hs.count_outliers(np.array([1.0, 0.5, -0.1, -0.2]), 2)[0] == 0  # top 2C+1 not all positive


def test_tiny_run_has_every_claim(runs_dir):
    res = run_experiment("landscape/hessian-spectrum", preset="tiny", runs_dir=runs_dir)
    assert res.status in ("ok", "failed"), res.result.get("error")
    assert {c["id"] for c in res.result["claims"]} == {"bulk_C3", "outliers_C3", "slq_mass_C3", "slq_top_C3"}
    data = np.load(res.run_dir / "artifacts" / "data_params_spectra.npz")
    assert data["C3_dense_eigenvalues"].shape == (res.result["metrics"]["C3_num_params"],)


def test_claims_hold_at_a_small_size(runs_dir):
    res = run_experiment("landscape/hessian-spectrum", preset="quick", runs_dir=runs_dir,
                         overrides={"classes": [4], "hidden": [12], "per_class": 60, "num_probes": 6, "lanczos_steps": 60})
    assert res.status == "ok", [(c["id"], c["measured"]) for c in res.result["claims"] if not c["holds"]]


def test_config_errors(runs_dir):
    with pytest.raises(ConfigError, match="classes"):
        run_experiment("landscape/hessian-spectrum", preset="tiny", runs_dir=runs_dir, overrides={"classes": []})
