"""What a copy may be told: PushOptions (every field a CLI flag of the same name), compressions, and the
checks that refuse an option the chosen transport would ignore."""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import urlsplit

from pypush.errors import UsageError
from pypush.name.reference import (ECR_PUBLIC, REGISTRY_V2, Destination, ecr_host_suggestion, is_ecr_host,
                                   repository_type, validate_endpoint_url)

log = logging.getLogger("pypush")
COMPRESSIONS = ("gzip", "zstd", "none", "keep")
@dataclass
class PushOptions:
    """How to reach the destination; every field has the CLI flag of the same name."""

    endpoint_url: Optional[str] = None
    transport: str = "auto"  # auto | ecr | v2
    create_repository: bool = False
    insecure: bool = False
    username: Optional[str] = None
    password: Optional[str] = None
    profile: Optional[str] = None
    jobs: int = 4
    rate_limits: Optional[Dict[str, float]] = None  # requests/s per ECR operation (default: the quotas)
    mount_from: Sequence[str] = ()  # v2: repositories of the same registry that may hold the blobs
    platform: Sequence[str] = ()  # OS/ARCH[/VARIANT]: copy only these platforms of a multi-platform image
    src_insecure: bool = False  # docker:// sources: allow plain HTTP / unverified TLS
    src_username: Optional[str] = None  # docker:// sources: credentials (else docker's config, else anonymous)
    src_password: Optional[str] = None
    allow_nondistributable: bool = False  # push layers with urls too when the source has them (crane's flag)
    repository_type: str = "free"  # ECR Public: free | premium (every push call carries repositoryType=PREMIUM)

    @property
    def premium(self) -> bool:
        """Whether the destination is ECR Public's PREMIUM repository of its name (UsageError for a bad type)."""
        return repository_type(self.repository_type) == "PREMIUM"


OPTION_ALIASES = {"repositoryType": "repository_type"}
"""Keyword arguments accepted under the AWS API's spelling too (``pypush.push(..., repositoryType="premium")``)."""


def merge_options(options: Optional[PushOptions], option_fields: Dict[str, object]) -> PushOptions:
    """``options`` (else the defaults) with the keyword arguments given beside it laid over it: what a
    call spells out wins. The caller's object is not changed; an unknown name is a UsageError."""
    known = [f.name for f in fields(PushOptions)]
    for alias, name in OPTION_ALIASES.items():
        if alias in option_fields:
            if name in option_fields:
                raise UsageError(f"give {name} or {alias}, not both")
            option_fields = {**{k: v for k, v in option_fields.items() if k != alias}, name: option_fields[alias]}
    unknown = sorted(set(option_fields) - set(known))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}: PushOptions fields are {', '.join(known)}")
    return replace(options or PushOptions(), **option_fields)  # type: ignore[arg-type]


def check_options(dest: Destination, options: PushOptions, source_uses_aws: bool = False) -> None:
    """Refuse options the transport chosen for ``dest`` would ignore, naming the option and why (exit 2).

    ``source_uses_aws``: the source is an ECR registry, which ``--profile`` may be for. A v2 destination
    one typing mistake away from an ECR host gets a warning naming the ECR host.
    """
    if options.endpoint_url is not None:
        validate_endpoint_url(options.endpoint_url)
    if options.transport not in ("auto", "ecr", "v2"):
        raise UsageError(f"unknown transport {options.transport!r}: choose auto, ecr or v2")
    if options.premium:
        check_premium(dest, options)
    ecr_only: List[str] = [flag for flag, given in (
        ("--endpoint-url", options.endpoint_url is not None), ("--create-repository", options.create_repository),
        ("--profile", options.profile is not None and not source_uses_aws),
        ("--rate-limit", bool(options.rate_limits))) if given]
    suggestion = ecr_host_suggestion(dest.registry) if dest.kind == REGISTRY_V2 else None
    hint = f"; did you mean {suggestion}?" if suggestion else ""
    if dest.kind == REGISTRY_V2 and options.transport != "ecr":
        why = ("docker:// selects the OCI distribution API" if is_ecr_host(dest.registry)
               else f"{dest.registry} is not an ECR host" + (hint or " (public.ecr.aws, ACCOUNT.dkr.ecr.REGION."
                                                                     "amazonaws.com)"))
        if ecr_only:
            raise UsageError(f"{_applies(ecr_only)} only to ECR destinations: {dest.name} is pushed with the "
                             f"v2 transport (OCI distribution API) because {why}")
        if suggestion:
            log.warning("%s is not an ECR host, pushing with the v2 transport (OCI distribution API)%s",
                        dest.registry, hint)
    elif dest.kind != REGISTRY_V2 and options.transport == "v2":
        unused = [flag for flag in ecr_only if flag in ("--endpoint-url", "--create-repository", "--rate-limit")]
        if unused:
            door = (f"; to push over v2 to the endpoint's registry, name its host: "
                    f"{urlsplit(options.endpoint_url).netloc}/{dest.path}" if options.endpoint_url else "")
            raise UsageError(f"{_applies(unused)} only to the ECR API: --transport v2 pushes {dest.name} "
                             f"through the registry host {dest.registry} (which neither creates repositories nor "
                             f"is paced){door}")


def check_premium(dest: Optional[Destination], options: PushOptions) -> None:
    """Refuse ``repository_type="premium"`` where it means nothing (exit 2): only ECR Public has premium
    repositories (``dest`` None: an OCI layout), and only ``pypush premium create`` makes one (it needs
    Marketplace products)."""
    if dest is None or dest.kind != ECR_PUBLIC:
        raise UsageError(f"--repository-type premium applies only to ECR Public destinations "
                         f"(public.ecr.aws/ALIAS/REPO), not {dest.name if dest is not None else 'an OCI layout'}")
    if options.create_repository:
        raise UsageError(f"--create-repository cannot create a premium repository (it needs Marketplace products): "
                         f"pypush premium create {dest.repository} --product ID")


def _applies(flags: List[str]) -> str:
    return f"{', '.join(flags)} appl{'ies' if len(flags) == 1 else 'y'}"


def source_uses_aws(source: str) -> bool:
    """True when ``source`` is a ``docker://`` reference to an ECR registry (logged in with AWS credentials)."""
    if not source.startswith("docker://"):
        return False
    from pypush.name.reference import parse_remote

    try:
        return parse_remote(source).kind != REGISTRY_V2
    except UsageError:
        return False


def platforms_of(options: PushOptions) -> List[Any]:
    if not options.platform:
        return []
    from pypush.image.platforms import parse_platform

    return [parse_platform(p) for p in options.platform]


def remote_options(source: str, options: PushOptions) -> Dict[str, Any]:
    """The connection options ``open_source`` takes for a ``docker://`` source (none for files)."""
    if not source.startswith("docker://"):
        return {}
    return {"insecure": options.src_insecure, "username": options.src_username, "password": options.src_password,
            "profile": options.profile, "pool_size": max(8, options.jobs * 2)}
