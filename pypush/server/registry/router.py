"""The registry door: routes /v2/ requests to the read side (reads.py), uploads (uploads.py) and
manifest writes (manifests.py) behind ECR's login (auth.py).

``GET /v2/`` without credentials answers 401 with ECR's challenge; reads are open to anonymous
clients on the public login (as on ECR Public) and need credentials on the private one; writes need
the GetAuthorizationToken password (Basic ``AWS:<password>``) or a push token from ``GET /token``.
Every manifest GET that finds an image counts as a pull of it, every manifest HEAD as a version check
(store/pull_counts.py; publisher reports read them). A push to a repository that does not exist creates it (private ECR's create-on-push), unless the
``no-create`` quirk answers NAME_UNKNOWN as ECR Public does.

The premium door (``premium=True``, the endpoint's second port, which premiumRegistryUri names) serves
the premium repositories under the same paths (``<repo>`` or ``<alias>/<repo>``): only with the owner's
credentials (a GetAuthorizationToken password or its push token), never anonymously; it creates nothing
(CreatePremiumRepository does), and deprecated images whose time has come are deleted before it answers.
"""
from __future__ import annotations

import re
from email.message import Message
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from pypush.server.aws.context import public_context
from pypush.server.aws.premium_images import purge_due
from pypush.server.aws.protocol import ApiError, validate
from pypush.server.aws.repositories import create_repository
from pypush.server.http_body import RequestBody
from pypush.server.registry.auth import PUSH, access, challenge
from pypush.server.registry.manifests import ManifestApi
from pypush.server.registry.reads import ReadApi, json_reply, resolve_repo, strip_alias, v2_error
from pypush.server.registry.uploads import UploadApi
from pypush.server.reply import Reply
from pypush.server.settings import Settings
from pypush.server.store import pull_counts
from pypush.server.store.store import Store

_NAME = r"(?P<name>[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)"
_ROUTES = [
    (re.compile(rf"/v2/{_NAME}/blobs/uploads/(?P<ref>[A-Za-z0-9-]{{0,64}})"), "uploads"),
    (re.compile(rf"/v2/{_NAME}/(?P<kind>manifests|blobs|referrers)/(?P<ref>[^/]{{1,300}})"), "objects"),
    (re.compile(rf"/v2/{_NAME}/tags/list"), "tags"),
]
MAX_NAME = 256
READS = ("GET", "HEAD")


