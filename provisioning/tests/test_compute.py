"""The compute layer against moto: create as configured, re-run, drift per recipe, plan, teardown."""
import base64
import json

import pytest

from devkit.testing import engine_for, make_context, tagged_with_stack
from provisioning.calls import CallCounter, CallHook
from provisioning.context import RunOptions
from provisioning.engine import EngineFailed
from provisioning.layers import compute

NAMES = {"compute.role", "compute.instance-profile", "compute.log-group.app", "compute.log-group.worker",
         "compute.agent-config", "compute.launch-template", "compute.target-group", "compute.load-balancer",
         "compute.listener.https", "compute.listener.http", "compute.hosted-zone", "compute.certificate",
         "compute.certificate-validation", "compute.dns.alias", "compute.asg", "compute.scaling-policy",
         "compute.alarm.lb-5xx", "compute.alarm.target-5xx", "compute.alarm.unhealthy-hosts", "compute.outputs"}


def apply(config, hooks=(), **kwargs):
    ctx = make_context(config, hooks=hooks, **kwargs)
    return {r.name: r for r in engine_for(ctx, ["compute"]).apply()}


def status(config):
    return {r.name: r for r in engine_for(make_context(config), ["compute"]).status()}


@pytest.fixture
def base(config, prerequisites):
    engine_for(make_context(config), ["image"]).apply()


@pytest.fixture
def built(config, base):
    return apply(config)


