"""The management subcommands (``pypush repo|images|tags|policy|catalog|resource-tags|registries|login``),
thin wrappers over pypush.ecrpublic.ECRPublic that print tables or JSON."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pypush.cli.examples import with_examples
from pypush.errors import RegistryError, UsageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MIN_COLUMN = 8
REPO_HELP = "REPO or public.ecr.aws/ALIAS/REPO"
ARCHITECTURES = {"amd64": "x86-64", "x86_64": "x86-64", "386": "x86", "i386": "x86", "arm64": "ARM 64",
                 "aarch64": "ARM 64", "arm": "ARM"}
"""OCI/uname architecture names accepted for the gallery's own names (ARM, ARM 64, x86, x86-64)."""
OPERATING_SYSTEMS = {"linux": "Linux", "windows": "Windows"}


# -- output -----------------------------------------------------------------------------------
def _width() -> Optional[int]:
    """Columns tables may use: $COLUMNS, else the terminal's; None (no limit) when stdout is a pipe."""
    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: Optional[int] = None) -> str:
    """Rows under headers in aligned columns; when wider than ``width`` the widest columns shrink
    (to at least 8 characters or the header) and their long cells end in '…'."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if width is not None:
        floor = [max(len(h), _MIN_COLUMN) for h in headers]
        while sum(widths) + 2 * (len(widths) - 1) > width:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1

    def line(values: Sequence[str]) -> str:
        out = [v if len(v) <= w else v[: w - 1] + "…" for v, w in zip(values, widths)]
        return "  ".join(v.ljust(w) for v, w in zip(out, widths)).rstrip()

    return "\n".join([line(list(headers))] + [line(r) for r in cells])


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def emit(args: argparse.Namespace, data: Any, headers: Sequence[str],
         row: Callable[[Any], Sequence[Any]]) -> None:
    """Print ``data`` (one object or a list) as JSON or as a table of ``row(item)``."""
    if args.format == "json":
        print(json.dumps(_jsonable(data), indent=2))
        return
    items = data if isinstance(data, list) else [data]
    print(render_table(headers, [row(i) for i in items], _width()))


def emit_fields(args: argparse.Namespace, obj: Any) -> None:
    """One dataclass as FIELD/VALUE rows (or JSON)."""
    if args.format == "json":
        print(json.dumps(_jsonable(obj), indent=2))
        return
    rows = [(f.name.replace("_", " "), getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    print(render_table(("FIELD", "VALUE"), rows, _width()))


# -- helpers ----------------------------------------------------------------------------------
def _registry(args: argparse.Namespace, alias: Optional[str] = None):
    from pypush.ecrpublic.client import ECRPublic

    return ECRPublic(alias, endpoint_url=args.endpoint_url, profile=args.profile)


def _read_text(path: str, what: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc}") from None


def _read_logo(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read logo file {path}: {exc}") from None
    if not data.startswith(PNG_SIGNATURE):
        raise UsageError(f"logo file {path} is not a PNG image")
    return data


def _key_values(items: Sequence[str]) -> Dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _normalize(values: Optional[List[str]], names: Dict[str, str]) -> Optional[List[str]]:
    return None if values is None else [names.get(v.lower(), v) for v in values]


def _catalog_fields(args: argparse.Namespace) -> Dict[str, Any]:
    """Keyword arguments of ECRPublic.put_catalog_data from the catalog flags given."""
    return {
        "description": args.description,
        "about": _read_text(args.about, "--about") if args.about else None,
        "usage": _read_text(args.usage, "--usage") if args.usage else None,
        "architectures": _normalize(args.architecture, ARCHITECTURES),
        "operating_systems": _normalize(args.os, OPERATING_SYSTEMS),
        "logo": _read_logo(args.logo) if args.logo else None,
        "categories": args.category,
    }


def _add_catalog_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--description", help="short description shown in the gallery")
    p.add_argument("--about", metavar="FILE.md", help="'About' text from a Markdown file ('-': stdin)")
    p.add_argument("--usage", metavar="FILE.md", help="'Usage' text from a Markdown file ('-': stdin)")
    p.add_argument("--architecture", action="append", metavar="ARCH",
                   help="ARM, ARM 64, x86 or x86-64 (amd64/arm64 accepted; repeatable)")
    p.add_argument("--os", action="append", metavar="OS", help="Linux or Windows (repeatable)")
    p.add_argument("--logo", metavar="FILE.png", help="logo image (PNG, at most 512,000 bytes)")
    p.add_argument("--category", action="append", metavar="CATEGORY",
                   help="gallery category, up to 3 (repeatable): base-images, application-runtimes, databases, "
                        "ai-ml, networking, security, monitoring, ci-cd-tools, kubernetes-extensions, web-servers, "
                        "streaming")


def _repo_row(r: Any) -> Sequence[Any]:
    return (r.name, r.uri, r.created_at)


_REPO_HEADERS = ("NAME", "URI", "CREATED")


# -- repo ---------------------------------------------------------------------------------------
def _repo_create(args: argparse.Namespace) -> int:
    from pypush.ecrpublic.catalog import catalog_input

    catalog = catalog_input(**_catalog_fields(args))
    repo = _registry(args).create_repository(args.repository, catalog=catalog, tags=_key_values(args.resource_tag))
    emit_fields(args, repo)
    return 0


def _repo_delete(args: argparse.Namespace) -> int:
    emit_fields(args, _registry(args).delete_repository(args.repository, force=args.force))
    return 0


def _repo_list(args: argparse.Namespace) -> int:
    emit(args, _registry(args, args.registry).list_repositories(args.page_size), _REPO_HEADERS, _repo_row)
    return 0


def _repo_describe(args: argparse.Namespace) -> int:
    emit_fields(args, _registry(args).describe_repository(args.repository))
    return 0


# -- images and tags ----------------------------------------------------------------------------
def _status(item: Any) -> str:
    """A premium image's status for a table: ACTIVE, or DEPRECATED with its deletion date."""
    if item.status == "DEPRECATED" and item.scheduled_deletion_at is not None:
        return f"DEPRECATED (deleted {_cell(item.scheduled_deletion_at)[:10]})"
    return item.status or ""


