"""The ECR transport: ECR Public and private ECR through their JSON APIs.

When the environment alone gives the credentials (AWS_ACCESS_KEY_ID/..., or a loopback endpoint with no
AWS configuration) every call goes through pypush.net.aws_json's small SigV4 client and botocore is never
loaded; any other credential source (profiles, SSO, roles, credential_process) goes through a botocore
client, made only then. UploadLayerPart is the hot path either way (a layer's upload steps are
pypush.transports.ecr.upload). Every request is retried by the same policy (pypush.net.retry), paced
by the same token buckets, and reaches the service with the same TLS trust and proxies
(pypush.net.connections); failures are translated by pypush.net.aws_errors.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Set
from urllib.parse import urlsplit

from pypush.errors import RegistryError, SourceError, UsageError
from pypush.image.model import Blob, Descriptor
from pypush.transports.ecr.ecr_tag_probe import ask_tags
from pypush.transports.ecr.pacing import Pacer
from pypush.transports.ecr.upload import PART_BACKOFF, translate, upload_layer
from pypush.name.reference import ECR_PUBLIC, Reference, repository_type as parse_repository_type
from pypush.net import aws_errors
from pypush.net.aws_errors import AwsApiError, AwsFailure
from pypush.net.aws_json import ECR_PUBLIC_REGION, AwsJsonClient, default_endpoint, env_credentials
from pypush.net.retry import Backoff, RetryPolicy
from pypush.net.sigv4_signer import AwsCredentials
from pypush.net.stats import TransferStats
from pypush.transports.base import ProgressFn, Transport
from pypush.transports.resume_state import ResumeStore, TrackedUpload, UploadKey

log = logging.getLogger("pypush")


class EcrTransport(Transport):
    """Push to one repository of ECR Public (``kind == "ecr-public"``) or private ECR (``"ecr"``)."""

    def __init__(self, destination: Reference, endpoint_url: Optional[str] = None, profile: Optional[str] = None,
                 max_attempts: int = 6, rate_limits: Optional[Dict[str, float]] = None,
                 repository_type: str = "FREE"):
        self.destination = destination
        self.repository = destination.repository
        self.repository_type = parse_repository_type(repository_type)
        if self.repository_type == "PREMIUM" and destination.kind != ECR_PUBLIC:
            raise UsageError(f"premium repositories exist only on ECR Public, not at {destination.name}")
        self.service = "ecr-public" if destination.kind == ECR_PUBLIC else "ecr"
        self.region = destination.region or ECR_PUBLIC_REGION
        self._pacer = Pacer(self.service, rate_limits)
        creds = env_credentials(profile, endpoint_url)
        url = endpoint_url or default_endpoint(self.service, self.region)
        self.api: Any
        if creds is not None and url:  # no botocore: the environment decides everything
            from pypush.net.connections import aws_verify_from_files

            verify = aws_verify_from_files()
            credentials: Callable[[], AwsCredentials] = lambda: creds
            self.api = AwsJsonClient(self.service, self.region, url, credentials, verify, pace=self._pacer.wait,
                                     tunnel=False)
        else:
            from pypush.net import aws
            from pypush.net.connections import aws_verify

            session = aws.make_session(profile)
            resolved = aws.resolve_credentials(session, endpoint_url)
            client = aws.make_client(self.service, self.region, endpoint_url, session, max_attempts=1,
                                     credentials=resolved)  # retried here, by self._retry
            client.meta.events.register("before-send", self._pacer.botocore_handler)
            url, verify = client.meta.endpoint_url, aws_verify(session)
            credentials = lambda: _frozen(resolved)
            self.api = aws.BotocoreApi(client)
        self.part_api = AwsJsonClient(self.service, self.region, url, credentials, verify, pace=self._pacer.wait)
        self._endpoint_host = urlsplit(url).netloc
        self.stats = TransferStats()
        self._retry = RetryPolicy(Backoff(attempts=max_attempts), self.stats)
        self.part_retry = RetryPolicy(PART_BACKOFF, self.stats)
        self._local = threading.local()
        self._encoders: List[ThreadPoolExecutor] = []  # every upload thread's read-ahead helper, closed by close()
        self._encoders_lock = threading.Lock()
        self._registry_id = destination.registry_id
        self.resume_store: Optional[ResumeStore] = ResumeStore.default()  # half-sent layers, kept between runs

    def for_repository(self, destination: Reference) -> "EcrTransport":
        """A transport to another repository of the same registry sharing this one's API clients,
        credentials and quota pacing (a plan of many images is paced as a whole); its own stats."""
        import copy

        other = copy.copy(self)
        other.destination, other.repository = destination, destination.repository
        other._registry_id = destination.registry_id
        other.stats = TransferStats()
        other._retry = RetryPolicy(self._retry.backoff, other.stats)
        other.part_retry = RetryPolicy(self.part_retry.backoff, other.stats)
        other._local = threading.local()
        other._encoders, other._encoders_lock = [], threading.Lock()
        other.api, other.part_api = self.api.clone(), self.part_api.clone()
        return other

    # -- API calls --------------------------------------------------------------------------------
    def retrying(self, operation: str, what: str, params: Dict[str, Any]) -> Dict[str, Any]:
        """``operation`` under the transport's retry policy (failures as pypush.net.aws_errors raises them)."""
        return self._retry.call(lambda: self.api.call(operation, params), what, aws_errors.is_transient,
                                aws_errors.retry_after)

    def ids(self) -> Dict[str, str]:
        """The members naming the repository in every push call (and DescribeImages): its name, the registry's
        alias or account, and ``repositoryType`` for a premium repository (FREE is the service's default)."""
        ids = {"repositoryName": self.repository}
        if self._registry_id:
            ids["registryId"] = self._registry_id
        if self.repository_type != "FREE":
            ids["repositoryType"] = self.repository_type
        return ids

    def call(self, operation: str, what: str, **params: Any) -> Dict[str, Any]:
        try:
            return self.retrying(operation, what, params)
        except AwsFailure as exc:
            raise translate(exc, what) from None

    def prepare(self, create_repository: bool = False) -> None:
        """Check the repository exists; create it when asked.

        A push-only IAM policy may not allow DescribeRepositories: then the push goes ahead and a
        missing repository shows as RepositoryNotFoundException on the first push call. A premium
        repository is looked up with DescribePremiumRepositories and never created here (it needs
        Marketplace products: ``pypush premium create``).
        """
        if self.repository_type == "PREMIUM":
            return self._prepare_premium()
        try:
            self.retrying("DescribeRepositories", "DescribeRepositories", {"repositoryNames": [self.repository]})
            return
        except AwsApiError as exc:
            if exc.code == "AccessDeniedException" and not create_repository:
                log.info("not allowed to describe %s; pushing anyway", self.destination.name)
                return
            if exc.code != "RepositoryNotFoundException" or not create_repository:
                raise translate(exc, f"repository {self.destination.name}") from None
        except AwsFailure as exc:
            raise translate(exc, f"repository {self.destination.name}") from None
        try:
            self.retrying("CreateRepository", "CreateRepository", {"repositoryName": self.repository})
            log.info("created repository %s", self.destination.name)
        except AwsApiError as exc:
            if exc.code != "RepositoryAlreadyExistsException":
                raise translate(exc, f"creating repository {self.destination.name}") from None
        except AwsFailure as exc:
            raise translate(exc, f"creating repository {self.destination.name}") from None

    def _prepare_premium(self) -> None:
        what = f"premium repository {self.destination.name}"
        try:
            self.retrying("DescribePremiumRepositories", "DescribePremiumRepositories",
                           {"repositoryNames": [self.repository]})
        except AwsApiError as exc:
            if exc.code == "AccessDeniedException":
                log.info("not allowed to describe %s; pushing anyway", what)
                return
            if exc.code == "RepositoryNotFoundException":
                raise RegistryError(f"{what}: RepositoryNotFoundException: no premium repository of that name; "
                                    f"create it first: pypush premium create {self.repository} --product ID",
                                    exc.code) from None
            raise aws_errors.translate(exc, what) from None
        except AwsFailure as exc:
            raise aws_errors.translate(exc, what) from None

    def tag_digests(self, tags: Sequence[str]) -> Dict[str, Optional[str]]:
        """tag -> the image digest it names at exactly this destination (None: no such tag), asked as
        ecr_tag_probe.ask_tags asks; {} when the answer could not be about this destination (an ECR Public
        alias that is not the caller's). ECR Public answers ImageNotFoundException if any tag is missing."""
        what = f"looking up tags of {self.destination.name}"
        call = (lambda op, body: self.retrying(op, what, body)) if self.service == "ecr" else self.api.call
        try:
            found = ask_tags(call, self.service, self.destination, tags, self.repository_type)
        except AwsApiError as exc:
            if self.service != "ecr" and exc.code in ("ImageNotFoundException", "ImageTagDoesNotExistException"):
                return dict.fromkeys(tags)
            raise translate(exc, what) from None
        except AwsFailure as exc:
            raise translate(exc, what) from None
        return {} if found is None else found

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """BatchCheckLayerAvailability in batches of 100. The engine asks before any upload, so a blob the
        ECR API cannot store (not sha256) is refused here, before anything is pushed."""
        unique = list(dict.fromkeys(digests))
        for digest in unique:
            if not digest.startswith("sha256:"):
                raise RegistryError(f"blob {digest}: the ECR API stores layers by their sha256 only "
                                    f"(CompleteLayerUpload takes the layer's sha256 digest), so this image cannot be "
                                    f"pushed to {self.destination.name} as it is; nothing was pushed",
                                    "UnsupportedDigest")
        absent: Set[str] = set()
        for i in range(0, len(unique), 100):
            batch = unique[i:i + 100]
            resp = self.call("BatchCheckLayerAvailability", f"checking blobs in {self.destination.name}",
                              layerDigests=batch, **self.ids())
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
            params = dict(self.ids(), imageManifest=text, imageManifestMediaType=media_type, imageDigest=digest)
            if tag:
                params["imageTag"] = tag
            try:
                resp = self.retrying("PutImage", "PutImage", params)
            except AwsApiError as exc:
                if exc.code == "ImageAlreadyExistsException":
                    continue
                raise translate(exc, f"PutImage {self.destination.name}" + (f":{tag}" if tag else f"@{digest}")) from None
            except AwsFailure as exc:
                raise translate(exc, f"PutImage {self.destination.name}") from None
            got = resp.get("image", {}).get("imageId", {}).get("imageDigest")
            if got and got != digest:
                raise RegistryError(f"PutImage {self.destination.name}: registry stored digest {got}, expected {digest}")

    def tag_digest(self, tag: str) -> Optional[str]:
        """The digest of the image tagged ``tag`` (None when there is none)."""
        return self.tag_digests([tag]).get(tag)

    def close(self) -> None:
        """Close every thread's connections and stop the read-ahead helpers."""
        self.part_api.close()
        self.api.close()
        with self._encoders_lock:
            encoders, self._encoders = self._encoders, []
        for encoder in encoders:
            encoder.shutdown(wait=True)

    # -- blob upload ------------------------------------------------------------------------------
    def upload_key(self, digest: str) -> UploadKey:
        """What a half-sent upload of blob ``digest`` here is remembered by: the API endpoint, the service, the
        repository (registry alias or id included) and its type (ECR Public's FREE and PREMIUM twins)."""
        twin = "" if self.repository_type == "FREE" else f"#{self.repository_type}"
        return UploadKey("ecr", f"{self._endpoint_host}/{self.service}/{self.destination.name}{twin}", digest)

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Initiate → UploadLayerPart… → Complete (the steps of pypush.transports.ecr.upload); restarts the blob
        if the upload is lost. A layer of known digest continues the upload an earlier run left half-sent."""
        digest = blob.descriptor.digest
        tracked = TrackedUpload(self.resume_store, self.upload_key(digest) if digest else None)
        return upload_layer(self, blob, progress, tracked)

    def encoder(self) -> ThreadPoolExecutor:
        """This upload thread's read-ahead helper, kept for its next blobs (a thread per blob would give
        glibc a new malloc arena each, and the process the high-water mark of every one)."""
        encoder = getattr(self._local, "encoder", None)
        if encoder is None:
            encoder = self._local.encoder = ThreadPoolExecutor(1, thread_name_prefix="pypush-encode")
            with self._encoders_lock:
                self._encoders.append(encoder)
        return encoder


def _frozen(credentials: Any) -> AwsCredentials:
    """botocore's (maybe refreshing) credentials as they are now."""
    frozen = credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials
    return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token or "")
