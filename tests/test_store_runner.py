import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dltheory.core import ConfigError, UnknownExperimentError
from dltheory.runner import run_experiment
from dltheory.store import Store

HERE = Path(__file__).parent


def test_run_writes_schema_1_result_and_store(runs_dir):
    r = run_experiment("testing/quadratic", preset="quick", seed=3, runs_dir=runs_dir)
    assert r.status == "ok" and r.exit_code == 0
    res = json.loads((r.run_dir / "result.json").read_text())
    for key in ("schema", "run_id", "experiment", "preset", "seed", "config", "status", "claims", "metrics", "figures", "artifacts", "versions", "wall_time_s"):
        assert key in res, key
    assert res["schema"] == 1 and res["seed"] == 3
    assert set(res["claims"][0]) >= {"id", "statement", "measured", "expected", "holds", "source", "oracle"}
    assert (r.run_dir / "figures" / "loss.png").exists()
    data = np.load(r.run_dir / "artifacts" / "problem.npz")
    assert np.linalg.norm(data["w_final"] - np.linalg.solve(data["H"], data["b"])) < 1e-6
    rec = Store(runs_dir).get(r.run_id)
    assert rec.status == "ok" and rec.n_claims == 1 and rec.n_holding == 1


def test_failing_claim_and_error_are_recorded(runs_dir):
    r = run_experiment("testing/quadratic", overrides={"steps": 1}, runs_dir=runs_dir)
    assert r.status == "failed" and r.exit_code == 1
    r = run_experiment("testing/quadratic", overrides={"lr": 5.0, "steps": 500}, runs_dir=runs_dir)  # lr 5/L diverges
    assert r.status == "error" and "diverged at step" in r.result["error"]
    assert Store(runs_dir).get(r.run_id).status == "error"


def test_same_seed_same_numbers(runs_dir):
    a = run_experiment("testing/quadratic", seed=7, overrides={"steps": 20}, runs_dir=runs_dir)
    b = run_experiment("testing/quadratic", seed=7, overrides={"steps": 20}, runs_dir=runs_dir)
    c = run_experiment("testing/quadratic", seed=8, overrides={"steps": 20}, runs_dir=runs_dir)
    assert a.result["metrics"] == b.result["metrics"]
    assert a.result["metrics"] != c.result["metrics"]


def test_bad_input_raises_before_recording(runs_dir):
    with pytest.raises(UnknownExperimentError, match="did you mean 'testing/quadratic'"):
        run_experiment("testing/quadratc", runs_dir=runs_dir)
    with pytest.raises(ConfigError, match="unknown config key 'setps'.*did you mean 'steps'"):
        run_experiment("testing/quadratic", overrides={"setps": 3}, runs_dir=runs_dir)
    with pytest.raises(ConfigError, match=r"invalid value for 'lr'.*-1.*greater than 0.*Allowed: float > 0"):
        run_experiment("testing/quadratic", overrides={"lr": -1}, runs_dir=runs_dir)
    with pytest.raises(ConfigError, match=r"invalid value for 'dim'.*'abc'"):
        run_experiment("testing/quadratic", overrides={"dim": "abc"}, runs_dir=runs_dir)
    with pytest.raises(ConfigError, match="`preset` must be one of"):
        run_experiment("testing/quadratic", preset="huge", runs_dir=runs_dir)
    assert Store(runs_dir).recent() == []


_WORKER = """
import sys
sys.path.insert(0, {tests!r})
import dummy_experiments
from dltheory.runner import run_experiment
for i in range({n}):
    run_experiment("testing/quadratic", seed=i, overrides={{"steps": 5}}, runs_dir={runs!r})
"""


