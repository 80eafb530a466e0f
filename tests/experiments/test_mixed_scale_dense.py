"""sparse-coding/mixed-scale-dense: the scene generator, the reachable-set oracle, a tiny run, a small instance, the negative control."""

import numpy as np
import pytest
import torch

from dltheory.experiments.sparse_coding import mixed_scale_dense as msd
from dltheory.models.msd import msd_dilations, msd_receptive_field
from dltheory.runner import run_experiment


def test_scene_squares_and_labels():
    X, Y, skipped = msd.squares_scene(3, 32, n_large=1, n_small=3, large_sides=(10, 12), small_sides=(4, 5), noise=0.0, task="scale", rng=np.random.default_rng(0))
    assert X.shape == (3, 1, 32, 32) and Y.shape == (3, 32, 32) and skipped == 0
    for x, y in zip(X[:, 0], Y, strict=True):
        on = x > 0
        assert ((x[on] >= 0.5) & (x[on] <= 1.0)).all()
        assert y.bool().logical_and(~on).sum() == 0  # labels only on squares
        assert 100 <= int(y.sum()) <= 144  # one large square, side 10..12
    _, Yl, _ = msd.squares_scene(3, 32, n_large=1, n_small=3, large_sides=(10, 12), small_sides=(4, 5), noise=0.0, task="local", rng=np.random.default_rng(0))
    torch.testing.assert_close(Yl, (X[:, 0] > 0).long())  # local task: every square


def test_reachable_support_for_simple_nets():
    # a plain chain of undilated 3x3 convs reads the full (2d+1) box; one layer of dilation 3 reads 9 points
    assert msd.reachable_support(((1,),) * 3, False, 7).all()
    one = msd.reachable_support(((3,),), True, 7)
    assert one.sum() == 9 and one[::3, ::3].all()
    sup = msd.reachable_support(msd_dilations(4, 3), True, msd_receptive_field(4, 3))
    assert msd.support_side(sup) == msd_receptive_field(4, 3) == 57 and sup.sum() < 57 * 57  # holes


def test_matched_width_is_closest_in_ratio():
    assert msd.matched_width(529, 3, 1, 2) == 5  # 522 parameters


def test_iou():
    p, t = torch.tensor([[1, 1, 0, 0]]), torch.tensor([[1, 0, 1, 0]])
    assert msd.iou(p, t) == pytest.approx(1 / 3) and msd.iou(torch.zeros(3), torch.zeros(3)) == 1.0


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment("sparse-coding/mixed-scale-dense", preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    c = {x["id"]: x for x in r.result["claims"]}
    assert set(c) == {"parameter_count", "receptive_field", "msd_beats_cnn", "support_is_reachable_set", "fold_matches_conv2d"}
    assert c["parameter_count"]["holds"] and c["receptive_field"]["holds"] and c["support_is_reachable_set"]["holds"] and c["fold_matches_conv2d"]["holds"]
    z = np.load(r.run_dir / "artifacts" / "results.npz")
    d = np.load(r.run_dir / "artifacts" / "data.npz")
    assert z["test_iou_msd"].shape == (2,) and d["X_train"].shape == (2, 2, 1, 24, 24) and d["pred_msd"].shape == (2, 2, 24, 24)
    np.testing.assert_allclose(z["difference"], z["test_iou_msd"] - z["test_iou_cnn"])
    p = np.load(r.run_dir / "artifacts" / "params_msd.npz")
    assert sum(v.size for k, v in p.items() if k.startswith("pair0/")) == r.result["metrics"]["msd_params"]
    assert (r.run_dir / "figures" / "msd_vs_cnn.png").exists()


def _claims(r):
    return {c["id"]: c for c in r.result["claims"]}


SMALL = {"pairs": 3, "curve_images": [], "check_depths": [2], "check_widths": [1]}


def test_quick_setting_msd_beats_cnn(runs_dir):
    r = run_experiment("sparse-coding/mixed-scale-dense", preset="quick", seed=1, overrides=SMALL, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_local_task(runs_dir):
    # label every square: a 3x3 neighbourhood decides, the CNN's 7x7 window suffices, and the MS-D advantage is gone
    r = run_experiment("sparse-coding/mixed-scale-dense", preset="quick", seed=1, overrides=SMALL | {"task": "local"}, runs_dir=runs_dir)
    c = _claims(r)
    assert not c["msd_beats_cnn"]["holds"]
    assert r.result["metrics"]["iou_difference_mean"] <= 0.0
    assert c["parameter_count"]["holds"] and c["receptive_field"]["holds"]


def test_collapsed_training_is_restarted_from_a_fresh_init(runs_dir):
    # a step of 1 kills the narrow CNN's ReLUs: it predicts one class everywhere, and is trained again from a new init
    r = run_experiment("sparse-coding/mixed-scale-dense", preset="tiny", overrides={"lr": 1.0, "steps": 20}, runs_dir=runs_dir)
    assert r.result["metrics"]["restarts_cnn"] >= 1
    lines = [ln for ln in (r.run_dir / "log.txt").read_text().splitlines() if "collapsed to one class" in ln]
    assert len(lines) >= r.result["metrics"]["restarts_cnn"]
    assert r.result["metrics"]["restarts_msd"] == 0  # its dense links to the input keep the MS-D net from collapsing
