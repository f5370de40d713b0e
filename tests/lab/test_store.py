"""The SQLite store: round trip, claims (atomic, leases, dead owners), one-transaction finish."""

from __future__ import annotations

import threading

import pytest

from initlab.errors import ConfigError
from initlab.lab.sweep.store import DB_NAME, Store, environment, open_store


def _runs(n=3):
    return [{"id": f"r{i}", "identity": {"seed": i, "init": "zeros"}, "init_label": "zeros",
             "init_spec": "zeros()", "seed": i} for i in range(n)]


def _result(status="done", steps=3):
    return {"status": status, "step_losses": [2.3, 2.0, 1.5][:steps],
            "epochs": [{"epoch": 1, "step": steps, "train_loss": 1.9, "train_acc": 0.5,
                        "test_loss": 1.8, "test_acc": 0.55}],
            "steps_to_target": None, "wall_time": 0.25, "steps": steps, "diverged_at": None,
            "stacked": 2,
            "grad_norms": [{"step": 1, "layer": "fc", "value": 0.5},
                           {"step": 1, "layer": "conv1", "value": 0.25}]}


def test_round_trip(tmp_path):
    with open_store(tmp_path / "sweep") as st:
        assert st.register(_runs()) == 3
        assert st.register(_runs()) == 0  # known runs are kept as they are
        assert st.claim(["r0"]) == ["r0"]
        plan = {"rows": [{"name": "fc.weight", "init": "zeros()"}]}
        assert st.finish("r0", _result(), plan, environment())
        row = {r["id"]: r for r in st.runs()}["r0"]
        assert row["status"] == "done" and row["plan"] == plan
        assert row["identity"] == {"seed": 0, "init": "zeros"}
        assert row["steps"] == 3 and row["stacked"] == 2 and row["attempts"] == 1
        env = row["environment"]
        assert env["torch"] and env["device"] == "cpu" and env["hostname"]
        assert st.step_losses("r0") == [2.3, 2.0, 1.5]
        assert st.epochs("r0") == [{"epoch": 1, "step": 3, "train_loss": 1.9, "train_acc": 0.5,
                                    "test_loss": 1.8, "test_acc": 0.55}]
        assert st.grad_norms("r0") == [{"step": 1, "layer": "fc", "value": 0.5},
                                       {"step": 1, "layer": "conv1", "value": 0.25}]
        assert st.counts() == {"done": 1, "pending": 2}
    assert (tmp_path / "sweep" / DB_NAME).exists()
    with Store(tmp_path / "sweep" / DB_NAME) as again:  # persisted, and in WAL mode
        assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [r["status"] for r in again.runs()] == ["done", "pending", "pending"]


def test_finished_runs_cannot_be_claimed_or_finished_twice(tmp_path):
    with open_store(tmp_path) as st:
        st.register(_runs(1))
        st.claim(["r0"])
        assert st.finish("r0", _result(), None, {})
        assert st.claim(["r0"]) == []
        assert not st.finish("r0", _result(), None, {})
        assert len(st.step_losses("r0")) == 3


def test_a_live_claim_is_exclusive_and_an_expired_or_dead_one_is_taken_over(tmp_path):
    a = open_store(tmp_path)
    b = open_store(tmp_path)
    a.register(_runs(2))
    assert a.claim(["r0", "r1"]) == ["r0", "r1"]
    assert b.claim(["r0", "r1"]) == []            # held by a live process (this one)
    b.lease_s = 0.0                               # ... until the lease expires
    assert b.claim(["r0"]) == ["r0"]
    assert not a.finish("r0", _result(), None, {})  # a lost it: writes nothing
    c = open_store(tmp_path)
    assert c.claim(["r1"]) == []                  # a is alive and its lease is fresh
    c.db.execute("UPDATE runs SET owner = ? WHERE id = 'r1'",
                 (c.owner.split(":")[0] + ":999999999:dead",))
    assert c.claim(["r1"]) == ["r1"]              # owner pid gone: taken over at once
    for s in (a, b, c):
        s.close()


def test_fail_makes_a_run_claimable_again_with_its_error(tmp_path):
    with open_store(tmp_path) as st:
        st.register(_runs(1))
        st.claim(["r0"])
        st.fail("r0", "RuntimeError: boom")
        row = st.runs()[0]
        assert row["status"] == "failed" and row["error"] == "RuntimeError: boom"
        assert st.claim(["r0"]) == ["r0"]
        assert st.runs()[0]["attempts"] == 2 and st.runs()[0]["error"] is None


def test_finish_is_one_transaction(tmp_path):
    with open_store(tmp_path) as st:
        st.register(_runs(1))
        st.claim(["r0"])
        bad = _result()
        bad["grad_norms"] = [{"step": 1, "layer": "fc"}]  # no value: fails mid-write
        with pytest.raises(KeyError):
            st.finish("r0", bad, None, {})
        assert st.runs()[0]["status"] == "running"
        assert st.step_losses("r0") == [] and st.epochs("r0") == []


def test_a_group_is_recorded_in_one_transaction(tmp_path):
    """Runs trained together are recorded together: a failure (or a kill) while writing
    the last one leaves none of them recorded, so a resume re-trains the whole group."""
    with open_store(tmp_path) as st:
        st.register(_runs(3))
        st.claim(["r0", "r1", "r2"])
        bad = _result()
        bad["grad_norms"] = [{"step": 1, "layer": "fc"}]  # no value: fails mid-write
        with pytest.raises(KeyError):
            st.record([("r0", _result(), None), ("r1", bad, None)], [("r2", "boom")], {})
        assert [r["status"] for r in st.runs()] == ["running"] * 3
        assert st.step_losses("r0") == [] and st.epochs("r0") == []
        assert st.record([("r0", _result(), None), ("r1", _result(), None)],
                         [("r2", "boom")], {}) == [True, True]
        assert {r["id"]: r["status"] for r in st.runs()} == {"r0": "done", "r1": "done",
                                                             "r2": "failed"}


def test_release_returns_claims_to_pending(tmp_path):
    with open_store(tmp_path) as st:
        st.register(_runs(2))
        st.claim(["r0", "r1"])
        st.release(["r0"])
        assert [r["status"] for r in st.runs()] == ["pending", "running"]


def test_non_finite_values_are_stored_as_null(tmp_path):
    with open_store(tmp_path) as st:
        st.register(_runs(1))
        st.claim(["r0"])
        r = _result("diverged", 2)
        r["epochs"][0]["test_loss"] = float("nan")
        r["diverged_at"] = 3
        st.finish("r0", r, None, {})
        assert st.epochs("r0")[0]["test_loss"] is None
        assert st.runs()[0]["diverged_at"] == 3


def test_concurrent_claims_are_disjoint(tmp_path):
    open_store(tmp_path).register(_runs(40))
    got: dict[int, list[str]] = {}

    def worker(k):
        with open_store(tmp_path) as st:
            got[k] = []
            for i in range(40):
                got[k] += st.claim([f"r{i}"])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [rid for ids in got.values() for rid in ids]
    assert sorted(claimed) == sorted(f"r{i}" for i in range(40))  # each exactly once


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"No initlab sweep in .*initlab.db not found"):
        open_store(tmp_path / "nothing", create=False)


def test_finish_rejects_an_unfinished_status(tmp_path):
    with open_store(tmp_path) as st:
        st.register(_runs(1))
        st.claim(["r0"])
        with pytest.raises(ConfigError, match=r"finish\(\) got status 'running'"):
            st.finish("r0", _result("running"), None, {})