def image_table(args: argparse.Namespace, images: Any) -> None:
    """Images as ``images list`` prints them (STATUS and SUBJECT only when some image has one)."""
    status, subject = any(i.status for i in images), any(i.subject_digest for i in images)
    headers = ["DIGEST", "TAGS", "SIZE", "PUSHED", "TYPE"] + ["STATUS"] * status + ["SUBJECT"] * subject

    def row(i: Any) -> List[Any]:
        return [i.digest, i.tags, _human_size(i.size), i.pushed_at, i.media_type] + [_status(i)] * status \
            + [i.subject_digest] * subject

    emit(args, images, headers, row)


def tag_table(args: argparse.Namespace, tags: Any) -> None:
    """Tags as ``tags list`` prints them (STATUS only when some image has one)."""
    if any(t.status for t in tags):
        emit(args, tags, ("TAG", "DIGEST", "SIZE", "PUSHED", "STATUS"),
             lambda t: (t.name, t.digest, _human_size(t.size), t.pushed_at, _status(t)))
    else:
        emit(args, tags, ("TAG", "DIGEST", "SIZE", "PUSHED"),
             lambda t: (t.name, t.digest, _human_size(t.size), t.pushed_at))


def _images_list(args: argparse.Namespace) -> int:
    image_table(args, _registry(args).list_images(args.repository, args.page_size, args.repository_type))
    return 0


def _images_delete(args: argparse.Namespace) -> int:
    result = _registry(args).delete_images(args.refs, repository_type=args.repository_type)
    if args.format == "json":
        print(json.dumps(_jsonable(result), indent=2))
    else:
        rows = [("deleted", str(ref), "") for ref in result.deleted]
        rows += [("FAILED", str(f.image), f"{f.code}: {f.reason}") for f in result.failures]
        print(render_table(("RESULT", "IMAGE", "REASON"), rows, _width()))
    if result.failures:
        first = result.failures[0]
        raise RegistryError(f"{len(result.failures)} of {len(result.failures) + len(result.deleted)} image "
                            f"deletions refused, e.g. {first.image}: {first.code}", first.code)
    return 0


