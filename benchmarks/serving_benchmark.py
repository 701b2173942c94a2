"""Serving latency and throughput: in-process SavedModel calls vs. the model server over REST and gRPC.

    python benchmarks/serving_benchmark.py --serving-root output/serving

For `retrieve` (one call to the retrieval model) and `recommend` (retrieve, score
the candidates with the ranking model, drop seen items), at each concurrency
(threads issuing requests back to back), measures p50/p95/p99 latency and
throughput of: the SavedModel called in-process (the floor: the server's own
SavedModelServable, no transport), and `python -m serving.cli` over REST and gRPC
on loopback, without and with --enable_batching. Prints a Markdown table and the
ratios the project targets. Request counts are bounded (--requests per cell,
--max-seconds per cell). The client shares the machine with the server, so the CPU
time per request (client and server processes together) is reported beside the wall
times: on a shared machine it is the steadier number.

Without a ranking model under the serving root, a stand-in is built: its `score`
signature is the dot product of the retrieval model's query and candidate
embeddings, so ranking costs a real forward pass per (user, item) row.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import json_format  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from components.serving_pusher import server_configs  # noqa: E402
from components.serving_pusher.publish import existing_versions  # noqa: E402
from serving.client import GrpcClient, RestClient  # noqa: E402
from serving.recommend import RANKING_MODEL, RETRIEVAL_MODEL, RETRIEVE_SIGNATURE, TwoStageRecommender, UserQuery  # noqa: E402
from serving.servable import SavedModelServable  # noqa: E402

HOST = "127.0.0.1"
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
BATCH_SIZE_METRIC = ":tensorflow:serving:batching_session:processed_batch_size"
NUM_USERS = 64
HISTORY_LENGTH = 10
RECOMMEND_K = 10


# ---- models ---------------------------------------------------------------------


class RankingStandIn(tf.Module):
    """A `score` signature built from the retrieval model's two embedding signatures."""

    def __init__(self, retrieval_dir: str):
        super().__init__()
        self.retrieval = tf.saved_model.load(retrieval_dir)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.string),
                                  tf.TensorSpec([None], tf.string)])
    def score(self, user_id, history_item_ids, item_id):
        query = self.retrieval.signatures["query_embedding"](user_id=user_id, history_item_ids=history_item_ids)
        candidate = self.retrieval.signatures["candidate_embedding"](item_id=item_id)
        return {"scores": tf.reduce_sum(query["embedding"] * candidate["embedding"], axis=1)}


def latest_version_dir(base_path: Path) -> str:
    versions = existing_versions(str(base_path))
    if not versions:
        raise SystemExit(f"no model versions under {base_path}")
    return str(base_path / str(versions[-1]))


def prepare_models(serving_root: Path, workdir: Path) -> dict[str, str]:
    """{model name: base path}, building the stand-in ranking model if none was pushed."""
    models = server_configs.served_model_paths(str(serving_root))
    if RETRIEVAL_MODEL not in models:
        raise SystemExit(f"no {RETRIEVAL_MODEL!r} model under {serving_root}")
    if RANKING_MODEL not in models:
        stand_in = RankingStandIn(latest_version_dir(Path(models[RETRIEVAL_MODEL])))
        tf.saved_model.save(stand_in, str(workdir / RANKING_MODEL / "1"), signatures={"score": stand_in.score})
        models[RANKING_MODEL] = str(workdir / RANKING_MODEL)
        print(f"No ranking model under {serving_root}: using a stand-in built from the retrieval embeddings.")
    return {name: models[name] for name in (RETRIEVAL_MODEL, RANKING_MODEL)}


class InProcessClient:
    """The client interface over SavedModelServables in this process: no transport at all."""

    def __init__(self, model_paths: Mapping[str, str]):
        self.servables = {name: SavedModelServable(name, 0, latest_version_dir(Path(path)))
                          for name, path in model_paths.items()}

    def metadata(self, model: str, version: int | None = None) -> dict:
        signatures = {name: json_format.MessageToDict(signature, preserving_proto_field_name=True)
                      for name, signature in self.servables[model].signature_defs.items()}
        return {"metadata": {"signature_def": {"signature_def": signatures}}}

    def predict(self, model: str, inputs: Mapping[str, Any], signature_name: str | None = None,
                version: int | None = None) -> dict[str, np.ndarray]:
        arrays = {name: np.asarray(value, dtype=object) for name, value in inputs.items()}
        return self.servables[model].run(signature_name or "serving_default", arrays)


def make_queries(client: InProcessClient) -> list[UserQuery]:
    """Users with real catalogue items as history (taken from an anonymous user's top items)."""
    items = TwoStageRecommender(client).retrieve(UserQuery(""))[0]
    return [UserQuery(f"u{user:04d}", [items[(user + j) % len(items)] for j in range(HISTORY_LENGTH)])
            for user in range(NUM_USERS)]


