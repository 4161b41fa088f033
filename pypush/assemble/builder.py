"""Build an image without Docker: new layers and config changes on top of a base image.

``build(base, layers=[...], entrypoint=..., env=..., platforms=...)`` opens the base (any source
``pypush push`` reads), reads only its manifests and configs, makes every new layer (a reproducible tar
in a private temporary directory) and composes the new manifests: the base's layer descriptors as they
are, then the new ones; a new config (diff_ids, history, the changes asked for); annotations naming the
base. A multi-platform base gets the layers on every chosen platform and becomes a new index (one chosen
platform: that manifest alone); a single-platform base stays a single manifest. Docker-typed bases become
OCI (same layer digests; Docker manifests have no annotations). Everything is checked before anything is
uploaded. The result's ``push`` and ``write`` compress the new layers as ``pypush push`` would and send
the image through the same engine; base layers the destination has are neither read nor sent.
"""
from __future__ import annotations

import copy
import io
import json
import logging
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from pypush.assemble.config_edit import Command, ConfigChanges, Pairs, rfc3339
from pypush.assemble.layer_spec import BuiltLayer, FileSource, Layer, PathLike
from pypush.assemble.layer_tar import source_date_epoch
from pypush.name.patterns import DOCKER_HUB_HOST
from pypush.engine.progress import Subscriber
from pypush.engine.transfer import PushResult
from pypush.errors import SourceError, UsageError
from pypush.image.digest import VerifyingReader
from pypush.image.model import (DOCKER_CONFIG, OCI_CONFIG, REFERENCE_DIGEST, OCI_INDEX, OCI_MANIFEST, Blob, Descriptor,
                                ImageIndex, ImageManifest, Node, sha256_digest)
from pypush.image.parse import load_json
from pypush.image.platforms import Platform, describe
from pypush.transform.convert import oci_media_type

log = logging.getLogger("pypush")

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
_MAX_CONFIG = 16 << 20
LayerInput = Union[Layer, PathLike, Mapping[str, FileSource]]
LayersFor = Callable[[ImageManifest, Dict[str, Any]], Tuple[List[BuiltLayer], List[Dict[str, Any]], Dict[str, str]]]


@dataclass
class _Manifest:
    """One new image manifest before compression: the new layers are appended at push time."""

    descriptor: Descriptor  # of the template (new layers named by their plain digests)
    raw: bytes
    config: Blob
    base_layers: List[Blob]
    new_layers: List[BuiltLayer]


@dataclass
class _Index:
    descriptor: Descriptor
    raw: bytes
    children: List[Union["_Manifest", "_Index"]]


