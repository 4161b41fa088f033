"""The Python API: ``pypush.push``, ``pypush.push_many``, ``pypush.copy``, ``pypush.pull`` and ``pypush.mirror``."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from pypush.engine.push_result import PushResult, predicted_stored, unchanged_result, unique_blobs
from pypush.errors import PypushError, UsageError
from pypush.image.model import Node
from pypush.name.reference import (ECR_PUBLIC, REGISTRY_V2, Destination, ecr_host_suggestion, is_ecr_host,
                                   parse_destination, repository_type, validate_endpoint_url, validate_tag)

if TYPE_CHECKING:  # loaded when a push needs them: a re-push that is already done never does
    from pypush.engine.plan import PlanEntry, PlanOutcome
    from pypush.engine.progress import Subscriber
    from pypush.image.verify_ahead import VerifyAhead
    from pypush.transports.base import Transport

COMPRESSIONS = ("gzip", "zstd", "none", "keep")
log = logging.getLogger("pypush")


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
    if _premium(options):
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
        unused = [flag for flag in ecr_only if flag in ("--create-repository", "--rate-limit")]
        if unused:
            raise UsageError(f"{_applies(unused)} only to the ECR API: --transport v2 pushes {dest.name} "
                             f"through the registry host (which neither creates repositories nor is paced)")


def _premium(options: PushOptions) -> bool:
    return repository_type(options.repository_type) == "PREMIUM"


def check_premium(dest: Optional[Destination], options: PushOptions) -> None:
    """Refuse ``repository_type="premium"`` where it means nothing (exit 2): only ECR Public has premium
    repositories, and only ``pypush premium create`` makes one (it needs Marketplace products)."""
    where = dest.name if dest is not None else "an OCI layout"
    if dest is None or dest.kind != ECR_PUBLIC:
        raise UsageError(f"--repository-type premium applies only to ECR Public destinations "
                         f"(public.ecr.aws/ALIAS/REPO), not {where}")
    if options.create_repository:
        raise UsageError(f"--create-repository cannot create a premium repository (it needs Marketplace products): "
                         f"pypush premium create {dest.repository} --product ID")


def check_repository_type(destination: "Target", options: PushOptions) -> None:
    """``check_premium`` for a destination as ``push`` takes it, before any work (a build checks it first)."""
    if _premium(options):
        layout = _layout_target(destination)
        dest = None if layout is not None else (
            destination if isinstance(destination, Destination) else _registry_destination(destination))
        check_premium(dest, options)


def _applies(flags: List[str]) -> str:
    return f"{', '.join(flags)} appl{'ies' if len(flags) == 1 else 'y'}"


def _source_uses_aws(source: str) -> bool:
    """True when ``source`` is a ``docker://`` reference to an ECR registry (logged in with AWS credentials)."""
    if not source.startswith("docker://"):
        return False
    from pypush.name.reference import parse_remote

    try:
        return parse_remote(source).kind != REGISTRY_V2
    except UsageError:
        return False


def _uses_v2(dest: Destination, options: PushOptions) -> bool:
    return options.transport == "v2" or (options.transport == "auto" and dest.kind == REGISTRY_V2)


def open_transport(dest: Destination, options: PushOptions, session: Any = None) -> "Transport":
    """The transport for ``dest``: the ECR API for ECR hosts (unless ``transport="v2"``), else v2 (through
    ``session``, a requests session, when given: transports of one registry may share a pool)."""
    use_v2 = _uses_v2(dest, options)
    if options.transport == "ecr" and dest.kind == REGISTRY_V2:
        suggestion = ecr_host_suggestion(dest.registry)
        raise UsageError(f"--transport ecr needs an ECR reference (public.ecr.aws/... or ACCOUNT.dkr.ecr...), "
                         f"not {dest.name}" + (f"; did you mean {suggestion}?" if suggestion else ""))
    if not use_v2:
        from pypush.transports.ecr.ecr_transport import EcrTransport

        return EcrTransport(dest, endpoint_url=options.endpoint_url, profile=options.profile,
                            rate_limits=options.rate_limits, repository_type=repository_type(options.repository_type))
    from pypush.transports.distribution.docker_credentials import credentials_for
    from pypush.transports.distribution.v2_transport import RegistryTransport

    registry, repository = dest.registry, dest.path
    if dest.kind != REGISTRY_V2 and _premium(options):  # the host the service names for premium repositories
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


Target = Union[str, Destination, "os.PathLike[str]"]
"""A destination: a registry reference (or Destination), or ``oci:DIR[:TAG]`` / ``oci-archive:FILE[:TAG]``."""


