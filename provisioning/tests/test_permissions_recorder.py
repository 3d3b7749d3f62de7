"""The recorder and the call-to-request table on small cases (moto in-process)."""
import boto3
import pytest
from moto import mock_aws

from provisioning.permissions.proof import Proof, map_call
from provisioning.permissions.recorder import Call, Recorder, recording
from provisioning.permissions.requests import World
from provisioning.policy import allow, document

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def world():
    with mock_aws():
        yield World(boto3.Session(region_name=REGION), ACCOUNT, REGION)


def test_only_calls_made_as_an_actor_are_recorded_with_their_parameters(world):
    recorder = Recorder()
    with recording(recorder):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bkt")  # the harness: no actor
        with recorder.acting("app", "upload"):
            s3.put_object(Bucket="bkt", Key="k", Body=b"secret bytes")
    (call,) = recorder.calls
    assert (call.actor, call.flow, call.service, call.operation) == ("app", "upload", "s3", "PutObject")
    assert call.params == {"Bucket": "bkt", "Key": "k"}  # bodies are never kept


def test_clients_made_outside_recording_are_not_hooked(world):
    recorder = Recorder()
    s3 = boto3.client("s3", region_name=REGION)
    with recording(recorder), recorder.acting("app"):
        s3.list_buckets()
    assert recorder.calls == []


def test_an_operation_the_table_does_not_know_fails_the_proof_naming_it(world):
    iam = world.client("iam")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName="app", PolicyName="p", PolicyDocument=__import__("json").dumps(
        document(allow("All", ["iam:ListUsers"], "*"))))
    recorder = Recorder(on_call=map_call(world))
    with recording(recorder), recorder.acting("app"):
        boto3.client("iam").list_users()
    failures = Proof(world, {"app": "app"}).check(recorder.calls).failures
    assert failures == ["app: iam ListUsers: UnknownOperation: iam ListUsers is not in the permission table "
                        "(provisioning/permissions/requests.py): add what IAM authorises for it"]


def test_an_sse_kms_put_implies_generate_data_key_on_the_buckets_key(world):
    kms, s3 = world.client("kms"), world.client("s3")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/pictures", TargetKeyId=key)
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_encryption(Bucket="bkt", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
    recorder = Recorder(on_call=map_call(world))
    with recording(recorder), recorder.acting("app"):
        boto3.client("s3", region_name=REGION).put_object(Bucket="bkt", Key="u/1.png", Body=b"x")
    (call,) = recorder.calls
    put, generate = call.requests
    assert (put.action, put.resource) == ("s3:PutObject", "arn:aws:s3:::bkt/u/1.png")
    assert (generate.action, generate.resource, generate.key) == ("kms:GenerateDataKey", key, key)
    assert generate.context == {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT,
                                "kms:ResourceAliases": ["alias/pictures"]}


def test_sqs_with_a_customer_key_implies_kms_and_with_sqs_managed_sse_nothing(world):
    key = world.client("kms").create_key()["KeyMetadata"]["Arn"]
    sqs = world.client("sqs")
    cmk = sqs.create_queue(QueueName="cmk", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    managed = sqs.create_queue(QueueName="managed", Attributes={"SqsManagedSseEnabled": "true"})["QueueUrl"]
    recorder = Recorder(on_call=map_call(world))
    with recording(recorder), recorder.acting("worker"):
        client = boto3.client("sqs", region_name=REGION)
        client.send_message(QueueUrl=cmk, MessageBody="m")
        client.receive_message(QueueUrl=cmk)
        client.send_message(QueueUrl=managed, MessageBody="m")
    send, receive, plain = (c.requests for c in recorder.calls)
    assert [(r.action, r.key) for r in send] == [("sqs:SendMessage", None), ("kms:GenerateDataKey", key),
                                                 ("kms:Decrypt", key)]
    assert [(r.action, r.key) for r in receive] == [("sqs:ReceiveMessage", None), ("kms:Decrypt", key)]
    assert [r.action for r in plain] == ["sqs:SendMessage"]
    assert send[1].context["kms:ViaService"] == "sqs.us-east-1.amazonaws.com"


def test_a_bucket_policys_explicit_deny_wins_and_its_tls_condition_is_met(world):
    """The stack's TLS-only bucket policy (data.Bucket): over HTTPS it denies nothing; a Deny that
    applies wins over the role's Allow (IAM User Guide, "Policy evaluation logic")."""
    import json

    iam, s3 = world.client("iam"), world.client("s3")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName="app", PolicyName="p", PolicyDocument=json.dumps(
        document(allow("Objects", ["s3:PutObject", "s3:DeleteObject"], "arn:aws:s3:::bkt/*"))))
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_policy(Bucket="bkt", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": "arn:aws:s3:::bkt/*"}]}))
    # moto answers 403 to every object call under such a policy (docs/moto.md): the calls are mapped, not made
    calls = [Call("app", "s3", operation, {"Bucket": "bkt", "Key": "k"}) for operation in ("PutObject", "DeleteObject")]
    for call in calls:
        map_call(world)(call)
    failures = Proof(world, {"app": "app"}).check(calls).failures
    assert failures == ["app: s3:DeleteObject on arn:aws:s3:::bkt/k is not allowed (explicitly denied by "
                        "bucket policy/NoDeletes)"]
