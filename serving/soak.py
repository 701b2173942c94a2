"""`unirec soak`: hours-of-traffic in minutes: REST + gRPC load on a model server while versions are pushed.

    unirec soak --model-dir output/serving/retrieval --seconds 600 --concurrency 64 --push-every 60

Copies the newest version under --model-dir into a scratch base path, starts
`python -m serving.cli` on loopback ports, and for --seconds (at most an hour) keeps
--concurrency requests in flight, half over REST and half over gRPC. The requests
are the version's own warmup requests (assets.extra/tf_serving_warmup_requests, as
the pusher writes them from real rows), so any pushed model works. Every
--push-every seconds the same SavedModel is published again as a new version with
the pusher's publishing code (atomic rename, keeping the newest --keep-versions).
Reports requests, answers by status (the server's limits' own answers counted
apart), p50/p99 latency per protocol and the server's RSS over time. Traffic goes
to 127.0.0.1 only, and stops by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

HOST = "127.0.0.1"
MAX_SECONDS = 3600
# Appended to the status of an answer a limit gave: refused on purpose, not failed.
LIMIT = " (limit)"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class SoakReport:
    seconds: float
    concurrency: int
    requests: int
    answers: dict[str, int]
    latency_ms: dict[str, dict[str, float]]
    rss_mb_by_minute: list[float]
    versions_pushed: int
    failed_pushes: list[str]
    server_exit_code: int | None

    @property
    def errors(self) -> int:
        """Answers that are neither OK nor a limit's own answer."""
        return sum(count for status, count in self.answers.items() if status != "OK" and not status.endswith(LIMIT))

    @property
    def rss_growth(self) -> float | None:
        """RSS growth from the start of minute 2 to the end (the first minute holds warm-up and tracing)."""
        if len(self.rss_mb_by_minute) < 3:
            return None
        return self.rss_mb_by_minute[-1] / self.rss_mb_by_minute[1] - 1.0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "errors": self.errors, "rss_growth_from_minute_2": self.rss_growth}

    def text(self) -> str:
        lines = [f"soak: {self.seconds:.0f} s at concurrency {self.concurrency}: {self.requests} requests, "
                 f"{self.errors} errors, {self.versions_pushed} versions pushed"
                 + (f", {len(self.failed_pushes)} pushes failed" if self.failed_pushes else "")]
        lines.append("answers: " + ", ".join(f"{status} {count}" for status, count in sorted(self.answers.items())))
        for protocol, stats in sorted(self.latency_ms.items()):
            lines.append(f"{protocol}: p50 {stats['p50']:.1f} ms, p99 {stats['p99']:.1f} ms ({stats['count']:.0f} OK)")
        lines.append("server RSS (MB) at the start, each minute and the end: "
                     + ", ".join(f"{mb:.0f}" for mb in self.rss_mb_by_minute))
        if self.rss_growth is not None:
            lines.append(f"RSS growth from minute 2 to the end: {self.rss_growth * 100:+.1f}%")
        lines.append(f"server exit code after SIGTERM: {self.server_exit_code}")
        return "\n".join(lines)


def reported_status(status: str, message: str) -> str:
    """`status` with LIMIT appended when a limit gave it. UNAVAILABLE counts only from the batching queue:
    a server that is gone answers UNAVAILABLE too."""
    if status in ("HTTP 429", "RESOURCE_EXHAUSTED") or (
            status in ("HTTP 503", "UNAVAILABLE") and "max_enqueued_batches" in message):
        return status + LIMIT
    return status


