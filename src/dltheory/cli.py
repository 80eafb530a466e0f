"""The ``dltheory`` command line: list, run, course, runs, show, compare, config, report, sweep, verify.

Exit codes: 0 every claim holds, 1 a claim fails or a run errs, 2 bad input (one line on
stderr naming what is wrong and what is allowed; never a traceback), 130 interrupted.

``--help``, ``--version`` and ``list`` answer without importing torch (the experiments'
metadata is read statically, :mod:`dltheory.catalog`); every other import is lazy.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dltheory import __version__

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dltheory: a laboratory for deep learning theory. Run `dltheory list` to see the course.")
# piped output (files, CI logs, tests) gets wide tables instead of 80-column wrapping
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

RunsDir = Annotated[Optional[str], typer.Option("--runs-dir", help="Run store directory (default: $DLTHEORY_RUNS_DIR or ./runs).")]  # noqa: UP045
MAX_LIMIT = 1_000_000
MAX_JOBS = 1024  # worker processes of one course


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _one_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.strerror:
        text = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return " ".join(text.split())


def _guarded(fn):
    """Our errors (bad input, store, paths) become one line and exit 2; Ctrl-C/SIGTERM exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.exceptions.ClickException):
            raise
        except KeyboardInterrupt as e:  # also RunInterrupted
            _fail(_one_line(e) if str(e) else "interrupted", 130)
        except Exception as e:
            errors = sys.modules.get("dltheory.core.errors")  # loaded whenever one of ours was raised
            if (errors is not None and isinstance(e, errors.DltheoryError)) or isinstance(e, OSError):
                _fail(_one_line(e))
            raise

    return wrapper


def command(*args, **kwargs):
    """``@app.command`` with :func:`_guarded` error handling."""
    return lambda fn: app.command(*args, **kwargs)(_guarded(fn))


