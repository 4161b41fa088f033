"""The layers of each platform of a ``pypush build``: the base's platforms read as targets (the ones the lock
cannot satisfy dropped unless asked for by name), then per platform a dependency layer and the project's."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple

from pypush.errors import SourceError
from pypush.image.model import ImageIndex, ImageManifest, Node

log = logging.getLogger("pypush")


@dataclass
class Platform:
    """One platform built: its target, its base manifest's digest, its new layers and what they install."""

    target: Any
    base_digest: str
    layers: List[Any] = field(default_factory=list)
    dists: List[Dict[str, Any]] = field(default_factory=list)


def _leaves(node: Node) -> List[ImageManifest]:
    if isinstance(node, ImageIndex):
        return [leaf for child in node.children for leaf in _leaves(child)]
    return [node]


def _prune(node: Node, keep: set) -> Node:
    if isinstance(node, ImageIndex):
        return ImageIndex(node.descriptor, node.raw, [_prune(c, keep) for c in node.children
                                                      if not isinstance(c, ImageManifest) or id(c) in keep])
    return node


def make_layers(plan: Any, project: Any, settings: Any, cache: str, explicit: bool,
                app_wheel: Callable[[], str]) -> Tuple[List[Any], Any, List[Any]]:
    """(every new layer, the function giving each manifest's layers/history/labels, the platforms built);
    ``app_wheel()`` gives the path of the project's wheel."""
    from pypush.pybuild.deps import fetch_all, packages_for, wheels_for
    from pypush.pybuild.layers import gzipped, installed_layer
    from pypush.pybuild.target import detect
    from pypush.assemble.layer_tar import source_date_epoch

    epoch = source_date_epoch()
    leaves = _leaves(plan.root)
    targets = {id(leaf): detect(leaf, plan.config(leaf), cache) for leaf in leaves}
    for leaf in leaves:
        log.info("base %s", targets[id(leaf)].describe())
    refused = {id(leaf): _python_refused(project, targets[id(leaf)]) for leaf in leaves}
    for leaf in leaves:
        if refused[id(leaf)] and (explicit or len(leaves) == 1 or all(refused.values())):
            raise SourceError(refused[id(leaf)])
        if refused[id(leaf)]:
            log.warning("leaving out %s: %s", targets[id(leaf)].platform, refused[id(leaf)])
    leaves = [leaf for leaf in leaves if not refused[id(leaf)]]
    packages, where = packages_for(project, list(targets.values()), settings.lock, cache)
    chosen: Dict[int, List[Tuple[str, Dict[str, Any]]]] = {}
    for leaf in leaves:
        target = targets[id(leaf)]
        try:
            from pypush.pybuild.lock import select

            select(packages, target, where)
        except SourceError as e:
            if explicit or len(leaves) == 1:
                raise
            log.warning("leaving out %s: %s", target.platform, e)
            continue
        chosen[id(leaf)] = []
    if not chosen:
        raise SourceError(f"no platform of the base can take the locked dependencies ({where})")
    kept = [leaf for leaf in leaves if id(leaf) in chosen]
    fetch_all(packages, [targets[id(leaf)] for leaf in kept], where, cache)
    wheel_path = app_wheel()
    import hashlib
    import os

    with open(wheel_path, "rb") as f:
        app_sha = hashlib.sha256(f.read()).hexdigest()
    app_facts = {"name": project.name, "version": project.version or _wheel_version(wheel_path), "sha256": app_sha,
                 "filename": os.path.basename(wheel_path), "url": "", "role": "application"}
    built: Dict[str, Any] = {}
    per_leaf: Dict[int, Any] = {}
    platforms = []
    for leaf in kept:
        target = targets[id(leaf)]
        wheels = wheels_for(packages, target, where, cache)
        item = Platform(target, leaf.descriptor.digest)
        for group, what in dependency_groups(wheels):
            deps, dists = installed_layer(group, target, epoch, cache, what, settings.allow_foreign_binaries)
            item.layers.append(deps)
            item.dists += dists
        app, dists = installed_layer([(wheel_path, app_facts)], target, epoch, cache, project.name,
                                     settings.allow_foreign_binaries)
        item.layers.append(app)
        item.dists += dists
        if settings.compression == "gzip":  # compressed once, in the cache
            item.layers = [gzipped(layer) for layer in item.layers]
        for layer in item.layers:
            built.setdefault(layer.digest, layer)
        per_leaf[id(leaf)] = item
        platforms.append(item)
    plan.root = _prune(plan.root, {id(leaf) for leaf in kept})
    stamp = {"created": _created(epoch)} if os.environ.get("SOURCE_DATE_EPOCH", "").strip() else {}

    def layers_for(node: ImageManifest, config: Dict[str, Any]) -> Tuple[List[Any], List[Dict[str, Any]], Dict[str, str]]:
        item = per_leaf[id(node)]
        history = [{**stamp, "created_by": layer.created_by, "comment": "pypush"} for layer in item.layers]
        return item.layers, history, {"org.opencontainers.image.base.digest": item.base_digest}

    return list(built.values()), layers_for, platforms


OWN_LAYER = 16 << 20
"""A wheel at least this big gets a layer of its own: a change among the small ones does not upload it again."""


Wheels = List[Tuple[str, Dict[str, Any]]]  # (path, facts)


def dependency_groups(wheels: Wheels) -> List[Tuple[Wheels, str]]:
    """The dependency layers: one per wheel of at least OWN_LAYER bytes (by name), then one of all the others."""
    import os

    big = [w for w in wheels if os.path.getsize(w[0]) >= OWN_LAYER]
    small = [w for w in wheels if w not in big]
    groups = [([w], f"dependency {w[1]['name']}") for w in sorted(big, key=lambda w: w[1]["name"])]
    return groups + ([(small, "dependencies")] if small else [])


def _python_refused(project: Any, target: Any) -> str:
    """Why ``target``'s Python cannot run the project (its ``requires-python``), else ""."""
    if not project.requires_python:
        return ""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(project.requires_python)
    except InvalidSpecifier:
        raise SourceError(f"{project.root}/pyproject.toml: requires-python {project.requires_python!r} is not a "
                          f"version specifier") from None
    version = target.python_full_version or "%d.%d" % target.python_version
    if spec.contains(version, prereleases=True):
        return ""
    return (f"the base's Python {version} ({target.platform}) is not what {project.name} requires "
            f"(requires-python {project.requires_python}): choose another --base")


def _created(epoch: int) -> str:
    from pypush.assemble.config_edit import rfc3339

    return rfc3339(epoch)


def _wheel_version(path: str) -> str:
    from packaging.utils import parse_wheel_filename
    import os

    return str(parse_wheel_filename(os.path.basename(path))[1])
