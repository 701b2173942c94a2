"""The model server's files at the serving root: models.config and batching_parameters.txt.

models.config lists every model directory under the serving root that holds at least
one numeric version (TF Serving waits at start-up until each listed model has one),
with absolute base paths: the deploy manifests mount the serving root at the same
path inside the container, so one file serves `unirec serve` and the official image.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components.serving_pusher.publish import existing_versions, is_remote
from serving.config import BatchingParameters

MODELS_CONFIG_FILE = "models.config"
BATCHING_PARAMETERS_FILE = "batching_parameters.txt"


@dataclasses.dataclass(frozen=True)
class BatchingDefaults:
    """CPU starting points from TF Serving's batching guide.

    num_batch_threads is the serving container's cores. max_batch_size counts rows,
    not requests, and must hold the largest single request (a ranking call scores
    every retrieved candidate at once). A short timeout lets concurrent requests
    meet; the queue is deep enough never to reject a burst.
    """

    num_batch_threads: int = 4
    max_batch_size: int = 1024
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 1000


def served_model_paths(serving_root: str) -> dict[str, str]:
    """{model name: base path} for each non-hidden directory with a version in it."""
    if not tf.io.gfile.isdir(serving_root):
        return {}
    if not is_remote(serving_root):
        serving_root = os.path.abspath(serving_root)
    models = {}
    for name in sorted(entry.rstrip("/") for entry in tf.io.gfile.listdir(serving_root)):
        base_path = os.path.join(serving_root, name)
        if not name.startswith(".") and tf.io.gfile.isdir(base_path) and existing_versions(base_path):
            models[name] = base_path
    return models


def models_config_text(model_paths: dict[str, str]) -> str:
    config = model_server_config_pb2.ModelServerConfig()
    for name, base_path in sorted(model_paths.items()):
        config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
    return text_format.MessageToString(config)


def batching_parameters_text(defaults: BatchingDefaults) -> str:
    params = BatchingParameters()
    for field in dataclasses.fields(defaults):
        getattr(params, field.name).value = getattr(defaults, field.name)
    return text_format.MessageToString(params)


def write_text_atomically(path: str, text: str) -> None:
    """Readers see the old file or the new one, never a partial write."""
    if is_remote(path):  # object stores replace an object in one step
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
        return
    directory = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(descriptor, "w") as f:
            f.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_server_configs(serving_root: str, batching: BatchingDefaults) -> None:
    """(Re)writes both files from what is under the serving root now."""
    write_text_atomically(os.path.join(serving_root, MODELS_CONFIG_FILE),
                          models_config_text(served_model_paths(serving_root)))
    write_text_atomically(os.path.join(serving_root, BATCHING_PARAMETERS_FILE), batching_parameters_text(batching))
