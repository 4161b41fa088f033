"""Every name pattern pypush checks, each written once: tags, digests, repository names, ECR hosts and
aliases, Docker Hub's names, and IAM's wildcards (policy actions and resources). Compiled patterns are meant
for ``fullmatch``."""
from __future__ import annotations

import re

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""A tag, as the distribution spec and Docker write it."""
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
"""The digest algorithms pypush reads and verifies, with their hex lengths."""
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
"""A manifest's (and an ECR layer's) digest: sha256 only."""
BLOB_DIGEST = re.compile("|".join(f"{a}:[a-f0-9]{{{n}}}" for a, n in DIGEST_HEX_LENGTHS.items()))
"""A blob's digest in an OCI image: any algorithm of DIGEST_HEX_LENGTHS."""
REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
"""A repository name: the distribution spec's grammar, and ECR's and ECR Public's since their 2026 models."""
REPOSITORY_MAX = {"ecr-public": 205, "ecr": 256, "v2": 256}
"""The longest repository name per destination kind (the ECR models' RepositoryName max; v2: 256 by usage)."""
ECR_PUBLIC_HOST = "public.ecr.aws"
ECR_PRIVATE_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
"""A private ECR registry host, naming its account and region."""
ECR_PUBLIC_ALIAS = re.compile(r"[a-z][a-z0-9-]{1,49}|\d{12}")
"""What ``public.ecr.aws/<alias>/`` may hold: a registry alias or an account id."""
DOCKER_HUB_HOST = "registry-1.docker.io"
"""Where Docker Hub's registry API answers (``docker.io`` in image names)."""
DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
"""Every host name that means Docker Hub (credential files use any of them)."""


def is_ecr_host(host: str) -> bool:
    """Whether ``host`` (a port allowed) is an ECR registry host, private (any partition) or public."""
    name = host.lower().split(":", 1)[0]
    return name == ECR_PUBLIC_HOST or ECR_PRIVATE_HOST.fullmatch(name) is not None


def wildcard_match(pattern: str, value: str) -> bool:
    """IAM's wildcard match of all of ``value``: ``*`` any run of characters, ``?`` one, nothing else special.

    Greedy with one backtrack point (the last ``*``), so time is at most len(pattern) × len(value) whatever
    the pattern (a regular expression of ``*a*a*a…`` backtracks exponentially).
    """
    p = v = 0
    star, resume = -1, 0
    while v < len(value):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, v
            p += 1
        elif p < len(pattern) and pattern[p] in ("?", value[v]):
            p += 1
            v += 1
        elif star >= 0:
            p, resume = star + 1, resume + 1
            v = resume
        else:
            return False
    return all(c == "*" for c in pattern[p:])