def test_first_apply_creates_every_resource_as_configured(built, ctx, config):
    assert set(built) == NAMES
    assert {n for n, r in built.items() if r.action != "create"} == {"compute.hosted-zone"}  # found by name
    ec2, elbv2 = ctx.client("ec2"), ctx.client("elbv2")

    template = ec2.describe_launch_template_versions(LaunchTemplateId=built["compute.launch-template"].id,
                                                     Versions=["$Default"])["LaunchTemplateVersions"][0]
    data = template["LaunchTemplateData"]
    ami = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
    assert data["ImageId"] == ami
    assert (data["MetadataOptions"]["HttpTokens"] == "required"
            and data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1)
    (root,) = data["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] and root["Ebs"]["VolumeType"] == "gp3"
    assert data["IamInstanceProfile"]["Arn"].endswith("instance-profile/cloudsite-dev-instance")
    app_sg = ec2.describe_security_groups(Filters=ctx.tag_filters("network.sg.app"))["SecurityGroups"][0]["GroupId"]
    assert data["SecurityGroupIds"] == [app_sg]
    user_data = base64.b64decode(data["UserData"]).decode()
    assert "ssm:/cloudsite/dev/config/cloudwatch-agent" in user_data
    assert "-m deploy.render_env --stack \"$STACK\"" in user_data  # the hook's own renderer
    assert "--output /etc/cloudsite/env --owner cloudsite" in user_data  # mode 0600, see render_env
    assert "CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS" not in user_data  # the instance test's switch only

    lb = elbv2.describe_load_balancers(Names=["cloudsite-dev-alb"])["LoadBalancers"][0]
    public = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[
        {"Name": "tag:cloudsite:resource", "Values": [f"network.subnet.public-{i}" for i in (1, 2, 3)]}])["Subnets"]]
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(public)
    lb_sg = ec2.describe_security_groups(Filters=ctx.tag_filters("network.sg.lb"))["SecurityGroups"][0]["GroupId"]
    assert lb["SecurityGroups"] == [lb_sg] and lb["Scheme"] == "internet-facing"

    group = elbv2.describe_target_groups(Names=["cloudsite-dev-app"])["TargetGroups"][0]
    assert (group["Port"], group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == (8000, "/healthz", "200")
    listeners = {li["Port"]: li for li in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[443]["SslPolicy"] == compute.TLS_POLICY
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    cert = built["compute.certificate"].id
    assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [cert]
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"

    acm = ctx.client("acm").describe_certificate(CertificateArn=cert)["Certificate"]
    assert acm["Status"] == "ISSUED" and acm["DomainName"] == "dev.example.com"
    zone = built["compute.hosted-zone"].id
    records = {(r["Name"], r["Type"]): r for r in ctx.client("route53").list_resource_record_sets(
        HostedZoneId=zone)["ResourceRecordSets"]}
    validation = acm["DomainValidationOptions"][0]["ResourceRecord"]
    assert (validation["Name"], "CNAME") in records
    alias = records[("dev.example.com.", "A")]["AliasTarget"]
    assert alias["DNSName"].rstrip(".").lower() == lb["DNSName"].lower()

    asg = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["cloudsite-dev-app"])["AutoScalingGroups"][0]
    assert (asg["MinSize"], asg["DesiredCapacity"], asg["MaxSize"]) == (1, 1, 2)
    # EC2 until a deployment has succeeded (manage.py deploy switches it to ELB): see test below
    assert asg["HealthCheckType"] == "EC2" and asg["TargetGroupARNs"] == [group["TargetGroupArn"]]
    assert asg["HealthCheckGracePeriod"] == 300
    assert sorted(asg["VPCZoneIdentifier"].split(",")) == sorted(public)
    assert asg["LaunchTemplate"]["Version"] == "$Default"
    assert {t["Key"]: t["PropagateAtLaunch"] for t in asg["Tags"]}["cloudsite:stack"] is True
    policy = ctx.client("autoscaling").describe_policies(AutoScalingGroupName="cloudsite-dev-app")["ScalingPolicies"][0]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingConfiguration"]["TargetValue"] == 50.0

    logs = {g["logGroupName"]: g
            for g in ctx.client("logs").describe_log_groups(logGroupNamePrefix="/cloudsite/dev/")["logGroups"]}
    assert {n: g.get("retentionInDays") for n, g in logs.items()} == {"/cloudsite/dev/app": 30,
                                                                       "/cloudsite/dev/worker": 30}
    agent = json.loads(ctx.client("ssm").get_parameter(
        Name="/cloudsite/dev/config/cloudwatch-agent")["Parameter"]["Value"])
    from deploy.cloudwatch import render_agent_config
    assert agent == render_agent_config("dev")

    alarms = {a["AlarmName"]: a
              for a in ctx.client("cloudwatch").describe_alarms(AlarmNamePrefix="cloudsite-dev-")["MetricAlarms"]}
    assert alarms["cloudsite-dev-lb-5xx"]["MetricName"] == "HTTPCode_ELB_5XX_Count"
    assert alarms["cloudsite-dev-target-5xx"]["MetricName"] == "HTTPCode_Target_5XX_Count"
    unhealthy = alarms["cloudsite-dev-unhealthy-hosts"]
    assert unhealthy["MetricName"] == "UnHealthyHostCount"
    assert {d["Name"] for d in unhealthy["Dimensions"]} == {"TargetGroup", "LoadBalancer"}
    assert alarms["cloudsite-dev-lb-5xx"]["Dimensions"][0]["Value"] == lb["LoadBalancerArn"].split(":loadbalancer/")[1]

    pages = ctx.client("ssm").get_paginator("get_parameters_by_path").paginate(Path="/cloudsite/dev/compute/")
    params = {p["Name"].rsplit("/", 1)[1]: p["Value"] for page in pages for p in page["Parameters"]}
    assert params["load-balancer-dns"] == lb["DNSName"] and params["auto-scaling-group"] == "cloudsite-dev-app"
    assert params["url"] == "https://dev.example.com/"


def test_instance_policy_names_this_stacks_arns(built, ctx):
    iam = ctx.client("iam")
    role = "cloudsite-dev-instance"
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    docs = {n: iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=role)["PolicyNames"]}
    statements = {s["Sid"]: s for doc in docs.values() for s in doc["Statement"]}
    assert statements["AppBucketObjects"]["Resource"] == ["arn:aws:s3:::cloudsite-dev-app-123456789012-us-east-1/*"]
    data = {p["Name"].rsplit("/", 1)[1]: p["Value"] for page in ctx.client("ssm").get_paginator(
        "get_parameters_by_path").paginate(Path="/cloudsite/dev/data/") for p in page["Parameters"]}
    # the app user's secret (Secrets Manager's six random characters), never the master's
    assert statements["ReadDatabaseSecret"]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:cloudsite/dev/db-app-??????"]
    assert statements["DatabaseSecretKeyThroughSecretsManager"]["Resource"] == [data["rds-key-arn"]]
    assert statements["DatabaseSecretKeyThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    assert "dynamodb:BatchGetItem" in statements["TokenTable"]["Action"]
    assert statements["BucketKey"]["Resource"] == [data["s3-key-arn"]]
    assert statements["PublishVerification"]["Resource"] == [
        "arn:aws:sns:us-east-1:123456789012:cloudsite-dev-verification"]
    assert statements["CeleryQueue"]["Resource"] == ["arn:aws:sqs:us-east-1:123456789012:cloudsite-dev-celery"]
    assert statements["TokenTable"]["Resource"] == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/cloudsite-dev-verification-tokens"]
    assert statements["ReadOwnParameters"]["Resource"] == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/cloudsite/dev",
        "arn:aws:ssm:us-east-1:123456789012:parameter/cloudsite/dev/*"]
    assert statements["TopicKeyThroughSns"]["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": "alias/cloudsite/dev/sns"}
    assert statements["StackMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "cloudsite/dev"}}
    for statement in statements.values():
        assert all(a != "*" and not a.endswith(":*") for a in statement["Action"])


def test_rerun_makes_no_mutating_call(built, config):
    counter = CallCounter()
    results = apply(config, hooks=[counter])
    assert {r.action for r in results.values()} == {"no-op"}
    assert counter.mutating == 0, counter.mutating_calls()
    assert {r.action for r in status(config).values()} == {"ok"}


def test_plan_on_an_empty_stack_mutates_nothing(config, base):
    counter = CallCounter()
    results = apply(config, hooks=[counter], dry_run=True)
    assert {r.action for r in results.values()} == {"create", "no-op"} and counter.mutating == 0
    assert results["compute.hosted-zone"].action == "no-op"  # it exists: found by name


def test_compute_needs_the_image(config, prerequisites):
    with pytest.raises(EngineFailed) as failed:
        apply(config)
    assert "missing; run provision_image first" in str(failed.value)


def drift_role(ctx):
    ctx.client("iam").put_role_policy(RoleName="cloudsite-dev-instance", PolicyName="extra", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))


