"""The ECR transport: ECR Public and private ECR through their JSON APIs, via botocore.

Every call but UploadLayerPart goes through a stock botocore client. UploadLayerPart is the hot
path: its ~14 MB JSON body (a base64 string) is built as bytes by hand, hashed once, signed with
botocore's own SigV4 signer and streamed over a per-thread keep-alive connection.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import os
import ssl
import threading
import time
import urllib.request
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union
from urllib.parse import SplitResult, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError

from pypush.net import aws
from pypush import b64
from pypush.image.digest import VerifyingReader
from pypush.errors import RegistryError, SourceError, TransientError
from pypush.image.model import Blob, Descriptor
from pypush.transports.ecr.pacing import Pacer
from pypush.name.reference import ECR_PUBLIC, Destination
from pypush.net.retry import Backoff
from pypush.transports.base import ProgressFn

log = logging.getLogger("pypush")

_TARGET = {"ecr-public": "SpencerFrontendService", "ecr": "AmazonEC2ContainerRegistry_V20150921"}
_ENCODE_CHUNK = 3 << 20  # raw bytes per base64 piece (a multiple of 3, so pieces concatenate)
_PART_BACKOFF = Backoff(attempts=9, base=0.2, cap=20.0)
_BLOB_RESTARTS = 3


_PARTS_IN_MEMORY = threading.BoundedSemaphore(3)  # encoded parts held at once, whatever --jobs says


def _return_big_buffers_to_the_os() -> None:
    """Have glibc mmap every buffer of 1 MiB or more, so freed parts leave the process at once.

    Without this, glibc's adaptive threshold serves later multi-MiB parts from the heap and the
    resident size keeps the high-water mark of every part ever encoded.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


class _PrehashedSigV4(SigV4Auth):
    """SigV4 with the payload hash computed by the caller while building the body."""

    def payload(self, request: AWSRequest) -> str:
        return request.context["payload_sha256"]


class _PartError(Exception):
    def __init__(self, status: int, code: str, message: str, body: Dict[str, Any]):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