def _tags_list(args: argparse.Namespace) -> int:
    tag_table(args, _registry(args).list_tags(args.repository, args.page_size, args.repository_type))
    return 0


# -- policy -------------------------------------------------------------------------------------
def _print_policy(args: argparse.Namespace, policy: Any) -> None:
    if args.format == "json":
        print(json.dumps({"repository": policy.repository, "registry_id": policy.registry_id,
                          "policy": policy.document}, indent=2))
    else:
        print(policy.text)


Handler = Callable[[argparse.Namespace], int]


def policy_commands(kind: str = "") -> Tuple[Handler, Handler, Handler]:
    """The get, set and delete handlers of ``pypush policy`` (``kind`` "") or ``pypush premium policy``
    ("premium"): ECRPublic's ``get_policy`` ... or ``get_premium_policy`` ..., the answer printed alike."""
    name = f"{kind}_policy" if kind else "policy"

    def get(args: argparse.Namespace) -> int:
        _print_policy(args, getattr(_registry(args), f"get_{name}")(args.repository))
        return 0

    def set_(args: argparse.Namespace) -> int:
        text = _read_text(args.file, "policy")
        _print_policy(args, getattr(_registry(args), f"set_{name}")(args.repository, text, force=args.force))
        return 0

    def delete(args: argparse.Namespace) -> int:
        _print_policy(args, getattr(_registry(args), f"delete_{name}")(args.repository))
        return 0

    return get, set_, delete


_policy_get, _policy_set, _policy_delete = policy_commands()


# -- catalog ------------------------------------------------------------------------------------
def _catalog_target(args: argparse.Namespace) -> Optional[str]:
    """The repository argument, or None for --registry (then the argument names the registry)."""
    if args.registry:
        return None
    if not args.target:
        raise UsageError("name a repository (REPO or public.ecr.aws/ALIAS/REPO) or use --registry")
    return args.target


def _catalog_get(args: argparse.Namespace) -> int:
    repo = _catalog_target(args)
    if repo is None:
        if args.logo_out:
            raise UsageError("--logo-out needs a repository, not --registry")
        emit_fields(args, _registry(args, args.target).get_registry_catalog_data())
        return 0
    registry = _registry(args)
    data = registry.get_catalog_data(repo)
    if args.logo_out:
        from pypush.ecrpublic.client import read_logo_url

        if not data.logo_url:
            raise RegistryError(f"{repo} has no logo")
        Path(args.logo_out).write_bytes(read_logo_url(data.logo_url))
    emit_fields(args, data)
    return 0


def _catalog_set(args: argparse.Namespace) -> int:
    repo = _catalog_target(args)
    fields = _catalog_fields(args)
    given = {k: v for k, v in fields.items() if v is not None}
    if repo is None:
        other = sorted(set(given) - {"description", "logo"})
        if other:
            flag = {"architectures": "architecture", "operating_systems": "os", "categories": "category"}
            raise UsageError(f"--registry sets only --display-name, --description and --logo, not "
                             f"--{flag.get(other[0], other[0])}")
        if args.display_name is None and not given:
            raise UsageError("--registry needs --display-name NAME, --description TEXT or --logo FILE.png")
        emit_fields(args, _registry(args, args.target).put_registry_catalog_data(
            args.display_name, description=given.get("description"), logo=given.get("logo")))
        return 0
    if args.display_name is not None:
        raise UsageError("--display-name belongs to the registry: use catalog set --registry --display-name NAME")
    if not given:
        raise UsageError("nothing to set: give --description, --about, --usage, --architecture, --os, --logo or "
                         "--category")
    emit_fields(args, _registry(args).put_catalog_data(repo, **fields))
    return 0


# -- resource tags, registries, login -------------------------------------------------------------
def _print_resource_tags(args: argparse.Namespace, tags: Dict[str, str]) -> None:
    if args.format == "json":
        print(json.dumps(tags, indent=2))
    else:
        print(render_table(("KEY", "VALUE"), sorted(tags.items()), _width()))


