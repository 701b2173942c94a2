"""serving.client: the same answers over REST and gRPC, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from serving.client import GrpcClient, ModelNotFoundError, RestClient, ServerUnavailableError, ServingClientError
from serving_testlib import free_port


@pytest.fixture(scope="module", params=["rest", "grpc"])
def client(request, server):
    if request.param == "rest":
        yield RestClient("127.0.0.1", server.rest_port)
    else:
        with GrpcClient("127.0.0.1", server.grpc_port) as grpc_client:
            yield grpc_client


def test_predict(client):
    outputs = client.predict("toy", {"x": [1.0, 2.0]})
    assert list(outputs) == ["y"]
    assert outputs["y"].dtype == np.float32
    np.testing.assert_allclose(outputs["y"], [2.5, 3.0])


def test_predict_strings_signature_and_version(client):
    outputs = client.predict("toy", {"text": ["hi", "né"]}, signature_name="echo")
    assert outputs["text_bytes"].tolist() == [b"hi", "né".encode()]
    assert outputs["upper"].tolist() == [b"HI", "Né".encode()]
    assert outputs["length"].tolist() == [2, 3]
    binary = client.predict("toy", {"text": [b"\x00\xff"]}, signature_name="echo")
    assert binary["text_bytes"].tolist() == [b"\x00\xff"]  # *_bytes outputs travel as b64 over REST
    assert client.predict("versioned", {"x": [2.0]}, version=1)["y"].tolist() == [2.0]
    assert client.predict("toy", {"ids": [41]}, signature_name="int_ids")["next_ids"].tolist() == [42]


def test_status_and_metadata_have_the_rest_shape(client, server):
    rest = RestClient("127.0.0.1", server.rest_port)
    assert client.model_status("toy") == rest.model_status("toy")
    assert client.metadata("toy") == rest.metadata("toy")


def test_missing_model_and_bad_input(client):
    with pytest.raises(ModelNotFoundError, match="Servable not found for request: Latest"):
        client.predict("nope", {"x": [1.0]})
    with pytest.raises(ModelNotFoundError, match="Could not find version 4 of model toy"):
        client.model_status("toy", version=4)
    with pytest.raises(ServingClientError, match="no signature 'nope'"):
        client.predict("toy", {"x": [1.0]}, signature_name="nope")
    with pytest.raises(ServingClientError) as raised:
        client.predict("toy", {"x": ["a"]})
    assert not isinstance(raised.value, ModelNotFoundError)


@pytest.mark.parametrize("make_client", [RestClient, GrpcClient])
def test_server_down_names_the_address(make_client):
    port = free_port()
    client = make_client("127.0.0.1", port, timeout=5)
    with pytest.raises(ServerUnavailableError, match=f"127.0.0.1:{port}"):
        client.model_status("toy")
