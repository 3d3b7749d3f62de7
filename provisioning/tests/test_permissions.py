"""The permission proof (issue #13): every AWS call each runtime actor makes in the offline flows,
evaluated against the policies the stack provisions for that actor, read back from the emulator.

moto enforces no IAM and no KMS permission: a stack green on moto can fail with AccessDenied on a
real account. Here the whole stack is provisioned in moto, the flows run as their actors with every
call recorded (provisioning/permissions/recorder.py), each call is mapped to what IAM authorises,
implied KMS calls included (requests.py), and every request is decided against the role's inline
policies from IAM and, for KMS, the key policy from KMS (evaluator.py). ``-s`` prints the
least-privilege figure (granted, never used); it is also written to ``var/least-privilege.txt``.
"""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from devkit.testing import apply_locked, make_context, teach_moto_ebs_default_key, write_stack
from provisioning import naming, retry
from provisioning.config import load_file
from provisioning.permissions.proof import ExpectedDenial, Proof, map_call
from provisioning.permissions.recorder import Recorder, recording
from provisioning.permissions.requests import World
from provisioning.tests import permission_flows as flows
from provisioning.tests.pipeline_fixtures import emulated_stack

# pytest-django sets up the test databases only for a session with tests that ask for them; the
# flows run once for the module (django_db_blocker) and remove the user they made
pytestmark = pytest.mark.django_db
LAYERS = ["network", "data", "image", "compute", "pipeline"]
EXPECTED = (
    ExpectedDenial("ci", "s3:GetObject", "arn:aws:s3:::cloudsite-dev-deploy-*/bundles/*",
                   "deploy's HeadObject of the bundle: 403 means 'not uploaded yet', and the CI role "
                   "may put bundles but not read them (deploy.py, _exists); AWS stops there, so neither "
                   "the implied s3:ListBucket of a missing key nor the kms:Decrypt of an existing one is asked"),
)
# Granted, and made by no offline flow: by agents or AWS services on the instance's behalf, or on a
# failure path moto never takes. "<policy>/<Sid>" (every action of it) or "<policy>/<Sid>: <action>".
UNPROVEN_OFFLINE = {
    "instance": {
        "agents/ShipLogs": "the CloudWatch agent", "agents/StackMetrics": "the CloudWatch agent",
        "agents/AgentLookups": "the CloudWatch agent",
        "app/ReadOwnParameters: ssm:GetParameter": "the CloudWatch agent (its configuration)",
        "agents/SessionManagerRegister": "the SSM agent", "agents/SessionManagerChannels": "the SSM agent",
        "agents/CodeDeployAgent": "the CodeDeploy agent",
        "app/DeployBundles": "the CodeDeploy agent (fetches the bundle as the instance)",
        "app/DeployBucketList": "the CodeDeploy agent",
        "app/AppBucketObjects: s3:AbortMultipartUpload": "s3transfer, when a multipart upload fails",
        "app/CeleryQueue: sqs:ChangeMessageVisibility": "kombu, handing back an unacknowledged message"},
    "image": {
        "bake/TheStackLock: dynamodb:GetItem": "a bake refused because the stack is locked (the ci flow proves it)",
        "bake/TheStackLock: dynamodb:UpdateItem": "the lock's heartbeat in a bake longer than a third of its lease "
                                                  "(the ci flow proves it)"},
    "ci": {
        "deploy/CreateAndWatchDeployments: codedeploy:ListDeploymentInstances": "deploy's failure report",
        "deploy/CreateAndWatchDeployments: codedeploy:GetDeploymentTarget": "deploy's failure report"},
}
IMAGE_RETENTION = "\n[image]\nretention = 2\n"  # the second re-bake deregisters the first image


