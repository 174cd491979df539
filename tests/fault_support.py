"""Breaking things on purpose for the fault scenarios (tests/test_faults.py): a task SIGKILLed
in a subprocess at a chosen point, a warehouse session terminated by PostgreSQL mid-
transaction, a TCP proxy that drops a database connection mid-read, a filesystem that fills.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

# The child: run one task, and at its kill point (after the `nth` call of `target` returns)
# say so through the marker file and wait to be killed. The parent sends the SIGKILL: the
# task dies as a killed worker does, with no exception handler, `finally` or atexit run.
_CHILD = r"""
import importlib, pickle, sys, time
from pathlib import Path

call, args, target, nth, marker = pickle.loads(Path(sys.argv[1]).read_bytes())
module_name, _, attribute = target.partition(":")
owner_name, _, method = attribute.rpartition(".")
module = importlib.import_module(module_name)
owner = getattr(module, owner_name) if owner_name else module
original = getattr(owner, method)
calls = [0]

def at_kill_point(*a, **k):
    result = original(*a, **k)
    calls[0] += 1
    if calls[0] == nth:
        Path(marker).write_text("at the kill point")
        time.sleep(600)
    return result

setattr(owner, method, at_kill_point)
if not owner_name:  # modules that imported the function by name hold the original
    for other in list(sys.modules.values()):
        if getattr(other, method, None) is original:
            setattr(other, method, at_kill_point)
call(*args)
print("the task finished before its kill point", file=sys.stderr)
sys.exit(3)
"""


def kill_at(call, args: tuple, target: str, nth: int, workdir: Path,
            timeout: float = 300) -> None:
    """Run `call(*args)` in a fresh interpreter and SIGKILL it once the `nth` call of
    `target` (`module:function` or `module:Class.method`) has returned."""
    import gc

    # The previous task ran in this process: a connection it left to the garbage collector
    # (held in a reference cycle) would still hold DuckDB's file lock against the child. In
    # Airflow every task is a process of its own, so only the test can see this.
    gc.collect()
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / f"killpoint-{time.monotonic_ns()}"
    spec = workdir / f"{marker.name}.pickle"
    spec.write_bytes(pickle.dumps((call, args, target, nth, str(marker))))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"the task exited ({child.returncode}) before its kill "
                                 f"point {target}#{nth}: {child.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"{target}#{nth} not reached in {timeout} s")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL


def terminate_own_backend_after(monkeypatch, nth: int, admin_url: str) -> list[int]:
    """Make PostgreSQL end the warehouse session (pg_terminate_backend from another session)
    right after the `nth` bulk write of the task, inside its open transaction. Returns the
    list that receives the terminated backend's pid."""
    import warehouse.engine as engine_module
    import warehouse.scd2 as scd2_module

    original = engine_module.bulk_insert
    calls, terminated = [0], []

    def terminating(conn, frame, table):
        written = original(conn, frame, table)
        calls[0] += 1
        if calls[0] == nth and not terminated:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as other:
                assert other.execute(sa.text("SELECT pg_terminate_backend(:p)"),
                                     {"p": pid}).scalar()
            admin.dispose()
            terminated.append(pid)
        return written

    monkeypatch.setattr(engine_module, "bulk_insert", terminating)
    monkeypatch.setattr(scd2_module, "bulk_insert", terminating)
    return terminated


class DroppingProxy:
    """A TCP proxy to `target` that cuts its first connection after passing `budget` bytes
    from the server to the client (a department database going away mid-read); later
    connections pass whole, as a restarted server's would."""

    def __init__(self, target: tuple[str, int], budget: int):
        self.target, self.budget = target, budget
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection(self.target)
            limit = self.budget if self.connections == 1 else None
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, limit), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        passed = 0
        try:
            while chunk := source.recv(8192):
                if limit is not None and passed + len(chunk) > limit:
                    sink.sendall(chunk[:limit - passed])
                    self.dropped.set()
                    break
                sink.sendall(chunk)
                passed += len(chunk)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        self.listener.close()


@contextmanager
def small_filesystem(path: Path, size: str):
    """A tmpfs of `size` mounted at `path` (root only); yields a function that grows it."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode:
        raise OSError(f"cannot mount a tmpfs at {path}: {mounted.stderr.strip()}")

    def grow(new_size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={new_size}", str(path)], check=True)

    try:
        yield grow
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
