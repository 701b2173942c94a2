"""Transport security: --ssl_config_file (TF Serving's SSLConfig) with mutual TLS on gRPC and REST."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from certificates import CertificateAuthority
from serving import query_cli
from serving.client import GrpcClient, RestClient, ServerUnavailableError, TlsFiles
from serving_testlib import ServerProcess


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("pki")
    trusted, rogue = CertificateAuthority("unirec test CA"), CertificateAuthority("rogue CA")
    pairs = {"server": trusted.issue("localhost", server=True), "client": trusted.issue("client", server=False),
             "rogue_client": rogue.issue("client", server=False)}
    files = {"ca": folder / "ca.pem", "rogue_ca": folder / "rogue-ca.pem"}
    files["ca"].write_text(trusted.cert_pem)
    files["rogue_ca"].write_text(rogue.cert_pem)
    for name, pair in pairs.items():
        files[f"{name}_key"] = folder / f"{name}.key"
        files[f"{name}_cert"] = folder / f"{name}.pem"
        files[f"{name}_key"].write_text(pair.key_pem)
        files[f"{name}_cert"].write_text(pair.cert_pem)
    ssl_config = folder / "ssl.config"
    ssl_config.write_text(
        f'server_key: "{_escape(pairs["server"].key_pem)}"\nserver_cert: "{_escape(pairs["server"].cert_pem)}"\n'
        f'custom_ca: "{_escape(trusted.cert_pem)}"\nclient_verify: true\n')
    files["ssl_config"] = ssl_config
    return {name: str(path) for name, path in files.items()}


def _escape(pem: str) -> str:
    return pem.replace("\n", "\\n")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, model_root, pki):
    logs = tmp_path_factory.mktemp("tls-logs")
    server = ServerProcess(["--model_name=toy", f"--model_base_path={model_root / 'toy'}",
                            f"--ssl_config_file={pki['ssl_config']}"], logs / "tls.log")
    try:
        server.wait_ready("toy", scheme="https", ssl_context=_client_context(pki, "client"))
        yield server
    finally:
        assert server.stop() == 0, server.log_text()[-2000:]


def _client_context(pki: dict, who: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    if who:
        context.load_cert_chain(pki[f"{who}_cert"], pki[f"{who}_key"])
    return context


def _grpc_predict(target: str, credentials: grpc.ChannelCredentials) -> float:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="toy"))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
    with grpc.secure_channel(target, credentials) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return float(tf.make_ndarray(stub.Predict(request, timeout=10).outputs["y"])[0])


def _credentials(pki: dict, ca: str, who: str | None) -> grpc.ChannelCredentials:
    read = lambda name: open(pki[name], "rb").read()  # noqa: E731
    return grpc.ssl_channel_credentials(read(ca), read(f"{who}_key") if who else None,
                                        read(f"{who}_cert") if who else None)


def test_grpc_client_with_a_trusted_certificate_gets_answers(tls_server, pki):
    assert _grpc_predict(tls_server.grpc_target, _credentials(pki, "ca", "client")) == 3.0


@pytest.mark.parametrize("who", [None, "rogue_client"])
def test_grpc_client_without_a_trusted_certificate_fails_the_handshake(tls_server, pki, who):
    with pytest.raises(grpc.RpcError) as failure:
        _grpc_predict(tls_server.grpc_target, _credentials(pki, "ca", who))
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_plaintext_client_is_refused(tls_server):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="toy"))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0], np.float32)))
    with grpc.insecure_channel(tls_server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def _rest_predict(server: ServerProcess, context: ssl.SSLContext) -> float:
    request = urllib.request.Request(f"https://127.0.0.1:{server.rest_port}/v1/models/toy:predict",
                                     data=b'{"instances": [2.0]}')
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.loads(response.read())["predictions"][0]


def test_rest_uses_the_same_files(tls_server, pki):
    assert _rest_predict(tls_server, _client_context(pki, "client")) == 3.0
    for who in (None, "rogue_client"):
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _rest_predict(tls_server, _client_context(pki, who))


@pytest.mark.parametrize("client_class, port", [(RestClient, "rest_port"), (GrpcClient, "grpc_port")])
def test_client_library_takes_ca_cert_and_key(tls_server, pki, client_class, port):
    trusted = TlsFiles(pki["ca"], pki["client_cert"], pki["client_key"])
    client = client_class("127.0.0.1", getattr(tls_server, port), timeout=10, tls=trusted)
    assert client.predict("toy", {"x": [2.0]})["y"].tolist() == [3.0]
    untrusted = client_class("127.0.0.1", getattr(tls_server, port), timeout=10,
                             tls=TlsFiles(pki["ca"], pki["rogue_client_cert"], pki["rogue_client_key"]))
    with pytest.raises(ServerUnavailableError):
        untrusted.model_status("toy")


def test_query_cli_takes_the_tls_files(tls_server, pki, capsys):
    # The toy model has no `retrieve` signature: reaching that error proves the TLS call went through.
    code = query_cli.main(["retrieve", "u1", "--model", "toy", "--protocol", "grpc",
                           "--port", str(tls_server.grpc_port), "--ca-cert", pki["ca"],
                           "--client-cert", pki["client_cert"], "--client-key", pki["client_key"]])
    assert code == 1
    assert "has no signature 'retrieve'" in capsys.readouterr().err
