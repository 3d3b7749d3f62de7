"""A small IAM policy evaluator with the logic the IAM User Guide documents.

Why not a library: ``moto.iam.access_control.IAMPolicy`` ignores every condition operator but
StringEquals (an unknown operator *passes*), lets a failed condition of an Allow statement *deny*,
matches actions case-sensitively and knows neither ``?`` nor NotResource; PyPI's IAM tools
(policyuniverse, parliament, policy_sentry, cloudsplaining) parse, lint or expand policies but do not
decide a request with its condition context. So this module does, and refuses what it cannot decide.

Logic (IAM User Guide, "Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): a
statement applies when its Action/NotAction, Resource/NotResource, Principal and every Condition
match; an applicable explicit Deny wins, else an applicable Allow allows, else the request is
implicitly denied. Actions match case-insensitively, ARNs case-sensitively, both with ``*``/``?``.

Conditions ("IAM JSON policy elements: Condition operators"): operators AND, keys of one operator
AND, values of one key OR (NOR for a negated operator). A key the request does not carry makes a
condition false, a negated one true, ``...IfExists`` true; ``ForAllValues:`` is true on a missing or
empty key, ``ForAnyValue:`` false. The caller says which keys the request carries: a context maps
each key (case-insensitively) to a value, a list of values, or ``ABSENT`` for "the request has no
such key". A key the context does not mention at all, or an operator this module does not know,
raises ``UnsupportedCondition``: the proof must fail loudly, never pass or deny by accident.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

ABSENT = object()  # a context value: the request carries no such key


class UnsupportedPolicy(Exception):
    """A policy element or shape this evaluator cannot decide."""


class UnsupportedCondition(UnsupportedPolicy):
    """A condition operator this evaluator does not know, or a key the context does not supply."""


@dataclass(frozen=True)
class Principal:
    """Who makes the request, as resource policies (trust, key, bucket policies) name it.

    ``kind``: "AWS" (``arn`` a role or user ARN, ``account`` its account), "Service" (``arn`` the
    service principal, e.g. ``sns.amazonaws.com``) or "Federated" (the identity provider's ARN)."""
    kind: str
    arn: str
    account: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    # True when every allowing statement matched the principal only as "its account" (the account
    # root ARN or the bare account id): AWS reads that as "delegated to the account's IAM policies"
    # (see kms_decision).
    via_account: bool = False
    explicit_deny: bool = False

    def __bool__(self) -> bool:
        return self.allowed


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    if "${" in pattern:
        raise UnsupportedPolicy(f"policy variables are not supported: {pattern!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).match(value) is not None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _action_matches(statement: dict, action: str) -> bool:
    if "Action" in statement:
        return any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    raise UnsupportedPolicy("a statement without Action or NotAction")


def _resource_matches(statement: dict, resource: str) -> bool:
    if "Resource" in statement:
        return any(wildcard_match(p, resource) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(wildcard_match(p, resource) for p in _as_list(statement["NotResource"]))
    return True  # a resource-based policy (trust, key policy): the resource is the one it is attached to


def _account_of(value: str) -> str | None:
    """The account a Principal entry names as a whole: ``123456789012`` or ``arn:...:iam::123...:root``."""
    if re.fullmatch(r"\d{12}", value):
        return value
    match = re.fullmatch(r"arn:[^:]+:iam::(\d{12}):root", value)
    return match.group(1) if match else None


def _principal_match(statement: dict, principal: Principal | None) -> str | None:
    """"exact", "account" (named through its account) or None (no match)."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicy("NotPrincipal is not supported")
    if "Principal" not in statement:
        return "exact"  # an identity policy: its principal is the one it is attached to
    if principal is None:
        raise UnsupportedPolicy("a statement names a Principal but the request gives none")
    named = statement["Principal"]
    if named == "*":
        return "exact"
    if not isinstance(named, dict):
        raise UnsupportedPolicy(f"Principal {named!r}")
    values = _as_list(named.get(principal.kind, []))
    if "*" in values and principal.kind == "AWS" or principal.arn in values:
        return "exact"
    if principal.kind == "AWS" and principal.account and any(_account_of(v) == principal.account for v in values):
        return "account"
    return None


def _arn_match(pattern: str, value: str) -> bool:
    # ArnEquals/ArnLike: each of the six colon-delimited parts matched on its own, wildcards allowed
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts))


def _bool_match(pattern: str, value) -> bool:
    as_text = str(value).lower() if not isinstance(value, str) else value.lower()
    return pattern.lower() == as_text


# base operator -> (does one context value match one policy value, negated)
OPERATORS = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (lambda p, v: wildcard_match(p, v), False),
    "StringNotLike": (lambda p, v: wildcard_match(p, v), True),
    "ArnEquals": (_arn_match, False),
    "ArnLike": (_arn_match, False),
    "ArnNotEquals": (_arn_match, True),
    "ArnNotLike": (_arn_match, True),
    "Bool": (_bool_match, False),
}
SET_PREFIXES = ("ForAnyValue:", "ForAllValues:")


def _parse_operator(operator: str) -> tuple[str | None, str, bool]:
    prefix = next((p for p in SET_PREFIXES if operator.startswith(p)), None)
    base = operator[len(prefix):] if prefix else operator
    if_exists = base.endswith("IfExists")
    base = base[: -len("IfExists")] if if_exists else base
    if base not in OPERATORS:
        raise UnsupportedCondition(f"condition operator {operator!r} is not supported")
    return prefix, base, if_exists


def _lookup(context: Mapping[str, object], key: str):
    """The key's value; condition key names are case-insensitive. A context entry ``prefix/*``
    (only with ``ABSENT``) says the request carries no other key of that family than those listed,
    e.g. ``aws:RequestTag/*``: the request's tags are exactly the listed ones."""
    lowered = {k.lower(): v for k, v in context.items()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    family = key.lower().rsplit("/", 1)[0] + "/*" if "/" in key else None
    if family and lowered.get(family) is ABSENT:
        return ABSENT
    raise UnsupportedCondition(f"the request context does not supply the condition key {key!r}")


def _condition_holds(operator: str, key: str, wanted, context) -> bool:
    prefix, base, if_exists = _parse_operator(operator)
    match, negated = OPERATORS[base]
    wanted = [str(w) if isinstance(w, bool) else w for w in _as_list(wanted)]
    value = _lookup(context, key)
    if value is ABSENT or (prefix and value in ([], None)):
        if if_exists:
            return True
        return prefix == "ForAllValues:" if prefix else negated

    def one(v) -> bool:
        hit = any(match(w, v) for w in wanted)
        return not hit if negated else hit

    if prefix is None:
        if isinstance(value, (list, tuple, set)):
            raise UnsupportedCondition(f"{operator} on the multi-valued key {key!r} needs ForAnyValue/ForAllValues")
        return one(value)
    values = list(value) if isinstance(value, (list, tuple, set)) else [value]
    return any(map(one, values)) if prefix == "ForAnyValue:" else all(map(one, values))


def _conditions_hold(statement: dict, context) -> bool:
    return all(_condition_holds(operator, key, wanted, context)
               for operator, keys in statement.get("Condition", {}).items()
               for key, wanted in keys.items())


def _statements(documents) -> Iterable[tuple[str, dict]]:
    """(label, statement) for documents given as {name: document} or a list of documents."""
    named = documents.items() if isinstance(documents, Mapping) else enumerate(documents)
    for name, doc in named:
        for index, statement in enumerate(_as_list(doc.get("Statement", []))):
            yield f"{name}/{statement.get('Sid') or f'#{index}'}", statement


def evaluate(documents, action: str, resource: str, context: Mapping[str, object] | None = None, *,
             principal: Principal | None = None) -> Decision:
    """Decide one request (``action`` on ``resource``) against every statement of ``documents``."""
    context = context or {}
    allowing: list[tuple[str, str]] = []
    for label, statement in _statements(documents):
        if not (_action_matches(statement, action) and _resource_matches(statement, resource)):
            continue
        how = _principal_match(statement, principal)
        if how is None or not _conditions_hold(statement, context):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return Decision(False, f"explicitly denied by {label}", explicit_deny=True)
        if effect != "Allow":
            raise UnsupportedPolicy(f"{label}: Effect {effect!r}")
        allowing.append((label, how))
    if not allowing:
        return Decision(False, "no statement allows")
    exact = [label for label, how in allowing if how == "exact"]
    return Decision(True, f"allowed by {(exact or [allowing[0][0]])[0]}", via_account=not exact)


def kms_decision(identity_documents, key_policy: dict, action: str, key_arn: str, context, *,
                 principal: Principal) -> Decision:
    """A same-account request on a KMS key: the key policy must allow it, either naming the principal
    or naming the account (the "Enable IAM policies" statement), in which case the principal's IAM
    policies must allow it too; an explicit Deny in either wins. (AWS KMS Developer Guide, "Key
    policies in AWS KMS" and "Determining access to an AWS KMS key".)"""
    key = evaluate({"key policy": key_policy}, action, key_arn, context, principal=principal)
    identity = evaluate(identity_documents, action, key_arn, context)
    for decision in (identity, key):
        if decision.explicit_deny:
            return decision
    if not key.allowed:
        return Decision(False, f"the key policy does not allow it ({key.reason})")
    if not key.via_account:
        return key
    if identity.allowed:
        return Decision(True, f"{identity.reason}, delegated by the key policy's {key.reason[len('allowed by '):]}")
    return Decision(False, f"the key policy delegates to IAM, and {identity.reason}")
