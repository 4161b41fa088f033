"""Many images in one run: a plan of ``{"source", "destination", "tags"}`` entries pushed by one process.

Images run in parallel (``jobs`` at a time) and share what can be shared: connection pools and ECR quota
pacing (the caller opens the transports, see ``pypush.api.push_many``), and uploads. :class:`BlobLedger`
gives each distinct blob one uploader per registry (v2) or per repository (ECR, which cannot mount); an
image needing a blob that another image of the plan is sending waits for it, then mounts it from that
repository (v2) or finds it there. At most ``jobs`` uploads run at once across the plan. One image's
failure does not stop the others: each outcome carries its result or its error.
"""
from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from pypush.engine.push_result import PushResult
from pypush.engine.transfer import STOP_ALL, STOPPING
from pypush.errors import PypushError, UsageError
from pypush.image.model import Blob, Descriptor
from pypush.net.stats import TransferStats
from pypush.transports.base import ProgressFn, Transport

log = logging.getLogger("pypush")


@dataclass(frozen=True)
class PlanEntry:
    """One image of a plan: push ``source`` to ``destination`` under its tag and ``tags``."""

    source: str
    destination: str
    tags: Tuple[str, ...] = ()

    @classmethod
    def from_json(cls, item: Any, where: str) -> "PlanEntry":
        """An entry from a JSON object; UsageError naming ``where`` and the field when it is malformed."""
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected an object with \"source\", \"destination\" and \"tags\"")
        unknown = sorted(set(item) - {"source", "destination", "tags"})
        if unknown:
            raise UsageError(f"{where}: unknown field {unknown[0]!r} (expected source, destination, tags)")
        for name in ("source", "destination"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise UsageError(f"{where}: \"{name}\" must be a non-empty string")
        tags = item.get("tags", [])
        if isinstance(tags, str) or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise UsageError(f"{where}: \"tags\" must be a list of strings")
        return cls(item["source"], item["destination"], tuple(tags))


def read_plan(path: Union[str, Path]) -> List[PlanEntry]:
    """The entries of a plan file (a JSON list of objects); UsageError naming the file and entry."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, list) or not doc:
        raise UsageError(f"{path}: a plan is a non-empty JSON list of {{\"source\", \"destination\", \"tags\"}}")
    return [PlanEntry.from_json(item, f"{path}: entry {i + 1}") for i, item in enumerate(doc)]


@dataclass
class PlanOutcome:
    """What happened to one entry: its result, or the error that stopped it."""

    index: int  # position in the plan, from 0
    entry: PlanEntry
    result: Optional[PushResult] = None
    error: Optional[PypushError] = None

    @property
    def ok(self) -> bool:
        """The image was pushed (or already there)."""
        return self.error is None

    def to_json(self) -> Dict[str, object]:
        """One line of ``--format json`` output."""
        out: Dict[str, object] = {"index": self.index, "source": self.entry.source,
                                  "destination": self.entry.destination, "ok": self.ok}
        if self.result is not None:
            out.update(self.result.to_json())
        if self.error is not None:
            out.update(error=(str(self.error).splitlines() or [type(self.error).__name__])[0],
                       exit_code=self.error.exit_code)
        return out

    def line(self) -> str:
        """One line of text output: the pushed reference, or the destination and the error."""
        if self.result is not None:
            return self.result.reference
        return f"{self.entry.destination}: error: {(str(self.error).splitlines() or [''])[0]}"


def run_plan(entries: Sequence[PlanEntry], push_one: Callable[[PlanEntry], PushResult], jobs: int,
             on_outcome: Optional[Callable[[PlanOutcome], None]] = None) -> List[PlanOutcome]:
    """Run ``push_one`` for every entry, ``jobs`` at a time; outcomes in plan order (``on_outcome`` is told
    each as it finishes, one at a time)."""
    outcomes: List[Optional[PlanOutcome]] = [None] * len(entries)
    told = threading.Lock()

    def one(i: int) -> None:
        outcome = PlanOutcome(i, entries[i])
        try:
            outcome.result = push_one(entries[i])
        except PypushError as exc:
            outcome.error = exc
        except Exception as exc:  # a bug must not take the other images down
            outcome.error = PypushError(f"internal error: {type(exc).__name__}: {exc} (a bug in pypush)")
        outcomes[i] = outcome
        if on_outcome is not None:
            with told:
                on_outcome(outcome)

    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(entries))), thread_name_prefix="pypush-image")
    try:
        list(pool.map(one, range(len(entries))))
    except KeyboardInterrupt:  # only this thread hears Ctrl-C: the images' uploads are told to stop
        STOP_ALL.set()
        log.warning(STOPPING)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        STOP_ALL.clear()
    return [o for o in outcomes if o is not None]


@dataclass
class _Upload:
    repository: str
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class BlobLedger:
    """Who sends each blob within a plan: the first image to need a digest in a scope (a v2 registry, or
    one ECR repository) sends it; the others wait for that upload, then mount it or find it there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploads: Dict[Tuple[str, str], _Upload] = {}

    def claim(self, scope: str, digest: str, repository: str) -> Tuple[_Upload, bool]:
        """The upload record of ``digest`` in ``scope``, and whether the caller owns it (must send it)."""
        with self._lock:
            record = self._uploads.get((scope, digest))
            if record is not None and not (record.done.is_set() and not record.ok):
                return record, False
            record = self._uploads[(scope, digest)] = _Upload(repository)
            return record, True


class SharedUploads(Transport):
    """One image's transport within a plan: at most ``slots`` uploads at once plan-wide, and a blob another
    image sends to the same scope is waited for and mounted (``mount``) or, in the same repository,
    found there. The rest of the contract is the wrapped transport's; ``close`` is left to the plan."""

    def __init__(self, inner: Transport, ledger: BlobLedger, scope: str, slots: threading.Semaphore):
        self._inner, self._ledger, self._scope, self._slots = inner, ledger, scope, slots

    @property
    def repository(self) -> str:  # type: ignore[override]
        return self._inner.repository

    @property
    def stats(self) -> TransferStats:  # type: ignore[override]
        return self._inner.stats

    def prepare(self, create_repository: bool = False) -> None:
        self._inner.prepare(create_repository)

    def missing(self, digests: Sequence[str]) -> Set[str]:
        return self._inner.missing(digests)

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        self._inner.put_manifest(raw, media_type, digest, tags)

    def put_referrer(self, raw: bytes, media_type: str, digest: str, artifact_type: str) -> None:
        self._inner.put_referrer(raw, media_type, digest, artifact_type)

    def tag_digest(self, tag: str) -> Optional[str]:
        return self._inner.tag_digest(tag)

    def tag_digests(self, tags: Sequence[str]) -> Dict[str, Optional[str]]:
        return self._inner.tag_digests(tags)

    def mount(self, digest: str, source: str) -> bool:
        return self._inner.mount(digest, source)

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Send ``blob`` unless another image of the plan does: then wait and mount it from there."""
        digest = blob.descriptor.digest
        if not digest:
            return self._send(blob, progress)
        repository = self._inner.repository
        record, mine = self._ledger.claim(self._scope, digest, repository)
        if not mine:
            record.done.wait()
            if record.ok and (record.repository == repository or self._inner.mount(digest, record.repository)):
                return blob.descriptor
            return self._send(blob, progress)  # the other upload failed, or the registry did not mount
        try:
            desc = self._send(blob, progress)
            record.ok = True
            return desc
        finally:
            record.done.set()

    def _send(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        with self._slots:
            return self._inner.upload(blob, progress)

    def close(self) -> None:
        """Nothing: the plan closes the shared transports at its end."""