def drift_profile(ctx):
    ctx.client("iam").remove_role_from_instance_profile(InstanceProfileName="cloudsite-dev-instance",
                                                        RoleName="cloudsite-dev-instance")


def drift_log_group(ctx):
    ctx.client("logs").put_retention_policy(logGroupName="/cloudsite/dev/app", retentionInDays=1)


def drift_agent_config(ctx):
    ctx.client("ssm").put_parameter(Name="/cloudsite/dev/config/cloudwatch-agent", Value="{}", Overwrite=True,
                                    Type="String")


def drift_launch_template(ctx):
    ec2 = ctx.client("ec2")
    template = ec2.describe_launch_templates(LaunchTemplateNames=["cloudsite-dev-app"])["LaunchTemplates"][0]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"], Versions=["1"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    data = {k: v for k, v in data.items() if k != "TagSpecifications"}
    data["MetadataOptions"] = {"HttpTokens": "optional"}
    version = ec2.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"], LaunchTemplateData=data)["LaunchTemplateVersion"]
    ec2.modify_launch_template(LaunchTemplateId=template["LaunchTemplateId"],
                               DefaultVersion=str(version["VersionNumber"]))


def drift_target_group(ctx):
    elbv2 = ctx.client("elbv2")
    arn = elbv2.describe_target_groups(Names=["cloudsite-dev-app"])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group(TargetGroupArn=arn, HealthCheckPath="/")