def push(source: Union[str, "os.PathLike[str]"], destination: Target, *,
         tags: Sequence[str] = (), compression: str = "gzip", compression_level: Optional[int] = None,
         subscriber: Optional["Subscriber"] = None, options: Optional[PushOptions] = None,
         **option_fields: object) -> PushResult:
    """Push the image at ``source`` (a path, an ``oci:``/``oci-archive:``/``docker-archive:`` spec, or
    ``docker://[HOST/]REPO[:TAG|@DIGEST]`` in a registry) to ``destination`` (``public.ecr.aws/ALIAS/REPO:TAG``,
    ``ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO``, ``HOST/REPO:TAG``, or a layout ``oci:DIR[:TAG]``) under the
    destination's tag and every one of ``tags`` (else ``latest``).

    Keyword arguments not named here are PushOptions fields (``endpoint_url``, ``jobs``, ...).
    Raises a subclass of pypush.errors.PypushError on failure; nothing is tagged unless every blob
    of the image is stored.
    """
    options = merge_options(options, option_fields)
    return _transfer(os.fspath(source), destination, tags, compression, compression_level, subscriber, options,
                     source_tags=False)


def push_many(images: Sequence[Union["PlanEntry", Mapping[str, Any]]], *, compression: str = "gzip",
              compression_level: Optional[int] = None, options: Optional[PushOptions] = None,
              on_outcome: Optional[Callable[["PlanOutcome"], None]] = None,
              **option_fields: object) -> List["PlanOutcome"]:
    """Push many images in one run: ``images`` are PlanEntry or ``{"source", "destination", "tags"}``
    mappings (as in a ``--plan`` file). Images go in parallel (``jobs`` at a time, ``jobs`` uploads at once
    across the plan) over shared connection pools (ECR: one client, quotas paced across the plan); each
    distinct blob is uploaded once per v2 registry and mounted into the other repositories (ECR: once per
    repository). One image's failure does not stop the others: one outcome per image, in plan order
    (``on_outcome`` is told each as it finishes)."""
    from pypush.engine.plan import PlanEntry, run_plan

    options = merge_options(options, option_fields)
    entries = [e if isinstance(e, PlanEntry) else PlanEntry.from_json(e, f"image {i + 1}") for i, e in enumerate(images)]
    shared = _PlanTransports(options.jobs)
    # An image's blobs may all start at once: uploads are bounded plan-wide (shared.open's slots), and a
    # thread waiting for a blob another image sends must not hold back the image's own blobs.
    per_image = replace(options, jobs=max(options.jobs, 16))
    try:
        return run_plan(entries, lambda e: _transfer(e.source, e.destination, e.tags, compression, compression_level,
                                                     None, per_image, source_tags=False, opener=shared.open),
                        options.jobs, on_outcome)
    finally:
        shared.close()


def copy(source: Union[str, "os.PathLike[str]"], destination: Target, *, tags: Sequence[str] = (),
         compression: str = "keep", compression_level: Optional[int] = None,
         subscriber: Optional["Subscriber"] = None, options: Optional[PushOptions] = None,
         **option_fields: object) -> PushResult:
    """Copy an image from any source to any destination (see ``push``), keeping every blob and manifest
    as it is (``compression="keep"``), so every digest is preserved. A destination without a tag takes
    the source's (an image named by digest only is stored by digest). Same v2 registry at both ends:
    blobs are mounted from the source repository, no bytes move. ``platform`` (an option) narrows a
    multi-platform image; one platform copies that platform's manifest itself."""
    options = merge_options(options, option_fields)
    return _transfer(os.fspath(source), destination, tags, compression, compression_level, subscriber, options,
                     source_tags=True)


def pull(source: str, destination: Union[str, "os.PathLike[str]"], **kwargs: Any) -> PushResult:
    """Copy the image ``source`` names into an OCI layout: ``destination`` is ``oci:DIR[:TAG]`` or
    ``oci-archive:FILE[:TAG]`` (a bare path means ``oci:PATH``). Written under a temporary name and
    renamed, so an interrupted pull leaves nothing half-made. Keyword arguments are ``copy``'s."""
    from pypush.transports.layout.layout_writer import is_layout_destination

    target = os.fspath(destination)
    if not is_layout_destination(target):
        target = f"oci:{target}"
    return copy(source, target, **kwargs)


