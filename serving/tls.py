"""Transport security from one SSLConfig, for both front ends and for the clients.

gRPC takes the PEM text as TF Serving does (grpc.ssl_server_credentials); REST gets an
ssl.SSLContext with the same key, certificate, CA and client verification.
"""
from __future__ import annotations

import os
import ssl
import tempfile

import grpc

from serving.config import SslOptions


def grpc_server_credentials(options: SslOptions) -> grpc.ServerCredentials:
    """BuildServerCredentialsFromSSLConfigFile: client certificates required and verified when client_verify."""
    return grpc.ssl_server_credentials(
        [(options.server_key.encode(), options.server_cert.encode())],
        root_certificates=options.custom_ca.encode() if options.custom_ca else None,
        require_client_auth=options.client_verify)


def _load_key_pair(context: ssl.SSLContext, key_pem: str, cert_pem: str) -> None:
    # The ssl module reads key pairs only from files: write them where only this user can read, briefly.
    with tempfile.TemporaryDirectory() as scratch:
        key_path, cert_path = os.path.join(scratch, "key.pem"), os.path.join(scratch, "cert.pem")
        for path, text in ((key_path, key_pem), (cert_path, cert_pem)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(text)
        context.load_cert_chain(cert_path, key_path)


def rest_server_context(options: SslOptions) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_key_pair(context, options.server_key, options.server_cert)
    if options.custom_ca:
        context.load_verify_locations(cadata=options.custom_ca)
    context.verify_mode = ssl.CERT_REQUIRED if options.client_verify else ssl.CERT_NONE
    return context


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def grpc_channel_credentials(ca_cert: str | None, client_cert: str | None = None,
                             client_key: str | None = None) -> grpc.ChannelCredentials:
    """Client side: trust `ca_cert` (system roots when None), present the client pair when given."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_cert), private_key=_read(client_key), certificate_chain=_read(client_cert))


def rest_client_context(ca_cert: str | None, client_cert: str | None = None,
                        client_key: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_cert)
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    return context
