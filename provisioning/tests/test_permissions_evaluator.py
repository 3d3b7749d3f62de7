"""The evaluator against the documented IAM logic (IAM User Guide, "Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html, and
"IAM JSON policy elements: Condition operators" / "Conditions with multiple context keys or values")."""
import pytest

from provisioning.permissions.evaluator import (
    ABSENT,
    Principal,
    UnsupportedCondition,
    UnsupportedPolicy,
    evaluate,
    kms_decision,
)
from provisioning.policy import allow, document

BUCKET = "arn:aws:s3:::b"
ROLE = Principal("AWS", "arn:aws:iam::123456789012:role/app", "123456789012")


def deny(sid, actions, resources, condition=None):
    return {**allow(sid, actions, resources, condition), "Effect": "Deny"}


def test_implicit_deny_when_nothing_matches():
    decision = evaluate([document(allow("Get", ["s3:GetObject"], f"{BUCKET}/*"))], "s3:PutObject", f"{BUCKET}/k")
    assert not decision.allowed and decision.reason == "no statement allows"


def test_allow_names_the_deciding_statement():
    decision = evaluate({"app": document(allow("Put", ["s3:PutObject"], f"{BUCKET}/*"))},
                        "s3:PutObject", f"{BUCKET}/u/1/x.png")
    assert decision.allowed and decision.reason == "allowed by app/Put"


def test_explicit_deny_wins_over_allow_in_any_order():
    docs = {"a": document(allow("All", ["s3:*"], "*")), "b": document(deny("No", ["s3:DeleteObject"], "*"))}
    decision = evaluate(docs, "s3:DeleteObject", f"{BUCKET}/k")
    assert not decision.allowed and decision.reason == "explicitly denied by b/No"
    assert evaluate(docs, "s3:GetObject", f"{BUCKET}/k").allowed


def test_actions_are_case_insensitive_and_take_both_wildcards():
    doc = [document(allow("W", ["dynamodb:batch?etItem", "S3:Get*"], "*"))]
    assert evaluate(doc, "dynamodb:BatchGetItem", "x").allowed
    assert evaluate(doc, "s3:GetObjectVersion", "x").allowed
    assert not evaluate(doc, "dynamodb:BatchWriteItem", "x").allowed


def test_resources_are_case_sensitive():
    doc = [document(allow("R", ["s3:GetObject"], f"{BUCKET}/Pictures/*"))]
    assert evaluate(doc, "s3:GetObject", f"{BUCKET}/Pictures/a").allowed
    assert not evaluate(doc, "s3:GetObject", f"{BUCKET}/pictures/a").allowed


def test_question_mark_is_one_character_and_star_spans_colons():
    doc = [document(allow("R", ["ssm:GetParameter"], "arn:aws:ssm:*:parameter/cloudsite/d?v/*"))]
    assert evaluate(doc, "ssm:GetParameter", "arn:aws:ssm:us-east-1:123:parameter/cloudsite/dev/x").allowed
    assert not evaluate(doc, "ssm:GetParameter", "arn:aws:ssm:us-east-1:123:parameter/cloudsite/deev/x").allowed


def test_not_action_and_not_resource():
    doc = [document({"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/secret/*"})]
    assert evaluate(doc, "s3:GetObject", f"{BUCKET}/public/a").allowed
    assert not evaluate(doc, "iam:PassRole", "arn:aws:iam::1:role/x").allowed
    assert not evaluate(doc, "s3:GetObject", f"{BUCKET}/secret/a").allowed


def test_conditions_and_across_operators_and_keys_or_across_values():
    doc = [document(allow("C", ["kms:Decrypt"], "*", {
        "StringEquals": {"kms:ViaService": ["s3.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com"],
                         "kms:CallerAccount": "123456789012"},
        "Bool": {"aws:SecureTransport": "true"}}))]
    good = {"kms:ViaService": "sns.us-east-1.amazonaws.com", "kms:CallerAccount": "123456789012",
            "aws:SecureTransport": True}
    assert evaluate(doc, "kms:Decrypt", "k", good).allowed
    assert not evaluate(doc, "kms:Decrypt", "k", {**good, "kms:ViaService": "ec2.us-east-1.amazonaws.com"}).allowed
    assert not evaluate(doc, "kms:Decrypt", "k", {**good, "aws:SecureTransport": False}).allowed


