"""``pypush append`` (new layers on a base image), ``pypush mutate`` (config changes only) and ``pypush build``
(a Python project made into an image)."""
from __future__ import annotations

import argparse

PLATFORM_HELP = ("build only this platform of a multi-platform base (repeatable; default: all; one platform: a "
                 "single manifest, not an index)")
DEST_HELP = ("a registry reference (as `pypush push` takes), or oci:DIR[:TAG] / oci-archive:FILE[:TAG] to write an "
             "OCI image layout")


def _add_config_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image config")
    g.add_argument("--entrypoint", help="JSON array or shell words ('' clears it); clears the base's command "
                                        "unless --cmd is given, as a Dockerfile ENTRYPOINT does")
    g.add_argument("--cmd", help="JSON array or shell words ('' clears it)")
    g.add_argument("--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    g.add_argument("--workdir", help="working directory (absolute)")
    g.add_argument("--user", help="USER[:GROUP] the container runs as")
    g.add_argument("--label", action="append", default=[], metavar="K=V", help="set a config label")
    g.add_argument("--annotation", action="append", default=[], metavar="K=V",
                   help="set a manifest annotation (on the index too for a multi-platform image)")
    g.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]", help="expose a port")
    g.add_argument("--base-name", help="the base's reference to record (org.opencontainers.image.base.name); "
                                       "registry bases record their own")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``append`` and ``mutate`` to the subcommands."""
    from pypush.cli.examples import with_examples
    from pypush.cli.common import EXIT_CODES, add_transfer_options

    p = sub.add_parser("append", help="add layers (directories, files, tarballs) on a base image and push it",
                       **with_examples("append", EXIT_CODES))
    p.add_argument("--base", required=True, metavar="SOURCE", help="the base image (any source `pypush push` reads, "
                   "or scratch: empty, needs --platform)")
    p.add_argument("--layer", action="append", default=[], required=True, metavar="PATH[:DEST_DIR]",
                   help="one new layer: a directory's contents, a file, or a tarball (.tar, .tar.gz, .tgz, .tar.zst: "
                        "as it is, or its members under DEST_DIR), placed under DEST_DIR (default /); repeatable")
    p.add_argument("--chown", metavar="UID:GID", help="owner of the new files (default 0:0)")
    p.add_argument("--allow-foreign-binaries", action="store_true",
                   help="warn, instead of failing, when a layer holds ELF files of another machine than a platform's")
    p.add_argument("destination", help=DEST_HELP)
    _add_config_options(p)
    add_transfer_options(p, "gzip", PLATFORM_HELP)
    p.set_defaults(run=_run)

    p = sub.add_parser("mutate", help="change an image's config (entrypoint, env, labels, ...) and push it",
                       **with_examples("mutate", EXIT_CODES))
    p.add_argument("source", help="the image to change (any source `pypush push` reads)")
    p.add_argument("destination", help=DEST_HELP)
    _add_config_options(p)
    add_transfer_options(p, "gzip", PLATFORM_HELP)
    p.set_defaults(run=_run, layer=[], chown=None, allow_foreign_binaries=False)

    p = sub.add_parser("build", help="build a Python project into a runnable image (per platform: its dependencies, "
                                     "then the project, on a base with Python) and push it",
                       **with_examples("build", EXIT_CODES))
    p.add_argument("project", nargs="?", default=".", help="the project directory (with pyproject.toml; default .)")
    p.add_argument("destination", help=DEST_HELP)
    p.add_argument("--base", metavar="SOURCE", help="the base image with Python (any source `pypush push` reads, or "
                                                    "scratch); default docker://python:3.X-slim for requires-python")
    p.add_argument("--lock", metavar="FILE", help="pylock.toml (PEP 751), uv.lock or a requirements.txt with "
                                                  "--hash (default: the project's; none: resolve and write pylock.toml)")
    p.add_argument("--sbom", choices=("spdx", "none"), default=None, help="attach an SPDX 2.3 SBOM to each platform "
                                                                          "as an OCI referrer (default spdx)")
    p.add_argument("--allow-foreign-binaries", action="store_true", default=None,
                   help="warn, instead of failing, when a platform's layer holds another machine's ELF files")
    _add_config_options(p)
    add_transfer_options(p, "gzip", "build only this platform of the base (repeatable; default: every platform of "
                                    "the base that the lock can satisfy)")
    p.set_defaults(run=_run_build)


def _run(args: argparse.Namespace) -> int:
    from pypush.assemble.builder import append as build
    from pypush.assemble.layer_spec import Layer
    from pypush.cli.common import progress_subscriber, report, transfer_options

    from pypush.engine.route import check_repository_type

    options = transfer_options(args)  # option errors before any work
    check_repository_type(args.destination, options)
    base = args.base if args.command == "append" else args.source
    with build(base, [Layer.parse(spec) for spec in args.layer], entrypoint=args.entrypoint, cmd=args.cmd,
               env=args.env, workdir=args.workdir, user=args.user, labels=args.label, annotations=args.annotation,
               expose=args.expose, platforms=args.platform, chown=args.chown, base_name=args.base_name,
               options=options, allow_foreign_binaries=args.allow_foreign_binaries) as image:
        result = image.push(args.destination, tags=args.tag, compression=args.compression,
                            compression_level=args.compression_level, options=options,
                            subscriber=progress_subscriber(args, args.command))
    return report(args, result)


def _run_build(args: argparse.Namespace) -> int:

    from pypush.cli.common import progress_subscriber, report, transfer_options
    from pypush.pybuild.api import BuildSettings, build

    options = transfer_options(args)
    settings = BuildSettings(base=args.base, platforms=args.platform, lock=args.lock, entrypoint=args.entrypoint,
                             cmd=args.cmd, env=args.env, labels=args.label, workdir=args.workdir, user=args.user,
                             expose=args.expose, tags=args.tag, sbom=args.sbom or "spdx",
                             allow_foreign_binaries=bool(args.allow_foreign_binaries),
                             compression=args.compression)
    result = build(args.project, args.destination, settings=settings, options=options,
                   subscriber=progress_subscriber(args, "build"))
    return report(args, result)
