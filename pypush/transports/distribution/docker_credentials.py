"""Registry credentials as docker keeps them: an explicit pair, or docker's ``config.json``.

The config is consulted in docker's order: ``credHelpers[registry]`` then ``credsStore`` (both run
``docker-credential-<name> get``), then the ``auths`` entry. Secrets never appear in ``repr``, logs
or error messages.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

from pypush.errors import AuthError, UsageError
from pypush.name.patterns import DOCKER_HUB_NAMES

log = logging.getLogger(__name__)

DOCKER_HUB = "https://index.docker.io/v1/"
"""The server URL docker and credential helpers use for Docker Hub."""
_HELPER_TIMEOUT = 60.0


@dataclass(frozen=True)
class Credentials:
    """A username/password pair, or an identity (OAuth2 refresh) token; ``source`` says where from."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = "given explicitly"

    def basic(self) -> Optional[str]:
        """The ``Authorization`` value for Basic auth, or None without a username/password."""
        if not self.username or not self.password:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def normalize_registry(name: str) -> str:
    """``https://Host:5000/v1/`` → ``host:5000``; every Docker Hub alias → ``docker.io``."""
    name = name.strip()
    name = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", name)
    name = name.split("/", 1)[0].lower()
    return "docker.io" if name in DOCKER_HUB_NAMES else name


def server_url(registry: str) -> str:
    """What docker passes to credential helpers for ``registry``."""
    host = normalize_registry(registry)
    return DOCKER_HUB if host == "docker.io" else host


def docker_config_path(docker_config: Union[str, os.PathLike, None] = None) -> Path:
    """``docker_config`` (a config.json or its directory), else $DOCKER_CONFIG, else ~/.docker."""
    if docker_config is not None:
        path = Path(docker_config)
        return path / "config.json" if path.is_dir() else path
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def credentials_for(registry: str, username: Optional[str] = None, password: Optional[str] = None,
                    docker_config: Union[str, os.PathLike, None] = None) -> Optional[Credentials]:
    """Credentials for ``registry``: the explicit pair, else docker's config.json; None if anonymous.

    The docker config is consulted in docker's order: ``credHelpers[registry]``, then ``credsStore``,
    then the ``auths`` entry (``auth`` = base64 "user:password", or ``username``/``password``,
    or ``identitytoken``). Keys may be written ``host``, ``https://host`` or ``https://host/v1/``.
    """
    if username or password:
        if not (username and password):
            raise UsageError(f"{registry}: both a username and a password are needed (username= with password=)")
        return Credentials(username, password)
    path = docker_config_path(docker_config)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuthError(f"{path}: unreadable docker config ({exc.__class__.__name__})") from None
    if not isinstance(config, dict):
        raise AuthError(f"{path}: docker config is not a JSON object")
    host = normalize_registry(registry)
    helper = _lookup(config.get("credHelpers"), host)
    if isinstance(helper, str) and helper:
        return run_credential_helper(helper, registry, required=True)
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        creds = run_credential_helper(store, registry, required=False)
        if creds is not None:
            return creds
    entry = _lookup(config.get("auths"), host)
    return _from_auths_entry(entry, f"{path} auths") if isinstance(entry, dict) else None


def _lookup(table: object, host: str) -> object:
    """The value of ``table`` whose key normalizes to ``host``."""
    if not isinstance(table, dict):
        return None
    for key, value in table.items():
        if isinstance(key, str) and normalize_registry(key) == host:
            return value
    return None


def _from_auths_entry(entry: Mapping[str, object], source: str) -> Optional[Credentials]:
    token = entry.get("identitytoken")
    username, password = entry.get("username"), entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError(f"{source}: the 'auth' field is not base64 of 'user:password'") from None
    if isinstance(token, str) and token:
        return Credentials(str(username or ""), "", token, source)
    if isinstance(username, str) and isinstance(password, str) and username and password:
        return Credentials(username, password, "", source)
    return None