def _listener(ctx, port):
    elbv2 = ctx.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=["cloudsite-dev-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    return next(li for li in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] if li["Port"] == port)


def drift_http_listener(ctx):
    elbv2 = ctx.client("elbv2")
    tg = elbv2.describe_target_groups(Names=["cloudsite-dev-app"])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_listener(ListenerArn=_listener(ctx, 80)["ListenerArn"],
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])


def drift_https_listener(ctx):
    ctx.client("elbv2").modify_listener(ListenerArn=_listener(ctx, 443)["ListenerArn"],
                                        SslPolicy="ELBSecurityPolicy-2016-08")


def drift_load_balancer(ctx):
    elbv2, ec2 = ctx.client("elbv2"), ctx.client("ec2")
    lb = elbv2.describe_load_balancers(Names=["cloudsite-dev-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    app = ec2.describe_security_groups(Filters=ctx.tag_filters("network.sg.app"))["SecurityGroups"][0]["GroupId"]
    elbv2.set_security_groups(LoadBalancerArn=lb, SecurityGroups=[app])


def drift_asg(ctx):
    ctx.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="cloudsite-dev-app", MaxSize=7,
                                                        HealthCheckGracePeriod=10)


def drift_scaling_policy(ctx):
    ctx.client("autoscaling").put_scaling_policy(
        AutoScalingGroupName="cloudsite-dev-app", PolicyName="cloudsite-dev-cpu-target",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 90.0})


def drift_alarm(ctx):
    cloudwatch = ctx.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=["cloudsite-dev-unhealthy-hosts"])["MetricAlarms"][0]
    keys = ("Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods", "ComparisonOperator")
    cloudwatch.put_metric_alarm(AlarmName=alarm["AlarmName"], Threshold=99.0, **{k: alarm[k] for k in keys})


def drift_alias(ctx):
    zone = ctx.client("route53").list_hosted_zones_by_name(DNSName="dev.example.com.")["HostedZones"][0]["Id"]
    record = [r for r in ctx.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
              if r["Type"] == "A"][0]
    ctx.client("route53").change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": record["Name"], "Type": "A", "AliasTarget": {
            **record["AliasTarget"], "DNSName": "elsewhere.example.net."}}}]})


@pytest.mark.parametrize("name, change", [
    ("compute.role", drift_role), ("compute.instance-profile", drift_profile),
    ("compute.log-group.app", drift_log_group), ("compute.agent-config", drift_agent_config),
    ("compute.launch-template", drift_launch_template), ("compute.target-group", drift_target_group),
    ("compute.listener.http", drift_http_listener), ("compute.listener.https", drift_https_listener),
    ("compute.load-balancer", drift_load_balancer), ("compute.asg", drift_asg),
    ("compute.scaling-policy", drift_scaling_policy), ("compute.alarm.unhealthy-hosts", drift_alarm),
    ("compute.dns.alias", drift_alias),
])
def test_drift_is_reported_and_reconciled(built, config, ctx, name, change):
    change(ctx)
    found = status(config)
    assert found[name].action == "drifted", found[name]
    results = apply(config)
    assert results[name].action == "update"
    counter = CallCounter()
    assert {r.action for r in apply(config, hooks=[counter]).values()} == {"no-op"}
    assert counter.mutating == 0


