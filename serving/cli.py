"""`unirec serve`: a TF-Serving-compatible model server taking tensorflow_model_server's flags.

    unirec serve --port=8500 --rest_api_port=8501 --model_name=recommender \\
        --model_base_path=/models/recommender

Flags keep TF Serving's names, defaults and rules (REST is off unless
--rest_api_port is set; --model_config_file overrides --model_name/--model_base_path;
--batching_parameters_file needs --enable_batching; --ssl_config_file holds the PEM text
itself). --host is this server's own addition: TF Serving listens on every interface,
this one on 127.0.0.1 unless told. serving.limits explains the request limits.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from typing import Sequence

from serving import config, limits


def _flag_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unirec serve", description="Serve SavedModels over TensorFlow Serving's gRPC and REST APIs.")
    parser.add_argument("--port", type=int, default=8500, help="TCP port for the gRPC API (default 8500)")
    parser.add_argument("--rest_api_port", type=int, default=0,
                        help="TCP port for the HTTP/REST API; 0 (the default) disables REST, as in TF Serving")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (not a TF Serving flag; TF Serving listens on all interfaces)")
    parser.add_argument("--model_name", default=config.DEFAULT_MODEL_NAME,
                        help="name of the model (ignored if --model_config_file is set)")
    parser.add_argument("--model_base_path", default="",
                        help="directory of numeric version sub-directories (ignored if --model_config_file is set)")
    parser.add_argument("--model_config_file", default="", help="ascii ModelServerConfig protobuf (models.config)")
    parser.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True, default=False,
                        help="merge concurrent requests into batches")
    parser.add_argument("--batching_parameters_file", default="", help="ascii BatchingParameters protobuf")
    parser.add_argument("--file_system_poll_wait_seconds", type=int, default=1,
                        help="seconds between polls of the model base paths for new versions; 0 polls only at start")
    parser.add_argument("--monitoring_config_file", default="",
                        help="ascii MonitoringConfig protobuf; prometheus_config { enable: true } exports metrics "
                             "on the REST port")
    parser.add_argument("--ssl_config_file", default="",
                        help="ascii SSLConfig protobuf (server_key, server_cert, custom_ca: PEM text; client_verify "
                             "for mutual TLS); serves gRPC and REST over TLS")
    parser.add_argument("--grpc_channel_arguments", default="",
                        help="comma-separated gRPC channel arguments, e.g. grpc.max_receive_message_length=1048576")
    parser.add_argument("--rest_api_timeout_in_ms", type=int, default=limits.ServerLimits.rest_api_timeout_in_ms,
                        help="REST requests running longer answer DEADLINE_EXCEEDED (HTTP 504)")
    limit_help = {
        "grpc_timeout_in_ms": "gRPC requests running longer (or past the client's deadline) answer DEADLINE_EXCEEDED"
                              " (not a TF Serving flag)",
        "rest_api_max_body_bytes": "larger REST bodies answer RESOURCE_EXHAUSTED (HTTP 429) (not a TF Serving flag)",
        "grpc_max_receive_message_bytes": "larger gRPC messages answer RESOURCE_EXHAUSTED; TF Serving accepts any "
                                          "size (a grpc.max_receive_message_length channel argument wins)",
        "max_instances_per_request": "longest first (batch) dimension of an input (not a TF Serving flag)",
        "max_history_length": "longest later dimension of an input, e.g. a user's history (not a TF Serving flag)",
        "max_enqueued_requests": "requests waiting or running at once; more answer RESOURCE_EXHAUSTED (HTTP 429) "
                                 "at once (not a TF Serving flag)",
    }
    for name, text in limit_help.items():
        default = getattr(limits.ServerLimits, name)
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{text}; default {default}")
    return parser


def parse_channel_arguments(text: str) -> dict[str, int | str]:
    """parseGrpcChannelArgs: KEY=VALUE pairs, each value an int when it parses as one."""
    arguments: dict[str, int | str] = {}
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--grpc_channel_arguments: expected KEY=VALUE, got {pair!r}")
        try:
            arguments[key] = int(value)
        except ValueError:
            arguments[key] = value
    return arguments


def options_from_flags(flags: argparse.Namespace):
    """ServerOptions from parsed flags, rejecting the combinations TF Serving rejects."""
    from serving.server import ServerOptions  # imports TensorFlow; keep --help fast

    if not flags.model_base_path and not flags.model_config_file:
        raise ValueError("Both --model_base_path and --model_config_file are empty!")
    if flags.batching_parameters_file and not flags.enable_batching:
        raise ValueError("--batching_parameters_file is set without setting --enable_batching to true.")
    model_config = (config.load_model_server_config(flags.model_config_file) if flags.model_config_file
                    else config.single_model_config(flags.model_name, flags.model_base_path))
    batching = None
    if flags.enable_batching:
        batching = (config.load_batching_parameters(flags.batching_parameters_file)
                    if flags.batching_parameters_file else config.BatchingOptions())
    prometheus = (config.load_monitoring_config(flags.monitoring_config_file) if flags.monitoring_config_file
                  else config.PrometheusOptions())
    return ServerOptions(
        model_server_config=model_config,
        grpc_port=flags.port,
        rest_api_port=flags.rest_api_port,
        host=flags.host,
        batching=batching,
        prometheus=prometheus,
        file_system_poll_wait_seconds=flags.file_system_poll_wait_seconds,
        limits=limits.ServerLimits(**{field.name: getattr(flags, field.name)
                                      for field in dataclasses.fields(limits.ServerLimits)}),
        grpc_channel_arguments=parse_channel_arguments(flags.grpc_channel_arguments),
        ssl=config.load_ssl_config(flags.ssl_config_file) if flags.ssl_config_file else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the server until SIGINT/SIGTERM; returns the process exit code."""
    flags = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s] %(message)s")
    try:
        from serving.server import serve

        asyncio.run(serve(options_from_flags(flags)))
    except Exception as exc:  # TF Serving prints the failed status and exits non-zero
        logging.getLogger("serving").error("Failed to start server. Error: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
