"""The run store: an embedded SQLite index of runs beside their run directories.

Layout under the runs directory (``runs/`` by default, ``--runs-dir`` or the
``DLTHEORY_RUNS_DIR`` environment variable to move it)::

    runs/dltheory.sqlite          the index (WAL mode; safe for concurrent writers)
    runs/<run_id>/config.json     the validated config
    runs/<run_id>/result.json     schema-1 result (written atomically at the end)
    runs/<run_id>/figures/*.png   runs/<run_id>/artifacts/*   runs/<run_id>/log.txt

A run is inserted as ``running`` when it starts and updated once when it ends (``ok``,
``failed``, ``error`` or ``interrupted``). A run whose process died without saying so
(SIGKILL, power loss) is shown as ``interrupted`` once its process is gone.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    preset TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    wall_time_s REAL,
    n_claims INTEGER,
    n_holding INTEGER,
    error TEXT,
    pid INTEGER,
    host TEXT,
    sweep TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, started_at);
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    claim_id TEXT NOT NULL,
    measured REAL,
    expected TEXT,
    holds INTEGER,
    kind TEXT NOT NULL DEFAULT 'claim',
    PRIMARY KEY (run_id, claim_id)
);
"""

STATUSES = ("running", "ok", "failed", "error", "interrupted")


def default_runs_dir() -> Path:
    return Path(os.environ.get("DLTHEORY_RUNS_DIR", "runs"))


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment: str
    preset: str
    seed: int
    config: dict[str, Any]
    config_hash: str
    status: str
    started_at: float
    finished_at: float | None
    wall_time_s: float | None
    n_claims: int | None
    n_holding: int | None
    error: str | None
    sweep: str | None


@dataclass(frozen=True)
class ClaimRate:
    """How often one claim held over seeds: ``holding`` of ``seeds``, the failing seeds, the measured values."""

    claim_id: str
    kind: str
    holding: int
    seeds: int
    failing_seeds: tuple[int, ...]
    values: tuple[float, ...]


