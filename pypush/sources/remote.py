"""Images in a registry (``docker://HOST/REPO[:TAG|@DIGEST]``) as a source: the same model the file
readers yield, read over the OCI distribution v2 API.

Manifests are fetched whole (at most 4 MiB), checked against the digest asked for (a tag's answer
against the ``Docker-Content-Digest`` the registry names) and kept byte for byte. Image configs are
read once and checked when the image is opened. Layers stream: each blob's opener is a GET that,
when the connection drops mid-blob, continues with ``Range: bytes=N-`` from the byte it reached (a
server that ignores the Range is read past the bytes already delivered). Every blob is verified
against its digest by the engine's VerifyingReader, as blobs from files are.

Connections, credentials (anonymous, Basic, Bearer challenges, docker's config.json and credential
helpers), the scheme choice and retries (429/5xx honour Retry-After) are the v2 RegistryClient's
(pypush.transports.distribution.client), as a push destination's are; private
ECR sources get a token from GetAuthorizationToken when no credentials are configured; ECR Public
sources and Docker Hub answer with a Bearer challenge the anonymous token flow satisfies.
"""
from __future__ import annotations

import http.client
import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, cast
from urllib.parse import urljoin

import requests
import urllib3

from pypush.errors import AuthError, NoSuchImage, PypushError, RegistryError, SourceError, TransientError
from pypush.image.model import (DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, INDEX_TYPES, OCI_CONFIG, OCI_INDEX,
                                OCI_MANIFEST, Blob, Descriptor, ImageIndex, ImageManifest, Node, carries_layer,
                                sha256_digest)
from pypush.image.parse import (MAX_MANIFEST, load_json, manifest_kind, parse_index,
                                parse_manifest)
from pypush.image.platforms import Platform, check_single, narrow, select_platforms
from pypush.name.reference import DOCKER_HUB_HOST, ECR_PRIVATE, Reference, parse_remote
from pypush.sources.base import Source
from pypush.transports.distribution.docker_credentials import Credentials, credentials_for
from pypush.transports.distribution.client import RegistryClient

log = logging.getLogger("pypush")
T = TypeVar("T")

SCHEME = "docker://"
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
MAX_CONFIG = 16 << 20
MAX_DEPTH = 8
READ_SIZE = 1 << 20
MAX_STALLS = 5
"""Reconnections in a row that deliver no byte before a blob's read gives up."""
_REDIRECTS = (301, 302, 303, 307, 308)
_DROPS = (requests.RequestException, OSError, urllib3.exceptions.HTTPError, http.client.HTTPException)
"""What a read of a dropped connection raises."""


class SchemaOneError(SourceError):
    """The registry holds the image as a Docker schema 1 manifest, which pypush does not copy."""


@dataclass
class RemoteSource(Source):
    """An image in a registry; ``close`` releases its connections."""

    reader: Optional["RemoteReader"] = field(default=None, repr=False)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


def is_remote(spec: str) -> bool:
    """Whether a source spec names an image in a registry."""
    return spec.startswith(SCHEME)


def connect(ref: Reference, *, insecure: bool = False, username: Optional[str] = None,
            password: Optional[str] = None, profile: Optional[str] = None, pool_size: int = 8,
            endpoint_url: Optional[str] = None) -> "RemoteReader":
    """A reader of the repository ``ref`` names, with credentials: the given pair, else docker's config,
    else (private ECR) a GetAuthorizationToken login, else anonymous. Credentials from docker's config that
    the registry refuses (an expired ECR Public login, say) are dropped for anonymous access, once."""
    creds: Optional[Credentials] = credentials_for(ref.registry, username=username, password=password)
    if creds is None and ref.kind == ECR_PRIVATE:
        from pypush.transports.ecr.login import ecr_login

        user, secret = ecr_login(ref, endpoint_url, profile)
        creds = Credentials(user, secret, source="from ECR GetAuthorizationToken")

    def conn(credentials: Optional[Credentials]) -> RegistryClient:
        return RegistryClient(ref.registry, repository=ref.path, access="pull", insecure=insecure,
                              credentials=credentials, pool_size=pool_size, lookup_credentials=False)

    configured = creds is not None and username is None and password is None and ref.kind != ECR_PRIVATE
    return RemoteReader(ref, conn(creds), anonymous=(lambda: conn(None)) if configured else None,
                        credentials=creds.source if creds else "")


