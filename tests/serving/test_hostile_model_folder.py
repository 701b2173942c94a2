"""The model folder as a hostile place: versions that fail to load, and a push onto a full disk.

A server polls a base path on a small tmpfs while clients call it over REST and gRPC;
nothing that lands in the folder may fail a request to the version being served.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from components.serving_pusher import publish
from serving_testlib import ServerProcess, http, publish_version


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory) -> tuple[Path, str]:
    """A 16 MiB tmpfs, and "" or why none could be mounted (root can; the full-disk test needs one)."""
    mount_point = tmp_path_factory.mktemp("small-disk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    yield mount_point, mounted.stderr.strip() if mounted.returncode else ""
    if mounted.returncode == 0:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture(scope="module")
def guarded_server(small_disk, exports, tmp_path_factory):
    base_path = small_disk[0] / "guarded"
    base_path.mkdir()
    publish_version(base_path, 1, exports["offset1"])  # y = x/2 + 1
    logs = tmp_path_factory.mktemp("guarded-logs")
    server = ServerProcess(["--model_name=guarded", f"--model_base_path={base_path}"], logs / "guarded.log")
    try:
        server.wait_ready("guarded")
        yield server, base_path
    finally:
        assert server.stop() == 0, server.log_text()[-2000:]


class Traffic:
    """REST and gRPC clients calling the model until stopped; every answer and failure is kept."""

    def __init__(self, server: ServerProcess, threads: int = 4):
        self._server = server
        self._stop = threading.Event()
        self.answers: list[float] = []
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        with grpc.insecure_channel(self._server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                try:
                    self.answers.append(self._grpc(stub) if index % 2 else self._rest())
                except Exception as exc:  # every failure counts
                    self.failures.append(repr(exc))
                time.sleep(0.01)

    def _rest(self) -> float:
        status, body = http(self._server, "/v1/models/guarded:predict", {"instances": [2.0]})
        if status != 200:
            raise AssertionError(f"REST {status}: {body}")
        return body["predictions"][0]

    @staticmethod
    def _grpc(stub) -> float:
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="guarded"))
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
        return float(tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])[0])

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _statuses(server) -> dict[str, tuple[str, int, str]]:
    body = http(server, "/v1/models/guarded")[1]
    return {entry["version"]: (entry["state"], entry["status"]["error_code"], entry["status"]["error_message"])
            for entry in body["model_version_status"]}


def _wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError("condition not met")


def _corrupt_pb(target: Path, source: Path) -> None:
    shutil.copytree(source, target)
    (target / "saved_model.pb").write_bytes(b"\x08\x96\x01garbage, not a SavedModel" * 20)


def _missing_variables(target: Path, source: Path) -> None:
    shutil.copytree(source, target)
    shutil.rmtree(target / "variables")


def _wrong_signatures(target: Path, source: Path, warmup_from: Path) -> None:
    """A SavedModel whose warmup requests (written for another model) its signatures cannot run."""
    shutil.copytree(source, target)
    (target / "assets.extra").mkdir(exist_ok=True)
    shutil.copy(warmup_from / "assets.extra" / "tf_serving_warmup_requests", target / "assets.extra")


def test_versions_that_fail_to_load_leave_the_previous_one_serving(guarded_server, exports, tmp_path):
    server, base_path = guarded_server
    spin_export = tmp_path / "other"
    spin = tf.Module()
    spin.f = tf.function(lambda z: {"w": z * 2.0}, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(spin, str(spin_export), signatures={"serving_default": spin.f})
    broken = {
        2: lambda target: _corrupt_pb(target, exports["offset2"]),
        3: lambda target: _missing_variables(target, exports["offset2"]),
        4: lambda target: _wrong_signatures(target, spin_export, exports["toy"]),
    }
    with Traffic(server) as traffic:
        for version, make in broken.items():
            staging = base_path / f".staging-broken-{version}"
            make(staging)
            os.rename(staging, base_path / str(version))
            _wait_for(lambda: _statuses(server).get(str(version), ("",))[0] == "END")
        # The newest is retried on later polls, as TF Serving retries a failed load; wait them out.
        statuses = _wait_for(lambda: (lambda now: all(now[str(v)][0] == "END" for v in broken) and now)(
            _statuses(server)))
    assert traffic.failures == []
    assert set(traffic.answers) == {2.0}  # version 1 answered everything
    assert statuses["1"][0] == "AVAILABLE"
    for version in broken:
        state, code, message = statuses[str(version)]
        assert state == "END" and code != "OK" and message, statuses
    for version in broken:
        shutil.rmtree(base_path / str(version))


def _fill_disk(mount_point: Path, leave_bytes: int) -> Path:
    filler = mount_point / "filler"
    stat = os.statvfs(mount_point)
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * max(stat.f_bavail * stat.f_frsize - leave_bytes, 0))
    return filler


def test_a_push_onto_a_full_disk_leaves_no_version_and_the_old_one_serving(guarded_server, small_disk, exports):
    mount_point, why_not = small_disk
    if why_not:
        pytest.skip(f"cannot mount a tmpfs here: {why_not}")
    server, base_path = guarded_server
    before = sorted(os.listdir(base_path))
    filler = _fill_disk(mount_point, leave_bytes=20_000)  # less than the SavedModel's size
    try:
        with Traffic(server) as traffic:
            with pytest.raises(OSError) as failure:
                publish.publish_version(str(exports["offset3"]), str(base_path))
            time.sleep(2)  # polls happen while the disk is full
        assert failure.value.errno == errno.ENOSPC or "No space left" in str(failure.value)
        assert sorted(os.listdir(base_path)) == before  # no version, no staging left behind
        assert traffic.failures == [] and set(traffic.answers) == {2.0}
    finally:
        filler.unlink()
    version, _ = publish.publish_version(str(exports["offset3"]), str(base_path))  # with room it works
    _wait_for(lambda: _statuses(server).get(str(version), ("",))[0] == "AVAILABLE")
    assert http(server, "/v1/models/guarded:predict", {"instances": [2.0]}) == (200, {"predictions": [4.0]})