class BuiltImage:
    """A built image, ready to push or write; holds its new layers in a temporary directory until closed."""

    def __init__(self, root: Union[_Manifest, _Index], layers: List[BuiltLayer], workdir: str, base: Any):
        self._root = root
        self.layers = layers
        self._base = base
        self._cleanup = weakref.finalize(self, shutil.rmtree, workdir, True)

    @property
    def digest(self) -> str:
        """The manifest digest before compression (the pushed digest differs when new layers get compressed)."""
        return self._root.descriptor.digest

    def node(self, compression: str = "gzip", compression_level: Optional[int] = None) -> Node:
        """The image as the engine pushes it: new layers compressed per ``compression`` (as ``pypush push``)."""
        from pypush.transform.convert import transform_layer
        from pypush.transform.layer_cache import LayerCache

        cache = LayerCache.default() if compression in ("gzip", "zstd", "none") else None
        new = {layer.digest: transform_layer(layer.blob(), compression, compression_level, cache)
               for layer in self.layers}

        def make(item: Union[_Manifest, _Index]) -> Node:
            if isinstance(item, _Index):
                return ImageIndex(item.descriptor, item.raw, [make(c) for c in item.children])
            return ImageManifest(item.descriptor, item.raw, item.config,
                                 [*item.base_layers, *(new[layer.digest] for layer in item.new_layers)])

        return make(self._root)

    def push(self, destination: Union[str, "os.PathLike[str]"], *, tags: Sequence[str] = (),
             compression: str = "gzip", compression_level: Optional[int] = None,
             subscriber: Optional[Subscriber] = None, options: Any = None, referrers: Sequence[ImageManifest] = (),
             **option_fields: object) -> PushResult:
        """Push to a registry, as ``pypush.push`` does (same options, result and errors), or write an OCI layout
        (``oci:DIR[:TAG]`` / ``oci-archive:FILE[:TAG]``). Base layers the destination has are not read.
        ``referrers``: manifests whose ``subject`` is one of :meth:`manifests`, pushed after the image."""
        from pypush.api import COMPRESSIONS, push_image

        if compression not in COMPRESSIONS:
            raise UsageError(f"unknown compression {compression!r}: choose one of {', '.join(COMPRESSIONS)}")
        return push_image(self.node(compression, compression_level), destination, tags=tags, subscriber=subscriber,
                          options=options, source_reference=getattr(self._base, "reference", None),
                          verify_ahead=False, referrers=referrers,
                          **option_fields)  # base layers are mostly at the destination

    def write(self, destination: Union[str, "os.PathLike[str]"], *, tags: Sequence[str] = (),
              compression: str = "gzip", compression_level: Optional[int] = None,
              subscriber: Optional[Subscriber] = None) -> PushResult:
        """Write an OCI image layout ``oci:DIR[:TAG]`` or archive ``oci-archive:FILE[:TAG]`` (a bare path: a
        directory), atomically."""
        from pypush.transports.layout.layout_writer import is_layout_destination

        target = os.fspath(destination)
        if not is_layout_destination(target):
            target = f"oci:{target}"
        return self.push(target, tags=tags, compression=compression, compression_level=compression_level,
                         subscriber=subscriber)

    def manifests(self) -> List[Tuple[Descriptor, Dict[str, Any]]]:
        """(descriptor before compression, parsed manifest) of each platform's image manifest."""
        out: List[Tuple[Descriptor, Dict[str, Any]]] = []

        def visit(item: Union[_Manifest, _Index]) -> None:
            if isinstance(item, _Index):
                for child in item.children:
                    visit(child)
            else:
                out.append((item.descriptor, json.loads(item.raw)))

        visit(self._root)
        return out

    def close(self) -> None:
        """Remove the new layers' temporary files and close the base."""
        self._cleanup()
        close = getattr(self._base, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "BuiltImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append(base: PathLike, layers: Iterable[LayerInput] = (), *, entrypoint: Optional[Command] = None,
           cmd: Optional[Command] = None, env: Optional[Pairs] = None, workdir: Optional[str] = None,
           user: Optional[str] = None, labels: Optional[Pairs] = None, annotations: Optional[Pairs] = None,
           expose: Iterable[Union[str, int]] = (), platforms: Optional[Sequence[str]] = None,
            chown: Optional[Union[str, Tuple[int, int]]] = None, base_name: Optional[str] = None,
           options: Any = None, allow_foreign_binaries: bool = False) -> BuiltImage:
    """Build an image on ``base`` (a source spec, as ``pypush.push`` takes): ``layers`` added on top (each a
    ``pypush.Layer``, a path — a directory's contents at /, a tarball as a layer — or a mapping of target
    paths to host paths or bytes), the config changed as asked. ``platforms`` (``["linux/amd64"]``) picks
    children of a multi-platform base (default: all). ``chown`` (``"1000:1000"``) owns the new files
    (default 0:0). ``base_name`` is recorded as the base's reference (registry bases record their own).
    ``options`` (a PushOptions) says how to reach a ``docker://`` base (``src_insecure``, ``src_username``, ...).

    Returns a BuiltImage (use it as a context manager, or ``close()`` it) whose ``push(destination, ...)`` /
    ``write("oci:DIR")`` return a PushResult. Raises the errors ``pypush.push`` raises; bad input (a
    missing path, a target escaping the root, a base that is not an image, an unknown platform) before
    anything is uploaded. A layer holding ELF files of another machine than a platform's is refused
    (``allow_foreign_binaries``: a warning).
    """
    changes = ConfigChanges.parse(entrypoint=entrypoint, cmd=cmd, env=env, workdir=workdir, user=user,
                                  labels=labels, expose=expose, annotations=annotations)
    owner = parse_chown(chown)
    recipes = [Layer.coerce(layer) for layer in layers]
    for recipe in recipes:
        recipe.check()

    def make(workdir_path: str, plan: "_Plan") -> Tuple[List[BuiltLayer], LayersFor]:
        epoch = source_date_epoch()
        built = [recipe.build(workdir_path, epoch, owner) for recipe in recipes]
        stamp = {"created": changes.created} if changes.created else {}  # dated only when asked: reproducible
        history = [{**stamp, "created_by": layer.created_by, "comment": "pypush"} for layer in built]
        checked = set()

        def layers_for(node: ImageManifest, config: Dict[str, Any]) -> Tuple[List[BuiltLayer], List[Dict[str, Any]],
                                                                               Dict[str, str]]:
            from pypush.assemble.elf import check_layer

            arch = str(config.get("architecture", ""))
            for layer in built:
                if (layer.digest, arch) not in checked:
                    check_layer(layer.path, f"layer {layer.created_by[8:]}", describe(config), arch,
                                allow_foreign_binaries)
                    checked.add((layer.digest, arch))
            return built, history, {}
        return built, layers_for

    return compose_on(base, make, changes, platforms=platforms, base_name=base_name, options=options)


