"""--enable_batching: concurrent requests merge into fewer model runs, each caller gets its own rows."""
from __future__ import annotations

import re
import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from serving.batching import batch_size_of
from serving_testlib import http

CALLERS = 16
RUN_COUNT = re.compile(r"^:tensorflow:serving:batching_session:wrapped_run_count_total (\S+)$", re.MULTILINE)


def _model_runs(server) -> float:
    status, text = http(server, "/monitoring/prometheus/metrics")
    assert status == 200
    return float(RUN_COUNT.search(text).group(1))


def test_concurrent_requests_share_model_runs(batching_server):
    barrier = threading.Barrier(CALLERS)
    answers: dict[int, list[float]] = {}
    failures: list[str] = []

    def call(index: int) -> None:
        rows = [float(index), index + 0.5]
        try:
            if index % 2:
                with grpc.insecure_channel(batching_server.grpc_target) as channel:
                    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="toy"))
                    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(rows, np.float32)))
                    barrier.wait()
                    answers[index] = tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"]).tolist()
            else:
                barrier.wait()
                status, body = http(batching_server, "/v1/models/toy:predict", {"instances": rows})
                assert status == 200, body
                answers[index] = body["predictions"]
        except Exception as exc:
            failures.append(repr(exc))

    before = _model_runs(batching_server)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = _model_runs(batching_server) - before

    assert failures == []
    assert answers == {i: [i * 0.5 + 2.0, (i + 0.5) * 0.5 + 2.0] for i in range(CALLERS)}
    assert 1 <= runs < CALLERS / 2


def test_oversized_request_is_rejected_like_tf_serving(batching_server):
    status, body = http(batching_server, "/v1/models/toy:predict", {"instances": [1.0] * 33})
    assert (status, body) == (400, {"error": "Task size 33 is larger than maximum input batch size 32"})


def test_other_signatures_and_errors_still_work_with_batching(batching_server):
    assert http(batching_server, "/v1/models/toy:predict", {"signature_name": "int_ids", "instances": [1]}) == (
        200, {"predictions": [2]})
    assert http(batching_server, "/v1/models/toy:regress", {"signature_name": "regress", "examples": [{"x": 2.0}]}) == (
        200, {"results": [3.0]})
    assert http(batching_server, "/v1/models/toy:predict", {"inputs": {"x": ["a"]}})[0] == 400


def test_batch_size_of():
    assert batch_size_of({"a": np.zeros([3, 2]), "b": np.zeros([3])}) == 3
    assert batch_size_of({"a": np.zeros([3]), "b": np.zeros([2])}) is None
    assert batch_size_of({"a": np.float32(1.0)}) is None