def mirror(source: str, destination: Union[str, Destination], *, subscriber_factory: Any = None,
           options: Optional[PushOptions] = None, **option_fields: object) -> List[PushResult]:
    """Copy every tag of the repository ``source`` (``docker://[HOST/]REPO``) to the repository
    ``destination`` (or into the layout directory ``oci:DIR``, each image named by its tag), following the
    pages of ``tags/list``, skipping tags whose digest is already there (and, with a warning, Docker schema 1
    images and images without the ``platform`` asked for); one result per tag copied. ``subscriber_factory(tag)`` may give a progress subscriber per tag."""
    from pypush.image.platforms import NoSuchPlatform
    from pypush.name.reference import parse_remote
    from pypush.sources.remote import NoSuchImage, SchemaOneError, connect

    options = merge_options(options, option_fields)
    if not source.startswith("docker://") and (source.partition(":")[0] in ("oci", "oci-archive", "docker-archive")
                                                or os.path.lexists(source) or os.path.lexists(source.partition(":")[0])):
        raise UsageError(f"{source}: --all-tags copies the tags of a repository in a registry (docker://HOST/REPO); "
                         f"copy images on disk one at a time (PATH:TAG)")
    ref = parse_remote(source)
    if ref.tag or ref.digest:
        raise UsageError(f"{source}: name a repository without a tag or digest to copy all its tags")
    layout = _layout_target(destination)
    if layout is not None and _premium(options):
        check_premium(None, options)
    if layout is not None and (layout.archive or layout.tag):
        raise UsageError(f"{layout.name}: every tag goes into a layout directory, oci:DIR (each image named by its tag)")
    dest = None if layout is not None else (
        destination if isinstance(destination, Destination) else _registry_destination(destination))
    if dest is not None and (dest.tag or dest.digest):
        raise UsageError(f"{dest.name}: name a repository without a tag or digest to copy all tags into")
    if dest is not None:
        check_options(dest, options, ref.kind != REGISTRY_V2)
    reader = connect(ref, insecure=options.src_insecure, username=options.src_username,
                     password=options.src_password, profile=options.profile, pool_size=max(8, options.jobs * 2))
    reader.nondistributable = options.allow_nondistributable
    results: List[PushResult] = []
    transport = None
    try:
        tags = reader.tags()
        if dest is not None:
            transport = _destination_transport(dest, options, ref)
            transport.prepare(options.create_repository)
        platforms = _platforms(options)
        if not tags:
            log.warning("%s: the registry lists no tags; nothing to copy", source)
        for tag in tags:
            try:
                digest = reader.digest_of(tag)
                there = _tag_digest(transport, tag) if transport is not None else _layout_tag_digest(layout, tag)
                if digest and there == digest:
                    continue
                root = reader.image(tag, platforms)
            except (SchemaOneError, NoSuchPlatform, NoSuchImage) as exc:  # one old, foreign or since deleted
                log.warning("skipped %s", exc)  # tag does not stop a mirror
                continue
            sub = subscriber_factory(tag) if subscriber_factory else None
            if transport is None:
                results.append(push_image(root, f"oci:{layout.path}:{tag}", subscriber=sub, options=options))
                continue
            transport.stats.clear()  # each result counts its own tag's work
            assert dest is not None
            results.append(_run_engine(root, transport, dest.name, [tag], sub, options, None, None))
    finally:
        reader.close()
        if transport is not None:
            transport.close()
    return results


def _layout_tag_digest(layout: Any, tag: str) -> Optional[str]:
    from pypush.transports.layout.layout_writer import LayoutTransport

    return LayoutTransport(layout).tag_digest(tag)


# ----- plumbing ---------------------------------------------------------------------------------

def _transfer(source: str, destination: Target, tags: Sequence[str], compression: str,
              compression_level: Optional[int], subscriber: Optional["Subscriber"], options: PushOptions,
              source_tags: bool, opener: Optional["TransportOpener"] = None) -> PushResult:
    from pypush.sources import open_source

    if compression not in COMPRESSIONS:
        raise UsageError(f"unknown compression {compression!r}: choose one of {', '.join(COMPRESSIONS)}")
    layout = _layout_target(destination)
    if layout is not None and _premium(options):
        check_premium(None, options)
    dest = None if layout is not None else (
        destination if isinstance(destination, Destination) else _registry_destination(destination))
    if dest is not None:
        check_options(dest, options, _source_uses_aws(source))
    pinned = dest.digest if dest is not None else None
    named = [*([layout.tag] if layout is not None and layout.tag else []), *([dest.tag] if dest and dest.tag else [])]
    platforms = _platforms(options)
    with open_source(source, platforms=platforms, nondistributable=options.allow_nondistributable,
                     **remote_options(source, options)) as src:
        all_tags = list(dict.fromkeys([*named, *(validate_tag(t) for t in tags)]))
        if not all_tags and not pinned:  # a copy takes the source's tag (none for an image named by digest)
            all_tags = src.tags[:1] if source_tags and (src.tags or src.format == "docker") else ["latest"]
        root = src.root
        if compression != "keep":
            from pypush.transform.convert import compress_image
            from pypush.transform.layer_cache import LayerCache

            root = compress_image(root, algorithm=compression, level=compression_level, cache=LayerCache.default())
        return _send(root, layout, dest, all_tags, subscriber, options, getattr(src, "reference", None), opener)


