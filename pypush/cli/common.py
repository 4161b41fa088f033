"""What the commands that send an image share: exit codes, their options, how the options become PushOptions
(passwords read from stdin), the progress bar, and how a result is printed."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional

from pypush.cli.flags import add_repository_type
from pypush.errors import UsageError

EXIT_CODES = """exit codes:
  0   success
  1   other error
  2   usage: bad arguments, reference, tag or option value
  3   bad input image (file, blob or field named in the message)
  4   the registry refused a request (AWS error code or HTTP status in the message)
  5   authentication or permission failure
  6   network or service failure after retries (rerun to resume; stored blobs are kept)
  130 interrupted"""


def add_transfer_options(p: argparse.ArgumentParser, compression: str, platform_help: str,
                         registry_destination: bool = True) -> None:
    """The destination, source-access and output options every command that sends an image takes (without
    the registry-destination ones when ``registry_destination`` is false: pull writes only layouts, and its
    ``--insecure``, ``-u``, ``--password-stdin`` are its source registry's)."""
    p.add_argument("--tag", "-t", action="append", default=[], help="also tag the image T (repeatable)")
    p.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                   help=platform_help)
    p.add_argument("--jobs", "-j", type=int, default=4, help="blobs uploaded at once (default 4)")
    p.add_argument("--compression", choices=("gzip", "zstd", "none", "keep"), default=compression,
                   help=f"(default {compression}) gzip|zstd: compress plain layers, keep compressed ones (zstd "
                        "converts Docker manifests to OCI); none: push every layer uncompressed; keep: push every "
                        "blob as stored")
    p.add_argument("--compression-level", type=int, help="compression level (algorithm's default otherwise)")
    if registry_destination:
        _add_registry_destination_options(p)
        p.add_argument("--src-insecure", action="store_true", help="allow plain HTTP / unverified TLS for the source")
        p.add_argument("--src-username", help="user name for a docker:// source (default: docker's config, else "
                                              "anonymous)")
        p.add_argument("--src-password-stdin", action="store_true",
                       help="read the source's password from stdin (after the destination's, when both are read)")
    else:  # pull: its one registry is the source, and every command's registry flags are the source's
        p.set_defaults(endpoint_url=None, create_repository=False, transport="auto", insecure=False, mount_from=[],
                       username=None, password_stdin=False, rate_limit=[], repository_type="free")
        p.add_argument("--insecure", "--src-insecure", action="store_true", dest="src_insecure",
                       help="allow plain HTTP / unverified TLS for the registry")
        p.add_argument("--username", "-u", "--src-username", dest="src_username", metavar="USER",
                       help="registry user name (default: docker's config, else anonymous)")
        p.add_argument("--password-stdin", "--src-password-stdin", action="store_true", dest="src_password_stdin",
                       help="read the registry password from stdin")
    p.add_argument("--profile", help="AWS profile to use")
    p.add_argument("--allow-nondistributable-artifacts", action="store_true", dest="allow_nondistributable",
                   help="also push non-distributable layers (with urls: Windows base layers) the source holds")
    p.add_argument("--digest-file", help="write the pushed manifest digest to this file")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def _add_registry_destination_options(p: argparse.ArgumentParser) -> None:
    """How to reach and write a registry destination (ECR API or v2)."""
    p.add_argument("--endpoint-url", help="ECR API endpoint to use instead of AWS's (e.g. `pypush serve`)")
    p.add_argument("--create-repository", action="store_true", help="create the repository when missing")
    p.add_argument("--transport", choices=("auto", "ecr", "v2"), default="auto",
                   help="ECR API or OCI distribution v2 (default: by destination)")
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP / unverified TLS for this registry")
    p.add_argument("--mount-from", action="append", default=[], metavar="REPO",
                   help="v2: mount blobs from this repository of the same registry instead of uploading them")
    p.add_argument("--username", "-u", help="registry user name (v2 transport)")
    p.add_argument("--password-stdin", action="store_true", help="read the registry password from stdin")
    p.add_argument("--rate-limit", action="append", default=[], metavar="OP=N",
                   help="pace ECR operation OP at N requests/s (default: the published quotas; 0 = unpaced)")
    add_repository_type(p, "push to")


def progress_subscriber(args: argparse.Namespace, description: str):
    if args.quiet or not sys.stderr.isatty():
        return None
    from pypush.engine.progress import TqdmProgress

    return TqdmProgress(description)


def read_password(flag: bool, user: Optional[str], name: str = "") -> Optional[str]:
    """The password ``--{name}password-stdin`` reads from stdin (None without the flag); the flag and
    ``--{name}username`` go together (a password is never taken from the command line)."""
    if not flag:
        if user:
            raise UsageError(f"--{name}username needs --{name}password-stdin (the password is read from stdin, "
                             f"never from the command line)")
        return None
    if not user:
        raise UsageError(f"--{name}password-stdin needs --{name}username")
    return sys.stdin.readline().rstrip("\r\n")


def transfer_options(args: argparse.Namespace):  # -> api.PushOptions (imported lazily)
    """PushOptions from the options ``add_transfer_options`` added (passwords read from stdin)."""
    from pypush import api
    from pypush.transports.ecr.pacing import parse_rate_limits

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    _check_digest_file(getattr(args, "digest_file", None))
    password = read_password(args.password_stdin, args.username)
    src_password = read_password(args.src_password_stdin, args.src_username,
                                 "" if args.command == "pull" else "src-")
    options = api.PushOptions(endpoint_url=args.endpoint_url, transport=args.transport,
                              create_repository=args.create_repository, insecure=args.insecure,
                              username=args.username, password=password, profile=args.profile, jobs=args.jobs,
                              rate_limits=parse_rate_limits(",".join(args.rate_limit)), mount_from=args.mount_from,
                              platform=args.platform, src_insecure=args.src_insecure, src_username=args.src_username,
                              src_password=src_password, allow_nondistributable=args.allow_nondistributable,
                              repository_type=args.repository_type)
    return options


def _check_digest_file(path: Optional[str]) -> None:
    """UsageError, before anything is sent, when ``--digest-file`` names a directory or lies in a missing one."""
    if path and os.path.isdir(path):
        raise UsageError(f"--digest-file {path}: is a directory")
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"--digest-file {path}: directory {os.path.dirname(os.path.abspath(path))} does not exist")


def report(args: argparse.Namespace, result) -> int:  # result: PushResult
    """Print a result as ``--format`` asks (and write ``--digest-file``); the exit code."""
    if args.digest_file:
        try:
            Path(args.digest_file).write_text(result.digest + "\n")
        except OSError as exc:
            raise UsageError(f"--digest-file {args.digest_file}: cannot write ({exc.strerror or exc}); the push of "
                             f"{result.reference} succeeded") from None
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.reference)
        if result.unchanged and not args.quiet:  # stdout stays the reference scripts read
            print(f"pypush: {result.reference} unchanged: every tag already named it, nothing uploaded",
                  file=sys.stderr)
        if result.bytes_resumed and not args.quiet:
            print(f"pypush: resumed half-sent layers: {result.bytes_resumed / 1e6:.1f} MB an earlier run had sent "
                  f"were not sent again", file=sys.stderr)
    return 0
