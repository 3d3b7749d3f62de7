"""Posture checks read resources back from AWS; each must pass on the stack as built and fail on a
deliberately bad resource."""
import json

import pytest

from devkit.testing import engine_for, make_context
from provisioning import posture


@pytest.fixture
def built(config, prerequisites):
    engine_for(make_context(config), ["image", "compute"]).apply()


def group(ctx, logical):
    return ctx.client("ec2").describe_security_groups(Filters=ctx.tag_filters(logical))["SecurityGroups"][0]["GroupId"]


def test_the_stack_as_built_passes_every_check(built, ctx):
    assert posture.check_stack(ctx) == []


def test_ssh_on_the_app_group_fails(built, ctx):
    app = group(ctx, "network.sg.app")
    lb = group(ctx, "network.sg.lb")
    ctx.client("ec2").authorize_security_group_ingress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": lb}]}])
    problems = posture.check_app_group(ctx.client("ec2"), app, 8000)
    assert problems and "SSH" in problems[0]
    assert posture.check_stack(ctx)


def test_another_port_on_the_app_group_fails(built, ctx):
    app, lb = group(ctx, "network.sg.app"), group(ctx, "network.sg.lb")
    ctx.client("ec2").authorize_security_group_ingress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "UserIdGroupPairs": [{"GroupId": lb}]}])
    assert posture.check_app_group(ctx.client("ec2"), app, 8000)


@pytest.mark.parametrize("logical, port", [("network.sg.app", 8000), ("network.sg.db", 3306)])
def test_a_port_open_to_the_world_fails(built, ctx, logical, port):
    sg = group(ctx, logical)
    ctx.client("ec2").authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert "open to the world" in posture.check_not_open_to_world(ctx.client("ec2"), sg)[0]
    assert any("world" in p for p in posture.check_stack(ctx))


def bad_template(ctx, metadata, encrypted):
    return ctx.client("ec2").create_launch_template(LaunchTemplateName="bad", LaunchTemplateData={
        "ImageId": "ami-12345678", "MetadataOptions": metadata,
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": encrypted}}],
    })["LaunchTemplate"]["LaunchTemplateId"]


def test_imdsv1_fails(built, ctx):
    template = bad_template(ctx, {"HttpTokens": "optional"}, True)
    assert posture.check_launch_template(ctx.client("ec2"), template) == [
        f"{template}: IMDSv1 allowed (HttpTokens optional)"]


def test_a_high_hop_limit_fails(built, ctx):
    template = bad_template(ctx, {"HttpTokens": "required", "HttpPutResponseHopLimit": 5}, True)
    assert "hop limit" in posture.check_launch_template(ctx.client("ec2"), template)[0]


def test_an_unencrypted_volume_fails(built, ctx):
    template = bad_template(ctx, {"HttpTokens": "required"}, False)
    assert "not encrypted" in posture.check_launch_template(ctx.client("ec2"), template)[0]
    volume = ctx.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    assert posture.check_volumes_encrypted(ctx.client("ec2"), [volume]) == [f"{volume}: not encrypted"]


@pytest.mark.parametrize("statement, expected", [
    ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}, "wildcard action s3:*"),
    ({"Effect": "Allow", "Action": ["*"], "Resource": "arn:aws:s3:::b/*"}, "wildcard action *"),
    ({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}, "wildcard action s3:Get*"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, 'Resource "*"'),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
])
def test_a_wildcard_statement_fails(built, ctx, statement, expected):
    iam = ctx.client("iam")
    iam.put_role_policy(RoleName="cloudsite-dev-instance", PolicyName="bad", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "Bad", **statement}]}))
    problems = posture.check_role(iam, "cloudsite-dev-instance")
    assert len(problems) == 1 and expected in problems[0]


def test_an_attached_managed_policy_with_wildcards_fails(built, ctx):
    iam = ctx.client("iam")
    arn = iam.create_policy(PolicyName="too-much", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="cloudsite-dev-instance", PolicyArn=arn)
    assert any("too-much" in p and "wildcard action *" in p for p in posture.check_role(iam, "cloudsite-dev-instance"))


def _lb(ctx):
    return ctx.client("elbv2").describe_load_balancers(
        Names=["cloudsite-dev-alb"])["LoadBalancers"][0]["LoadBalancerArn"]


def _listener(ctx, port):
    return next(li for li in ctx.client("elbv2").describe_listeners(LoadBalancerArn=_lb(ctx))["Listeners"]
                if li["Port"] == port)["ListenerArn"]


def test_an_http_listener_that_forwards_fails(built, ctx):
    elbv2 = ctx.client("elbv2")
    tg = elbv2.describe_target_groups(Names=["cloudsite-dev-app"])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_listener(ListenerArn=_listener(ctx, 80), DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert posture.check_listeners(elbv2, _lb(ctx)) == ["listener HTTP:80: forward instead of a redirect to HTTPS"]


def test_a_tls_policy_below_1_2_fails(built, ctx):
    elbv2 = ctx.client("elbv2")
    elbv2.modify_listener(ListenerArn=_listener(ctx, 443), SslPolicy="ELBSecurityPolicy-2016-08")
    (problem,) = posture.check_listeners(elbv2, _lb(ctx))
    assert "TLSv1" in problem and "TLS 1.2 minimum" in problem


def test_baked_images_on_moto_are_not_encrypted_and_the_check_says_so(built, ctx):
    # moto snapshots every image from a fresh unencrypted volume; on AWS the encrypted builder
    # volume makes an encrypted snapshot. The check reads what is there.
    ec2 = ctx.client("ec2")
    image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
    assert "not encrypted" in posture.check_image_encrypted(ec2, image)[0]


@pytest.mark.parametrize("purpose", ["app", "deploy"])
def test_an_unversioned_bucket_fails(built, ctx, purpose):
    from provisioning import naming

    s3, name = ctx.client("s3"), naming.bucket("dev", purpose, ctx.account_id, ctx.region)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket_lifecycle(Bucket=name)
    assert posture.check_bucket_versioned(s3, name) == [
        f"bucket {name}: versioning is not enabled (a deleted object cannot be recovered)",
        f"bucket {name}: no lifecycle rule expires noncurrent versions"]
    assert len(posture.check_stack(ctx)) == 2