def open_remote(spec: str, *, platforms: Sequence[Platform] = (), insecure: bool = False,
                username: Optional[str] = None, password: Optional[str] = None, profile: Optional[str] = None,
                pool_size: int = 8, nondistributable: bool = False) -> RemoteSource:
    """Open ``docker://…``: the manifest (or index, children resolved) it names, configs checked;
    ``nondistributable``: layers with urls are copied too (from this registry)."""
    ref = parse_remote(spec)
    reader = connect(ref, insecure=insecure, username=username, password=password, profile=profile,
                     pool_size=pool_size)
    reader.nondistributable = nondistributable
    try:
        try:
            root = reader.image(ref.digest or ref.tag or "latest", platforms)
        except NoSuchImage as exc:
            if ref.digest:
                raise
            raise NoSuchImage(f"{exc}{'' if ref.tag else '; no tag given, so latest was assumed'}"
                              f"{reader.tags_hint()}") from None
    except BaseException:
        reader.close()
        raise
    tags = [ref.tag] if ref.tag else ([] if ref.digest else ["latest"])
    return RemoteSource(root=root, name=spec, tags=tags, format="docker", reference=ref, reader=reader)


class RemoteReader:
    """Reads manifests, blobs and tags of one repository through a v2 connection (thread-safe)."""

    def __init__(self, ref: Reference, conn: RegistryClient,
                 anonymous: Optional[Callable[[], RegistryClient]] = None, credentials: str = ""):
        """``anonymous``: makes a connection without credentials, tried once when ``conn``'s are refused;
        ``credentials``: where ``conn``'s come from (for the message)."""
        self.ref = ref
        self.conn = conn
        self._anonymous = anonymous
        self._credentials = credentials
        self._retired: List[RegistryClient] = []
        self.repository = ref.path
        self.scopes = (f"repository:{self.repository}:pull",)
        self.label = f"{SCHEME}{ref.registry}/{self.repository}"
        self.resumes = 0  # reconnections after a blob's connection dropped (observable in tests)
        self._lock = threading.Lock()
        self._nodes: Dict[str, Node] = {}  # digest -> node read (an index may list one child many times)
        self.nondistributable = False  # copy layers with urls too

    # ----- manifests ----------------------------------------------------------------------------

    def image(self, reference: str, platforms: Sequence[Platform] = ()) -> Node:
        """The manifest or index ``reference`` (a tag or digest) names, children resolved; with
        ``platforms`` an index keeps only the children they pick, and one platform yields its child."""
        desc, raw, doc = self.manifest(reference)
        where = self._named(reference)
        if platforms and desc.media_type in INDEX_TYPES:
            children = parse_index(doc, where)
            if any(c.media_type in INDEX_TYPES for c in children):  # nested: the platforms may be anywhere below
                return select_platforms(self._build(desc, raw, doc, where, 0), platforms, where)
            one, desc, raw, keep = narrow(desc, raw, children, platforms, where)
            if one is not None:
                return self.node(children[one], f"{where}.manifests[{one}]")
            doc = load_json(raw, where)
        node = self._build(desc, raw, doc, where, 0)
        if platforms and isinstance(node, ImageManifest):
            check_single(node, platforms, where)
        return node

    def manifest(self, reference: str, expect: Optional[Descriptor] = None) -> Tuple[Descriptor, bytes, Dict[str, Any]]:
        """GET one manifest: (descriptor with its media type, exact bytes, parsed JSON), its digest checked."""
        what = self._named(reference)
        resp = self._call("GET", f"/v2/{self.repository}/manifests/{reference}", ok=(200, 404),
                          what=f"manifest GET {what}", headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            gone = NoSuchImage if expect is None else SourceError  # a child an index names is a broken image
            raise gone(f"{what}: no such image in the registry (HTTP 404)")
        raw = resp.content
        if len(raw) > MAX_MANIFEST:
            raise SourceError(f"{what}: manifest of {len(raw)} bytes exceeds the 4 MiB limit")
        digest = sha256_digest(raw)
        named = resp.headers.get("Docker-Content-Digest", "")
        wanted = expect.digest if expect is not None else (reference if reference.startswith("sha256:") else "")
        if wanted and digest != wanted:
            raise SourceError(f"{what}: the registry served a manifest with digest {digest}, not the {wanted} "
                              f"asked for; refused")
        if named.startswith("sha256:") and named != digest:
            raise SourceError(f"{what}: the registry says the manifest is {named}, but its bytes have digest "
                              f"{digest}; refused")
        if expect is not None and len(raw) != expect.size:  # its digest is checked above
            raise SourceError(f"{what}: {len(raw)} bytes, but its descriptor declares size {expect.size}")
        doc = load_json(raw, what)
        if doc.get("schemaVersion") == 1:
            raise SchemaOneError(f"{what}: a Docker schema 1 manifest (deprecated, unsigned copies change its digest); "
                                 f"not supported")
        header_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        base = expect or Descriptor(header_type if header_type in (*INDEX_TYPES, OCI_MANIFEST, DOCKER_MANIFEST)
                                    else "", digest, len(raw))
        return replace(base, media_type=manifest_kind(doc, base, what)), raw, doc

    def _named(self, reference: str) -> str:
        """``REPO:TAG`` or ``REPO@DIGEST`` as users write it, for messages."""
        return f"{self.label}{'@' if reference.startswith('sha256:') else ':'}{reference}"

    def digest_of(self, tag: str) -> str:
        """The digest of the manifest ``tag`` names (HEAD; a GET when the registry does not say)."""
        resp = self._call("HEAD", f"/v2/{self.repository}/manifests/{tag}", ok=(200, 404),
                          what=f"manifest HEAD {self.label}:{tag}", headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            raise NoSuchImage(f"{self.label}:{tag}: no such image in the registry (HTTP 404)")
        named = resp.headers.get("Docker-Content-Digest", "")
        return named if named.startswith("sha256:") else self.manifest(tag)[0].digest

    def node(self, desc: Descriptor, where: str, depth: int = 0) -> Node:
        """The manifest or index ``desc`` names, fetched by digest (once, however often indexes list it) and
        checked against it."""
        cached = self._nodes.get(desc.digest)
        if cached is not None:
            return cached
        if depth > MAX_DEPTH:
            raise SourceError(f"{where}: indexes nested more than {MAX_DEPTH} deep")
        got, raw, doc = self.manifest(desc.digest, expect=desc)
        node = self._nodes[desc.digest] = self._build(got, raw, doc, where, depth)
        return node

    def _build(self, desc: Descriptor, raw: bytes, doc: Dict[str, Any], where: str, depth: int) -> Node:
        if desc.media_type in INDEX_TYPES:
            return self._index(desc, raw, doc, where, depth)
        parsed = parse_manifest(doc, where)
        layers = [self.blob(d, f"{where}.layers[{i}]") for i, d in enumerate(parsed["layers"])
                  if carries_layer(doc["layers"][i], self.nondistributable, f"{where}.layers[{i}]",
                                   self.nondistributable)]
        config = self._config(parsed["config"], f"{where}.config", len(parsed["layers"]))
        return ImageManifest(descriptor=desc, raw=raw, config=config, layers=layers)

    def _index(self, desc: Descriptor, raw: bytes, doc: Dict[str, Any], where: str, depth: int) -> ImageIndex:
        children = parse_index(doc, where)
        spots = [(c, f"{where}.manifests[{i}]") for i, c in enumerate(children)]
        if len(spots) <= 1 or depth > 0:  # one pool, at the top: nested pools would outgrow the connection pool
            nodes = [self.node(c, w, depth + 1) for c, w in spots]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(spots)), thread_name_prefix="pypush-manifest") as pool:
                nodes = list(pool.map(lambda s: self.node(s[0], s[1], depth + 1), spots))
        return ImageIndex(descriptor=desc, raw=raw, children=nodes)

    def _config(self, desc: Descriptor, where: str, layers: int) -> Blob:
        """An image config is read now (checked like a file source's) and served from memory; others stream."""
        if desc.media_type not in (OCI_CONFIG, DOCKER_CONFIG) or desc.size > MAX_CONFIG:
            return self.blob(desc, where)
        from pypush.sources.oci_layout import check_image_config

        with self.open_blob(desc, where) as stream:
            raw = stream.read(MAX_CONFIG + 1)
        blob = Blob(descriptor=desc, open=lambda: io.BytesIO(raw), name=f"{self.label}@{desc.digest}")
        check_image_config(blob, layers, where)
        return blob

    # ----- blobs --------------------------------------------------------------------------------

    def blob(self, desc: Descriptor, where: str) -> Blob:
        """A Blob whose opener streams ``desc`` from the registry (resuming after drops)."""
        return Blob(descriptor=desc, open=lambda: cast(IO[bytes], self.open_blob(desc, where)),
                    name=f"{self.label}@{desc.digest}")

    def open_blob(self, desc: Descriptor, where: str = "") -> "ResumingStream":
        """A stream of the blob's bytes from the start (the GET is sent on first read)."""
        return ResumingStream(lambda start: self._get_blob(desc, start, where), desc.size,
                              f"blob {desc.digest} of {self.label}", self._resumed)

    def _resumed(self) -> None:
        with self._lock:
            self.resumes += 1

    def _get_blob(self, desc: Descriptor, start: int, where: str) -> requests.Response:
        """The answer to a GET of the blob from byte ``start`` (redirects followed, without our credentials
        on other hosts), positioned at ``start``: a 200 to a Range request is read past ``start``."""
        what = f"blob GET {desc.digest} of {self.label}"

        def once() -> requests.Response:
            url = f"/v2/{self.repository}/blobs/{desc.digest}"
            # the blob's own bytes: no gzip a proxy or CDN would add on top (its digest is of these bytes)
            headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={start}-"} if start else {})}
            for _ in range(6):
                resp = self.conn.send("GET", url, scopes=self.scopes, headers=headers, stream=True)
                if resp.status_code not in _REDIRECTS or not resp.headers.get("Location"):
                    break
                url = urljoin(resp.url, resp.headers["Location"])
                resp.close()
            if resp.status_code == 404:
                resp.close()
                raise SourceError(f"{where or self.label}: blob {desc.digest} is missing from the registry (HTTP 404)")
            if resp.status_code not in (200, 206):
                err = self.conn.refusal(resp, what)
                resp.close()
                raise err
            return resp

        resp = self._retrying(once, what)
        if resp.headers.get("Content-Encoding", "identity").strip().lower() not in ("identity", ""):
            resp.raw.decode_content = True  # encoded all the same: decoded back to the blob's bytes
        if start and resp.status_code == 200:  # the Range was ignored: skip what we already have
            log.info("%s: the server ignored the Range request; reading past %d bytes again", what, start)
            left = start
            while left:
                got = resp.raw.read(min(READ_SIZE, left))
                if not got:
                    resp.close()
                    raise TransientError(f"{what}: the connection ended before byte {start}", code="SHORT_READ")
                left -= len(got)
        elif start and not resp.headers.get("Content-Range", "").replace(" ", "").startswith(f"bytes{start}-"):
            resp.close()
            raise SourceError(f"{what}: asked for bytes from {start}, the server sent "
                              f"{resp.headers.get('Content-Range') or 'no Content-Range'}")
        return resp

    # ----- tags ---------------------------------------------------------------------------------

    def tags(self) -> List[str]:
        """Every tag of the repository (``tags/list``, following ``Link`` pages)."""
        out: List[str] = []
        url: Optional[str] = f"/v2/{self.repository}/tags/list?n=1000"
        seen = set()
        while url and url not in seen:  # a registry whose Link names a page already read is done
            seen.add(url)
            resp = self._call("GET", url, ok=(200, 404), what=f"tags/list of {self.label}")
            if resp.status_code == 404:
                raise SourceError(f"{self.label}: no such repository in the registry (HTTP 404)")
            try:
                page = resp.json().get("tags") or []
            except (ValueError, AttributeError):
                raise SourceError(f"{self.label}: tags/list answered something that is not its JSON") from None
            out.extend(t for t in page if isinstance(t, str))
            link = resp.links.get("next", {}).get("url")
            url = urljoin(resp.url, link) if link and page else None
        return list(dict.fromkeys(out))

    def tags_hint(self, shown: int = 10) -> str:
        """``; its tags: a, b, …`` for a message about a missing tag (one page of tags/list; "" when the
        registry does not say)."""
        try:
            resp = self._call("GET", f"/v2/{self.repository}/tags/list?n={shown + 1}", ok=(200, 404),
                              what=f"tags/list of {self.label}")
            tags = [t for t in resp.json().get("tags") or [] if isinstance(t, str)] if resp.status_code == 200 else None
        except (PypushError, ValueError, AttributeError):
            return ""
        if tags is None:
            return "; there is no such repository"
        if not tags:
            return "; the repository has no tags"
        return f"; its tags: {', '.join(sorted(tags)[:shown])}{', …' if len(tags) > shown else ''}"

    # ----- requests -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, ok: Sequence[int], what: str,
              headers: Optional[dict] = None) -> requests.Response:
        return self._guarded(lambda: self.conn.call(method, path, scopes=self.scopes, ok=ok, what=what,
                                                    headers=headers))

    def _retrying(self, fn: Any, what: str) -> Any:
        return self._guarded(lambda: self.conn.retrying(fn, what))

    def _guarded(self, fn: Callable[[], T]) -> T:
        """``fn()``, once more anonymously when configured credentials are refused; errors explained."""
        try:
            try:
                return fn()
            except AuthError as exc:
                if not self._drop_credentials(exc):
                    raise
                return fn()
        except RegistryError as exc:
            raise self._explain(exc) from None

    def _drop_credentials(self, exc: AuthError) -> bool:
        """Switch to an anonymous connection (once); True when a retry may succeed."""
        with self._lock:
            if self._anonymous is None:
                return bool(self._retired)  # another thread switched already
            log.warning("%s: the credentials %s were refused (%s); trying anonymously", self.label,
                        self._credentials, exc.code or "auth")
            self._retired.append(self.conn)
            self.conn, self._anonymous = self._anonymous(), None
            return True

    def close(self) -> None:
        """Release every connection this reader opened."""
        for conn in [*self._retired, self.conn]:
            conn.close()

    def _explain(self, exc: RegistryError) -> RegistryError:
        """Docker Hub's pull limit gets a message that says so."""
        if self.ref.registry == DOCKER_HUB_HOST and (exc.code in ("429", "TOOMANYREQUESTS") or " 429" in str(exc)):
            return TransientError(f"{exc}: Docker Hub's pull rate limit is reached; log in (docker login) for a "
                                  f"higher limit, or wait and rerun", code=exc.code)
        return exc


