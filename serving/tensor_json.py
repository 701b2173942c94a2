"""TF Serving's JSON tensor encoding (tensorflow_serving/util/json_tensor.cc) in Python.

Requests: `instances` (row format) or `inputs` (columnar format), `{"b64": ...}` for
binary strings, optional `signature_name`. Responses: `predictions` or `outputs`,
floats written the way TF Serving writes them (shortest %g form that round-trips,
".0" on whole numbers, NaN/Infinity tokens), DT_STRING outputs whose names end in
`_bytes` as `{"b64": ...}`. Error messages follow the C++ text.
"""
from __future__ import annotations

import base64
import binascii
import enum
import json
from typing import Any, Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving import errors
from serving.tensor_proto import dtype_name

SIGNATURE_KEY = "signature_name"
INSTANCES_KEY = "instances"
INPUTS_KEY = "inputs"
BASE64_KEY = "b64"
BYTES_SUFFIX = "_bytes"
_MAX_DEBUG_CHARS = 256
# numpy's limit on dimensions; deeper lists cannot become a tensor here.
MAX_RANK = 32

_INT_RANGES = {
    types_pb2.DT_INT32: (-(2**31), 2**31),
    types_pb2.DT_INT16: (-(2**31), 2**31),  # rapidjson IsInt(); narrowing happens in the tensor
    types_pb2.DT_INT8: (-(2**31), 2**31),
    types_pb2.DT_UINT8: (-(2**31), 2**31),
    types_pb2.DT_INT64: (-(2**63), 2**63),
    types_pb2.DT_UINT32: (0, 2**32),
    types_pb2.DT_UINT64: (0, 2**64),
}
_FLOAT_TYPES = (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE)


class RequestFormat(enum.Enum):
    ROW = "instances"
    COLUMNAR = "inputs"


def debug_string(value: Any) -> str:
    """A JSON value for error messages, truncated like JsonValueToDebugString."""
    return json.dumps(value, ensure_ascii=False)[:_MAX_DEBUG_CHARS]


def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def parse_json_object(body: bytes) -> dict:
    """ParseJson: a JSON object (NaN/Infinity allowed, trailing bytes after it ignored)."""
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}")
    stripped = text.lstrip()
    if not stripped:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        doc, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as exc:
        offset = exc.pos + len(text) - len(stripped)
        raise errors.invalid_argument(f"JSON Parse error: {exc.msg} at offset: {offset}")
    except RecursionError:
        raise errors.invalid_argument("JSON Parse error: the document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise errors.invalid_argument(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


def signature_name_of(doc: dict) -> str:
    """The optional `signature_name` ("" when absent)."""
    name = doc.get(SIGNATURE_KEY, "")
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key must be a string value.")
    return name


def _type_error(value: Any, dtype: int) -> errors.ServingError:
    return errors.invalid_argument(
        f"JSON Value: {debug_string(value)} Type: {json_type(value)} is not of expected type: {dtype_name(dtype)}")


def is_base64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(BASE64_KEY), str)


def decode_base64_object(value: Any) -> bytes:
    if not is_base64_object(value):
        raise errors.invalid_argument(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    encoded = value[BASE64_KEY]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_argument("Unable to base64 decode") from None


def _leaf_value(value: Any, dtype: int) -> Any:
    """AddValueToTensor (plus the b64 object case of FillTensorProto)."""
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict):
            return decode_base64_object(value)
        raise _type_error(value, dtype)
    if isinstance(value, dict) or value is None:
        raise _type_error(value, dtype)
    if dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
        raise _type_error(value, dtype)
    if isinstance(value, bool):
        raise _type_error(value, dtype)
    if dtype in _FLOAT_TYPES:
        if isinstance(value, (int, float)):
            return float(value)
        raise _type_error(value, dtype)
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, int) and low <= value < high:
            return value
        raise _type_error(value, dtype)
    raise errors.unimplemented(f"Conversion of JSON Value: {debug_string(value)} to type: {dtype_name(dtype)}")