def run_credential_helper(name: str, registry: str, required: bool) -> Optional[Credentials]:
    """Run ``docker-credential-<name> get`` for ``registry``; None when it knows no credentials.

    A missing or failing helper is an AuthError when ``required`` (a ``credHelpers`` entry names it
    for this registry); for the catch-all ``credsStore`` it only means "no credentials from there".
    """
    import subprocess  # only here: keeps it off the start-up path of anonymous pushes

    program = f"docker-credential-{name}"
    try:
        proc = subprocess.run([program, "get"], input=server_url(registry).encode(), capture_output=True,
                              timeout=_HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        if required:
            raise AuthError(f"{registry}: credential helper {program} could not run "
                            f"({exc.__class__.__name__}); install it or fix credHelpers in the docker config") from None
        log.warning("docker config names credsStore %r but %s could not run (%s); going on without it",
                    name, program, exc.__class__.__name__)
        return None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        said = (out + proc.stderr.decode(errors="replace")).lower()
        if "credentials not found" in said:
            return None
        if required:
            raise AuthError(f"{registry}: credential helper {program} failed with exit status {proc.returncode}")
        log.warning("credential store %s failed with exit status %s; going on without it", program, proc.returncode)
        return None
    try:
        doc = json.loads(out)
        username, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    except (ValueError, AttributeError):
        raise AuthError(f"{registry}: credential helper {program} printed something that is not "
                        f"its JSON answer") from None
    source = f"credential helper {program}"
    if not secret:
        return None
    if username == "<token>":
        return Credentials("", "", secret, source)
    return Credentials(username, secret, "", source)


def store_credentials(registry: str, username: str, password: str,
                      docker_config: Union[str, os.PathLike, None] = None) -> str:
    """Keep ``username``/``password`` for ``registry`` where docker would: the credential helper the config
    names for it (``credHelpers[registry]``, else ``credsStore``: ``docker-credential-<name> store``), else
    the ``auths`` entry of config.json (base64 ``user:password``; the file written whole and renamed, mode
    0600, other entries kept). Returns where they went, for the user."""
    path = docker_config_path(docker_config)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        config = {}
    except (OSError, ValueError) as exc:
        raise AuthError(f"{path}: unreadable docker config ({exc.__class__.__name__}); nothing stored") from None
    if not isinstance(config, dict):
        raise AuthError(f"{path}: docker config is not a JSON object; nothing stored")
    host = normalize_registry(registry)
    helper = _lookup(config.get("credHelpers"), host) or config.get("credsStore")
    if isinstance(helper, str) and helper:
        _helper_store(helper, registry, username, password)
        return f"credential helper docker-credential-{helper}"
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    for key in [k for k in auths if isinstance(k, str) and normalize_registry(k) == host]:
        del auths[key]  # one entry per registry, however it was spelt
    auths[server_url(registry)] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    config["auths"] = auths
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent="\t")
            out.write("\n")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise AuthError(f"{path}: cannot write the docker config ({exc.strerror or exc}); nothing stored") from None
    return str(path)


def _helper_store(name: str, registry: str, username: str, password: str) -> None:
    import subprocess

    program = f"docker-credential-{name}"
    doc = json.dumps({"ServerURL": server_url(registry), "Username": username, "Secret": password})
    try:
        proc = subprocess.run([program, "store"], input=doc.encode(), capture_output=True, timeout=_HELPER_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthError(f"{registry}: credential helper {program} could not run ({exc.__class__.__name__}); "
                        f"install it or change the docker config; nothing stored") from None
    if proc.returncode != 0:
        raise AuthError(f"{registry}: credential helper {program} could not store the credentials "
                        f"(exit status {proc.returncode}); nothing stored")


def login_hint(registry: str, creds: Optional[Credentials]) -> str:
    """What works when ``registry`` refused ``creds`` (None: anonymous), for an error message: AWS credentials
    for an ECR host, ``pypush login`` for any other; never the flags just used again."""
    from pypush.name.patterns import is_ecr_host

    host = normalize_registry(registry)
    if is_ecr_host(host):
        return ("ECR's password comes from AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY (pypush logs in with them), or `pypush login " + host + "`")
    login = f"`pypush login {host} -u USER --password-stdin`"
    if creds is None:
        return f"log in with {login}, or pass -u USER --password-stdin"
    if creds.source == Credentials.source:
        return "check the user name and the password given"
    return f"the credentials from {creds.source} were refused: log in again with {login}"
