"""One repository of an OCI distribution (v2) registry as a push destination.

``RegistryTransport`` answers the Transport questions (which blobs are missing, upload this blob, put
this manifest) through a ``RegistryClient`` (pypush.transports.distribution.client: scheme, credentials,
retries); a blob's upload session is pypush.transports.distribution.upload. Blobs are mounted from
``mount_from`` repositories of the same registry when they can be. ECR's registry endpoints accept only one
PATCH per upload session (later chunks are dropped: aws/containers-roadmap#2831), so there blobs go up whole
(``resumable`` False) and a failed upload restarts instead of resuming.
"""
from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional, Sequence, Set
from urllib.parse import urlencode

import requests

from pypush.errors import RegistryError
from pypush.image.model import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Blob, Descriptor
from pypush.name.patterns import is_ecr_host
from pypush.net.retry import Backoff
from pypush.transports.base import ProgressFn, Transport
from pypush.transports.distribution.client import RegistryClient
from pypush.transports.distribution.docker_credentials import Credentials
from pypush.transports.distribution.token_auth import Scopes
from pypush.transports.distribution.upload import DEFAULT_CHUNK_SIZE, BlobUpload
from pypush.transports.resume_state import ResumeStore, UploadKey

log = logging.getLogger(__name__)

_MANIFEST_TYPES = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


