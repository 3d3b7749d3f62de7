"""The compute layer's inventory (test machinery: counts for crash-resume tests)."""
from __future__ import annotations

from provisioning import naming
from provisioning.outputs import parameter_path


def inventory(ctx) -> dict:
    """Counts of the layer's kinds in the region, tagged or not (crash-resume tests)."""
    ec2, elbv2, iam = ctx.client("ec2"), ctx.client("elbv2"), ctx.client("iam")
    templates = ec2.describe_launch_templates()["LaunchTemplates"]
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    zones = ctx.client("route53").list_hosted_zones()["HostedZones"]
    return {
        "roles": len(iam.list_roles()["Roles"]),
        "role_policies": sum(len(iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"])
                             for r in iam.list_roles()["Roles"]),
        "instance_profiles": len(iam.list_instance_profiles()["InstanceProfiles"]),
        "log_groups": len(ctx.client("logs").describe_log_groups()["logGroups"]),
        "launch_templates": len(templates),
        "launch_template_versions": sum(t["LatestVersionNumber"] for t in templates),
        "target_groups": len(elbv2.describe_target_groups()["TargetGroups"]),
        "load_balancers": len(lbs),
        "listeners": sum(len(elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"])
                         for lb in lbs),
        "certificates": len(ctx.client("acm").list_certificates()["CertificateSummaryList"]),
        "hosted_zones": len(zones),
        "records": sum(len(ctx.client("route53").list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"])
                       for z in zones),
        "auto_scaling_groups": len(ctx.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]),
        "scaling_policies": len(ctx.client("autoscaling").describe_policies()["ScalingPolicies"]),
        "alarms": len(ctx.client("cloudwatch").describe_alarms()["MetricAlarms"]),
        "parameters": sum(len(page["Parameters"]) for page in ctx.client("ssm").get_paginator(
            "get_parameters_by_path").paginate(Path=parameter_path(ctx.stack, "compute"))),
        "agent_config": len(ctx.client("ssm").get_parameters(
            Names=[naming.agent_config_parameter(ctx.stack)])["Parameters"]),
    }