class Store:
    """The SQLite index of the runs under ``runs_dir``."""

    def __init__(self, runs_dir: str | Path | None = None):
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.runs_dir / "dltheory.sqlite"
        with self._connect() as con:
            con.executescript(SCHEMA)
            cols = {r[1] for r in con.execute("PRAGMA table_info(claims)")}
            if "kind" not in cols:  # a store written before claims and checks were told apart
                con.execute("ALTER TABLE claims ADD COLUMN kind TEXT NOT NULL DEFAULT 'claim'")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 60000")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    # writes ----------------------------------------------------------------------------
    def start(self, run_id: str, experiment: str, preset: str, seed: int, config: dict[str, Any], config_hash: str, sweep: str | None = None) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (run_id, experiment, preset, seed, config_json, config_hash, status, started_at, pid, host, sweep)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (run_id, experiment, preset, seed, json.dumps(config, sort_keys=True), config_hash, time.time(), os.getpid(), socket.gethostname(), sweep),
            )

    def finish(self, run_id: str, status: str, *, wall_time_s: float, claims: list[dict[str, Any]] | None = None, error: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {status!r}.")
        claims = claims or []
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, wall_time_s = ?, n_claims = ?, n_holding = ?, error = ? WHERE run_id = ?",
                    (status, time.time(), wall_time_s, len(claims), sum(bool(c["holds"]) for c in claims), error, run_id),
                )
                con.executemany(
                    "INSERT OR REPLACE INTO claims (run_id, claim_id, measured, expected, holds, kind) VALUES (?, ?, ?, ?, ?, ?)",
                    [(run_id, c["id"], c["measured"] if isinstance(c["measured"], (int, float)) else None, c["expected"], int(bool(c["holds"])), c.get("kind", "claim")) for c in claims],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # reads -----------------------------------------------------------------------------
    def _rows(self, where: str = "", params: tuple = (), limit: int | None = None) -> list[RunRecord]:
        sql = "SELECT run_id, experiment, preset, seed, config_json, config_hash, status, started_at, finished_at, wall_time_s, n_claims, n_holding, error, sweep, pid, host FROM runs"
        sql += f" {where} ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as con:
            rows = con.execute(sql, params).fetchall()
        out = []
        for r in rows:
            status = r[6]
            if status == "running" and not _alive(r[14], r[15]):
                status = "interrupted"
            out.append(RunRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], status, r[7], r[8], r[9], r[10], r[11], r[12], r[13]))
        return out

    def recent(self, limit: int = 20, experiment: str | None = None) -> list[RunRecord]:
        if experiment:
            return self._rows("WHERE experiment = ?", (experiment,), limit)
        return self._rows(limit=limit)

    def get(self, run_id: str) -> RunRecord | None:
        rows = self._rows("WHERE run_id = ?", (run_id,))
        if rows:
            return rows[0]
        rows = self._rows("WHERE run_id LIKE ?", (run_id + "%",))
        return rows[0] if len(rows) == 1 else None

    def latest_per_experiment(self, preset: str | None = None) -> dict[str, RunRecord]:
        """The newest finished run of each experiment (optionally of one preset)."""
        where = "WHERE status IN ('ok', 'failed', 'error')"
        params: tuple = ()
        if preset:
            where += " AND preset = ?"
            params = (preset,)
        out: dict[str, RunRecord] = {}
        for r in self._rows(where, params):
            out.setdefault(r.experiment, r)
        return out

    def find_finished(self, experiment: str, preset: str, seed: int, config_hash: str) -> RunRecord | None:
        """A finished (ok/failed) run with exactly this experiment, preset, seed and config."""
        rows = self._rows("WHERE experiment = ? AND preset = ? AND seed = ? AND config_hash = ? AND status IN ('ok', 'failed')", (experiment, preset, seed, config_hash), 1)
        return rows[0] if rows else None

    def seed_runs(self, experiment: str, preset: str, config_hash: str) -> list[RunRecord]:
        """The newest finished run of each seed with exactly this experiment, preset and config."""
        rows = self._rows("WHERE experiment = ? AND preset = ? AND config_hash = ? AND status IN ('ok', 'failed', 'error')", (experiment, preset, config_hash))
        out: dict[int, RunRecord] = {}
        for r in rows:
            out.setdefault(r.seed, r)
        return sorted(out.values(), key=lambda r: r.seed)

    def claim_pass_rates(self, experiment: str, preset: str, config_hash: str, *, seeds: set[int] | None = None) -> dict[str, ClaimRate]:
        """Per claim id: on how many seeds it held, over the newest run of each seed (:meth:`seed_runs`).

        A run that raised counts as a failure of every claim that other seeds recorded.
        ``seeds`` restricts the count to those seeds.
        """
        runs = [r for r in self.seed_runs(experiment, preset, config_hash) if seeds is None or r.seed in seeds]
        if not runs:
            return {}
        ids = [r.run_id for r in runs]
        marks = ",".join("?" * len(ids))
        with self._connect() as con:
            rows = con.execute(f"SELECT run_id, claim_id, measured, holds, kind FROM claims WHERE run_id IN ({marks})", ids).fetchall()
        seed_of = {r.run_id: r.seed for r in runs}
        by_claim: dict[str, dict[int, tuple[float | None, bool, str]]] = {}
        for run_id, cid, measured, holds, kind in rows:
            by_claim.setdefault(cid, {})[seed_of[run_id]] = (measured, bool(holds), kind)
        seeds = [r.seed for r in runs]
        out = {}
        for cid, per_seed in by_claim.items():
            kind = next(iter(per_seed.values()))[2]
            failing = tuple(s for s in seeds if not per_seed.get(s, (None, False, kind))[1])
            values = tuple(v for v, _, _ in per_seed.values() if v is not None)
            out[cid] = ClaimRate(cid, kind, len(seeds) - len(failing), len(seeds), failing, values)
        return out

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The run's ``result.json`` (None when the run did not finish)."""
        path = self.run_dir(run_id) / "result.json"
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))


def _alive(pid: int | None, host: str | None) -> bool:
    if pid is None or host != socket.gethostname():
        return True  # cannot tell; trust the record
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
