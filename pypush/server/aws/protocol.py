"""AWS JSON 1.1 as botocore speaks it: request parsing, model-driven validation, responses, errors.

Every limit (required members, lengths, patterns, ranges, enums) comes from the service models pypush
pins (pypush.apimodels, botocore's own files), read at run time; nothing here copies a number from them.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Dict, Optional, Tuple, Union

from botocore.model import OperationModel, ServiceModel, Shape

from pypush import apimodels
from pypush.server.aws.part_blob import Base64Blob, Buffer

CONTENT_TYPE = "application/x-amz-json-1.1"

PUBLIC = "ecr-public"
PRIVATE = "ecr"


class ApiError(Exception):
    """An error the service returns: ``{"__type": code, "message": ...}`` with ``status``."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra

    def body(self) -> bytes:
        out: Dict[str, Any] = {"__type": self.code, "message": self.message}
        out.update({k: v for k, v in self.extra.items() if v is not None})
        return json.dumps(out).encode()


def invalid(message: str) -> ApiError:
    """InvalidParameterException with ``message``."""
    return ApiError("InvalidParameterException", message)


@lru_cache(maxsize=None)
def service_model(name: str) -> ServiceModel:
    """The pinned model of ``ecr-public`` or ``ecr`` (loaded once): not the installed botocore's."""
    return apimodels.service_model(name)


@lru_cache(maxsize=None)
def targets() -> Dict[str, str]:
    """X-Amz-Target prefix -> service name."""
    return {service_model(n).metadata["targetPrefix"]: n for n in (PUBLIC, PRIVATE)}


def resolve_target(target: str) -> Tuple[str, OperationModel]:
    """``Prefix.Operation`` -> (service name, operation model); UnknownOperationException otherwise."""
    prefix, _, op = target.partition(".")
    service = targets().get(prefix)
    if service is None or op not in service_model(service).operation_names:
        raise ApiError("UnknownOperationException", f"unknown operation {target!r}")
    return service, service_model(service).operation_model(op)


# -- parsing ----------------------------------------------------------------------------------
def loads_json(raw: Union[str, bytes]) -> Any:
    """``json.loads`` of UTF-8 text (as AWS JSON is; json.loads would guess UTF-16 and UTF-32 too, and PyPy's
    parser fails with a SystemError on some such bytes), with a document that is not UTF-8 or is nested
    too deeply for the parser (CPython raises RecursionError) reported as the ValueError of any malformed
    document: for every JSON text a client sends."""
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _blob_members(shape: Shape) -> Tuple[str, ...]:
    return tuple(n for n, s in shape.members.items() if s.type_name == "blob")


def parse_body(body: memoryview, op: OperationModel) -> Dict[str, Any]:
    """The request members the operation's model knows (others are dropped); top-level blob members
    become lazily decoded ``Base64Blob``s.

    A large UploadLayerPart body is a short JSON object around one long base64 string: the string
    is located in place (base64 never needs JSON escapes) and only the rest goes through json.
    ``body`` is a view of the first ``len(body)`` bytes of its buffer.
    """
    shape = op.input_shape
    blobs = _blob_members(shape) if shape is not None else ()
    params: Optional[Dict[str, Any]] = None
    buf = body.obj
    if len(blobs) == 1 and len(body) > 65536 and isinstance(buf, (bytes, bytearray)):
        params = _splice_blob(buf, len(body), blobs[0])
    if params is None:
        try:
            params = loads_json(bytes(body) if len(body) else b"{}")
        except ValueError as e:  # UnicodeDecodeError too
            raise ApiError("SerializationException", f"request body is not JSON: {e}") from None
        if not isinstance(params, dict):
            raise ApiError("SerializationException", "request body is not a JSON object")
        for name in blobs:
            value = params.get(name)
            if isinstance(value, str):
                try:
                    params[name] = Base64Blob(value.encode("ascii"))
                except UnicodeEncodeError:
                    raise invalid(f"Invalid parameter at '{name}': not base64") from None
    if shape is None:
        return {}
    return {k: v for k, v in params.items() if k in shape.members}  # as AWS, unknown members are ignored


_WS = b" \t\r\n"


