"""Logging in to a registry as docker does: check the credentials, then keep them in docker's config.json
(or the credential helper it names), for any v2 registry, ECR hosts and the local endpoint's door."""
from __future__ import annotations

import logging
from typing import Optional, Tuple
from urllib.parse import urlsplit

from pypush.errors import UsageError
from pypush.name.reference import is_ecr_host, parse_reference

log = logging.getLogger("pypush")


def login_registry(registry: str, username: Optional[str] = None, password: Optional[str] = None, *, insecure: bool = False,
          endpoint_url: Optional[str] = None, profile: Optional[str] = None) -> Tuple[str, str]:
    """Check credentials against ``registry`` (``HOST[:PORT]``) and keep them where docker keeps them (its
    config.json under $DOCKER_CONFIG or ~/.docker, or the credential helper it names), for pypush's and other
    clients' later pushes and pulls. Without ``username``: an ECR host logs in with AWS credentials (user
    AWS), and the registry of ``endpoint_url`` (``pypush serve``'s registry) with that endpoint's password.
    Returns (username, where the credentials went). AuthError when the registry refuses them."""
    from pypush.transports.distribution.docker_credentials import Credentials, normalize_registry, store_credentials
    from pypush.transports.distribution.client import RegistryClient

    host = normalize_registry(registry)
    if not host or "/" in registry.split("://", 1)[-1].rstrip("/"):
        raise UsageError(f"login {registry!r}: name a registry host, HOST[:PORT] (no repository)")
    door = urlsplit(endpoint_url).netloc.lower() if endpoint_url else None
    if door is not None and host != door:
        raise UsageError(f"--endpoint-url {endpoint_url}: its registry is {door}, not {host}")
    if username is None and password is None:
        if door is None and not is_ecr_host(host):
            raise UsageError(f"login {host} needs -u USER --password-stdin (username= and password=); only ECR hosts "
                             f"and --endpoint-url's registry log in with AWS credentials")
        from pypush.transports.ecr.login import ecr_login

        ecr = parse_reference(f"{host}/login" if door is None and host != "public.ecr.aws" else
                                "public.ecr.aws/login/login")
        username, password = ecr_login(ecr, endpoint_url, profile)
    if not username or not password:
        raise UsageError(f"login {host}: both a username and a password are needed (-u USER --password-stdin)")
    with RegistryClient(host, insecure=insecure, credentials=Credentials(username, password),
                        lookup_credentials=False) as client:
        if not client.check_login():
            log.warning("%s asks for no credentials; storing them anyway", host)
    return username, store_credentials(host, username, password)
