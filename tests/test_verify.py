"""Claims versus checks, pass rates over seeds (`dltheory verify`), and how the report shows them."""

import json
import sqlite3

import pytest

from dltheory.experiments.base import Claim, RunLog
from dltheory.report import write_report
from dltheory.runner import run_experiment
from dltheory.store import Store
from dltheory.sweep import verify
from test_cli import invoke


def test_claim_kind_is_validated_and_ids_are_unique(tmp_path):
    with pytest.raises(ValueError, match="`kind` of claim 'x' must be one of"):
        Claim("x", "s", 1.0, "< 2", True, "src", "none", kind="identity")
    log = RunLog(tmp_path, seed=0)
    log.claim_less("a", "s", 1.0, 2.0, source="-", oracle="none", kind="check")
    assert log.claims[0].kind == "check" and log.claims[0].holds
    with pytest.raises(ValueError, match="claim id 'a' is recorded twice"):
        log.claim_less("a", "s", 1.0, 2.0, source="-", oracle="none")
    log.close()


def test_a_run_of_checks_alone_is_an_error(runs_dir):
    r = run_experiment("testing/seed-dependent", overrides={"only_checks": True}, runs_dir=runs_dir)
    assert r.status == "error" and "no claims" in r.result["error"]
    r = run_experiment("testing/seed-dependent", seed=1, runs_dir=runs_dir)
    assert r.status == "ok" and [c["kind"] for c in r.result["claims"]] == ["check", "claim"]


def test_verify_counts_each_claim_over_seeds_and_skips_finished_seeds(runs_dir):
    results, rates = verify("testing/seed-dependent", range(0, 7), runs_dir=runs_dir)
    assert rates["seed_residue"].holding == 4 and rates["seed_residue"].seeds == 7
    assert rates["seed_residue"].failing_seeds == (0, 3, 6)
    assert rates["identity"].kind == "check" and rates["identity"].holding == 7
    # seeds already run with this config are not run again; a new config is counted apart
    results, rates = verify("testing/seed-dependent", range(0, 9), runs_dir=runs_dir)
    assert sum(s.startswith("skipped") for _, _, s in results) == 7
    assert rates["seed_residue"].failing_seeds == (0, 3, 6)
    _, rates = verify("testing/seed-dependent", range(0, 9), overrides={"period": 100}, runs_dir=runs_dir)
    assert rates["seed_residue"].failing_seeds == (0,)


def test_verify_cli_prints_the_pass_rate_table_and_exits_by_it(runs_dir):
    r = invoke("verify", "testing/seed-dependent", "--seeds", "1-2", "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    assert "2/2" in r.stdout and "every claim held on every seed" in r.stdout
    r = invoke("verify", "testing/seed-dependent", "--seeds", "0-5", "--runs-dir", runs_dir)
    assert r.exit_code == 1 and "4/6" in r.stdout and "0, 3" in r.stdout
    r = invoke("verify", "testing/seed-dependent", "--seeds", "x", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "--seeds" in r.stderr
    r = invoke("verify", "testing/seed-dependent", "--set", "period=0", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "period" in r.stderr


def test_run_table_shows_checks_apart_with_oracles(runs_dir):
    r = invoke("run", "testing/seed-dependent", "--seed", "1", "--runs-dir", runs_dir)
    assert r.exit_code == 0
    out = r.stdout
    assert "oracle" in out and "arithmetic" in out
    assert out.index("the seed is not a multiple") < out.index("checks") < out.index("1 + 1 = 2")


def test_report_shows_pass_rates_over_seeds_and_checks_apart(runs_dir):
    verify("testing/seed-dependent", range(0, 6), runs_dir=runs_dir)
    store = Store(runs_dir)
    html = write_report(store).read_text()
    # testing/* experiments are not in the course; the card is built the same way for any experiment
    from dltheory.experiments import registry
    from dltheory.report import _experiment_card

    rec = store.latest_per_experiment()["testing/seed-dependent"]
    card = _experiment_card(registry.get("testing/seed-dependent"), rec, store)
    assert "held over 6 seeds" in card and "4/6" in card and "fails on seeds 0, 3" in card
    assert "checks: identities and constructions" in card
    assert "claims hold on all 6 seeds" in card
    assert "<html" in html


def test_store_written_before_claim_kinds_is_migrated(runs_dir):
    runs_dir.mkdir(parents=True)
    con = sqlite3.connect(runs_dir / "dltheory.sqlite")
    con.executescript("CREATE TABLE claims (run_id TEXT NOT NULL, claim_id TEXT NOT NULL, measured REAL, expected TEXT, holds INTEGER, PRIMARY KEY (run_id, claim_id));")
    con.close()
    r = run_experiment("testing/seed-dependent", seed=1, runs_dir=runs_dir)
    assert r.status == "ok"
    rates = Store(runs_dir).claim_pass_rates("testing/seed-dependent", "quick", Store(runs_dir).get(r.run_id).config_hash)
    assert rates["identity"].kind == "check" and rates["seed_residue"].kind == "claim"
    assert json.loads((r.run_dir / "result.json").read_text())["claims"][0]["kind"] == "check"
