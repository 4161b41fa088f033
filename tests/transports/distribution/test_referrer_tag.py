"""put_referrer's tag fallback (a registry without the referrers API): the ``sha256-<hex>`` index of the
subject is read, its entry for the referrer replaced and the rest kept; an index that is not one is replaced."""
from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest

from pypush.transports.distribution.destination import RegistryTransport

SUBJECT = "sha256:" + "a" * 64
REFERRER = json.dumps({"schemaVersion": 2, "subject": {"digest": SUBJECT}}).encode()
DIGEST = "sha256:" + hashlib.sha256(REFERRER).hexdigest()


class _Client:
    """Answers the calls of put_referrer: the referrer's PUT without OCI-Subject, the GET of the tag."""

    def __init__(self, tagged: bytes):
        self.tagged = tagged
        self.puts: List[Dict[str, Any]] = []

    def call(self, method: str, path: str, **kw: Any) -> Any:
        if method == "GET":
            return SimpleNamespace(status_code=200, content=self.tagged, headers={})
        self.puts.append({"path": path, "doc": json.loads(kw["data"])})
        return SimpleNamespace(status_code=201, content=b"", headers={})


def _put_referrer(tagged: bytes) -> Dict[str, Any]:
    """The index put_referrer tags ``sha256-<subject hex>`` when that tag held ``tagged``."""
    t = RegistryTransport("registry.invalid", "r", lookup_credentials=False)
    t.client = client = _Client(tagged)
    t.put_referrer(REFERRER, "application/vnd.oci.image.manifest.v1+json", DIGEST, "application/example")
    put = client.puts[-1]
    assert put["path"] == "/v2/r/manifests/sha256-" + "a" * 64
    return put["doc"]


def test_the_other_referrers_are_kept_and_its_own_entry_replaced() -> None:
    other = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "b" * 64, "size": 9}
    own = {**other, "digest": DIGEST, "artifactType": "application/old"}
    doc = _put_referrer(json.dumps({"schemaVersion": 2, "manifests": [own, other]}).encode())
    assert [m.get("artifactType") for m in doc["manifests"]] == [None, "application/example"]
    assert doc["manifests"][0] == other


@pytest.mark.parametrize("tagged", [b'{"manifests": 5}', b'{"manifests": true}', b'{"manifests": ["x"]}', b"[]",
                                    b"not json"])
def test_a_tag_that_is_no_index_is_replaced(tagged: bytes) -> None:
    doc = _put_referrer(tagged)
    assert [m["artifactType"] for m in doc["manifests"]] == ["application/example"]
