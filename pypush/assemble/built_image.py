"""A built image (``BuiltImage``): the new manifests and indexes composed on a base, their new layers in a
private temporary directory, ready to push or write."""
from __future__ import annotations

import json
import os
import shutil
import weakref
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from pypush.assemble.layer_spec import BuiltLayer
from pypush.sources.base import Source
from pypush.engine.progress import Subscriber
from pypush.engine.transfer import PushResult
from pypush.errors import UsageError
from pypush.image.model import Blob, Descriptor, ImageIndex, ImageManifest, Node


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

    def __init__(self, root: Union[_Manifest, _Index], layers: List[BuiltLayer], workdir: str, base: Source):
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
                          options=options, source_reference=self._base.reference,
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
        self._base.close()

    def __enter__(self) -> "BuiltImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
