"""Request limits: oversized, over-deep, over-long and overloading requests get TF Serving statuses, fast."""
from __future__ import annotations

import concurrent.futures
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from serving import cli
from serving_testlib import ServerProcess, http, publish_version

LIMITS = {"max_instances_per_request": 8, "max_history_length": 4, "rest_api_max_body_bytes": 4096,
          "grpc_max_receive_message_bytes": 4096, "max_enqueued_requests": 2,
          "rest_api_timeout_in_ms": 1000, "grpc_timeout_in_ms": 1000}


class SpinModel(tf.Module):
    """`spin` busies the CPU for `steps` loop iterations: a request as slow as the test needs."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
    def spin(self, steps):
        total = tf.while_loop(lambda i, acc: i < steps[0], lambda i, acc: (i + 1, acc * 0.999 + 1.0),
                              (tf.constant(0, tf.int64), tf.constant(0.0)))[1]
        return {"total": tf.fill(tf.shape(steps), total)}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string)])
    def history(self, items):
        return {"length": tf.reduce_sum(tf.cast(tf.not_equal(items, ""), tf.int32), axis=1)}


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("limited")
    model = SpinModel()
    tf.saved_model.save(model, str(root / "export"),
                        signatures={"serving_default": model.spin, "history": model.history})
    (root / "spin").mkdir()
    publish_version(root / "spin", 1, root / "export")
    flags = [f"--{name}={value}" for name, value in LIMITS.items()]
    server = ServerProcess(["--model_name=spin", f"--model_base_path={root / 'spin'}", *flags], root / "server.log")
    try:
        server.wait_ready("spin")
        yield server
    finally:
        assert server.stop() == 0, server.log_text()[-2000:]


def _steps_per_second(server) -> float:
    start = time.monotonic()
    assert http(server, "/v1/models/spin:predict", {"instances": [20000]})[0] == 200
    return 20000 / max(time.monotonic() - start, 1e-3)


def test_too_many_instances_and_too_long_histories_are_invalid_argument(limited_server):
    status, body = http(limited_server, "/v1/models/spin:predict", {"instances": [1] * 9})
    assert status == 400 and "--max_instances_per_request" in body["error"]
    status, body = http(limited_server, "/v1/models/spin:predict",
                        {"signature_name": "history", "instances": [["a", "b", "c", "d", "e"]]})
    assert status == 400 and "--max_history_length" in body["error"]
    status, body = http(limited_server, "/v1/models/spin:predict",
                        {"signature_name": "history", "instances": [["a", "b", "c", "d"]]})
    assert (status, body) == (200, {"predictions": [4]})


def test_grpc_checks_the_declared_shape_before_decoding(limited_server):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="spin", signature_name="history"))
    tensor = request.inputs["items"]
    tensor.dtype = tf.string.as_datatype_enum
    tensor.tensor_shape.dim.add(size=2)
    tensor.tensor_shape.dim.add(size=2**40)  # a few bytes declaring a huge tensor
    tensor.string_val.append(b"a")
    with grpc.insecure_channel(limited_server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "--max_history_length" in failure.value.details()


def test_oversized_bodies_and_messages_are_resource_exhausted(limited_server):
    status, body = http(limited_server, "/v1/models/spin:predict", b'{"instances": [' + b"1," * 4000 + b"1]}")
    assert status == 429 and "--rest_api_max_body_bytes" in body["error"]
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="spin"))
    request.inputs["steps"].CopyFrom(tf.make_tensor_proto(np.ones(8, np.int64)))
    request.model_spec.signature_name = "x" * 5000
    with grpc.insecure_channel(limited_server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_deeply_nested_json_is_invalid_argument(limited_server):
    for depth in (32, 200, 2000):  # 32 lists in `instances` make a tensor of rank 33
        body = b'{"instances": ' + b"[" * depth + b"]" * depth + b"}"
        status, answer = http(limited_server, "/v1/models/spin:predict", body)
        assert status == 400, answer
    status, answer = http(limited_server, "/v1/models/spin:predict", b"[" * 200_000)
    assert status in (400, 429), answer  # too deep, or (at this server's small limit) too big


def test_slow_requests_time_out_and_a_full_queue_answers_at_once(limited_server):
    slow_steps = int(_steps_per_second(limited_server) * 3)  # ~3 s of work, past the 1 s timeout
    start = time.monotonic()
    status, body = http(limited_server, "/v1/models/spin:predict", {"instances": [slow_steps]})
    assert status == 504 and "--rest_api_timeout_in_ms" in body["error"]
    assert time.monotonic() - start < 2.5

    def call(_: int) -> tuple[int, float]:
        began = time.monotonic()
        status, _ = http(limited_server, "/v1/models/spin:predict", {"instances": [slow_steps // 6]})
        return status, time.monotonic() - began

    time.sleep(3)  # let the timed-out run finish: the queue counts it until it does
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) >= 2 and statuses.count(429) >= 1, statuses
    assert all(seconds < 0.5 for status, seconds in answers if status == 429)


def test_limit_flags_parse_and_reject_nonsense():
    flags = cli.build_parser().parse_args(["--model_base_path=/m", "--max_history_length=7",
                                           "--grpc_channel_arguments=grpc.max_receive_message_length=99,a=b"])
    options = cli.options_from_flags(flags)
    assert options.limits.max_history_length == 7
    assert options.grpc_channel_arguments == {"grpc.max_receive_message_length": 99, "a": "b"}
    with pytest.raises(ValueError, match="at least 1"):
        cli.options_from_flags(cli.build_parser().parse_args(["--model_base_path=/m", "--max_enqueued_requests=0"]))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        cli.parse_channel_arguments("nonsense")
