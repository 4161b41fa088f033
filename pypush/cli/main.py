"""The command line: ``pypush push|serve|demo|...``; maps errors to documented exit codes."""
from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
import traceback
from typing import Callable, Dict, List, NoReturn, Optional, Tuple

from pypush import __version__
from pypush.cli import lazy_charset
from pypush.cli.common import EXIT_CODES, add_transfer_options, progress_subscriber, report, transfer_options
from pypush.cli.examples import with_examples
from pypush.errors import Interrupted, PypushError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep one-line messages
        wrong = re.match(r"argument \w+: invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if wrong:  # a mistyped command: the closest one
            choices = [c.strip(" '") for c in wrong[2].split(",")]  # quoted or not, by Python version
            close = difflib.get_close_matches(wrong[1], choices, n=1, cutoff=0.6)
            message += f"; did you mean {close[0]}?" if close else ""
        raise UsageError(message)


_TRANSFERS = {
    "push": ("push an image from disk (or a registry) to a registry", "gzip"),
    "copy": ("copy an image from any source to any destination, every digest kept", "keep"),
    "pull": ("copy an image from a registry into an OCI layout directory or archive", "keep"),
}
_DESTINATION_HELP = ("public.ecr.aws/ALIAS/REPO[:TAG], ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG], "
                     "docker://HOST/REPO[:TAG], HOST/REPO[:TAG], oci:DIR[:TAG] or oci-archive:FILE[:TAG]")


def _add_transfer(sub: argparse._SubParsersAction, command: str) -> None:
    """push, copy and pull: one engine, one set of options (only copy's and pull's keep every blob by default)."""
    summary, compression = _TRANSFERS[command]
    p = sub.add_parser(command, help=summary, description=summary, **with_examples(command, EXIT_CODES))
    optional = "?" if command == "push" else None  # push --plan FILE names them in the file
    p.add_argument("source", nargs=optional, help="a path (format detected), oci:PATH[:REF], oci-archive:PATH[:REF], "
                                  "docker-archive:PATH[:REF] or docker://[HOST/]REPO[:TAG|@DIGEST] (Docker Hub's "
                                  "short forms too: docker://python:3.12)")
    p.add_argument("destination", nargs=optional, help="oci:DIR[:TAG] or oci-archive:FILE[:TAG] (a bare path: "
                   "oci:PATH; one ending .tar: oci-archive:PATH)" if command == "pull" else _DESTINATION_HELP)
    if command == "push":
        p.add_argument("--plan", metavar="FILE", help="push many images in one run: FILE is a JSON list of "
                       "{\"source\", \"destination\", \"tags\"}; one result line per image (JSON lines with "
                       "--format json); exit 0 only when every image succeeded")
    add_transfer_options(p, compression, "copy only this platform of a multi-platform image (repeatable; one "
                                         "platform: its manifest itself, not an index)",
                         registry_destination=command != "pull")
    if command == "copy":
        p.add_argument("--all-tags", action="store_true",
                       help="copy every tag of the source repository (docker://HOST/REPO) to the destination "
                            "repository, skipping tags whose digest is already there")
    p.set_defaults(run=_run_transfer)


def _add_push(sub: argparse._SubParsersAction) -> None:
    for command in _TRANSFERS:
        _add_transfer(sub, command)


def _run_transfer(args: argparse.Namespace) -> int:
    from pypush import api

    options = transfer_options(args)
    if getattr(args, "plan", None) is not None or (args.command == "push" and args.destination is None):
        return _run_plan(args, options)
    if getattr(args, "all_tags", False):
        if args.tag or args.compression != "keep":
            raise UsageError("--all-tags copies every tag as it is: --tag and --compression do not apply")
        results = api.mirror(args.source, args.destination, options=options,
                             subscriber_factory=lambda tag: progress_subscriber(args, f"copy :{tag}"))
        if args.format == "json":
            print(json.dumps([r.to_json() for r in results], indent=2))
        else:
            for r in results:
                print(f"{r.reference} {' '.join(r.tags)}")
        return 0
    run = {"push": api.push, "copy": api.copy, "pull": api.pull}[args.command]
    result = run(args.source, args.destination, tags=args.tag, compression=args.compression,
                 compression_level=args.compression_level, options=options,
                 subscriber=progress_subscriber(args, args.command))
    return report(args, result)


def _run_plan(args: argparse.Namespace, options) -> int:
    """``push --plan FILE``: one line per image as it finishes; the first failure's exit code, else 0."""
    from pypush import api
    from pypush.engine.plan import read_plan

    if args.plan is None:
        raise UsageError("push needs SOURCE and DESTINATION, or --plan FILE")
    if args.source is not None or args.tag or args.digest_file:
        raise UsageError("--plan names every source, destination and tag in its file: give no SOURCE, "
                         "DESTINATION, --tag or --digest-file with it")

    def show(outcome) -> None:  # PlanOutcome
        print(json.dumps(outcome.to_json()) if args.format == "json" else outcome.line(), flush=True)

    outcomes = api.push_many(read_plan(args.plan), compression=args.compression,
                             compression_level=args.compression_level, options=options, on_outcome=show)
    failed = [o for o in outcomes if not o.ok]
    return failed[0].error.exit_code if failed else 0  # type: ignore[union-attr]


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from pypush.server.command import add_arguments

    p = sub.add_parser("serve", help="run the local ECR Public endpoint (no AWS account needed)",
                       **with_examples("serve"))
    add_arguments(p)
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from pypush.server.command import run

    return run(args)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="push an image into an embedded local endpoint and pull it back",
                       **with_examples("demo"))
    p.add_argument("source", nargs="?", help="image to push (default: fixtures/small.oci in the repository, "
                                              "else a small image the demo writes)")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from pypush.cli.demo import run_demo

    return run_demo(args.source, quiet=args.quiet)


