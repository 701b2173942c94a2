"""TF Serving's gRPC API on grpc.aio: PredictionService and ModelService with the official stubs."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, TypeVar

import grpc
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

from serving import errors, model_info
from serving.inference import InferenceService
from serving.limits import deadline_exceeded
from serving.metrics import ServingMetrics
from serving.model_registry import ModelRegistry
from serving.tensor_proto import from_ndarray, to_ndarray

log = logging.getLogger(__name__)

Response = TypeVar("Response")


async def _answer(context: grpc.aio.ServicerContext, call: Callable[[], Awaitable[Response]], timeout_ms: int,
                  on_done: Callable[[grpc.StatusCode], None] | None = None) -> Response:
    """Runs a call within `timeout_ms` (or the client's deadline, if sooner); a ServingError becomes the
    gRPC status TF Serving would return."""
    remaining = context.time_remaining()
    timeout = timeout_ms / 1000 if remaining is None else min(timeout_ms / 1000, remaining)
    try:
        response = await asyncio.wait_for(call(), timeout)
    except errors.ServingError as exc:
        failure = exc
    except asyncio.TimeoutError:
        failure = deadline_exceeded(timeout_ms, "--grpc_timeout_in_ms")
    except Exception as exc:  # an unexpected bug still answers with a status
        log.exception("gRPC call failed")
        failure = errors.internal(f"{type(exc).__name__}: {exc}")
    else:
        if on_done:
            on_done(grpc.StatusCode.OK)
        return response
    if on_done:
        on_done(failure.code)
    await context.abort(failure.code, failure.grpc_message)  # raises, ending the call with that status


def _response_spec(name: str, signature_name: str, version: int) -> model_pb2.ModelSpec:
    """MakeModelSpec."""
    spec = model_pb2.ModelSpec(name=name, signature_name=signature_name)
    spec.version.value = version
    return spec


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress and GetModelMetadata (MultiInference is not implemented)."""

    def __init__(self, registry: ModelRegistry, inference: InferenceService, metrics: ServingMetrics):
        self._registry = registry
        self._inference = inference
        self._metrics = metrics
        self._timeout_ms = inference.limits.grpc_timeout_in_ms

    def _recorder(self, model_name: str, api: str) -> Callable[[grpc.StatusCode], None]:
        start = time.perf_counter()

        def record(code: grpc.StatusCode) -> None:
            self._metrics.record_request(model_name, api, "GRPC", code.name, (time.perf_counter() - start) * 1e6)

        return record

    async def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
        async def call() -> predict_pb2.PredictResponse:
            with self._registry.lease(request.model_spec) as servable:
                for alias, proto in request.inputs.items():
                    self._inference.limits.check_shape(alias, [dim.size for dim in proto.tensor_shape.dim])
                inputs = {alias: to_ndarray(proto, alias) for alias, proto in request.inputs.items()}
                signature_name, outputs = await self._inference.predict(
                    servable, request.model_spec.signature_name, inputs, list(request.output_filter))
                response = predict_pb2.PredictResponse(
                    model_spec=_response_spec(request.model_spec.name, signature_name, servable.version))
            for alias, value in outputs.items():
                response.outputs[alias].CopyFrom(from_ndarray(value))
            return response

        return await _answer(context, call, self._timeout_ms, self._recorder(request.model_spec.name, "Predict"))

    async def Classify(self, request: classification_pb2.ClassificationRequest,
                       context) -> classification_pb2.ClassificationResponse:
        async def call() -> classification_pb2.ClassificationResponse:
            with self._registry.lease(request.model_spec) as servable:
                signature_name, result = await self._inference.classify(
                    servable, request.model_spec.signature_name, request.input)
                version = servable.version
            return classification_pb2.ClassificationResponse(
                model_spec=_response_spec(request.model_spec.name, signature_name, version), result=result)

        return await _answer(context, call, self._timeout_ms, self._recorder(request.model_spec.name, "Classify"))

    async def Regress(self, request: regression_pb2.RegressionRequest, context) -> regression_pb2.RegressionResponse:
        async def call() -> regression_pb2.RegressionResponse:
            with self._registry.lease(request.model_spec) as servable:
                signature_name, result = await self._inference.regress(
                    servable, request.model_spec.signature_name, request.input)
                version = servable.version
            return regression_pb2.RegressionResponse(
                model_spec=_response_spec(request.model_spec.name, signature_name, version), result=result)

        return await _answer(context, call, self._timeout_ms, self._recorder(request.model_spec.name, "Regress"))

    async def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest,
                               context) -> get_model_metadata_pb2.GetModelMetadataResponse:
        async def call() -> get_model_metadata_pb2.GetModelMetadataResponse:
            return model_info.get_model_metadata(self._registry, request)

        return await _answer(context, call, self._timeout_ms)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (HandleReloadConfigRequest is not implemented)."""

    def __init__(self, registry: ModelRegistry, timeout_ms: int):
        self._registry = registry
        self._timeout_ms = timeout_ms

    async def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest,
                             context) -> get_model_status_pb2.GetModelStatusResponse:
        async def call() -> get_model_status_pb2.GetModelStatusResponse:
            if not request.HasField("model_spec"):
                raise errors.invalid_argument("Missing ModelSpec")
            return model_info.get_model_status(self._registry, request.model_spec)

        return await _answer(context, call, self._timeout_ms)


def add_services(server: grpc.aio.Server, registry: ModelRegistry, inference: InferenceService,
                 metrics: ServingMetrics) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(registry, inference, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(registry, inference.limits.grpc_timeout_in_ms), server)
