"""TensorProto <-> numpy, writing outputs the way TF Serving does (typed `*_val` fields)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving import errors

# numpy kind -> (DataType, TensorProto field), mirroring Tensor::AsProtoField.
_FIELDS: dict[np.dtype, tuple[int, str]] = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
    np.dtype(np.int32): (types_pb2.DT_INT32, "int_val"),
    np.dtype(np.int16): (types_pb2.DT_INT16, "int_val"),
    np.dtype(np.int8): (types_pb2.DT_INT8, "int_val"),
    np.dtype(np.uint8): (types_pb2.DT_UINT8, "int_val"),
    np.dtype(np.uint16): (types_pb2.DT_UINT16, "int_val"),
    np.dtype(np.int64): (types_pb2.DT_INT64, "int64_val"),
    np.dtype(np.uint32): (types_pb2.DT_UINT32, "uint32_val"),
    np.dtype(np.uint64): (types_pb2.DT_UINT64, "uint64_val"),
    np.dtype(np.bool_): (types_pb2.DT_BOOL, "bool_val"),
}


def dtype_name(dtype_enum: int) -> str:
    """TF's DataTypeString: DT_FLOAT -> "float", DT_STRING -> "string"."""
    return types_pb2.DataType.Name(dtype_enum)[len("DT_"):].lower()


def dtype_enum_of(array: np.ndarray) -> int:
    if array.dtype.kind in ("O", "S", "U"):
        return types_pb2.DT_STRING
    return tf.as_dtype(array.dtype).as_datatype_enum


def to_ndarray(proto: tensor_pb2.TensorProto, alias: str) -> np.ndarray:
    """Decodes a request tensor; strings come back as an object array of bytes."""
    try:
        return tf.make_ndarray(proto)
    except Exception as exc:  # malformed content or unsupported dtype
        raise errors.invalid_argument(f"tensor parsing error: {alias}") from exc


def from_ndarray(array: np.ndarray) -> tensor_pb2.TensorProto:
    """Encodes a response tensor into typed value fields, like Tensor::AsProtoField."""
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto()
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if array.dtype.kind in ("O", "S", "U"):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in array.ravel())
        return proto
    known = _FIELDS.get(array.dtype)
    if known is None:
        return tf.make_tensor_proto(array)
    proto.dtype, field = known
    getattr(proto, field).extend(array.ravel().tolist())
    return proto