def test_condition_key_names_are_case_insensitive_values_are_not():
    doc = [document(allow("C", ["kms:Decrypt"], "*", {"StringEquals": {"kms:viaservice": "s3.x.amazonaws.com"}}))]
    assert evaluate(doc, "kms:Decrypt", "k", {"kms:ViaService": "s3.x.amazonaws.com"}).allowed
    assert not evaluate(doc, "kms:Decrypt", "k", {"kms:ViaService": "S3.x.amazonaws.com"}).allowed


def test_string_like_and_not_equals():
    like = [document(allow("L", ["sqs:SendMessage"], "*", {"StringLike": {"aws:SourceArn": "arn:aws:sns:*:topic-?"}}))]
    assert evaluate(like, "sqs:SendMessage", "q", {"aws:SourceArn": "arn:aws:sns:r:topic-1"}).allowed
    assert not evaluate(like, "sqs:SendMessage", "q", {"aws:SourceArn": "arn:aws:sns:r:topic-12"}).allowed
    negated = [document(allow("N", ["s3:GetObject"], "*", {"StringNotEquals": {"s3:prefix": ["a", "b"]}}))]
    assert evaluate(negated, "s3:GetObject", "o", {"s3:prefix": "c"}).allowed
    assert not evaluate(negated, "s3:GetObject", "o", {"s3:prefix": "b"}).allowed  # NOR across values


def test_arn_operators_compare_part_by_part():
    doc = [document(allow("A", ["lambda:InvokeFunction"], "*",
                          {"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:*"}}))]
    assert evaluate(doc, "lambda:InvokeFunction", "f",
                    {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}).allowed
    assert not evaluate(doc, "lambda:InvokeFunction", "f",
                        {"aws:SourceArn": "arn:aws:sns:us-east-1:999999999999:t"}).allowed
    equals = [document(allow("E", ["x:Y"], "*", {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}))]
    assert not evaluate(equals, "x:Y", "r", {"aws:SourceArn": "arn:aws:sns:us-east-1:1"}).allowed  # not an ARN


