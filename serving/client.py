"""Clients for TF Serving's REST and gRPC APIs (this project's server or tensorflow_model_server).

Both clients answer in the same shapes: `predict` returns {output name: numpy array}
(strings as bytes), `model_status` and `metadata` return TF Serving's REST JSON as dicts.
Failures raise `ServingClientError`; `ServerUnavailableError` names the host:port that
could not be reached, `ModelNotFoundError` carries the server's "not found" message.
The REST client needs only numpy; the gRPC client imports TensorFlow's protos.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Mapping

import numpy as np

DEFAULT_SIGNATURE = "serving_default"

# DataType names in metadata -> numpy dtypes (strings stay object arrays of bytes).
_NUMPY_DTYPES = {
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16,
    "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_INT32": np.int32, "DT_INT64": np.int64,
    "DT_UINT8": np.uint8, "DT_UINT16": np.uint16, "DT_UINT32": np.uint32, "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_, "DT_STRING": object,
}


class ServingClientError(Exception):
    """A request the server refused or could not answer."""

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class ServerUnavailableError(ServingClientError):
    """Nothing answered at the server's address."""


class ModelNotFoundError(ServingClientError):
    """The model, version or label is not served."""


def _as_numpy(value: Any, dtype_name: str | None) -> np.ndarray:
    dtype = _NUMPY_DTYPES.get(dtype_name or "")
    if dtype is object:
        array = np.asarray(value, dtype=object)
        encoded = np.empty(array.shape, dtype=object)
        for index, item in np.ndenumerate(array):
            encoded[index] = item.encode("utf-8") if isinstance(item, str) else item
        return encoded
    return np.asarray(value, dtype=dtype)


class _SignatureCache:
    """Signature input/output dtypes from a client's metadata call, fetched once per model version."""

    def __init__(self, fetch_metadata: Callable[[str, int | None], dict]):
        self._fetch_metadata = fetch_metadata
        self._signatures: dict[tuple, dict] = {}

    def get(self, model: str, signature_name: str | None, version: int | None) -> dict:
        key = (model, version, signature_name or DEFAULT_SIGNATURE)
        if key not in self._signatures:
            signatures = self._fetch_metadata(model, version)["metadata"]["signature_def"]["signature_def"]
            if key[2] not in signatures:
                raise ServingClientError(f"model {model} has no signature {key[2]!r}; it has {sorted(signatures)}")
            self._signatures[key] = signatures[key[2]]
        return self._signatures[key]


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS connection: the CA that signed the server's certificate (None: the system's
    roots) and, for mutual TLS, this client's certificate and key."""

    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class RestClient:
    """TF Serving's REST API (`--rest_api_port`, 8501 in the official image); HTTPS when `tls` is given."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8501, timeout: float = 30.0,
                 tls: TlsFiles | None = None):
        self._signatures = _SignatureCache(self.metadata)
        self.address = f"{host}:{port}"
        self.timeout = timeout
        self._scheme = "http" if tls is None else "https"
        self._ssl_context = None
        if tls is not None:
            from serving.tls import rest_client_context

            self._ssl_context = rest_client_context(tls.ca_cert, tls.client_cert, tls.client_key)

    def _model_path(self, model: str, version: int | None) -> str:
        path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
        return path if version is None else f"{path}/versions/{version}"

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self._scheme}://{self.address}{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl_context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode("utf-8", errors="replace") or exc.reason
            error_type = ModelNotFoundError if exc.code == 404 else ServingClientError
            raise error_type(message, http_status=exc.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerUnavailableError(f"TF Serving REST API at {self.address} is not reachable: {reason}") from None

    def model_status(self, model: str, version: int | None = None) -> dict:
        return self._request(self._model_path(model, version))

    def metadata(self, model: str, version: int | None = None) -> dict:
        return self._request(self._model_path(model, version) + "/metadata")

    def predict(self, model: str, inputs: Mapping[str, Any], signature_name: str | None = None,
                version: int | None = None) -> dict[str, np.ndarray]:
        """Columnar predict: {input name: array-like} -> {output name: numpy array}."""
        signature = self._signatures.get(model, signature_name, version)
        body: dict[str, Any] = {"inputs": {name: _to_json(value) for name, value in inputs.items()}}
        if signature_name:
            body["signature_name"] = signature_name
        outputs = self._request(self._model_path(model, version) + ":predict", body)["outputs"]
        if not isinstance(outputs, dict) or len(signature["outputs"]) == 1:
            outputs = {next(iter(signature["outputs"])): outputs}
        return {name: _as_numpy(_from_json(value), signature["outputs"][name]["dtype"])
                for name, value in outputs.items()}


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


class GrpcClient:
    """TF Serving's gRPC API (`--port`, 8500 by default); TLS when `tls` is given."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8500, timeout: float = 30.0,
                 tls: TlsFiles | None = None):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.address = f"{host}:{port}"
        self.timeout = timeout
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        if tls is None:
            self._channel = grpc.insecure_channel(self.address, options=options)
        else:
            from serving.tls import grpc_channel_credentials

            credentials = grpc_channel_credentials(tls.ca_cert, tls.client_cert, tls.client_key)
            self._channel = grpc.secure_channel(self.address, credentials, options=options)
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._signatures = _SignatureCache(self.metadata)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "GrpcClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _call(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServerUnavailableError(
                    f"TF Serving gRPC API at {self.address} is not reachable: {details}", code=code.name) from None
            error_type = ModelNotFoundError if code == grpc.StatusCode.NOT_FOUND else ServingClientError
            raise error_type(details, code=code.name) from None

    @staticmethod
    def _spec(model: str, version: int | None, signature_name: str | None = None):
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=model, signature_name=signature_name or "")
        if version is not None:
            spec.version.value = version
        return spec

    def model_status(self, model: str, version: int | None = None) -> dict:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest(model_spec=self._spec(model, version))
        response = self._call(self._models.GetModelStatus, request)
        return json_format.MessageToDict(response, including_default_value_fields=True)

    def metadata(self, model: str, version: int | None = None) -> dict:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self._spec(model, version), metadata_field=["signature_def"])
        response = self._call(self._predictions.GetModelMetadata, request)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_defs)

        def to_dict(message) -> dict:
            return json_format.MessageToDict(
                message, including_default_value_fields=True, preserving_proto_field_name=True)

        return {"model_spec": to_dict(response.model_spec), "metadata": {"signature_def": to_dict(signature_defs)}}

    def predict(self, model: str, inputs: Mapping[str, Any], signature_name: str | None = None,
                version: int | None = None) -> dict[str, np.ndarray]:
        """Predict: {input name: array-like} -> {output name: numpy array}."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        signature = self._signatures.get(model, signature_name, version)
        request = predict_pb2.PredictRequest(model_spec=self._spec(model, version, signature_name))
        for name, value in inputs.items():
            dtype = signature["inputs"].get(name, {}).get("dtype")
            try:
                request.inputs[name].CopyFrom(tf.make_tensor_proto(_as_numpy(value, dtype)))
            except (TypeError, ValueError) as exc:
                raise ServingClientError(f"input {name} cannot be sent as {dtype}: {exc}") from None
        response = self._call(self._predictions.Predict, request)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
