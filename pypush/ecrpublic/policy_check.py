"""Does a repository policy lock its caller out? Read on the client, before SetRepositoryPolicy sends it.

A statement locks everyone out when it denies, with no condition, a push action or SetRepositoryPolicy to
every principal (``"*"`` or ``{"AWS": "*"}``). Such a policy needs ``force`` (the service's own flag for a
policy that would stop the caller from setting another). Statements naming particular principals or with
conditions are left to the service: this client cannot tell who the caller is to them.
"""
from __future__ import annotations

import json
from typing import Any, List, Optional

from pypush.errors import UsageError
from pypush.name.patterns import wildcard_match

GUARDED_ACTIONS = ("ecr-public:BatchCheckLayerAvailability", "ecr-public:InitiateLayerUpload",
                   "ecr-public:UploadLayerPart", "ecr-public:CompleteLayerUpload", "ecr-public:PutImage",
                   "ecr-public:SetRepositoryPolicy", "ecr-public:SetPremiumRepositoryPolicy")
"""What pushing an image (and changing the policy again) takes."""


def _listed(value: Any) -> List[str]:
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(
        value, list) else []


def _matches(patterns: List[str], action: str) -> bool:
    return any(wildcard_match(p.lower(), action.lower()) for p in patterns)  # IAM's: only * and ?


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _listed(principal.get("AWS"))


def locked_out(document: Any) -> Optional[str]:
    """A few words on the first statement of ``document`` (a parsed policy) that denies every principal a
    push action or SetRepositoryPolicy without a condition, e.g. ``statement "NoPush" denies
    ecr-public:PutImage, … to "*"``; None when there is none."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for index, statement in enumerate(statements if isinstance(statements, list) else []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Deny" or statement.get("Condition"):
            continue
        if not _everyone(statement.get("Principal")):
            continue
        if "Action" in statement:
            denied = [a for a in GUARDED_ACTIONS if _matches(_listed(statement["Action"]), a)]
        else:
            denied = [a for a in GUARDED_ACTIONS if not _matches(_listed(statement.get("NotAction")), a)]
        if denied:
            name = statement.get("Sid") or f"#{index + 1}"
            shown = ", ".join(denied[:2]) + (", …" if len(denied) > 2 else "")
            return f'statement {name} denies {shown} to every principal ("*")'
    return None


def policy_text(policy: Any, repository: str, force: bool) -> str:
    """The policy to send: ``policy`` as JSON text (a dict or list is serialised), checked to be JSON and, unless
    ``force``, not to lock everyone out (``locked_out``): a UsageError names the statement, nothing is sent."""
    text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the policy is not valid JSON: {exc}") from None
    lockout = None if force else locked_out(document)
    if lockout:
        raise UsageError(f"the policy locks you out of {repository}: {lockout}, so nobody could push there or "
                         f"set another policy; nothing was set: pass force=True if that is meant")
    return text