def test_a_new_image_makes_a_new_template_version_and_moves_the_default(built, config, ctx):
    from provisioning import layers
    from provisioning.engine import Engine

    recipes = layers.resources(config, ["image"])
    Engine(make_context(config, options=RunOptions(rebake=True)), recipes, known=layers.resources(config)).apply()
    results = apply(config)
    assert results["compute.launch-template"].action == "update"
    template = ctx.client("ec2").describe_launch_templates(
        LaunchTemplateNames=["cloudsite-dev-app"])["LaunchTemplates"][0]
    assert template["DefaultVersionNumber"] == template["LatestVersionNumber"] == 2
    newest = max(ctx.client("ec2").describe_images(Owners=["self"])["Images"], key=lambda i: i["CreationDate"])
    assert results["compute.launch-template"].outputs["version"] == 2
    data = ctx.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"],
        Versions=["$Default"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == results["image.ami"].id if "image.ami" in results else newest["ImageId"]


def test_a_missing_zone_is_one_line_saying_what_to_do(config, base, ctx):
    route53 = ctx.client("route53")
    for zone in route53.list_hosted_zones()["HostedZones"]:
        route53.delete_hosted_zone(Id=zone["Id"])
    with pytest.raises(EngineFailed) as failed:
        apply(config)
    assert "no public Route53 hosted zone dev.example.com" in str(failed.value)
    assert "create_zone = true" in str(failed.value)


def test_create_zone_makes_the_zone_and_teardown_removes_only_an_own_zone(config, base, ctx, stacks_dir):
    from provisioning.config import load_file

    route53 = ctx.client("route53")
    for zone in route53.list_hosted_zones()["HostedZones"]:
        route53.delete_hosted_zone(Id=zone["Id"])
    path = stacks_dir / "dev.toml"
    path.write_text(path.read_text() + "\n[dns]\ncreate_zone = true\n")
    config = load_file(path)
    results = apply(config)
    assert results["compute.hosted-zone"].action == "create"
    assert {r.action for r in apply(config).values()} == {"no-op"}
    engine_for(make_context(config), ["compute"]).teardown()
    assert route53.list_hosted_zones()["HostedZones"] == []


def test_teardown_scales_the_group_to_zero_first_and_removes_everything(built, config, ctx, zone):
    class Spy(CallHook):
        calls = []

        def before(self, service, operation, params):
            self.calls.append((operation, params))
    spy = Spy()
    results = engine_for(make_context(config, hooks=[spy]), ["compute"]).teardown()
    assert {r.action for r in results} == {"delete"}
    operations = [op for op, _ in spy.calls]
    scale = operations.index("UpdateAutoScalingGroup")
    assert spy.calls[scale][1]["DesiredCapacity"] == 0 and scale < operations.index("DeleteAutoScalingGroup")
    assert {r.action for r in status(config).values()} == {"missing", "ok"}
    assert status(config)["compute.hosted-zone"].action == "ok"  # not this stack's: kept
    remaining = tagged_with_stack(ctx)
    assert "ec2.LaunchTemplates" not in remaining
    assert ctx.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert ctx.client("iam").list_instance_profiles()["InstanceProfiles"][0]["InstanceProfileName"] == \
        "cloudsite-dev-image-builder"
    records = ctx.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert {r["Type"] for r in records} == {"NS", "SOA"}


def test_the_scaling_policy_reports_its_alarms(built, config):
    outputs = status(config)["compute.scaling-policy"].outputs
    assert "alarms" in outputs  # AWS creates a high and a low alarm; moto none ("-")


def group_health(ctx):
    group = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["cloudsite-dev-app"])["AutoScalingGroups"][0]
    return group["HealthCheckType"], group["HealthCheckGracePeriod"]


def test_elb_health_checks_after_a_deployment_are_no_drift_and_never_flipped_back(built, config, ctx):
    # what manage.py deploy does after the first successful deployment
    ctx.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="cloudsite-dev-app",
                                                        HealthCheckType="ELB", HealthCheckGracePeriod=300)
    assert status(config)["compute.asg"].action == "ok"
    ctx.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="cloudsite-dev-app", MaxSize=7)
    assert apply(config)["compute.asg"].action == "update"
    assert group_health(ctx) == ("ELB", 300)
    assert status(config)["compute.asg"].action == "ok"


def test_a_health_check_type_of_neither_kind_is_drift_and_goes_back_to_ec2(built, config, ctx):
    ctx.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="cloudsite-dev-app",
                                                        HealthCheckType="VPC_LATTICE")
    found = status(config)["compute.asg"]
    assert found.action == "drifted"
    assert apply(config)["compute.asg"].action == "update"
    assert group_health(ctx) == ("EC2", 300)
