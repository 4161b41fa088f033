"""``pypush premium ...`` (a publisher's premium repositories: paid content sold through AWS Marketplace) and
``pypush entitled ...`` (a buyer's view), thin wrappers over pypush.ecrpublic.ECRPublic's premium methods in the
style of pypush.cli.manage: tables, or ``--format json``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from pypush.cli.examples import show_examples
from pypush.cli.manage import (REPO_HELP, _catalog_fields, _add_catalog_flags, _common, _group, _human_size,
                               _key_values, _page_size, _registry, _width, emit, emit_fields,
                               image_table, policy_commands, render_table, tag_table)
from pypush.errors import UsageError

_PREMIUM_HEADERS = ("NAME", "STATE", "PRODUCTS", "URI", "CREATED")
IMAGE_HELP = "TAG or sha256:DIGEST"


def _premium_row(r: Any) -> Any:
    return (r.name, r.state, r.products, r.uri, r.created_at)


def _show(args: argparse.Namespace, obj: Any) -> int:
    emit_fields(args, obj)
    return 0


# -- repositories -------------------------------------------------------------------------------
def _create(args: argparse.Namespace) -> int:
    from pypush.ecrpublic.catalog import catalog_input

    catalog = catalog_input(**_catalog_fields(args))
    return _show(args, _registry(args).create_premium_repository(args.repository, args.product, catalog,
                                                                 _key_values(args.resource_tag)))


def _list(args: argparse.Namespace) -> int:
    emit(args, _registry(args).list_premium_repositories(args.page_size), _PREMIUM_HEADERS, _premium_row)
    return 0


def _describe(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).describe_premium_repository(args.repository))


def _delete(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).delete_premium_repository(args.repository))


def _state(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).set_repository_state(args.repository, args.state))


def _products(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.products:
        return _show(args, registry.set_products(args.repository, args.products))
    repo = registry.describe_premium_repository(args.repository)
    if args.format == "json":
        print(json.dumps(list(repo.products), indent=2))
    else:
        print("\n".join(repo.products))
    return 0


# -- catalog and policy -------------------------------------------------------------------------
def _catalog_get(args: argparse.Namespace) -> int:
    data = _registry(args).get_premium_catalog_data(args.repository)
    if args.logo_out:
        from pypush.ecrpublic.client import read_logo_url
        from pypush.errors import RegistryError

        if not data.logo_url:
            raise RegistryError(f"premium repository {args.repository} has no logo")
        Path(args.logo_out).write_bytes(read_logo_url(data.logo_url))
    return _show(args, data)


def _catalog_put(args: argparse.Namespace) -> int:
    fields = {k: v for k, v in _catalog_fields(args).items() if v is not None}
    if not fields:
        raise UsageError("nothing to set: give --description, --about, --usage, --architecture, --os, --logo or "
                         "--category")
    return _show(args, _registry(args).put_premium_catalog_data(args.repository, **fields))


_policy_get, _policy_set, _policy_delete = policy_commands("premium")


# -- images, associations, findings ---------------------------------------------------------------
def _deprecate(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).deprecate_image(args.repository, args.image, args.days))


def _reactivate(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).reactivate_image(args.repository, args.image))


def _associate(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).associate(args.repository, args.free))


def _disassociate(args: argparse.Namespace) -> int:
    return _show(args, _registry(args).disassociate(args.repository, args.free))


def _findings(args: argparse.Namespace) -> int:
    result = _registry(args).scan_findings(args.repository, args.image, args.page_size)
    if args.format == "json":
        emit_fields(args, result)
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.severity_counts.items()))
    summary = f"{result.image}: {result.status}" + (f" ({result.description})" if result.description else "")
    print(summary + (f"; {counts}" if counts else ""))
    if result.findings:
        print(render_table(("SEVERITY", "ID", "PACKAGE", "FIX", "TITLE"),
                           [(f.severity, f.finding_id, f.package, f.fix_available, f.title) for f in result.findings],
                           _width()))
    return 0


# -- publisher reports ----------------------------------------------------------------------------
def _reports_list(args: argparse.Namespace) -> int:
    reports = _registry(args).list_publisher_reports(args.type, args.granularity, args.page_size)
    emit(args, reports, ("ID", "TYPE", "GRANULARITY", "FROM", "TO", "SIZE", "CREATED"),
         lambda r: (r.report_id, r.report_type, r.granularity, r.start, r.end, _human_size(r.size), r.created_at))
    return 0


def _reports_download(args: argparse.Namespace) -> int:
    out = args.output or f"{args.report_id}.csv.gz"
    if out != "-" and os.path.isdir(out):
        raise UsageError(f"-o {out}: is a directory")
    if out != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise UsageError(f"-o {out}: directory {os.path.dirname(os.path.abspath(out))} does not exist")
    data = _registry(args).download_publisher_report(args.report_id)
    if out == "-":
        sys.stdout.buffer.write(data)
        return 0
    fd, tmp = tempfile.mkstemp(prefix=".pypush-report-", dir=os.path.dirname(os.path.abspath(out)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)  # nothing half-written under the name asked for
    except BaseException:
        os.unlink(tmp)
        raise
    if args.format == "json":
        print(json.dumps({"report_id": args.report_id, "file": out, "size": len(data)}, indent=2))
    else:
        print(f"{out} ({_human_size(len(data))})")
    return 0


# -- the buyer's view -----------------------------------------------------------------------------
def _entitled_repos(args: argparse.Namespace) -> int:
    emit(args, _registry(args).list_entitled_repositories(args.page_size),
         ("ALIAS", "NAME", "STATE", "PRODUCT", "PUBLISHER", "URI"),
         lambda r: (r.alias, r.name, r.state, r.product_id, r.publisher, r.uri))
    return 0


def _entitled_images(args: argparse.Namespace) -> int:
    image_table(args, _registry(args).list_entitled_images(args.repository, args.page_size))
    return 0


def _entitled_tags(args: argparse.Namespace) -> int:
    tag_table(args, _registry(args).list_entitled_tags(args.repository, args.page_size))
    return 0


# -- registration -------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    """Add ``premium`` and ``entitled`` to the ``pypush`` parser's subparsers."""
    common = _common()

    def leaf(group: argparse._SubParsersAction, name: str, help_text: str,
             run: Callable[[argparse.Namespace], int], repository: bool = True) -> argparse.ArgumentParser:
        p = group.add_parser(name, help=help_text, description=help_text, parents=[common])
        show_examples(p)
        p.set_defaults(run=run)
        if repository:
            p.add_argument("repository", help=REPO_HELP + " (the premium repository)")
        return p

    premium = _group(sub, "premium", "premium repositories: paid content sold through AWS Marketplace "
                                     "(see docs/premium.md)")
    p = leaf(premium, "create", "create a premium repository (in DRAFT) sold through Marketplace products",
             _create)
    p.add_argument("--product", action="append", required=True, metavar="ID",
                   help="AWS Marketplace product id (1 to 5; repeatable)")
    p.add_argument("--resource-tag", action="append", default=[], metavar="KEY=VALUE", help="resource tag (repeatable)")
    _add_catalog_flags(p)
    p = leaf(premium, "list", "list your premium repositories (every state)", _list, repository=False)
    _page_size(p)
    leaf(premium, "describe", "show a premium repository: state, products, association", _describe)
    leaf(premium, "delete", "delete an empty premium repository", _delete)
    p = leaf(premium, "state", "set the state: available (listed, buyers pull), hidden (unlisted, buyers still "
                               "pull); a repository never returns to draft", _state)
    p.add_argument("state", type=str.lower, choices=("draft", "available", "hidden"))
    p = leaf(premium, "products", "show the Marketplace products, or replace them with PRODUCT... (after DRAFT "
                                  "the list may only grow)", _products)
    p.add_argument("products", nargs="*", metavar="PRODUCT")

    catalog = _group(premium, "catalog", "gallery catalog data of a premium repository")
    p = leaf(catalog, "get", "show catalog data (with the badges and artifact types the service sets)", _catalog_get)
    p.add_argument("--logo-out", metavar="FILE.png", help="also save the logo to this file")
    p = leaf(catalog, "put", "update catalog data (only the fields given change)", _catalog_put)
    _add_catalog_flags(p)

    policy = _group(premium, "policy", "get, set and delete a premium repository's policy")
    leaf(policy, "get", "print the policy", _policy_get)
    p = leaf(policy, "set", "set the policy from a JSON file", _policy_set)
    p.add_argument("file", help="policy JSON file ('-': stdin)")
    p.add_argument("--force", action="store_true", help="needed for a policy that locks you out: one that denies "
                   "every principal (\"*\") a push action or the policy's change without a condition (refused here "
                   "without --force), or one the service judges so")
    leaf(policy, "delete", "delete the policy", _policy_delete)

    p = leaf(premium, "deprecate", "deprecate an image: the service deletes it after --days days (premium images "
                                   "are deprecated, not deleted, once the repository left DRAFT)", _deprecate)
    p.add_argument("image", help=IMAGE_HELP + " (a tag names the digest it points at now)")
    p.add_argument("--days", type=int, required=True, metavar="N", help="days until deletion, 90 to 365")
    p = leaf(premium, "reactivate", "cancel an image's deprecation (before its deletion date)", _reactivate)
    p.add_argument("image", help=IMAGE_HELP)
    for name, run, text in (("associate", _associate, "pair the premium repository with a FREE one (shown side "
                                                      "by side in the gallery)"),
                            ("disassociate", _disassociate, "undo an association")):
        p = leaf(premium, name, text, run)
        p.add_argument("--free", metavar="REPO", help="the FREE repository (default: the one of the same name)")
    p = leaf(premium, "findings", "show an image's scan status and findings", _findings)
    p.add_argument("image", help=IMAGE_HELP + " (a multi-platform image: a platform's digest)")
    p.add_argument("--page-size", type=int, metavar="N", help="findings per API call (1-100); all are listed")

    reports = _group(premium, "reports", "publisher reports: pulls of your premium repositories")
    p = leaf(reports, "list", "list the reports of the last 365 days", _reports_list, repository=False)
    p.add_argument("--type", type=str.lower, choices=("summary", "trends"), help="only this report type")
    p.add_argument("--granularity", type=str.lower, choices=("weekly", "monthly"), help="only this period")
    _page_size(p)
    p = leaf(reports, "download", "download a report (a gzip-compressed CSV)", _reports_download, repository=False)
    p.add_argument("report_id", metavar="ID")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write it (default ID.csv.gz; '-': stdout)")

    entitled = _group(sub, "entitled", "premium repositories you bought (your Marketplace entitlements)")
    p = leaf(entitled, "repos", "list the premium repositories you are entitled to pull", _entitled_repos,
             repository=False)
    _page_size(p)
    for name, run in (("images", _entitled_images), ("tags", _entitled_tags)):
        p = leaf(entitled, name, f"list the {name} of an entitled repository", run, repository=False)
        p.add_argument("repository", help="ALIAS/REPO or public.ecr.aws/ALIAS/REPO (the publisher's alias)")
        _page_size(p)