class EcrTransport:
    """Push to one repository of ECR Public (``kind == "ecr-public"``) or private ECR (``"ecr"``)."""

    def __init__(self, destination: Destination, endpoint_url: Optional[str] = None, profile: Optional[str] = None,
                 max_attempts: int = 6, rate_limits: Optional[Dict[str, float]] = None):
        self.destination = destination
        self.repository = destination.repository
        self.service = "ecr-public" if destination.kind == ECR_PUBLIC else "ecr"
        self.region = destination.region or aws.ECR_PUBLIC_REGION
        session = aws.make_session(profile)
        self._credentials = aws.resolve_credentials(session, endpoint_url)
        self.client = aws.make_client(self.service, self.region, endpoint_url, session, max_attempts,
                                      credentials=self._credentials)
        self._url = urlsplit(self.client.meta.endpoint_url)
        _return_big_buffers_to_the_os()
        self._pacer = Pacer(self.service, rate_limits)
        self.client.meta.events.register("before-send", self._pacer.botocore_handler)
        self.client.meta.events.register("needs-retry", self._count_failure)
        self.stats: Counter = Counter()  # uploaded, bytes, retries (failed attempts), throttled (of which)
        self._stats_lock = threading.Lock()
        self._local = threading.local()
        self._registry_id = destination.registry_id

    # -- botocore calls ---------------------------------------------------------------------------
    def _count(self, code: str) -> None:
        with self._stats_lock:
            self.stats["retries"] += 1
            if code in ("ThrottlingException", "LimitExceededException"):
                self.stats["throttled"] += 1

    def _count_failure(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        """botocore ``needs-retry`` hook: count failed attempts (botocore decides the retry)."""
        if caught_exception is not None:
            self._count("")
        elif response is not None:
            http, parsed = response
            code = str((parsed or {}).get("Error", {}).get("Code", ""))
            if http.status_code >= 500 or code in aws.TRANSIENT_CODES:
                self._count(code)

    def _ids(self) -> Dict[str, str]:
        ids = {"repositoryName": self.repository}
        if self._registry_id:
            ids["registryId"] = self._registry_id
        return ids

    def _call(self, operation: str, what: str, **params: Any) -> Dict[str, Any]:
        try:
            return getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise aws.translate(exc, what) from None

    def prepare(self, create_repository: bool = False) -> None:
        """Check the repository exists; create it when asked.

        A push-only IAM policy may not allow DescribeRepositories: then the push goes ahead and a
        missing repository shows as RepositoryNotFoundException on the first push call.
        """
        try:
            self.client.describe_repositories(repositoryNames=[self.repository])
            return
        except ClientError as exc:
            code = aws.error_code(exc)
            if code == "AccessDeniedException" and not create_repository:
                log.info("not allowed to describe %s; pushing anyway", self.destination.name)
                return
            if code != "RepositoryNotFoundException" or not create_repository:
                raise aws.translate(exc, f"repository {self.destination.name}") from None
        except BotoCoreError as exc:
            raise aws.translate(exc, f"repository {self.destination.name}") from None
        try:
            self.client.create_repository(repositoryName=self.repository)
            log.info("created repository %s", self.destination.name)
        except ClientError as exc:
            if aws.error_code(exc) != "RepositoryAlreadyExistsException":
                raise aws.translate(exc, f"creating repository {self.destination.name}") from None

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """BatchCheckLayerAvailability in batches of 100."""
        unique = list(dict.fromkeys(digests))
        absent: Set[str] = set()
        for i in range(0, len(unique), 100):
            batch = unique[i:i + 100]
            resp = self._call("batch_check_layer_availability", f"checking blobs in {self.destination.name}",
                              layerDigests=batch, **self._ids())
            present = {layer["layerDigest"] for layer in resp.get("layers", [])
                       if layer.get("layerAvailability") == "AVAILABLE"}
            for failure in resp.get("failures", []):
                if failure.get("failureCode") == "InvalidLayerDigest":
                    raise RegistryError(f"registry refused digest {failure.get('layerDigest')}: "
                                        f"{failure.get('failureReason', 'InvalidLayerDigest')}", "InvalidLayerDigest")
            absent.update(d for d in batch if d not in present)
        return absent

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """PutImage once per tag (or once untagged); identical re-puts count as success."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"manifest {digest} is not UTF-8 text") from None
        for tag in list(tags) or [""]:
            params = dict(self._ids(), imageManifest=text, imageManifestMediaType=media_type, imageDigest=digest)
            if tag:
                params["imageTag"] = tag
            try:
                resp = self.client.put_image(**params)
            except ClientError as exc:
                if aws.error_code(exc) == "ImageAlreadyExistsException":
                    continue
                raise aws.translate(exc, f"PutImage {self.destination.name}" + (f":{tag}" if tag else f"@{digest}")) from None
            except BotoCoreError as exc:
                raise aws.translate(exc, f"PutImage {self.destination.name}") from None
            got = resp.get("image", {}).get("imageId", {}).get("imageDigest")
            if got and got != digest:
                raise RegistryError(f"PutImage {self.destination.name}: registry stored digest {got}, expected {digest}")

    def tag_digest(self, tag: str) -> Optional[str]:
        """The digest of the image tagged ``tag`` (DescribeImages; None when there is none)."""
        try:
            ids = {k: v for k, v in self._ids().items() if k != "registryId" or v.isdigit()}  # an alias is no id here
            resp = self.client.describe_images(imageIds=[{"imageTag": tag}], **ids)
        except ClientError as exc:
            if aws.error_code(exc) in ("ImageNotFoundException", "ImageTagDoesNotExistException"):
                return None
            raise aws.translate(exc, f"DescribeImages {self.destination.name}:{tag}") from None
        except BotoCoreError as exc:
            raise aws.translate(exc, f"DescribeImages {self.destination.name}:{tag}") from None
        details = resp.get("imageDetails") or []
        return details[0].get("imageDigest") if details else None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    # -- blob upload ------------------------------------------------------------------------------
    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Initiate → UploadLayerPart… → Complete; restarts the blob if the upload is lost."""
        for restart in range(_BLOB_RESTARTS + 1):
            try:
                return self._upload_once(blob, progress)
            except _UploadLost as lost:
                progress(-lost.sent)
                if restart == _BLOB_RESTARTS:
                    raise TransientError(f"uploading {blob.name or blob.descriptor.digest}: the upload was lost "
                                         f"{restart + 1} times (UploadNotFoundException)", "UploadNotFoundException")
                log.info("upload of %s lost; restarting it", blob.descriptor.digest)
        raise AssertionError("unreachable")

    def _upload_once(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        desc = blob.descriptor
        name = blob.name or desc.digest
        resp = self._call("initiate_layer_upload", f"InitiateLayerUpload for {name}", **self._ids())
        upload_id, part_size = resp["uploadId"], int(resp.get("partSize") or 10 << 20)
        expected_size = desc.size if desc.digest else None
        reader = VerifyingReader(blob.open(), desc.digest, expected_size, name, blob.hashed)
        sent = 0
        try:
            while True:
                with _PARTS_IN_MEMORY:
                    pieces, body_hash, n = self._encode_part(reader, part_size, upload_id, sent)
                    if n == 0:
                        break
                    resume_at = self._send_part(pieces, body_hash, upload_id, sent, n, name, progress)
                    del pieces
                if resume_at != sent + n:  # the service kept fewer bytes than were sent: resume there
                    progress(resume_at - sent)
                    reader.close()
                    reader = VerifyingReader(blob.open(), desc.digest, expected_size, name, blob.hashed)
                    _skip(reader, resume_at, name)
                sent = resume_at
            if sent == 0:
                raise SourceError(f"blob {name} is empty: ECR cannot store a 0-byte layer")
        except _UploadLost as lost:
            lost.sent = sent
            raise
        finally:
            reader.close()
        digest = reader.digest
        try:
            resp = self.client.complete_layer_upload(uploadId=upload_id, layerDigests=[digest], **self._ids())
            stored = resp.get("layerDigest", digest)
            if stored != digest:
                raise RegistryError(f"CompleteLayerUpload for {name}: registry computed {stored}, pypush sent {digest}")
        except ClientError as exc:
            code = aws.error_code(exc)
            if code == "UploadNotFoundException":
                if digest not in self.missing([digest]):  # an earlier attempt completed it
                    return Descriptor(desc.media_type, digest, sent, desc.annotations, desc.platform,
                                      desc.artifact_type)
                raise _UploadLost(sent) from None
            if code != "LayerAlreadyExistsException":
                raise aws.translate(exc, f"CompleteLayerUpload for {name}") from None
        except BotoCoreError as exc:
            raise aws.translate(exc, f"CompleteLayerUpload for {name}") from None
        with self._stats_lock:
            self.stats["uploaded"] += 1
            self.stats["bytes"] += sent
        return Descriptor(desc.media_type, digest, sent, desc.annotations, desc.platform, desc.artifact_type)

    def _encode_part(self, reader: VerifyingReader, part_size: int, upload_id: str,
                     first: int) -> Tuple[List[Union[bytes, bytearray]], str, int]:
        """Read up to ``part_size`` bytes and build the UploadLayerPart JSON body as pieces."""
        encoded: List[Union[bytes, bytearray]] = []
        n = 0
        while n < part_size:
            raw = reader.read_exactly(min(_ENCODE_CHUNK, part_size - n))
            if not raw:
                break
            n += len(raw)
            encoded.append(b64.encode(raw))
        if n == 0:
            return [], "", 0
        ids = self._ids()
        head = json.dumps(dict(ids, uploadId=upload_id, partFirstByte=first, partLastByte=first + n - 1))
        pieces = [head[:-1].encode() + b', "layerPartBlob": "', *encoded, b'"}']
        h = hashlib.sha256()
        for p in pieces:
            h.update(p)
        return pieces, h.hexdigest(), n

    def _send_part(self, pieces: List[Union[bytes, bytearray]], body_hash: str, upload_id: str, first: int, n: int, name: str,
                   progress: ProgressFn) -> int:
        """Send one part with retries; returns the next byte offset the service expects (``first + n``,
        or less when the service reports it kept fewer bytes than were sent)."""
        for attempt in range(_PART_BACKOFF.attempts):
            try:
                self._post("UploadLayerPart", pieces, body_hash)
                progress(n)
                return first + n
            except _PartError as err:
                if err.code == "InvalidLayerPartException" and "lastValidByteReceived" in err.body:
                    last = int(err.body["lastValidByteReceived"])
                    if last >= first + n - 1:  # the part arrived; the reply was lost
                        progress(n)
                        return first + n
                    if last + 1 != first:
                        return last + 1
                    err_to_raise: Exception = RegistryError(f"UploadLayerPart for {name}: {err}", err.code)
                elif err.code == "UploadNotFoundException":
                    raise _UploadLost(first) from None
                elif err.status >= 500 or err.code in ("ThrottlingException", "LimitExceededException",
                                                       "ServerException"):
                    err_to_raise = TransientError(f"UploadLayerPart for {name}: {err}", err.code)
                else:
                    raise aws_part_error(err, name) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                err_to_raise = TransientError(f"UploadLayerPart for {name}: connection failed ({type(exc).__name__})")
            self._count(getattr(err_to_raise, "code", "") or "")
            if attempt + 1 == _PART_BACKOFF.attempts:
                raise err_to_raise
            delay = _PART_BACKOFF.delay(attempt)
            log.info("UploadLayerPart for %s failed (%s); retry %d in %.1fs", name, err_to_raise, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _open_connection(self._url)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, operation: str, pieces: List[Union[bytes, bytearray]], body_hash: str) -> Dict[str, Any]:
        """POST a hand-built JSON body, signed with SigV4; raise _PartError on an error reply."""
        length = sum(len(p) for p in pieces)
        host = self._url.netloc
        request = AWSRequest(method="POST", url=f"{self._url.scheme}://{host}/", headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"{_TARGET[self.service]}.{operation}",
            "Content-Length": str(length),
            "Host": host,
        })
        request.context["payload_sha256"] = body_hash
        creds = self._credentials.get_frozen_credentials() if hasattr(self._credentials, "get_frozen_credentials") \
            else self._credentials
        _PrehashedSigV4(creds, self.service, self.region).add_auth(request)
        self._pacer.wait(operation)
        conn = self._connection()
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for key, value in request.headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        for piece in pieces:
            conn.send(piece)
        resp = conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self._drop_connection()
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        if resp.status == 200:
            return body
        code = str(body.get("__type") or resp.getheader("x-amzn-ErrorType") or f"HTTP{resp.status}")
        code = code.split("#")[-1].split(":")[0]
        raise _PartError(resp.status, code, str(body.get("message") or body.get("Message") or ""), body)


def _open_connection(url: SplitResult) -> http.client.HTTPConnection:
    """A keep-alive connection to ``url``'s host: through the HTTP(S)_PROXY botocore would use (a CONNECT
    tunnel) unless NO_PROXY exempts the host, and trusting AWS_CA_BUNDLE like botocore."""
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    proxy = None
    if not urllib.request.proxy_bypass(host):
        proxy = urllib.request.getproxies().get(url.scheme)
    target, headers = (host, port), {}
    if proxy:
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        target = (p.hostname or "", p.port or 8080)
        if p.username:
            creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(creds).decode()
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        conn = http.client.HTTPSConnection(*target, timeout=120, context=context)
    else:
        conn = http.client.HTTPConnection(*target, timeout=120)
    if proxy:
        conn.set_tunnel(host, port, headers=headers)
    return conn


def _skip(reader: VerifyingReader, offset: int, name: str) -> None:
    """Read (and hash) the first ``offset`` bytes of a fresh reader without sending them."""
    left = offset
    while left > 0:
        chunk = reader.read(min(left, 1 << 22))
        if not chunk:
            raise SourceError(f"blob {name} is shorter than the {offset} bytes the service already holds")
        left -= len(chunk)


class _UploadLost(Exception):
    def __init__(self, sent: int):
        super().__init__("upload lost")
        self.sent = sent


def aws_part_error(err: _PartError, name: str) -> Exception:
    """Map an UploadLayerPart error reply the same way botocore errors are mapped."""
    fake = ClientError({"Error": {"Code": err.code, "Message": err.message}}, "UploadLayerPart")
    return aws.translate(fake, f"UploadLayerPart for {name}")
