"""Units without a server: JSON encoding details, config files, CLI flag rules."""
from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving import cli, config, errors, tensor_json


@pytest.mark.parametrize("value, text", [
    (0.1, "0.1"), (3.0, "3.0"), (-0.0, "-0.0"), (1e6, "1e+06"), (1.5e-5, "1.5e-05"),
    (0.268941421, "0.268941432"), (np.nan, "NaN"), (np.inf, "Infinity"), (-np.inf, "-Infinity"),
])
def test_float32_written_like_tf_serving(value, text):
    assert tensor_json.format_decimals(np.array([value], np.float32)).tolist() == [text]


def test_float64_uses_double_precision():
    assert tensor_json.format_decimals(np.array([0.1 + 0.2])).tolist() == ["0.30000000000000004"]


def _infos(**dtypes: int) -> dict[str, meta_graph_pb2.TensorInfo]:
    return {name: meta_graph_pb2.TensorInfo(dtype=dtype) for name, dtype in dtypes.items()}


def test_row_format_builds_batch_major_tensors():
    infos = _infos(a=types_pb2.DT_FLOAT, b=types_pb2.DT_STRING)
    doc = {"instances": [{"a": [1, 2], "b": {"b64": "eA=="}}, {"a": [3, 4], "b": "y"}]}
    request_format, tensors = tensor_json.tensors_from_predict_json(doc, "", infos)
    assert request_format is tensor_json.RequestFormat.ROW
    assert tensors["a"].dtype == np.float32 and tensors["a"].tolist() == [[1, 2], [3, 4]]
    assert tensors["b"].tolist() == [b"x", b"y"]


@pytest.mark.parametrize("doc, message", [
    ({"instances": [[1.0], [1.0, 2.0]]}, "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
                                         "Expecting tensor size: 1 but got: 2"),
    ({"instances": [True]}, "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
                            "JSON Value: true Type: True is not of expected type: float"),
    ({"inputs": [[1.0], 2.0]}, "JSON Value: 2.0 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
])
def test_malformed_tensors(doc, message):
    with pytest.raises(errors.ServingError) as raised:
        tensor_json.tensors_from_predict_json(doc, "", _infos(x=types_pb2.DT_FLOAT))
    assert raised.value.message == message


def test_json_parse_tolerates_trailing_bytes_like_rapidjson():
    assert tensor_json.parse_json_object(b'{"inputs": [1]} trailing') == {"inputs": [1]}


def test_row_output_needs_one_batch_size():
    with pytest.raises(errors.ServingError, match="inconsistent batch size"):
        tensor_json.predict_response_json({"a": np.zeros([2]), "b": np.zeros([3])}, tensor_json.RequestFormat.ROW)


def test_config_files():
    options = config.parse_batching_parameters("max_batch_size { value: 8 } batch_timeout_micros { value: 500 }")
    assert (options.max_batch_size, options.batch_timeout_micros, options.max_enqueued_batches) == (8, 500, 10)
    assert config.parse_monitoring_config("prometheus_config { enable: true }") == config.PrometheusOptions(
        True, "/monitoring/prometheus/metrics")
    with pytest.raises(ValueError, match="base_path"):
        config.parse_model_server_config('model_config_list { config { name: "a" } }')


@pytest.mark.parametrize("argv, message", [
    (["--model_name=x"], "Both --model_base_path and --model_config_file are empty!"),
    (["--model_base_path=/m", "--batching_parameters_file=/b"], "without setting --enable_batching"),
])
def test_cli_rejects_what_tf_serving_rejects(argv, message):
    with pytest.raises(ValueError, match=message):
        cli.options_from_flags(cli.build_parser().parse_args(argv))


def test_cli_defaults_match_tf_serving():
    flags = cli.build_parser().parse_args(["--model_base_path=/m", "--enable_batching=false"])
    options = cli.options_from_flags(flags)
    assert (options.grpc_port, options.rest_api_port, options.host) == (8500, 0, "127.0.0.1")
    assert options.batching is None and not options.prometheus.enable
    assert options.model_server_config.model_config_list.config[0].name == "default"


def test_cli_exits_non_zero_when_a_model_cannot_load(tmp_path):
    (tmp_path / "1").mkdir()  # a version directory without a SavedModel
    assert cli.main([f"--model_base_path={tmp_path}", "--port=1", "--file_system_poll_wait_seconds=0"]) == 1
