"""``pypush.build(project, destination, ...)``: a Python project made into a runnable image, one layer of
third-party distributions and one of the project on the base's own, per platform, with an SBOM each."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from pypush.errors import SourceError, UsageError

log = logging.getLogger("pypush")
SBOM_FORMATS = ("spdx", "none")
_PYTHONS = [(3, m) for m in range(14, 8, -1)]


@dataclass
class BuildSettings:
    """Everything ``pypush build`` takes besides the project and destination (``[tool.pypush]`` has the same
    names with dashes: ``base``, ``platforms``, ``entrypoint``, ``cmd``, ``env``, ``labels``, ...)."""

    base: Optional[str] = None
    platforms: Sequence[str] = ()
    lock: Optional[str] = None
    entrypoint: Any = None
    cmd: Any = None
    env: Any = None
    labels: Any = None
    workdir: Optional[str] = None
    user: Optional[str] = None
    expose: Sequence[Union[str, int]] = ()
    tags: Sequence[str] = ()
    sbom: str = "spdx"
    allow_foreign_binaries: bool = False
    compression: str = "gzip"

    def merged(self, tool: Dict[str, Any], where: str) -> "BuildSettings":
        """These settings over ``[tool.pypush]`` (what is given here wins)."""
        out = BuildSettings(**self.__dict__)
        for key, value in tool.items():
            name = key.replace("-", "_")
            name = {"platform": "platforms", "label": "labels", "tag": "tags"}.get(name, name)
            if name not in self.__dict__:
                raise UsageError(f"{where}: [tool.pypush] {key}: unknown setting")
            if getattr(self, name) in (None, (), [], {}) or (name, getattr(self, name)) in (
                    ("sbom", "spdx"), ("compression", "gzip"), ("allow_foreign_binaries", False)):
                if name in ("env", "labels") and isinstance(value, dict):
                    value = [f"{k}={v}" for k, v in value.items()]
                setattr(out, name, value)
        if out.sbom not in SBOM_FORMATS:
            raise UsageError(f"--sbom {out.sbom!r}: choose one of {', '.join(SBOM_FORMATS)}")
        return out


def default_base(requires_python: str) -> str:
    """``docker://python:3.X-slim`` for the newest 3.X that ``requires-python`` allows."""
    if requires_python:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            raise UsageError(f"requires-python {requires_python!r} is not a version specifier") from None
        for major, minor in _PYTHONS:
            if spec.contains(f"{major}.{minor}.0") or spec.contains(f"{major}.{minor}.99"):
                return f"docker://python:{major}.{minor}-slim"
        raise UsageError(f"requires-python {requires_python!r} allows none of Python 3.9-3.14: give --base")
    return "docker://python:3.13-slim"


def build(project: Union[str, "os.PathLike[str]"] = ".", destination: Optional[str] = None, *,
          settings: Optional[BuildSettings] = None, options: Any = None, subscriber: Any = None,
          **fields: Any) -> Any:
    """Build the project at ``project`` into an image and push it to ``destination`` (any destination
    ``pypush.push`` takes, or ``oci:DIR[:TAG]``). Keyword arguments are BuildSettings fields and PushOptions
    fields (``endpoint_url``, ``create_repository``, ``insecure``, ...); returns the PushResult (``referrers``:
    the SBOM manifests' digests)."""
    from pypush.assemble.builder import compose_on
    from pypush.assemble.config_edit import ConfigChanges
    from pypush.pybuild.project import Project
    from pypush.pybuild.wheels import cache_dir

    if destination is None:
        raise UsageError("pypush.build needs a destination (oci:DIR, a registry reference, ...)")
    from pypush.engine.options import merge_options

    option_fields = {k: v for k, v in fields.items() if k not in BuildSettings().__dict__}
    fields = {k: v for k, v in fields.items() if k not in option_fields}
    if option_fields:
        options = merge_options(options, option_fields)  # an unknown name: UsageError naming the fields
    proj = Project.read(os.fspath(project))
    merged = (settings or BuildSettings(**fields)).merged(proj.settings, os.path.join(proj.root, "pyproject.toml"))
    base = merged.base or default_base(proj.requires_python)
    cache = cache_dir()
    entrypoint = merged.entrypoint
    scripts = sorted(proj.scripts)
    if entrypoint is None and merged.cmd is None and len(scripts) > 1:
        log.warning("%s has %d console scripts (%s): the image keeps the base's entrypoint and command; choose "
                    "one with --entrypoint (or [tool.pypush] entrypoint)", proj.name, len(scripts), ", ".join(scripts))
    changes = ConfigChanges.parse(entrypoint=entrypoint, cmd=merged.cmd, env=merged.env, workdir=merged.workdir,
                                  user=merged.user, labels=_labels(proj, merged.labels), expose=merged.expose)
    platforms: List[Any] = []  # plan.Platform
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    app_wheel = pool.submit(proj.wheel, cache)  # the backend runs in its own process while the base is read

    def make(workdir: str, plan: Any) -> Tuple[List[Any], Any]:
        from pypush.pybuild.plan import make_layers

        built, layers_for, found = make_layers(plan, proj, merged, cache, explicit=bool(merged.platforms),
                                               app_wheel=app_wheel.result)
        platforms.extend(found)
        if entrypoint is None and len(scripts) == 1:
            changes.entrypoint = [f"{found[0].target.bin_dir}/{scripts[0]}"]
        return built, layers_for

    try:
        image = compose_on(base, make, changes, platforms=merged.platforms, options=options)
    finally:
        pool.shutdown(wait=True)
    with image:
        referrers = []
        if merged.sbom != "none":
            from importlib import metadata
            from pypush.assemble.config_edit import rfc3339
            from pypush.assemble.layer_tar import source_date_epoch
            from pypush.pybuild.referrers import sbom_referrers

            referrers = sbom_referrers(image, platforms, proj, base, rfc3339(source_date_epoch()),
                                       f"pypush-{_version(metadata)}")
        result = image.push(destination, tags=merged.tags, compression=merged.compression, options=options,
                            subscriber=subscriber, referrers=referrers)
    return result


def _version(metadata: Any) -> str:
    """pypush's installed version (read from its metadata: importing the root package here would be a cycle)."""
    try:
        return str(metadata.version("pypush"))
    except metadata.PackageNotFoundError:
        return "unknown"


def _labels(project: Any, given: Any) -> List[str]:
    labels = []
    source = project.source_url()
    if source:
        labels.append(f"org.opencontainers.image.source={source}")
    if project.version:
        labels.append(f"org.opencontainers.image.version={project.version}")
    revision = project.revision()
    if revision:
        labels.append(f"org.opencontainers.image.revision={revision}")
    labels.append(f"org.opencontainers.image.title={project.name}")
    if isinstance(given, dict):
        given = [f"{k}={v}" for k, v in given.items()]
    return labels + list(given or [])


__all__ = ["build", "BuildSettings", "default_base", "SourceError"]