def warmup_requests(version_dir: str) -> list:
    """The PredictRequests of a version's warmup file."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from serving.warmup import WARMUP_FILE

    path = os.path.join(version_dir, WARMUP_FILE)
    if not os.path.exists(path):
        raise SystemExit(f"unirec soak: {version_dir} has no {WARMUP_FILE}; push it with the ServingPusher")
    requests = []
    for raw in tf.data.TFRecordDataset(path):
        record = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        if record.WhichOneof("log_type") == "predict_log":
            requests.append(record.predict_log.request)
    if not requests:
        raise SystemExit(f"unirec soak: {path} holds no Predict requests")
    return requests


def rest_body(request) -> bytes:
    """The same request in TF Serving's columnar JSON."""
    import tensorflow as tf

    from serving.client import _to_json

    inputs = {name: _to_json(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
    body = {"inputs": inputs}
    if request.model_spec.signature_name:
        body["signature_name"] = request.model_spec.signature_name
    return json.dumps(body).encode()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def model_server(model_name: str, base_path: Path, log_path: Path, extra_flags: Sequence[str]
                 ) -> Iterator[tuple[subprocess.Popen, int, int]]:
    rest_port, grpc_port = _free_port(), _free_port()
    args = [sys.executable, "-m", "serving.cli", f"--host={HOST}", f"--port={grpc_port}",
            f"--rest_api_port={rest_port}", f"--model_name={model_name}", f"--model_base_path={base_path}",
            *extra_flags]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"model server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://{HOST}:{rest_port}/v1/models/{model_name}", timeout=2)
                    break
                time.sleep(0.3)
            yield process, rest_port, grpc_port
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Load:
    """Keeps `concurrency` requests in flight until the deadline; records status and latency."""

    def __init__(self, model_name: str, requests: list, rest_port: int, grpc_port: int, deadline: float):
        self.model_name = model_name
        self.requests = requests
        self.rest_bodies = [rest_body(request) for request in requests]
        self.rest_url = f"http://{HOST}:{rest_port}/v1/models/{model_name}:predict"
        self.grpc_target = f"{HOST}:{grpc_port}"
        self.deadline = deadline
        self.answers: collections.Counter = collections.Counter()
        self.latencies: dict[str, list[float]] = {"REST": [], "gRPC": []}

    def _record(self, protocol: str, status: str, started: float) -> None:
        self.answers[status] += 1
        if status == "OK":
            self.latencies[protocol].append((time.perf_counter() - started) * 1000)

    async def _rest_worker(self, session, index: int) -> None:
        import aiohttp

        while time.monotonic() < self.deadline:
            body = self.rest_bodies[index % len(self.rest_bodies)]
            index += 1
            started = time.perf_counter()
            try:
                async with session.post(self.rest_url, data=body) as response:
                    answer = await response.read()
                    status = "OK" if response.status == 200 else reported_status(
                        f"HTTP {response.status}", answer.decode(errors="replace"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                status = f"client {type(exc).__name__}"
            self._record("REST", status, started)

    async def _grpc_worker(self, stub, index: int) -> None:
        import grpc

        while time.monotonic() < self.deadline:
            request = self.requests[index % len(self.requests)]
            index += 1
            started = time.perf_counter()
            try:
                await stub.Predict(request, timeout=60)
                status = "OK"
            except grpc.aio.AioRpcError as exc:
                status = reported_status(exc.code().name, exc.details() or "")
            self._record("gRPC", status, started)

    async def run(self, concurrency: int) -> None:
        import aiohttp
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        rest_workers = concurrency // 2
        connector = aiohttp.TCPConnector(limit=max(rest_workers, 1))
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with grpc.aio.insecure_channel(self.grpc_target) as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                workers = [self._rest_worker(session, i) for i in range(rest_workers)]
                workers += [self._grpc_worker(stub, i) for i in range(concurrency - rest_workers)]
                await asyncio.gather(*workers)


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "count": 0}
    return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
            "count": float(len(values))}


async def _push_and_sample(source_dir: str, base_path: Path, pid: int, deadline: float, push_every: float,
                           keep_versions: int, rss: list[tuple[float, float]], pushes: list[int],
                           failures: list[str]) -> None:
    from components.serving_pusher import publish

    loop = asyncio.get_running_loop()
    start = time.monotonic()
    next_push = start + push_every
    while (now := time.monotonic()) < deadline:
        rss.append((now - start, rss_mb(pid)))
        if now >= next_push:
            next_push += push_every
            try:
                version, _ = await loop.run_in_executor(None, publish.publish_version, source_dir, str(base_path))
                await loop.run_in_executor(None, publish.prune_versions, str(base_path), keep_versions)
                pushes.append(version)
            except OSError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
    rss.append((time.monotonic() - start, rss_mb(pid)))


def soak(model_dir: str, seconds: float, concurrency: int, push_every: float, keep_versions: int = 3,
         model_name: str | None = None, server_flags: Sequence[str] = (), workdir: str | None = None) -> SoakReport:
    """Runs one soak; see the module docstring."""
    from components.serving_pusher import publish

    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be in (0, {MAX_SECONDS}]")
    if concurrency < 2:
        raise ValueError("--concurrency must be at least 2 (REST and gRPC)")
    versions = publish.existing_versions(model_dir)
    if not versions:
        raise SystemExit(f"unirec soak: no numeric version under {model_dir}")
    source_dir = os.path.join(model_dir, str(versions[-1]))
    model_name = model_name or os.path.basename(os.path.abspath(model_dir))
    requests = warmup_requests(source_dir)
    with contextlib.ExitStack() as stack:
        scratch = Path(workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="unirec-soak-")))
        base_path = scratch / model_name
        shutil.rmtree(base_path, ignore_errors=True)
        publish.publish_version(source_dir, str(base_path))
        server = stack.enter_context(model_server(model_name, base_path, scratch / "server.log", server_flags))
        process, rest_port, grpc_port = server
        for request in requests:
            request.model_spec.name = model_name
        rss: list[tuple[float, float]] = []
        pushes: list[int] = []
        failures: list[str] = []
        started = time.monotonic()
        deadline = started + seconds
        load = Load(model_name, requests, rest_port, grpc_port, deadline)

        async def main() -> None:
            await asyncio.gather(load.run(concurrency), _push_and_sample(
                source_dir, base_path, process.pid, deadline, push_every, keep_versions, rss, pushes, failures))

        asyncio.run(main())
        elapsed = time.monotonic() - started
        stack.close()  # SIGTERM: the server must drain and exit cleanly
        exit_code = process.returncode
    by_minute = _per_minute(rss)
    return SoakReport(
        seconds=elapsed, concurrency=concurrency, requests=sum(load.answers.values()), answers=dict(load.answers),
        latency_ms={protocol: _percentiles(values) for protocol, values in load.latencies.items()},
        rss_mb_by_minute=by_minute, versions_pushed=len(pushes), failed_pushes=failures,
        server_exit_code=exit_code)


def _per_minute(samples: list[tuple[float, float]]) -> list[float]:
    """The RSS at the start, at each whole minute, and at the end."""
    if not samples:
        return []
    points, minute = [samples[0][1]], 1
    for elapsed, mb in samples:
        if elapsed >= 60 * minute:
            points.append(mb)
            minute += 1
    points.append(samples[-1][1])
    return points


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unirec soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="a model base path the ServingPusher pushed to")
    parser.add_argument("--seconds", type=float, default=60, help=f"how long (at most {MAX_SECONDS}; default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    parser.add_argument("--push-every", type=float, default=60, help="seconds between pushes (default 60)")
    parser.add_argument("--keep-versions", type=int, default=3, help="versions kept on disk (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--server-flag", action="append", default=[], metavar="FLAG",
                        help="extra flag for the model server, e.g. --server-flag=--max_enqueued_requests=32")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    report = soak(args.model_dir, args.seconds, args.concurrency, args.push_every, args.keep_versions,
                  server_flags=args.server_flag)
    print(report.text())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2))
    return 0 if report.errors == 0 and not report.failed_pushes and report.server_exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
