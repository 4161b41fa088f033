"""The Python API: ``pypush.push(source, destination, ...)``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Union

from pypush.engine import transfer as engine
from pypush.errors import UsageError
from pypush.engine.transfer import PushResult
from pypush.engine.progress import Subscriber
from pypush.name.reference import ECR_PUBLIC, REGISTRY_V2, Destination, parse_destination, validate_tag
from pypush.transports.base import Transport
from pypush.engine.verify_ahead import VerifyAhead

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


def open_transport(dest: Destination, options: PushOptions) -> Transport:
    """The transport for ``dest``: the ECR API for ECR hosts (unless ``transport="v2"``), else v2."""
    use_v2 = options.transport == "v2" or (options.transport == "auto" and dest.kind == REGISTRY_V2)
    if options.transport == "ecr" and dest.kind == REGISTRY_V2:
        raise UsageError(f"--transport ecr needs an ECR reference (public.ecr.aws/... or ACCOUNT.dkr.ecr...), "
                         f"not {dest.name}")
    if not use_v2:
        from pypush.transports.ecr.ecr_transport import EcrTransport

        return EcrTransport(dest, endpoint_url=options.endpoint_url, profile=options.profile,
                            rate_limits=options.rate_limits)
    from pypush.transports.distribution.auth import credentials_for
    from pypush.transports.distribution.v2_transport import RegistryTransport

    registry, repository = dest.registry, dest.repository
    username, password = options.username, options.password
    if dest.kind != REGISTRY_V2:
        from pypush.transports.ecr.login import ecr_login

        if dest.kind == ECR_PUBLIC:
            repository = f"{dest.alias}/{dest.repository}"
        if username is None:
            username, password = ecr_login(dest, options.endpoint_url, options.profile)
    creds = credentials_for(registry, username=username, password=password)
    return RegistryTransport(registry, repository, insecure=options.insecure, credentials=creds,
                             mount_from=options.mount_from, pool_size=max(8, options.jobs * 2),
                             lookup_credentials=False)


def push(source: Union[str, "os.PathLike[str]"], destination: Union[str, Destination], *,
         tags: Sequence[str] = (), compression: str = "gzip", compression_level: Optional[int] = None,
         subscriber: Optional[Subscriber] = None, options: Optional[PushOptions] = None,
         **option_fields: object) -> PushResult:
    """Push the image at ``source`` (a path or ``oci:``/``oci-archive:``/``docker-archive:`` spec) to
    ``destination`` (``public.ecr.aws/ALIAS/REPO:TAG``, ``ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO``,
    ``HOST/REPO:TAG``) under the destination's tag and every one of ``tags``.

    Keyword arguments not named here are PushOptions fields (``endpoint_url``, ``jobs``, ...).
    Raises a subclass of pypush.errors.PypushError on failure; nothing is tagged unless every blob
    of the image is stored.
    """
    from pypush.sources import open_source

    options = options or PushOptions(**option_fields)  # type: ignore[arg-type]
    dest = destination if isinstance(destination, Destination) else parse_destination(destination)
    if compression not in COMPRESSIONS:
        raise UsageError(f"unknown compression {compression!r}: choose one of {', '.join(COMPRESSIONS)}")
    all_tags = list(dict.fromkeys([*([dest.tag] if dest.tag else []), *(validate_tag(t) for t in tags)]))
    if not all_tags and not dest.digest:
        all_tags = ["latest"]
    with open_source(os.fspath(source)) as src:
        root = src.root
        if compression != "keep":
            from pypush.transform.convert import compress_image
            from pypush.transform.layer_cache import LayerCache

            root = compress_image(root, algorithm=compression, level=compression_level, cache=LayerCache.default())
        ahead = VerifyAhead(engine.unique_blobs(root)).start()  # hashes while the transport starts up
        transport = None
        try:
            transport = open_transport(dest, options)
            transport.prepare(options.create_repository)
            result = engine.push(root, transport, all_tags, repository=dest.name, jobs=options.jobs,
                                 subscriber=subscriber, expect_digest=dest.digest, ahead=ahead)
        finally:
            ahead.stop()
            if transport is not None:
                transport.close()
            if subscriber is not None:
                subscriber.close()
    return result
