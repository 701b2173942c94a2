"""The model server: registry, inference runner, gRPC and REST front ends, and their lifecycle."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import grpc
from aiohttp import web
from tensorflow_serving.config import model_server_config_pb2

from serving import grpc_service, tls
from serving.batching import BatchScheduler
from serving.config import BatchingOptions, PrometheusOptions, SslOptions
from serving.inference import DirectRunner, InferenceService, Runner
from serving.limits import ServerLimits
from serving.metrics import ServingMetrics
from serving.model_registry import ModelRegistry
from serving.rest import create_rest_app
from serving.warmup import load_servable

log = logging.getLogger(__name__)


def grpc_options(limits: ServerLimits, channel_arguments: dict[str, int | str]) -> list[tuple[str, int | str]]:
    """Our receive limit (TF Serving accepts any size), then --grpc_channel_arguments, which win."""
    options = {"grpc.max_receive_message_length": limits.grpc_max_receive_message_bytes,
               "grpc.max_send_message_length": -1}
    options.update(channel_arguments)
    return sorted(options.items())


@dataclasses.dataclass
class ServerOptions:
    """What `tensorflow_model_server`'s flags configure (see serving.cli)."""

    model_server_config: model_server_config_pb2.ModelServerConfig
    grpc_port: int = 8500
    rest_api_port: int = 0
    host: str = "127.0.0.1"
    batching: BatchingOptions | None = None
    prometheus: PrometheusOptions = dataclasses.field(default_factory=PrometheusOptions)
    file_system_poll_wait_seconds: float = 1.0
    request_threads: int = 4 * (os.cpu_count() or 1)
    shutdown_grace_seconds: float = 10.0
    limits: ServerLimits = dataclasses.field(default_factory=ServerLimits)
    grpc_channel_arguments: dict[str, int | str] = dataclasses.field(default_factory=dict)
    ssl: SslOptions | None = None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ModelServer:
    """Loads the configured models, then serves them over gRPC and (optionally) REST."""

    def __init__(self, options: ServerOptions):
        if options.grpc_port <= 0:
            raise ValueError("--port must be set: the gRPC API cannot be disabled")
        if options.rest_api_port == options.grpc_port:
            raise ValueError("--rest_api_port cannot be the same as --port")
        self.options = options
        self.metrics = ServingMetrics()
        self.registry = ModelRegistry(options.model_server_config, loader=load_servable)
        self._executor = ThreadPoolExecutor(options.request_threads, thread_name_prefix="tf-run")
        self._grpc_server: grpc.aio.Server | None = None
        self._rest_runner: web.AppRunner | None = None

    def _runner(self) -> Runner:
        if self.options.batching is None:
            return DirectRunner(self._executor)
        return BatchScheduler(self.options.batching, self._executor, self.metrics)

    async def start(self) -> None:
        """Waits for every model's initial versions (as TF Serving does), then opens the ports."""
        options = self.options
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.registry.load_until_available, options.file_system_poll_wait_seconds)
        self.registry.start_polling(options.file_system_poll_wait_seconds)
        inference = InferenceService(self._runner(), self.metrics, options.limits)

        self._grpc_server = grpc.aio.server(options=grpc_options(options.limits, options.grpc_channel_arguments))
        grpc_service.add_services(self._grpc_server, self.registry, inference, self.metrics)
        grpc_address = _address(options.host, options.grpc_port)
        if options.ssl is None:
            self._grpc_server.add_insecure_port(grpc_address)
        else:
            self._grpc_server.add_secure_port(grpc_address, tls.grpc_server_credentials(options.ssl))
        await self._grpc_server.start()
        log.info("Running gRPC ModelServer at %s%s ...", grpc_address, "" if options.ssl is None else " (TLS)")

        if options.rest_api_port:
            app = create_rest_app(self.registry, inference, self.metrics, options.prometheus, options.limits)
            self._rest_runner = web.AppRunner(app, access_log=None, shutdown_timeout=options.shutdown_grace_seconds)
            await self._rest_runner.setup()
            ssl_context = None if options.ssl is None else tls.rest_server_context(options.ssl)
            await web.TCPSite(self._rest_runner, options.host, options.rest_api_port, ssl_context=ssl_context).start()
            log.info("Exporting HTTP/REST API at:%s%s ...", _address(options.host, options.rest_api_port),
                     "" if ssl_context is None else " (TLS)")

    async def stop(self) -> None:
        """Stops accepting requests, lets in-flight ones finish, then unloads the models."""
        grace = self.options.shutdown_grace_seconds
        pending = []
        if self._grpc_server is not None:
            pending.append(self._grpc_server.stop(grace))
        if self._rest_runner is not None:
            pending.append(self._rest_runner.cleanup())
        await asyncio.gather(*pending)
        await asyncio.get_running_loop().run_in_executor(None, self.registry.stop)
        self._executor.shutdown(wait=True)


async def serve(options: ServerOptions) -> None:
    """Runs a ModelServer until SIGINT or SIGTERM, then shuts it down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = ModelServer(options)
    startup = loop.create_task(server.start())
    stopped = loop.create_task(stop.wait())
    await asyncio.wait({startup, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if startup.done():
        startup.result()  # a failed initial load raises here
        await stopped
    else:
        server.registry.stop()  # interrupted while waiting for the first versions
        startup.cancel()
    log.info("Shutting down the model server")
    await server.stop()
