"""Every registered experiment runs through the real runner at a tiny size, and the same
seed gives the same numbers."""

import json

import pytest

from dltheory.experiments import bibliography, registry
from dltheory.runner import run_experiment

EXPERIMENTS = [e.id for e in registry.all_experiments() if not e.id.startswith("testing/")]


def _preset(exp_id):
    return "tiny" if "tiny" in registry.get(exp_id).presets else "quick"


@pytest.mark.parametrize("exp_id", EXPERIMENTS)
def test_experiment_runs_at_tiny_size_and_is_reproducible(exp_id, runs_dir):
    exp = registry.get(exp_id)
    assert exp.papers and all(k in bibliography.PAPERS for k in exp.papers)
    assert exp.__doc__ and exp.title
    for field in exp.Config.model_fields.values():
        assert field.description, f"{exp_id}: every config field needs a description"
    a = run_experiment(exp_id, preset=_preset(exp_id), seed=1, runs_dir=runs_dir)
    assert a.status in ("ok", "failed"), a.result.get("error")
    res = json.loads((a.run_dir / "result.json").read_text())
    assert res["schema"] == 1 and res["claims"]
    for c in res["claims"]:
        assert c["source"] and c["oracle"] and c["statement"]
    assert res["figures"] and all((a.run_dir / f).exists() for f in res["figures"])
    assert res["artifacts"] and all((a.run_dir / f).exists() for f in res["artifacts"])
    b = run_experiment(exp_id, preset=_preset(exp_id), seed=1, runs_dir=runs_dir)
    assert b.result["metrics"] == a.result["metrics"]
    assert [c["measured"] for c in b.result["claims"]] == [c["measured"] for c in a.result["claims"]]


def test_every_course_paper_is_in_the_bibliography():
    for exp in registry.all_experiments():
        if exp.id.startswith("testing/"):
            continue
        assert any(exp.id in p.experiments for p in bibliography.PAPERS.values()), exp.id
