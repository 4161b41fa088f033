"""The endpoint's SQLite store: explicit transactions that behave the same on CPython and PyPy."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SCRIPT = r"""
import sys, tempfile
sys.path.insert(0, sys.argv[1])
from pypush.server.store.store import Store
s = Store(tempfile.mkdtemp())
for i in range(50):
    with s.tx() as db:
        db.execute("INSERT INTO repositories (name, created_at) VALUES (?, 0)", (f"r{i}",))
        assert db.execute("SELECT name FROM repositories ORDER BY name").fetchone() == ("r0",)
        db.execute("INSERT INTO layers (repo, digest, created_at) VALUES (?, 'd', 0)", (f"r{i}",))
        db.execute("SELECT repo FROM layers").fetchone()
    with s.read() as db:
        db.execute("SELECT name FROM repositories").fetchone()
        with s.tx() as inner:  # nested: joins the outer transaction
            inner.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('k', ?)", (str(i),))
try:
    with s.tx() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        raise KeyError("rolled back")
except KeyError:
    pass
assert s.meta("x") is None and s.meta("k") == "49"
with s.read() as db:
    assert len(db.execute("SELECT * FROM repositories").fetchall()) == 50
print("ok")
"""


def test_transactions_commit_with_statements_left_unfetched(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO_ROOT)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.skipif(shutil.which("pypy3") is None, reason="pypy3 is not installed")
def test_transactions_on_pypy():
    """PyPy finalizes cursors only in its GC: a statement left mid-step used to block COMMIT."""
    out = subprocess.run(["pypy3", "-c", SCRIPT, str(REPO_ROOT)], capture_output=True, text=True, timeout=120)
    if "No module named '_sqlite3'" in out.stderr:
        pytest.skip("this pypy3 has no sqlite3")
    assert out.stdout.strip() == "ok", out.stderr


def test_a_failed_commit_leaves_the_store_usable(tmp_path):
    from pypush.server.store.store import Store

    store = Store(tmp_path)
    other = sqlite3.connect(str(tmp_path / "metadata.sqlite3"), isolation_level=None)
    with store.tx() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
    other.execute("BEGIN EXCLUSIVE")  # another process holds the database
    store._conn.execute("PRAGMA busy_timeout=50")
    with pytest.raises(sqlite3.OperationalError):
        with store.tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
    other.execute("ROLLBACK")
    with store.tx() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('c', '3')")
    assert store.meta("a") == "1" and store.meta("b") is None and store.meta("c") == "3"
    store.close()
    other.close()
