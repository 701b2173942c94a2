"""TF Serving warmup requests (assets.extra/tf_serving_warmup_requests) for a SavedModel.

One PredictionLog per signature and batch size: the first row alone and all rows
together. The rows are synthetic, so that no personal data ships with the model:
an unknown user (empty id, empty or zero user fields) whose history is a few
catalogue items, asking about a catalogue item (`unknown_user_examples`). Inputs
are matched to the rows' features by name (scalar features -> [batch], list
features -> [batch, length] padded with ""/0); an input no row names gets the
serialized rows if it is a [batch] string (a signature that parses tf.Examples),
else empty strings or zeros.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from models import features
from serving.servable import read_signature_defs
from serving.warmup import WARMUP_FILE

# The warmup rows' history lengths cycle through 0..this, so padding is exercised.
MAX_WARMUP_HISTORY = 3

# Signatures of these methods take serialized Examples through the Classify/Regress APIs.
_EXAMPLE_METHODS = ("tensorflow/serving/classify", "tensorflow/serving/regress")
# SavedModel's own entries in the signature map (__saved_model_init_op), not callable signatures.
_INTERNAL_PREFIX = "__saved_model_"


def read_examples(split_dir: str, count: int) -> list[tf.train.Example]:
    """The first `count` tf.Examples of a split directory (TFRecord files, gzipped or not)."""
    files = sorted(tf.io.gfile.glob(os.path.join(split_dir, "*")))
    if not files:
        raise FileNotFoundError(f"no example files in {split_dir}")
    compression = "GZIP" if files[0].endswith(".gz") else ""
    records = tf.data.TFRecordDataset(files, compression_type=compression).take(count)
    return [tf.train.Example.FromString(record.numpy()) for record in records]


def unknown_user_examples(candidates: Sequence[tf.train.Example],
                          signature_defs: dict[str, meta_graph_pb2.SignatureDef]) -> list[tf.train.Example]:
    """One row per catalogue row: its item features, and an unknown user (the empty id,
    empty or zero values for every user input a signature declares) whose history is
    other catalogue items. Nothing in them comes from a user of the data."""
    user_inputs = {alias: info.dtype for signature in signature_defs.values()
                   for alias, info in signature.inputs.items()
                   if alias == features.USER_ID or features.is_user_feature(alias)}
    item_ids = [(_feature_values(candidate, features.ITEM_ID) or [b""])[0] for candidate in candidates]
    rows = []
    for index, candidate in enumerate(candidates):
        row = tf.train.Example()
        row.CopyFrom(candidate)
        feature = row.features.feature
        for alias, dtype in sorted(user_inputs.items()):
            if dtype == types_pb2.DT_STRING:
                feature[alias].bytes_list.value[:] = [b""]
            elif dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF):
                feature[alias].float_list.value[:] = [0.0]
            else:
                feature[alias].int64_list.value[:] = [0]
        others = [item for item in item_ids if item != item_ids[index]]
        feature[features.HISTORY_ITEM_IDS].bytes_list.value[:] = others[:index % (MAX_WARMUP_HISTORY + 1)]
        rows.append(row)
    return rows


def warmed_signatures(signature_defs: dict[str, meta_graph_pb2.SignatureDef],
                      requested: Sequence[str] = ()) -> list[str]:
    """The requested signatures, or by default every one served through the Predict API."""
    if requested:
        missing = sorted(set(requested) - set(signature_defs))
        if missing:
            raise ValueError(f"warmup signatures {missing} are not in the model; it has {sorted(signature_defs)}")
        return list(requested)
    return sorted(name for name, signature in signature_defs.items()
                  if not name.startswith(_INTERNAL_PREFIX) and signature.method_name not in _EXAMPLE_METHODS)


def _numpy_dtype(dtype: int):
    return object if dtype == types_pb2.DT_STRING else tf.dtypes.as_dtype(dtype).as_numpy_dtype


def _feature_values(example: tf.train.Example, name: str) -> list | None:
    feature = example.features.feature.get(name)
    if feature is None:
        return None
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _dims(info: meta_graph_pb2.TensorInfo) -> list[int]:
    return [dim.size for dim in info.tensor_shape.dim]


def _from_examples(info: meta_graph_pb2.TensorInfo, columns: list[list]) -> np.ndarray:
    dtype = _numpy_dtype(info.dtype)
    pad = b"" if dtype is object else 0
    dims = _dims(info)
    if len(dims) == 1:
        return np.array([values[0] if values else pad for values in columns], dtype=dtype)
    width = dims[1] if dims[1] > 0 else max([1] + [len(values) for values in columns])
    matrix = np.full((len(columns), width), pad, dtype=dtype)
    for row, values in enumerate(columns):
        values = values[:width]
        matrix[row, :len(values)] = values
    return matrix


def _placeholder(info: meta_graph_pb2.TensorInfo, batch: int) -> np.ndarray:
    dtype = _numpy_dtype(info.dtype)
    shape = [batch] + [size if size > 0 else 1 for size in _dims(info)[1:]]
    return np.full(shape, b"" if dtype is object else 0, dtype=dtype)


def signature_inputs(signature: meta_graph_pb2.SignatureDef, examples: Sequence[tf.train.Example]) -> dict[str, np.ndarray]:
    """A batch for every input of the signature, one row per example (one row if none)."""
    batch = len(examples) or 1
    inputs = {}
    for alias, info in signature.inputs.items():
        rank = len(info.tensor_shape.dim)
        columns = [_feature_values(example, alias) for example in examples]
        if examples and rank in (1, 2) and all(values is not None for values in columns):
            inputs[alias] = _from_examples(info, columns)
        elif examples and rank == 1 and info.dtype == types_pb2.DT_STRING:
            inputs[alias] = np.array([example.SerializeToString() for example in examples], dtype=object)
        else:
            inputs[alias] = _placeholder(info, batch)
    return inputs


def predict_log(model_name: str, signature_name: str, inputs: dict[str, np.ndarray]) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def warmup_logs(model_dir: str, model_name: str, candidates: Sequence[tf.train.Example],
                signatures: Sequence[str] = ()) -> list[prediction_log_pb2.PredictionLog]:
    """Requests for each warmed signature, of an unknown user about the `candidates`
    (catalogue rows): the first alone, then all of them."""
    signature_defs = read_signature_defs(model_dir)
    examples = unknown_user_examples(candidates, signature_defs)
    batches = [examples[:1], examples] if len(examples) > 1 else [examples]
    return [predict_log(model_name, name, signature_inputs(signature_defs[name], batch))
            for name in warmed_signatures(signature_defs, signatures) for batch in batches]


def write_warmup_file(model_dir: str, logs: Sequence[prediction_log_pb2.PredictionLog]) -> str:
    """Writes the logs where TF Serving looks for them; returns the file's path."""
    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path