def provision(config, monkeypatch):
    """The whole stack in moto, as an administrator would (provision_all), not recorded."""
    boto3.client("route53", region_name=flows.REGION).create_hosted_zone(Name="dev.example.com",
                                                                         CallerReference="proof")
    from provisioning.layers import image

    def signal(ctx, instance_id):
        boto3.client("ssm", region_name=flows.REGION).put_parameter(
            Name=naming.bake_signal(ctx.stack, instance_id), Value="ok", Type="String", Overwrite=True)
        return image.read_bake_signal(ctx, instance_id)
    # as provision_all: under the stack's lock, whose first use makes its table
    apply_locked(make_context(config, bake_signal=signal), LAYERS, "provision_all")
    ses = boto3.client("ses", region_name=flows.REGION)
    for address in (flows.SENDER, flows.EMAIL):  # the sandbox: verified recipients only
        ses.verify_email_identity(EmailAddress=address)


@pytest.fixture(scope="module")
def proved(tmp_path_factory, django_db_setup, django_db_blocker):
    stacks = tmp_path_factory.mktemp("stacks")
    path = emulated_stack(write_stack(stacks, flows.STACK))
    path.write_text(path.read_text() + IMAGE_RETENTION)
    config = load_file(path)
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws(), django_db_blocker.unblock():
        import moto.settings

        monkeypatch.setattr(retry, "SYSTEM_CLOCK", retry.Clock(sleep=lambda seconds: None))
        monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 0)
        monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        teach_moto_ebs_default_key(monkeypatch)
        provision(config, monkeypatch)
        world = World(boto3.Session(region_name=flows.REGION), flows.ACCOUNT, flows.REGION)
        recorder = Recorder(on_call=map_call(world))
        results = {}
        with recording(recorder):
            results["message"] = flows.app_flows(recorder)
            flows.broker_flow(recorder, flows.outputs("pipeline")["queue-url"])
            results["env"] = flows.render_env_flow(recorder)
            results["db"] = flows.database_credentials_flow(recorder, results["env"]["DATABASE_SECRET_ARN"])
            results["lambda"] = flows.lambda_flow(recorder, results["message"], tmp_path_factory.mktemp("lambda"))
            results["ci"] = flows.ci_flows(recorder, stacks, monkeypatch)
            results["image"] = flows.image_flow(recorder, stacks, monkeypatch)
        proof = Proof(world, flows.ROLES, EXPECTED)
        yield {"recorder": recorder, "proof": proof, "outcome": proof.check(recorder.calls), "world": world,
               "results": results, "config": config}


def test_the_flows_ran_as_in_production(proved):
    results = proved["results"]
    assert results["lambda"]["sent"] == 1, results["lambda"]  # SES took the e-mail
    assert results["env"]["DATABASE_URL"].startswith("mysql://cloudsite_app@")  # no password in the file
    assert results["db"] == {"username": naming.DB_APP_USER, "pending": False}
    code, out = results["ci"]["deploy"]
    assert code == 1 and "deployment" in out, out  # moto's deployment stays Created: the bounded wait
    code, out = results["ci"]["deploy_refused"]
    assert code == 1 and "is locked by provision_compute" in out and "provision_unlock" in out, out
    code, out = results["ci"]["deploy_succeeded"]
    assert code == 0 and "switched from EC2 to ELB" in out, out
    assert results["ci"]["deploy_lambda"][0] == 0 and "code updated" in results["ci"]["deploy_lambda"][1]
    assert [code for code, _ in results["image"]] == [0, 0], results["image"]
    actors = {c.actor for c in proved["recorder"].calls}
    assert actors == set(flows.ROLES), actors


def test_every_recorded_call_is_allowed(proved):
    outcome = proved["outcome"]
    assert not outcome.failures, "\n".join(outcome.failures)
    assert outcome.allowed  # the proof decided something


def test_the_known_implied_kms_calls_are_proven(proved):
    implied = {(actor, r.action, r.implied_by.split(" ")[0]) for actor, r, _ in proved["outcome"].allowed if r.key}
    assert {("instance", "kms:GenerateDataKey", "s3"), ("instance", "kms:Decrypt", "s3"),
            ("instance", "kms:GenerateDataKey", "sns"), ("instance", "kms:Decrypt", "sns"),
            ("instance", "kms:Decrypt", "secretsmanager")} <= implied, implied


def test_the_expected_denials_are_still_denied(proved):
    assert len(proved["outcome"].expected_denials) == len(EXPECTED), proved["outcome"].expected_denials


