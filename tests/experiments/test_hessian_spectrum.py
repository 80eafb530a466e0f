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
    kinds = {c["id"]: c["kind"] for c in res.result["claims"]}
    assert kinds == {"bulk_C3": "claim", "outlier_subspace_C3": "claim", "slq_mass_C3": "check", "slq_top_C3": "check"}
    assert "C3_outlier_gap_position" in res.result["metrics"]
    data = np.load(res.run_dir / "artifacts" / "data_params_spectra.npz")
    assert data["C3_dense_eigenvalues"].shape == (res.result["metrics"]["C3_num_params"],)


def test_subspace_overlap_of_planted_subspaces():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((50, 3))
    Q, _ = np.linalg.qr(M)
    assert hs.subspace_overlap(Q[:, :2], M) == pytest.approx(1.0)  # inside the span
    R, _ = np.linalg.qr(rng.standard_normal((50, 2)))
    R -= Q @ (Q.T @ R)
    R, _ = np.linalg.qr(R)
    assert hs.subspace_overlap(R, M) == pytest.approx(0.0, abs=1e-12)  # orthogonal to it
    assert hs.subspace_overlap(np.column_stack([Q[:, 0], R[:, 0]]), M) == pytest.approx(0.5)


def test_class_mean_gradients_sum_to_the_full_gradient():
    x, y, _ = gaussian_mixture(3, 4, 5, separation=2.0, generator=torch_generator(0, "d"), dtype=torch.float64)
    w = {"w": torch.randn(4, 3, generator=torch_generator(0, "w"), dtype=torch.float64)}
    loss_fn = lambda p, b: torch.nn.functional.cross_entropy(b[0] @ p["w"], b[1])  # noqa: E731
    M = hs.class_mean_gradients(loss_fn, w, x, y, 3)
    p = {"w": w["w"].clone().requires_grad_(True)}
    g = torch.autograd.grad(loss_fn(p, (x, y)), [p["w"]])[0].reshape(-1).numpy()
    np.testing.assert_allclose(M.mean(axis=1), g, atol=1e-12)  # equal class sizes: the mean of class means


@pytest.mark.slow
def test_negative_control_random_weights_have_no_class_outliers(runs_dir):
    """At the random init (no training) the top Hessian eigenvectors are not in the class-mean span; after training they are."""
    over = {"classes": [5], "num_probes": 4, "lanczos_steps": 40}  # the quick network (at P = 304, C = 4, the init overlap reached 0.59)
    pos = run_experiment("landscape/hessian-spectrum", preset="quick", runs_dir=runs_dir, seed=1000, overrides=over)
    neg = run_experiment("landscape/hessian-spectrum", preset="quick", runs_dir=runs_dir, seed=1000, overrides={**over, "trained": False})
    p = {c["id"]: c for c in pos.result["claims"]}
    n = {c["id"]: c for c in neg.result["claims"]}
    assert pos.status == "ok", [(c["id"], c["measured"]) for c in pos.result["claims"] if not c["holds"]]
    assert p["outlier_subspace_C5"]["measured"] > 0.5
    assert not n["outlier_subspace_C5"]["holds"] and n["outlier_subspace_C5"]["measured"] < 0.5


def test_config_errors(runs_dir):
    with pytest.raises(ConfigError, match="classes"):
        run_experiment("landscape/hessian-spectrum", preset="tiny", runs_dir=runs_dir, overrides={"classes": []})
