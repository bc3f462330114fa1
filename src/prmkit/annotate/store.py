"""The job store: an annotation job's progress in one SQLite file (WAL mode), so a killed job resumes.

Work is done in chunks of solutions; a chunk's labels, the new rollouts it generated and its "done"
mark are committed in one transaction. After ``kill -9`` at any moment the file holds whole chunks
only: rerunning redoes the interrupted chunk from scratch, with the same seed and the same cache
contents, so the labels equal those of an uninterrupted run, none lost and none twice (primary keys).
The settings that decide what a rollout is (generator, prompt template, temperature, ...) are stored
on first use and checked on every reopen: a cache filled under other settings is never reused.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Optional

__all__ = ["JobStore", "Rollout"]

Rollout = tuple[str, bool, int]  # (completion text, reached the reference answer, tokens)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollouts (prompt TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL,
    correct INTEGER NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY (prompt, idx));
CREATE TABLE IF NOT EXISTS chunks (method TEXT NOT NULL, chunk INTEGER NOT NULL, generated INTEGER NOT NULL,
    generated_tokens INTEGER NOT NULL, seconds REAL NOT NULL, PRIMARY KEY (method, chunk));
CREATE TABLE IF NOT EXISTS results (method TEXT NOT NULL, position INTEGER NOT NULL, labels TEXT NOT NULL,
    kind TEXT NOT NULL, info TEXT NOT NULL, rollouts INTEGER NOT NULL, tokens INTEGER NOT NULL,
    PRIMARY KEY (method, position));
"""


class JobStore:
    """One job folder's ``job.sqlite``.

    Args:
        path: the database file (created with its folder if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def check_settings(self, key: str, settings: dict) -> None:
        """Store ``settings`` under ``key`` on first use; raise if a later run brings different ones."""
        value = json.dumps(settings, sort_keys=True)
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
        elif row[0] != value:
            old, new = json.loads(row[0]), settings
            diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
            raise ValueError(f"{self.path} holds a job started with other {key} settings "
                             f"({', '.join(f'{k}: {a!r} then {b!r}' for k, (a, b) in diff.items())}); "
                             "rerun with the same settings, or use another output folder")

    def load_rollouts(self) -> dict[str, list[Rollout]]:
        """Every cached rollout, by prompt key, in index order."""
        cache: dict[str, list[Rollout]] = {}
        for prompt, text, correct, tokens in self.db.execute(
                "SELECT prompt, text, correct, tokens FROM rollouts ORDER BY prompt, idx"):
            cache.setdefault(prompt, []).append((text, bool(correct), tokens))
        return cache

    def done_chunks(self, method: str) -> set[int]:
        return {c for (c,) in self.db.execute("SELECT chunk FROM chunks WHERE method = ?", (method,))}

    def spent(self) -> tuple[int, int]:
        """(rollouts, tokens) generated so far by every method of the job (what budgets count)."""
        row = self.db.execute("SELECT COALESCE(SUM(generated), 0), COALESCE(SUM(generated_tokens), 0) FROM chunks").fetchone()
        return int(row[0]), int(row[1])

    def seconds(self, method: str) -> float:
        row = self.db.execute("SELECT COALESCE(SUM(seconds), 0) FROM chunks WHERE method = ?", (method,)).fetchone()
        return float(row[0])

    def commit_chunk(self, method: str, chunk: int, results: Iterable[tuple[int, dict]],
                     new_rollouts: dict[str, list[tuple[int, Rollout]]], seconds: float, other_tokens: int = 0) -> None:
        """Write one finished chunk atomically: its results, the rollouts it generated, its done mark.

        ``results`` are (position, {"labels", "kind", "info", "rollouts", "tokens"}) pairs;
        ``other_tokens`` are tokens generated outside rollouts (a judge's critiques), for the budget.
        """
        rows = [(key, idx, text, int(ok), tokens) for key, items in new_rollouts.items() for idx, (text, ok, tokens) in items]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT INTO rollouts VALUES (?, ?, ?, ?, ?)", rows)
            self.db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", [
                (method, pos, json.dumps(r["labels"]), r["kind"], json.dumps(r["info"]), r["rollouts"], r["tokens"])
                for pos, r in results])
            self.db.execute("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
                            (method, chunk, len(rows), sum(r[4] for r in rows) + other_tokens, seconds))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def results(self, method: str) -> dict[int, dict[str, Any]]:
        """Finished results of ``method`` by input position."""
        out = {}
        for pos, labels, kind, info, rollouts, tokens in self.db.execute(
                "SELECT position, labels, kind, info, rollouts, tokens FROM results WHERE method = ? ORDER BY position",
                (method,)):
            out[pos] = {"labels": json.loads(labels), "kind": kind, "info": json.loads(info), "rollouts": rollouts,
                        "tokens": tokens}
        return out

    def count(self, method: Optional[str] = None) -> int:
        if method is None:
            return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM results WHERE method = ?", (method,)).fetchone()[0]
