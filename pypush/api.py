"""The Python API: ``pypush.push``, ``pypush.push_many``, ``pypush.copy``, ``pypush.pull`` and ``pypush.mirror``:
thin wrappers over pypush.engine.copy, where every copy is decided."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

from pypush.engine.options import COMPRESSIONS, PushOptions, check_options, merge_options, remote_options
from pypush.engine.push_result import PushResult
from pypush.engine.route import Target
from pypush.image.model import Node
from pypush.name.reference import Destination

if TYPE_CHECKING:
    from pypush.engine.plan import PlanEntry, PlanOutcome
    from pypush.engine.progress import Subscriber

__all__ = ["push", "push_many", "copy", "pull", "mirror", "login", "push_image", "PushOptions", "PushResult", "Target",
           "COMPRESSIONS", "merge_options", "check_options", "remote_options"]


def push(source: Union[str, "os.PathLike[str]"], destination: Target, *,
         tags: Sequence[str] = (), compression: str = "gzip", compression_level: Optional[int] = None,
         subscriber: Optional["Subscriber"] = None, options: Optional[PushOptions] = None,
         **option_fields: object) -> PushResult:
    """Push the image at ``source`` (a path, an ``oci:``/``oci-archive:``/``docker-archive:`` spec, or
    ``docker://[HOST/]REPO[:TAG|@DIGEST]`` in a registry) to ``destination`` (``public.ecr.aws/ALIAS/REPO:TAG``,
    ``ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO``, ``HOST/REPO:TAG``, or a layout ``oci:DIR[:TAG]``) under the
    destination's tag and every one of ``tags`` (else ``latest``).

    Keyword arguments not named here are PushOptions fields (``endpoint_url``, ``jobs``, ...).
    Raises a subclass of pypush.errors.PypushError on failure; nothing is tagged unless every blob
    of the image is stored.
    """
    from pypush.engine.copy import transfer

    return transfer(os.fspath(source), destination, tags, compression, compression_level, subscriber,
                    merge_options(options, option_fields), source_tags=False)


def push_many(images: Sequence[Union["PlanEntry", Mapping[str, Any]]], *, compression: str = "gzip",
              compression_level: Optional[int] = None, options: Optional[PushOptions] = None,
              on_outcome: Optional[Callable[["PlanOutcome"], None]] = None,
              **option_fields: object) -> List["PlanOutcome"]:
    """Push many images in one run: ``images`` are PlanEntry or ``{"source", "destination", "tags"}``
    mappings (as in a ``--plan`` file). Images go in parallel (``jobs`` at a time, ``jobs`` uploads at once
    across the plan) over shared connection pools (ECR: one client, quotas paced across the plan); each
    distinct blob is uploaded once per v2 registry and mounted into the other repositories (ECR: once per
    repository). One image's failure does not stop the others: one outcome per image, in plan order
    (``on_outcome`` is told each as it finishes)."""
    from pypush.engine.copy import transfer_many

    return transfer_many(images, compression, compression_level, merge_options(options, option_fields), on_outcome)


def copy(source: Union[str, "os.PathLike[str]"], destination: Target, *, tags: Sequence[str] = (),
         compression: str = "keep", compression_level: Optional[int] = None,
         subscriber: Optional["Subscriber"] = None, options: Optional[PushOptions] = None,
         **option_fields: object) -> PushResult:
    """Copy an image from any source to any destination (see ``push``), keeping every blob and manifest
    as it is (``compression="keep"``), so every digest is preserved. A destination without a tag takes
    the source's (an image named by digest only is stored by digest). Same v2 registry at both ends:
    blobs are mounted from the source repository, no bytes move. ``platform`` (an option) narrows a
    multi-platform image; one platform copies that platform's manifest itself."""
    from pypush.engine.copy import transfer

    return transfer(os.fspath(source), destination, tags, compression, compression_level, subscriber,
                    merge_options(options, option_fields), source_tags=True)


def pull(source: str, destination: Union[str, "os.PathLike[str]"], **kwargs: Any) -> PushResult:
    """Copy the image ``source`` names into an OCI layout: ``destination`` is ``oci:DIR[:TAG]`` or
    ``oci-archive:FILE[:TAG]`` (a bare path means ``oci:PATH``). Written under a temporary name and
    renamed, so an interrupted pull leaves nothing half-made. Keyword arguments are ``copy``'s."""
    from pypush.engine.route import pull_target

    return copy(source, pull_target(os.fspath(destination)), **kwargs)


def mirror(source: str, destination: Union[str, Destination], *, subscriber_factory: Any = None,
           options: Optional[PushOptions] = None, **option_fields: object) -> List[PushResult]:
    """Copy every tag of the repository ``source`` (``docker://[HOST/]REPO``) to the repository
    ``destination`` (or into the layout directory ``oci:DIR``, each image named by its tag), following the
    pages of ``tags/list``, skipping tags whose digest is already there (and, with a warning, Docker schema 1
    images and images without the ``platform`` asked for); one result per tag copied.
    ``subscriber_factory(tag)`` may give a progress subscriber per tag."""
    from pypush.engine.copy import mirror_repository

    return mirror_repository(source, destination, merge_options(options, option_fields), subscriber_factory)


def login(registry: str, username: Optional[str] = None, password: Optional[str] = None, *, insecure: bool = False,
          endpoint_url: Optional[str] = None, profile: Optional[str] = None) -> Tuple[str, str]:
    """Check credentials against ``registry`` (``HOST[:PORT]``) and keep them where docker keeps them (its
    config.json under $DOCKER_CONFIG or ~/.docker, or the credential helper it names), for pypush's and other
    clients' later pushes and pulls. Without ``username``: an ECR host logs in with AWS credentials (user
    AWS), and the registry of ``endpoint_url`` (``pypush serve``'s registry) with that endpoint's password.
    Returns (username, where the credentials went). AuthError when the registry refuses them."""
    from pypush.transports.login import login_registry

    return login_registry(registry, username, password, insecure=insecure, endpoint_url=endpoint_url, profile=profile)


def push_image(root: Node, destination: Target, *, tags: Sequence[str] = (), subscriber: Optional["Subscriber"] = None,
               options: Optional[PushOptions] = None, source_reference: Optional[Destination] = None,
               verify_ahead: bool = True, referrers: Sequence[Any] = (), **option_fields: object) -> PushResult:
    """Send an image already opened (``root``, its blobs transformed as they should go) to ``destination``
    (as ``push`` takes it) under its tag and ``tags`` (else ``latest``). ``source_reference``: the registry
    image its blobs come from (a copy within one v2 registry mounts them). ``verify_ahead=False``: hash no
    blob before its upload starts (when most blobs are likely at the destination already).
    ``referrers``: manifests naming one of the image's as ``subject``, pushed after it (pypush.engine.transfer)."""
    from pypush.engine.copy import send_image

    return send_image(root, destination, tags=tags, subscriber=subscriber, options=merge_options(options, option_fields),
                      source_reference=source_reference, verify_ahead=verify_ahead, referrers=referrers)
