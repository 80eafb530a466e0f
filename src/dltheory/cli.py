"""The ``dltheory`` command line: list, run, course, runs, show, report, sweep.

Exit codes: 0 every claim holds, 1 a claim fails or a run errs, 2 bad input (one line on
stderr naming what is wrong and what is allowed; never a traceback), 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dltheory.core.errors import ConfigError, DltheoryError, RunInterrupted, UnknownExperimentError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="dltheory: a laboratory for deep learning theory. Run `dltheory list` to see the course.")
# piped output (files, CI logs, tests) gets wide tables instead of 80-column wrapping
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

RunsDir = Annotated[Optional[Path], typer.Option("--runs-dir", help="Run store directory (default: $DLTHEORY_RUNS_DIR or ./runs).")]  # noqa: UP045


class BadInput(Exception):
    pass


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _store(runs_dir: Path | None):
    from dltheory.store import Store

    return Store(runs_dir)


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


@app.command("list")
def list_cmd(
    lecture: Annotated[Optional[int], typer.Option("--lecture", help="Only this lecture (1-5).")] = None,  # noqa: UP045
    all_papers: Annotated[bool, typer.Option("--all", help="Every paper of the course with its experiment and status.")] = False,
) -> None:
    """List the experiments (or, with --all, every paper of the course)."""
    from dltheory.experiments import bibliography, registry

    if lecture is not None and not 1 <= lecture <= 11:
        _fail(f"`--lecture` must be an int in 1..11; got {lecture}.")
    if all_papers:
        t = Table(title="Key papers of the course")
        for col in ("lecture", "paper", "experiment", "status"):
            t.add_column(col, overflow="fold")
        for p in sorted(bibliography.PAPERS.values(), key=lambda p: (p.lecture, p.experiment or "~")):
            if lecture is None or p.lecture == lecture:
                st = bibliography.status(p)
                color = {"implemented": "green", "planned": "yellow"}.get(st, "dim")
                t.add_row(str(p.lecture), f"{p.short}: {p.title}", p.experiment or "(reference)", f"[{color}]{st}[/]")
        out.print(t)
        return
    t = Table(title="Experiments")
    for col in ("lecture", "id", "title", "papers"):
        t.add_column(col, overflow="fold")
    for x in registry.all_experiments():
        if lecture is None or x.lecture == lecture:
            t.add_row(str(x.lecture), x.id, escape(x.title), ", ".join(bibliography.PAPERS[k].short for k in x.papers if k in bibliography.PAPERS))
    out.print(t)


@app.command()
def run(
    experiment: Annotated[str, typer.Argument(help="Experiment id, e.g. implicit-bias/separable-logistic.")],
    preset: Annotated[str, typer.Option("--preset", help="quick (seconds) or full (the paper's scale).")] = "quick",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random stream of the run.")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override key=value (repeatable).")] = None,  # noqa: UP045
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    runs_dir: RunsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print result.json to stdout.")] = False,
) -> None:
    """Run one experiment, record it and print its claims."""
    from dltheory.experiments.registry import parse_overrides
    from dltheory.runner import run_experiment

    if seed < 0:
        _fail(f"`--seed` must be an int >= 0; got {seed}.")
    try:
        overrides = parse_overrides(set_ or [])
        r = run_experiment(experiment, preset=preset, seed=seed, overrides=overrides, device=device, runs_dir=runs_dir)
    except (ConfigError, UnknownExperimentError) as e:
        _fail(str(e))
    except RunInterrupted as e:
        _fail(str(e), 130)
    if as_json:
        sys.stdout.write(json.dumps(r.result, indent=2) + "\n")
        err.print(_claims_table(r.result))
    else:
        out.print(_claims_table(r.result))
        out.print(f"run [bold]{r.run_id}[/] in {r.result['wall_time_s']:.1f} s; files in {r.run_dir}")
    if r.status == "error":
        err.print(f"[bold red]error:[/] the run raised {escape(str(r.result.get('error')))}; see {r.run_dir / 'log.txt'}", highlight=False)
    raise typer.Exit(r.exit_code)


@app.command()
def course(
    preset: Annotated[str, typer.Option("--preset", help="quick or full.")] = "quick",
    lecture: Annotated[Optional[int], typer.Option("--lecture", help="Only this lecture.")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    runs_dir: RunsDir = None,
) -> None:
    """Run every experiment of the course (or of one lecture), then write the HTML report."""
    from dltheory.core.progress import task
    from dltheory.experiments import registry
    from dltheory.report import write_report
    from dltheory.runner import run_experiment

    exps = [x for x in registry.all_experiments() if lecture is None or x.lecture == lecture]
    if not exps:
        _fail(f"`--lecture` {lecture} has no implemented experiments; see `dltheory list --all`.")
    store = _store(runs_dir)
    summary = Table(title=f"The course at preset {preset}")
    for col in ("experiment", "status", "claims and checks holding", "time (s)"):
        summary.add_column(col)
    worst = 0
    try:
        with task("course", total=len(exps)) as advance:
            for x in exps:
                err.print(f"[bold]running[/] {x.id} ...", highlight=False)
                try:
                    r = run_experiment(x.id, preset=preset, seed=seed, device=device, store=store)
                except ConfigError as e:
                    _fail(str(e))
                res = r.result
                color = "green" if r.status == "ok" else "red"
                summary.add_row(x.id, f"[{color}]{r.status}[/]", _count(res["claims"]), f"{res['wall_time_s']:.1f}")
                if r.status != "ok":
                    worst = 1
                    if r.status == "error":
                        err.print(f"[red]  {x.id} raised {escape(str(res.get('error')))}[/]", highlight=False)
                advance(1)
    except RunInterrupted as e:
        _fail(str(e), 130)
    out.print(summary)
    path = write_report(store, preset=preset)
    out.print(f"report: [bold]{path.resolve()}[/]")
    raise typer.Exit(worst)


@app.command()
def runs(
    limit: Annotated[int, typer.Option("--limit", help="How many runs.")] = 20,
    experiment: Annotated[Optional[str], typer.Option("--experiment", help="Only runs of this experiment.")] = None,  # noqa: UP045
    runs_dir: RunsDir = None,
) -> None:
    """Recent runs in the store."""
    if limit < 1:
        _fail(f"`--limit` must be an int >= 1; got {limit}.")
    t = Table(title="Recent runs")
    for col in ("run id", "experiment", "preset", "seed", "status", "claims", "time (s)"):
        t.add_column(col, overflow="fold")
    for r in _store(runs_dir).recent(limit, experiment):
        claims = f"{r.n_holding}/{r.n_claims}" if r.n_claims is not None else "-"
        t.add_row(r.run_id, r.experiment, r.preset, str(r.seed), r.status, claims, f"{r.wall_time_s:.1f}" if r.wall_time_s else "-")
    out.print(t)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    runs_dir: RunsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print result.json.")] = False,
) -> None:
    """Show one run: claims, metrics, files."""
    store = _store(runs_dir)
    rec = store.get(run_id)
    if rec is None:
        _fail(f"no run '{run_id}' in {store.path}; `dltheory runs` lists them.")
    result = store.result(rec.run_id)
    if result is None:
        out.print(f"run {rec.run_id}: {rec.experiment}, status {rec.status} (no result.json: the run did not finish)")
        raise typer.Exit(1 if rec.status != "ok" else 0)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    out.print(_claims_table(result))
    if result.get("metrics"):
        mt = Table(title="metrics")
        mt.add_column("name")
        mt.add_column("value")
        for k, v in result["metrics"].items():
            mt.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
        out.print(mt)
    d = store.run_dir(rec.run_id)
    out.print(f"figures: {', '.join(str(d / f) for f in result['figures']) or '-'}")
    out.print(f"artifacts: {', '.join(str(d / a) for a in result['artifacts']) or '-'}")
    if result.get("error"):
        out.print(f"[red]error:[/] {escape(result['error'])}")


@app.command()
def report(
    runs_dir: RunsDir = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Where to write the HTML (default RUNS_DIR/report.html).")] = None,  # noqa: UP045
    preset: Annotated[Optional[str], typer.Option("--preset", help="Only runs of this preset.")] = None,  # noqa: UP045
    lecture: Annotated[Optional[int], typer.Option("--lecture", help="Only this lecture.")] = None,  # noqa: UP045
) -> None:
    """Write the self-contained HTML report of the newest run of each experiment."""
    from dltheory.report import write_report

    path = write_report(_store(runs_dir), output, preset=preset, lectures=[lecture] if lecture else None)
    out.print(f"report: [bold]{path.resolve()}[/]")


@app.command()
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

    try:
        g = parse_grid(grid or [])
        s = parse_seeds(seeds)
        total = len(plan(experiment, g, s, preset))
        with task(f"sweep {experiment}", total=total) as advance:
            results = run_sweep(experiment, g, s, preset=preset, device=device, runs_dir=runs_dir, backend=backend, jobs=jobs, on_done=lambda *a: advance(1))
    except (ConfigError, UnknownExperimentError) as e:
        _fail(str(e))
    except RunInterrupted as e:
        _fail(str(e), 130)
    t = Table(title=f"sweep of {experiment}")
    for col in ("overrides", "seed", "run id", "status"):
        t.add_column(col, overflow="fold")
    bad = False
    for p, run_id, status in results:
        t.add_row(json.dumps(p.overrides), str(p.seed), run_id, status)
        bad |= status.split(" ")[0] not in ("ok", "skipped") or "failed" in status
    out.print(t)
    raise typer.Exit(1 if bad else 0)


@app.command()
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

    try:
        overrides = parse_overrides(set_ or [])
        s = parse_seeds(seeds)
        with task(f"verify {experiment}", total=len(s)) as advance:
            results, rates = verify_seeds(experiment, s, preset=preset, overrides=overrides, device=device, runs_dir=runs_dir, backend=backend, jobs=jobs, on_done=lambda *a: advance(1))
    except (ConfigError, UnknownExperimentError) as e:
        _fail(str(e))
    except RunInterrupted as e:
        _fail(str(e), 130)
    errors = [(p.seed, run_id) for p, run_id, status in results if status.startswith("error") or "(error" in status]
    title = f"{experiment} ({preset}{', ' + ' '.join(set_ or []) if set_ else ''}) over {len(s)} seeds {seeds}"
    t = Table(title=title, title_justify="left")
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
    except DltheoryError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
