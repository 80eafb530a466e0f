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
    sharp = np.where(steps < 400, 5 + steps / 400 * 15, 20.0)  # reaches 0.9 * 20 = 18 at step 346.7 -> 350, 20 at 400
    sharp[steps >= 700] = 21.0
    loss = np.linspace(1.0, 0.1, 1001)
    loss[500] = 0.9  # one increase after the crossing (and the decrease back)
    s = ps.eos_statistics(steps, sharp, loss, lr, reach=0.9)
    assert s["init_ratio"] == pytest.approx(0.25) and s["max_ratio"] == pytest.approx(1.05)
    assert s["crossing"] == s["window_start"] == 350
    assert s["median"] == pytest.approx(1.05)  # second half of [350, 1000] starts at 675 -> mostly 21
    assert s["increases"] == 1
    assert s["loss_ratio"] == pytest.approx(np.median(loss[350:][-65:]) / loss[350])  # last 10% of the window
    assert ps.eos_statistics(steps, sharp, loss, lr)["crossing"] == 400  # default: the edge 2/eta itself


def test_eos_statistics_without_crossing_use_the_last_window():
    steps = np.arange(0, 101, 10)
    s = ps.eos_statistics(steps, np.full(11, 3.0), np.linspace(1.0, 0.5, 101), 0.1, window=40)  # S eta/2 = 0.15 throughout
    assert math.isnan(s["crossing"]) and s["window_start"] == 60
    assert s["median"] == pytest.approx(0.15) and s["max_ratio"] == pytest.approx(0.15)  # finite: the claims fail, not NaN
    assert s["increases"] == 0 and s["loss_ratio"] < 1


def test_tiny_run_records_every_claim_and_the_oracle_holds(runs_dir):
    res = run_experiment("edge-of-stability/progressive-sharpening", preset="tiny", runs_dir=runs_dir)
    claims = {c["id"]: c for c in res.result["claims"]}
    assert {k.split("_mlp")[0] for k in claims} == {"init_below", "reaches", "hovers", "nonmonotone", "loss_falls", "oracle"}
    for lr in (0.2, 0.15):
        assert claims[f"oracle_mlp_eta{lr:g}"]["holds"] and claims[f"init_below_mlp_eta{lr:g}"]["holds"]
        assert claims[f"oracle_mlp_eta{lr:g}"]["kind"] == claims[f"init_below_mlp_eta{lr:g}"]["kind"] == "check"
        assert claims[f"hovers_mlp_eta{lr:g}"]["kind"] == "claim" and math.isfinite(claims[f"hovers_mlp_eta{lr:g}"]["measured"])


def test_negative_control_step_below_two_over_sharpness_does_not_hover(runs_dir):
    """Same network and budget: eta = 0.35 reaches 2/eta and hovers there; eta = 0.01 keeps 2/eta far above the sharpness
    (GD tracks gradient flow), so the 'hovers at 2/eta' claim fails with a finite value."""
    res = run_experiment("edge-of-stability/progressive-sharpening", preset="quick", seed=1000, runs_dir=runs_dir,
                         overrides={"lrs": [0.35, 0.01], "max_steps": 1500, "eos_steps": 500, "sharpness_every": 25})
    c = {c["id"]: c for c in res.result["claims"]}
    assert c["hovers_mlp_eta0.35"]["holds"] and c["reaches_mlp_eta0.35"]["holds"] and c["nonmonotone_mlp_eta0.35"]["holds"]
    assert not c["hovers_mlp_eta0.01"]["holds"] and c["hovers_mlp_eta0.01"]["measured"] < 0.1
    assert not c["reaches_mlp_eta0.01"]["holds"] and not c["nonmonotone_mlp_eta0.01"]["holds"]


def test_cnn_needs_images(runs_dir):
    with pytest.raises(ConfigError, match="'cnn' only with dataset 'digits'"):
        run_experiment("edge-of-stability/progressive-sharpening", preset="tiny", runs_dir=runs_dir, overrides={"models": ["cnn"]})
    with pytest.raises(ConfigError, match="lrs"):
        run_experiment("edge-of-stability/progressive-sharpening", preset="tiny", runs_dir=runs_dir, overrides={"lrs": [0.1]})
