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

import hashlib
import json
import os
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dltheory.core.errors import StoreError

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
    sweep TEXT,
    overrides_json TEXT
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
INDEX_NAME = "dltheory.sqlite"
_RUN_COLUMNS = ("run_id", "experiment", "preset", "seed", "config_json", "config_hash", "status", "started_at")


def default_runs_dir() -> Path | str:
    return os.environ.get("DLTHEORY_RUNS_DIR", "runs")


def config_hash(experiment: str, preset: str, config: Mapping[str, Any]) -> str:
    """The identity of a config: same experiment, preset and values give the same hash."""
    blob = json.dumps({"experiment": experiment, "preset": preset, "config": config}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _runs_dir_path(runs_dir: str | os.PathLike) -> Path:
    """``runs_dir`` checked: a non-empty path that is (or can become) a directory."""
    if isinstance(runs_dir, str) and not runs_dir.strip():
        raise StoreError(f"`--runs-dir` must be a directory path; got {runs_dir!r} (use '.' for the current directory).")
    path = Path(runs_dir)
    try:
        st = path.stat()
    except FileNotFoundError:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"`--runs-dir` {str(path)!r} cannot be created: {e.strerror or e}.") from None
        return path
    except OSError as e:
        raise StoreError(f"`--runs-dir` {str(path)!r} cannot be read: {e.strerror or e}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"`--runs-dir` must be a directory; got {str(path)!r}, {_kind_of(st.st_mode)}.")
    return path


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
    overrides: dict[str, Any] | None = None  # None: recorded before overrides were kept


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
    """The SQLite index of the runs under ``runs_dir``.

    A runs dir that is not writable (another user's, a read-only mount) opens read-only:
    ``runs``, ``show`` and ``report -o elsewhere`` work, recording a run raises
    :class:`StoreError`. An index that is not a dltheory SQLite database (0 bytes beside run
    folders, corrupt, another program's file) raises :class:`StoreError` naming
    :meth:`reindex`, which rebuilds it from the run folders' ``result.json``.
    """

    def __init__(self, runs_dir: str | Path | None = None):
        self.runs_dir = _runs_dir_path(runs_dir if runs_dir is not None else default_runs_dir())
        self.path = self.runs_dir / INDEX_NAME
        self.writable = os.access(self.runs_dir, os.W_OK | os.X_OK)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise StoreError(f"the index {self.path} cannot be read: {e.strerror or e}.") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise StoreError(f"the index {self.path} must be a regular file; it is {_kind_of(st.st_mode)}.")
        if st is not None and st.st_size == 0 and self._run_folders():
            raise self._bad_index("is empty (0 bytes) while run folders exist")
        self._empty = st is None and not self.writable  # a read-only dir without an index: no runs
        if self._empty:
            return
        if self.writable:
            with self._connect() as con:
                try:
                    con.executescript(SCHEMA)
                except sqlite3.DatabaseError as e:
                    raise self._bad_index(f"is not a SQLite database ({e})") from None
                for table, column, decl in (("claims", "kind", "TEXT NOT NULL DEFAULT 'claim'"), ("runs", "overrides_json", "TEXT")):
                    cols = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
                    if column not in cols:  # a store written before this column existed
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        with self._connect() as con:
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        if not set(_RUN_COLUMNS) <= cols:
            raise self._bad_index("is a SQLite database without dltheory's `runs` table")

    def _bad_index(self, why: str) -> StoreError:
        return StoreError(f"the index {self.path} {why}; `dltheory runs --reindex --runs-dir {self.runs_dir}` rebuilds it from the run folders (the old file is kept).")

    def _run_folders(self) -> list[Path]:
        try:
            return sorted(p for p in self.runs_dir.iterdir() if p.is_dir() and ((p / "result.json").is_file() or (p / "config.json").is_file()))
        except OSError as e:
            raise StoreError(f"`--runs-dir` {str(self.runs_dir)!r} cannot be listed: {e.strerror or e}.") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if self.writable:
                con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            else:  # read-only: no -wal/-shm can be created beside it, so read it as immutable
                con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"the index {self.path} cannot be opened: {e}.") from None
        try:
            con.execute("PRAGMA busy_timeout = 60000")
            if self.writable:
                con.execute("PRAGMA journal_mode = WAL")
                con.execute("PRAGMA synchronous = NORMAL")
            yield con
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise StoreError(f"the index {self.path} stayed locked for a minute: {e}.") from None
            raise self._bad_index(f"cannot be read ({e})") from None
        finally:
            con.close()

    def require_writable(self) -> None:
        """Raise :class:`StoreError` unless runs can be recorded here."""
        if not self.writable:
            raise StoreError(f"the runs dir {self.runs_dir} is read-only; recording a run needs a writable `--runs-dir`.")

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    # writes ----------------------------------------------------------------------------
    def start(self, run_id: str, experiment: str, preset: str, seed: int, config: dict[str, Any], config_hash: str, sweep: str | None = None,
              overrides: Mapping[str, Any] | None = None, *, started_at: float | None = None, pid: int | None = None) -> None:
        self.require_writable()
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (run_id, experiment, preset, seed, config_json, config_hash, status, started_at, pid, host, sweep, overrides_json)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (run_id, experiment, preset, seed, json.dumps(config, sort_keys=True), config_hash, time.time() if started_at is None else started_at,
                 os.getpid() if pid is None else pid, socket.gethostname(), sweep, None if overrides is None else json.dumps(dict(overrides), sort_keys=True)),
            )

    def finish(self, run_id: str, status: str, *, wall_time_s: float | None, claims: list[dict[str, Any]] | None = None, error: str | None = None,
               finished_at: float | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {status!r}.")
        self.require_writable()
        claims = claims or []
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, wall_time_s = ?, n_claims = ?, n_holding = ?, error = ? WHERE run_id = ?",
                    (status, time.time() if finished_at is None else finished_at, wall_time_s, len(claims), sum(bool(c["holds"]) for c in claims), error, run_id),
                )
                con.executemany(
                    "INSERT OR REPLACE INTO claims (run_id, claim_id, measured, expected, holds, kind) VALUES (?, ?, ?, ?, ?, ?)",
                    [(run_id, c["id"], c["measured"] if isinstance(c["measured"], (int, float)) else None, c["expected"], int(bool(c["holds"])), c.get("kind", "claim")) for c in claims],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    @classmethod
    def reindex(cls, runs_dir: str | Path | None = None) -> tuple[Store, int, list[str], Path | None]:
        """Rebuild the index from the run folders; returns ``(store, runs indexed, folders skipped, old index kept at)``.

        The old index (if any) is renamed ``dltheory.sqlite.bad-<time>``, never deleted. A
        folder with a readable ``result.json`` is indexed with its status and claims; one with
        only ``config.json`` (a run that never finished) as ``interrupted``.
        """
        rd = _runs_dir_path(runs_dir if runs_dir is not None else default_runs_dir())
        if not os.access(rd, os.W_OK | os.X_OK):
            raise StoreError(f"the runs dir {rd} is read-only; `--reindex` needs to write its index.")
        index = rd / INDEX_NAME
        kept = None
        if os.path.lexists(index):
            kept = rd / f"{INDEX_NAME}.bad-{time.strftime('%Y%m%d-%H%M%S')}"
            os.replace(index, kept)
            for suffix in ("-wal", "-shm"):
                if os.path.lexists(str(index) + suffix):
                    os.replace(str(index) + suffix, str(kept) + suffix)
        store = cls(rd)
        n, skipped = 0, []
        for d in store._run_folders():
            try:
                res = store.result(d.name)
                if res is not None:
                    store.start(d.name, res["experiment"], res["preset"], res["seed"], res["config"], config_hash(res["experiment"], res["preset"], res["config"]),
                                None, res.get("overrides"), started_at=(d / "config.json").stat().st_mtime if (d / "config.json").exists() else (d / "result.json").stat().st_mtime, pid=-1)
                    store.finish(d.name, res["status"] if res["status"] != "running" else "interrupted", wall_time_s=res.get("wall_time_s"), claims=res["claims"],
                                 error=res.get("error"), finished_at=(d / "result.json").stat().st_mtime)
                else:
                    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
                    exp, preset, seed, config = cfg["experiment"], cfg["preset"], int(cfg["seed"]), dict(cfg["config"])
                    store.start(d.name, exp, preset, seed, config, config_hash(exp, preset, config), None, cfg.get("overrides"),
                                started_at=(d / "config.json").stat().st_mtime, pid=-1)
                    store.finish(d.name, "interrupted", wall_time_s=None, error="no result.json (reindexed)", finished_at=(d / "config.json").stat().st_mtime)
                n += 1
            except (StoreError, OSError, ValueError, KeyError, TypeError) as e:
                skipped.append(f"{d.name}: {e}")
        return store, n, skipped, kept

    # reads -----------------------------------------------------------------------------
    def _rows(self, where: str = "", params: tuple = (), limit: int | None = None) -> list[RunRecord]:
        if self._empty:
            return []
        sql = ("SELECT run_id, experiment, preset, seed, config_json, config_hash, status, started_at, finished_at, wall_time_s, n_claims, n_holding, error, sweep, pid, host,"
               " overrides_json FROM runs")
        sql += f" {where} ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as con:
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            if "overrides_json" not in cols:  # an old index opened read-only
                sql = sql.replace(" overrides_json FROM", " NULL FROM")
            rows = con.execute(sql, params).fetchall()
        out = []
        for r in rows:
            status = r[6]
            if status == "running" and not _alive(r[14], r[15]):
                status = "interrupted"
            out.append(RunRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], status, r[7], r[8], r[9], r[10], r[11], r[12], r[13],
                                 None if r[16] is None else json.loads(r[16])))
        return out

    def recent(self, limit: int = 20, experiment: str | None = None) -> list[RunRecord]:
        if experiment:
            return self._rows("WHERE experiment = ?", (experiment,), limit)
        return self._rows(limit=limit)

    def get(self, run_id: str) -> RunRecord | None:
        """The run with this id, or the one run whose id starts with it (None: no run; StoreError: several)."""
        rows = self._rows("WHERE run_id = ?", (run_id,))
        if rows:
            return rows[0]
        if not run_id:
            return None
        rows = self._rows("WHERE substr(run_id, 1, ?) = ?", (len(run_id), run_id))  # a prefix, literally (no LIKE wildcards)
        if len(rows) > 1:
            raise StoreError(f"ambiguous: {len(rows)} runs match '{run_id}' ({', '.join(r.run_id for r in rows[:3])}{', ...' if len(rows) > 3 else ''}); give more of the id.")
        return rows[0] if rows else None

    def presets(self) -> list[str]:
        """The presets of the recorded runs."""
        return sorted({r.preset for r in self._rows()})

    def finished(self, preset: str | None = None) -> list[RunRecord]:
        """Every finished run (ok, failed, error), newest first, optionally of one preset."""
        where = "WHERE status IN ('ok', 'failed', 'error')"
        params: tuple = ()
        if preset:
            where += " AND preset = ?"
            params = (preset,)
        return self._rows(where, params)

    def latest_per_experiment(self, preset: str | None = None) -> dict[str, RunRecord]:
        """The newest finished run of each experiment (optionally of one preset)."""
        out: dict[str, RunRecord] = {}
        for r in self.finished(preset):
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
        """The run's ``result.json`` (None when the run did not finish; StoreError when it is unreadable)."""
        path = self.run_dir(run_id) / "result.json"
        if not path.exists():
            return None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise StoreError(f"result.json of run {run_id} is unreadable: {getattr(e, 'strerror', None) or e}.") from None
        problem = result_problem(obj)
        if problem:
            raise StoreError(f"result.json of run {run_id} is not a schema-1 result: {problem}.")
        return obj