def _rtags_list(args: argparse.Namespace) -> int:
    _print_resource_tags(args, _registry(args).list_resource_tags(args.repository))
    return 0


def _rtags_add(args: argparse.Namespace) -> int:
    registry = _registry(args)
    registry.add_resource_tags(args.repository, _key_values(args.tags))
    _print_resource_tags(args, registry.list_resource_tags(args.repository))
    return 0


def _rtags_remove(args: argparse.Namespace) -> int:
    registry = _registry(args)
    registry.remove_resource_tags(args.repository, args.keys)
    _print_resource_tags(args, registry.list_resource_tags(args.repository))
    return 0


def _registries(args: argparse.Namespace) -> int:
    emit(args, _registry(args).describe_registries(), ("ID", "URI", "ALIASES", "VERIFIED", "PREMIUM"),
         lambda r: (r.registry_id, r.uri, [a.name + ("*" if a.primary else "") for a in r.aliases], r.verified,
                    r.premium_registry_uri or r.premium_status))
    return 0


def _login(args: argparse.Namespace) -> int:
    from pypush.cli.common import read_password

    password = read_password(args.password_stdin, args.username)
    if args.registry is not None:
        from pypush import api

        user, where = api.login(args.registry, args.username, password, insecure=args.insecure,
                                endpoint_url=args.endpoint_url, profile=args.profile)
        if args.format == "json":
            print(json.dumps({"registry": args.registry, "username": user, "stored_in": where}, indent=2))
        else:
            print(f"Login Succeeded: {args.registry} as {user}, stored in {where}")
        return 0
    if args.username:
        raise UsageError("name the registry to log in to: pypush login REGISTRY -u USER --password-stdin")
    password = _registry(args).get_login_password()
    if args.format == "json":  # what `docker login -u AWS --password-stdin public.ecr.aws` needs
        print(json.dumps({"registry": "public.ecr.aws", "username": "AWS", "password": password}, indent=2))
    else:
        print(password)
    return 0


# -- registration -------------------------------------------------------------------------------
def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--endpoint-url", help="ECR Public API endpoint instead of AWS's (e.g. `pypush serve`)")
    p.add_argument("--profile", help="AWS profile to use (default: the AWS credential chain)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    return p


def _page_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--page-size", type=int, metavar="N", help="results per API call (maxResults, 1-1000); "
                                                                "all pages are listed")


def _group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    p = sub.add_parser(name, help=help_text, description=help_text)
    group = p.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    group.required = True
    return group