class ResumingStream(io.RawIOBase):
    """A blob's bytes from a GET that reconnects from the byte it reached when the connection drops.

    ``fetch(start)`` returns a response positioned at ``start``. Drops are resumed at once while they
    make progress; ``MAX_STALLS`` reconnections in a row without a byte give up (TransientError).
    """

    def __init__(self, fetch: Callable[[int], requests.Response], size: int, name: str,
                 on_resume: Optional[Callable[[], None]] = None):
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._name = name
        self._on_resume = on_resume
        self._resp: Optional[requests.Response] = None
        self.position = 0
        self._stalls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(READ_SIZE), b""))
        while True:
            if self._resp is None:
                self._resp = self._fetch(self.position)
            try:
                data = self._resp.raw.read(n)
            except _DROPS as exc:
                self._dropped(exc)
                continue
            if not data and n and self.position < self._size:
                self._dropped(EOFError("connection closed early"))
                continue
            if data:
                self._stalls = 0
            self.position += len(data)
            return data

    def _dropped(self, exc: BaseException) -> None:
        self._release()
        self._stalls += 1
        if self._stalls > MAX_STALLS:
            raise TransientError(f"{self._name}: the connection keeps dropping at byte {self.position} "
                                 f"({exc.__class__.__name__})", code="CONNECTION")
        log.info("%s: connection dropped at byte %d of %d (%s); resuming from there", self._name, self.position,
                 self._size, exc.__class__.__name__)
        if self._on_resume is not None:
            self._on_resume()

    def _release(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def close(self) -> None:
        self._release()
        super().close()


__all__ = ["SchemaOneError", "RemoteSource", "RemoteReader", "ResumingStream", "open_remote", "connect", "is_remote", "SCHEME"]
