"""REST conformance: TF Serving's URLs, JSON shapes, status codes and error messages."""
from __future__ import annotations

import base64
import math

import pytest

from serving_testlib import http

OK_STATUS = {"error_code": "OK", "error_message": ""}


def test_model_status_lists_available_version(server):
    status, body = http(server, "/v1/models/toy")
    assert status == 200
    assert body == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": OK_STATUS}]}
    assert http(server, "/v1/models/toy/versions/1") == (200, body)


@pytest.mark.parametrize("path, message", [
    ("/v1/models/nope", "Could not find any versions of model nope"),
    ("/v1/models/toy/versions/9", "Could not find version 9 of model toy"),
])
def test_model_status_not_found(server, path, message):
    assert http(server, path) == (404, {"error": message})


def test_metadata_is_the_signature_def_map(server):
    status, body = http(server, "/v1/models/toy/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "toy", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "echo", "two_inputs", "classify", "regress", "__saved_model_init_op"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert default["inputs"]["x"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"


def test_predict_row_format(server):
    assert http(server, "/v1/models/toy:predict", {"instances": [1.0, 2.0, 5.0]}) == (
        200, {"predictions": [2.5, 3.0, 4.5]})


def test_predict_columnar_format(server):
    assert http(server, "/v1/models/toy:predict", {"inputs": [1.0, 2.0]}) == (200, {"outputs": [2.5, 3.0]})
    assert http(server, "/v1/models/toy:predict", {"inputs": {"x": [3.0]}}) == (200, {"outputs": [3.5]})


def test_predict_two_named_inputs_row_and_columnar(server):
    rows = {"signature_name": "two_inputs",
            "instances": [{"pair": [1.0, 2.0], "bias": 0.5}, {"pair": [3.0, 4.0], "bias": 0.25}]}
    assert http(server, "/v1/models/toy:predict", rows) == (200, {"predictions": [3.5, 7.25]})
    columns = {"signature_name": "two_inputs", "inputs": {"pair": [[1, 2], [3, 4]], "bias": [0.5, 0.25]}}
    assert http(server, "/v1/models/toy:predict", columns) == (200, {"outputs": [3.5, 7.25]})


def test_strings_b64_in_and_out(server):
    hello = base64.b64encode(b"hello").decode()
    status, body = http(server, "/v1/models/toy:predict",
                        {"signature_name": "echo", "instances": ["hi", {"b64": hello}]})
    assert status == 200
    # Several outputs: one object per row; `text_bytes` ends in _bytes so it comes back as b64.
    assert body == {"predictions": [
        {"length": 2, "text_bytes": {"b64": base64.b64encode(b"hi").decode()}, "upper": "HI"},
        {"length": 5, "text_bytes": {"b64": hello}, "upper": "HELLO"},
    ]}
    status, body = http(server, "/v1/models/toy:predict", {"signature_name": "echo", "inputs": {"text": ["ab"]}})
    assert body == {"outputs": {"length": [2], "text_bytes": [{"b64": "YWI="}], "upper": ["AB"]}}


def test_int64_signature(server):
    assert http(server, "/v1/models/toy:predict", {"signature_name": "int_ids", "instances": [1, 41]}) == (
        200, {"predictions": [2, 42]})


def test_in_graph_tensorflow_text_ops(server):
    assert http(server, "/v1/models/toy:predict", {"signature_name": "token_count", "instances": ["a b c", "hi"]}) == (
        200, {"predictions": [3, 1]})


def test_non_finite_floats_pass_through(server):
    status, body = http(server, "/v1/models/toy:predict", '{"inputs": [0.2, NaN, Infinity, -Infinity, 2e7]}')
    assert status == 200
    first, nan, *rest = body["outputs"]
    assert first == 2.1 and math.isnan(nan) and rest == [math.inf, -math.inf, 10000002.0]


def test_classify_and_regress(server):
    status, body = http(server, "/v1/models/toy:classify",
                        {"signature_name": "classify", "examples": [{"x": 0.0}, {"x": 3.0}]})
    assert status == 200
    (neg0, pos0), (neg1, pos1) = body["results"]
    assert neg0 == ["negative", 0.5] and pos0 == ["positive", 0.5]
    assert pos1[0] == "positive" and pos1[1] > 0.9
    assert http(server, "/v1/models/toy:regress",
                {"signature_name": "regress", "context": {"unused": "c"}, "examples": [{"x": 1.0}, {"x": 4.0}]}) == (
        200, {"results": [2.5, 4.0]})


def test_version_policy_and_labels(server):
    status, body = http(server, "/v1/models/versioned")
    assert [entry["version"] for entry in body["model_version_status"]] == ["2", "1"]  # 3 is not in the policy
    predict = {"instances": [2.0]}
    assert http(server, "/v1/models/versioned:predict", predict) == (200, {"predictions": [3.0]})
    assert http(server, "/v1/models/versioned/versions/1:predict", predict) == (200, {"predictions": [2.0]})
    assert http(server, "/v1/models/versioned/labels/stable:predict", predict) == (200, {"predictions": [2.0]})
    assert http(server, "/v1/models/versioned/labels/canary:predict", predict) == (200, {"predictions": [3.0]})
    assert http(server, "/v1/models/versioned/versions/3:predict", predict) == (
        404, {"error": "Servable not found for request: Specific(versioned, 3)"})
    assert http(server, "/v1/models/versioned/labels/nightly:predict", predict) == (
        400, {"error": "Unrecognized servable version label: nightly"})


@pytest.mark.parametrize("path, body, status, message", [
    ("/v1/models/nope:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(nope)"),
    ("/v1/models/toy/versions/7:predict", {"instances": [1.0]}, 404, "Servable not found for request: Specific(toy, 7)"),
    ("/v1/models/toy:predict", "", 400, "JSON Parse error: The document is empty"),
    ("/v1/models/toy:predict", "[1, 2]", 400, "JSON Value: [1, 2] Is not object"),
    ("/v1/models/toy:predict", {"instances": [1.0], "inputs": [1.0]}, 400, None),
    ("/v1/models/toy:predict", {"signature_name": "echo"}, 400, "Missing 'inputs' or 'instances' key"),
    ("/v1/models/toy:predict", {"instances": []}, 400, None),
    ("/v1/models/toy:predict", {"instances": ["a"]}, 400,
     'Failed to process element: 0 of \'instances\' list. Error: INVALID_ARGUMENT: JSON Value: "a" Type: String '
     "is not of expected type: float"),
    ("/v1/models/toy:predict", {"inputs": [[1.0], [2.0, 3.0]]}, 400,
     "Encountered list at unexpected size: 2 at level: 1 expected size: 1"),
    ("/v1/models/toy:predict", {"inputs": {"wrong": [1.0]}}, 400, "Missing named input: x in 'inputs' object."),
    ("/v1/models/toy:predict", {"signature_name": "two_inputs", "instances": [{"pair": [1, 2], "bias": 1, "z": 1}]},
     400, "Failed to process element: 0 key: z of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not "
          "have named input: z"),
    ("/v1/models/toy:predict", {"signature_name": "int_ids", "instances": [1.5]}, 400, None),
    ("/v1/models/toy:predict", {"signature_name": "nope", "instances": [1.0]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("/v1/models/toy:predict", {"signature_name": "echo", "inputs": [{"b64": "%%%"}]}, 400, "Unable to base64 decode"),
    ("/v1/models/toy:explode", {"instances": [1.0]}, 400, "Malformed request: POST /v1/models/toy:explode"),
    ("/v1/models/toy:classify", {"examples": [{"x": 1.0}]}, 400, None),
    ("/v1/models/toy:regress", {"signature_name": "regress"}, 400, None),
])
def test_predict_errors(server, path, body, status, message):
    got_status, got_body = http(server, path, body if body != "" else b"", method="POST")
    assert got_status == status, got_body
    assert set(got_body) == {"error"}
    if message is not None:
        assert got_body["error"] == message


def test_bad_json_is_400(server):
    status, body = http(server, "/v1/models/toy:predict", '{"instances": [1.0,')
    assert status == 400 and body["error"].startswith("JSON Parse error:")


def test_paths_outside_the_api(server):
    assert http(server, "/v1/models") == (400, {"error": "Missing model name in request."})
    assert http(server, "/v1/models/toy", method="PUT") == (400, {"error": "Malformed request: PUT /v1/models/toy"})
    assert http(server, "/v2/models/toy")[0] == 404


def test_prometheus_metrics(server):
    http(server, "/v1/models/toy:predict", {"instances": [1.0]})
    http(server, "/v1/models/nope:predict", {"instances": [1.0]})
    status, text = http(server, "/monitoring/prometheus/metrics")
    assert status == 200
    assert ':tensorflow:serving:request_count_total{model_name="toy",status="OK"}' in text
    assert ':tensorflow:serving:request_count_total{model_name="nope",status="NOT_FOUND"}' in text
    assert ':tensorflow:serving:request_latency_bucket{API="predict",entrypoint="REST",le="10.0",model_name="toy"}' in text
    assert ':tensorflow:serving:runtime_latency_count{API="Predict",model_name="toy",runtime="TF1"}' in text
