"""Helpers for the serving conformance tests: tiny SavedModels and server processes."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import tensorflow as tf
import tensorflow_text
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


class ToyModel(tf.Module):
    """A few signatures covering TF Serving's request shapes; `offset` tells versions apart."""

    def __init__(self, offset: float):
        super().__init__()
        self.offset = tf.Variable(offset, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def half_plus_offset(self, x):
        return {"y": x * 0.5 + self.offset}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def echo(self, text):
        return {"text_bytes": text, "upper": tf.strings.upper(text), "length": tf.strings.length(text)}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None], tf.float32)])
    def two_inputs(self, pair, bias):
        return {"total": tf.reduce_sum(pair, axis=1) + bias}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
    def int_ids(self, ids):
        return {"next_ids": ids + 1}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def token_count(self, text):
        # A tensorflow_text op: the server must register those ops before loading.
        return {"tokens": tensorflow_text.WhitespaceTokenizer().tokenize(text).row_lengths()}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(self, inputs):
        x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        positive = tf.sigmoid(x)
        labels = tf.constant([["negative", "positive"]])
        return {"scores": tf.concat([1.0 - positive, positive], axis=1),
                "classes": tf.tile(labels, [tf.shape(inputs)[0], 1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def regress(self, inputs):
        x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        return {"outputs": x * 0.5 + self.offset}


def _set_method_names(export_dir: Path, methods: dict[str, str]) -> None:
    """TF2 exports every signature as predict; TF Serving's classify/regress read method_name."""
    path = export_dir / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for name, method in methods.items():
        saved_model.meta_graphs[0].signature_def[name].method_name = method
    path.write_bytes(saved_model.SerializeToString())


def _write_warmup(export_dir: Path) -> None:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="toy"))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0], dtype=tf.float32))
    record = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    (export_dir / "assets.extra").mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(export_dir / "assets.extra" / "tf_serving_warmup_requests")) as writer:
        writer.write(record.SerializeToString())


def export_toy_model(export_dir: Path, offset: float, warmup: bool = False) -> Path:
    model = ToyModel(offset)
    signatures = {
        "serving_default": model.half_plus_offset,
        "echo": model.echo,
        "two_inputs": model.two_inputs,
        "int_ids": model.int_ids,
        "token_count": model.token_count,
        "classify": model.classify,
        "regress": model.regress,
    }
    tf.saved_model.save(model, str(export_dir), signatures=signatures)
    _set_method_names(export_dir, {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD})
    if warmup:
        _write_warmup(export_dir)
    return export_dir


def publish_version(base_path: Path, version: int, source: Path) -> Path:
    """Copies an export into base_path/<version> atomically: a hidden temp dir, then rename."""
    staging = base_path / f".staging-{version}"
    shutil.copytree(source, staging)
    target = base_path / str(version)
    os.rename(staging, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m serving.cli ...` on loopback ports, stopped with SIGTERM."""

    def __init__(self, args: list[str], log_path: Path):
        self.grpc_port = free_port()
        self.rest_port = free_port()
        self.log_path = log_path
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="3")
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serving.cli", f"--port={self.grpc_port}",
             f"--rest_api_port={self.rest_port}", *args],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, model_name: str, timeout: float = 120.0, scheme: str = "http",
                   ssl_context=None) -> None:
        deadline = time.monotonic() + timeout
        url = f"{scheme}://127.0.0.1:{self.rest_port}/v1/models/{model_name}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError):
                with urllib.request.urlopen(url, timeout=2, context=ssl_context) as response:
                    if response.status == 200:
                        return
            time.sleep(0.2)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def http(server: ServerProcess, path: str, body: bytes | str | dict | None = None,
         method: str | None = None) -> tuple[int, dict | str]:
    """One raw HTTP call; returns the status and the JSON body (text when not JSON)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    request = urllib.request.Request(server.rest_url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", errors="replace")
