"""The copy engine: what must move, in which order, how many at once; one for every transport."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Union

from pypush.engine.push_result import PushResult
from pypush.engine.walked import WalkedImage, rendered_manifests, walk_image
from pypush.errors import DigestMismatchError, Interrupted, UsageError
from pypush.image.model import Blob, Descriptor, ImageManifest, Node, render_manifest, sha256_digest
from pypush.engine.progress import Subscriber
from pypush.transports.base import Transport
from pypush.image.verify_ahead import VerifyAhead

log = logging.getLogger("pypush")
STOP_ALL = threading.Event()
"""Set while a run of many pushes (a plan) is being interrupted: every upload under way, in any image, stops at
its next part or chunk, as one push does on Ctrl-C."""
STOPPING = ("stopping: each upload under way ends its current part or chunk, written down for a rerun to continue "
            "(Ctrl-C again to quit at once)")
"""What Ctrl-C in the middle of uploads is answered with."""


def push(image: Union[Node, WalkedImage], transport: Transport, tags: Sequence[str], *, repository: str = "",
         jobs: int = 4, subscriber: Optional[Subscriber] = None, expect_digest: Optional[str] = None,
         ahead: Optional[VerifyAhead] = None, referrers: Sequence[ImageManifest] = ()) -> PushResult:
    """Push ``image`` (a manifest or an index with its children, or the WalkedImage of one) through ``transport``.

    Blobs absent from the destination upload concurrently (``jobs`` at a time, largest first); only
    when every blob is stored are manifests put, children by digest before their parents, the root
    once under each tag (or by digest only when ``tags`` is empty). With ``expect_digest`` the root
    manifest must have that digest, else nothing is tagged (UsageError). ``ahead``, when given, is
    told which blobs must go up and hands over what it hashed of each. ``referrers`` (manifests whose
    ``subject`` names a manifest of the image by its digest before transforms; a WalkedImage carries its own)
    go last, by digest, their subject rewritten as stored, through ``transport.put_referrer``.
    """
    subscriber = subscriber or Subscriber()
    walked = image if isinstance(image, WalkedImage) else walk_image(image, referrers)
    blobs = walked.blobs
    known = [b.descriptor.digest for b in blobs if b.descriptor.digest]
    missing = transport.missing(known) if known else set()
    todo = [b for b in blobs if not b.descriptor.digest or b.descriptor.digest in missing]
    todo_ids = {id(b) for b in todo}
    if ahead is not None:
        ahead.keep_only(todo)
    todo.sort(key=lambda b: -(b.original.size if b.original else b.descriptor.size))
    todo_bytes = sum(b.descriptor.size or (b.original.size if b.original else 0) for b in todo)
    log.info("%s: %d blobs, %d to upload (%.1f MB), %d already there", repository or "push", len(blobs), len(todo),
             todo_bytes / 1e6, len(blobs) - len(todo))
    subscriber.on_plan(len(blobs), sum(b.descriptor.size for b in blobs), len(todo), todo_bytes)
    stored: Dict[str, Descriptor] = {}  # original digest -> stored descriptor, for transformed blobs
    for blob in blobs:
        if id(blob) not in todo_ids:
            if blob.original is not None:
                stored[blob.original.digest] = blob.descriptor
            subscriber.on_blob_done(blob, False)
    _upload_all(todo, transport, jobs, subscriber, stored, ahead)

    result = PushResult(repository=repository, digest="", media_type="", size=0, tags=list(tags),
                        blobs_pushed=len(todo), blobs_skipped=len(blobs) - len(todo),
                        layers_not_copied=list(walked.layers_not_copied))
    for node, raw, digest in rendered_manifests(walked, stored):
        desc = node.descriptor
        is_root = node is walked.root
        if is_root and expect_digest and digest != expect_digest:
            raise UsageError(f"the image's manifest is {digest}, but the destination pins {expect_digest}; "
                             f"nothing was tagged")
        node_tags = list(tags) if is_root else []
        transport.put_manifest(raw, desc.media_type, digest, node_tags)
        log.info("manifest %s (%s) %s", digest, desc.media_type.rsplit("/", 1)[-1],
                 "tagged " + ", ".join(node_tags) if node_tags else "by digest")
        subscriber.on_manifest(digest, node_tags)
        result.manifests += 1
        if is_root:
            result.digest, result.media_type, result.size = digest, desc.media_type, len(raw)
        else:
            result.children.append(digest)
    for ref in walked.referrers:
        raw = render_manifest(ref.raw, stored)
        digest = sha256_digest(raw)
        transport.put_referrer(raw, ref.descriptor.media_type, digest, ref.descriptor.artifact_type or "")
        log.info("referrer %s (%s)", digest, ref.descriptor.artifact_type)
        result.referrers.append(digest)
        result.manifests += 1
    stats = transport.stats  # the transport knows what really moved (a mount moves no bytes)
    result.bytes_pushed = stats.get("bytes", 0)
    result.bytes_resumed = stats.get("resumed", 0)
    result.blobs_mounted = stats.get("mounted", 0)
    result.retries, result.throttled = stats.get("retries", 0), stats.get("throttled", 0)
    return result


def _upload_all(todo: List[Blob], transport: Transport, jobs: int, subscriber: Subscriber,
                stored: Dict[str, Descriptor], ahead: Optional[VerifyAhead]) -> None:
    if not todo:
        return
    cancel = threading.Event()  # set on the first failure or Ctrl-C: running uploads stop at their next part

    def one(blob: Blob) -> None:
        sent = [0]

        def progress(n: int) -> None:
            if cancel.is_set() or STOP_ALL.is_set():
                raise _Cancelled()
            sent[0] += n
            subscriber.on_bytes(blob, n)

        hashed = ahead.claim(blob) if ahead is not None else None
        sending = blob.with_hashed(hashed) if hashed else blob  # a transformed blob: its source's bytes hashed
        try:
            desc = transport.upload(sending, progress)
        except DigestMismatchError:
            if not (blob.original is not None and blob.descriptor.digest):
                raise
            # A predicted digest (layer cache) was wrong: upload again computing the digest.
            log.info("predicted digest of %s was stale; recomputing", blob.name or blob.original.digest)
            progress(-sent[0])
            desc = transport.upload(replace(sending, descriptor=Descriptor(blob.descriptor.media_type, "", 0)),
                                    progress)
        log.info("stored %s (%.1f MB) from %s", desc.digest, desc.size / 1e6, blob.name or "source")
        if blob.original is not None:
            stored[blob.original.digest] = desc  # one key per blob: no lock needed
        if blob.on_stored is not None:
            blob.on_stored(desc)
        subscriber.on_blob_done(blob, True)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="pypush-upload")
    futures: List[Future] = []
    try:
        futures = [pool.submit(one, b) for b in todo]
        wait(futures, return_when=FIRST_EXCEPTION)
        cancel.set()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None \
                    and not isinstance(f.exception(), _Cancelled):
                raise f.exception()  # type: ignore[misc]
        if STOP_ALL.is_set():
            raise KeyboardInterrupt  # the plan was interrupted: as if here
    except KeyboardInterrupt:
        if any(f.running() for f in futures):
            log.warning(STOPPING)
        raise Interrupted("interrupted: no manifest was written; rerun to resume (stored blobs are kept, half-sent "
                          "ones continue where they stopped)") from None
    finally:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)


class _Cancelled(Exception):
    """Raised inside an upload when another one failed or the user interrupted the push."""