def _splice_blob(buf: Buffer, n: int, name: str) -> Optional[Dict[str, Any]]:
    """Parse ``buf[:n]`` with member ``name`` located in place, or None to parse it whole."""
    key = b'"' + name.encode() + b'"'
    i = buf.find(key, 0, n)
    if i < 0:
        return None
    k = i - 1
    while k >= 0 and buf[k] in _WS:
        k -= 1
    if k < 0 or buf[k] not in b"{,":
        return None
    j = i + len(key)
    while j < n and buf[j] in _WS:
        j += 1
    if j >= n or buf[j] != 0x3A:
        return None
    j += 1
    while j < n and buf[j] in _WS:
        j += 1
    if j >= n or buf[j] != 0x22:
        return None
    start = j + 1
    end = buf.find(b'"', start, n)
    if end < 0 or buf.find(b"\\", start, end) >= 0:
        return None
    try:
        params = loads_json(bytes(buf[:start]) + bytes(buf[end:n]))
    except ValueError:
        return None
    if not isinstance(params, dict) or params.get(name) != "":
        return None
    params[name] = Base64Blob(buf, start, end)
    return params


# -- validation -------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def regex(pattern: str) -> Optional["re.Pattern[str]"]:
    """A model pattern compiled once (None if Python's re cannot read it)."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _fail(path: str, value: Any, constraint: str) -> ApiError:
    shown = value if isinstance(value, (str, int, float, bool)) else type(value).__name__
    if isinstance(shown, str) and len(shown) > 80:
        shown = shown[:77] + "..."
    return invalid(f"Invalid parameter at '{path}' failed to satisfy constraint: '{constraint}' (value {shown!r})")


def validate(shape: Optional[Shape], value: Any, path: str = "") -> None:
    """Raise InvalidParameterException naming the first member that breaks ``shape``'s constraints."""
    if shape is None or value is None:
        return
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(path or "request", value, "must be an object")
        for name in meta.get("required", ()):
            if value.get(name) is None:
                raise invalid(f"Invalid parameter at '{path + '.' if path else ''}{name}': required member is missing")
        for name, member in shape.members.items():
            if name in value:
                validate(member, value[name], f"{path}.{name}" if path else name)
        return
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(path, value, "must be a list")
        _check_length(path, value, len(value), meta, "Member must have length")
        for i, item in enumerate(value):
            validate(shape.member, item, f"{path}[{i}]")
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(path, value, "must be a map")
        for k, v in value.items():
            validate(shape.key, k, f"{path}.key")
            validate(shape.value, v, f"{path}[{k}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(path, value, "must be a string")
        if _SURROGATE.search(value):  # a lone "\ud800" escape: JSON allows it, UTF-8 cannot encode it
            raise _fail(path, "<text>", "Member must be valid Unicode text")
        _check_length(path, value, len(value), meta, "Member must have length")
        enum = meta.get("enum")
        if enum and value not in enum:
            raise _fail(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = meta.get("pattern")
        rx = regex(pattern) if pattern else None
        if rx is not None and not rx.fullmatch(value):
            raise _fail(path, value, f"Member must satisfy regular expression pattern: {pattern}")
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, value, "must be an integer")
        if "min" in meta and value < meta["min"]:
            raise _fail(path, value, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            raise _fail(path, value, f"Member must have value less than or equal to {meta['max']}")
        return
    if kind in ("float", "double", "timestamp"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, value, "must be a number")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, value, "must be a boolean")
        return
    if kind == "blob":
        if isinstance(value, str):  # nested blobs stay text; check they decode
            try:
                blob = Base64Blob(value.encode("ascii"))
                blob.decode()
            except (UnicodeEncodeError, ValueError):
                raise _fail(path, "<blob>", "Member must be base64") from None
            value = blob
        if not isinstance(value, Base64Blob):
            raise _fail(path, value, "must be base64 text")
        _check_length(path, "<blob>", value.size, meta, "Member must have length")


def _check_length(path: str, value: Any, n: int, meta: Dict[str, Any], what: str) -> None:
    if "min" in meta and n < meta["min"]:
        raise _fail(path, value, f"{what} greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        raise _fail(path, value, f"{what} less than or equal to {meta['max']}")


def max_length(service: str, shape_name: str) -> int:
    """The model's ``max`` of a named shape (e.g. LayerPartBlob), for sizing buffers; KeyError if it has none."""
    return service_model(service).shape_for(shape_name).metadata["max"]


def response_body(result: Dict[str, Any]) -> bytes:
    """Serialise an operation's result (timestamps already epoch seconds, blobs already base64)."""
    return json.dumps(result, separators=(",", ":")).encode()
