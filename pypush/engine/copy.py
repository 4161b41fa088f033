"""The one place a copy is decided: open the source, transform its blobs, choose the destination and its
transport, take the short cut of an unchanged re-push, run the transfer engine; plans of many images and the
mirroring of a repository's tags."""
from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from pypush.engine.options import (COMPRESSIONS, PushOptions, check_options, check_premium, platforms_of, remote_options,
                                   source_uses_aws)
from pypush.engine.push_result import PushResult, predicted_stored, unchanged_result, unique_blobs
from pypush.engine.route import (PlanTransports, Target, TransportOpener, destination_transport, layout_target,
                                 registry_destination, uses_v2)
from pypush.errors import PypushError, UsageError
from pypush.image.model import Node
from pypush.name.reference import REGISTRY_V2, Destination, validate_tag

if TYPE_CHECKING:
    from pypush.engine.plan import PlanEntry, PlanOutcome
    from pypush.engine.progress import Subscriber
    from pypush.image.verify_ahead import VerifyAhead
    from pypush.transports.base import Transport

log = logging.getLogger("pypush")


def transfer(source: str, destination: Target, tags: Sequence[str], compression: str,
              compression_level: Optional[int], subscriber: Optional["Subscriber"], options: PushOptions,
              source_tags: bool, opener: Optional["TransportOpener"] = None) -> PushResult:
    from pypush.sources import open_source

    if compression not in COMPRESSIONS:
        raise UsageError(f"unknown compression {compression!r}: choose one of {', '.join(COMPRESSIONS)}")
    layout = layout_target(destination)
    dest = None if layout is not None else (
        destination if isinstance(destination, Destination) else registry_destination(destination))
    if options.premium:
        check_premium(dest, options)
    if dest is not None:
        check_options(dest, options, source_uses_aws(source))
    pinned = dest.digest if dest is not None else None
    named = [*([layout.tag] if layout is not None and layout.tag else []), *([dest.tag] if dest and dest.tag else [])]
    platforms = platforms_of(options)
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
        return send(root, layout, dest, all_tags, subscriber, options, getattr(src, "reference", None), opener)


def transfer_many(images: Sequence[Union["PlanEntry", Mapping[str, Any]]], compression: str,
                  compression_level: Optional[int], options: PushOptions,
                  on_outcome: Optional[Callable[["PlanOutcome"], None]]) -> List["PlanOutcome"]:
    """A plan of many images (``pypush.push_many``): one outcome per image, in plan order."""
    from pypush.engine.plan import PlanEntry, run_plan

    entries = [e if isinstance(e, PlanEntry) else PlanEntry.from_json(e, f"image {i + 1}") for i, e in enumerate(images)]
    shared = PlanTransports(options.jobs)
    # An image's blobs may all start at once: uploads are bounded plan-wide (shared.open's slots), and a
    # thread waiting for a blob another image sends must not hold back the image's own blobs.
    per_image = replace(options, jobs=max(options.jobs, 16))
    try:
        return run_plan(entries, lambda e: transfer(e.source, e.destination, e.tags, compression, compression_level,
                                                    None, per_image, source_tags=False, opener=shared.open),
                        options.jobs, on_outcome)
    finally:
        shared.close()


def send_image(root: Node, destination: Target, *, tags: Sequence[str] = (), subscriber: Optional["Subscriber"] = None,
               options: PushOptions, source_reference: Optional[Destination] = None,
               verify_ahead: bool = True, referrers: Sequence[Any] = ()) -> PushResult:
    """Send an image already opened (``root``, its blobs transformed as they should go) to ``destination``
    (as ``push`` takes it) under its tag and ``tags`` (else ``latest``). ``source_reference``: the registry
    image its blobs come from (a copy within one v2 registry mounts them). ``verify_ahead=False``: hash no
    blob before its upload starts (when most blobs are likely at the destination already)."""
    layout = layout_target(destination)
    dest = None if layout is not None else (
        destination if isinstance(destination, Destination) else registry_destination(destination))
    named = [*([layout.tag] if layout is not None and layout.tag else []), *([dest.tag] if dest and dest.tag else [])]
    all_tags = list(dict.fromkeys([*named, *(validate_tag(t) for t in tags)]))
    if not all_tags and not (dest is not None and dest.digest):
        all_tags = ["latest"]
    return send(root, layout, dest, all_tags, subscriber, options, source_reference, ahead=verify_ahead,
                referrers=referrers)


