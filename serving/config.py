"""TF Serving's text-proto configuration files: models, batching parameters, monitoring, SSL.

`models.config` parses with the official `ModelServerConfig` from tensorflow-serving-api.
`BatchingParameters`, `MonitoringConfig` and `SSLConfig` are not shipped in that package,
so their messages are rebuilt here from TF Serving's .proto definitions (same field names and
numbers), which keeps the files interchangeable with `tensorflow_model_server`.
"""
from __future__ import annotations

import dataclasses
import os

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

DEFAULT_MODEL_NAME = "default"
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
DEFAULT_BATCH_THREAD_POOL = "model_server_batch_threads"

_FIELD = descriptor_pb2.FieldDescriptorProto


def _build_config_messages() -> dict[str, type]:
    """Message classes for session_bundle_config.proto's BatchingParameters, monitoring_config.proto and
    ssl_config.proto."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="unirec/serving/tf_serving_side_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )

    def add(message, name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> None:
        field = message.field.add(
            name=name,
            number=number,
            type=kind,
            label=_FIELD.LABEL_REPEATED if repeated else _FIELD.LABEL_OPTIONAL,
        )
        if type_name:
            field.type_name = type_name

    batching = proto.message_type.add(name="BatchingParameters")
    int64_value, string_value, bool_value = (
        ".google.protobuf.Int64Value",
        ".google.protobuf.StringValue",
        ".google.protobuf.BoolValue",
    )
    add(batching, "max_batch_size", 1, _FIELD.TYPE_MESSAGE, int64_value)
    add(batching, "batch_timeout_micros", 2, _FIELD.TYPE_MESSAGE, int64_value)
    add(batching, "max_enqueued_batches", 3, _FIELD.TYPE_MESSAGE, int64_value)
    add(batching, "num_batch_threads", 4, _FIELD.TYPE_MESSAGE, int64_value)
    add(batching, "thread_pool_name", 5, _FIELD.TYPE_MESSAGE, string_value)
    add(batching, "allowed_batch_sizes", 6, _FIELD.TYPE_INT64, repeated=True)
    add(batching, "pad_variable_length_inputs", 7, _FIELD.TYPE_BOOL)
    add(batching, "enable_large_batch_splitting", 8, _FIELD.TYPE_MESSAGE, bool_value)
    add(batching, "max_execution_batch_size", 9, _FIELD.TYPE_MESSAGE, int64_value)

    prometheus = proto.message_type.add(name="PrometheusConfig")
    add(prometheus, "enable", 1, _FIELD.TYPE_BOOL)
    add(prometheus, "path", 2, _FIELD.TYPE_STRING)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    add(monitoring, "prometheus_config", 1, _FIELD.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")

    ssl = proto.message_type.add(name="SSLConfig")  # each field holds PEM text, not a path
    add(ssl, "server_key", 1, _FIELD.TYPE_STRING)
    add(ssl, "server_cert", 2, _FIELD.TYPE_STRING)
    add(ssl, "custom_ca", 3, _FIELD.TYPE_STRING)
    add(ssl, "client_verify", 4, _FIELD.TYPE_BOOL)

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    factory = message_factory.MessageFactory(pool)
    return {
        name: factory.GetPrototype(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
        for name in ("BatchingParameters", "MonitoringConfig", "SSLConfig")
    }


_MESSAGES = _build_config_messages()
BatchingParameters = _MESSAGES["BatchingParameters"]
MonitoringConfig = _MESSAGES["MonitoringConfig"]
SSLConfig = _MESSAGES["SSLConfig"]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """The batching parameters this server honours, with TF Serving's defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    thread_pool_name: str = DEFAULT_BATCH_THREAD_POOL


@dataclasses.dataclass(frozen=True)
class PrometheusOptions:
    enable: bool = False
    path: str = DEFAULT_PROMETHEUS_PATH


def _read_text(path: str) -> str:
    import tensorflow as tf  # tf.io.gfile reads gs:// and other file systems, like TF Serving.

    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def parse_model_server_config(text: str) -> model_server_config_pb2.ModelServerConfig:
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError("only model_config_list model server configs are supported")
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise ValueError(f"every model config needs a name and a base_path: {model}")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(f"model {model.name}: unsupported model_platform {model.model_platform!r}")
    return config


def load_model_server_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Reads a `--model_config_file` (ascii ModelServerConfig)."""
    return parse_model_server_config(_read_text(path))


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """The config TF Serving builds from --model_name/--model_base_path."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = "tensorflow"
    return config


def parse_batching_parameters(text: str) -> BatchingOptions:
    params = text_format.Parse(text, BatchingParameters())
    defaults = BatchingOptions()

    def value(field: str, default):
        return getattr(params, field).value if params.HasField(field) else default

    options = BatchingOptions(
        max_batch_size=value("max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=value("batch_timeout_micros", defaults.batch_timeout_micros),
        max_enqueued_batches=value("max_enqueued_batches", defaults.max_enqueued_batches),
        num_batch_threads=value("num_batch_threads", defaults.num_batch_threads),
        thread_pool_name=value("thread_pool_name", defaults.thread_pool_name),
    )
    if options.max_batch_size < 1 or options.num_batch_threads < 1 or options.max_enqueued_batches < 1:
        raise ValueError("max_batch_size, num_batch_threads and max_enqueued_batches must be >= 1")
    if options.batch_timeout_micros < 0:
        raise ValueError("batch_timeout_micros must be >= 0")
    return options


def load_batching_parameters(path: str) -> BatchingOptions:
    """Reads a `--batching_parameters_file` (ascii BatchingParameters)."""
    return parse_batching_parameters(_read_text(path))


def parse_monitoring_config(text: str) -> PrometheusOptions:
    prometheus = text_format.Parse(text, MonitoringConfig()).prometheus_config
    return PrometheusOptions(enable=prometheus.enable, path=prometheus.path or DEFAULT_PROMETHEUS_PATH)


def load_monitoring_config(path: str) -> PrometheusOptions:
    """Reads a `--monitoring_config_file` (ascii MonitoringConfig)."""
    return parse_monitoring_config(_read_text(path))


@dataclasses.dataclass(frozen=True)
class SslOptions:
    """An SSLConfig: the server's key and certificate, the CA that signs client certificates, and whether
    a client must present one (mutual TLS)."""

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False


def parse_ssl_config(text: str) -> SslOptions:
    ssl = text_format.Parse(text, SSLConfig())
    if not ssl.server_key or not ssl.server_cert:
        raise ValueError("the SSL config needs server_key and server_cert (PEM text)")
    if ssl.client_verify and not ssl.custom_ca:
        raise ValueError("client_verify needs custom_ca: the CA that signs the client certificates")
    return SslOptions(ssl.server_key, ssl.server_cert, ssl.custom_ca, ssl.client_verify)


def load_ssl_config(path: str) -> SslOptions:
    """Reads an `--ssl_config_file` (ascii SSLConfig)."""
    return parse_ssl_config(_read_text(path))
