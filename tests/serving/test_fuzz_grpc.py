"""Fuzzing the gRPC API: any PredictRequest (wrong dtypes, shapes that disagree with the values, oversized
or garbage tensors), Classify/Regress input or undecodable message gets a TF Serving status, never
INTERNAL/UNKNOWN from our code, a hang or a dead server.

Seeded (see tests/conftest.py) so a failing case replays; UNIREC_FUZZ_EXAMPLES raises the count.
"""
from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import event, given
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (classification_pb2, input_pb2, model_pb2, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from fuzz_support import proto_text

ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNIMPLEMENTED,
           grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
MODELS = ["toy", "versioned", "swap", "nope", ""]
SIGNATURES = ["", "serving_default", "echo", "two_inputs", "int_ids", "token_count", "classify", "regress", "x"]
INPUT_NAMES = ["x", "text", "pair", "bias", "ids", "inputs", "zzz"]
DTYPES = sorted(set(types_pb2.DataType.values()) - {types_pb2.DT_INVALID}) + [types_pb2.DT_INVALID, 999]
VALUE_FIELDS = {
    "float_val": st.floats(allow_nan=True, width=32), "double_val": st.floats(allow_nan=True),
    "int_val": st.integers(-(2**31), 2**31 - 1), "int64_val": st.integers(-(2**63), 2**63 - 1),
    "string_val": st.binary(max_size=20), "bool_val": st.booleans(), "half_val": st.integers(0, 2**16 - 1),
    "uint32_val": st.integers(0, 2**32 - 1), "uint64_val": st.integers(0, 2**64 - 1),
}


@st.composite
def tensor_protos(draw) -> tensor_pb2.TensorProto:
    if draw(st.integers(0, 3)) == 0:  # a well-formed tensor, often of the wrong dtype or shape for the model
        array = draw(st.sampled_from([
            np.array([1.0, 2.0], np.float32), np.array([[1.0, 2.0]], np.float32), np.array([b"a", b"b c"]),
            np.array([1, 2], np.int64), np.array(3.0, np.float32), np.zeros([0], np.float32),
            np.array([True]), np.zeros([3, 0, 2], np.float32), np.ones([300, 2], np.float32)]))
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=draw(st.sampled_from(DTYPES)))
    if draw(st.booleans()):
        for size in draw(st.lists(st.sampled_from([-2, -1, 0, 1, 2, 3, 1000, 2**31, 2**40]), max_size=4)):
            proto.tensor_shape.dim.add(size=size)
    else:
        proto.tensor_shape.unknown_rank = draw(st.booleans())
    if draw(st.booleans()):
        proto.tensor_content = draw(st.binary(max_size=64))
    for field in draw(st.lists(st.sampled_from(sorted(VALUE_FIELDS)), max_size=2, unique=True)):
        getattr(proto, field).extend(draw(st.lists(VALUE_FIELDS[field], max_size=8)))
    return proto


@st.composite
def predict_requests(draw) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        name=draw(st.sampled_from(MODELS)), signature_name=draw(st.one_of(st.sampled_from(SIGNATURES), proto_text))))
    choice = draw(st.integers(0, 3))
    if choice == 1:
        request.model_spec.version.value = draw(st.integers(-(2**63), 2**63 - 1))
    elif choice == 2:
        request.model_spec.version_label = draw(st.sampled_from(["stable", "canary", "nope"]))
    for name in draw(st.lists(st.sampled_from(INPUT_NAMES), max_size=3, unique=True)):
        request.inputs[name].CopyFrom(draw(tensor_protos()))
    request.output_filter.extend(draw(st.lists(st.sampled_from(["y", "upper", "nope"]), max_size=2)))
    return request


@st.composite
def example_inputs(draw) -> input_pb2.Input:
    examples = []
    for _ in range(draw(st.integers(0, 3))):
        example = tf.train.Example()
        for name in draw(st.lists(st.sampled_from(["x", "y", ""]), max_size=2, unique=True)):
            feature = example.features.feature[name]
            kind = draw(st.sampled_from(["float", "int", "bytes"]))
            if kind == "float":
                feature.float_list.value.extend(draw(st.lists(st.floats(allow_nan=True, width=32), max_size=3)))
            elif kind == "int":
                feature.int64_list.value.extend(draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3)))
            else:
                feature.bytes_list.value.extend(draw(st.lists(st.binary(max_size=8), max_size=3)))
        examples.append(example)
    request_input = input_pb2.Input()
    if draw(st.booleans()):
        request_input.example_list.examples.extend(examples)
    else:
        request_input.example_list_with_context.examples.extend(examples)
        request_input.example_list_with_context.context.CopyFrom(tf.train.Example())
    return request_input


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield channel


def _code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        assert exc.code() in ALLOWED, (exc.code(), exc.details())
        return exc.code()
    return grpc.StatusCode.OK


@given(request=predict_requests())
def test_any_predict_request_gets_a_tf_serving_status(channel, request):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    event(_code(lambda: stub.Predict(request, timeout=60)).name)


@given(request_input=example_inputs(), model=st.sampled_from(MODELS), method=st.sampled_from(["Classify", "Regress"]),
       signature=st.sampled_from(SIGNATURES))
def test_any_classify_or_regress_input_gets_a_tf_serving_status(channel, request_input, model, method, signature):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request_class = (classification_pb2.ClassificationRequest if method == "Classify"
                     else regression_pb2.RegressionRequest)
    request = request_class(model_spec=model_pb2.ModelSpec(name=model, signature_name=signature), input=request_input)
    event(_code(lambda: getattr(stub, method)(request, timeout=60)).name)


@given(raw=st.binary(max_size=200))
def test_undecodable_messages_are_refused_by_grpc(channel, raw):
    call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                               request_serializer=lambda data: data, response_deserializer=lambda data: data)
    try:
        call(raw, timeout=60)
    except grpc.RpcError as exc:
        # grpc's own answer to bytes that do not parse as a PredictRequest (C++ grpc, as in TF Serving,
        # answers INTERNAL; grpc's Python server UNKNOWN), before any of our code runs.
        if exc.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            assert "Error parsing message" in exc.details() or "deserializ" in exc.details().lower(), exc.details()
        else:
            assert exc.code() in ALLOWED, (exc.code(), exc.details())


def test_server_survives_the_fuzzing(channel):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="toy"))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [3.0]