def send(root: Node, layout: Any, dest: Optional[Destination], all_tags: List[str],
         subscriber: Optional["Subscriber"], options: PushOptions, remote: Optional[Destination],
         opener: Optional["TransportOpener"] = None, ahead: bool = True, referrers: Sequence[Any] = ()) -> PushResult:
    """Run the engine from ``root`` into a layout or a registry destination; into a registry, first ask
    whether every tag already names the manifest (when its digest is known before sending). ``opener``
    (a plan's) opens the destination's transport instead of ``destination_transport``; then no blob is
    hashed ahead (images of a plan share blobs)."""
    from pypush.image.verify_ahead import VerifyAhead

    if options.premium:
        check_premium(dest if layout is None else None, options)
    blobs = unique_blobs(root)
    ask = dest is not None and bool(all_tags) and predicted_stored(blobs) is not None and not referrers
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
            transport = (opener or destination_transport)(dest, options, remote)
            if ask:
                done = _unchanged(root, blobs, dest, all_tags, _tag_digests(transport, all_tags), subscriber)
                if done is not None:
                    return done
        transport.prepare(options.create_repository)
        name = layout.name if layout is not None else dest.name  # type: ignore[union-attr]
        pinned = dest.digest if dest is not None else None
        result = _run_engine(root, transport, name, all_tags, subscriber, options, pinned, verifier, referrers)
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
    if uses_v2(dest, options):
        if dest.kind != REGISTRY_V2 or options.username is not None:
            return None
        from pypush.transports.distribution.tag_probe import tag_digests

        return tag_digests(dest.registry, dest.path, tags, options.insecure)
    from pypush.transports.ecr.ecr_tag_probe import tag_digests as ecr_tag_digests

    return ecr_tag_digests(dest, tags, options.endpoint_url, options.profile, "PREMIUM" if options.premium else "FREE")


def _tag_digests(transport: "Transport", tags: List[str]) -> Dict[str, Optional[str]]:
    """tag -> digest it names now; {} when the destination cannot say (no such repository, no right to read)."""
    try:
        return transport.tag_digests(tags)
    except PypushError as exc:
        if getattr(exc, "code", None) == "UNREACHABLE":  # refused, or no such host: the push would fail alike
            raise
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
                options: PushOptions, pinned: Optional[str], ahead: Optional["VerifyAhead"],
                referrers: Sequence[Any] = ()) -> PushResult:
    from pypush.engine import transfer as engine

    try:
        return engine.push(root, transport, tags, repository=name, jobs=options.jobs, subscriber=subscriber,
                           expect_digest=pinned, ahead=ahead, referrers=referrers)
    finally:
        if subscriber is not None:
            subscriber.close()


def mirror_repository(source: str, destination: Union[str, Destination], options: PushOptions,
                      subscriber_factory: Any = None) -> List[PushResult]:
    """Copy every tag of the repository ``source`` (``docker://[HOST/]REPO``) to the repository
    ``destination`` (or into the layout directory ``oci:DIR``, each image named by its tag), following the
    pages of ``tags/list``, skipping tags whose digest is already there (and, with a warning, Docker schema 1
    images and images without the ``platform`` asked for); one result per tag copied. ``subscriber_factory(tag)`` may give a progress subscriber per tag."""
    from pypush.image.platforms import NoSuchPlatform
    from pypush.name.reference import parse_remote
    from pypush.errors import NoSuchImage
    from pypush.sources.remote import SchemaOneError, connect

    if not source.startswith("docker://") and (source.partition(":")[0] in ("oci", "oci-archive", "docker-archive")
                                                or os.path.lexists(source) or os.path.lexists(source.partition(":")[0])):
        raise UsageError(f"{source}: --all-tags copies the tags of a repository in a registry (docker://HOST/REPO); "
                         f"copy images on disk one at a time (PATH:TAG)")
    ref = parse_remote(source)
    if ref.tag or ref.digest:
        raise UsageError(f"{source}: name a repository without a tag or digest to copy all its tags")
    layout = layout_target(destination)
    if layout is not None and (layout.archive or layout.tag):
        raise UsageError(f"{layout.name}: every tag goes into a layout directory, oci:DIR (each image named by its tag)")
    dest = None if layout is not None else (
        destination if isinstance(destination, Destination) else registry_destination(destination))
    if options.premium:
        check_premium(dest, options)
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
            transport = destination_transport(dest, options, ref)
            transport.prepare(options.create_repository)
        platforms = platforms_of(options)
        if not tags:
            log.warning("%s: the registry lists no tags; nothing to copy", source)
        for tag in tags:
            try:
                digest = reader.digest_of(tag)
                there = transport.tag_digest(tag) if transport is not None else _layout_tag_digest(layout, tag)
                if digest and there == digest:
                    continue
                root = reader.image(tag, platforms)
            except (SchemaOneError, NoSuchPlatform, NoSuchImage) as exc:  # one old, foreign or since deleted
                log.warning("skipped %s", exc)  # tag does not stop a mirror
                continue
            sub = subscriber_factory(tag) if subscriber_factory else None
            if transport is None:
                results.append(send_image(root, f"oci:{layout.path}:{tag}", subscriber=sub, options=options))
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


