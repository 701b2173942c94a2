"""One loaded SavedModel version: its SignatureDefs (for metadata and validation) and callables."""
from __future__ import annotations

import ctypes
import gc
import os
from typing import Mapping

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import errors

try:  # registers in-graph tokenizer ops (RegexSplitWithOffsets, ...) before any model loads
    import tensorflow_text  # noqa: F401
except ImportError:  # models without text ops still serve
    pass
try:  # registers ScaNN's ops, which a model exported with `retrieval.index: scann` uses
    from scann.scann_ops.py import scann_ops  # noqa: F401
except ImportError:
    pass

SERVE_TAG = "serve"


def read_signature_defs(path: str, tags: tuple[str, ...] = (SERVE_TAG,)) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDef map of the MetaGraph tagged `tags`, exactly as stored in saved_model.pb."""
    saved_model = saved_model_pb2.SavedModel()
    pb_path = os.path.join(path, "saved_model.pb")
    if tf.io.gfile.exists(pb_path):
        with tf.io.gfile.GFile(pb_path, "rb") as f:
            saved_model.ParseFromString(f.read())
    else:
        with tf.io.gfile.GFile(os.path.join(path, "saved_model.pbtxt"), "r") as f:
            text_format.Parse(f.read(), saved_model)
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    raise errors.not_found(f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}")


class SavedModelServable:
    """A SavedModel version loaded with tf.saved_model.load, callable by signature name."""

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = read_signature_defs(path)
        self._model = tf.saved_model.load(path, tags=[SERVE_TAG])
        self._functions = dict(self._model.signatures)

    def __repr__(self) -> str:
        return f"SavedModelServable({self.name!r}, {self.version})"

    def has_function(self, signature_name: str) -> bool:
        return signature_name in self._functions

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one signature on already validated inputs; blocking, call it off the event loop."""
        function = self._functions[signature_name]
        try:
            outputs = function(**{alias: tf.convert_to_tensor(value) for alias, value in inputs.items()})
        except tf.errors.OpError as exc:
            raise errors.ServingError(errors.code_from_int(exc.error_code), exc.message) from exc
        except (TypeError, ValueError) as exc:
            raise errors.invalid_argument(str(exc)) from exc
        return {alias: tensor.numpy() for alias, tensor in outputs.items()}

    def release(self) -> None:
        """Drops the loaded graph; TF frees it once no request references it."""
        self._functions = {}
        self._model = None


def return_freed_memory() -> None:
    """Gives what unloaded versions freed back to the OS: Python's cycles first, then glibc's free lists.

    Without it every version swap leaves the process a little larger (freed pages stay in
    malloc's arenas), which reads as a leak over hours of pushes.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