def compose_on(base: PathLike, make: Callable[[str, "_Plan"], Tuple[List[BuiltLayer], LayersFor]],
               changes: ConfigChanges, *, platforms: Optional[Sequence[str]] = None, base_name: Optional[str] = None,
               options: Any = None) -> BuiltImage:
    """Open ``base`` (narrowed to ``platforms``), let ``make(workdir, plan)`` write the new layers into the
    private ``workdir`` (it returns them all, and the function giving each platform's), compose the image."""
    from pypush.api import PushOptions, remote_options
    from pypush.image.platforms import parse_platform
    from pypush.sources import open_source

    wanted = [parse_platform(p) for p in platforms or ()]
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        changes.created = rfc3339(source_date_epoch())
    spec = os.fspath(base)
    options = options or PushOptions()
    if spec == "scratch":
        from pypush.assemble.scratch import scratch_source

        source: Any = scratch_source(wanted)
    else:
        source = open_source(spec, platforms=wanted, nondistributable=options.allow_nondistributable,
                             **remote_options(spec, options))
    try:
        plan = _Plan(source.root, wanted, base_name or _reference_name(getattr(source, "reference", None)))
        workdir_path = tempfile.mkdtemp(prefix="pypush-build-")
        try:
            built, layers_for = make(workdir_path, plan)
            root = plan.compose(changes, layers_for)
        except BaseException:
            shutil.rmtree(workdir_path, ignore_errors=True)
            raise
    except BaseException:
        source.close()
        raise
    log.info("built %s on %s: %d new layer(s), %d platform(s)", root.descriptor.digest, spec, len(built),
             plan.platform_count)
    return BuiltImage(root, built, workdir_path, source)


def build(*args: Any, **kwargs: Any) -> Any:
    """Deprecated name of :func:`append` (``pypush.build`` now builds a Python project: pypush.pybuild.api)."""
    import warnings

    warnings.warn("pypush.assemble.builder.build is now pypush.append", DeprecationWarning, stacklevel=2)
    return append(*args, **kwargs)


