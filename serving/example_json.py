"""The JSON of :classify and :regress (json_tensor.cc): tf.Examples in, results out."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from serving import errors
from serving.tensor_json import debug_string, decode_base64_object, format_decimals, is_base64_object, json_type

CONTEXT_KEY = "context"
EXAMPLES_KEY = "examples"

_KIND_NAMES = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64", None: "UNKNOWN"}


def _incompatible_kind(name: str, feature: feature_pb2.Feature) -> errors.ServingError:
    return errors.invalid_argument(
        f"Unexpected element type in feature: {name} expecting type: {_KIND_NAMES[feature.WhichOneof('kind')]}")


def _add_value(value: Any, name: str, feature: feature_pb2.Feature) -> None:
    """AddValueToFeature: the first value fixes the feature's kind."""
    kind = feature.WhichOneof("kind")

    def require(expected: str) -> None:
        if kind not in (None, expected):
            raise _incompatible_kind(name, feature)

    if isinstance(value, bool):
        require("int64_list")
        feature.int64_list.value.append(int(value))
    elif isinstance(value, str):
        require("bytes_list")
        feature.bytes_list.value.append(value.encode("utf-8"))
    elif isinstance(value, dict) and is_base64_object(value):
        require("bytes_list")
        feature.bytes_list.value.append(decode_base64_object(value))
    elif isinstance(value, float):
        require("float_list")
        feature.float_list.value.append(value)
    elif isinstance(value, int):
        require("int64_list")
        if value >= 2**63:
            raise errors.invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(value)
    else:
        raise errors.invalid_argument(f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")


def example_from_json(value: Any) -> example_pb2.Example:
    """MakeExampleFromJsonObject: {"feature": value | [values]}."""
    if not isinstance(value, dict):
        raise errors.invalid_argument(f"Example must be JSON object but got JSON {json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in content if isinstance(content, list) else [content]:
            _add_value(item, name, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def input_from_json(doc: dict) -> input_pb2.Input:
    """FillClassifyRegressRequestFromJson: optional `context`, required non-empty `examples`."""
    request_input = input_pb2.Input()
    has_context = CONTEXT_KEY in doc
    if has_context:
        request_input.example_list_with_context.context.CopyFrom(example_from_json(doc[CONTEXT_KEY]))
    if EXAMPLES_KEY not in doc:
        raise errors.invalid_argument(
            f"JSON Value: {debug_string(doc)} When method is classify, key 'examples' is expected and was not found")
    examples = doc[EXAMPLES_KEY]
    if not isinstance(examples, list):
        raise errors.invalid_argument(f"JSON Value: {debug_string(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise errors.invalid_argument(f"JSON Value: {debug_string(doc)} 'examples' value is an empty array")
    target = (request_input.example_list_with_context.examples if has_context
              else request_input.example_list.examples)
    for value in examples:
        target.add().CopyFrom(example_from_json(value))
    return request_input


def _decimal(value: float) -> str:
    return format_decimals(np.asarray(value, dtype=np.float32)).item()


def classification_json(result: classification_pb2.ClassificationResult) -> str:
    """MakeJsonFromClassificationResult: per example, [[label, score], ...]."""
    if not result.classifications:
        raise errors.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classifications in result.classifications:
        pairs = ", ".join(f"[{json.dumps(c.label, ensure_ascii=False)}, {_decimal(c.score)}]"
                          for c in classifications.classes)
        rows.append(f"[{pairs}]")
    return '{\n    "results": [\n        ' + ",\n        ".join(rows) + "\n    ]\n}"


def regression_json(result: regression_pb2.RegressionResult) -> str:
    """MakeJsonFromRegressionResult: one value per example."""
    if not result.regressions:
        raise errors.invalid_argument("Cannot convert empty RegressionResults to JSON")
    values = ", ".join(_decimal(r.value) for r in result.regressions)
    return '{\n    "results": [' + values + "]\n}"