def _without(proof_world, role: str, policy: str, change):
    """Put the role's policy back with ``change(doc)`` applied; returns the original to restore."""
    iam = proof_world.client("iam")
    original = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    changed = change(json.loads(json.dumps(original)))
    iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(changed))
    return original


def _restore(proof_world, role, policy, original):
    proof_world.client("iam").put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(original))


def _prove_again(proved):
    return Proof(proved["world"], flows.ROLES, EXPECTED).check(proved["recorder"].calls).failures


def test_a_missing_batch_get_item_fails_the_proof_naming_actor_action_resource(proved):
    world, role = proved["world"], naming.role(flows.STACK, "instance")

    def drop_batch_get(doc):
        for statement in doc["Statement"]:
            if statement["Sid"] == "TokenTable":
                statement["Action"].remove("dynamodb:BatchGetItem")
        return doc
    original = _without(world, role, "app", drop_batch_get)
    try:
        failures = _prove_again(proved)
    finally:
        _restore(world, role, "app", original)
    table = f"arn:aws:dynamodb:{flows.REGION}:{flows.ACCOUNT}:table/{naming.token_table(flows.STACK)}"
    assert failures == [f"instance: dynamodb:BatchGetItem on {table} is not allowed (no statement allows)"]


def test_a_missing_secret_key_decrypt_fails_the_proof_naming_actor_action_resource(proved):
    world, role = proved["world"], naming.role(flows.STACK, "instance")
    rds_key = flows.outputs("data")["rds-key-arn"]

    def drop_decrypt(doc):
        doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "DatabaseSecretKeyThroughSecretsManager"]
        return doc
    original = _without(world, role, "app", drop_decrypt)
    try:
        failures = _prove_again(proved)
    finally:
        _restore(world, role, "app", original)
    assert failures == [f"instance: kms:Decrypt on {rds_key} is not allowed (the key policy delegates to IAM, "
                        "and no statement allows) [implied by secretsmanager GetSecretValue]"]


def test_the_master_database_secret_is_not_readable_by_the_instance(proved):
    from provisioning.permissions.requests import Request

    proof = proved["proof"]
    master = (f"arn:aws:secretsmanager:{flows.REGION}:{flows.ACCOUNT}:secret:"
              f"{naming.db_secret(flows.STACK, 'master')}-AbCdEf")
    app = f"arn:aws:secretsmanager:{flows.REGION}:{flows.ACCOUNT}:secret:{naming.db_secret(flows.STACK, 'app')}-AbCdEf"
    assert not proof.decide("instance", Request("secretsmanager:GetSecretValue", master)).allowed
    assert proof.decide("instance", Request("secretsmanager:GetSecretValue", app)).allowed


def test_ses_in_the_sandbox_needs_the_recipients_identity(proved):
    """The Lambda's send is authorised on the recipient's identity as well (the sandbox): the
    statement's resources must cover it, the From address stays fixed by the condition."""
    sends = [r for actor, r, _ in proved["outcome"].allowed if actor == "lambda" and r.action == "ses:SendEmail"]
    assert {r.resource.rsplit("/", 1)[-1] for r in sends} == {"dev.example.com", flows.EMAIL}
    proof = proved["proof"]
    forged = type(sends[0])("ses:SendEmail", sends[0].resource,
                            {**sends[0].context, "ses:FromAddress": "x@evil.example"})
    assert not proof.decide("lambda", forged).allowed


def test_least_privilege_figure(proved, capsys):
    unused = proved["proof"].unused(proved["outcome"])
    lines = []
    unexplained = {}
    for actor, rows in sorted(unused.items()):
        lines.append(f"{actor} ({flows.ROLES[actor]}): {len(rows)} granted action(s) never used offline")
        for row in rows:
            known = UNPROVEN_OFFLINE.get(actor, {})
            why = known.get(row) or known.get(row.split(": ", 1)[0])
            lines.append(f"  {row}" + (f"  [unproven offline: {why}]" if why else ""))
            if not why:
                unexplained.setdefault(actor, []).append(row)
    lines += [f"expected denial: {d}" for d in proved["outcome"].expected_denials]
    flows_seen = {}
    for call in proved["recorder"].calls:
        flows_seen.setdefault(call.flow, set()).add(f"{call.service}:{call.operation}")
    lines += [f"recorded in {flow}: {', '.join(sorted(ops))}" for flow, ops in flows_seen.items()]
    report = "\n".join(lines)
    var = Path(__file__).resolve().parents[2] / "var"
    var.mkdir(exist_ok=True)
    (var / "least-privilege.txt").write_text(report + "\n")
    with capsys.disabled():
        print("\n--- permission proof: granted but never used ---\n" + report)
    assert not unexplained, json.dumps(unexplained, indent=1)