def test_for_any_value_and_for_all_values():
    anyv = [document(allow("S", ["kms:Decrypt"], "*",
                           {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/a"}}))]
    assert evaluate(anyv, "kms:Decrypt", "k", {"kms:ResourceAliases": ["alias/b", "alias/a"]}).allowed
    assert not evaluate(anyv, "kms:Decrypt", "k", {"kms:ResourceAliases": ["alias/b"]}).allowed
    assert not evaluate(anyv, "kms:Decrypt", "k", {"kms:ResourceAliases": []}).allowed
    allv = [document(allow("S", ["dynamodb:GetItem"], "*",
                           {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["token", "ttl"]}}))]
    assert evaluate(allv, "dynamodb:GetItem", "t", {"dynamodb:Attributes": ["token"]}).allowed
    assert not evaluate(allv, "dynamodb:GetItem", "t", {"dynamodb:Attributes": ["token", "email"]}).allowed
    # "ForAllValues ... also returns true if there are no context keys in the request"
    assert evaluate(allv, "dynamodb:GetItem", "t", {"dynamodb:Attributes": ABSENT}).allowed


def test_absent_keys_follow_the_documented_rules():
    plain = [document(allow("P", ["x:Y"], "*", {"StringEquals": {"aws:SourceAccount": "1"}}))]
    negated = [document(allow("N", ["x:Y"], "*", {"StringNotLike": {"aws:SourceAccount": "1"}}))]
    if_exists = [document(allow("I", ["x:Y"], "*", {"StringEqualsIfExists": {"aws:SourceAccount": "1"}}))]
    absent = {"aws:SourceAccount": ABSENT}
    assert not evaluate(plain, "x:Y", "r", absent).allowed
    assert evaluate(negated, "x:Y", "r", absent).allowed
    assert evaluate(if_exists, "x:Y", "r", absent).allowed
    assert not evaluate(if_exists, "x:Y", "r", {"aws:SourceAccount": "2"}).allowed


def test_a_key_the_context_does_not_supply_raises():
    doc = [document(allow("C", ["kms:Decrypt"], "*", {"StringEquals": {"kms:ViaService": "s3.x.amazonaws.com"}}))]
    with pytest.raises(UnsupportedCondition, match="kms:ViaService"):
        evaluate(doc, "kms:Decrypt", "k", {})


def test_an_unknown_operator_raises_even_when_it_could_only_narrow():
    doc = [document(allow("C", ["s3:GetObject"], "*", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))]
    with pytest.raises(UnsupportedCondition, match="IpAddress"):
        evaluate(doc, "s3:GetObject", "o", {"aws:SourceIp": "10.1.1.1"})


def test_conditions_of_statements_that_do_not_apply_are_not_evaluated():
    doc = [document(allow("Other", ["s3:PutObject"], "*", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
                    allow("Get", ["s3:GetObject"], "*"))]
    assert evaluate(doc, "s3:GetObject", "o").allowed


def test_plain_operator_on_a_multi_valued_key_raises():
    doc = [document(allow("C", ["kms:Decrypt"], "*", {"StringEquals": {"kms:ResourceAliases": "alias/a"}}))]
    with pytest.raises(UnsupportedCondition, match="ForAnyValue"):
        evaluate(doc, "kms:Decrypt", "k", {"kms:ResourceAliases": ["alias/a"]})


def test_policy_variables_are_refused():
    with pytest.raises(UnsupportedPolicy):
        evaluate([document(allow("V", ["s3:GetObject"], "arn:aws:s3:::b/${aws:username}/*"))], "s3:GetObject", "x")


def test_trust_policy_principals():
    trust = document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    assert evaluate([trust], "sts:AssumeRole", "role", principal=Principal("Service", "lambda.amazonaws.com")).allowed
    assert not evaluate([trust], "sts:AssumeRole", "role", principal=Principal("Service", "ec2.amazonaws.com")).allowed
    with pytest.raises(UnsupportedPolicy):
        evaluate([trust], "sts:AssumeRole", "role")


KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
ROOT_DELEGATION = {"Sid": "Enable IAM policies", "Effect": "Allow",
                   "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}


def test_key_policy_root_statement_delegates_to_iam():
    key_policy = document(ROOT_DELEGATION)
    granted = {"app": document(allow("Kms", ["kms:Decrypt"], KEY))}
    assert kms_decision(granted, key_policy, "kms:Decrypt", KEY, {}, principal=ROLE).allowed
    refused = kms_decision({"app": document(allow("S3", ["s3:GetObject"], "*"))}, key_policy, "kms:Decrypt", KEY,
                           {}, principal=ROLE)
    assert not refused.allowed and "delegates to IAM" in refused.reason


def test_key_policy_naming_the_role_allows_without_iam_and_no_key_policy_grant_denies():
    named = document({"Sid": "App", "Effect": "Allow", "Principal": {"AWS": ROLE.arn}, "Action": "kms:Decrypt",
                      "Resource": "*"})
    assert kms_decision({}, named, "kms:Decrypt", KEY, {}, principal=ROLE).allowed
    other_account = document({**ROOT_DELEGATION, "Principal": {"AWS": "arn:aws:iam::999999999999:root"}})
    decision = kms_decision({"app": document(allow("Kms", ["kms:Decrypt"], KEY))}, other_account, "kms:Decrypt",
                            KEY, {}, principal=ROLE)
    assert not decision.allowed and "key policy does not allow" in decision.reason


def test_explicit_deny_in_the_key_policy_wins():
    key_policy = document(ROOT_DELEGATION, {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": "*",
                                            "Action": "kms:Decrypt", "Resource": "*"})
    decision = kms_decision({"app": document(allow("Kms", ["kms:Decrypt"], KEY))}, key_policy, "kms:Decrypt", KEY,
                            {}, principal=ROLE)
    assert not decision.allowed and decision.reason == "explicitly denied by key policy/NoDecrypt"


def test_a_key_family_can_be_declared_complete():
    doc = [document(allow("T", ["ec2:RunInstances"], "*", {"StringEquals": {"aws:RequestTag/team": "a"}}))]
    assert evaluate(doc, "ec2:RunInstances", "i", {"aws:RequestTag/team": "a", "aws:RequestTag/*": ABSENT}).allowed
    assert not evaluate(doc, "ec2:RunInstances", "i", {"aws:RequestTag/other": "a", "aws:RequestTag/*": ABSENT}).allowed
    with pytest.raises(UnsupportedCondition):
        evaluate(doc, "ec2:RunInstances", "i", {"aws:RequestTag/other": "a"})
