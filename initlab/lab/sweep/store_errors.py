"""Database and disk problems of a sweep store as one-line errors (exit 2 in the CLI)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from initlab.errors import ConfigError

__all__ = ["store_errors"]


@contextmanager
def store_errors(db: str | Path) -> Iterator[None]:
    """Database and disk problems as one-line errors (``ConfigError``): damaged or
    not-a-database files, read-only sweeps written to, a full disk."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        hint = {"file is not a database": "the file is damaged or not an initlab database; "
                                          "move it away and run again",
                "database disk image is malformed": "the database is damaged; move it away "
                                                    "and run again",
                "attempt to write a readonly database": "the sweep folder is read-only; "
                                                        "pass another --out",
                "database or disk is full": "free disk space, then run the same command "
                                            "again (it resumes)"}
        why = next((h for k, h in hint.items() if k in text), "check the file and the disk")
        raise ConfigError(f"Sweep database {db} failed: {text}; hint: {why}") from None
    except OSError as exc:
        if exc.errno not in (28, 30, 13):  # ENOSPC, EROFS, EACCES
            raise
        raise ConfigError(f"Cannot write the sweep in {Path(db).parent}: {exc.strerror}; "
                          "hint: free disk space or pass a writable --out") from None
