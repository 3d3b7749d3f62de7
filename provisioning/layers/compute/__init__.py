"""The compute layer (``provision_compute``): IAM, log groups, launch template, load balancer, HTTPS,
DNS, auto scaling and alarms.

* ``compute.role`` / ``compute.instance-profile``: the instance role. Its inline policies are built
  from the stack's outputs (``/cloudsite/<stack>/data/*`` as the ``data.outputs`` recipe holds them)
  and from names (``naming.topic`` / ``naming.queue``: the pipeline layer depends on compute, never
  the reverse). Every statement names this stack's ARNs; ``Resource: "*"`` only for the few actions
  AWS cannot scope (``posture.NO_RESOURCE_LEVEL``). Publishing to the pipeline's KMS-encrypted topic
  is allowed on whichever key carries the alias ``naming.kms_alias(stack, "sns")``
  (``kms:ResourceAliases``), through SNS only (``kms:ViaService``): the pipeline owns that key, and
  this layer must not depend on it.
* ``compute.log-group.app`` / ``.worker``: where the CloudWatch agent ships logs, with a retention;
  ``compute.agent-config``: the agent's configuration in SSM, which instances fetch at boot.
* ``compute.launch-template``: the newest baked AMI (``image.ami``), the instance profile, the app
  group, IMDSv2 only (hop limit 1), an encrypted gp3 root volume, user data that only fetches
  configuration (``deploy.bootstrap.boot_script``). A change makes a new version and moves the
  default; the group launches ``$Default``.
* ``compute.target-group`` (the app port, health checks on ``/healthz``), ``compute.load-balancer``
  (three public subnets, the LB group), ``compute.listener.https`` (443, TLS 1.2+ policy, forwards)
  and ``compute.listener.http`` (80, redirects to HTTPS).
* ``compute.hosted-zone`` (found by name; created only with ``[dns] create_zone = true``),
  ``compute.certificate`` (ACM, DNS validation), ``compute.certificate-validation`` (the validation
  records, then ``certificate_validated`` with a bounded wait), ``compute.dns.alias`` (A alias
  from the domain to the load balancer).
* ``compute.asg``: over the three public subnets, the target group attached, ELB health checks,
  min/desired/max from ``[compute]`` (desired only at creation: afterwards it belongs to scaling);
  teardown scales it to zero and waits before deleting it. ``compute.scaling-policy``: one
  target-tracking policy on average CPU; AWS creates and owns its two alarms (high and low), which
  status reports as the policy's outputs. Target tracking scales in proportion and never fights a
  hand-tuned pair of step policies; it is AWS's recommendation for this kind of load.
* ``compute.alarm.lb-5xx``, ``compute.alarm.target-5xx``, ``compute.alarm.unhealthy-hosts``.
* Outputs under ``/cloudsite/<stack>/compute/``.
"""
from __future__ import annotations

from deploy.cloudwatch import log_group_names
from provisioning import naming
from provisioning.config import StackConfig
from provisioning.layer import Layer
from provisioning.layers.compute.agent_config import AgentConfig
from provisioning.layers.compute.alarms import Alarm
from provisioning.layers.compute.autoscaling import ASG_DRAIN_TIMEOUT, AutoScalingGroup, ScalingPolicy, find_group
from provisioning.layers.compute.certificate import (
    Certificate,
    CertificateValidation,
    certificate_token,
    find_certificate,
)
from provisioning.layers.compute.compare import subset_differs
from provisioning.layers.compute.dns import AliasRecord, HostedZone
from provisioning.layers.compute.instance_role import instance_policies
from provisioning.layers.compute.launch_template import LaunchTemplate
from provisioning.layers.compute.load_balancer import (
    HEALTH_CHECK_PATH,
    TLS_POLICY,
    HttpListener,
    HttpsListener,
    Listener,
    LoadBalancer,
    TargetGroup,
    find_load_balancer,
)
from provisioning.outputs import Parameters
from provisioning.policy import trust
from provisioning.recipe_names import (
    AUTO_SCALING_GROUP,
    CERTIFICATE,
    DATA_OUTPUTS,
    HOSTED_ZONE,
    INSTANCE_PROFILE,
    INSTANCE_ROLE,
    LAUNCH_TEMPLATE,
    LOAD_BALANCER,
    LOG_STREAMS,
    TARGET_GROUP,
    log_group,
)
from provisioning.recipes.log_group import LogGroup
from provisioning.recipes.role import InstanceProfile, Role
from provisioning.resource import Resource