def result_problem(obj: Any) -> str | None:
    """What is wrong with a parsed ``result.json`` (None when it has the schema-1 shape)."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    for key, types in (("experiment", str), ("preset", str), ("seed", int), ("status", str), ("config", dict), ("claims", list),
                       ("metrics", dict), ("figures", list), ("artifacts", list)):
        if not isinstance(obj.get(key), types) or isinstance(obj.get(key), bool):
            return f"`{key}` missing or not a {types.__name__}"
    if obj["status"] not in STATUSES:
        return f"`status` {obj['status']!r} is not one of {STATUSES}"
    for i, c in enumerate(obj["claims"]):
        if not isinstance(c, dict):
            return f"claims[{i}] is not an object"
        for key, types in (("id", str), ("statement", str), ("holds", bool)):
            if not isinstance(c.get(key), types):
                return f"claims[{i}].{key} missing or not a {types.__name__}"
        if c.get("kind", "claim") not in ("claim", "check"):
            return f"claims[{i}].kind is {c.get('kind')!r}"
    for key in ("figures", "artifacts"):
        if not all(isinstance(f, str) for f in obj[key]):
            return f"`{key}` holds a non-string entry"
    if "wall_time_s" in obj and not isinstance(obj["wall_time_s"], (int, float, type(None))):
        return "`wall_time_s` is not a number"
    return None


def _alive(pid: int | None, host: str | None) -> bool:
    if pid is not None and pid <= 0:
        return False  # reindexed: no process
    if pid is None or host != socket.gethostname():
        return True  # cannot tell; trust the record
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