class RegistryDoor:
    """Answers every request under /v2/."""

    def __init__(self, store: Store, settings: Settings, premium: bool = False):
        self.store = store
        self.settings = settings
        self.premium = premium
        self.reads = ReadApi(store, premium)
        self.uploads = UploadApi(store, settings)
        self.manifests = ManifestApi(store, settings)

    def handle(self, method: str, target: str, headers: Message, body: RequestBody) -> Reply:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query, max_num_fields=20)
        level, presented = access(self.store, headers)
        if presented and level is None:
            return self._unauthorized(headers, "UNAUTHORIZED", "your authorization token is invalid or has expired")
        if self.premium:
            refusal = self._premium_access(headers, level)
            if refusal is not None:
                return refusal
            purge_due(self.store, self.settings.clock())
        if path in ("/v2", "/v2/"):
            if method not in READS:
                return v2_error(405, "UNSUPPORTED", f"{method} {path} is not supported")
            if level is None:
                return self._unauthorized(headers, "UNAUTHORIZED", "authentication required")
            return json_reply({})
        write = method not in READS
        if (write and level != PUSH) or (self.settings.login == "private" and level is None):
            if level is None:
                return self._unauthorized(headers, "UNAUTHORIZED", "authentication required")
            return self._unauthorized(headers, "DENIED", "this token may only pull", ',error="insufficient_scope"')
        if path == "/v2/_catalog":
            return self.reads.catalog(query) if not write else _unsupported(method, path)
        for pattern, kind in _ROUTES:
            m = pattern.fullmatch(path)
            if m:
                break
        else:
            if path.startswith("/v2/") and ("/manifests/" in path or "/blobs/" in path or "/tags/" in path
                                            or "/referrers/" in path):
                return v2_error(400, "NAME_INVALID", "invalid repository name")
            return v2_error(404, "NOT_FOUND", "no such route")
        name = m["name"]
        if len(name) > MAX_NAME:
            return v2_error(400, "NAME_INVALID", f"repository names have at most {MAX_NAME} characters")
        repo = resolve_repo(self.store, self.settings.alias, name, self.premium)
        creates = kind == "uploads" or (kind == "objects" and m["kind"] == "manifests" and method == "PUT")
        if repo is None and creates and not self.premium and "no-create" not in self.settings.quirks:
            repo, refusal = self._create(name)
            if refusal is not None:
                return refusal
        if repo is None:
            if kind == "objects" and m["kind"] == "referrers" and not write:  # the spec: never a 404 here
                return self.reads.referrers(name, m["ref"], query)  # (an empty index)
            return v2_error(404, "NAME_UNKNOWN", f"repository {name!r} is not known")
        if kind == "uploads":
            return self._upload(method, name, repo, m["ref"], query, headers, body)
        if kind == "tags":
            return self.reads.tags(name, repo, query) if not write else _unsupported(method, path)
        ref = m["ref"]
        if m["kind"] == "referrers":
            return self.reads.referrers(repo, ref, query) if not write else _unsupported(method, path)
        if m["kind"] == "blobs":
            if write:
                return _unsupported(method, path)
            return self.reads.blob(repo, ref, headers.get("Range"))
        if method in READS:
            reply = self.reads.manifest(repo, ref)
            if reply.status == 200:  # counted for publisher reports: GET a pull, HEAD a version check
                pull_counts.count(self.store, repo, reply.headers["Docker-Content-Digest"],
                                  pull_counts.PULL if method == "GET" else pull_counts.VERSION_CHECK,
                                  self.settings.now())
            return reply
        if method == "PUT":
            return self.manifests.put(name, repo, ref, headers, body)
        if method == "DELETE":
            return self.manifests.delete(repo, ref)
        return _unsupported(method, path)

    def _premium_access(self, headers: Message, level: Optional[str]) -> Optional[Reply]:
        """The refusal of a premium-door request without the owner's credentials (else None)."""
        if level == PUSH:
            return None
        if level is None:
            return self._unauthorized(headers, "UNAUTHORIZED", "premium repositories need credentials")
        return self._unauthorized(headers, "DENIED", "premium repositories need the owner's credentials "
                                  "(a GetAuthorizationToken password), not an anonymous token", ',error="insufficient_scope"')

    def _upload(self, method: str, name: str, repo: str, upload_id: str, query: Dict[str, List[str]],
                headers: Message, body: RequestBody) -> Reply:
        if not upload_id:
            return self.uploads.start(name, repo, query, body) if method == "POST" else _unsupported(method, name)
        if method == "PATCH":
            return self.uploads.patch(name, repo, upload_id, headers, body)
        if method == "PUT":
            return self.uploads.put(name, repo, upload_id, query, headers, body)
        if method == "GET":
            return self.uploads.status(name, repo, upload_id)
        if method == "DELETE":
            return self.uploads.cancel(repo, upload_id)
        return _unsupported(method, f"upload {upload_id}")

    def _create(self, name: str) -> Tuple[Optional[str], Optional[Reply]]:
        """Create on push (as private ECR with a creation template): ``<alias>/<repo>`` creates ``<repo>``."""
        repo = strip_alias(self.settings.alias, name)
        ctx = public_context(self.store, self.settings, "CreateRepository")
        params = {"repositoryName": repo}
        try:
            validate(ctx.op.input_shape, params)
            create_repository(ctx, params)
        except ApiError as e:
            if e.code != "RepositoryAlreadyExistsException":  # a racing push created it: fine
                return None, v2_error(400, "NAME_INVALID", e.message)
        return repo, None

    def _unauthorized(self, headers: Message, code: str, message: str, extra: str = "") -> Reply:
        host: Optional[str] = headers.get("Host")
        if host is not None and not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,300}", host):
            host = None
        value = challenge(self.settings.url, self.settings.login, host) + extra
        return v2_error(401, code, message, **{"Www-Authenticate": value})


def _unsupported(method: str, what: str) -> Reply:
    return v2_error(405, "UNSUPPORTED", f"{method} is not supported on {what}", Allow="GET, HEAD")

