"""TF Serving's HTTP/REST API on aiohttp (model_servers/http_rest_api_handler.cc).

Every path under /v1/ is an API request; the Prometheus page is served at its
configured path; anything else is a plain 404, as with TF Serving's HTTP server.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import urllib.parse

import grpc
from aiohttp import web
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving import errors, example_json, model_info, tensor_json
from serving.config import PrometheusOptions
from serving.inference import InferenceService, rest_input_infos
from serving.limits import ServerLimits, deadline_exceeded
from serving.metrics import CONTENT_TYPE, ServingMetrics
from serving.model_registry import ModelRegistry

log = logging.getLogger(__name__)

_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.IGNORECASE)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE)
_INT64_MAX = 2**63 - 1


@dataclasses.dataclass
class _Route:
    """What ParseModelInfo extracts from a request path."""

    model_name: str = ""
    version: int | None = None
    label: str | None = None
    method: str = ""
    subresource: str = ""
    matched: bool = False

    def model_spec(self) -> model_pb2.ModelSpec:
        """FillModelSpecWithNameVersionAndLabel."""
        spec = model_pb2.ModelSpec(name=self.model_name)
        if self.version is not None:
            spec.version.value = self.version
        if self.label is not None:
            spec.version_label = self.label
        return spec


def parse_route(http_method: str, path: str) -> _Route:
    route = _Route()
    match = None
    if http_method == "POST":
        match = _PREDICTION_PATH.fullmatch(path)
    elif http_method == "GET":
        match = _STATUS_PATH.fullmatch(path)
    if match is None:
        return route
    name, version, label, last = match.groups()
    route.matched = True
    route.model_name = urllib.parse.unquote(name or "")
    if http_method == "POST":
        route.method = last
    else:
        route.subresource = last or ""
    if version:
        if int(version) > _INT64_MAX:
            raise errors.invalid_argument(f"Failed to convert version: {version} to numeric.")
        route.version = int(version)
    if label:
        route.label = urllib.parse.unquote(label)
    return route


class RestApiHandler:
    """Dispatches one HTTP request the way HttpRestApiHandler::ProcessRequest does."""

    def __init__(self, registry: ModelRegistry, inference: InferenceService, metrics: ServingMetrics,
                 prometheus: PrometheusOptions, limits: ServerLimits):
        self._registry = registry
        self._inference = inference
        self._metrics = metrics
        self._prometheus = prometheus
        self._limits = limits

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if self._prometheus.enable and path == self._prometheus.path:
            return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})
        if not _API_PATH.fullmatch(path):
            raise web.HTTPNotFound()
        start = time.perf_counter()
        route = _Route()
        code = grpc.StatusCode.OK
        timeout_ms = self._limits.rest_api_timeout_in_ms
        try:
            body = await self._read_body(request)
            route = parse_route(request.method, path)
            output = await asyncio.wait_for(self._process(request.method, path, route, body), timeout_ms / 1000)
        except errors.ServingError as exc:
            code, output = exc.code, tensor_json.error_json(exc.message)
        except asyncio.TimeoutError:
            failure = deadline_exceeded(timeout_ms, "--rest_api_timeout_in_ms")
            code, output = failure.code, tensor_json.error_json(failure.message)
        except RecursionError:  # a document nested deeper than any tensor
            code = grpc.StatusCode.INVALID_ARGUMENT
            output = tensor_json.error_json("JSON Parse error: nested too deeply")
        except Exception as exc:  # an unexpected bug still answers in TF Serving's error shape
            log.exception("REST request %s %s failed", request.method, path)
            code, output = grpc.StatusCode.INTERNAL, tensor_json.error_json(f"{type(exc).__name__}: {exc}")
        self._metrics.record_request(route.model_name, route.method, "REST", code.name,
                                     (time.perf_counter() - start) * 1e6)
        return web.Response(text=output, status=errors.http_status(code), content_type="application/json")

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self._limits.rest_api_max_body_bytes
        if (request.content_length or 0) > limit:
            raise errors.resource_exhausted(
                f"Request body of {request.content_length} bytes is larger than {limit} (--rest_api_max_body_bytes)")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past the limit
            raise errors.resource_exhausted(
                f"Request body is larger than {limit} bytes (--rest_api_max_body_bytes)") from None

    async def _process(self, http_method: str, path: str, route: _Route, body: bytes) -> str:
        if route.matched and http_method == "POST":
            if route.method == "predict":
                return await self._predict(route, body)
            if route.method == "classify":
                return await self._classify(route, body)
            if route.method == "regress":
                return await self._regress(route, body)
        elif route.matched and http_method == "GET":
            if not route.model_name:
                raise errors.invalid_argument("Missing model name in request.")
            if route.subresource == "metadata":
                request = get_model_metadata_pb2.GetModelMetadataRequest(
                    model_spec=route.model_spec(), metadata_field=[model_info.SIGNATURE_DEF_FIELD])
                return model_info.metadata_json(model_info.get_model_metadata(self._registry, request))
            return model_info.status_json(model_info.get_model_status(self._registry, route.model_spec()))
        raise errors.invalid_argument(f"Malformed request: {http_method} {path}")

    async def _predict(self, route: _Route, body: bytes) -> str:
        doc = tensor_json.parse_json_object(body)
        signature_name = tensor_json.signature_name_of(doc)
        with self._registry.lease(route.model_spec()) as servable:
            infos = rest_input_infos(servable, signature_name)
            request_format, inputs = tensor_json.tensors_from_predict_json(doc, signature_name, infos)
            _, outputs = await self._inference.predict(servable, signature_name, inputs)
        return tensor_json.predict_response_json(outputs, request_format)

    async def _classify(self, route: _Route, body: bytes) -> str:
        doc = tensor_json.parse_json_object(body)
        signature_name = tensor_json.signature_name_of(doc)
        request_input = example_json.input_from_json(doc)
        with self._registry.lease(route.model_spec()) as servable:
            _, result = await self._inference.classify(servable, signature_name, request_input)
        return example_json.classification_json(result)

    async def _regress(self, route: _Route, body: bytes) -> str:
        doc = tensor_json.parse_json_object(body)
        signature_name = tensor_json.signature_name_of(doc)
        request_input = example_json.input_from_json(doc)
        with self._registry.lease(route.model_spec()) as servable:
            _, result = await self._inference.regress(servable, signature_name, request_input)
        return example_json.regression_json(result)


def create_rest_app(registry: ModelRegistry, inference: InferenceService, metrics: ServingMetrics,
                    prometheus: PrometheusOptions, limits: ServerLimits) -> web.Application:
    app = web.Application(client_max_size=limits.rest_api_max_body_bytes)
    handler = RestApiHandler(registry, inference, metrics, prometheus, limits)
    app.router.add_route("*", "/{path:.*}", handler.handle)
    return app