# ---- servers ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True)
class Server:
    rest_port: int
    grpc_port: int
    pid: int

    def batches(self) -> tuple[float, float]:
        """(requests, batches) the batch scheduler has run so far, from its Prometheus metrics."""
        with urllib.request.urlopen(f"http://{HOST}:{self.rest_port}{PROMETHEUS_PATH}") as response:
            text = response.read().decode()
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(BATCH_SIZE_METRIC))
        return (float(values.get(f"{BATCH_SIZE_METRIC}_sum", 0)), float(values.get(f"{BATCH_SIZE_METRIC}_count", 0)))


@contextlib.contextmanager
def model_server(models_config: Path, batching_file: Path | None, workdir: Path) -> Iterator[Server]:
    """`python -m serving.cli` on free loopback ports, with Prometheus metrics on the REST port."""
    rest_port, grpc_port = free_port(), free_port()
    monitoring = workdir / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{PROMETHEUS_PATH}" }}\n')
    log_path = workdir / f"server-batching-{'on' if batching_file else 'off'}.log"
    args = [sys.executable, "-m", "serving.cli", f"--host={HOST}", f"--port={grpc_port}",
            f"--rest_api_port={rest_port}", f"--model_config_file={models_config}",
            f"--monitoring_config_file={monitoring}"]
    if batching_file is not None:
        args += ["--enable_batching", f"--batching_parameters_file={batching_file}"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"model server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://{HOST}:{rest_port}/v1/models/{RANKING_MODEL}", timeout=2)
                    break
                time.sleep(0.3)
            yield Server(rest_port, grpc_port, process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# ---- load -------------------------------------------------------------------------


@dataclasses.dataclass
class Cell:
    operation: str
    path: str        # in-process, REST, gRPC
    batching: str    # on, off, n/a
    concurrency: int
    latencies_ms: list[float]
    seconds: float
    cpu_seconds: float   # client and server processes together
    mean_batch_size: float | None = None   # rows per batch the scheduler ran (warm-up included)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1e3 / len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds


Call = Callable[[UserQuery], Any]


def run_load(make_call: Callable[[], Call], queries: list[UserQuery], concurrency: int, requests: int,
             max_seconds: float, server_pid: int | None) -> tuple[list[float], float, float]:
    """`concurrency` threads calling back to back until `requests` are done or time is up.

    Returns the latencies (ms), the wall time and the CPU time of this process and the server.
    """
    calls = [make_call() for _ in range(concurrency)]
    for call in calls:  # warm each thread's client (connections, signature lookups)
        for query in queries[:3]:
            call(query)
    latencies: list[float] = []
    lock = threading.Lock()
    issued = [0]
    deadline = time.perf_counter() + max_seconds

    def worker(call: Call) -> None:
        while True:
            with lock:
                if issued[0] >= requests or time.perf_counter() > deadline:
                    return
                index = issued[0]
                issued[0] += 1
            start = time.perf_counter()
            call(queries[index % len(queries)])
            elapsed = (time.perf_counter() - start) * 1e3
            with lock:
                latencies.append(elapsed)

    def cpu_seconds() -> float:
        return time.process_time() + (process_cpu_seconds(server_pid) if server_pid else 0.0)

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    started, cpu_started = time.perf_counter(), cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, cpu_seconds() - cpu_started


def operations(client_factory: Callable[[], Any]) -> dict[str, Callable[[], Call]]:
    """For each operation, a factory of per-thread callables sharing nothing but the client factory."""

    def retrieve() -> Call:
        recommender = TwoStageRecommender(client_factory())
        return recommender.retrieve

    def recommend() -> Call:
        recommender = TwoStageRecommender(client_factory())
        return lambda query: recommender.recommend(query, RECOMMEND_K)

    return {RETRIEVE_SIGNATURE: retrieve, "recommend": recommend}


def measure(cells: list[Cell], path: str, batching: str, client_factory: Callable[[], Any],
            queries: list[UserQuery], args: argparse.Namespace, server: Server | None = None) -> None:
    for operation, make_call in operations(client_factory).items():
        for concurrency in args.concurrency:
            batches_before = server.batches() if server else (0.0, 0.0)
            cell = Cell(operation, path, batching, concurrency,
                        *run_load(make_call, queries, concurrency, args.requests, args.max_seconds,
                                  server.pid if server else None))
            rows, batches = (after - before for after, before in zip(
                server.batches() if server else (0.0, 0.0), batches_before))
            cell.mean_batch_size = rows / batches if batches else None
            cells.append(cell)
            print(f"  {operation:<9} {path:<10} batching={batching:<3} c={concurrency:<3} "
                  f"p50={cell.percentile(50):7.2f} ms  {cell.throughput:8.1f} req/s  "
                  f"{cell.cpu_ms_per_request:5.2f} CPU ms/req  ({len(cell.latencies_ms)} requests)", flush=True)


# ---- report -----------------------------------------------------------------------


def markdown_table(cells: list[Cell]) -> str:
    lines = ["| operation | path | batching | concurrency | p50 ms | p95 ms | p99 ms | req/s | CPU ms/req "
             "| rows/batch | requests |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for cell in cells:
        batch = f"{cell.mean_batch_size:.1f}" if cell.mean_batch_size else ""
        lines.append(f"| {cell.operation} | {cell.path} | {cell.batching} | {cell.concurrency} | "
                     f"{cell.percentile(50):.2f} | {cell.percentile(95):.2f} | {cell.percentile(99):.2f} | "
                     f"{cell.throughput:.1f} | {cell.cpu_ms_per_request:.2f} | {batch} | {len(cell.latencies_ms)} |")
    return "\n".join(lines)


def find(cells: list[Cell], operation: str, path: str, batching: str, concurrency: int) -> Cell | None:
    for cell in cells:
        if (cell.operation, cell.path, cell.batching, cell.concurrency) == (operation, path, batching, concurrency):
            return cell
    return None


def interleaved_latencies(clients: Mapping[str, Any], queries: list[UserQuery], rounds: int
                          ) -> dict[tuple[str, str], list[float]]:
    """{(operation, path): latencies (ms)} at concurrency 1, one request per path in turn.

    Alternating puts every path under the same load from other processes, which
    cells measured one after the other on a shared machine are not.
    """
    calls = {(operation, path): make_call() for path, client in clients.items()
             for operation, make_call in operations(lambda client=client: client).items()}
    latencies: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    for call in calls.values():
        call(queries[0])
    for index in range(rounds):
        for key, call in calls.items():
            start = time.perf_counter()
            call(queries[index % len(queries)])
            latencies[key].append((time.perf_counter() - start) * 1e3)
    return latencies


def ratios(cells: list[Cell], interleaved: dict[tuple[str, str], list[float]]) -> str:
    lines = []
    high = max(c.concurrency for c in cells)
    for operation in (RETRIEVE_SIGNATURE, "recommend"):
        floor = float(np.percentile(interleaved[(operation, "in-process")], 50))
        for path in ("REST", "gRPC"):
            p50 = float(np.percentile(interleaved[(operation, path)], 50))
            target = " (target <= 2 ms)" if (operation, path) == (RETRIEVE_SIGNATURE, "REST") else ""
            verdict = (" PASS" if p50 - floor <= 2 else " MISS") if target else ""
            lines.append(f"- {operation}, c=1, interleaved: {path} p50 {p50:.2f} ms - in-process p50 {floor:.2f} ms "
                         f"= {p50 - floor:+.2f} ms{target}{verdict}")
        for path in ("REST", "gRPC"):
            on, off = (find(cells, operation, path, batching, high) for batching in ("on", "off"))
            if on and off:
                gain = on.throughput / off.throughput
                target = " (target >= 3x)" if path == "gRPC" else ""
                verdict = (" PASS" if gain >= 3 else " MISS") if target else ""
                lines.append(f"- {operation}, c={high}: {path} throughput batched / unbatched = {gain:.2f}x"
                             f"{target}{verdict}; CPU per request unbatched / batched = "
                             f"{off.cpu_ms_per_request / on.cpu_ms_per_request:.2f}x")
        floor_high = find(cells, operation, "in-process", "n/a", high)
        best = max((c for c in cells if c.operation == operation and c.concurrency == high and c.path == "gRPC"),
                   key=lambda c: c.throughput, default=None)
        if floor_high and best:
            lines.append(f"- {operation}, c={high}: best gRPC throughput is {best.throughput / floor_high.throughput:.2f}x "
                         f"the in-process throughput")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serving-root", required=True, help="a pushed serving root (holds retrieval/<version>/)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="requests per cell (default 400)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap per cell (default 20)")
    parser.add_argument("--batching-parameters", help="BatchingParameters file (default: ServingPusher's defaults)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="serving-benchmark-"))
    try:
        model_paths = prepare_models(Path(args.serving_root), workdir)
        models_config = workdir / server_configs.MODELS_CONFIG_FILE
        models_config.write_text(server_configs.models_config_text(model_paths))
        batching_file = Path(args.batching_parameters) if args.batching_parameters else (
            workdir / server_configs.BATCHING_PARAMETERS_FILE)
        if not args.batching_parameters:
            batching_file.write_text(server_configs.batching_parameters_text(
                server_configs.BatchingDefaults(num_batch_threads=os.cpu_count() or 1)))

        cells: list[Cell] = []
        in_process = InProcessClient(model_paths)
        queries = make_queries(in_process)
        print(f"Models: {model_paths}; {os.cpu_count()} CPUs; batching parameters:\n"
              f"{batching_file.read_text()}", flush=True)
        measure(cells, "in-process", "n/a", lambda: in_process, queries, args)
        for batching in ("off", "on"):
            with model_server(models_config, batching_file if batching == "on" else None, workdir) as server, \
                    contextlib.ExitStack() as grpc_clients:
                def grpc_client() -> GrpcClient:  # one channel per thread, like independent callers
                    return grpc_clients.enter_context(GrpcClient(HOST, server.grpc_port))

                measure(cells, "REST", batching, lambda: RestClient(HOST, server.rest_port), queries, args, server)
                measure(cells, "gRPC", batching, grpc_client, queries, args, server)
                if batching == "off":
                    interleaved = interleaved_latencies(
                        {"in-process": in_process, "REST": RestClient(HOST, server.rest_port), "gRPC": grpc_client()},
                        queries, args.requests)
        print("\n" + markdown_table(cells) + "\n\n" + ratios(cells, interleaved))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