def _version(value: bool) -> None:
    if value:
        out.print(f"dltheory {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """dltheory: a laboratory for deep learning theory. Run `dltheory list` to see the course."""


def _store(runs_dir: str | None):
    from dltheory.store import Store

    return Store(runs_dir)


def _check_seed(seed: int, name: str = "--seed") -> int:
    from dltheory.core.errors import SEED_MAX

    if not 0 <= seed <= SEED_MAX:
        _fail(f"`{name}` must be an int in 0..2**63-1; got {seed}.")
    return seed


def _verdict(holds: bool) -> str:
    return "[green]holds[/]" if holds else "[red]FAILS[/]"


def _fmt_measured(m) -> str:
    return f"{m:.4g}" if isinstance(m, (int, float)) else escape(str(m))


def _claims_table(result: dict) -> Table:
    """Claims first (measurements against theory), then checks (identities verified exactly), apart."""
    claims = [c for c in result.get("claims", []) if c.get("kind", "claim") == "claim"]
    checks = [c for c in result.get("claims", []) if c.get("kind", "claim") == "check"]
    t = Table(title=f"{result['experiment']} ({result['preset']}, seed {result['seed']}): {result['status']}", title_justify="left")
    for col in ("claim", "measured", "expected", "verdict", "source", "oracle"):
        t.add_column(col, overflow="fold")
    for c in claims:
        t.add_row(escape(c["statement"]), _fmt_measured(c["measured"]), escape(str(c["expected"])), _verdict(c["holds"]), escape(c["source"]), escape(c.get("oracle", "")))
    if checks:
        t.add_section()
        t.add_row("[bold]checks[/] (identities and constructions, verified exactly)", "", "", "", "", "")
        for c in checks:
            t.add_row(escape(c["statement"]), _fmt_measured(c["measured"]), escape(str(c["expected"])), _verdict(c["holds"]), escape(c["source"]), escape(c.get("oracle", "")))
    return t


def _count(claims: list[dict]) -> str:
    """'5/5 claims, 3/3 checks' (checks only when there are any)."""
    parts = []
    for kind in ("claim", "check"):
        cs = [c for c in claims if c.get("kind", "claim") == kind]
        if cs or kind == "claim":
            parts.append(f"{sum(bool(c['holds']) for c in cs)}/{len(cs)} {kind}s")
    return ", ".join(parts)


@command("list")
def list_cmd(
    lecture: Annotated[Optional[int], typer.Option("--lecture", help="Only this lecture.")] = None,  # noqa: UP045
    all_papers: Annotated[bool, typer.Option("--all", help="Every paper of the course with its experiment and status.")] = False,
) -> None:
    """List the experiments (or, with --all, every paper of the course)."""
    from dltheory import catalog

    exps = catalog.experiments()
    if all_papers:
        bib = catalog.bibliography()
        papers = list(bib.PAPERS.values())
        have = sorted({p.lecture for p in papers})
        if lecture is not None and lecture not in have:
            _fail(f"`--lecture` must be a lecture of the course ({', '.join(map(str, have))}); got {lecture}.")
        implemented = {x.id for x in exps}
        t = Table(title="Key papers of the course")
        for col in ("lecture", "paper", "experiment", "status"):
            t.add_column(col, overflow="fold")
        for p in sorted(papers, key=lambda p: (p.lecture, p.experiment or "~")):
            if lecture is None or p.lecture == lecture:
                st = catalog.paper_status(p, implemented)
                color = {"implemented": "green", "planned": "yellow"}.get(st, "dim")
                t.add_row(str(p.lecture), escape(f"{p.short}: {p.title}"), p.experiment or "(reference)", f"[{color}]{st}[/]")
        out.print(t)
        return
    have = sorted({x.lecture for x in exps})
    if lecture is not None and lecture not in have:
        _fail(f"`--lecture` must be a lecture with implemented experiments ({', '.join(map(str, have))}); got {lecture}. `dltheory list --all` shows the planned ones.")
    bib = catalog.bibliography()
    t = Table(title="Experiments")
    for col in ("lecture", "id", "title", "papers"):
        t.add_column(col, overflow="fold")
    for x in exps:
        if lecture is None or x.lecture == lecture:
            t.add_row(str(x.lecture), x.id, escape(x.title), escape(", ".join(bib.PAPERS[k].short for k in x.papers if k in bib.PAPERS)))
    out.print(t)


@command()
def run(
    experiment: Annotated[str, typer.Argument(help="Experiment id, e.g. implicit-bias/separable-logistic.")],
    preset: Annotated[str, typer.Option("--preset", help="quick (seconds) or full (the paper's scale).")] = "quick",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random stream of the run (0..2**63-1).")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value (repeatable); `dltheory config ID` lists the keys.")] = None,  # noqa: UP045
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    runs_dir: RunsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print result.json to stdout.")] = False,
) -> None:
    """Run one experiment, record it and print its claims."""
    _check_seed(seed)
    from dltheory.experiments.registry import parse_overrides
    from dltheory.runner import run_experiment

    overrides = parse_overrides(set_ or [])
    r = run_experiment(experiment, preset=preset, seed=seed, overrides=overrides, device=device, runs_dir=runs_dir)
    if as_json:
        sys.stdout.write(json.dumps(r.result, indent=2) + "\n")
        err.print(_claims_table(r.result))
    else:
        out.print(_claims_table(r.result))
        out.print(f"run [bold]{r.run_id}[/] in {r.result['wall_time_s']:.1f} s; files in {r.run_dir}")
    if r.status == "error":
        err.print(f"[bold red]error:[/] the run raised {escape(str(r.result.get('error')))}; see {r.run_dir / 'log.txt'}", highlight=False)
    raise typer.Exit(r.exit_code)


@command()
def course(
    preset: Annotated[str, typer.Option("--preset", help="quick or full.")] = "quick",
    lecture: Annotated[Optional[int], typer.Option("--lecture", help="Only this lecture.")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option("--seed", help="Seed of every run (0..2**63-1).")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", help="Runs at a time, in local worker processes that share the CPUs' threads "
                                      "(1: one after another in this process, with every thread).")] = 1,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    runs_dir: RunsDir = None,
) -> None:
    """Run every experiment of the course (or of one lecture), then write the HTML report."""
    _check_seed(seed)
    if not 1 <= jobs <= MAX_JOBS:
        _fail(f"`--jobs` must be an int in 1..{MAX_JOBS}; got {jobs}.")
    from dltheory.core.progress import task
    from dltheory.experiments import registry
    from dltheory.report import write_report
    from dltheory.runner import run_experiment

    exps = [x for x in registry.all_experiments() if lecture is None or x.lecture == lecture]
    if not exps:
        _fail(f"`--lecture` {lecture} has no implemented experiments; see `dltheory list --all`.")
    for x in exps:  # every input is checked before the first run
        registry.build_config(x, preset)
    store = _store(runs_dir)
    store.require_writable()
    results: dict[str, dict] = {}  # experiment id -> result.json
    statuses: dict[str, str] = {}
    with task("course", total=len(exps)) as advance:
        if jobs == 1:
            for x in exps:
                err.print(f"[bold]running[/] {x.id} ...", highlight=False)
                r = run_experiment(x.id, preset=preset, seed=seed, device=device, store=store)
                results[x.id], statuses[x.id] = r.result, r.status
                advance(1)
        else:
            from dltheory.sweep import SweepPoint, Task, run_tasks, worker_threads

            def finished(t: Task, run_id: str, status: str) -> None:
                results[t.experiment], statuses[t.experiment] = store.result(run_id) or {}, status
                err.print(f"[bold]done[/] {t.experiment}: {status}", highlight=False)
                advance(1)

            err.print(f"running {len(exps)} experiments, {jobs} at a time ({worker_threads(jobs)} torch thread(s) each) ...", highlight=False)
            run_tasks([Task(x.id, preset, SweepPoint({}, seed)) for x in exps], device=device, runs_dir=store.runs_dir, jobs=jobs,
                      on_done=finished, label="course")
    summary = Table(title=f"The course at preset {preset}")
    for col in ("experiment", "status", "claims and checks holding", "time (s)"):
        summary.add_column(col)
    worst = 0
    for x in exps:  # in the course's order, whatever order they finished in
        res, status = results[x.id], statuses[x.id]
        color = "green" if status == "ok" else "red"
        summary.add_row(x.id, f"[{color}]{status}[/]", _count(res.get("claims", [])), f"{res.get('wall_time_s', float('nan')):.1f}")
        if status != "ok":
            worst = 1
            if status == "error":
                err.print(f"[red]  {x.id} raised {escape(str(res.get('error')))}[/]", highlight=False)
    out.print(summary)
    path = write_report(store, preset=preset, warn=_warn)
    out.print(f"report: [bold]{path.resolve()}[/]")
    raise typer.Exit(worst)


def _record_json(r) -> dict:
    return {"run_id": r.run_id, "experiment": r.experiment, "preset": r.preset, "seed": r.seed, "status": r.status,
            "n_claims": r.n_claims, "n_holding": r.n_holding, "wall_time_s": r.wall_time_s, "started_at": r.started_at,
            "finished_at": r.finished_at, "config_hash": r.config_hash, "overrides": r.overrides, "sweep": r.sweep, "error": r.error}


@command()
def runs(
    limit: Annotated[int, typer.Option("--limit", help=f"How many runs (1..{MAX_LIMIT}).")] = 20,
    experiment: Annotated[Optional[str], typer.Option("--experiment", help="Only runs of this experiment.")] = None,  # noqa: UP045
    runs_dir: RunsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list.")] = False,
    reindex: Annotated[bool, typer.Option("--reindex", help="Rebuild the index from the run folders' result.json (the old index is kept aside).")] = False,
) -> None:
    """Recent runs in the store."""
    if not 1 <= limit <= MAX_LIMIT:
        _fail(f"`--limit` must be an int in 1..{MAX_LIMIT}; got {limit}.")
    if reindex:
        from dltheory.store import Store

        store, n, skipped, kept = Store.reindex(runs_dir)
        for line in skipped:
            _warn(f"not indexed: {line}")
        err.print(f"indexed {n} runs into {store.path}" + (f"; the old index is kept as {kept}" if kept else ""), highlight=False)
    else:
        store = _store(runs_dir)
    recs = store.recent(limit, experiment)
    if as_json:
        sys.stdout.write(json.dumps([_record_json(r) for r in recs], indent=2) + "\n")
        return
    t = Table(title="Recent runs")
    for col in ("run id", "experiment", "preset", "seed", "status", "claims", "time (s)"):
        t.add_column(col, overflow="fold")
    for r in recs:
        claims = f"{r.n_holding}/{r.n_claims}" if r.n_claims is not None else "-"
        t.add_row(r.run_id, r.experiment, r.preset, str(r.seed), r.status, claims, f"{r.wall_time_s:.1f}" if r.wall_time_s else "-")
    out.print(t)


def _get_run(store, run_id: str):
    rec = store.get(run_id)
    if rec is None:
        _fail(f"no run '{run_id}' in {store.path}; `dltheory runs` lists them.")
    return rec


def _overrides_of(rec, result: dict | None) -> dict:
    """The run's --set overrides: as recorded, else its config compared with its preset's default."""
    if result is not None and isinstance(result.get("overrides"), dict):
        return result["overrides"]
    if rec.overrides is not None:
        return rec.overrides
    try:
        from dltheory.experiments import registry

        default = registry.build_config(registry.get(rec.experiment), rec.preset).model_dump(mode="json")
    except Exception:  # the experiment or preset is gone: cannot tell
        return {}
    return {k: v for k, v in rec.config.items() if default.get(k, v) != v}


def _fmt_value(v) -> str:
    return escape(json.dumps(v, default=str) if not isinstance(v, str) else v)


@command()
def show(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    runs_dir: RunsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print result.json.")] = False,
) -> None:
    """Show one run: config and overrides, claims, metrics, files."""
    store = _store(runs_dir)
    rec = _get_run(store, run_id)
    result = store.result(rec.run_id)
    if result is None:
        out.print(f"run {rec.run_id}: {rec.experiment}, status {rec.status} (no result.json: the run did not finish)")
        raise typer.Exit(1 if rec.status != "ok" else 0)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    overrides = _overrides_of(rec, result)
    ov_text = " ".join(f"{k}={json.dumps(v)}" for k, v in overrides.items())
    out.print(f"run {rec.run_id}: {result['experiment']}, preset {result['preset']}, seed {result['seed']}; " + (f"overrides: {ov_text}" if overrides else "no overrides (the preset's default config)"), highlight=False, soft_wrap=True)
    ct = Table(title="config", title_justify="left")
    ct.add_column("key")
    ct.add_column("value", overflow="fold")
    for k, v in result["config"].items():
        ct.add_row(f"[bold]{escape(k)}[/] (--set)" if k in overrides else escape(k), _fmt_value(v))
    out.print(ct)
    out.print(_claims_table(result))
    if result.get("metrics"):
        mt = Table(title="metrics")
        mt.add_column("name")
        mt.add_column("value")
        for k, v in result["metrics"].items():
            mt.add_row(escape(str(k)), f"{v:.6g}" if isinstance(v, float) else escape(str(v)))
        out.print(mt)
    d = store.run_dir(rec.run_id)
    out.print(f"figures: {', '.join(str(d / f) for f in result['figures']) or '-'}")
    out.print(f"artifacts: {', '.join(str(d / a) for a in result['artifacts']) or '-'}")
    if result.get("error"):
        out.print(f"[red]error:[/] {escape(str(result['error']))}")


@command()
def compare(
    run_a: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    run_b: Annotated[str, typer.Argument(help="Another run id (or a unique prefix).")],
    runs_dir: RunsDir = None,
) -> None:
    """Two runs side by side: the config keys that differ, the claims, the metrics."""
    store = _store(runs_dir)
    recs = [_get_run(store, run_a), _get_run(store, run_b)]
    results = []
    for rec in recs:
        res = store.result(rec.run_id)
        if res is None:
            _fail(f"run {rec.run_id} has no result.json (status {rec.status}): nothing to compare.")
        results.append(res)
    a, b = results
    out.print(f"A = {recs[0].run_id} ({a['experiment']}, {a['preset']}, seed {a['seed']}, {a['status']})", highlight=False)
    out.print(f"B = {recs[1].run_id} ({b['experiment']}, {b['preset']}, seed {b['seed']}, {b['status']})", highlight=False)
    out.print("config: the keys that differ", highlight=False)
    ct = Table()
    for col in ("key", "A", "B"):
        ct.add_column(col, overflow="fold")
    rows = [(k, "experiment", a["experiment"], b["experiment"]) for k in ("experiment",) if a["experiment"] != b["experiment"]]
    rows += [(k, k, a[k], b[k]) for k in ("preset", "seed") if a[k] != b[k]]
    for k in sorted(set(a["config"]) | set(b["config"])):
        va, vb = a["config"].get(k, "-"), b["config"].get(k, "-")
        if va != vb:
            rows.append((k, k, va, vb))
    for _, k, va, vb in rows:
        ct.add_row(escape(k), _fmt_value(va), _fmt_value(vb))
    if not rows:
        ct.add_row("(same config)", "", "")
    out.print(ct)
    out.print("claims and checks", highlight=False)
    cl = Table()
    for col in ("kind", "claim", "expected", "A measured", "A", "B measured", "B"):
        cl.add_column(col, overflow="fold")
    by_a = {c["id"]: c for c in a["claims"]}
    by_b = {c["id"]: c for c in b["claims"]}
    for cid in list(by_a) + [c for c in by_b if c not in by_a]:
        ca, cb = by_a.get(cid), by_b.get(cid)
        c = ca or cb
        cl.add_row(c.get("kind", "claim"), escape(c["statement"]), escape(str(c.get("expected", ""))),
                   _fmt_measured(ca["measured"]) if ca else "-", _verdict(ca["holds"]) if ca else "-",
                   _fmt_measured(cb["measured"]) if cb else "-", _verdict(cb["holds"]) if cb else "-")
    out.print(cl)
    keys = list(a["metrics"]) + [k for k in b["metrics"] if k not in a["metrics"]]
    if keys:
        out.print("metrics", highlight=False)
        mt = Table()
        for col in ("metric", "A", "B"):
            mt.add_column(col)
        for k in keys:
            mt.add_row(escape(str(k)), _fmt_measured(a["metrics"].get(k, "-")), _fmt_measured(b["metrics"].get(k, "-")))
        out.print(mt)


@command("config")
def config_cmd(
    experiment: Annotated[str, typer.Argument(help="Experiment id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """Every config key of an experiment: type, default, allowed range, description, and the presets' values."""
    from dltheory.experiments import registry

    exp = registry.get(experiment)
    fields = exp.Config.model_fields
    defaults = {k: f.get_default(call_default_factory=True) for k, f in fields.items()}
    presets = list(exp.presets)
    if as_json:
        rows = [{"key": k, "type": registry.describe_field(exp.Config, k, description=False), "default": defaults[k], "description": f.description,
                 "presets": {p: exp.presets[p][k] for p in presets if k in exp.presets[p]}} for k, f in fields.items()]
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    t = Table(title=f"{exp.id}: config keys (`--set key=value`); a preset's column shows what it changes", title_justify="left")
    for col in ("key", "type and allowed range", "default", *presets, "description"):
        t.add_column(col, overflow="fold")
    for k, f in fields.items():
        t.add_row(escape(k), escape(registry.describe_field(exp.Config, k, description=False)), _fmt_value(defaults[k]),
                  *(_fmt_value(exp.presets[p][k]) if k in exp.presets[p] else "[dim]·[/]" for p in presets), escape(f.description or ""))
    out.print(t)


@command()
def report(
    runs_dir: RunsDir = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Where to write the HTML (default RUNS_DIR/report.html): a regular file or a new path.")] = None,  # noqa: UP045
    preset: Annotated[Optional[str], typer.Option("--preset", help="Only runs of this preset.")] = None,  # noqa: UP045
    lecture: Annotated[Optional[int], typer.Option("--lecture", help="Only this lecture.")] = None,  # noqa: UP045
) -> None:
    """Write the self-contained HTML report: per experiment, its newest run with the default config."""
    from dltheory.report import write_report

    path = write_report(_store(runs_dir), output, preset=preset, lectures=[lecture] if lecture is not None else None, warn=_warn)
    out.print(f"report: [bold]{path.resolve()}[/]")


@command()
def sweep(
    experiment: Annotated[str, typer.Argument(help="Experiment id.")],
    grid: Annotated[Optional[list[str]], typer.Option("--grid", help="key=v1,v2,... (repeatable; the product is run).")] = None,  # noqa: UP045
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds: 0-4 or 1,3,5.")] = "0",
    preset: Annotated[str, typer.Option("--preset")] = "quick",
    backend: Annotated[str, typer.Option("--backend", help="local or ray.")] = "local",
    jobs: Annotated[int, typer.Option("--jobs", help="Parallel runs (local processes, or Ray CPUs when Ray is started here).")] = 1,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    runs_dir: RunsDir = None,
) -> None:
    """Run a grid of configs x seeds; finished combinations are skipped on rerun.

    With --backend ray, a running cluster is joined when RAY_ADDRESS is set (every node must
    see the runs dir); otherwise Ray is started on this machine with --jobs CPUs.
    """
    from dltheory.core.progress import task
    from dltheory.sweep import parse_grid, parse_seeds, plan, run_sweep

    g = parse_grid(grid or [])
    s = parse_seeds(seeds)
    total = len(plan(experiment, g, s, preset))
    with task(f"sweep {experiment}", total=total) as advance:
        results = run_sweep(experiment, g, s, preset=preset, device=device, runs_dir=runs_dir, backend=backend, jobs=jobs, on_done=lambda *a: advance(1))
    t = Table(title=f"sweep of {experiment}")
    for col in ("overrides", "seed", "run id", "status"):
        t.add_column(col, overflow="fold")
    bad = False
    for p, run_id, status in results:
        t.add_row(escape(json.dumps(p.overrides)), str(p.seed), run_id, status)
        bad |= status.split(" ")[0] not in ("ok", "skipped") or "failed" in status
    out.print(t)
    raise typer.Exit(1 if bad else 0)


@command()
def verify(
    experiment: Annotated[str, typer.Argument(help="Experiment id.")],
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds: 0-19 or 1,3,5.")] = "0-9",
    preset: Annotated[str, typer.Option("--preset")] = "quick",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value (repeatable).")] = None,  # noqa: UP045
    backend: Annotated[str, typer.Option("--backend", help="local or ray.")] = "local",
    jobs: Annotated[int, typer.Option("--jobs", help="Parallel runs.")] = 1,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    runs_dir: RunsDir = None,
) -> None:
    """Run one config on many seeds and print how often each claim held (exit 0 only if always)."""
    import statistics

    from dltheory.core.progress import task
    from dltheory.experiments.registry import parse_overrides
    from dltheory.sweep import parse_seeds
    from dltheory.sweep import verify as verify_seeds

    overrides = parse_overrides(set_ or [])
    s = parse_seeds(seeds)
    with task(f"verify {experiment}", total=len(s)) as advance:
        results, rates = verify_seeds(experiment, s, preset=preset, overrides=overrides, device=device, runs_dir=runs_dir, backend=backend, jobs=jobs, on_done=lambda *a: advance(1))
    errors = [(p.seed, run_id) for p, run_id, status in results if status.startswith("error") or "(error" in status]
    title = f"{experiment} ({preset}{', ' + ' '.join(set_ or []) if set_ else ''}) over {len(s)} seeds {seeds}"
    t = Table(title=escape(title), title_justify="left")
    for col in ("kind", "claim", "held", "min", "median", "max", "failing seeds"):
        t.add_column(col, overflow="fold")
    always = True
    for kind in ("claim", "check"):
        for r in sorted((r for r in rates.values() if r.kind == kind), key=lambda r: r.claim_id):
            ok = r.holding == r.seeds
            always &= ok
            vals = r.values
            stats = [f"{f(vals):.4g}" if vals else "-" for f in (min, statistics.median, max)]
            held = f"[{'green' if ok else 'red'}]{r.holding}/{r.seeds}[/]"
            t.add_row(kind, escape(r.claim_id), held, *stats, ", ".join(map(str, r.failing_seeds)) or "-")
    out.print(t)
    for seed, run_id in errors:
        err.print(f"[red]seed {seed} raised[/]: `dltheory show {run_id}`", highlight=False)
    if not rates:
        _fail(f"no finished run of {experiment} recorded a claim on seeds {seeds}.", 1)
    out.print("every claim held on every seed" if always and not errors else "[red]some claim failed on some seed[/]")
    raise typer.Exit(0 if always and not errors else 1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:
        errors = sys.modules.get("dltheory.core.errors")
        if errors is not None and isinstance(e, errors.DltheoryError):
            err.print(f"[bold red]error:[/] {escape(_one_line(e))}", highlight=False)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
