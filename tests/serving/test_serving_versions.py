"""Version changes on disk: picked up by polling, swapped without failing in-flight requests."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from serving import config, errors
from serving.config import single_model_config
from serving.model_registry import ModelRegistry, aspired_versions
from serving_testlib import http, publish_version

LOAD_THREADS = 4


def _rest_predict(server) -> float:
    status, body = http(server, "/v1/models/swap:predict", {"instances": [2.0]})
    if status != 200:
        raise AssertionError(f"REST {status}: {body}")
    return body["predictions"][0]


def _grpc_predict(stub) -> float:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="swap"))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
    return float(tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])[0])


def test_new_version_is_served_without_failed_requests(server, model_root, exports):
    stop = threading.Event()
    results: list[float] = []
    failures: list[str] = []

    def load(index: int) -> None:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not stop.is_set():
                try:
                    results.append(_grpc_predict(stub) if index % 2 else _rest_predict(server))
                except Exception as exc:  # every failure counts
                    failures.append(repr(exc))
                time.sleep(0.005)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        publish_version(model_root / "swap", 2, exports["offset2"])  # y = x/2 + 2 from now on
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {entry["version"]: entry["state"] for entry in http(server, "/v1/models/swap")[1]["model_version_status"]}
            if states == {"2": "AVAILABLE", "1": "END"}:
                break
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert states == {"2": "AVAILABLE", "1": "END"}
    assert failures == []
    assert set(results) == {2.0, 3.0}  # answers from version 1, then from version 2
    assert results[-1] == 3.0


class _FakeServable:
    def __init__(self, name: str, version: int, path: str):
        self.name, self.version, self.path = name, version, path
        self.released = False

    def release(self) -> None:
        self.released = True


def test_retired_version_is_released_only_after_its_last_lease(tmp_path: Path):
    (tmp_path / "1").mkdir()
    registry = ModelRegistry(single_model_config("m", str(tmp_path)), loader=_FakeServable)
    registry.poll_once()
    with registry.lease(model_pb2.ModelSpec(name="m")) as first:
        (tmp_path / "2").mkdir()
        registry.poll_once()
        assert [v for v, _ in registry.version_statuses("m")] == [2, 1]
        assert dict(registry.version_statuses("m"))[1].state == "UNLOADING"
        assert not first.released  # still serving the request that leased it
        with registry.lease(model_pb2.ModelSpec(name="m")) as second:
            assert second.version == 2
    assert first.released
    assert dict(registry.version_statuses("m"))[1].state == "END"
    with pytest.raises(errors.ServingError, match=r"Specific\(m, 1\)"):
        with registry.lease(model_pb2.ModelSpec(name="m", version={"value": 1})):
            pass
    registry.stop()


def test_failed_load_is_reported_in_status(tmp_path: Path):
    (tmp_path / "1").mkdir()

    def broken_loader(name: str, version: int, path: str):
        raise errors.invalid_argument("no saved_model.pb")

    registry = ModelRegistry(single_model_config("m", str(tmp_path)), loader=broken_loader)
    with pytest.raises(errors.ServingError, match="no saved_model.pb"):
        registry.load_until_available(poll_wait_seconds=1)
    [(version, status)] = registry.version_statuses("m")
    assert (version, status.state, status.error_code) == (1, "END", grpc.StatusCode.INVALID_ARGUMENT)


@pytest.mark.parametrize("policy, expected", [
    ("", {5}),
    ("model_version_policy { latest { num_versions: 2 } }", {3, 5}),
    ("model_version_policy { all {} }", {1, 3, 5}),
    ("model_version_policy { specific { versions: 1 versions: 4 } }", {1}),
])
def test_version_policies(policy, expected):
    models = config.parse_model_server_config(
        f'model_config_list {{ config {{ name: "m" base_path: "/m" {policy} }} }}')
    assert aspired_versions(models.model_config_list.config[0], [1, 3, 5]) == expected


def test_missing_base_path_keeps_serving_but_empty_one_unloads(tmp_path: Path):
    base = tmp_path / "m"
    (base / "1").mkdir(parents=True)
    registry = ModelRegistry(single_model_config("m", str(base)), loader=_FakeServable)
    registry.poll_once()
    base.rename(tmp_path / "moved")  # unreachable: TF Serving emits nothing, so nothing unloads
    registry.poll_once()
    assert dict(registry.version_statuses("m"))[1].state == "AVAILABLE"
    base.mkdir()  # reachable and empty: every version unloads
    registry.poll_once()
    assert dict(registry.version_statuses("m"))[1].state == "END"
    registry.stop()


def test_a_newer_version_that_fails_to_load_leaves_the_last_good_one_serving(tmp_path: Path):
    (tmp_path / "1").mkdir()

    def loader(name: str, version: int, path: str):
        if version == 2:
            raise errors.invalid_argument("corrupt saved_model.pb")
        return _FakeServable(name, version, path)

    registry = ModelRegistry(single_model_config("m", str(tmp_path)), loader=loader)
    registry.poll_once()
    (tmp_path / "2").mkdir()
    registry.poll_once()
    statuses = dict(registry.version_statuses("m"))
    assert statuses[1].state == "AVAILABLE"
    assert (statuses[2].state, statuses[2].error_message) == ("END", "corrupt saved_model.pb")
    with registry.lease(model_pb2.ModelSpec(name="m")) as servable:
        assert servable.version == 1
    (tmp_path / "3").mkdir()  # a good newer version replaces it
    registry.poll_once()
    assert dict(registry.version_statuses("m"))[1].state == "END"
    with registry.lease(model_pb2.ModelSpec(name="m")) as servable:
        assert servable.version == 3
    registry.stop()
