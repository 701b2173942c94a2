"""Publishes a SavedModel as a new numeric version under a TF Serving model base path.

A model server polls the base path and loads any numeric directory it finds, so a
version must appear complete or not at all. On a local file system the version is
assembled in a hidden directory beside its final place and renamed into it (one
atomic rename). Object stores (gs://, ...) have no atomic directory rename; there
the version is assembled locally and uploaded with saved_model.pb last, the file
TF Serving and TFX treat as the sign that a SavedModel is complete.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from typing import Callable

import tensorflow as tf

SAVED_MODEL_FILE = "saved_model.pb"
STAGING_PREFIX = ".staging-"
_VERSION_DIR = re.compile(r"^\d+$")
_STAGING_DIR = re.compile(r"^\.staging-(\d+)-")
_MAX_RENAME_ATTEMPTS = 5

# Called on the assembled, not yet visible version directory (e.g. to add warmup requests).
Prepare = Callable[[str], None]


def is_remote(path: str) -> bool:
    return "://" in path


def existing_versions(base_path: str) -> list[int]:
    """The numeric version directories under a base path (none if it does not exist)."""
    if not tf.io.gfile.isdir(base_path):
        return []
    return sorted(int(name.rstrip("/")) for name in tf.io.gfile.listdir(base_path)
                  if _VERSION_DIR.match(name.rstrip("/")))


def next_version(base_path: str, now: float | None = None) -> int:
    """The Unix time, like the stock Pusher, but always above every existing version.

    TF Serving serves the highest version, so a push must never land below one.
    """
    now = time.time() if now is None else now
    return max([int(now)] + [version + 1 for version in existing_versions(base_path)])


def publish_version(model_dir: str, base_path: str, prepare: Prepare | None = None) -> tuple[int, str]:
    """Copies `model_dir` to `<base_path>/<new version>`; returns the version and its directory."""
    if is_remote(base_path):
        return _publish_remote(model_dir, base_path, prepare)
    return _publish_local(model_dir, base_path, prepare)


def _staging_dir(base_path: str, kind: str) -> str:
    """A hidden directory named after this process, so a later push can tell it was abandoned."""
    return os.path.join(base_path, f"{STAGING_PREFIX}{os.getpid()}-{kind}-{uuid.uuid4().hex}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_abandoned_staging(base_path: str) -> list[str]:
    """Deletes staging directories whose pusher died (killed mid-copy); returns their names."""
    removed = []
    for name in os.listdir(base_path) if os.path.isdir(base_path) else []:
        match = _STAGING_DIR.match(name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(os.path.join(base_path, name), ignore_errors=True)
            removed.append(name)
    return removed


def _publish_local(model_dir: str, base_path: str, prepare: Prepare | None) -> tuple[int, str]:
    os.makedirs(base_path, exist_ok=True)
    remove_abandoned_staging(base_path)
    staging = _staging_dir(base_path, "new")
    try:
        shutil.copytree(model_dir, staging)
        if prepare is not None:
            prepare(staging)
        for _ in range(_MAX_RENAME_ATTEMPTS):
            version = next_version(base_path)
            target = os.path.join(base_path, str(version))
            try:
                os.rename(staging, target)
            except OSError:  # another pusher took this version a moment ago
                if not os.path.isdir(target):
                    raise
                continue
            return version, target
        raise RuntimeError(f"could not claim a new version under {base_path}: other pushers keep taking them")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish_remote(model_dir: str, base_path: str, prepare: Prepare | None) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as scratch:
        staging = os.path.join(scratch, "version")
        _copy_tree(model_dir, staging)
        if prepare is not None:
            prepare(staging)
        version = next_version(base_path)
        target = f"{base_path.rstrip('/')}/{version}"
        _copy_tree(staging, target, last=SAVED_MODEL_FILE)
    return version, target


def _copy_tree(source: str, destination: str, last: str | None = None) -> None:
    """Recursive tf.io.gfile copy; the top-level file named `last` is copied after everything else."""
    deferred = []
    for directory, _, files in tf.io.gfile.walk(source):
        relative = os.path.relpath(directory, source)
        target_dir = destination if relative == "." else f"{destination.rstrip('/')}/{relative}"
        tf.io.gfile.makedirs(target_dir)
        for name in files:
            pair = (os.path.join(directory, name), f"{target_dir.rstrip('/')}/{name}")
            if relative == "." and name == last:
                deferred.append(pair)
            else:
                tf.io.gfile.copy(*pair, overwrite=True)
    for pair in deferred:
        tf.io.gfile.copy(*pair, overwrite=True)


def prune_versions(base_path: str, keep: int) -> list[int]:
    """Deletes all but the newest `keep` versions; returns the deleted ones.

    A local version is first renamed to a hidden name, so a polling server sees it
    leave at once rather than a numeric directory losing files.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    old = existing_versions(base_path)[:-keep]
    for version in old:
        path = f"{base_path.rstrip('/')}/{version}"
        if is_remote(base_path):
            tf.io.gfile.rmtree(path)
            continue
        retired = _staging_dir(base_path, f"retired-{version}")
        os.rename(path, retired)
        shutil.rmtree(retired, ignore_errors=True)
    return old
