"""Flags more than one group of subcommands takes (the transfer commands, the management commands)."""
from __future__ import annotations

import argparse


def add_repository_type(p: argparse.ArgumentParser, verb: str) -> None:
    """``--repository-type free|premium``: which of ECR Public's two repositories of one name to use."""
    p.add_argument("--repository-type", choices=("free", "premium"), default="free", type=str.lower,
                   help=f"ECR Public: {verb} the FREE repository (default) or the PREMIUM one of that name "
                        f"(paid content sold through AWS Marketplace; see docs/premium.md)")
