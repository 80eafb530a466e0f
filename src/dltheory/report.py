"""The HTML report: one self-contained file (figures embedded), grouped by lecture.

For each experiment of the course: its newest recorded run, figures, the table of claims
with their verdicts, sources and oracles, and the papers it reproduces; planned
experiments are listed as such. Opens in any browser without a server.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from dltheory.experiments import bibliography, registry
from dltheory.store import RunRecord, Store

LECTURES = {
    1: "Introduction to deep learning",
    2: "Algorithmic regularization",
    3: "Inductive biases due to dropout",
    4: "Tractable landscapes for nonconvex optimization",
    5: "From sparse coding to deep learning",
}

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;padding:0 1.2em;color:#1d2433;line-height:1.45}
h1{font-size:1.9em;margin-bottom:.1em} h2{border-bottom:2px solid #1f5aa6;padding-bottom:.2em;margin-top:2.2em}
h3{margin:.2em 0} .sub{color:#5b6478}
.card{border:1px solid #d9dee8;border-radius:8px;padding:1em 1.2em;margin:1.2em 0;background:#fbfcfe}
.badge{display:inline-block;border-radius:4px;padding:.05em .5em;font-size:.85em;font-weight:600;color:#fff}
.ok{background:#2a9d8f} .failed{background:#d1495b} .error{background:#8d5a97} .planned{background:#8d99ae} .interrupted{background:#e9a03b}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0} th,td{border-bottom:1px solid #e3e7ef;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#eef2f8} td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.figs{display:flex;flex-wrap:wrap;gap:.8em} .figs img{max-width:100%;height:auto;border:1px solid #eef0f4;border-radius:4px;background:#fff}
.figs figure{margin:0;flex:1 1 420px} figcaption{font-size:.8em;color:#5b6478}
.summary td{font-size:1em} .papers{font-size:.85em;color:#39414f} code{background:#eef2f8;padding:0 .25em;border-radius:3px}
details{margin:.4em 0} summary{cursor:pointer;color:#1f5aa6}
.rate{font-weight:600} .rate.ok{color:#1d7a6f;background:none} .rate.failed{color:#b3263a;background:none}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return html.escape(str(x))


def _claims_html(claims: list[dict], rates: dict, n_seeds: int, kind: str) -> str:
    """Rows of claims (or checks): verdict, statement, measured, expected, pass rate over seeds, source, oracle."""
    if not claims:
        return ""
    e = html.escape

    def rate(c: dict) -> str:
        r = rates.get(c["id"])
        if r is None:
            return ""
        cls = "ok" if r.holding == r.seeds else "failed"
        fails = f" (fails on seeds {', '.join(map(str, r.failing_seeds[:8]))}{'...' if len(r.failing_seeds) > 8 else ''})" if r.failing_seeds else ""
        return f"<span class='rate {cls}'>{r.holding}/{r.seeds}</span>{e(fails)}"

    seeds_col = n_seeds > 1
    rows = "".join(
        f"<tr><td><span class='badge {'ok' if c.get('holds') else 'failed'}'>{'holds' if c.get('holds') else 'fails'}</span></td>"
        f"<td>{e(c.get('statement', ''))}</td><td class='num'>{_fmt(c.get('measured'))}</td><td class='num'>{e(str(c.get('expected', '')))}</td>"
        + (f"<td class='num'>{rate(c)}</td>" if seeds_col else "")
        + f"<td>{e(c.get('source', ''))}</td><td>{e(c.get('oracle', ''))}</td></tr>"
        for c in claims
    )
    head = f"<tr><th>verdict</th><th>{kind}</th><th>measured</th><th>expected</th>" + (f"<th>held over {n_seeds} seeds</th>" if seeds_col else "") + "<th>source</th><th>oracle</th></tr>"
    return f"<table>{head}{rows}</table>"


def _experiment_card(exp, rec: RunRecord | None, store: Store) -> str:
    e = html.escape
    papers = [bibliography.PAPERS[k] for k in exp.papers if k in bibliography.PAPERS]
    cites = "".join(f"<li>{e(p.citation)}</li>" for p in papers)
    head = f"<h3>{e(exp.title)}</h3><div class='sub'><code>{e(exp.id)}</code> &middot; {e(', '.join(p.short for p in papers))}</div>"
    if rec is None:
        return f"<div class='card'>{head}<p><span class='badge planned'>not run</span> No run of this experiment is recorded yet: <code>dltheory run {e(exp.id)}</code>.</p><ul class='papers'>{cites}</ul></div>"
    result = store.result(rec.run_id) or {}
    status = result.get("status", rec.status)
    all_claims = result.get("claims", [])
    claims = [c for c in all_claims if c.get("kind", "claim") == "claim"]
    checks = [c for c in all_claims if c.get("kind", "claim") == "check"]
    rates = store.claim_pass_rates(rec.experiment, rec.preset, rec.config_hash)
    n_seeds = max((r.seeds for r in rates.values()), default=1)
    n_hold = sum(bool(c.get("holds")) for c in claims)
    badge = f"<span class='badge {e(status)}'>{e(status)}</span> {n_hold}/{len(claims)} claims hold"
    if checks:
        badge += f", {sum(bool(c.get('holds')) for c in checks)}/{len(checks)} checks"
    if n_seeds > 1:
        always = sum(1 for c in claims if c["id"] in rates and rates[c["id"]].holding == rates[c["id"]].seeds)
        badge += f" &middot; {always}/{len(claims)} claims hold on all {n_seeds} seeds run with this config"
    meta = f"run <code>{e(rec.run_id)}</code>, preset <b>{e(rec.preset)}</b>, seed {rec.seed}, {(rec.wall_time_s or 0):.1f} s"
    table = _claims_html(claims, rates, n_seeds, "claim")
    if checks:
        table += f"<details><summary>checks: identities and constructions verified exactly ({len(checks)})</summary>{_claims_html(checks, rates, n_seeds, 'check')}</details>"
    err = f"<p><b>error:</b> <code>{e(result.get('error', rec.error or ''))}</code></p>" if status == "error" else ""
    figs = []
    for rel in result.get("figures", []):
        p = store.run_dir(rec.run_id) / rel
        if p.exists():
            figs.append(f"<figure>{_img(p)}<figcaption>{e(Path(rel).stem)}</figcaption></figure>")
    metrics = result.get("metrics", {})
    mt = "".join(f"<tr><td>{e(k)}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in metrics.items())
    mdet = f"<details><summary>metrics ({len(metrics)})</summary><table>{mt}</table></details>" if metrics else ""
    arts = ", ".join(f"<code>{e(a)}</code>" for a in result.get("artifacts", []))
    adet = f"<details><summary>artifacts</summary><p>In <code>{e(str(store.run_dir(rec.run_id)))}</code>: {arts}</p></details>" if arts else ""
    return f"<div class='card'>{head}<p>{badge} &middot; {meta}</p><p>{e(exp.summary())}</p>{err}{table}<div class='figs'>{''.join(figs)}</div>{mdet}{adet}<ul class='papers'>{cites}</ul></div>"


def write_report(store: Store, path: str | Path | None = None, *, preset: str | None = None, lectures: list[int] | None = None) -> Path:
    """Write the report for the newest run of each experiment; returns its path."""
    path = Path(path) if path is not None else store.runs_dir / "report.html"
    latest = store.latest_per_experiment(preset)
    exps = registry.all_experiments()
    if lectures:
        exps = [x for x in exps if x.lecture in lectures]
    n_claims = n_hold = n_run = 0
    for x in exps:
        if x.id in latest:
            res = store.result(latest[x.id].run_id) or {}
            cl = [c for c in res.get("claims", []) if c.get("kind", "claim") == "claim"]
            n_run += 1
            n_claims += len(cl)
            n_hold += sum(bool(c.get("holds")) for c in cl)
    body = [f"<h1>dltheory: the course, reproduced</h1><p class='sub'>Report written {time.strftime('%Y-%m-%d %H:%M')}"
            f"{' for preset <b>' + html.escape(preset) + '</b>' if preset else ''}. {n_run} of {len(exps)} experiments run; "
            f"<b>{n_hold} of {n_claims}</b> claims hold.</p>"]
    summary_rows = []
    for x in exps:
        rec = latest.get(x.id)
        st = (store.result(rec.run_id) or {}).get("status", rec.status) if rec else "not run"
        cls = st if rec else "planned"
        summary_rows.append(f"<tr><td>L{x.lecture}</td><td><a href='#{html.escape(x.id)}'>{html.escape(x.id)}</a></td><td>{html.escape(x.title)}</td><td><span class='badge {cls}'>{html.escape(st)}</span></td></tr>")
    body.append(f"<table class='summary'><tr><th>lecture</th><th>experiment</th><th>phenomenon</th><th>verdict</th></tr>{''.join(summary_rows)}</table>")
    for lec, name in LECTURES.items():
        if lectures and lec not in lectures:
            continue
        in_lec = [x for x in exps if x.lecture == lec]
        planned = [p for p in bibliography.PAPERS.values() if p.lecture == lec and p.experiment and p.experiment not in {x.id for x in in_lec}]
        if not in_lec and not planned:
            continue
        body.append(f"<h2>Lecture {lec}: {html.escape(name)}</h2>")
        for x in in_lec:
            body.append(f"<a id='{html.escape(x.id)}'></a>" + _experiment_card(x, latest.get(x.id), store))
        if planned:
            items = "".join(f"<li><code>{html.escape(p.experiment)}</code>: {html.escape(p.citation)}</li>" for p in planned)
            body.append(f"<details><summary>Planned experiments of this lecture ({len(planned)})</summary><ul class='papers'>{items}</ul></details>")
    doc = f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>dltheory report</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return path