def test_two_concurrent_writers_lose_nothing(runs_dir):
    env = {**os.environ, "DLTHEORY_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    code = _WORKER.format(tests=str(HERE), n=6, runs=str(runs_dir))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(2)]
    assert all(p.wait(timeout=240) == 0 for p in procs)
    recs = Store(runs_dir).recent(limit=100)
    assert len(recs) == 12 and len({r.run_id for r in recs}) == 12
    assert all(r.status == "failed" or r.status == "ok" for r in recs)


_SLOW = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal: a shell's background job starts with SIGINT ignored
sys.path.insert(0, {tests!r})
import dummy_experiments
from dltheory.runner import run_experiment
run_experiment("testing/slow", runs_dir={runs!r})
"""


def _start_slow(runs_dir):
    env = {**os.environ, "DLTHEORY_PROGRESS": "0"}
    p = subprocess.Popen([sys.executable, "-c", _SLOW.format(tests=str(HERE), runs=str(runs_dir))], env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (runs_dir / "dltheory.sqlite").exists() and Store(runs_dir).recent():
            return p
        time.sleep(0.1)
    p.kill()
    raise AssertionError("the slow run never started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_are_recorded_as_interrupted(sig, runs_dir):
    p = _start_slow(runs_dir)
    p.send_signal(sig)
    p.wait(timeout=30)
    (rec,) = Store(runs_dir).recent()
    assert rec.status == "interrupted"
    res = json.loads((runs_dir / rec.run_id / "result.json").read_text())
    assert res["status"] == "interrupted"


def test_killed_run_leaves_store_readable(runs_dir):
    p = _start_slow(runs_dir)
    p.kill()
    p.wait(timeout=30)
    store = Store(runs_dir)
    (rec,) = store.recent()
    assert rec.status == "interrupted"  # its process is gone
    assert store.result(rec.run_id) is None
    r = run_experiment("testing/quadratic", runs_dir=runs_dir)  # the store still takes new runs
    assert {x.run_id for x in store.recent()} == {rec.run_id, r.run_id}


def test_seed_out_of_range_and_early_failures_leave_nothing(runs_dir, monkeypatch):  # 3
    for seed in (2**63, -1, True, 1.5):
        with pytest.raises(ConfigError, match="`seed` must be an int"):
            run_experiment("testing/quadratic", seed=seed, runs_dir=runs_dir)
    assert not runs_dir.exists()
    r = run_experiment("testing/quadratic", seed=2**63 - 1, overrides={"steps": 5}, runs_dir=runs_dir)
    assert Store(runs_dir).get(r.run_id).seed == 2**63 - 1

    def broken_start(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Store, "start", broken_start)
    with pytest.raises(OSError):
        run_experiment("testing/quadratic", seed=1, runs_dir=runs_dir)
    assert [p.name for p in runs_dir.iterdir() if p.is_dir()] == [r.run_id]  # the failed start left no folder


_SWEEP = """
import sys
sys.path.insert(0, {tests!r})
import dummy_experiments  # spawned workers import this main module too: they know testing/slow
if __name__ == "__main__":
    from dltheory.cli import main
    sys.argv = ["dltheory", "sweep", "testing/slow", "--seeds", "0-3", "--jobs", "2", "--runs-dir", {runs!r}]
    main()
"""


_COURSE = """
import sys
sys.path.insert(0, {tests!r})
import dummy_experiments  # spawned workers import this main module too: they know the testing/* experiments
from dltheory.experiments import registry
registry.all_experiments = lambda: [registry.get("testing/quadratic"), registry.get("testing/seed-dependent")]
if __name__ == "__main__":
    from dltheory.cli import main
    sys.argv = ["dltheory", "course", "--jobs", "2", "--seed", {seed!r}, "--runs-dir", {runs!r}]
    main()
"""


@pytest.mark.parametrize("seed, code", [(1, 0), (3, 1)])
def test_course_in_parallel_workers_records_every_run_and_its_thread_count(seed, code, runs_dir, tmp_path):
    from dltheory.sweep import worker_threads

    script = tmp_path / "course_main.py"
    script.write_text(_COURSE.format(tests=str(HERE), runs=str(runs_dir), seed=str(seed)))
    env = {**os.environ, "DLTHEORY_PROGRESS": "0"}
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == code, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if "testing/" in line]
    assert [row.split()[1] for row in rows] == ["testing/quadratic", "testing/seed-dependent"]  # the course's order
    assert ("failed" in rows[1]) == (code == 1) and "ok" in rows[0]
    recs = Store(runs_dir).recent()
    assert sorted(x.experiment for x in recs) == ["testing/quadratic", "testing/seed-dependent"]
    for x in recs:
        res = json.loads((runs_dir / x.run_id / "result.json").read_text())
        assert res["versions"]["torch_threads"] == worker_threads(2)
    assert (runs_dir / "report.html").exists()


def test_sigterm_stops_a_parallel_sweep_and_its_workers(runs_dir, tmp_path):  # 5
    script = tmp_path / "sweep_main.py"
    script.write_text(_SWEEP.format(tests=str(HERE), runs=str(runs_dir)))
    env = {**os.environ, "DLTHEORY_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if (runs_dir / "dltheory.sqlite").exists() and sum(r.status == "running" for r in Store(runs_dir).recent()) == 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the two workers never started their runs")
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 130, err.decode()[-2000:]
        assert len(err.decode().strip().splitlines()) == 1 and "interrupted" in err.decode()
        with pytest.raises(ProcessLookupError):  # no worker, no resource tracker left in the session
            for _ in range(50):
                os.killpg(p.pid, 0)
                time.sleep(0.1)
        recs = Store(runs_dir).recent()
        assert len(recs) == 2 and all(r.status == "interrupted" for r in recs)
        assert all(json.loads((runs_dir / r.run_id / "result.json").read_text())["status"] == "interrupted" for r in recs)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_runs_use_exact_float32_and_restore_the_callers_settings(runs_dir, monkeypatch):
    """Inside a run TensorFloat-32 is off and cuDNN deterministic (readable on any build); afterwards, the caller's settings are back."""
    import dummy_experiments

    backends = torch.backends
    seen = {}
    original = dummy_experiments.Quadratic.run

    def spy(self, config, log):
        seen.update(matmul=backends.cuda.matmul.fp32_precision, conv=backends.cudnn.conv.fp32_precision,
                    deterministic=backends.cudnn.deterministic, benchmark=backends.cudnn.benchmark)
        return original(self, config, log)

    monkeypatch.setattr(dummy_experiments.Quadratic, "run", spy)
    saved = backends.cuda.matmul.fp32_precision, backends.cudnn.benchmark  # torch's backend modules defeat monkeypatch
    try:
        backends.cuda.matmul.fp32_precision, backends.cudnn.benchmark = "tf32", True
        before = (backends.cuda.matmul.fp32_precision, backends.cudnn.conv.fp32_precision, backends.cudnn.deterministic, backends.cudnn.benchmark)
        assert run_experiment("testing/quadratic", preset="tiny", runs_dir=runs_dir).status == "ok"
        assert seen == {"matmul": "ieee", "conv": "ieee", "deterministic": True, "benchmark": False}
        after = (backends.cuda.matmul.fp32_precision, backends.cudnn.conv.fp32_precision, backends.cudnn.deterministic, backends.cudnn.benchmark)
        assert after == before == ("tf32", "tf32", False, True)
    finally:
        backends.cuda.matmul.fp32_precision, backends.cudnn.benchmark = saved
