"""Destination references as users type them, parsed into one small dataclass."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple
from urllib.parse import urlsplit

from pypush.errors import UsageError
from pypush.name.patterns import (DIGEST, DOCKER_HUB_HOST, ECR_PRIVATE_HOST, ECR_PUBLIC_ALIAS, ECR_PUBLIC_HOST,
                                  REPOSITORY, REPOSITORY_MAX, TAG)
ECR_PUBLIC = "ecr-public"
ECR_PRIVATE = "ecr"
REGISTRY_V2 = "v2"
REPOSITORY_TYPES = ("free", "premium")
"""ECR Public's repository types (the API's RepositoryType, FREE|PREMIUM), as users write them."""


@dataclass(frozen=True)
class Destination:
    """Where to push: the kind of service, the registry host, the repository and an optional tag/digest.

    For ECR Public ``repository`` excludes the alias (the API's repositoryName); ``alias`` holds it.
    """

    kind: str
    registry: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None
    alias: Optional[str] = None
    account: Optional[str] = None
    region: Optional[str] = None

    @property
    def name(self) -> str:
        """The repository as users write it, e.g. ``public.ecr.aws/alias/repo``."""
        if self.kind == ECR_PUBLIC:
            return f"{self.registry}/{self.alias}/{self.repository}"
        return f"{self.registry}/{self.repository}"

    @property
    def path(self) -> str:
        """The repository as the v2 API names it (``alias/repo`` on ECR Public)."""
        return f"{self.alias}/{self.repository}" if self.kind == ECR_PUBLIC else self.repository

    @property
    def registry_id(self) -> Optional[str]:
        """The registryId to pass to the ECR API (alias for ECR Public, account for private ECR)."""
        return self.alias if self.kind == ECR_PUBLIC else self.account


def is_ecr_host(host: str) -> bool:
    """True for ``public.ecr.aws`` and ``ACCOUNT.dkr.ecr.REGION.amazonaws.com`` (the hosts of the ECR API)."""
    host = host.lower()
    return host == ECR_PUBLIC_HOST or bool(ECR_PRIVATE_HOST.fullmatch(host))


def ecr_host_suggestion(host: str) -> Optional[str]:
    """The ECR host ``host`` is one typing mistake away from (``pubic.ecr.aws`` -> ``public.ecr.aws``), if any."""
    host = host.lower().split(":", 1)[0]
    if is_ecr_host(host):
        return None
    candidates = [ECR_PUBLIC_HOST]
    account = re.match(r"\d{12}(?!\d)", host)
    region = re.search(r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d", host)
    if account and region:
        china = ".cn" if region[0].startswith("cn-") else ""
        candidates.append(f"{account[0]}.dkr.ecr.{region[0]}.amazonaws.com{china}")
    return next((c for c in candidates if _edit_distance(host, c) == 1), None)


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def validate_endpoint_url(url: str, option: str = "--endpoint-url") -> str:
    """Return ``url`` or raise UsageError when it is not ``http(s)://HOST[:PORT][/PATH]``."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        fix = f"; write http://{url} (or https://{url})" if "://" not in url else ""
        raise UsageError(f"{option} {url!r} is not a URL: expected http://HOST[:PORT] or https://HOST[:PORT]{fix}")
    return url


def repository_type(value: Optional[str]) -> str:
    """The API's RepositoryType (``FREE`` or ``PREMIUM``) of ``free``/``premium`` in any case (None: ``FREE``);
    UsageError for anything else."""
    if value is None:
        return "FREE"
    text = str(value).strip().lower()
    if text not in REPOSITORY_TYPES:
        raise UsageError(f"unknown repository type {value!r}: choose free or premium")
    return text.upper()


def validate_tag(tag: str, reference: Optional[str] = None) -> str:
    """Return ``tag`` or raise UsageError naming it (and the ``reference`` it is part of)."""
    if not TAG.fullmatch(tag):
        where = f" in {reference!r}" if reference else ""
        raise UsageError(f"invalid tag {tag!r}{where}: use letters, digits, '_', '.', '-' (max 128, not starting with '.' or '-')")
    return tag


def _split_ref(rest: str, original: str):
    digest = tag = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST.fullmatch(digest):
            raise UsageError(f"invalid digest in {original!r}: expected sha256:<64 hex digits>")
    head, slash, last = rest.rpartition("/")
    if ":" in last:  # the first colon of the last component: `app::1` has the tag ':1', not the repository 'app:'
        last, tag = last.split(":", 1)
        rest = head + slash + last
        validate_tag(tag, original)
    elif ":" in rest:  # no repository has a colon: `app:Bad/Tag` is a tag with a slash
        validate_tag(rest.split(":", 1)[1], original)
    return rest, tag, digest


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def _split_port(host: str) -> Tuple[str, str, str]:
    """``(name, ":", port)`` of ``HOST[:PORT]`` (an IPv6 name in brackets keeps its colons)."""
    if host.startswith("[") and "]" in host:
        name, bracket, rest = host.partition("]")
        _, colon, port = rest.partition(":")
        return name + bracket, colon, port
    return host.partition(":")


def parse_destination(ref: str) -> Destination:
    """Parse ``public.ecr.aws/ALIAS/REPO[:TAG]``, ``ACCT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG]``,
    ``docker://HOST[:PORT]/REPO[:TAG]`` or ``HOST[:PORT]/REPO[:TAG]`` (``@sha256:…`` instead of or
    after the tag pins the manifest digest)."""
    original = ref
    ref = ref.strip()
    explicit_v2 = ref.startswith("docker://")
    if explicit_v2:
        ref = ref[len("docker://"):]
    if "/" not in ref:
        raise UsageError(f"invalid destination {original!r}: expected REGISTRY/REPOSITORY[:TAG], "
                         f"e.g. public.ecr.aws/ALIAS/REPO:TAG")
    host, rest = ref.split("/", 1)
    name, colon, port = _split_port(host)
    if colon and not (port.isdigit() and name):
        if not port and not explicit_v2:  # a transport prefix, as skopeo writes them (docker-archive:, dir:)
            raise UsageError(f"invalid destination {original!r}: {name}: destinations are not supported; write a "
                             f"registry reference, oci:DIR[:TAG] or oci-archive:FILE[:TAG]")
        raise UsageError(f"invalid destination {original!r}: {host!r} is not HOST[:PORT]")
    if not _looks_like_host(host):
        raise UsageError(f"invalid destination {original!r}: {host!r} is not a registry host "
                         f"(write e.g. docker.io/{ref} or public.ecr.aws/ALIAS/{rest})")
    rest, tag, digest = _split_ref(rest, original)
    host = host.lower()
    if host == "docker.io":
        host = DOCKER_HUB_HOST
        if "/" not in rest:
            rest = "library/" + rest
    if not explicit_v2 and host == ECR_PUBLIC_HOST:
        alias, _, repo = rest.partition("/")
        if not repo or not ECR_PUBLIC_ALIAS.fullmatch(alias):
            raise UsageError(f"invalid destination {original!r}: expected public.ecr.aws/ALIAS/REPOSITORY[:TAG]")
        _check_repo(repo, original, ECR_PUBLIC)
        return Destination(ECR_PUBLIC, host, repo, tag, digest, alias=alias, region="us-east-1")
    m = ECR_PRIVATE_HOST.fullmatch(host)
    if m and not explicit_v2:
        _check_repo(rest, original, ECR_PRIVATE)
        return Destination(ECR_PRIVATE, host, rest, tag, digest, account=m["account"], region=m["region"])
    _check_repo(rest, original, REGISTRY_V2)
    return Destination(REGISTRY_V2, host, rest, tag, digest)


def parse_remote(ref: str) -> Destination:
    """Parse an image in a registry as pull tools write it: ``[docker://]HOST[:PORT]/REPO[:TAG][@sha256:…]``,
    with Docker Hub's short forms (``python:3.12`` → ``library/python:3.12`` on Docker Hub's registry host,
    ``user/app`` → ``user/app`` there) and ECR hosts recognised (their ``kind`` is set)."""
    body = ref.strip()
    if body.startswith("docker://"):
        body = body[len("docker://"):]
    if not body:
        raise UsageError(f"invalid image reference {ref!r}: expected [HOST/]REPOSITORY[:TAG][@DIGEST]")
    first = body.split("/", 1)[0]
    if "/" not in body or not _looks_like_host(first):
        body = "docker.io/" + body
    return parse_destination(body)


def _check_repo(repo: str, original: str, kind: str) -> None:
    """The repository name as the destination's service accepts it (ECR: its API's RepositoryName)."""
    ecr = kind in (ECR_PUBLIC, ECR_PRIVATE)
    longest = REPOSITORY_MAX[kind]
    if not REPOSITORY.fullmatch(repo) or len(repo) > longest or (ecr and len(repo) < 2):
        raise UsageError(f"invalid repository name {repo!r} in {original!r}: lowercase letters, digits and "
                         f"separators (. _ - /), starting and ending with a letter or digit"
                         + (f", 2 to {longest} characters for {'ECR Public' if kind == ECR_PUBLIC else 'ECR'}"
                            if ecr else ""))
