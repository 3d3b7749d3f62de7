"""What the pipeline layer needs from the data and compute layers and from the account, made
directly in moto: the deploy bucket, the token table, the domain's public hosted zone, and an auto
scaling group with its target group. (Once the data and compute layers are merged, their recipes
are the pipeline's dependencies; these stand-ins only make the names exist.)"""
from __future__ import annotations

import contextlib

import boto3
from moto import mock_aws

from provisioning import naming

ACCOUNT = "123456789012"
REGION = "us-east-1"


def make_prerequisites(stack: str = "dev", domain: str | None = None, region: str = REGION) -> dict:
    domain = domain or f"{stack}.example.com"
    s3 = boto3.client("s3", region_name=region)
    bucket = naming.bucket(stack, "deploy", ACCOUNT, region)
    s3.create_bucket(Bucket=bucket)
    boto3.client("dynamodb", region_name=region).create_table(
        TableName=naming.token_table(stack), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "token", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "token", "KeyType": "HASH"}])
    zone = boto3.client("route53", region_name=region).create_hosted_zone(
        Name=domain.split(".", 1)[1] if domain.count(".") > 1 else domain, CallerReference=f"zone-{stack}")
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    target_group = boto3.client("elbv2", region_name=region).create_target_group(
        Name=naming.target_group(stack), Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0]
    ec2.create_launch_template(LaunchTemplateName=naming.launch_template(stack),
                               LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.small"})
    boto3.client("autoscaling", region_name=region).create_auto_scaling_group(
        AutoScalingGroupName=naming.auto_scaling_group(stack),
        LaunchTemplate={"LaunchTemplateName": naming.launch_template(stack)}, MinSize=0, MaxSize=1,
        AvailabilityZones=[f"{region}a"], TargetGroupARNs=[target_group["TargetGroupArn"]])
    return {"bucket": bucket, "zone_id": zone["HostedZone"]["Id"].rsplit("/", 1)[-1],
            "target_group_arn": target_group["TargetGroupArn"]}


@contextlib.contextmanager
def aws_with_prerequisites(stack: str = "dev"):
    """``mock_aws`` with the prerequisites made: the ``mock`` of check_crash_resume."""
    with mock_aws():
        make_prerequisites(stack)
        yield
