"""The HTML report: one self-contained file (figures embedded), grouped by lecture.

For each experiment of the course, as a lecturer would show it: its figure first (a
multi-panel figure across the full width), a one-line verdict, then the claims in a compact
table (source and oracle behind a disclosure), the checks apart, the metrics and artifacts
folded away, and the papers. The run shown is the newest one with the preset's default
config; a run with ``--set`` overrides is shown only when there is none, marked with them.
A run whose ``result.json`` is unreadable is skipped with a warning. Opens in any browser
without a server.

The report is written only to a regular file (through a symlink to one) or a new path in
an existing directory; anything else (a directory, a FIFO, a device) is refused.
"""

from __future__ import annotations

import base64
import html
import os
import stat
import struct
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from dltheory.core.errors import ConfigError, OutputPathError, StoreError
from dltheory.experiments import bibliography, registry
from dltheory.store import RunRecord, Store

LECTURES = {
    1: "Introduction to deep learning",
    2: "Algorithmic regularization",
    3: "Inductive biases due to dropout",
    4: "Tractable landscapes for nonconvex optimization",
    5: "From sparse coding to deep learning",
    8: "Neural tangent kernel",
}

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;padding:0 1.2em;color:#1d2433;line-height:1.45;overflow-wrap:anywhere}
h1{font-size:1.9em;margin-bottom:.1em} h2{border-bottom:2px solid #1f5aa6;padding-bottom:.2em;margin-top:2.2em}
h3{margin:.2em 0} .sub{color:#5b6478}
.card{border:1px solid #d9dee8;border-radius:8px;padding:1em 1.2em;margin:1.2em 0;background:#fbfcfe}
.badge{display:inline-block;border-radius:4px;padding:.05em .5em;font-size:.85em;font-weight:600;color:#fff;white-space:nowrap}
.ok{background:#2a9d8f} .failed{background:#d1495b} .error{background:#8d5a97} .planned{background:#8d99ae} .interrupted{background:#e9a03b} .override{background:#b86e00}
.verdict{font-size:1.05em;margin:.5em 0}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0} th,td{border-bottom:1px solid #e3e7ef;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#eef2f8} td.num{font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:.8em;margin:.6em 0} .figs img{display:block;width:100%;height:auto;border:1px solid #eef0f4;border-radius:4px;background:#fff}
.figs figure{margin:0;flex:1 1 calc(50% - .8em);min-width:0} .figs figure.wide{flex-basis:100%} figcaption{font-size:.8em;color:#5b6478}
.summary td{font-size:1em} .papers{font-size:.85em;color:#39414f} code{background:#eef2f8;padding:0 .25em;border-radius:3px;overflow-wrap:anywhere}
details{margin:.4em 0} summary{cursor:pointer;color:#1f5aa6} .meta{font-size:.85em;color:#5b6478}
.rate{font-weight:600} .rate.ok{color:#1d7a6f;background:none} .rate.failed{color:#b3263a;background:none}
@media (max-width:700px){.figs figure{flex-basis:100%}}
"""


# --- the output file --------------------------------------------------------------------
def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def output_target(path: str | Path) -> Path:
    """The file the report will replace: ``path`` itself, or the regular file a symlink points to.

    Raises:
        OutputPathError: ``path`` is a directory, FIFO, device or socket (or a symlink to
            one), a dangling symlink, in a directory that does not exist, or not writable.
    """
    if str(path).strip() == "":
        raise OutputPathError("`--output` must be a file path; got ''.")
    p = Path(path)
    try:
        st = os.stat(p)  # follows symlinks
    except FileNotFoundError:
        if os.path.islink(p):
            raise OutputPathError(f"`--output` {str(p)!r} is a symlink to a missing file; give a regular file or a new path.") from None
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise OutputPathError(f"`--output` {str(p)!r}: the directory {str(parent)!r} does not exist.") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputPathError(f"`--output` {str(p)!r}: the directory {str(parent)!r} is not writable.") from None
        return p
    except OSError as e:
        raise OutputPathError(f"`--output` {str(p)!r} cannot be used: {e.strerror or e}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"`--output` {str(p)!r} is a directory; give a file name such as {str(p / 'report.html')!r}.")
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"`--output` {str(p)!r} is {_kind(st.st_mode)}; the report is written only to a regular file or a new path.")
    target = Path(os.path.realpath(p))
    if not os.access(target.parent, os.W_OK | os.X_OK) or not os.access(target, os.W_OK):
        raise OutputPathError(f"`--output` {str(p)!r} is not writable.")
    return target


def _write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (a temporary file beside it, then a rename)."""
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputPathError(f"cannot write the report to {str(target)!r}: {e.strerror or e}.") from None


# --- pieces of a card -------------------------------------------------------------------
def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def _figure(run_dir: Path, rel: str, n_figs: int) -> str | None:
    """A ``<figure>`` with the PNG embedded, or None when ``rel`` leaves the run folder or is not a file."""
    root = run_dir.resolve()
    p = (run_dir / rel).resolve()
    if not p.is_relative_to(root) or not p.is_file():
        return None
    data = p.read_bytes()
    size = _png_size(data)
    if size is None:
        return None
    wide = n_figs == 1 or size[0] >= 1.6 * size[1]  # one figure, or a multi-panel one: the full width
    src = base64.b64encode(data).decode()
    e = html.escape
    return f"<figure class='{'wide' if wide else ''}'><img alt='{e(p.stem)}' width='{size[0]}' height='{size[1]}' src='data:image/png;base64,{src}'><figcaption>{e(p.stem)}</figcaption></figure>"


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return html.escape(str(x))


def _claims_html(claims: list[dict], rates: dict, n_seeds: int, kind: str) -> str:
    """A compact table (verdict, statement, measured, expected, pass rate over seeds); sources and oracles behind a disclosure."""
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
        + (f"<td class='num'>{rate(c)}</td>" if seeds_col else "") + "</tr>"
        for c in claims
    )
    head = f"<tr><th>verdict</th><th>{kind}</th><th>measured</th><th>expected</th>" + (f"<th>held over {n_seeds} seeds</th>" if seeds_col else "") + "</tr>"
    src_rows = "".join(f"<tr><td>{e(c.get('statement', ''))}</td><td>{e(str(c.get('source', '')))}</td><td>{e(str(c.get('oracle', '')))}</td></tr>" for c in claims)
    sources = f"<details><summary>sources and oracles of the {kind}s</summary><table><tr><th>{kind}</th><th>source</th><th>oracle</th></tr>{src_rows}</table></details>"
    return f"<table>{head}{rows}</table>{sources}"


def _overrides_text(overrides: dict) -> str:
    import json

    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(overrides.items()))


class _Defaults:
    """Which runs used their preset's default config (runs recorded before overrides were kept are compared with it)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], dict | None] = {}

    def overrides(self, rec: RunRecord) -> dict:
        if rec.overrides is not None:
            return rec.overrides
        key = (rec.experiment, rec.preset)
        if key not in self._cache:
            try:
                self._cache[key] = registry.build_config(registry.get(rec.experiment), rec.preset).model_dump(mode="json")
            except Exception:  # the experiment or preset is gone: cannot tell
                self._cache[key] = None
        default = self._cache[key]
        if default is None:
            return {}
        return {k: v for k, v in rec.config.items() if default.get(k, v) != v}


def _experiment_card(exp, rec: RunRecord | None, store: Store, result: dict | None = None, overrides: dict | None = None) -> str:
    e = html.escape
    papers = [bibliography.PAPERS[k] for k in exp.papers if k in bibliography.PAPERS]
    cites = "".join(f"<li>{e(p.citation)}</li>" for p in papers)
    head = f"<h3>{e(exp.title)}</h3><div class='sub'><code>{e(exp.id)}</code> &middot; {e(', '.join(p.short for p in papers))}</div>"
    if rec is None:
        return f"<div class='card'>{head}<p><span class='badge planned'>not run</span> No run of this experiment is recorded yet: <code>dltheory run {e(exp.id)}</code>.</p><ul class='papers'>{cites}</ul></div>"
    if result is None:
        result = store.result(rec.run_id) or {}
    if overrides is None:
        overrides = _Defaults().overrides(rec)
    status = result.get("status", rec.status)
    all_claims = result.get("claims", [])
    claims = [c for c in all_claims if c.get("kind", "claim") == "claim"]
    checks = [c for c in all_claims if c.get("kind", "claim") == "check"]
    rates = store.claim_pass_rates(rec.experiment, rec.preset, rec.config_hash)
    n_seeds = max((r.seeds for r in rates.values()), default=1)
    n_hold = sum(bool(c.get("holds")) for c in claims)
    verdict = f"<span class='badge {e(status)}'>{e(status)}</span> {n_hold}/{len(claims)} claims hold"
    if checks:
        verdict += f", {sum(bool(c.get('holds')) for c in checks)}/{len(checks)} checks"
    if n_seeds > 1:
        always = sum(1 for c in claims if c["id"] in rates and rates[c["id"]].holding == rates[c["id"]].seeds)
        verdict += f" &middot; {always}/{len(claims)} claims hold on all {n_seeds} seeds run with this config"
    if overrides:
        verdict += f" &middot; <span class='badge override'>overrides</span> <code>--set {e(_overrides_text(overrides))}</code>"
    meta = f"run <code>{e(rec.run_id)}</code>, preset <b>{e(rec.preset)}</b>, seed {rec.seed}, {(rec.wall_time_s or 0):.1f} s"
    table = _claims_html(claims, rates, n_seeds, "claim")
    if checks:
        table += f"<details><summary>checks: identities and constructions verified exactly ({len(checks)})</summary>{_claims_html(checks, rates, n_seeds, 'check')}</details>"
    err = f"<p><b>error:</b> <code>{e(str(result.get('error', rec.error or '')))}</code></p>" if status == "error" else ""
    rels = [f for f in result.get("figures", []) if isinstance(f, str)]
    figs = [f for f in (_figure(store.run_dir(rec.run_id), rel, len(rels)) for rel in rels) if f]
    metrics = result.get("metrics", {})
    mt = "".join(f"<tr><td>{e(str(k))}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in metrics.items())
    mdet = f"<details><summary>metrics ({len(metrics)})</summary><table>{mt}</table></details>" if metrics else ""
    arts = ", ".join(f"<code>{e(str(a))}</code>" for a in result.get("artifacts", []))
    adet = f"<details><summary>artifacts</summary><p>In <code>{e(str(store.run_dir(rec.run_id)))}</code>: {arts}</p></details>" if arts else ""
    return (f"<div class='card'>{head}<div class='figs'>{''.join(figs)}</div><p class='verdict'>{verdict}</p><p>{e(exp.summary())}</p>{err}{table}"
            f"{mdet}{adet}<p class='meta'>{meta}</p><ul class='papers'>{cites}</ul></div>")


def _choose_runs(store: Store, preset: str | None, warn: Callable[[str], None]) -> dict[str, tuple[RunRecord, dict, dict]]:
    """Per experiment: the newest readable finished run with the default config (else the newest readable run), its result and overrides."""
    defaults = _Defaults()
    chosen: dict[str, tuple[RunRecord, dict, dict]] = {}
    fallback: dict[str, tuple[RunRecord, dict, dict]] = {}
    for rec in store.finished(preset):
        if rec.experiment in chosen:
            continue
        try:
            result = store.result(rec.run_id) or {}
        except StoreError as e:
            warn(f"skipped run {rec.run_id}: {e}")
            continue
        ov = defaults.overrides(rec)
        if not ov:
            chosen[rec.experiment] = (rec, result, ov)
        else:
            fallback.setdefault(rec.experiment, (rec, result, ov))
    for k, v in fallback.items():
        chosen.setdefault(k, v)
    return chosen


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def write_report(store: Store, path: str | Path | None = None, *, preset: str | None = None, lectures: list[int] | None = None,
                 warn: Callable[[str], None] | None = None) -> Path:
    """Write the report (one run per experiment, see the module docstring); returns its path.

    Raises:
        ConfigError: ``preset`` has no finished run, or ``lectures`` name no experiment.
        OutputPathError: ``path`` cannot take the report (see :func:`output_target`).
        StoreError: the index cannot be read.
    """
    warn = warn or _warn
    if path is None:
        if not store.writable:
            raise OutputPathError(f"the runs dir {store.runs_dir} is read-only; write the report elsewhere with `-o FILE`.")
        path = store.runs_dir / "report.html"
    target = output_target(path)
    exps = registry.all_experiments()
    if lectures:
        exps = [x for x in exps if x.lecture in lectures]
        if not exps:
            have = sorted({x.lecture for x in registry.all_experiments()})
            raise ConfigError(f"`--lecture` must be one with experiments ({', '.join(map(str, have))}); got {', '.join(map(str, lectures))}.")
    if preset is not None and preset not in store.presets():
        known = store.presets()
        raise ConfigError(f"`--preset` {preset!r} has no recorded run in {store.path}; " + (f"recorded presets: {', '.join(known)}." if known else "the store has no runs."))
    chosen = _choose_runs(store, preset, warn)
    n_claims = n_hold = n_run = 0
    for x in exps:
        if x.id in chosen:
            cl = [c for c in chosen[x.id][1].get("claims", []) if c.get("kind", "claim") == "claim"]
            n_run += 1
            n_claims += len(cl)
            n_hold += sum(bool(c.get("holds")) for c in cl)
    body = [f"<h1>dltheory: the course, reproduced</h1><p class='sub'>Report written {time.strftime('%Y-%m-%d %H:%M')}"
            f"{' for preset <b>' + html.escape(preset) + '</b>' if preset else ''}. {n_run} of {len(exps)} experiments run; "
            f"<b>{n_hold} of {n_claims}</b> claims hold. Each experiment shows its newest run with the preset's default config.</p>"]
    summary_rows = []
    for x in exps:
        rec, res, ov = chosen.get(x.id, (None, {}, {}))
        st = res.get("status", rec.status) if rec else "not run"
        cls = st if rec else "planned"
        mark = " <span class='badge override'>overrides</span>" if ov else ""
        summary_rows.append(f"<tr><td>L{x.lecture}</td><td><a href='#{html.escape(x.id)}'>{html.escape(x.id)}</a></td><td>{html.escape(x.title)}</td><td><span class='badge {html.escape(cls)}'>{html.escape(st)}</span>{mark}</td></tr>")
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
            rec, res, ov = chosen.get(x.id, (None, None, None))
            body.append(f"<a id='{html.escape(x.id)}'></a>" + _experiment_card(x, rec, store, res, ov))
        if planned:
            items = "".join(f"<li><code>{html.escape(p.experiment)}</code>: {html.escape(p.citation)}</li>" for p in planned)
            body.append(f"<details><summary>Planned experiments of this lecture ({len(planned)})</summary><ul class='papers'>{items}</ul></details>")
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
           f"<title>dltheory report</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>")
    _write_text(target, doc)
    return Path(path)
