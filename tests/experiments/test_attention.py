"""intro/attention: sequence draws, the equivariant Bayes accuracy against brute force, a tiny run, the claims on a small instance, the no-position negative control."""

import itertools

import numpy as np
import pytest

from dltheory.experiments.intro import attention as att
from dltheory.runner import run_experiment

EXP = "intro/attention"


def test_draw_sequences_distinct_and_excluded():
    a = att.draw_sequences(50, 3, 4, np.random.default_rng(0))
    b = att.draw_sequences(10, 3, 4, np.random.default_rng(1), exclude=set(map(tuple, a)))
    assert len(set(map(tuple, a))) == 50 and not set(map(tuple, a)) & set(map(tuple, b))


def test_bayes_accuracy_by_brute_force():
    # by enumeration over all sequences of L tokens out of 2 (L even: no position is its own mirror)
    V = 2
    for L in (2, 4):
        xs = np.array(list(itertools.product(range(V), repeat=L)))
        groups: dict = {}
        for x in xs:
            for i in range(L):
                groups.setdefault((x[i], tuple(np.bincount(x, minlength=V))), []).append(x[L - 1 - i])
        best = sum(max(np.bincount(v, minlength=V)) for v in groups.values()) / (len(xs) * L)
        assert att.bayes_accuracy_equivariant(xs) == pytest.approx(best, abs=1e-12)


def test_tiny_run_records_claims_and_artifacts(runs_dir):
    r = run_experiment(EXP, preset="tiny", runs_dir=runs_dir)
    assert r.status in ("ok", "failed"), r.result.get("error")
    assert {c["id"] for c in r.result["claims"]} == {"exact_reversal", "attention_is_the_permutation", "no_positions_at_most_bayes",
                                                     "equivariance_without_positions", "attention_argmax_is_permutation", "test_set_held_out"}
    z = np.load(r.run_dir / "artifacts" / "sequences_and_params.npz")
    assert z["x_train"].shape == (100, 4) and z["mean_attention"].shape == (4, 4) and z["learned_pos"].shape == (4, 8)


def test_quick_every_claim_holds(runs_dir):
    r = run_experiment(EXP, preset="quick", seed=1, runs_dir=runs_dir)
    assert r.status == "ok", [c for c in r.result["claims"] if not c["holds"]]


def test_negative_control_without_positions_reversal_fails(runs_dir):
    r = run_experiment(EXP, preset="quick", overrides={"positional": "none"}, seed=1, runs_dir=runs_dir)
    c = {c["id"]: c for c in r.result["claims"]}
    assert not c["exact_reversal"]["holds"] and c["exact_reversal"]["measured"] < 0.05
    assert not c["attention_is_the_permutation"]["holds"]
    assert c["no_positions_at_most_bayes"]["holds"] and c["equivariance_without_positions"]["holds"]
