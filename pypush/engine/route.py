"""Where a copy goes and through what: a layout or a registry destination, the transport for it (the ECR
API or the OCI distribution API), and the shared transports of a plan of many images."""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from pypush.engine.options import PushOptions
from pypush.errors import UsageError
from pypush.name.reference import REGISTRY_V2, Destination, ecr_host_suggestion, parse_destination

if TYPE_CHECKING:
    from pypush.transports.base import Transport

Target = Union[str, Destination, "os.PathLike[str]"]
"""A destination: a registry reference (or Destination), or ``oci:DIR[:TAG]`` / ``oci-archive:FILE[:TAG]``."""


def uses_v2(dest: Destination, options: PushOptions) -> bool:
    """Whether ``dest`` is reached through the OCI distribution API (else the ECR API)."""
    return options.transport == "v2" or (options.transport == "auto" and dest.kind == REGISTRY_V2)


def open_transport(dest: Destination, options: PushOptions, session: Any = None) -> "Transport":
    """The transport for ``dest``: the ECR API for ECR hosts (unless ``transport="v2"``), else v2 (through
    ``session``, a requests session, when given: transports of one registry may share a pool)."""
    use_v2 = uses_v2(dest, options)
    if options.transport == "ecr" and dest.kind == REGISTRY_V2:
        suggestion = ecr_host_suggestion(dest.registry)
        raise UsageError(f"--transport ecr needs an ECR reference (public.ecr.aws/... or ACCOUNT.dkr.ecr...), "
                         f"not {dest.name}" + (f"; did you mean {suggestion}?" if suggestion else ""))
    if not use_v2:
        from pypush.transports.ecr.ecr_transport import EcrTransport

        return EcrTransport(dest, endpoint_url=options.endpoint_url, profile=options.profile,
                            rate_limits=options.rate_limits, repository_type=options.repository_type)
    from pypush.transports.distribution.docker_credentials import credentials_for
    from pypush.transports.distribution.v2_transport import RegistryTransport

    registry, repository = dest.registry, dest.path
    if dest.kind != REGISTRY_V2 and options.premium:  # the host the service names for premium repositories
        from pypush.transports.ecr.premium_host import premium_repository_uri, split_uri

        registry, repository = split_uri(premium_repository_uri(dest, options.endpoint_url, options.profile))
    username, password = options.username, options.password
    if dest.kind != REGISTRY_V2:
        from pypush.transports.ecr.login import ecr_login

        if username is None:
            username, password = ecr_login(dest, options.endpoint_url, options.profile)
    creds = credentials_for(registry, username=username, password=password)
    return RegistryTransport(registry, repository, insecure=options.insecure, credentials=creds,
                             mount_from=options.mount_from, pool_size=max(8, options.jobs * 2),
                             lookup_credentials=False, session=session)


def destination_transport(dest: Destination, options: PushOptions, source: Optional[Destination],
                           session: Any = None) -> "Transport":
    """The destination's transport; a copy within one v2 registry mounts from the source repository."""
    if source is not None and same_registry(source.registry, dest.registry):
        from dataclasses import replace

        options = replace(options, mount_from=[*options.mount_from, source.path])
    return open_transport(dest, options, session)


TransportOpener = Callable[[Destination, PushOptions, Optional[Destination]], "Transport"]
"""Opens the transport of a destination (given the options and the registry source, if any)."""


class PlanTransports:
    """The transports of a plan: one requests session per v2 registry, one ECR API client and quota pacer
    per ECR registry (the others share it), each image's wrapped to share uploads (engine.plan)."""

    def __init__(self, jobs: int):
        from pypush.engine.plan import BlobLedger

        self._lock = threading.Lock()
        self._sessions: Dict[str, Any] = {}
        self._ecr: Dict[Tuple[str, str, str, bool], Any] = {}
        self._opened: List[Any] = []
        self._ledger = BlobLedger()
        self._slots = threading.BoundedSemaphore(max(1, jobs))
        self._jobs = jobs

    def open(self, dest: Destination, options: PushOptions, source: Optional[Destination]) -> "Transport":
        """The wrapped transport of one image of the plan."""
        from pypush.engine.plan import SharedUploads
        from pypush.transports.distribution.docker_credentials import normalize_registry

        registry = normalize_registry(dest.registry)
        if uses_v2(dest, options):
            with self._lock:
                if registry not in self._sessions:
                    from pypush.net.connections import requests_session

                    self._sessions[registry] = requests_session(max(8, self._jobs * 4), f"https://{dest.registry}/")
                session = self._sessions[registry]
            inner = destination_transport(dest, options, source, session)
            scope = registry
        else:
            key = (dest.kind, dest.region or "", options.endpoint_url or "", options.premium)
            with self._lock:  # the first opens the client (credentials, endpoint); the others share it
                base = self._ecr.get(key)
                inner = base.for_repository(dest) if base is not None else open_transport(dest, options)
                self._ecr.setdefault(key, inner)
            scope = f"{registry}/{dest.path}"  # ECR cannot mount: one upload per repository
        with self._lock:
            self._opened.append(inner)
        return SharedUploads(inner, self._ledger, scope, self._slots)

    def close(self) -> None:
        """Close every transport and shared session."""
        for transport in self._opened:
            transport.close()
        for session in self._sessions.values():
            session.close()


def same_registry(a: str, b: str) -> bool:
    from pypush.transports.distribution.docker_credentials import normalize_registry

    return normalize_registry(a) == normalize_registry(b)


def layout_target(destination: Target) -> Any:
    if isinstance(destination, Destination):
        return None
    text = os.fspath(destination)
    if not text.startswith(("oci:", "oci-archive:")):  # a registry: the layout writer is not even loaded
        return None
    from pypush.transports.layout.layout_writer import parse_layout_destination

    return parse_layout_destination(text)


def registry_destination(destination: Union[str, "os.PathLike[str]"]) -> Destination:
    return parse_destination(os.fspath(destination))


def check_repository_type(destination: Target, options: PushOptions) -> None:
    """``check_premium`` for a destination as ``push`` takes it, before any work (a build checks it first)."""
    if options.premium:
        from pypush.engine.options import check_premium

        layout = layout_target(destination)
        dest = None if layout is not None else (
            destination if isinstance(destination, Destination) else registry_destination(destination))
        check_premium(dest, options)




def pull_target(destination: str) -> str:
    """A pull's destination as a layout spec: ``oci:``/``oci-archive:`` as given; a bare path ``oci:PATH[:TAG]``,
    or ``oci-archive:PATH[:TAG]`` when it ends ``.tar`` and is not a directory."""
    from pypush.transports.layout.layout_writer import is_layout_destination, parse_layout_destination

    if is_layout_destination(destination):
        return destination
    path = parse_layout_destination(f"oci:{destination}").path
    archive = path.lower().endswith(".tar") and not os.path.isdir(path)
    return f"{'oci-archive' if archive else 'oci'}:{destination}"
