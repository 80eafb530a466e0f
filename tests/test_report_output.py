"""The report: what it writes to (never replacing what is not a regular file), what it reads, and how it shows a run."""

import base64
import json
import os
import stat
import struct
import zlib

import pytest

from dltheory.core.errors import ConfigError, OutputPathError
from dltheory.report import _figure, write_report
from dltheory.runner import run_experiment
from dltheory.store import Store
from test_cli import _one_error_line, invoke


@pytest.fixture
def one_run(runs_dir):
    return run_experiment("testing/quadratic", seed=1, runs_dir=runs_dir)


def test_report_writes_through_a_symlink_to_a_regular_file(one_run, runs_dir, tmp_path):  # 1
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(real)
    r = invoke("report", "-o", link, "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "<html" in real.read_text()


@pytest.mark.parametrize("kind", ["fifo", "device", "dir", "symlink-to-dir", "dangling-symlink", "missing-dir"])
def test_report_refuses_what_is_not_a_regular_file_or_new_path(kind, one_run, runs_dir, tmp_path):  # 1, 7
    target = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target = "/dev/full"
    elif kind == "dir":
        target.mkdir()
    elif kind == "symlink-to-dir":
        (tmp_path / "d").mkdir()
        target.symlink_to(tmp_path / "d")
    elif kind == "dangling-symlink":
        target.symlink_to(tmp_path / "nowhere")
    else:
        target = tmp_path / "nonexistent" / "dir" / "r.html"
    before = os.lstat(target).st_mode if os.path.lexists(target) else None
    r = invoke("report", "-o", target, "--runs-dir", runs_dir)
    assert r.exit_code == 2, r.output
    line = _one_error_line(r)
    assert "`--output`" in line
    if before is not None:
        assert os.lstat(target).st_mode == before  # untouched
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_report_reads_figures_only_inside_the_run_folder(one_run, runs_dir, tmp_path):  # 2
    secret = tmp_path / "secret.png"
    secret.write_bytes((one_run.run_dir / "figures" / "loss.png").read_bytes()[:-12] + b"SECRETSECRET")  # a PNG header outside the run
    (tmp_path / "outside_link.png").symlink_to(secret)
    res_path = one_run.run_dir / "result.json"
    res = json.loads(res_path.read_text())
    rel_up = os.path.relpath(secret, one_run.run_dir)
    res["figures"] = [rel_up, str(secret), "figures/../../../" + secret.name, "figures/nope.png", *res["figures"]]
    os.symlink(secret, one_run.run_dir / "figures" / "link.png")
    res["figures"].append("figures/link.png")
    res_path.write_text(json.dumps(res))
    html = write_report(Store(runs_dir), tmp_path / "r.html").read_text()
    leaked = base64.b64encode(secret.read_bytes()).decode()
    assert leaked[-40:] not in html
    assert html.count("data:image/png;base64,") == 1  # only figures/loss.png


def test_a_bad_result_json_is_skipped_with_a_warning(runs_dir, tmp_path):  # 7
    good = run_experiment("testing/quadratic", seed=1, runs_dir=runs_dir)
    bad = run_experiment("testing/quadratic", seed=2, runs_dir=runs_dir)
    other = run_experiment("testing/seed-dependent", seed=1, runs_dir=runs_dir)
    (bad.run_dir / "result.json").write_text('{"schema": 1, "claims": [')
    (other.run_dir / "result.json").write_text('{"schema": 1, "experiment": 3}')
    r = invoke("report", "-o", tmp_path / "r.html", "--runs-dir", runs_dir)
    assert r.exit_code == 0, r.output
    assert r.stderr.count("warning: skipped run") == 2 and bad.run_id in r.stderr and other.run_id in r.stderr
    warned = []
    html = write_report(Store(runs_dir), tmp_path / "r2.html", warn=warned.append).read_text()
    assert len(warned) == 2
    from dltheory.experiments import registry
    from dltheory.report import _choose_runs

    chosen = _choose_runs(Store(runs_dir), None, lambda m: None)
    assert chosen["testing/quadratic"][0].run_id == good.run_id and "testing/seed-dependent" not in chosen
    assert "<html" in html and registry.get("testing/quadratic")


def test_report_preset_or_lecture_without_runs_is_an_error(one_run, runs_dir, tmp_path):  # 10
    r = invoke("report", "--preset", "nosuch", "-o", tmp_path / "r.html", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "`--preset` 'nosuch' has no recorded run" in _one_error_line(r) and "recorded presets: quick" in r.stderr
    r = invoke("report", "--lecture", "9", "-o", tmp_path / "r.html", "--runs-dir", runs_dir)
    assert r.exit_code == 2 and "`--lecture` must be one with experiments" in _one_error_line(r)
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(ConfigError):
        write_report(Store(runs_dir), tmp_path / "r.html", preset="full")


def _png(width: int, height: int) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(b"\x00" + b"\xff" * (3 * width) for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_multi_panel_figures_take_the_full_width(tmp_path):  # 14
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "panels.png").write_bytes(_png(300, 100))
    (tmp_path / "figures" / "square.png").write_bytes(_png(100, 100))
    assert "class='wide'" in _figure(tmp_path, "figures/panels.png", 2)
    assert "class=''" in _figure(tmp_path, "figures/square.png", 2)
    assert "class='wide'" in _figure(tmp_path, "figures/square.png", 1)
    (tmp_path / "figures" / "text.png").write_text("not a png")
    assert _figure(tmp_path, "figures/text.png", 1) is None


def test_card_leads_with_the_figure_marks_overrides_and_prefers_the_default_config(runs_dir, tmp_path):  # 14
    default = run_experiment("testing/quadratic", seed=1, runs_dir=runs_dir)
    run_experiment("testing/quadratic", seed=2, overrides={"steps": 300}, runs_dir=runs_dir)  # newer, with an override
    html = write_report(Store(runs_dir), tmp_path / "r.html").read_text()
    card = html[html.index("id='testing/quadratic'"):]
    card = card[: card.index("</div><a id=") if "</div><a id=" in card else len(card)]
    assert default.run_id in card and "overrides" not in card  # the default-config run is shown
    assert card.index("<img") < card.index("class='verdict'") < card.index("<table>")
    assert "<details><summary>sources and oracles of the claims</summary>" in card and "torch.linalg.solve" in card
    only = tmp_path / "only"
    run_experiment("testing/quadratic", seed=2, overrides={"steps": 300, "lr": 0.5}, runs_dir=only)
    html = write_report(Store(only), tmp_path / "r2.html").read_text()
    assert "<span class='badge override'>overrides</span> <code>--set lr=0.5 steps=300</code>" in html


def test_read_only_runs_dir_serves_runs_show_and_report_elsewhere(runs_dir, tmp_path):  # 7
    """As another user (the runs dir is not writable by them): reads work, recording a run is one line, exit 2."""
    import subprocess
    import sys
    import tempfile

    base = tempfile.mkdtemp(prefix="dltheory_ro_", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        rd = os.path.join(base, "runs")
        r = run_experiment("testing/quadratic", seed=1, runs_dir=rd)
        out = os.path.join(base, "out")
        os.mkdir(out)
        os.chmod(out, 0o777)
        os.chmod(rd, 0o555)
        prefix = []
        if os.geteuid() == 0:  # root writes anywhere: drop its capabilities so that the mode bits apply
            import shutil

            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv: a read-only dir cannot be simulated")
            prefix = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"]
        env = {**os.environ, "DLTHEORY_PROGRESS": "0", "MPLCONFIGDIR": out, "HOME": out}
        code = "import sys; from dltheory.cli import main; sys.argv = ['dltheory', *sys.argv[1:]]; main()"

        def cli(*args):
            return subprocess.run([*prefix, sys.executable, "-c", code, *args, "--runs-dir", rd], capture_output=True, text=True, env=env, timeout=180, cwd=out)

        p = cli("runs")
        assert p.returncode == 0 and r.run_id[:20] in p.stdout, p.stderr
        p = cli("show", r.run_id)
        assert p.returncode == 0 and "distance" in p.stdout, p.stderr
        p = cli("run", "intro/optimizers", "--preset", "tiny")
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "read-only" in p.stderr, p.stderr
        # the report in this process, with the runs dir seen as that user sees it (importing every experiment in a child is slow)
        real_access = os.access
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "access", lambda path, mode, **k: False if os.path.abspath(path) == os.path.abspath(rd) and mode & os.W_OK else real_access(path, mode, **k))
            store = Store(rd)
            assert not store.writable
            with pytest.raises(OutputPathError, match="read-only; write the report elsewhere with `-o FILE`"):
                write_report(store)
            html = write_report(store, os.path.join(out, "r.html")).read_text()
            assert r.run_id in html and "GD reaches the minimizer" in html
        assert sorted(os.listdir(rd)) == sorted([r.run_id, "dltheory.sqlite"] + [f for f in os.listdir(rd) if f.startswith("dltheory.sqlite-")])
    finally:
        os.chmod(base, 0o755)
        if os.path.isdir(os.path.join(base, "runs")):
            os.chmod(os.path.join(base, "runs"), 0o755)
        import shutil

        shutil.rmtree(base, ignore_errors=True)
