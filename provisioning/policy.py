"""IAM policy documents, written one way: ``document(*statements)`` (with an ``Id`` for a key
policy), ``allow(...)`` for a statement, ``trust(...)`` for a role's trust policy, and the
canonical JSON drift compares."""
from __future__ import annotations

import json

VERSION = "2012-10-17"


def document(*statements: dict, id: str | None = None) -> dict:
    doc: dict = {"Version": VERSION}
    if id:
        doc["Id"] = id
    doc["Statement"] = list(statements)
    return doc


def allow(sid: str, actions: list[str], resources: list[str] | str, condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions),
                 "Resource": resources if isinstance(resources, str) else sorted(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def trust(service: str, source_account: str | None = None) -> dict:
    """``service`` may assume the role; with ``source_account``, only while acting for that account
    (``aws:SourceAccount``, the confused-deputy guard of the IAM User Guide)."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return document(statement)


def as_policy(value) -> dict:
    """IAM returns policy documents URL-decoded as dicts (boto3) or as JSON strings."""
    return json.loads(value) if isinstance(value, str) else value


def canonical(doc) -> str:
    return json.dumps(as_policy(doc), sort_keys=True, separators=(",", ":"))