def _reference_name(ref: Any) -> Optional[str]:
    """``docker.io/library/python:3.12`` for a registry base (as ``org.opencontainers.image.base.name`` wants)."""
    if ref is None:
        return None
    name = ref.name.replace(f"{DOCKER_HUB_HOST}/", "docker.io/", 1)
    return name + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")


def parse_chown(chown: Optional[Union[str, Tuple[int, int]]]) -> Tuple[int, int]:
    """``UID:GID`` (numbers) as a pair; (0, 0) when not given."""
    if chown is None:
        return 0, 0
    if isinstance(chown, tuple):
        uid, gid = chown
    else:
        text_uid, sep, text_gid = str(chown).partition(":")
        if not text_uid.isdigit() or (sep and not text_gid.isdigit()):
            raise UsageError(f"--chown {chown!r}: want numeric UID:GID (names need the image's /etc/passwd)")
        uid, gid = int(text_uid), int(text_gid if sep else text_uid)
    if not (isinstance(uid, int) and isinstance(gid, int) and 0 <= uid < 1 << 31 and 0 <= gid < 1 << 31):
        raise UsageError(f"--chown {chown!r}: want numeric UID:GID")
    return uid, gid


class _Plan:
    """The base's images chosen for the build (``open_source`` already narrowed an index to the platforms
    asked for), their configs read and checked."""

    def __init__(self, root: Node, wanted: List["Platform"], base_name: Optional[str]):
        self.wanted = wanted
        self.base_name = base_name
        self.platform_count = 0
        self._configs: Dict[str, Dict[str, Any]] = {}
        chosen = self._choose(root, root.descriptor.platform, top=True)
        if chosen is None:
            raise SourceError("the base holds no image to build on (only attestations or artifacts)")
        self.root = chosen

    def _choose(self, node: Node, platform: Optional[Mapping[str, Any]], top: bool = False) -> Optional[Node]:
        """``node`` without attestations and other artifacts (None: nothing left below it)."""
        if isinstance(node, ImageIndex):
            children = [c for c in (self._choose(child, child.descriptor.platform) for child in node.children)
                        if c is not None]
            return ImageIndex(node.descriptor, node.raw, children) if children else None
        config_type = node.config.descriptor.media_type
        if config_type not in (OCI_CONFIG, DOCKER_CONFIG):
            if top:
                raise SourceError(f"the base is not an image but an artifact (config type {config_type}): "
                                  f"nothing to build on")
            return None  # signatures and other artifacts in an index are dropped
        annotations = node.descriptor.annotations or {}
        if (platform or {}).get("os") == "unknown" or annotations.get(REFERENCE_DIGEST):
            return None  # buildx attestations describe the base's build, not this one
        if top and self.wanted and not platform:  # a single-platform base: its config says which it is
            doc = self.config(node)
            have = {k: doc.get(k) for k in ("os", "architecture", "variant") if doc.get(k)}
            if not any(want.matches(have) for want in self.wanted):
                raise UsageError(f"the base is {describe(have)}, not {', '.join(map(str, self.wanted))}")
        self.platform_count += 1
        return node

    def config(self, node: ImageManifest) -> Dict[str, Any]:
        """A copy of the parsed config of ``node`` (each config is read once)."""
        digest = node.config.descriptor.digest
        if digest not in self._configs:
            self._configs[digest] = _read_config(node)
        return copy.deepcopy(self._configs[digest])

    def compose(self, changes: ConfigChanges, layers: "LayersFor") -> Union[_Manifest, _Index]:
        """The new manifests and indexes (templates naming the new layers by their plain digests);
        ``layers(manifest, config)`` gives each platform's new layers, their history and its own labels."""
        return self._compose(self.root, changes, layers)

    def _compose(self, node: Node, changes: ConfigChanges, layers: "LayersFor") -> Union[_Manifest, _Index]:
        if isinstance(node, ImageIndex):
            children = [self._compose(c, changes, layers) for c in node.children]
            return self._index(node, children, changes)
        new, history, labels = layers(node, self.config(node))
        if labels:
            changes = copy.copy(changes)
            changes.labels = {**changes.labels, **labels}
        return self._manifest(node, changes, new, history)

    def _annotations(self, doc: Dict[str, Any], base_digest: str, changes: ConfigChanges) -> None:
        annotations = dict(doc.get("annotations") or {})
        annotations.pop(BASE_NAME, None)
        if self.base_name:
            annotations[BASE_NAME] = self.base_name
        annotations[BASE_DIGEST] = base_digest
        annotations.update(changes.annotations)
        doc["annotations"] = annotations

    def _manifest(self, node: ImageManifest, changes: ConfigChanges, layers: List[BuiltLayer],
                  history: List[Dict[str, Any]]) -> _Manifest:
        config_doc = changes.apply(self.config(node), [layer.diff_id for layer in layers], history)
        config_raw = json.dumps(config_doc, separators=(",", ":"), ensure_ascii=False).encode()
        config_desc = Descriptor(OCI_CONFIG, sha256_digest(config_raw), len(config_raw))
        config = Blob(descriptor=config_desc, open=lambda: io.BytesIO(config_raw), name="new image config")
        doc = json.loads(node.raw)
        doc["schemaVersion"] = 2
        doc["mediaType"] = OCI_MANIFEST
        doc["config"] = {**doc["config"], **config_desc.to_json()}
        doc["layers"] = [{**d, "mediaType": oci_media_type(d.get("mediaType", ""))} for d in doc.get("layers") or []]
        doc["layers"] += [layer.descriptor.to_json() for layer in layers]
        doc.pop("subject", None)  # the new image refers to nothing
        self._annotations(doc, node.descriptor.digest, changes)
        raw = json.dumps(_ordered(doc), separators=(",", ":"), ensure_ascii=False).encode()
        desc = Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw), platform=node.descriptor.platform)
        return _Manifest(desc, raw, config, list(node.layers), list(layers))

    def _index(self, node: ImageIndex, children: List[Union[_Manifest, _Index]], changes: ConfigChanges) -> _Index:
        doc = json.loads(node.raw)
        entries = {e["digest"]: e for e in doc.get("manifests") or []}
        doc["schemaVersion"] = 2
        doc["mediaType"] = OCI_INDEX
        doc["manifests"] = []
        for old, new in zip(node.children, children):
            entry = dict(entries.get(old.descriptor.digest) or old.descriptor.to_json())
            entry.update(mediaType=OCI_INDEX if isinstance(new, _Index) else OCI_MANIFEST,
                         digest=new.descriptor.digest, size=new.descriptor.size)
            doc["manifests"].append(entry)
        doc.pop("subject", None)
        self._annotations(doc, node.descriptor.digest, changes)
        raw = json.dumps(_ordered(doc), separators=(",", ":"), ensure_ascii=False).encode()
        return _Index(Descriptor(OCI_INDEX, sha256_digest(raw), len(raw), platform=node.descriptor.platform),
                      raw, children)


def _ordered(doc: Dict[str, Any]) -> Dict[str, Any]:
    """Top-level members in the order the OCI spec lists them (others after, as they were)."""
    order = ["schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject", "annotations"]
    return {**{k: doc[k] for k in order if k in doc}, **{k: v for k, v in doc.items() if k not in order}}


def _read_config(node: ImageManifest) -> Dict[str, Any]:
    """The parsed image config of ``node``, its bytes checked against the descriptor."""
    desc = node.config.descriptor
    if desc.size > _MAX_CONFIG:
        raise SourceError(f"{node.config.name}: image config of {desc.size} bytes is too large")
    with VerifyingReader(node.config.open(), desc.digest, desc.size, node.config.name or desc.digest) as reader:
        raw = reader.read()
    doc = load_json(raw, node.config.name or desc.digest)
    return dict(doc)


__all__ = ["append", "build", "compose_on", "BuiltImage", "Layer"]
