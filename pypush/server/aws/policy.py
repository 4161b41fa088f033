"""Repository policies, enforced where the endpoint can judge them: both doors ask ``refusal`` before a
repository write.

What is judged: statements whose ``Principal`` is ``"*"`` or ``{"AWS": "*"}`` (a list holding ``"*"``),
without a ``Condition``, ``NotPrincipal`` or ``NotResource``, by ``Action`` / ``NotAction`` (IAM's
wildcards ``*`` and ``?``, case-insensitive) and ``Resource`` (absent, or matching the repository's ARN). IAM's
order applies: an explicit Deny wins over any Allow; with no matching statement the call is allowed, as
the endpoint has no identity policies (the caller is taken to hold ``ecr-public:*``). Only the write
actions in ``ENFORCED`` are checked (pulls on ECR Public are anonymous and cannot be denied). Statements
naming other principals, with conditions, NotPrincipal or NotResource are stored and returned unjudged.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator, List, Optional

from pypush.name.patterns import wildcard_match
from pypush.server.aws.context import Context, typed_key
from pypush.server.aws.protocol import PUBLIC, ApiError
from pypush.server.store.store import Db, is_premium_key, name_of_key

ENFORCED = frozenset({"BatchCheckLayerAvailability", "InitiateLayerUpload", "UploadLayerPart",
                      "CompleteLayerUpload", "PutImage", "BatchDeleteImage"})
"""The operations (of either repository type) a repository policy can refuse on this endpoint."""

DENY, ALLOW = "Deny", "Allow"


def _listed(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _any_match(globs: Iterable[str], value: str, case: bool) -> bool:
    if not case:
        globs, value = (g.lower() for g in globs), value.lower()
    return any(wildcard_match(g, value) for g in globs)


def _judged(statement: Any) -> bool:
    """Whether the endpoint can judge ``statement``: every principal, no condition, a known effect."""
    if not isinstance(statement, dict) or statement.get("Effect") not in (DENY, ALLOW):
        return False
    if statement.get("Condition") or "NotPrincipal" in statement or "NotResource" in statement:
        return False
    principal = statement.get("Principal")
    return principal == "*" or (isinstance(principal, dict) and "*" in _listed(principal.get("AWS")))


def _statements(text: Optional[str]) -> Iterator[Any]:
    try:
        document = json.loads(text) if text else None
    except ValueError:
        return
    statements = document.get("Statement") if isinstance(document, dict) else None
    yield from [statements] if isinstance(statements, dict) else statements if isinstance(statements, list) else []


def decision(text: Optional[str], action: str, arn: str) -> Optional[str]:
    """DENY, ALLOW, or None (no judged statement matches) for ``action`` (``ecr-public:PutImage``) on the
    repository ``arn`` under the policy ``text``."""
    result = None
    for statement in _statements(text):
        if not _judged(statement):
            continue
        if "Action" in statement:
            hit = _any_match(_listed(statement["Action"]), action, case=False)
        else:
            hit = "NotAction" in statement and not _any_match(_listed(statement["NotAction"]), action, case=False)
        if "Resource" in statement:
            hit = hit and _any_match(_listed(statement["Resource"]), arn, case=True)
        if hit and statement["Effect"] == DENY:
            return DENY
        if hit:
            result = ALLOW
    return result


def repository_arn(registry_id: str, key: str) -> str:
    """The ECR Public ARN of the FREE or premium repository whose store key is ``key``."""
    kind = "premium-repository" if is_premium_key(key) else "repository"
    return f"arn:aws:ecr-public::{registry_id}:{kind}/{name_of_key(key)}"


def refusal(db: Db, registry_id: str, key: str, operations: Iterable[str]) -> Optional[str]:
    """The first of ``operations`` (ECR Public operation names) that the policy of the repository with
    store key ``key`` explicitly denies to every principal, as ``ecr-public:<Operation>``; None when all
    are allowed (or the repository has no policy, or does not exist)."""
    table = "premium_repositories" if is_premium_key(key) else "repositories"
    row = db.execute(f"SELECT policy FROM {table} WHERE name=?", (name_of_key(key),)).fetchone()
    if row is None or not row[0]:
        return None
    arn = repository_arn(registry_id, key)
    for operation in operations:
        action = f"ecr-public:{operation}"
        if decision(row[0], action, arn) == DENY:
            return action
    return None


def denied_message(action: str, registry_id: str, key: str) -> str:
    """What both doors say of a call the repository's policy denies (AWS's words)."""
    return (f"User is not authorized to perform: {action} on resource: {repository_arn(registry_id, key)} "
            f"with an explicit deny in a resource-based policy")


def access_denied(action: str, registry_id: str, key: str) -> ApiError:
    """The AWS door's answer to a call a repository policy denies."""
    return ApiError("AccessDeniedException", denied_message(action, registry_id, key))


def enforce(ctx: Context, p: Dict[str, Any]) -> None:
    """AccessDeniedException when the repository's policy explicitly denies this ECR Public call (one of
    ``ENFORCED``) to every principal; private ECR calls are not judged (their policies are not stored)."""
    if ctx.service != PUBLIC or ctx.op.name not in ENFORCED or "repositoryName" not in p:
        return
    key = typed_key(p)
    with ctx.store.read() as db:
        action = refusal(db, ctx.registry_id, key, [ctx.op.name])
    if action is not None:
        raise access_denied(action, ctx.registry_id, key)
