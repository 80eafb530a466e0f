"""edge-of-stability/progressive-sharpening: data, the EoS statistics on known series, a tiny run."""

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev

from dltheory.core.errors import ConfigError
from dltheory.data.images import digits_data
from dltheory.data.synthetic import chebyshev_data
from dltheory.experiments.edge_of_stability import progressive_sharpening as ps
from dltheory.runner import run_experiment


def test_chebyshev_targets_match_numpy():
    x, y = chebyshev_data(4, 20, dtype=torch.float64, device="cpu")
    assert x.shape == y.shape == (20, 1)
    np.testing.assert_allclose(y.numpy()[:, 0], chebyshev.chebval(x.numpy()[:, 0], [0, 0, 0, 0, 1]), atol=1e-12)


def test_digits_scale_and_one_hot():
    x, y = digits_data(30, input_scale=0.5, dtype=torch.float64, device="cpu")
    assert x.shape == (30, 1, 8, 8) and y.shape == (30, 10)
    assert float(x.min()) >= 0 and float(x.max()) <= 0.5 and torch.all(y.sum(1) == 1)
    with pytest.raises(ValueError, match="`num_points` must be <= 1797"):
        digits_data(2000, input_scale=1.0, dtype=torch.float64, device="cpu")


def test_square_loss_is_half_the_mean_squared_norm():
    fm = lambda params, x: x @ params["w"]  # noqa: E731
    x, w, y = torch.ones(4, 2), torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.zeros(4, 2)
    assert float(ps.square_loss(fm)({"w": w}, (x, y))) == pytest.approx(0.5 * (1 + 4))


def test_eos_statistics_on_a_planted_series():
    lr = 0.1  # 2/eta = 20
    steps = np.arange(0, 1001, 10)
    sharp = np.where(steps < 400, 5 + steps / 400 * 15, 20.0)  # reaches 0.9 * 20 = 18 at step 346.7 -> 350
    sharp[steps >= 700] = 21.0
    loss = np.linspace(1.0, 0.1, 1001)
    loss[500] = 0.9  # one increase after the crossing (and the decrease back)
    s = ps.eos_statistics(steps, sharp, loss, lr)
    assert s["init_ratio"] == pytest.approx(0.25) and s["max_ratio"] == pytest.approx(1.05)
    assert s["crossing"] == 350
    assert s["median"] == pytest.approx(1.05)  # second half of [350, 1000] starts at 675 -> mostly 21
    assert s["increases"] == 1
    assert s["loss_ratio"] == pytest.approx(np.median(loss[-100:]) / loss[350])


def test_eos_statistics_without_crossing():
    s = ps.eos_statistics(np.arange(3), np.array([1.0, 2.0, 3.0]), np.ones(3), 0.1)
    assert math.isnan(s["crossing"]) and math.isnan(s["median"]) and s["max_ratio"] == pytest.approx(0.15)


def test_tiny_run_records_every_claim_and_the_oracle_holds(runs_dir):
    res = run_experiment("edge-of-stability/progressive-sharpening", preset="tiny", runs_dir=runs_dir)
    claims = {c["id"]: c for c in res.result["claims"]}
    assert {k.split("_mlp")[0] for k in claims} == {"init_below", "reaches", "hovers", "nonmonotone", "loss_falls", "oracle"}
    assert all(claims[f"oracle_mlp_eta{lr:g}"]["holds"] for lr in (0.2, 0.1))
    assert all(claims[f"init_below_mlp_eta{lr:g}"]["holds"] for lr in (0.2, 0.1))


def test_cnn_needs_images(runs_dir):
    with pytest.raises(ConfigError, match="'cnn' only with dataset 'digits'"):
        run_experiment("edge-of-stability/progressive-sharpening", preset="tiny", runs_dir=runs_dir, overrides={"models": ["cnn"]})
    with pytest.raises(ConfigError, match="lrs"):
        run_experiment("edge-of-stability/progressive-sharpening", preset="tiny", runs_dir=runs_dir, overrides={"lrs": [0.1]})