def _add_build(sub: argparse._SubParsersAction) -> None:
    from pypush.cli.build_commands import register

    register(sub)


def _add_manage(sub: argparse._SubParsersAction) -> None:
    from pypush.cli.manage import register

    register(sub)


def _add_premium(sub: argparse._SubParsersAction) -> None:
    from pypush.cli.premium_commands import register

    register(sub)


MANAGE_COMMANDS = ("repo", "images", "tags", "policy", "catalog", "resource-tags", "registries", "login")

REGISTRARS: Dict[Tuple[str, ...], Callable[[argparse._SubParsersAction], None]] = {
    tuple(_TRANSFERS): _add_push, ("append", "mutate", "build"): _add_build, ("serve",): _add_serve, ("demo",): _add_demo,
    MANAGE_COMMANDS: _add_manage, ("premium", "entitled"): _add_premium}
"""Subcommand names -> the function that adds them to the parser."""


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser: with every subcommand, or only those of the registrar that adds ``command``
    (building all of them costs ~20 ms at every start)."""
    parser = _Parser(prog="pypush", description="Push container images to ECR Public, private ECR and OCI "
                                                 "registries, without Docker.", epilog=EXIT_CODES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pypush {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, only results and errors")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log what happens on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    chosen = [add for names, add in REGISTRARS.items() if command in names]
    for register in chosen or REGISTRARS.values():
        register(sub)
    return parser


FOREIGN_FLAGS = {
    "--tls-verify": "--insecure", "--dest-tls-verify": "--insecure", "--src-tls-verify": "--src-insecure",
    "--plain-http": "--insecure", "--insecure-registry": "--insecure", "--skip-tls-verify": "--insecure",
    "--creds": "-u USER --password-stdin", "--dest-creds": "-u USER --password-stdin",
    "--src-creds": "--src-username USER --src-password-stdin"}
"""skopeo's, crane's, oras' and docker's spellings of what pypush spells otherwise (``pull``'s one registry
is its source: there the unprefixed flag)."""


def _subcommand_parser(parser: argparse.ArgumentParser, argv: List[str]) -> argparse.ArgumentParser:
    """The (sub)parser of the command ``argv`` names, as deep as its words go (``repo create``)."""
    words = [a for a in argv if not a.startswith("-")]
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = next((subs[0].choices[w] for w in words if subs and w in subs[0].choices), None)
        if chosen is None:
            return parser
        words = words[words.index(next(w for w in words if w in subs[0].choices)) + 1:]
        parser = chosen


def did_you_mean(parser: argparse.ArgumentParser, argv: List[str], unknown: str) -> str:
    """``; did you mean FLAG?`` for an option ``unknown`` the command does not take: another tool's spelling
    (FOREIGN_FLAGS), else a close match among the command's own options; "" when nothing is close."""
    name, _, value = unknown.partition("=")
    command = _subcommand_parser(parser, argv)
    if name in FOREIGN_FLAGS:
        if name.endswith("tls-verify") and value.lower() in ("true", "1"):
            return "; pypush verifies TLS unless told --insecure: drop it"
        flag = FOREIGN_FLAGS[name]
        if command.prog.endswith(" pull"):
            flag = flag.replace("--src-", "--")
        return f"; did you mean {flag}?"
    options = [o for action in command._actions for o in action.option_strings if o.startswith("--")]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def _masked(words: List[str]) -> List[str]:
    """``words`` with the value of a credentials flag (``--creds USER:PASSWORD``) hidden."""
    secret = ("--creds", "--dest-creds", "--src-creds")
    return [w.partition("=")[0] + "=…" if w.partition("=")[0] in secret and "=" in w
            else "…" if i and words[i - 1] in secret else w for i, w in enumerate(words)]


def _hoist_global_flags(argv: List[str]) -> List[str]:
    """Accept -q/-v after the subcommand too (``pypush push -v ...``)."""
    flags = [a for a in argv if a in ("-q", "--quiet") or (a.startswith("-v") and set(a[1:]) == {"v"})
             or a == "--verbose"]
    rest = [a for a in argv if a not in flags]
    return flags + rest


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = _hoist_global_flags(argv)
        parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            first = next((u for u in unknown if u.startswith("-")), unknown[0])
            raise UsageError(f"unrecognized arguments: {' '.join(_masked(unknown))}"
                             + did_you_mean(parser, argv, first))
        logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2) if not args.quiet else logging.ERROR,
                            format="pypush: %(message)s", stream=sys.stderr)
        for noisy in ("botocore", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        err: PypushError = Interrupted("interrupted")
    except PypushError as exc:
        err = exc
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        if "-v" in argv or "-vv" in argv or "--verbose" in argv:
            traceback.print_exc()
        err = PypushError(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}; "
                          f"a bug in pypush: rerun with -v and report it")
    first_line = (str(err).splitlines() or [type(err).__name__])[0]
    print(f"pypush: error: {in_flags(first_line)}", file=sys.stderr)
    return err.exit_code


API_FLAGS = {"create_repository=True": "--create-repository", "force=True": "--force"}
"""The Python API's keywords that errors name, and the CLI's flag for each."""


def in_flags(message: str) -> str:
    """``message`` (an error's, in the Python API's words) in the command line's: its flags for its keywords."""
    for keyword, flag in API_FLAGS.items():
        message = message.replace(keyword, flag)
    return message


def run() -> NoReturn:
    """The console entry point: ``main()``, then exit without the interpreter's teardown.

    Tearing down a process that imported requests takes ~40 ms of garbage collection and module
    clean-up, all after the work is done; every stream is flushed and every file closed first.
    """
    lazy_charset.install()
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        code = code or 1
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