class RegistryTransport(Transport):
    """Push to one repository of an OCI distribution (v2) registry; safe to share between threads."""

    def __init__(self, registry: str, repository: str, *, insecure: bool = False,
                 credentials: Optional[Credentials] = None, mount_from: Sequence[str] = (),
                 chunk_size: int = DEFAULT_CHUNK_SIZE, session: Optional[requests.Session] = None,
                 pool_size: int = 8, backoff: Backoff = Backoff(), lookup_credentials: bool = True,
                 resumable: Optional[bool] = None):
        """``registry`` is ``host[:port]``. Without ``credentials`` they are looked up in docker's
        config.json when the registry first asks (unless ``lookup_credentials`` is False).
        ``resumable``: the registry takes several PATCH chunks per upload (default: unless ECR)."""
        self.client = RegistryClient(registry, repository=repository, insecure=insecure, credentials=credentials,
                                     session=session, pool_size=pool_size, backoff=backoff,
                                     lookup_credentials=lookup_credentials)
        self.registry = registry
        self.repository = repository
        self.mount_from = [r for r in dict.fromkeys(mount_from) if r and r != repository]
        self.chunk_size = max(1, chunk_size)
        self.resumable = not is_ecr_host(registry) if resumable is None else resumable
        self.stats = self.client.stats  # also: patches, resumes, mounted, sendfile
        self.push_scopes: Scopes = (f"repository:{repository}:pull,push",)
        self.resume_store: Optional[ResumeStore] = ResumeStore.default()  # half-sent blobs, kept between runs

    # ----- the Transport protocol -------------------------------------------------------------

    def prepare(self, create_repository: bool = False) -> None:
        """GET /v2/: the registry answers and accepts our credentials (v2 repositories need no creating)."""
        self.client.base_url()
        if self.client.open_api:  # the scheme probe already had the answer
            return
        resp = self.client.call("GET", "/v2/", scopes=self.push_scopes, ok=(200, 404),
                                what="API check (GET /v2/)")
        if resp.status_code == 404:
            raise RegistryError(f"{self.registry}: GET /v2/ answered 404: not an OCI distribution registry",
                                code="404")

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """HEAD each blob (a few at a time); the digests the repository does not have."""
        unique = list(dict.fromkeys(digests))
        if len(unique) <= 1:
            present = [self.has_blob(d) for d in unique]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(unique)), thread_name_prefix="pypush-head") as pool:
                present = list(pool.map(self.has_blob, unique))
        return {d for d, has in zip(unique, present) if not has}

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Mount or stream ``blob``; the descriptor of what the registry stored."""
        desc = blob.descriptor
        started = None
        if desc.digest and self.mount_from:
            started = self._mount(desc.digest)
            if started is None:
                if desc.digest.startswith("sha256:") or self.has_blob(desc.digest):
                    return desc
                # mounted under the registry's canonical sha256 only (docker-registry does so for sha512): upload
                log.info("mount of %s linked it only by sha256; uploading it", desc.digest)
                self.stats.add("mounted", -1)
        return BlobUpload(self, blob, progress, started).run()

    def upload_key(self, digest: str) -> UploadKey:
        """What a half-sent upload of blob ``digest`` here is remembered by: registry host and repository."""
        return UploadKey("v2", f"{self.registry}/{self.repository}", digest)

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """PUT the exact bytes by digest (no tags) or once per tag, checking the digest the registry reports."""
        for ref in list(dict.fromkeys(tags)) or [digest]:
            what = f"manifest PUT {self.repository}:{ref}" if ref != digest else f"manifest PUT {self.repository}@{ref}"
            resp = self.client.call("PUT", f"/v2/{self.repository}/manifests/{ref}", scopes=self.push_scopes,
                                    ok=(200, 201, 202), what=what, data=raw, headers={"Content-Type": media_type})
            got = resp.headers.get("Docker-Content-Digest")
            if got and digest and got != digest:
                raise RegistryError(f"{self.registry}: {what}: the registry stored digest {got}, expected {digest}",
                                    code="DIGEST_MISMATCH")

    def put_referrer(self, raw: bytes, media_type: str, digest: str, artifact_type: str) -> None:
        """PUT a manifest with a ``subject`` by digest; a registry without the referrers API (no ``OCI-Subject``
        in its answer) gets the tag fallback: the index tagged ``sha256-<hex>`` of the subject lists it."""
        what = f"manifest PUT {self.repository}@{digest}"
        resp = self.client.call("PUT", f"/v2/{self.repository}/manifests/{digest}", scopes=self.push_scopes,
                                ok=(200, 201, 202), what=what, data=raw, headers={"Content-Type": media_type})
        if resp.headers.get("OCI-Subject"):
            return
        subject = json.loads(raw)["subject"]["digest"]
        tag = subject.replace(":", "-")
        index_type = "application/vnd.oci.image.index.v1+json"
        got = self.client.call("GET", f"/v2/{self.repository}/manifests/{tag}", scopes=self.push_scopes,
                               ok=(200, 404), what=f"manifest GET {self.repository}:{tag}",
                               headers={"Accept": index_type})
        doc: Dict[str, Any] = {"schemaVersion": 2, "mediaType": index_type, "manifests": []}
        if got.status_code == 200:
            try:
                old = json.loads(got.content)
                doc["manifests"] = [m for m in old.get("manifests") or [] if m.get("digest") != digest]
            except (ValueError, AttributeError, TypeError):  # not an index (manifests: 5): replaced
                pass
        entry: Dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(raw)}
        if artifact_type:
            entry["artifactType"] = artifact_type
        doc["manifests"].append(entry)
        body = json.dumps(doc, separators=(",", ":")).encode()
        self.put_manifest(body, index_type, "sha256:" + hashlib.sha256(body).hexdigest(), [tag])

    def tag_digest(self, tag: str) -> Optional[str]:
        """The digest of the manifest the repository has under ``tag`` (None when it has none)."""
        resp = self.client.call("HEAD", f"/v2/{self.repository}/manifests/{tag}", scopes=self.push_scopes,
                                ok=(200, 404), what=f"manifest HEAD {self.repository}:{tag}",
                                headers={"Accept": _MANIFEST_TYPES})
        return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()

    def __enter__(self) -> "RegistryTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- blobs --------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        """HEAD the blob: whether the repository has it."""
        resp = self.client.call("HEAD", f"/v2/{self.repository}/blobs/{digest}", scopes=self.push_scopes,
                                ok=(200, 307, 302, 404), what=f"blob HEAD {digest}")
        return resp.status_code != 404

    def _mount(self, digest: str) -> Optional[requests.Response]:
        """Try ``mount_from`` in order: None when mounted, else the answer that opened an upload."""
        resp = None
        for i, source in enumerate(self.mount_from):
            resp = self._mount_request(digest, source)
            if resp.status_code == 201:
                return None
            if i + 1 < len(self.mount_from):
                self.client.cancel(self.client.location(resp), self.push_scopes)
        return resp

    def mount(self, digest: str, source: str) -> bool:
        """Mount blob ``digest`` from repository ``source`` of this registry; False when the registry did not
        (the upload session it opened instead is cancelled)."""
        resp = self._mount_request(digest, source)
        if resp.status_code == 201:
            return True
        self.client.cancel(self.client.location(resp), self.push_scopes)
        return False

    def _mount_request(self, digest: str, source: str) -> requests.Response:
        scopes = self.push_scopes + (f"repository:{source}:pull",)
        query = urlencode({"mount": digest, "from": source})
        resp = self.client.call("POST", f"/v2/{self.repository}/blobs/uploads/?{query}", scopes=scopes,
                                ok=(201, 202), what=f"blob mount {digest} from {source}")
        if resp.status_code == 201:
            self.stats.add("mounted")
        return resp