def _dense_shape(value: Any) -> list[int]:
    """GetDenseTensorShape: list nesting, following the first element at each level."""
    shape = []
    while isinstance(value, list):
        if len(shape) == MAX_RANK:
            raise errors.invalid_argument(f"JSON list nested deeper than a tensor's maximum rank ({MAX_RANK})")
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    """FillTensorProto: every leaf at depth rank, every list the size its level expects."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise errors.invalid_argument(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}")
        out.append(_leaf_value(value, dtype))
        return
    if level >= rank:
        raise errors.invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise errors.invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _numpy_dtype(dtype: int) -> np.dtype:
    return np.dtype(object) if dtype == types_pb2.DT_STRING else np.dtype(tf.as_dtype(dtype).as_numpy_dtype)


def _to_array(values: list, shape: list[int], dtype: int) -> np.ndarray:
    if len(shape) > MAX_RANK:  # `instances` adds a dimension to each instance's own
        raise errors.invalid_argument(f"Tensor of rank {len(shape)} is deeper than the maximum rank ({MAX_RANK})")
    array = np.empty(len(values), dtype=_numpy_dtype(dtype))
    array[:] = values
    return array.reshape(shape)


def tensor_from_json(value: Any, dtype: int) -> np.ndarray:
    """One tensor from its natural nested-list JSON form."""
    shape = _dense_shape(value)
    values: list = []
    _fill(value, 0, shape, dtype, values)
    return _to_array(values, shape, dtype)


def _tensors_from_instances(instances: list, infos: Mapping[str, meta_graph_pb2.TensorInfo]) -> dict[str, np.ndarray]:
    """FillTensorMapFromInstancesList: each instance is one row of every named input."""
    first = instances[0]
    if not isinstance(first, dict) and len(infos) > 1:
        raise errors.invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map")

    def is_named_row(value: Any) -> bool:
        return isinstance(value, dict) and not is_base64_object(value)

    named_rows = is_named_row(first)
    input_names = sorted(infos)
    values: dict[str, list] = {}
    shapes: dict[str, list[int]] = {}

    def add_item(item: Any, name: str) -> None:
        if name not in infos:
            raise errors.invalid_argument(f"JSON object: does not have named input: {name}")
        shape = _dense_shape(item)
        row: list = []
        _fill(item, 0, shape, infos[name].dtype, row)
        if name not in shapes:
            shapes[name] = shape
            values[name] = row
        elif len(row) != int(np.prod(shapes[name])):
            raise errors.invalid_argument(f"Expecting tensor size: {int(np.prod(shapes[name]))} but got: {len(row)}")
        elif shape != shapes[name]:
            raise errors.invalid_argument(f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}")
        else:
            values[name].extend(row)

    for index, instance in enumerate(instances):
        if named_rows:
            if not is_named_row(instance):
                raise errors.invalid_argument(f"Expecting object but got list at item {index} of input list")
            for name, item in instance.items():
                try:
                    add_item(item, name)
                except errors.ServingError as exc:
                    raise errors.invalid_argument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. Error: "
                        f"{_status_text(exc)}") from None
            if sorted(instance) != input_names:
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(instance)} keys must be equal to: {','.join(input_names)}")
        else:
            if is_named_row(instance):
                raise errors.invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                add_item(instance, input_names[0])
            except errors.ServingError as exc:
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {_status_text(exc)}") from None
    return {
        name: _to_array(values[name], [len(instances)] + shapes[name], infos[name].dtype)
        for name in values
    }


def _shape_text(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _status_text(exc: errors.ServingError) -> str:
    """absl::Status::ToString() of a nested error."""
    return f"{exc.code.name}: {exc.message}"


def _tensors_from_inputs(inputs: Any, infos: Mapping[str, meta_graph_pb2.TensorInfo]) -> dict[str, np.ndarray]:
    """FillTensorMapFromInputsMap: one value for a single input, else an object of named inputs."""
    if not isinstance(inputs, dict) or is_base64_object(inputs):
        if len(infos) > 1:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map")
        name = sorted(infos)[0]
        return {name: tensor_from_json(inputs, infos[name].dtype)}
    tensors = {}
    for name in sorted(infos):
        if name not in inputs:
            raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = tensor_from_json(inputs[name], infos[name].dtype)
    return tensors


def tensors_from_predict_json(
    doc: dict, signature_name: str, infos: Mapping[str, meta_graph_pb2.TensorInfo]
) -> tuple[RequestFormat, dict[str, np.ndarray]]:
    """FillPredictRequestFromJson after the signature's input TensorInfos are known."""
    if not infos:
        raise errors.invalid_argument(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
    if INSTANCES_KEY in doc:
        if INPUTS_KEY in doc:
            raise errors.invalid_argument(
                f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only one of 'inputs' or "
                "'instances' keys to exist ")
        instances = doc[INSTANCES_KEY]
        if not isinstance(instances, list):
            raise errors.invalid_argument(f"JSON Value: {debug_string(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise errors.invalid_argument(f"JSON Value: {debug_string(doc)} No values in 'instances' array")
        return RequestFormat.ROW, _tensors_from_instances(instances, infos)
    if INPUTS_KEY in doc:
        return RequestFormat.COLUMNAR, _tensors_from_inputs(doc[INPUTS_KEY], infos)
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


# ---- responses ------------------------------------------------------------------


def format_decimals(values: np.ndarray) -> np.ndarray:
    """WriteDecimal for a float array: texts of the same shape."""
    flat = values.ravel()
    wide = flat.astype(np.float64)
    texts = np.array(["%g" % value for value in wide.tolist()], dtype=object)
    finite = np.isfinite(flat)
    if finite.any():
        round_trips = np.zeros_like(finite)
        round_trips[finite] = texts[finite].astype(str).astype(flat.dtype) == flat[finite]
        precise = finite & ~round_trips
        if precise.any():
            digits = 9 if flat.dtype == np.float32 else 17
            texts[precise] = [f"%.{digits}g" % value for value in wide[precise].tolist()]
    for i in np.flatnonzero(finite):
        if "." not in texts[i] and "e" not in texts[i]:
            texts[i] += ".0"
    texts[np.isnan(flat)] = "NaN"
    texts[np.isposinf(flat)] = "Infinity"
    texts[np.isneginf(flat)] = "-Infinity"
    return texts.reshape(values.shape)


def _string_text(value: bytes, as_bytes: bool) -> str:
    if as_bytes:
        return '{"b64": "' + base64.b64encode(value).decode("ascii") + '"}'
    return json.encoder.encode_basestring(value.decode("utf-8", errors="replace"))  # json.dumps, minus its set-up


def _leaf_texts(values: np.ndarray, as_bytes: bool) -> np.ndarray:
    kind = values.dtype.kind
    if kind == "f":
        return format_decimals(values)
    if kind in ("i", "u"):
        return values.astype(str).astype(object)
    if kind == "b":
        return np.where(values, "true", "false").astype(object)
    texts = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        texts[index] = _string_text(value if isinstance(value, bytes) else str(value).encode(), as_bytes)
    return texts


def _nest(texts: np.ndarray | str) -> str:
    if isinstance(texts, str):
        return texts
    if texts.ndim == 0:
        return texts.item()
    if texts.ndim == 1:
        return "[" + ", ".join(texts.tolist()) + "]"
    return "[" + ", ".join(_nest(row) for row in texts) + "]"


def is_bytes_output(name: str, values: np.ndarray) -> bool:
    """IsNamedTensorBytes: DT_STRING outputs named `*_bytes` are written as b64."""
    return values.dtype.kind in ("O", "S") and name.endswith(BYTES_SUFFIX)


def tensor_json(name: str, values: np.ndarray) -> str:
    return _nest(_leaf_texts(np.asarray(values), is_bytes_output(name, values)))


def _row_format_json(outputs: Mapping[str, np.ndarray]) -> str:
    batch_size = -1
    for name in sorted(outputs):
        values = outputs[name]
        if values.ndim == 0:
            raise errors.invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch_size >= 0 and values.shape[0] != batch_size:
            raise errors.invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {values.shape[0]} expecting: {batch_size}")
        batch_size = values.shape[0]
    texts = {name: _leaf_texts(values, is_bytes_output(name, values)) for name, values in outputs.items()}
    rows = []
    for item in range(batch_size):
        if len(texts) == 1:
            rows.append(_nest(next(iter(texts.values()))[item]))
        else:
            members = ",\n".join(f"            {json.dumps(name)}: {_nest(texts[name][item])}" for name in sorted(texts))
            rows.append("{\n" + members + "\n        }")
    if not rows:
        return '{\n    "predictions": []\n}'
    return '{\n    "predictions": [\n        ' + ",\n        ".join(rows) + "\n    ]\n}"


def _columnar_format_json(outputs: Mapping[str, np.ndarray]) -> str:
    if len(outputs) == 1:
        name, values = next(iter(outputs.items()))
        return '{\n    "outputs": ' + tensor_json(name, values) + "\n}"
    members = ",\n".join(f"        {json.dumps(name)}: {tensor_json(name, outputs[name])}" for name in sorted(outputs))
    return '{\n    "outputs": {\n' + members + "\n    }\n}"


def predict_response_json(outputs: Mapping[str, np.ndarray], request_format: RequestFormat) -> str:
    """MakeJsonFromTensors: `predictions` for row requests, `outputs` for columnar ones."""
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    outputs = {name: np.asarray(values) for name, values in outputs.items()}
    if request_format is RequestFormat.ROW:
        return _row_format_json(outputs)
    return _columnar_format_json(outputs)


def error_json(message: str) -> str:
    """MakeJsonFromStatus."""
    return '{\n    "error": ' + json.dumps(message, ensure_ascii=False) + "\n}"
