"""One run at a time per output folder: an OS lock beside the metadata store.

Two LocalDagRunner runs on one SQLite store race on the same executions and
artifacts. The lock is an fcntl lock, so the kernel releases it when its holder
exits in any way, a SIGKILL included: a killed run never blocks the next one.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

LOCK_FILE = "run.lock"


class RunLockedError(RuntimeError):
    """Another run holds the output folder."""


@contextlib.contextmanager
def hold(metadata_path: str) -> Iterator[None]:
    """Holds the lock of the store at `metadata_path` for the duration of the block."""
    folder = os.path.dirname(os.path.abspath(metadata_path))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunLockedError(
                f"another pipeline run (pid {holder}) is using the metadata store {metadata_path}; wait for it to "
                f"finish or stop it, or give this run another --output-dir") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