# GitHub's side (each workflow job may assume exactly its role) is deploy/tests/test_github_oidc.py,
# which builds the jobs' claims from the workflow files with GitHub's subject rules.


def test_the_posture_checks_pass_on_the_whole_stack(proved):
    """Every role of the stack (the pipeline's too): no wildcard action, Resource "*" only where
    AWS cannot scope."""
    from provisioning import posture

    problems = posture.check_stack(make_context(proved["config"]))
    assert [p for p in problems if "not encrypted" not in p] == []  # moto's baked images: test_posture


def test_ci_may_switch_only_its_own_groups_health_check(proved):
    """deploy's ELB health-check switch (helper edge): the group's real ARN, another group's not."""
    from provisioning.permissions.requests import Request

    asg = boto3.client("autoscaling", region_name=flows.REGION)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[naming.auto_scaling_group(flows.STACK)])[
        "AutoScalingGroups"]
    proof, other = proved["proof"], group["AutoScalingGroupARN"].replace("cloudsite-dev-app", "someone-elses")
    assert proof.decide("ci", Request("autoscaling:UpdateAutoScalingGroup", group["AutoScalingGroupARN"])).allowed
    assert not proof.decide("ci", Request("autoscaling:UpdateAutoScalingGroup", other)).allowed
    assert proof.decide("ci", Request("autoscaling:DescribeAutoScalingGroups", "*")).allowed


def test_the_tls_only_bucket_policy_of_a_real_stack_denies_none_of_the_calls(proved):
    """A real stack's buckets carry the TLS-only Deny (``[data] tls_only_bucket_policy``, off here:
    moto would answer 403 to every object call). Put on both buckets after the flows, as the data
    layer writes it, and read back: every recorded S3 request still passes (it is made over TLS)."""
    from provisioning.layers.data import Bucket

    s3, data = boto3.client("s3", region_name=flows.REGION), flows.outputs("data")
    recipe = Bucket("app", versioned=False, tls_only=True, abort_days=7, noncurrent_days=30)
    ctx = make_context(proved["config"])
    for bucket in (data["app-bucket"], data["deploy-bucket"]):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(recipe.policy(ctx, bucket)))
    try:
        outcome = Proof(proved["world"], flows.ROLES, EXPECTED).check(proved["recorder"].calls)
        s3_requests = [r for _, r, _ in outcome.allowed if r.action.startswith("s3:")]
    finally:
        for bucket in (data["app-bucket"], data["deploy-bucket"]):
            s3.delete_bucket_policy(Bucket=bucket)
    assert outcome.failures == [] and s3_requests


def test_the_image_role_passes_only_the_builder_role_only_to_ec2_and_cannot_change_it(proved):
    from provisioning.permissions.requests import Request

    proof = proved["proof"]
    role = lambda purpose: f"arn:aws:iam::{flows.ACCOUNT}:role/{naming.role(flows.STACK, purpose)}"  # noqa: E731
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    assert proof.decide("image", Request("iam:PassRole", role("image-builder"), to_ec2)).allowed
    assert not proof.decide("image", Request("iam:PassRole", role("image-builder"),
                                             {"iam:PassedToService": "lambda.amazonaws.com"})).allowed
    assert not proof.decide("image", Request("iam:PassRole", role("instance"), to_ec2)).allowed
    for action in ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"):
        assert not proof.decide("image", Request(action, role("image-builder"))).allowed, action
    ebs = {(r.action, r.implied_by) for actor, r, _ in proved["outcome"].allowed if actor == "image" and r.key}
    assert ("kms:CreateGrant", "ec2 RunInstances") in ebs  # the builder's encrypted root volume, via EC2
