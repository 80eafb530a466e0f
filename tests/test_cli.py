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


def _planned() -> bool:
    """Whether some paper of the course still has no registered experiment (then `list --all` shows 'planned')."""
    from dltheory.experiments import bibliography

    return any(bibliography.status(p) == "planned" for p in bibliography.PAPERS.values())


def test_list_and_list_all():
    r = invoke("list")
    assert r.exit_code == 0 and "testing/quadratic" in r.stdout
    r = invoke("list", "--all")
    assert r.exit_code == 0
    for needle in ("Soudry", "implemented", "deep-matrix-factorization", *(["planned"] if _planned() else [])):
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
        (["run", "testing/quadratic", "--seed", "-1"], "`--seed` must be an int in 0..2**63-1"),
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


def test_sweep_on_a_ray_cluster_records_every_run(runs_dir, ray_cluster):
    # Ray drivers run in their own processes (as a user's would): a Ray driver may end its process when
    # the cluster goes away, which must not be the test runner's
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "DLTHEORY_PROGRESS": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    probe = "import ray; ray.init(log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()), int(ray.cluster_resources()['CPU'])); ray.shutdown()"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=180)
    assert out.stdout.split() == ["2", "2"], out.stderr[-2000:]  # two nodes, one CPU each
    # the workers import dltheory afresh: use a registered course experiment (tiny: claims may fail)
    cli_bin = os.path.join(os.path.dirname(sys.executable), "dltheory")
    r = subprocess.run([cli_bin, "sweep", "intro/optimizers", "--seeds", "0-3", "--preset", "tiny", "--backend", "ray", "--runs-dir", str(runs_dir)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    from dltheory.store import Store

    recs = Store(runs_dir).recent(100)
    assert len(recs) == 4 and all(x.status in ("ok", "failed") for x in recs), [(x.status, x.error) for x in recs]
    assert sorted(x.seed for x in recs) == [0, 1, 2, 3]
    assert len({x.config_hash for x in recs}) == 1


# --- hardening: every bad input one line and exit 2; nothing replaced or lost ---------------
def _run_ok(runs_dir, *extra, seed=3):
    r = invoke("run", "testing/quadratic", "--seed", seed, "--json", *extra, "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "testing/quadratic", "--seed", str(2**63)], "`--seed` must be an int in 0..2**63-1"),  # 3
        (["sweep", "testing/quadratic", "--seeds", f"0,{2**63}"], "`--seeds` must look like"),  # 3
        (["sweep", "testing/quadratic", "--seeds", f"0-{2**62}"], "at most 100000 seeds"),
        (["verify", "testing/quadratic", "--seeds", str(2**64)], "`--seeds` must look like"),
        (["course", "--seed", "-1"], "`--seed` must be an int in 0..2**63-1"),  # 7
        (["course", "--jobs", "0"], "`--jobs` must be an int in 1..1024"),
        (["runs", "--limit", str(2**70)], "`--limit` must be an int in 1..1000000"),  # 7
        (["runs", "--limit", "0"], "`--limit` must be an int in 1..1000000"),
        (["list", "--lecture", "9"], "`--lecture` must be a lecture with implemented experiments"),  # 10
        (["run", "testing/lists", "--set", "lrs=[-1,0.1]"], "invalid value for 'lrs[0]'"),  # 8
        (["run", "testing/lists", "--set", "lrs=[NaN,0.1]"], "'lrs[0]' of testing/lists: [nan, 0.1]; must be finite"),
        (["run", "testing/lists", "--set", "lrs=[0.5,2]"], "entry lrs[1] = 2: input should be less than or equal to 1"),
        (["run", "testing/lists", "--set", "hidden=[0]"], "invalid value for 'hidden[0]'"),
        (["run", "testing/lists", "--set", "hidden=[true]"], "must be a number, not a bool"),
        (["run", "testing/lists", "--set", "lrs=[]"], "at least 1 item"),
        (["run", "testing/quadratic", "--set", "steps=true"], "invalid value for 'steps' of testing/quadratic: True; must be a number, not a bool"),
        (["run", "testing/quadratic", "--set", "steps=1e20"], "invalid value for 'steps'"),
        (["run", "testing/quadratic", "--set", "lr=NaN"], "'lr' of testing/quadratic: nan; must be finite"),
        (["run", "testing/quadratic", "--set", "lr=Infinity"], "must be finite"),
    ],
)
def test_more_bad_input_exits_2_with_one_line_and_writes_nothing(args, needle, runs_dir):
    r = invoke(*args, *(["--runs-dir", runs_dir] if args[0] != "list" else []))
    assert r.exit_code == 2, r.output
    line = _one_error_line(r)
    assert needle in line, line
    assert not runs_dir.exists() or [p.name for p in runs_dir.iterdir() if p.is_dir()] == []  # no stray run folder


def test_runs_dir_empty_file_or_device_is_refused(tmp_path, monkeypatch):  # 6, 7
    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for rd, needle in (("", "`--runs-dir` must be a directory path; got ''"), (str(a_file), "must be a directory; got"), ("/dev/null", "a character device")):
        for cmd in (["run", "testing/quadratic"], ["runs"], ["report"]):
            r = invoke(*cmd, "--runs-dir", rd)
            assert r.exit_code == 2, (cmd, rd, r.output)
            assert needle in _one_error_line(r)
    monkeypatch.setenv("DLTHEORY_RUNS_DIR", "")
    r = invoke("runs")
    assert r.exit_code == 2 and "got ''" in _one_error_line(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written into the current dir
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("content", [b"", b"this is not a database, just some bytes" * 100])
def test_empty_or_corrupt_index_says_so_and_reindex_rebuilds_it(content, runs_dir):  # 4, 7
    a = _run_ok(runs_dir, seed=1)
    r = invoke("run", "testing/quadratic", "--seed", 2, "--set", "steps=1", "--runs-dir", runs_dir)
    assert r.exit_code == 1
    index = runs_dir / "dltheory.sqlite"
    for suffix in ("-wal", "-shm"):
        (runs_dir / ("dltheory.sqlite" + suffix)).unlink(missing_ok=True)
    index.write_bytes(content)
    for cmd in (["runs"], ["show", a["run_id"]], ["report"], ["run", "testing/quadratic"]):
        r = invoke(*cmd, "--runs-dir", runs_dir)
        assert r.exit_code == 2, (cmd, r.output)
        line = _one_error_line(r)
        assert "dltheory runs --reindex" in line and "dltheory.sqlite" in line, line
    assert index.read_bytes() == content  # never silently rebuilt
    r = invoke("runs", "--reindex", "--json", "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    got = {x["run_id"]: x for x in json.loads(r.stdout)}
    assert len(got) == 2 and got[a["run_id"]]["status"] == "ok"
    assert sorted(x["status"] for x in got.values()) == ["failed", "ok"]
    kept = [p for p in runs_dir.iterdir() if p.name.startswith("dltheory.sqlite.bad-") and not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes() == content  # the old file is kept
    r = invoke("show", a["run_id"], "--runs-dir", runs_dir)
    assert r.exit_code == 0 and "distance" in r.stdout


def test_show_ambiguous_prefix_and_literal_underscore(runs_dir):  # 10
    a = _run_ok(runs_dir, seed=1)
    _run_ok(runs_dir, seed=2)
    r = invoke("show", "2", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "ambiguous: 2 runs match '2'" in _one_error_line(r)
    wild = a["run_id"][:8] + "_"  # '_' must not match any character
    r = invoke("show", wild, "--runs-dir", runs_dir)
    assert r.exit_code == 2 and f"no run '{wild}'" in _one_error_line(r)
    r = invoke("show", "%", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "no run '%'" in _one_error_line(r)


def test_show_bad_result_json_is_one_line(runs_dir):  # 7
    a = _run_ok(runs_dir)
    path = runs_dir / a["run_id"] / "result.json"
    for text, needle in ((path.read_text()[:50], "is unreadable"), ('{"schema": 1, "claims": 3}', "is not a schema-1 result"), ("[1, 2]", "expected a JSON object")):
        path.write_text(text)
        r = invoke("show", a["run_id"], "--runs-dir", runs_dir)
        assert r.exit_code == 2, r.output
        assert needle in _one_error_line(r)


def test_version_completion_runs_json_config_compare_and_show_overrides(runs_dir):  # 11
    from dltheory import __version__

    r = invoke("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"dltheory {__version__}"
    assert "--install-completion" in invoke("--help").stdout
    a = _run_ok(runs_dir, seed=1)
    b = _run_ok(runs_dir, "--set", "lr=0.5", "--set", "steps=300", seed=1)
    r = invoke("runs", "--json", "--runs-dir", runs_dir)
    rows = json.loads(r.stdout)
    assert [x["run_id"] for x in rows] == [b["run_id"], a["run_id"]]
    assert rows[0]["overrides"] == {"lr": 0.5, "steps": 300} and rows[1]["overrides"] == {}
    r = invoke("show", b["run_id"], "--runs-dir", runs_dir)
    assert r.exit_code == 0 and "overrides: lr=0.5 steps=300" in r.stdout and "dim" in r.stdout
    r = invoke("compare", a["run_id"], b["run_id"], "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "the keys that differ" in out and "steps" in out and "300" in out and "200" in out and "dim " not in out.split("claims")[0]
    assert out.count("holds") == 2 and "distance" in out
    r = invoke("config", "testing/lists")
    assert r.exit_code == 0, r.output
    for needle in ("lrs", "tuple[float > 0 and <= 1, ...]", "length <= 8", "int >= 1 and <= 10000", "step sizes", "full", "100"):
        assert needle in r.stdout, needle
    rows = json.loads(invoke("config", "testing/quadratic", "--json").stdout)
    assert {"key": "steps", "type": "int >= 1 and <= 100000", "default": 200, "description": "GD steps", "presets": {"tiny": 50, "full": 1000}} in rows
    assert invoke("config", "testing/nope").exit_code == 2


def test_help_version_and_list_do_not_import_torch():  # 12
    code = ("import sys\nfrom dltheory.cli import main\nsys.argv = ['dltheory', *sys.argv[1:]]\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules and 'dltheory.experiments' not in sys.modules, sorted(sys.modules)\n")
    env = {**os.environ, "DLTHEORY_PROGRESS": "0"}
    for args, needles in ((["--help"], ["compare"]), (["list", "--lecture", "2"], ["implicit-bias/separable-logistic"]),
                          (["list", "--all"], ["implemented", "Soudry", *(["planned"] if _planned() else [])]), (["run", "--help"], ["--seed"])):
        p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, (args, p.stderr[-2000:])
        assert all(n in p.stdout for n in needles), (args, p.stdout[-2000:])


def test_a_paper_without_a_registered_experiment_is_listed_as_planned(monkeypatch):
    import dataclasses

    from dltheory.experiments import bibliography

    some = next(iter(bibliography.PAPERS.values()))
    ghost = dataclasses.replace(some, key="ghost2099", experiment="nowhere/not-registered", lecture=8)
    assert bibliography.status(ghost) == "planned"
    monkeypatch.setitem(bibliography.PAPERS, "ghost2099", ghost)
    r = invoke("list", "--all")
    assert r.exit_code == 0 and "planned" in r.stdout and "nowhere/not-registered" in r.stdout
