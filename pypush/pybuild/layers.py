"""One installed layer: wheels installed for a target into a tree, written as a reproducible tar, and kept in
the cache by what it is made of (the wheels' hashes, the target, ``SOURCE_DATE_EPOCH``), so an unchanged
dependency set is neither installed nor written again."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Dict, List, Sequence, Tuple

from pypush.assemble.layer_spec import BuiltLayer, Layer
from pypush.errors import SourceError
from pypush.image.model import OCI_LAYER
from pypush.pybuild.bytecode import compiler_for
from pypush.pybuild.install import Tree, install_wheel, layer_bytes
from pypush.pybuild.target import Target

log = logging.getLogger("pypush")
_FORMAT = 2


def installed_layer(wheels: Sequence[Tuple[str, Dict[str, Any]]], target: Target, epoch: int, cache: str,
                    what: str, allow_foreign: bool = False) -> Tuple[BuiltLayer, List[Dict[str, Any]]]:
    """The layer holding ``wheels`` (path, facts: name, version, sha256, filename, url, role) installed for
    ``target``, and the facts of each distribution completed with its license (for the SBOM)."""
    compiler = compiler_for(target)
    key_doc = [_FORMAT, target.to_json(), compiler.name if compiler else None, epoch, what, allow_foreign,
               sorted((facts["sha256"], facts["filename"]) for _, facts in wheels)]
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()
    directory = os.path.join(cache, "layers", key[:2])
    tar, meta = os.path.join(directory, f"{key}.tar"), os.path.join(directory, f"{key}.json")
    try:
        with open(meta, encoding="utf-8") as f:
            doc = json.load(f)
        if os.path.getsize(tar) == doc["size"]:
            cached = BuiltLayer(tar, OCI_LAYER, doc["digest"], doc["size"], doc["digest"], doc["created_by"])
            return cached, doc["dists"]
    except (OSError, ValueError, KeyError):
        pass
    tree = Tree()
    dists = []
    for path, facts in wheels:
        installed = install_wheel(tree, path, target, compiler)
        dists.append({**facts, "name": installed.name or facts["name"], "license": installed.license,
                      "license_expression": installed.license_expression})  # the name as the wheel spells it
    _check_machines(tree, target, what, allow_foreign)
    layer = Layer()
    for target_path, data, mode in layer_bytes(tree):
        layer.add_bytes(target_path, data, mode)
    os.makedirs(directory, exist_ok=True)
    names = ", ".join(f"{d['name']} {d['version']}" for d in dists)
    created_by = f"pypush: {what}: {names if len(names) < 160 else names[:157] + '...'}"
    if not tree.files:
        layer.add_bytes(target.site_dir + "/.pypush-empty", b"", 0o644)  # a layer must hold something
    built = layer.build(directory, epoch)
    os.replace(built.path, tar)
    with open(meta + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"digest": built.digest, "size": built.size, "created_by": created_by, "dists": dists}, f)
    os.replace(meta + ".tmp", meta)
    log.info("%s for %s: %d files, %d bytes", what, target.platform, len(tree.files), built.size)
    return BuiltLayer(tar, OCI_LAYER, built.digest, built.size, built.diff_id, created_by), dists


def _check_machines(tree: Tree, target: Target, what: str, allow_foreign: bool) -> None:
    from pypush.assemble.elf import foreign_binaries

    found = foreign_binaries(((p, d[:20]) for p, (d, _) in tree.files.items()), target.architecture)
    if not found:
        return
    path, arch = found[0]
    message = (f"{what} for {target.platform} holds {len(found)} ELF file(s) for another machine, e.g. {path} "
               f"({arch})")
    if not allow_foreign:
        raise SourceError(message + " (--allow-foreign-binaries to add them anyway)")
    log.warning("%s", message)


def gzipped(layer: BuiltLayer) -> BuiltLayer:
    """``layer`` (a plain tar in the cache) as gzip, compressed once and kept beside it (as ``pypush push`` would
    compress it), so a warm build copies it instead of compressing it again."""
    from pypush.image.model import OCI_LAYER_GZIP
    from pypush.transform.compress import compressing_reader

    gz, meta = layer.path + ".gz", layer.path + ".gz.json"
    try:
        with open(meta, encoding="utf-8") as f:
            doc = json.load(f)
        if os.path.getsize(gz) == doc["size"]:
            return BuiltLayer(gz, OCI_LAYER_GZIP, doc["digest"], doc["size"], layer.diff_id, layer.created_by)
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    size = 0
    tmp = f"{gz}.{os.getpid()}.tmp"
    with open(layer.path, "rb") as src, compressing_reader(src, "gzip") as reader, open(tmp, "wb") as out:
        for chunk in iter(lambda: reader.read(1 << 20), b""):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    os.replace(tmp, gz)
    digest = "sha256:" + h.hexdigest()
    with open(meta + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"digest": digest, "size": size}, f)
    os.replace(meta + ".tmp", meta)
    return BuiltLayer(gz, OCI_LAYER_GZIP, digest, size, layer.diff_id, layer.created_by)