def push_image(root: Node, destination: Target, *, tags: Sequence[str] = (), subscriber: Optional["Subscriber"] = None,
               options: Optional[PushOptions] = None, source_reference: Optional[Destination] = None,
               verify_ahead: bool = True, **option_fields: object) -> PushResult:
    """Send an image already opened (``root``, its blobs transformed as they should go) to ``destination``
    (as ``push`` takes it) under its tag and ``tags`` (else ``latest``). ``source_reference``: the registry
    image its blobs come from (a copy within one v2 registry mounts them). ``verify_ahead=False``: hash no
    blob before its upload starts (when most blobs are likely at the destination already)."""
    options = merge_options(options, option_fields)
    layout = _layout_target(destination)
    if layout is not None and _premium(options):
        check_premium(None, options)
    dest = None if layout is not None else (
        destination if isinstance(destination, Destination) else _registry_destination(destination))
    named = [*([layout.tag] if layout is not None and layout.tag else []), *([dest.tag] if dest and dest.tag else [])]
    all_tags = list(dict.fromkeys([*named, *(validate_tag(t) for t in tags)]))
    if not all_tags and not (dest is not None and dest.digest):
        all_tags = ["latest"]
    return _send(root, layout, dest, all_tags, subscriber, options, source_reference, ahead=verify_ahead)


def _send(root: Node, layout: Any, dest: Optional[Destination], all_tags: List[str],
          subscriber: Optional["Subscriber"], options: PushOptions, remote: Optional[Destination],
          opener: Optional["TransportOpener"] = None, ahead: bool = True) -> PushResult:
    """Run the engine from ``root`` into a layout or a registry destination; into a registry, first ask
    whether every tag already names the manifest (when its digest is known before sending). ``opener``
    (a plan's) opens the destination's transport instead of ``_destination_transport``; then no blob is
    hashed ahead (images of a plan share blobs)."""
    from pypush.image.verify_ahead import VerifyAhead

    if _premium(options):
        check_premium(dest if layout is None else None, options)
    blobs = unique_blobs(root)
    ask = dest is not None and bool(all_tags) and predicted_stored(blobs) is not None
    if ask and dest is not None:
        tagged = _ask_lightly(dest, options, all_tags)
        if tagged is not None:
            ask = False  # answered: the transport need not ask again
            done = _unchanged(root, blobs, dest, all_tags, tagged, subscriber)
            if done is not None:
                return done
    # hashes files while the transport starts up (a registry's blobs are hashed as they stream)
    verifier = VerifyAhead(blobs).start() if ahead and remote is None and opener is None else None
    transport: Any = None
    try:
        if layout is not None:
            from pypush.transports.layout.layout_writer import LayoutTransport

            transport = LayoutTransport(layout, all_tags)
        else:
            assert dest is not None
            transport = (opener or _destination_transport)(dest, options, remote)
            if ask:
                done = _unchanged(root, blobs, dest, all_tags, _tag_digests(transport, all_tags), subscriber)
                if done is not None:
                    return done
        transport.prepare(options.create_repository)
        name = layout.name if layout is not None else dest.name  # type: ignore[union-attr]
        pinned = dest.digest if dest is not None else None
        result = _run_engine(root, transport, name, all_tags, subscriber, options, pinned, verifier)
        if layout is not None:
            transport.commit()
            result.tags = transport.tags
    finally:
        if verifier is not None:
            verifier.stop()
        if transport is not None:
            transport.close()
    return result


def _ask_lightly(dest: Destination, options: PushOptions, tags: List[str]) -> Optional[Dict[str, Optional[str]]]:
    """tag -> digest, asked before the transport (and requests or botocore) is loaded; None when only the
    transport can ask (credentials to look up, a profile, ...)."""
    if _uses_v2(dest, options):
        if dest.kind != REGISTRY_V2 or options.username is not None:
            return None
        from pypush.transports.distribution.tag_probe import tag_digests

        return tag_digests(dest.registry, dest.path, tags, options.insecure)
    from pypush.transports.ecr.ecr_tag_probe import tag_digests as ecr_tag_digests

    return ecr_tag_digests(dest, tags, options.endpoint_url, options.profile, repository_type(options.repository_type))


