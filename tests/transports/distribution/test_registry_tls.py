"""Schemes and TLS: docker-registry serving HTTPS with a self-signed certificate."""
from __future__ import annotations

import pytest

from certs import self_signed
from conftest import start_docker_registry, server_fixture
from registry_builders import Progress, blob_of, fetch_blob
from imagegen import random_bytes

from pypush.errors import RegistryError
from pypush.transports.distribution.destination import RegistryTransport


@server_fixture(scope="module")
def tls_registry(tmp_path_factory):
    """docker-registry on https://127.0.0.1:PORT with a self-signed certificate; yields (registry, cert path)."""
    root = tmp_path_factory.mktemp("tls-registry")
    cert_path, key_path = self_signed(root)
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
        assert t.client.url("/v2/").startswith("https://")
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
        assert t.client.url("/v2/").startswith("https://")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(Exception):
        fetch_blob(reg, "tls/b", blob_of(data).descriptor.digest)  # plain http is not served there
