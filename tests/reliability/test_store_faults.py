"""Database and disk problems: one line, exit 2; a read-only sweep is still reported."""

from __future__ import annotations

import json
import sqlite3

import pytest
from _cli import run_cli

from initlab.errors import ConfigError
from initlab.lab.sweep import store as store_mod
from initlab.lab.sweep.store import open_store, store_errors

COMPARE = ("compare", "--model", "mlp", "--model-arg", "widths=[4]", "--dataset", "synthetic",
           "--n-train", "64", "--n-test", "16", "--epochs", "1", "--seeds", "2", "--quiet",
           "--grad-norm-steps", "0", "--policies", "xavier_normal,zeros")


_run = run_cli


def test_damaged_database_is_one_line(tmp_path, capsys):
    (tmp_path / "initlab.db").write_bytes(b"this is not sqlite" * 100)
    for argv in (("report", str(tmp_path)), (*COMPARE, "--out", str(tmp_path))):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1, err
        assert "Sweep database" in err and "file is not a database" in err
        assert "move it away" in err


def test_read_only_sweep_is_reported(tmp_path, capsys, monkeypatch):
    code, _, err = _run(capsys, *COMPARE, "--out", str(tmp_path))
    assert code == 0, err
    real = store_mod.os.access
    monkeypatch.setattr(store_mod.os, "access",  # as if on read-only media (we may be root)
                        lambda path, mode, **kw: False if mode == store_mod.os.W_OK
                        else real(path, mode, **kw))
    with open_store(tmp_path, create=False) as st:
        assert st.readonly and len(st.runs()) == 4
        with pytest.raises(sqlite3.OperationalError):
            st.register([{"id": "x", "identity": {}, "init_label": "x", "init_spec": "x",
                          "seed": 0}])
    code, out, err = _run(capsys, "report", str(tmp_path), "--format", "json", "--no-html")
    assert code == 0, err
    assert [s["n"] for s in json.loads(out)["summary"]] == [2, 2]


@pytest.mark.parametrize("message,hint", [
    ("database or disk is full", "free disk space"),
    ("attempt to write a readonly database", "read-only"),
    ("database disk image is malformed", "damaged"),
])
def test_store_errors_name_the_problem(tmp_path, message, hint):
    with pytest.raises(ConfigError, match=rf"Sweep database .*initlab\.db failed: {message}; "
                                          rf"hint: .*{hint}"):
        with store_errors(tmp_path / "initlab.db"):
            raise sqlite3.OperationalError(message)


def test_disk_full_os_error_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"Cannot write the sweep in .*: No space left"):
        with store_errors(tmp_path / "initlab.db"):
            raise OSError(28, "No space left on device")