def _tag_digests(transport: "Transport", tags: List[str]) -> Dict[str, Optional[str]]:
    """tag -> digest it names now; {} when the destination cannot say (no such repository, no right to read)."""
    try:
        many = getattr(transport, "tag_digests", None)
        return many(tags) if many is not None else {t: _tag_digest(transport, t) for t in tags}
    except PypushError as exc:
        log.debug("could not look up the tags first: %s", exc)
        return {}


def _unchanged(root: Node, blobs: List[Any], dest: Destination, tags: List[str], tagged: Dict[str, Optional[str]],
               subscriber: Optional["Subscriber"]) -> Optional[PushResult]:
    """The result when every tag already names the manifest (and a pinned digest agrees), else None."""
    result = unchanged_result(root, blobs, dest.name, tags, tagged)
    if result is None or (dest.digest and result.digest != dest.digest):
        return None  # a pinned digest that differs: the engine explains it
    log.info("%s: every tag already names %s; nothing to send", dest.name, result.digest)
    if subscriber is not None:
        subscriber.close()
    return result


def _run_engine(root: Any, transport: "Transport", name: str, tags: Sequence[str], subscriber: Optional["Subscriber"],
                options: PushOptions, pinned: Optional[str], ahead: Optional["VerifyAhead"]) -> PushResult:
    from pypush.engine import transfer as engine

    try:
        return engine.push(root, transport, tags, repository=name, jobs=options.jobs, subscriber=subscriber,
                           expect_digest=pinned, ahead=ahead)
    finally:
        if subscriber is not None:
            subscriber.close()


def _destination_transport(dest: Destination, options: PushOptions, source: Optional[Destination],
                           session: Any = None) -> "Transport":
    """The destination's transport; a copy within one v2 registry mounts from the source repository."""
    if source is not None and _same_registry(source.registry, dest.registry):
        from dataclasses import replace

        options = replace(options, mount_from=[*options.mount_from, source.path])
    return open_transport(dest, options, session)


TransportOpener = Callable[[Destination, PushOptions, Optional[Destination]], "Transport"]
"""Opens the transport of a destination (given the options and the registry source, if any)."""


class _PlanTransports:
    """The transports of a plan: one requests session per v2 registry, one ECR API client and quota pacer
    per ECR registry (the others share it), each image's wrapped to share uploads (engine.plan)."""

    def __init__(self, jobs: int):
        from pypush.engine.plan import BlobLedger

        self._lock = threading.Lock()
        self._sessions: Dict[str, Any] = {}
        self._ecr: Dict[Tuple[str, str, str, str], Any] = {}
        self._opened: List[Any] = []
        self._ledger = BlobLedger()
        self._slots = threading.BoundedSemaphore(max(1, jobs))
        self._jobs = jobs

    def open(self, dest: Destination, options: PushOptions, source: Optional[Destination]) -> "Transport":
        """The wrapped transport of one image of the plan."""
        from pypush.engine.plan import SharedUploads
        from pypush.transports.distribution.docker_credentials import normalize_registry

        registry = normalize_registry(dest.registry)
        if _uses_v2(dest, options):
            with self._lock:
                if registry not in self._sessions:
                    from pypush.net.connections import requests_session

                    self._sessions[registry] = requests_session(max(8, self._jobs * 4), f"https://{dest.registry}/")
                session = self._sessions[registry]
            inner = _destination_transport(dest, options, source, session)
            scope = registry
        else:
            key = (dest.kind, dest.region or "", options.endpoint_url or "", repository_type(options.repository_type))
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


def _same_registry(a: str, b: str) -> bool:
    from pypush.transports.distribution.docker_credentials import normalize_registry

    return normalize_registry(a) == normalize_registry(b)


def _tag_digest(transport: "Transport", tag: str) -> Optional[str]:
    """The digest the destination has under ``tag`` (None when it has none or cannot say)."""
    ask = getattr(transport, "tag_digest", None)
    return ask(tag) if ask is not None else None


def _layout_target(destination: Target) -> Any:
    if isinstance(destination, Destination):
        return None
    text = os.fspath(destination)
    if not text.startswith(("oci:", "oci-archive:")):  # a registry: the layout writer is not even loaded
        return None
    from pypush.transports.layout.layout_writer import parse_layout_destination

    return parse_layout_destination(text)


def _registry_destination(destination: Union[str, "os.PathLike[str]"]) -> Destination:
    return parse_destination(os.fspath(destination))


def _platforms(options: PushOptions) -> List[Any]:
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
