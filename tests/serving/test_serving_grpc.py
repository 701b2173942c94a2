"""gRPC conformance with the official tensorflow_serving.apis stubs."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield channel


@pytest.fixture(scope="module")
def predictions(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def spec(name="toy", signature_name="", version=None, label=None) -> model_pb2.ModelSpec:
    model_spec = model_pb2.ModelSpec(name=name, signature_name=signature_name)
    if version is not None:
        model_spec.version.value = version
    if label is not None:
        model_spec.version_label = label
    return model_spec


def predict_request(model_spec, **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(model_spec=model_spec)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def example(**features) -> example_pb2.Example:
    message = example_pb2.Example()
    for name, value in features.items():
        message.features.feature[name].float_list.value.append(value)
    return message


def expect_error(call, request, code, message=None):
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    assert raised.value.code() == code, raised.value.details()
    if message is not None:
        assert raised.value.details() == message


def test_get_model_status(models):
    response = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec=spec()), timeout=30)
    [status] = response.model_version_status
    assert status.version == 1
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0


def test_get_model_status_errors(models):
    request = get_model_status_pb2.GetModelStatusRequest
    expect_error(models.GetModelStatus, request(model_spec=spec("nope")), grpc.StatusCode.NOT_FOUND,
                 "Could not find any versions of model nope")
    expect_error(models.GetModelStatus, request(model_spec=spec(version=5)), grpc.StatusCode.NOT_FOUND,
                 "Could not find version 5 of model toy")
    expect_error(models.GetModelStatus, request(), grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_get_model_metadata(predictions):
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec(), metadata_field=["signature_def"])
    response = predictions.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "toy" and response.model_spec.version.value == 1
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    default = signature_defs.signature_def["serving_default"]
    assert default.inputs["x"].dtype == tf.float32.as_datatype_enum
    assert set(signature_defs.signature_def["echo"].outputs) == {"text_bytes", "upper", "length"}
    expect_error(predictions.GetModelMetadata, get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec()),
                 grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field")


def test_predict_default_signature(predictions):
    response = predictions.Predict(predict_request(spec(), x=np.array([1.0, 2.0], np.float32)), timeout=30)
    assert response.model_spec.name == "toy"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    # Written like Tensor::AsProtoField: typed values, no tensor_content.
    assert list(response.outputs["y"].float_val) == [2.5, 3.0]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [2.5, 3.0])


def test_predict_strings_and_output_filter(predictions):
    request = predict_request(spec(signature_name="echo"), text=np.array([b"hi", b"\xff\x00"], dtype=object))
    response = predictions.Predict(request, timeout=30)
    assert list(response.outputs["text_bytes"].string_val) == [b"hi", b"\xff\x00"]
    assert list(response.outputs["length"].int_val) == [2, 2]
    request.output_filter.append("upper")
    response = predictions.Predict(request, timeout=30)
    assert set(response.outputs) == {"upper"}


def test_predict_two_inputs(predictions):
    request = predict_request(spec(signature_name="two_inputs"), pair=np.array([[1, 2], [3, 4]], np.float32),
                              bias=np.array([0.5, 0.25], np.float32))
    np.testing.assert_allclose(tf.make_ndarray(predictions.Predict(request, timeout=30).outputs["total"]), [3.5, 7.25])


def test_predict_by_version_and_label(predictions):
    x = np.array([2.0], np.float32)
    for model_spec, expected_version, expected in [(spec("versioned"), 2, 3.0), (spec("versioned", version=1), 1, 2.0),
                                                   (spec("versioned", label="stable"), 1, 2.0)]:
        response = predictions.Predict(predict_request(model_spec, x=x), timeout=30)
        assert response.model_spec.version.value == expected_version
        assert tf.make_ndarray(response.outputs["y"]).tolist() == [expected]


def test_predict_errors(predictions):
    x = np.array([1.0], np.float32)
    call = predictions.Predict
    expect_error(call, predict_request(spec("nope"), x=x), grpc.StatusCode.NOT_FOUND,
                 "Servable not found for request: Latest(nope)")
    expect_error(call, predict_request(spec(version=3), x=x), grpc.StatusCode.NOT_FOUND,
                 "Servable not found for request: Specific(toy, 3)")
    expect_error(call, predict_request(spec(label="nightly"), x=x), grpc.StatusCode.INVALID_ARGUMENT,
                 "Unrecognized servable version label: nightly")
    expect_error(call, predict_request(spec(signature_name="nope"), x=x), grpc.StatusCode.FAILED_PRECONDITION,
                 'Serving signature key "nope" not found.')
    expect_error(call, predict_request(spec(), wrong=x), grpc.StatusCode.INVALID_ARGUMENT)
    expect_error(call, predict_request(spec(), x=x, extra=x), grpc.StatusCode.INVALID_ARGUMENT,
                 "input size does not match signature: 2!=1 len({extra,x}) != len({x}). Sent extra: {extra}. "
                 "Missing but required: {}.")
    expect_error(call, predict_request(spec(), x=np.array([b"a"], dtype=object)), grpc.StatusCode.INVALID_ARGUMENT,
                 "Expects arg[0] to be float but string is provided")
    expect_error(call, predict_request(spec(), x=np.ones([1, 2], np.float32)), grpc.StatusCode.INVALID_ARGUMENT)
    request = predict_request(spec(), x=x)
    request.output_filter.append("nope")
    expect_error(call, request, grpc.StatusCode.INVALID_ARGUMENT)


def test_classify_and_regress(predictions):
    request = classification_pb2.ClassificationRequest(model_spec=spec(signature_name="classify"))
    request.input.example_list.examples.extend([example(x=0.0), example(x=3.0)])
    result = predictions.Classify(request, timeout=30).result
    first, second = result.classifications
    assert [(c.label, round(c.score, 6)) for c in first.classes] == [("negative", 0.5), ("positive", 0.5)]
    assert second.classes[1].score > 0.9

    request = regression_pb2.RegressionRequest(model_spec=spec(signature_name="regress"))
    request.input.example_list_with_context.context.CopyFrom(example(unused=1.0))
    request.input.example_list_with_context.examples.extend([example(x=1.0), example(x=4.0)])
    response = predictions.Regress(request, timeout=30)
    assert response.model_spec.signature_name == "regress"
    assert [r.value for r in response.result.regressions] == [2.5, 4.0]


def test_classify_errors(predictions):
    request = classification_pb2.ClassificationRequest(model_spec=spec(signature_name="nope"))
    request.input.example_list.examples.append(example(x=1.0))
    expect_error(predictions.Classify, request, grpc.StatusCode.INVALID_ARGUMENT,
                 "No signature was found with the name: nope")
    empty = classification_pb2.ClassificationRequest(model_spec=spec(signature_name="classify"))
    expect_error(predictions.Classify, empty, grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")
    missing = regression_pb2.RegressionRequest(model_spec=spec("nope"))
    expect_error(predictions.Regress, missing, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)")
