import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dltheory.cli import app

cli = CliRunner()


def invoke(*args):
    return cli.invoke(app, [str(a) for a in args])


def _one_error_line(result):
    text = result.stderr.strip()
    assert "Traceback" not in text and "Traceback" not in result.stdout
    assert len(text.splitlines()) == 1, text
    return text


def test_list_and_list_all():
    r = invoke("list")
    assert r.exit_code == 0 and "testing/quadratic" in r.stdout
    r = invoke("list", "--all")
    assert r.exit_code == 0
    for needle in ("Soudry", "implemented", "planned", "deep-matrix-factorization"):
        assert needle in r.stdout, needle
    assert invoke("list", "--lecture", "0").exit_code == 2


def test_run_json_show_runs_report(runs_dir):
    r = invoke("run", "testing/quadratic", "--seed", 3, "--json", "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["schema"] == 1 and res["status"] == "ok" and all(c["holds"] for c in res["claims"])
    r = invoke("runs", "--runs-dir", runs_dir)
    assert r.exit_code == 0 and "testing/quadratic" in r.stdout
    r = invoke("show", res["run_id"][:25], "--runs-dir", runs_dir)
    assert r.exit_code == 0 and "distance" in r.stdout
    r = invoke("show", res["run_id"], "--json", "--runs-dir", runs_dir)
    assert json.loads(r.stdout)["run_id"] == res["run_id"]
    r = invoke("report", "--runs-dir", runs_dir)
    assert r.exit_code == 0
    html = (runs_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "GD reaches the minimizer" in html and "holds" in html


def test_failing_claim_exits_1(runs_dir):
    r = invoke("run", "testing/quadratic", "--set", "steps=1", "--runs-dir", runs_dir)
    assert r.exit_code == 1 and "FAILS" in r.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "no-such-thing"], "unknown experiment 'no-such-thing'"),
        (["run", "testing/quadratc"], "did you mean 'testing/quadratic'"),
        (["run", "testing/quadratic", "--set", "lr=-1"], "invalid value for 'lr'"),
        (["run", "testing/quadratic", "--set", "lr=abc"], "invalid value for 'lr'"),
        (["run", "testing/quadratic", "--set", "nope=1"], "unknown config key 'nope'"),
        (["run", "testing/quadratic", "--set", "steps"], "`--set` takes key=value"),
        (["run", "testing/quadratic", "--preset", "medium"], "`preset` must be one of"),
        (["run", "testing/quadratic", "--seed", "-1"], "`--seed` must be an int >= 0"),
        (["run", "testing/quadratic", "--device", "tpu"], "`device`"),
        (["show", "no-such-run"], "no run 'no-such-run'"),
        (["sweep", "testing/quadratic", "--grid", "lr=0.5,-1"], "invalid value for 'lr'"),
        (["sweep", "testing/quadratic", "--seeds", "a-b"], "`--seeds` must look like"),
        (["sweep", "testing/quadratic", "--backend", "slurm"], "`backend` must be one of"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, runs_dir):
    r = invoke(*args, "--runs-dir", runs_dir)
    assert r.exit_code == 2, r.output
    line = _one_error_line(r)
    assert needle in line, line


def test_sweep_records_every_run_and_resumes(runs_dir):
    r = invoke("sweep", "testing/quadratic", "--grid", "lr=0.5,1.0", "--grid", "dim=2,3", "--seeds", "0-1", "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    from dltheory.store import Store

    assert len(Store(runs_dir).recent(100)) == 8
    r = invoke("sweep", "testing/quadratic", "--grid", "lr=0.5,1.0", "--grid", "dim=2,3", "--seeds", "0-2", "--runs-dir", runs_dir)
    assert r.exit_code == 0
    assert len(Store(runs_dir).recent(100)) == 12  # only the new seed ran
    assert r.stdout.count("skipped") == 8


def test_real_cli_process_no_traceback(tmp_path):
    env = {**os.environ, "DLTHEORY_PROGRESS": "0"}
    p = subprocess.run([sys.executable, "-m", "dltheory", "run", "no-such-thing", "--runs-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert "unknown experiment 'no-such-thing'" in p.stderr


def test_brackets_in_messages_are_shown_verbatim(runs_dir):
    r = invoke("run", "testing/quadratic", "--set", "dim=[1,2]", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "[1, 2]" in r.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path):
    """A real two-node Ray cluster on loopback: a head and a worker node, stopped afterwards."""
    if os.environ.get("DLTHEORY_REQUIRE_RAY") != "1":
        pytest.importorskip("ray", reason="the ray extra is not installed")
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--object-store-memory", str(80 * 2**20), "--disable-usage-stats"]
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--include-dashboard", "false", *common],
                       check=True, env=env, capture_output=True, timeout=120)
        subprocess.run([ray_bin, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
                       check=True, env=env, capture_output=True, timeout=120)
        yield address
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_sweep_on_a_ray_cluster_records_every_run(runs_dir, ray_cluster, monkeypatch):
    import ray

    # the workers import dltheory afresh: use a registered course experiment (tiny: claims may fail)
    exp = "intro/optimizers"
    ray.init(address=ray_cluster, log_to_driver=False)
    try:
        assert sum(n["Alive"] for n in ray.nodes()) == 2 and ray.cluster_resources()["CPU"] == 2
    finally:
        ray.shutdown()
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    r = invoke("sweep", exp, "--seeds", "0-3", "--preset", "tiny", "--backend", "ray", "--runs-dir", runs_dir)
    assert r.exit_code in (0, 1), r.output
    assert not ray.is_initialized()  # the CLI disconnected from the cluster it joined
    from dltheory.store import Store

    recs = Store(runs_dir).recent(100)
    assert len(recs) == 4 and all(x.status in ("ok", "failed") for x in recs), [(x.status, x.error) for x in recs]
    assert sorted(x.seed for x in recs) == [0, 1, 2, 3]
    assert len({x.config_hash for x in recs}) == 1