def register(sub: argparse._SubParsersAction) -> None:
    """Add the management subcommands to the ``pypush`` parser's subparsers."""
    from pypush.cli.flags import add_repository_type

    common = _common()

    def leaf(group: argparse._SubParsersAction, command: str, help_text: str,
             run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = group.add_parser(command.split()[-1], help=help_text, description=help_text, parents=[common],
                             **with_examples(command))
        p.set_defaults(run=run)
        return p

    repo = _group(sub, "repo", "create, delete, list and describe repositories")
    p = leaf(repo, "repo create", "create a repository (optionally with its catalog data and resource tags)",
             _repo_create)
    p.add_argument("repository", help=REPO_HELP)
    p.add_argument("--resource-tag", action="append", default=[], metavar="KEY=VALUE",
                   help="resource tag (repeatable)")
    _add_catalog_flags(p)
    p = leaf(repo, "repo delete", "delete a repository", _repo_delete)
    p.add_argument("repository", help=REPO_HELP)
    p.add_argument("--force", action="store_true", help="also delete the images it contains")
    p = leaf(repo, "repo list", "list the repositories of a registry", _repo_list)
    p.add_argument("registry", nargs="?", help="ALIAS or public.ecr.aws/ALIAS (default: your default registry)")
    _page_size(p)
    p = leaf(repo, "repo describe", "show one repository", _repo_describe)
    p.add_argument("repository", help=REPO_HELP)

    images = _group(sub, "images", "list and delete images")
    p = leaf(images, "images list", "list the images of a repository", _images_list)
    p.add_argument("repository", help=REPO_HELP)
    _page_size(p)
    add_repository_type(p, "list the images of")
    p = leaf(images, "images delete", "delete images by tag (removes the tag) or digest (removes the image)",
             _images_delete)
    p.add_argument("refs", nargs="+", metavar="REF", help="REPO:TAG, REPO@sha256:DIGEST or "
                                                           "public.ecr.aws/ALIAS/REPO:TAG")
    add_repository_type(p, "delete from")

    tags = _group(sub, "tags", "list image tags")
    p = leaf(tags, "tags list", "list the tags of a repository", _tags_list)
    p.add_argument("repository", help=REPO_HELP)
    _page_size(p)
    add_repository_type(p, "list the tags of")

    policy = _group(sub, "policy", "get, set and delete repository policies")
    p = leaf(policy, "policy get", "print the repository policy", _policy_get)
    p.add_argument("repository", help=REPO_HELP)
    p = leaf(policy, "policy set", "set the repository policy from a JSON file", _policy_set)
    p.add_argument("repository", help=REPO_HELP)
    p.add_argument("file", help="policy JSON file ('-': stdin)")
    p.add_argument("--force", action="store_true", help="needed for a policy that locks you out: one that denies "
                   "every principal (\"*\") a push action or SetRepositoryPolicy without a condition (refused "
                   "here without --force), or one the service judges so")
    p = leaf(policy, "policy delete", "delete the repository policy", _policy_delete)
    p.add_argument("repository", help=REPO_HELP)

    catalog = _group(sub, "catalog", "gallery catalog data of a repository or the registry")
    p = leaf(catalog, "catalog get", "show catalog data", _catalog_get)
    p.add_argument("target", nargs="?", metavar="REPO", help=REPO_HELP + " (with --registry: the registry)")
    p.add_argument("--registry", action="store_true", help="the registry's catalog data instead")
    p.add_argument("--logo-out", metavar="FILE.png", help="also save the repository's logo to this file")
    p = leaf(catalog, "catalog set", "set catalog data (only the fields given)", _catalog_set)
    p.add_argument("target", nargs="?", metavar="REPO", help=REPO_HELP + " (with --registry: the registry)")
    p.add_argument("--registry", action="store_true", help="set the registry's catalog data instead")
    p.add_argument("--display-name", metavar="NAME", help="the registry's display name (with --registry; "
                                                          "--description and --logo set the registry's too)")
    _add_catalog_flags(p)

    rtags = _group(sub, "resource-tags", "AWS resource tags of a repository")
    p = leaf(rtags, "resource-tags list", "list resource tags", _rtags_list)
    p.add_argument("repository", help=REPO_HELP)
    p = leaf(rtags, "resource-tags add", "add or overwrite resource tags", _rtags_add)
    p.add_argument("repository", help=REPO_HELP)
    p.add_argument("tags", nargs="+", metavar="KEY=VALUE")
    p = leaf(rtags, "resource-tags remove", "remove resource tags", _rtags_remove)
    p.add_argument("repository", help=REPO_HELP)
    p.add_argument("keys", nargs="+", metavar="KEY")

    p = sub.add_parser("registries", help="list your public registries and their aliases", parents=[common],
                       **with_examples("registries"))
    p.set_defaults(run=_registries)
    summary = ("log in to a registry: check the credentials and store them as docker does (config.json under "
               "$DOCKER_CONFIG or ~/.docker, or its credential helper); without REGISTRY, print a password for "
               "public.ecr.aws (user AWS), like `aws ecr-public get-login-password`")
    p = sub.add_parser("login", help=summary, description=summary, parents=[common], **with_examples("login"))
    p.add_argument("registry", nargs="?", metavar="REGISTRY", help="HOST[:PORT] to log in to (default: print "
                                                                   "the ECR Public password instead)")
    p.add_argument("--username", "-u", help="user name (ECR hosts and --endpoint-url's registry: AWS, implied)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP / unverified TLS for this registry")
    p.set_defaults(run=_login)