__all__ = ["ASG_DRAIN_TIMEOUT", "CERTIFICATE", "HEALTH_CHECK_PATH", "LAYER", "TLS_POLICY", "AgentConfig", "AliasRecord",
           "Alarm", "AutoScalingGroup", "Certificate", "CertificateValidation", "HostedZone", "HttpListener",
           "HttpsListener", "LaunchTemplate", "Listener", "LoadBalancer", "ScalingPolicy", "TargetGroup", "build",
           "certificate_token", "find_certificate", "find_group", "find_load_balancer", "instance_policies",
           "subset_differs"]


def build(config: StackConfig) -> list[Resource]:
    role = Role(INSTANCE_ROLE, "instance",
                "cloudsite app instances: this stack's parameters, secret, bucket, table, topic, queue, logs",
                trust=lambda ctx: trust("ec2.amazonaws.com"), policies=instance_policies,
                depends_on=(DATA_OUTPUTS,))
    profile = InstanceProfile(INSTANCE_PROFILE, "instance", role)
    logs = [LogGroup(log_group(stream), lambda stack, stream=stream: naming.log_group(stack, stream),
                     config.compute.log_retention_days) for stream in LOG_STREAMS]
    alarms = [
        Alarm("lb-5xx", "the load balancer answers 5xx itself (no healthy target, timeouts)",
              metric="HTTPCode_ELB_5XX_Count", statistic="Sum", threshold=10, periods=1, period=300,
              dimensions=(LOAD_BALANCER,)),
        Alarm("target-5xx", "the app answers 5xx", metric="HTTPCode_Target_5XX_Count", statistic="Sum",
              threshold=10, periods=1, period=300, dimensions=(LOAD_BALANCER,)),
        Alarm("unhealthy-hosts", "an instance fails the /healthz check", metric="UnHealthyHostCount",
              statistic="Maximum", threshold=1, periods=3, period=60, dimensions=(TARGET_GROUP, LOAD_BALANCER)),
    ]
    resources: list[Resource] = [
        role, profile, *logs, AgentConfig(), LaunchTemplate(config), TargetGroup(config.network.app_port),
        LoadBalancer(), HttpsListener(), HttpListener(), HostedZone(config), Certificate(config.domain),
        CertificateValidation(config), AliasRecord(config), AutoScalingGroup(config),
        ScalingPolicy(config.compute.cpu_target), *alarms,
    ]

    def values(deps):
        return {
            "instance-role-arn": deps[INSTANCE_ROLE]["arn"],
            "instance-profile-arn": deps[INSTANCE_PROFILE]["arn"],
            "launch-template-id": deps[LAUNCH_TEMPLATE]["id"],
            "image-id": deps[LAUNCH_TEMPLATE]["data"].get("ImageId", "-"),
            "target-group-arn": deps[TARGET_GROUP]["arn"],
            "load-balancer-arn": deps[LOAD_BALANCER]["arn"],
            "load-balancer-dns": deps[LOAD_BALANCER]["dns"],
            "certificate-arn": deps[CERTIFICATE]["arn"],
            "hosted-zone-id": deps[HOSTED_ZONE]["id"],
            "auto-scaling-group": deps[AUTO_SCALING_GROUP]["id"],
            "url": f"https://{config.domain}/",
            "log-groups": ",".join(log_group_names(config.name)),
        }

    outputs = Parameters("compute", (INSTANCE_ROLE, INSTANCE_PROFILE, LAUNCH_TEMPLATE, TARGET_GROUP, LOAD_BALANCER,
                                     CERTIFICATE, HOSTED_ZONE, AUTO_SCALING_GROUP), values)
    return [*resources, outputs]


LAYER = Layer("compute", build)
