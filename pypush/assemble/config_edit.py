"""Image config changes (``--entrypoint``, ``--cmd``, ``--env``, ``--workdir``, ``--user``, ``--label``,
``--expose``) and manifest annotations, parsed once and applied to every platform's config.

As in a Dockerfile, setting the entrypoint without a command clears the command the base had
(``python`` under a new ``ENTRYPOINT ["/app/run"]`` would become its first argument).
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from pypush.errors import UsageError

Pairs = Union[Mapping[str, str], Iterable[str]]
Command = Union[str, Sequence[str]]
PROTOCOLS = ("tcp", "udp", "sctp")


def parse_command(value: Command, what: str) -> List[str]:
    """A command as a list: a JSON array (``'["/app/run", "-v"]'``), shell words (``'/app/run -v'``) or a
    sequence already; ``""`` or ``[]`` clears it."""
    if not isinstance(value, str):
        if not all(isinstance(v, str) for v in value):
            raise UsageError(f"{what}: every element must be a string")
        return list(value)
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise UsageError(f"{what}: invalid JSON array ({e})") from None
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise UsageError(f"{what}: want a JSON array of strings")
        return parsed
    try:
        return shlex.split(text)
    except ValueError as e:
        raise UsageError(f"{what}: {e}") from None


def parse_pairs(values: Optional[Pairs], what: str) -> Dict[str, str]:
    """``K=V`` strings (or a mapping) as a dict, in order; UsageError naming ``what`` otherwise."""
    if values is None:
        return {}
    if isinstance(values, Mapping):
        items = list(values.items())
    else:
        items = []
        for text in values:
            if not isinstance(text, str) or "=" not in text:
                raise UsageError(f"{what} {text!r}: want KEY=VALUE")
            key, _, val = text.partition("=")
            items.append((key, val))
    out: Dict[str, str] = {}
    for key, val in items:
        if not isinstance(key, str) or not key or not isinstance(val, str):
            raise UsageError(f"{what} {key!r}: want a non-empty string key and a string value")
        out[key] = val
    return out


def parse_port(text: Union[str, int]) -> str:
    """``PORT[/PROTO]`` as ``80/tcp``; UsageError for a bad port or protocol."""
    port, _, proto = str(text).partition("/")
    proto = (proto or "tcp").lower()
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in PROTOCOLS:
        raise UsageError(f"--expose {text!r}: want PORT[/tcp|udp|sctp] with PORT 1-65535")
    return f"{int(port)}/{proto}"


def rfc3339(epoch: int) -> str:
    """``epoch`` as ``1970-01-01T00:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass
class ConfigChanges:
    """What to change in every config; ``None`` leaves a field as the base has it."""

    entrypoint: Optional[List[str]] = None
    cmd: Optional[List[str]] = None
    env: Dict[str, str] = field(default_factory=dict)
    workdir: Optional[str] = None
    user: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)
    exposed_ports: List[str] = field(default_factory=list)
    annotations: Dict[str, str] = field(default_factory=dict)  # manifest annotations
    created: Optional[str] = None  # the image's ``created`` (None: the base's)

    @classmethod
    def parse(cls, *, entrypoint: Optional[Command] = None, cmd: Optional[Command] = None,
              env: Optional[Pairs] = None, workdir: Optional[str] = None, user: Optional[str] = None,
              labels: Optional[Pairs] = None, expose: Iterable[Union[str, int]] = (),
              annotations: Optional[Pairs] = None, created: Optional[str] = None) -> "ConfigChanges":
        """Changes from user input (CLI strings or Python values), every value checked."""
        if workdir is not None and workdir and not workdir.startswith("/"):
            raise UsageError(f"--workdir {workdir!r}: want an absolute path")
        return cls(entrypoint=None if entrypoint is None else parse_command(entrypoint, "--entrypoint"),
                   cmd=None if cmd is None else parse_command(cmd, "--cmd"),
                   env=parse_pairs(env, "--env"), workdir=workdir, user=user,
                   labels=parse_pairs(labels, "--label"), exposed_ports=[parse_port(p) for p in expose],
                   annotations=parse_pairs(annotations, "--annotation"), created=created)

    def apply(self, doc: Dict[str, Any], diff_ids: Sequence[str], history: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        """``doc`` (a parsed image config) changed, with ``diff_ids`` and ``history`` entries appended."""
        conf = doc.get("config")
        if not isinstance(conf, dict):
            conf = doc["config"] = {}
        if self.entrypoint is not None:
            _set(conf, "Entrypoint", self.entrypoint or None)
            if self.cmd is None:
                conf.pop("Cmd", None)
        if self.cmd is not None:
            _set(conf, "Cmd", self.cmd or None)
        if self.env:
            conf["Env"] = _merge_env(conf.get("Env"), self.env)
        if self.workdir is not None:
            _set(conf, "WorkingDir", self.workdir or None)
        if self.user is not None:
            _set(conf, "User", self.user or None)
        if self.labels:
            conf["Labels"] = {**_dict(conf.get("Labels")), **self.labels}
        if self.exposed_ports:
            conf["ExposedPorts"] = {**_dict(conf.get("ExposedPorts")), **{p: {} for p in self.exposed_ports}}
        if diff_ids:
            rootfs = _dict(doc.get("rootfs"))
            doc["rootfs"] = {**rootfs, "type": "layers", "diff_ids": [*_list(rootfs.get("diff_ids")), *diff_ids]}
        if history:
            doc["history"] = [*_list(doc.get("history")), *history]
        if self.created is not None:
            doc["created"] = self.created
        return doc


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def _set(conf: Dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        conf.pop(key, None)
    else:
        conf[key] = value


def _merge_env(old: Any, new: Mapping[str, str]) -> List[str]:
    """``old`` (``["K=V", ...]``) with each key of ``new`` replaced in place or appended."""
    out: List[str] = []
    pending = dict(new)
    for item in old if isinstance(old, list) else []:
        key = item.partition("=")[0] if isinstance(item, str) else None
        if key is not None and key in pending:
            out.append(f"{key}={pending.pop(key)}")
        else:
            out.append(item)
    return out + [f"{k}={v}" for k, v in pending.items()]
