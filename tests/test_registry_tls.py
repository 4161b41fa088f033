"""Schemes and TLS: docker-registry serving HTTPS with a self-signed certificate."""
from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import start_docker_registry
from test_registry_push import Progress, blob_of, fetch_blob
from imagegen import random_bytes

from pypush.errors import RegistryError
from pypush.transports.distribution.v2_transport import RegistryTransport


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    """docker-registry on https://127.0.0.1:PORT with a self-signed certificate; yields (registry, cert path)."""
    root = tmp_path_factory.mktemp("tls-registry")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    mp = pytest.MonkeyPatch()
    mp.setenv("REGISTRY_HTTP_TLS_CERTIFICATE", str(cert_path))  # docker-registry's config overrides
    mp.setenv("REGISTRY_HTTP_TLS_KEY", str(key_path))
    try:
        reg = start_docker_registry(root)
    finally:
        mp.undo()
    yield reg, cert_path
    reg.stop()


def test_insecure_uses_https_without_verification(tls_registry):
    reg, _ = tls_registry
    blob = blob_of(random_bytes(100_000, 41))
    with RegistryTransport(reg.host, "tls/a", insecure=True, lookup_credentials=False) as t:
        t.prepare()
        assert t.url("/v2/").startswith("https://")
        t.upload(blob, Progress())
        assert t.missing([blob.descriptor.digest]) == set()


def test_untrusted_certificate_is_an_error_not_a_fallback_to_http(tls_registry):
    reg, _ = tls_registry
    with RegistryTransport(reg.host, "tls/a", lookup_credentials=False) as t:
        with pytest.raises(RegistryError) as info:
            t.prepare()
    assert info.value.code == "TLS" and "--insecure" in str(info.value) and "REQUESTS_CA_BUNDLE" in str(info.value)


def test_ca_bundle_makes_it_trusted(tls_registry, monkeypatch):
    reg, cert = tls_registry
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    data = random_bytes(200_000, 42)
    with RegistryTransport(reg.host, "tls/b", lookup_credentials=False) as t:
        t.prepare()
        t.upload(blob_of(data), Progress())
        assert t.url("/v2/").startswith("https://")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(Exception):
        fetch_blob(reg, "tls/b", blob_of(data).descriptor.digest)  # plain http is not served there
