"""One push: publish the version with its warmup requests, then refresh the server's files."""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import tensorflow as tf

from components.serving_pusher import publish, server_configs, warmup_requests
from serving.errors import ServingError
from serving.servable import SavedModelServable
from serving.warmup import run_warmup

log = logging.getLogger(__name__)

# Enough to roll back a few pushes by hand; every version is a full SavedModel copy.
DEFAULT_KEEP_VERSIONS = 5


class WarmupError(RuntimeError):
    """The model fails its own warmup requests."""


@dataclasses.dataclass(frozen=True)
class PushResult:
    version: int
    version_dir: str
    warmup_records: int


def add_warmup(model_dir: str, model_name: str, candidates: Sequence[tf.train.Example],
               signatures: Sequence[str] = ()) -> int:
    """Writes the warmup file (an unknown user's requests about the `candidates`,
    catalogue rows) into `model_dir`, then replays it as the server would.

    A record that fails makes TF Serving refuse the whole version, so a bad file
    fails the push here instead of the deployment later. Returns the record count.
    """
    logs = warmup_requests.warmup_logs(model_dir, model_name, candidates, signatures)
    warmup_requests.write_warmup_file(model_dir, logs)
    servable = SavedModelServable(model_name, 0, model_dir)
    try:
        return run_warmup(servable)
    except ServingError as exc:
        raise WarmupError(
            f"the warmup requests for {model_name} fail, so TF Serving would refuse to load the version: "
            f"{exc.message}\nGive the pusher `examples` (their catalogue rows) or name the `warmup_signatures` "
            "to warm.") from exc
    finally:
        servable.release()


def push(model_dir: str, serving_root: str, model_name: str,
         candidates: Sequence[tf.train.Example] = (), warmup_signatures: Sequence[str] = (),
         batching: server_configs.BatchingDefaults = server_configs.BatchingDefaults(),
         keep_versions: int = DEFAULT_KEEP_VERSIONS) -> PushResult:
    """Publishes `model_dir` as `<serving_root>/<model_name>/<new version>/`, keeping the newest
    `keep_versions` versions (older ones are deleted once the new one is in place)."""
    warmup_records = 0

    def prepare(staged_dir: str) -> None:
        nonlocal warmup_records
        warmup_records = add_warmup(staged_dir, model_name, candidates, warmup_signatures)

    version, version_dir = publish.publish_version(model_dir, os.path.join(serving_root, model_name), prepare)
    log.info("Published %s version %d at %s with %d warmup requests", model_name, version, version_dir, warmup_records)
    deleted = publish.prune_versions(os.path.join(serving_root, model_name), keep_versions)
    if deleted:
        log.info("Deleted %s versions %s (keeping the newest %d)", model_name, deleted, keep_versions)
    server_configs.write_server_configs(serving_root, batching)
    return PushResult(version, version_dir, warmup_records)
