"""SavedModel warmup: replays assets.extra/tf_serving_warmup_requests before a version serves.

Like TF Serving, each record is a PredictionLog; Predict, Classify and Regress logs are
run once (tracing the functions), and a failing record fails the load.
"""
from __future__ import annotations

import logging
import os

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving import errors
from serving.inference import CLASSIFY_INPUTS, DEFAULT_SIGNATURE, serialized_examples
from serving.servable import SavedModelServable
from serving.tensor_proto import to_ndarray

log = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


def _replay(servable: SavedModelServable, record: prediction_log_pb2.PredictionLog) -> None:
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        request = record.predict_log.request
        inputs = {alias: to_ndarray(proto, alias) for alias, proto in request.inputs.items()}
        servable.run(request.model_spec.signature_name or DEFAULT_SIGNATURE, inputs)
    elif kind in ("classify_log", "regress_log"):
        request = getattr(record, kind).request
        servable.run(request.model_spec.signature_name or DEFAULT_SIGNATURE,
                     {CLASSIFY_INPUTS: serialized_examples(request.input)})
    else:
        raise errors.unimplemented(f"Unsupported log_type for warmup: {kind}")


def run_warmup(servable: SavedModelServable) -> int:
    """Replays the version's warmup records, if any; returns how many ran."""
    path = os.path.join(servable.path, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return 0
    count = 0
    for raw in tf.data.TFRecordDataset(path):
        count += 1
        if count > MAX_WARMUP_RECORDS:
            raise errors.invalid_argument(
                f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
        _replay(servable, prediction_log_pb2.PredictionLog.FromString(raw.numpy()))
    log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, count)
    return count


def load_servable(name: str, version: int, path: str) -> SavedModelServable:
    """The registry's loader: load the SavedModel, then warm it up."""
    servable = SavedModelServable(name, version, path)
    run_warmup(servable)
    return servable
