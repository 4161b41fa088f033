"""The AWS door: every AWS JSON request passes through ``AwsDoor.dispatch`` (authentication, quotas,
fault injection, validation, the operation, the answer); the HTTP side hands it the whole body.
"""
from __future__ import annotations

import logging
import queue
import traceback
from contextlib import contextmanager
from email.message import Message
from typing import Iterator, Optional, Tuple

from pypush.server.aws.context import Context, check_registry
from pypush.server.aws.limits import DropConnection, Faults, Quotas
from pypush.server.aws.premium_images import purge_due
from pypush.server.aws.protocol import (PRIVATE, PUBLIC, ApiError, max_length, parse_body, resolve_target,
                                        response_body, validate)
from pypush.server.aws.sigv4 import Verifier, parse_authorization
from pypush.server.aws.table import OPERATIONS
from pypush.server.settings import Settings
from pypush.server.store.store import Store

log = logging.getLogger("pypush.server")

LARGE_BODY = 1 << 20
"""Bodies above this size are read into ``AwsDoor.bodies`` so memory stays bounded."""
CONCURRENT_LARGE_BODIES = 2


def too_large(length: int) -> ApiError:
    """The answer to a request body of ``length`` bytes above ``AwsDoor.max_body``."""
    return ApiError("InvalidParameterException", f"request body of {length} bytes is too large", status=413)


def _max_body() -> int:
    blob = max(max_length(PUBLIC, "LayerPartBlob"), max_length(PRIVATE, "LayerPartBlob"))
    manifest = max(max_length(PUBLIC, "ImageManifest"), max_length(PRIVATE, "ImageManifest"))
    return max((blob + 2) // 3 * 4, 6 * manifest) + (1 << 20)


class BufferPool:
    """A few request-body buffers, allocated once at the largest body size and reused.

    Untouched pages cost nothing, so memory is ``count`` times the largest body received; reusing
    them avoids re-faulting pages and malloc arenas growing under concurrent large requests.
    """

    def __init__(self, count: int, size: int):
        self.size = size
        self._free: "queue.LifoQueue[Optional[bytearray]]" = queue.LifoQueue()
        for _ in range(count):
            self._free.put(None)

    @contextmanager
    def borrow(self, length: int) -> Iterator[memoryview]:
        """A view of ``length`` bytes of a free buffer (waits while all are lent)."""
        buf = self._free.get()
        try:
            if buf is None:
                buf = bytearray(self.size)
            yield memoryview(buf)[:length]
        finally:
            self._free.put(buf)


class AwsDoor:
    """The AWS JSON 1.1 API of ECR Public and private ECR over the store, with the optional gates."""

    def __init__(self, store: Store, settings: Settings, verifier: Optional[Verifier] = None,
                 quotas: Optional[Quotas] = None, faults: Optional[Faults] = None):
        self.store = store
        self.settings = settings
        self.verifier = verifier
        self.quotas = quotas
        self.faults = faults
        self.max_body = _max_body()
        self.bodies = BufferPool(CONCURRENT_LARGE_BODIES, self.max_body)

    def dispatch(self, path: str, headers: Message, body: memoryview) -> Tuple[int, bytes, Optional[str]]:
        """(status, JSON body, error code or None) for one AWS request; raises DropConnection when a
        fault says so."""
        try:
            service, op = resolve_target(headers.get("X-Amz-Target", ""))
            if self.verifier is not None:
                cred = self.verifier.verify("POST", path, headers, body)
            else:
                cred = parse_authorization(headers)
            drop_after = self.faults.before(op.name) if self.faults is not None else False
            if self.quotas is not None:
                self.quotas.check(service, op.name)
            fn = OPERATIONS.get((service, op.name))
            if fn is None:
                raise ApiError("UnsupportedCommandException", f"{op.name} is not supported by this endpoint")
            params = parse_body(body, op)
            validate(op.input_shape, params)
            if service == PUBLIC:
                purge_due(self.store, self.settings.clock())  # deprecated images whose time has come
            ctx = Context(self.store, self.settings, service, op, region=cred.region, access_key=cred.access_key)
            check_registry(ctx, params)
            result = fn(ctx, params)
            if drop_after:
                raise DropConnection(op.name)
            return 200, response_body(result), None
        except ApiError as e:
            return e.status, e.body(), e.code
        except DropConnection:
            raise
        except Exception as e:  # a bug or an I/O failure: the service's 500
            log.error("internal error: %s", traceback.format_exc())
            return 500, ApiError("ServerException", f"internal error: {type(e).__name__}: {e}", status=500).body(), \
                "ServerException"
