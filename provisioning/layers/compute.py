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

import base64
import hashlib
import json
import time

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, absent_on, error_code, tolerate
from provisioning.layer import Layer
from provisioning.outputs import Parameters, parameter_path
from provisioning.policy import allow, document, trust
from provisioning.recipe_names import (AGENT_CONFIG, ALIAS, AMI, APP_SG, AUTO_SCALING_GROUP, CERTIFICATE,
                                       DATA_OUTPUTS, HOSTED_ZONE, HTTP_LISTENER, HTTPS_LISTENER, INSTANCE_PROFILE,
                                       INSTANCE_ROLE, LAUNCH_TEMPLATE, LB_SG, LOAD_BALANCER, LOG_STREAMS, SCALING,
                                       TARGET_GROUP, VALIDATION, VOLUME, VPC, alarm, log_group, public_subnets)
from provisioning.recipes.log_group import LogGroup
from provisioning.recipes.role import InstanceProfile, Role, retry_profile_propagation
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, wait_until, waiter_config
from provisioning.route53 import change_records, find_public_zone, record_change, record_sets
from deploy.bootstrap import boot_script
from deploy.cloudwatch import log_group_names, render_agent_config

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
HEALTH_CHECK_PATH = "/healthz"
ASG_DRAIN_TIMEOUT = 20 * 60


def subset_differs(have, want) -> bool:
    """True when ``have`` does not hold ``want`` (dict keys of ``want`` only; lists elementwise):
    AWS answers with more fields than were given."""
    if isinstance(want, dict):
        return not isinstance(have, dict) or any(subset_differs(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (not isinstance(have, list) or len(have) != len(want)
                or any(subset_differs(h, w) for h, w in zip(have, want)))
    return have != want


# --- the instance role ---------------------------------------------------------------------
def instance_policies(ctx, deps):
    data = deps.get(DATA_OUTPUTS)
    if not data:
        return None
    out, p, stack = data["values"], ctx.partition, ctx.stack
    needed = ("app-bucket", "deploy-bucket", "s3-key-arn", "rds-key-arn", "token-table")
    if any(not out.get(key) for key in needed):
        return None
    s3 = lambda bucket, suffix="": f"arn:{p}:s3:::{bucket}{suffix}"  # noqa: E731
    parameters = f"parameter/cloudsite/{stack}"
    logs = [ctx.arn("logs", f"log-group:{name}:*") for name in log_group_names(stack)]
    app = document(
        # by path: render_env reads every layer's outputs; one by name: the CloudWatch agent's config
        allow("ReadOwnParameters", ["ssm:GetParameter", "ssm:GetParametersByPath"],
              [ctx.arn("ssm", parameters), ctx.arn("ssm", f"{parameters}/*")]),
        # The app user's secret only, never the master's. Secrets Manager appends "-" and six random
        # characters to a secret's ARN: "-??????" matches exactly that (Secrets Manager User Guide,
        # "Permissions policy examples": "use ?????? to match the six random characters").
        allow("ReadDatabaseSecret", ["secretsmanager:GetSecretValue"],
              [ctx.arn("secretsmanager", f"secret:{naming.db_secret(stack, 'app')}-??????")]),
        # The database secrets are encrypted with the stack's RDS key: GetSecretValue decrypts as the
        # caller, so the caller needs kms:Decrypt on that key, through Secrets Manager only (Secrets
        # Manager User Guide, "Secret encryption and decryption": "kms:ViaService").
        allow("DatabaseSecretKeyThroughSecretsManager", ["kms:Decrypt"], [out["rds-key-arn"]],
              {"StringEquals": {"kms:ViaService": f"secretsmanager.{ctx.region}.amazonaws.com"}}),
        # the pipeline layer's generated DJANGO_SECRET_KEY (the deploy hook renders it into the env file)
        allow("ReadDjangoSecret", ["secretsmanager:GetSecretValue"],
              [ctx.arn("secretsmanager", f"secret:{naming.django_secret(stack)}-??????")]),
        # AbortMultipartUpload: s3transfer aborts a multipart upload that failed part-way
        allow("AppBucketObjects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
              [s3(out["app-bucket"], "/*")]),
        # the storage's exists() is a HeadObject: S3 answers a missing key with 404 only to a caller
        # who may ListBucket, with 403 to others (S3 API reference, HeadObject, "Permissions")
        allow("AppBucketList", ["s3:ListBucket"], [s3(out["app-bucket"])]),
        allow("DeployBundles", ["s3:GetObject", "s3:GetObjectVersion"], [s3(out["deploy-bucket"], "/*")]),
        allow("DeployBucketList", ["s3:ListBucket"], [s3(out["deploy-bucket"])]),
        allow("BucketKey", ["kms:Decrypt", "kms:GenerateDataKey"], [out["s3-key-arn"]]),
        # BatchGetItem: the token store reads a token and its address's newest-token pointer at once
        allow("TokenTable", ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
              [ctx.arn("dynamodb", f"table/{out['token-table']}")]),
        allow("PublishVerification", ["sns:Publish"], [ctx.arn("sns", naming.topic(stack))]),
        allow("TopicKeyThroughSns", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.arn("kms", "key/*")],
              {"ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.kms_alias(stack, "sns")},
               "StringEquals": {"kms:ViaService": f"sns.{ctx.region}.amazonaws.com"}}),
        # kombu's SQS transport with the queue's URL given: no GetQueueUrl; ChangeMessageVisibility
        # when a worker hands back an unacknowledged message (warm shutdown, a rejected task)
        allow("CeleryQueue", ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                              "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
              [ctx.arn("sqs", naming.queue(stack))]),
    )
    agents = document(
        allow("ShipLogs", ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], logs),
        # PutMetricData and the agent's EC2 lookups cannot name a resource: the namespace condition scopes it
        allow("StackMetrics", ["cloudwatch:PutMetricData"], "*",
              {"StringEquals": {"cloudwatch:namespace": f"cloudsite/{stack}"}}),
        allow("AgentLookups", ["ec2:DescribeTags", "ec2:DescribeVolumes"], "*"),
        allow("SessionManagerRegister", ["ssm:UpdateInstanceInformation"], [ctx.arn("ec2", "instance/*")]),
        allow("SessionManagerChannels", ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                         "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"], "*"),
        allow("CodeDeployAgent", ["codedeploy-commands-secure:GetDeploymentSpecification",
                                  "codedeploy-commands-secure:PollHostCommand",
                                  "codedeploy-commands-secure:PutHostCommandAcknowledgement",
                                  "codedeploy-commands-secure:PutHostCommandComplete"], "*"),
    )
    return {"app": app, "agents": agents}


# --- log groups and the agent's configuration ------------------------------------------------
class AgentConfig(Resource):
    name, service, kind = AGENT_CONFIG, "ssm", "SSM parameter"

    def want(self, ctx) -> str:
        return json.dumps(render_agent_config(ctx.stack), sort_keys=True, separators=(",", ":"))

    def find_all(self, ctx, deps):
        name = naming.agent_config_parameter(ctx.stack)
        answer = absent_on(lambda: ctx.client("ssm").get_parameter(Name=name), "ParameterNotFound")
        return [{"id": name, "value": answer["Parameter"]["Value"]}] if answer else []

    def create(self, ctx, deps):
        ssm, name = ctx.client("ssm"), naming.agent_config_parameter(ctx.stack)
        with tolerate("ParameterAlreadyExists"):
            ssm.put_parameter(Name=name, Value=self.want(ctx), Type="String", Tags=ctx.tags(self.name),
                              Description="CloudWatch agent configuration (deploy/cloudwatch.py)")
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        return [] if state["value"] == self.want(ctx) else [Drift("agent configuration", "differs", "rendered")]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("ssm").put_parameter(Name=state["id"], Value=self.want(ctx), Type="String", Overwrite=True)
        return {**state, "value": self.want(ctx)}

    def delete(self, ctx, state):
        with tolerate("ParameterNotFound"):
            ctx.client("ssm").delete_parameter(Name=state["id"])


# --- launch template -------------------------------------------------------------------------
class LaunchTemplate(Resource):
    name, service, kind = LAUNCH_TEMPLATE, "ec2", "launch template"
    depends_on = (AMI, INSTANCE_PROFILE, APP_SG, AGENT_CONFIG, *(log_group(stream) for stream in LOG_STREAMS))

    def __init__(self, config: StackConfig):
        self.config = config

    def find_all(self, ctx, deps):
        ec2, name = ctx.client("ec2"), naming.launch_template(ctx.stack)
        answer = absent_on(lambda: ec2.describe_launch_templates(LaunchTemplateNames=[name]),
                           "InvalidLaunchTemplateName.NotFoundException")
        templates = answer["LaunchTemplates"] if answer else []
        states = []
        for template in templates:
            tags = {t["Key"]: t["Value"] for t in template.get("Tags", [])}
            if tags.get(naming.STACK_TAG) != ctx.stack:
                raise StackError(f"launch template {name} exists without this stack's tags; delete it")
            versions = ec2.describe_launch_template_versions(
                LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default", "$Latest"])["LaunchTemplateVersions"]
            by_number = {v["VersionNumber"]: v["LaunchTemplateData"] for v in versions}
            states.append({"id": template["LaunchTemplateId"], "default": template["DefaultVersionNumber"],
                           "latest": template["LatestVersionNumber"],
                           "data": by_number.get(template["DefaultVersionNumber"], {}),
                           "latest_data": by_number.get(template["LatestVersionNumber"], {})})
        return states

    def want(self, ctx, deps) -> dict:
        ami = deps.get(AMI) or {}
        profile = deps.get(INSTANCE_PROFILE) or {}
        user_data = boot_script(stack=ctx.stack, region=ctx.region, account=ctx.account_id,
                                partition=ctx.partition, domain=self.config.domain)
        return {
            "ImageId": ami.get("id") or planned(AMI),
            "InstanceType": self.config.compute.instance_type,
            "IamInstanceProfile": {"Arn": profile.get("arn") or planned(INSTANCE_PROFILE)},
            "SecurityGroupIds": [dep_id(deps, APP_SG) or planned(APP_SG)],
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": ami.get("root_device", "/dev/xvda"), "Ebs": {
                "VolumeSize": self.config.compute.root_volume_gb, "VolumeType": "gp3", "Encrypted": True,
                "DeleteOnTermination": True}}],
            "Monitoring": {"Enabled": True},
            "UserData": base64.b64encode(user_data.encode()).decode(),
            "TagSpecifications": [{"ResourceType": "volume", "Tags": ctx.tags(VOLUME)}],
        }

    def create(self, ctx, deps):
        ec2 = ctx.client("ec2")
        template = ec2.create_launch_template(
            LaunchTemplateName=naming.launch_template(ctx.stack), LaunchTemplateData=self.want(ctx, deps),
            VersionDescription="provision_compute",
            TagSpecifications=ctx.tag_specifications("launch-template", self.name))["LaunchTemplate"]
        return self.find_all(ctx, deps)[0] if template else {}

    @staticmethod
    def _differs(data: dict, want: dict) -> list[str]:
        # moto copies the template's own tags into its data's TagSpecifications: compare the kinds we give
        kinds = {spec["ResourceType"] for spec in want["TagSpecifications"]}
        data = {**data, "TagSpecifications": [s for s in data.get("TagSpecifications", [])
                                              if s.get("ResourceType") in kinds]}
        return [key for key in want if subset_differs(data.get(key), want[key])]

    def drift(self, ctx, state, deps):
        want = self.want(ctx, deps)
        return [Drift(key, "differs", want[key] if key != "UserData" else "rendered")
                for key in self._differs(state["data"], want)]

    def reconcile(self, ctx, state, drift, deps):
        ec2, want = ctx.client("ec2"), self.want(ctx, deps)
        version = state["latest"]
        # a crash between the two calls left the new version as the latest: use it
        if state["latest"] == state["default"] or self._differs(state["latest_data"], want):
            version = ec2.create_launch_template_version(
                LaunchTemplateId=state["id"], LaunchTemplateData=want,
                VersionDescription="provision_compute")["LaunchTemplateVersion"]["VersionNumber"]
        ec2.modify_launch_template(LaunchTemplateId=state["id"], DefaultVersion=str(version))
        return {**state, "default": version, "latest": version, "data": want, "latest_data": want}

    def delete(self, ctx, state):
        with tolerate("InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException"):
            ctx.client("ec2").delete_launch_template(LaunchTemplateId=state["id"])

    def outputs(self, state):
        return {"launch-template-id": state["id"], "version": state["default"]}


# --- target group and load balancer -----------------------------------------------------------
class TargetGroup(Resource):
    name, service, kind = TARGET_GROUP, "elbv2", "target group"
    depends_on = (VPC,)

    def __init__(self, port: int):
        self.port = port

    HEALTH = {"HealthCheckProtocol": "HTTP", "HealthCheckPath": HEALTH_CHECK_PATH, "HealthCheckPort": "traffic-port",
              "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2,
              "UnhealthyThresholdCount": 3, "Matcher": {"HttpCode": "200"}}
    ATTRIBUTES = {"deregistration_delay.timeout_seconds": "30"}

    def find_all(self, ctx, deps):
        elbv2 = ctx.client("elbv2")
        answer = absent_on(lambda: elbv2.describe_target_groups(Names=[naming.target_group(ctx.stack)]),
                           "TargetGroupNotFound")
        groups = answer["TargetGroups"] if answer else []
        states = []
        for group in groups:
            attributes = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
                TargetGroupArn=group["TargetGroupArn"])["Attributes"]}
            states.append({"id": group["TargetGroupArn"], "arn": group["TargetGroupArn"], "vpc": group["VpcId"],
                           "port": group["Port"], "protocol": group["Protocol"],
                           "health": {k: group.get(k) for k in self.HEALTH},
                           "attributes": {k: attributes.get(k) for k in self.ATTRIBUTES},
                           "dimension": group["TargetGroupArn"].rsplit(":", 1)[-1]})
        return states

    def create(self, ctx, deps):
        group = ctx.client("elbv2").create_target_group(
            Name=naming.target_group(ctx.stack), Protocol="HTTP", Port=self.port, VpcId=dep_id(deps, VPC),
            TargetType="instance", Tags=ctx.tags(self.name), **self.HEALTH)["TargetGroups"][0]
        return {**self.find_all(ctx, deps)[0], "id": group["TargetGroupArn"]}

    def drift(self, ctx, state, deps):
        drift = [Drift(k, have, want, fixable=False) for k, have, want in (
            ("vpc", state["vpc"], dep_id(deps, VPC)), ("port", state["port"], self.port),
            ("protocol", state["protocol"], "HTTP")) if have != want]
        drift += [Drift(k, state["health"].get(k), v) for k, v in self.HEALTH.items() if state["health"].get(k) != v]
        drift += [Drift(k, state["attributes"].get(k), v) for k, v in self.ATTRIBUTES.items()
                  if state["attributes"].get(k) != v]
        return drift

    def reconcile(self, ctx, state, drift, deps):
        elbv2 = ctx.client("elbv2")
        if state["health"] != self.HEALTH:
            elbv2.modify_target_group(TargetGroupArn=state["arn"], **self.HEALTH)
        if state["attributes"] != self.ATTRIBUTES:
            elbv2.modify_target_group_attributes(TargetGroupArn=state["arn"], Attributes=[
                {"Key": k, "Value": v} for k, v in self.ATTRIBUTES.items()])
        return {**state, "health": dict(self.HEALTH), "attributes": dict(self.ATTRIBUTES)}

    def delete(self, ctx, state):
        elbv2 = ctx.client("elbv2")
        # still "in use" for a moment after its listener or group is gone
        delete_once_free(lambda: elbv2.delete_target_group(TargetGroupArn=state["arn"]),
                         gone="TargetGroupNotFound", busy=["ResourceInUse"], timeout=300, clock=ctx.clock)

    def outputs(self, state):
        return {"target-group-arn": state["arn"]}


def find_load_balancer(ctx) -> dict | None:
    elbv2 = ctx.client("elbv2")
    answer = absent_on(lambda: elbv2.describe_load_balancers(Names=[naming.load_balancer(ctx.stack)]),
                       "LoadBalancerNotFound")
    return answer["LoadBalancers"][0] if answer and answer["LoadBalancers"] else None


class LoadBalancer(Resource):
    name, service, kind = LOAD_BALANCER, "elbv2", "application load balancer"
    depends_on = (*public_subnets(), LB_SG)
    ATTRIBUTES = {"routing.http.drop_invalid_header_fields.enabled": "true"}

    def find_all(self, ctx, deps):
        lb = find_load_balancer(ctx)
        if lb is None:
            return []
        attributes = {a["Key"]: a["Value"] for a in ctx.client("elbv2").describe_load_balancer_attributes(
            LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
        return [{"id": lb["LoadBalancerArn"], "arn": lb["LoadBalancerArn"], "dns": lb["DNSName"],
                 "zone": lb["CanonicalHostedZoneId"], "state": lb.get("State", {}).get("Code"),
                 "subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
                 "groups": sorted(lb.get("SecurityGroups", [])), "scheme": lb["Scheme"],
                 "attributes": {k: attributes.get(k) for k in self.ATTRIBUTES},
                 "dimension": lb["LoadBalancerArn"].split(":loadbalancer/", 1)[-1]}]

    def _want(self, deps):
        return (sorted(dep_id(deps, s) or planned(s) for s in public_subnets()),
                [dep_id(deps, LB_SG) or planned(LB_SG)])

    def create(self, ctx, deps):
        elbv2 = ctx.client("elbv2")
        subnets, groups = self._want(deps)
        arn = elbv2.create_load_balancer(
            Name=naming.load_balancer(ctx.stack), Subnets=subnets, SecurityGroups=groups,
            Scheme="internet-facing", Type="application", IpAddressType="ipv4",
            Tags=ctx.tags(self.name))["LoadBalancers"][0]["LoadBalancerArn"]
        elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig=waiter_config(15, 40))
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        subnets, groups = self._want(deps)
        drift = [] if state["scheme"] == "internet-facing" else [Drift("scheme", state["scheme"], "internet-facing", fixable=False)]
        if state["subnets"] != subnets:
            drift.append(Drift("subnets", state["subnets"], subnets))
        if state["groups"] != groups:
            drift.append(Drift("security groups", state["groups"], groups))
        drift += [Drift(k, state["attributes"].get(k), v) for k, v in self.ATTRIBUTES.items()
                  if state["attributes"].get(k) != v]
        return drift

    def reconcile(self, ctx, state, drift, deps):
        elbv2 = ctx.client("elbv2")
        subnets, groups = self._want(deps)
        if state["subnets"] != subnets:
            elbv2.set_subnets(LoadBalancerArn=state["arn"], Subnets=subnets)
        if state["groups"] != groups:
            elbv2.set_security_groups(LoadBalancerArn=state["arn"], SecurityGroups=groups)
        if state["attributes"] != self.ATTRIBUTES:
            elbv2.modify_load_balancer_attributes(LoadBalancerArn=state["arn"], Attributes=[
                {"Key": k, "Value": v} for k, v in self.ATTRIBUTES.items()])
        return {**state, "subnets": subnets, "groups": groups, "attributes": dict(self.ATTRIBUTES)}

    def delete(self, ctx, state):
        elbv2 = ctx.client("elbv2")
        with tolerate("LoadBalancerNotFound"):
            elbv2.delete_load_balancer(LoadBalancerArn=state["arn"])
        elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[state["arn"]],
                                                         WaiterConfig=waiter_config(15, 40))

    def outputs(self, state):
        return {"dns-name": state["dns"], "arn": state["arn"]}


class Listener(Resource):
    service, kind = "elbv2", "listener"

    def __init__(self, name: str, port: int, depends_on: tuple[str, ...]):
        self.name, self.port, self.depends_on = name, port, (LOAD_BALANCER, *depends_on)

    def want(self, deps) -> dict:
        raise NotImplementedError

    def find_all(self, ctx, deps):
        lb = find_load_balancer(ctx)
        if lb is None:
            return []
        listeners = ctx.client("elbv2").describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        return [{"id": li["ListenerArn"], "arn": li["ListenerArn"], "protocol": li["Protocol"],
                 "ssl_policy": li.get("SslPolicy"),
                 "certificates": [c["CertificateArn"] for c in li.get("Certificates", [])],
                 "actions": li["DefaultActions"]} for li in listeners if li["Port"] == self.port]

    def create(self, ctx, deps):
        want = self.want(deps)
        with tolerate("DuplicateListener"):
            ctx.client("elbv2").create_listener(LoadBalancerArn=deps[LOAD_BALANCER]["arn"], Port=self.port,
                                                Tags=ctx.tags(self.name), **want)
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        want = self.want(deps)
        have = {"Protocol": state["protocol"], "SslPolicy": state["ssl_policy"],
                "Certificates": [{"CertificateArn": c} for c in state["certificates"]],
                "DefaultActions": state["actions"]}
        return [Drift(key, "differs", "as configured") for key in want if subset_differs(have.get(key), want[key])]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("elbv2").modify_listener(ListenerArn=state["arn"], Port=self.port, **self.want(deps))
        return self.find_all(ctx, deps)[0]

    def delete(self, ctx, state):
        with tolerate("ListenerNotFound"):
            ctx.client("elbv2").delete_listener(ListenerArn=state["arn"])


class HttpsListener(Listener):
    def __init__(self):
        super().__init__(HTTPS_LISTENER, 443, (TARGET_GROUP, CERTIFICATE, VALIDATION))

    def want(self, deps):
        tg = (deps.get(TARGET_GROUP) or {}).get("arn") or planned(TARGET_GROUP)
        cert = (deps.get(CERTIFICATE) or {}).get("arn") or planned(CERTIFICATE)
        return {"Protocol": "HTTPS", "SslPolicy": TLS_POLICY, "Certificates": [{"CertificateArn": cert}],
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}


class HttpListener(Listener):
    def __init__(self):
        super().__init__(HTTP_LISTENER, 80, ())

    def want(self, deps):
        return {"Protocol": "HTTP", "DefaultActions": [{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301"}}]}


# --- DNS and the certificate -----------------------------------------------------------------
class HostedZone(Resource):
    name, service, kind = HOSTED_ZONE, "route53", "hosted zone"

    def __init__(self, config: StackConfig):
        self.zone, self.create_allowed = config.hosted_zone, config.dns.create_zone

    def reference_prefix(self, ctx) -> str:
        return f"cloudsite:{ctx.stack}:"

    def find_all(self, ctx, deps):
        zone = find_public_zone(ctx, self.zone)
        if zone is None:
            return []
        return [{**zone, "owned": zone["caller_reference"].startswith(self.reference_prefix(ctx))}]

    def create(self, ctx, deps):
        if not self.create_allowed:
            raise StackError(f"no public Route53 hosted zone {self.zone}: create it (and delegate the domain to "
                             "it), or set [dns] create_zone = true in the stack file")
        route53 = ctx.client("route53")
        # A caller reference may never be reused, even after the zone is deleted: the prefix marks ours.
        zone = route53.create_hosted_zone(Name=self.zone, CallerReference=f"{self.reference_prefix(ctx)}{time.time():.0f}",
                                          HostedZoneConfig={"Comment": f"cloudsite {ctx.stack}"})["HostedZone"]
        zone_id = zone["Id"].rsplit("/", 1)[-1]
        route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id,
                                         AddTags=ctx.tags(self.name))
        return self.find_all(ctx, deps)[0]

    def delete(self, ctx, state):
        if not state["owned"]:
            ctx.reporter.start(self.name, f"{self.zone} was not created by this stack: kept")
            return
        with tolerate("NoSuchHostedZone"):
            ctx.client("route53").delete_hosted_zone(Id=state["id"])

    def outputs(self, state):
        return {"hosted-zone-id": state["id"]}


def find_certificate(ctx, domain: str) -> dict | None:
    acm = ctx.client("acm")
    pages = acm.get_paginator("list_certificates").paginate(CertificateStatuses=[
        "PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT", "FAILED"])
    for summary in (s for page in pages for s in page["CertificateSummaryList"]):
        if summary["DomainName"] != domain:
            continue
        tags = {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(
            CertificateArn=summary["CertificateArn"]).get("Tags", [])}
        if tags.get(naming.STACK_TAG) == ctx.stack and tags.get(naming.RESOURCE_TAG) == CERTIFICATE:
            cert = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
            records = [o["ResourceRecord"] for o in cert.get("DomainValidationOptions", []) if o.get("ResourceRecord")]
            return {"id": cert["CertificateArn"], "arn": cert["CertificateArn"], "status": cert["Status"],
                    "records": records}
    return None


def certificate_token(stack: str, domain: str, attempt: int) -> str:
    """ACM's IdempotencyToken (``\\w{1,32}``): the same for the same stack, domain and attempt."""
    return hashlib.sha256(f"cloudsite|{stack}|{domain}|{attempt}".encode()).hexdigest()[:32]


class Certificate(Resource):
    """The site's ACM certificate (DNS validation), tagged at the request.

    ACM's ``IdempotencyToken`` outlives the certificate (ACM API reference, RequestCertificate: "If
    you call RequestCertificate multiple times with the same idempotency token within one hour, ACM
    recognizes that you are requesting only one certificate and will issue only one"): within that
    hour ACM answers with the first request's ARN, deleted since or not. So the token is not the stack's
    alone: it is the ``attempt``-th of a fixed sequence per stack and domain (``certificate_token``),
    and the request goes down the sequence past every token whose certificate is gone (a teardown
    and apply within the hour, or a certificate deleted by hand). Nothing is stored, so nothing can
    be lost: a crash-retry walks the same sequence and gets back the certificate its crashed run
    requested (in case ListCertificates does not show it yet) instead of a second one; a new domain
    starts a sequence of its own.
    """
    name, service, kind = CERTIFICATE, "acm", "ACM certificate"
    TOKEN_ATTEMPTS = 10   # certificates of one stack and domain deleted within one hour
    DESCRIBE_TRIES = 3    # a certificate just requested is described at once; a lag is ridden out

    def __init__(self, domain: str):
        self.domain = domain

    def find_all(self, ctx, deps):
        cert = find_certificate(ctx, self.domain)
        return [cert] if cert else []

    def create(self, ctx, deps):
        arn = self._request(ctx)
        state = {}

        def records_ready():  # ACM fills in the validation record a few seconds after the request
            state.update(find_certificate(ctx, self.domain) or {})
            return bool(state.get("records"))
        wait_until(records_ready, what=f"the DNS validation record of {arn}", timeout=120, delay=2, clock=ctx.clock)
        return state

    def _request(self, ctx) -> str:
        acm = ctx.client("acm")
        for attempt in range(self.TOKEN_ATTEMPTS):
            arn = acm.request_certificate(
                DomainName=self.domain, ValidationMethod="DNS",
                IdempotencyToken=certificate_token(ctx.stack, self.domain, attempt),
                Options={"CertificateTransparencyLoggingPreference": "ENABLED"},
                Tags=ctx.tags(self.name))["CertificateArn"]
            if self._exists(ctx, arn):
                return arn
            ctx.reporter.note(f"{self.name}: ACM answered with {arn}, deleted within the hour; requesting anew")
        raise StackError(f"ACM keeps answering with certificates for {self.domain} deleted within the last hour "
                         f"({self.TOKEN_ATTEMPTS} of them); run the command again in an hour")

    def _exists(self, ctx, arn: str) -> bool:
        acm = ctx.client("acm")
        for attempt in range(self.DESCRIBE_TRIES):
            try:
                acm.describe_certificate(CertificateArn=arn)
                return True
            except ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
            if attempt + 1 < self.DESCRIBE_TRIES:
                ctx.clock.sleep(2)
        return False

    def drift(self, ctx, state, deps):
        bad = ("EXPIRED", "REVOKED", "FAILED", "VALIDATION_TIMED_OUT", "INACTIVE")
        if state["status"] in bad:
            return [Drift("status", state["status"], "ISSUED", fixable=False)]
        return []

    def delete(self, ctx, state):
        acm = ctx.client("acm")
        # in use for a while after its listener is deleted
        delete_once_free(lambda: acm.delete_certificate(CertificateArn=state["arn"]),
                         gone="ResourceNotFoundException", busy=["ResourceInUseException"], timeout=600, clock=ctx.clock)

    def outputs(self, state):
        return {"certificate-arn": state["arn"]}


class CertificateValidation(Resource):
    """The DNS validation records in the zone, then the certificate issued (a bounded wait)."""

    name, service, kind = VALIDATION, "route53", "certificate validation records"
    depends_on = (CERTIFICATE, HOSTED_ZONE)
    WAIT = waiter_config(15, 40)  # ten minutes; a re-run waits again

    def __init__(self, config: StackConfig):
        self.domain, self.zone = config.domain, config.hosted_zone

    def find_all(self, ctx, deps):
        cert, zone = find_certificate(ctx, self.domain), find_public_zone(ctx, self.zone)
        if not cert or not zone or not cert["records"]:
            return []
        found = [r for want in cert["records"] for r in record_sets(ctx, zone["id"], want["Name"], want["Type"])]
        if not found:
            return []
        return [{"id": found[0]["Name"], "zone": zone["id"], "certificate": cert["arn"], "status": cert["status"],
                 "records": [{"Name": r["Name"], "Type": r["Type"], "Value": v["Value"]}
                             for r in found for v in r.get("ResourceRecords", [])]}]

    def _changes(self, action, records):
        return [record_change(action, r["Name"], r["Type"], [r["Value"]], ttl=300) for r in records]

    def _validate(self, ctx, deps):
        cert, zone = deps[CERTIFICATE], deps[HOSTED_ZONE]
        change_records(ctx, zone["id"], self._changes("UPSERT", cert["records"]), f"ACM validation for {self.domain}")
        ctx.reporter.start(self.name, f"waiting for ACM to issue {self.domain}")
        acm = ctx.client("acm")
        try:
            acm.get_waiter("certificate_validated").wait(CertificateArn=cert["arn"], WaiterConfig=self.WAIT)
        except Exception as error:
            if type(error).__name__ != "WaiterError":
                raise
            raise StackError(f"the certificate for {self.domain} is not issued yet ({error}); check that the "
                             f"zone {self.zone} is the one the domain is delegated to, then run again") from None
        return {"id": cert["records"][0]["Name"], "zone": zone["id"], "certificate": cert["arn"], "status": "ISSUED",
                "records": [{"Name": r["Name"], "Type": r["Type"], "Value": r["Value"]} for r in cert["records"]]}

    def create(self, ctx, deps):
        return self._validate(ctx, deps)

    def drift(self, ctx, state, deps):
        cert = deps.get(CERTIFICATE) or {}
        drift = []
        want = sorted((r["Name"], r["Value"]) for r in cert.get("records", []))
        if want and sorted((r["Name"], r["Value"]) for r in state["records"]) != want:
            drift.append(Drift("validation records", "differ", "as ACM asks"))
        if state["status"] != "ISSUED":
            drift.append(Drift("certificate", state["status"], "ISSUED"))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        return self._validate(ctx, deps)

    def delete(self, ctx, state):
        with tolerate("InvalidChangeBatch"):
            change_records(ctx, state["zone"], self._changes("DELETE", state["records"]), "cloudsite teardown")


class AliasRecord(Resource):
    name, service, kind = ALIAS, "route53", "DNS alias"
    depends_on = (HOSTED_ZONE, LOAD_BALANCER)

    def __init__(self, config: StackConfig):
        self.domain, self.zone = config.domain, config.hosted_zone

    def find_all(self, ctx, deps):
        zone = find_public_zone(ctx, self.zone)
        if zone is None:
            return []
        return [{"id": r["Name"], "zone": zone["id"], "target": r.get("AliasTarget")}
                for r in record_sets(ctx, zone["id"], self.domain, "A")]

    def want(self, deps):
        lb = deps.get(LOAD_BALANCER) or {}
        return {"HostedZoneId": lb.get("zone") or planned(LOAD_BALANCER),
                "DNSName": (lb.get("dns") or planned(LOAD_BALANCER)).lower().rstrip(".") + ".",
                "EvaluateTargetHealth": True}

    def _upsert(self, ctx, zone_id, deps):
        change_records(ctx, zone_id, [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": self.domain, "Type": "A", "AliasTarget": self.want(deps)}}], f"{self.domain} -> load balancer")

    def create(self, ctx, deps):
        self._upsert(ctx, deps[HOSTED_ZONE]["id"], deps)
        return {"id": self.domain + ".", "zone": deps[HOSTED_ZONE]["id"], "target": self.want(deps)}

    def drift(self, ctx, state, deps):
        have = dict(state["target"] or {})
        if have.get("DNSName"):
            have["DNSName"] = have["DNSName"].lower().rstrip(".") + "."
        want = self.want(deps)
        return [Drift("alias target", have.get("DNSName"), want["DNSName"])] if subset_differs(have, want) else []

    def reconcile(self, ctx, state, drift, deps):
        self._upsert(ctx, state["zone"], deps)
        return {**state, "target": self.want(deps)}

    def delete(self, ctx, state):
        if not state["target"]:
            return
        with tolerate("InvalidChangeBatch"):
            change_records(ctx, state["zone"], [{"Action": "DELETE", "ResourceRecordSet": {
                "Name": state["id"], "Type": "A", "AliasTarget": state["target"]}}], "cloudsite teardown")


# --- auto scaling ----------------------------------------------------------------------------
def find_group(ctx) -> dict | None:
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[naming.auto_scaling_group(ctx.stack)])["AutoScalingGroups"]
    return groups[0] if groups else None


class AutoScalingGroup(Resource):
    """The app's instances behind the target group.

    Created with EC2 health checks: on an image with no app yet (before the first deployment) the
    load balancer's health check fails, and with ELB health checks the group would replace every
    instance each grace period until a deployment succeeds, and could lose instances in the
    middle of a one-at-a-time first deployment. ``manage.py deploy`` switches the group to ELB
    health checks once a deployment has succeeded (``deploy.switch_to_elb_health_checks``); from then
    on both types count as "no drift", and a reconcile never flips ELB back to EC2.
    """
    name, service, kind = AUTO_SCALING_GROUP, "autoscaling", "auto scaling group"
    depends_on = (LAUNCH_TEMPLATE, TARGET_GROUP, *public_subnets(), HTTPS_LISTENER)
    GRACE = 300
    INITIAL_HEALTH_CHECK = "EC2"
    HEALTH_CHECKS = ("EC2", "ELB")  # before and after the first successful deployment

    def __init__(self, config: StackConfig):
        self.compute = config.compute

    def find_all(self, ctx, deps):
        group = find_group(ctx)
        if group is None:
            return []
        template = group.get("LaunchTemplate") or {}
        return [{"id": group["AutoScalingGroupName"], "arn": group.get("AutoScalingGroupARN"),
                 "min": group["MinSize"], "max": group["MaxSize"], "desired": group["DesiredCapacity"],
                 "template": template.get("LaunchTemplateId"), "version": template.get("Version"),
                 "subnets": sorted(filter(None, group.get("VPCZoneIdentifier", "").split(","))),
                 "target_groups": sorted(group.get("TargetGroupARNs", [])),
                 "health_check": group.get("HealthCheckType"), "grace": group.get("HealthCheckGracePeriod"),
                 "instances": len(group.get("Instances", []))}]

    def _want(self, deps):
        return {"min": self.compute.min_size, "max": self.compute.max_size,
                "template": dep_id(deps, LAUNCH_TEMPLATE) or planned(LAUNCH_TEMPLATE), "version": "$Default",
                "subnets": sorted(dep_id(deps, s) or planned(s) for s in public_subnets()),
                "target_groups": [(deps.get(TARGET_GROUP) or {}).get("arn") or planned(TARGET_GROUP)],
                "grace": self.GRACE}

    def health_check(self, state: dict | None) -> str:
        """The type to keep: the group's own when it is one of ours (never ELB back to EC2)."""
        current = (state or {}).get("health_check")
        return current if current in self.HEALTH_CHECKS else self.INITIAL_HEALTH_CHECK

    def create(self, ctx, deps):
        autoscaling, want, name = ctx.client("autoscaling"), self._want(deps), naming.auto_scaling_group(ctx.stack)
        tags = [{**t, "PropagateAtLaunch": True, "ResourceId": name, "ResourceType": "auto-scaling-group"}
                for t in ctx.tags(self.name)]
        create = lambda: autoscaling.create_auto_scaling_group(  # noqa: E731
            AutoScalingGroupName=name, MinSize=want["min"], MaxSize=want["max"],
            DesiredCapacity=self.compute.desired,
            LaunchTemplate={"LaunchTemplateId": want["template"], "Version": want["version"]},
            VPCZoneIdentifier=",".join(want["subnets"]), TargetGroupARNs=want["target_groups"],
            HealthCheckType=self.INITIAL_HEALTH_CHECK, HealthCheckGracePeriod=self.GRACE,
            DefaultInstanceWarmup=self.GRACE,
            Tags=tags)
        with tolerate("AlreadyExists"):
            retry_profile_propagation(create, clock=ctx.clock)
        wait_until(lambda: find_group(ctx) is not None, what=f"{name} to exist", timeout=120, delay=5, clock=ctx.clock)
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        want = self._want(deps)
        drift = [Drift(k, state[k], v) for k, v in want.items() if state[k] != v]
        if state["health_check"] not in self.HEALTH_CHECKS:
            drift.append(Drift("health_check", state["health_check"], " or ".join(self.HEALTH_CHECKS)))
        if not want["min"] <= state["desired"] <= want["max"]:
            drift.append(Drift("desired", state["desired"], f"{want['min']}..{want['max']}"))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        autoscaling, want = ctx.client("autoscaling"), self._want(deps)
        desired = min(max(state["desired"], want["min"]), want["max"])
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=state["id"], MinSize=want["min"], MaxSize=want["max"], DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": want["template"], "Version": want["version"]},
            VPCZoneIdentifier=",".join(want["subnets"]), HealthCheckType=self.health_check(state),
            HealthCheckGracePeriod=self.GRACE)
        extra = sorted(set(state["target_groups"]) - set(want["target_groups"]))
        missing = sorted(set(want["target_groups"]) - set(state["target_groups"]))
        if extra:
            autoscaling.detach_load_balancer_target_groups(AutoScalingGroupName=state["id"], TargetGroupARNs=extra)
        if missing:
            autoscaling.attach_load_balancer_target_groups(AutoScalingGroupName=state["id"], TargetGroupARNs=missing)
        return {**state, **want, "desired": desired, "health_check": self.health_check(state)}

    def delete(self, ctx, state):
        autoscaling = ctx.client("autoscaling")
        if state["min"] or state["max"] or state["desired"]:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=state["id"], MinSize=0, MaxSize=0,
                                                  DesiredCapacity=0)
        ctx.reporter.start(self.name, "scaled to zero: waiting for the instances to go")
        wait_until(lambda: not (find_group(ctx) or {}).get("Instances"), what=f"{state['id']} to drain",
                   timeout=ASG_DRAIN_TIMEOUT, delay=10, clock=ctx.clock)
        delete_once_free(lambda: autoscaling.delete_auto_scaling_group(AutoScalingGroupName=state["id"]),
                         gone="ValidationError", busy=["ResourceInUse", "ScalingActivityInProgress"], timeout=ASG_DRAIN_TIMEOUT, clock=ctx.clock)
        wait_until(lambda: find_group(ctx) is None, what=f"{state['id']} to be deleted", timeout=600, delay=10, clock=ctx.clock)

    def outputs(self, state):
        return {"name": state["id"]}


class ScalingPolicy(Resource):
    name, service, kind = SCALING, "autoscaling", "target-tracking scaling policy"
    depends_on = (AUTO_SCALING_GROUP,)

    def __init__(self, cpu_target: int):
        self.cpu_target = cpu_target

    def want(self) -> dict:
        return {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                "TargetValue": float(self.cpu_target), "DisableScaleIn": False}

    def find_all(self, ctx, deps):
        autoscaling = ctx.client("autoscaling")
        if find_group(ctx) is None:
            return []
        policies = autoscaling.describe_policies(AutoScalingGroupName=naming.auto_scaling_group(ctx.stack),
                                                 PolicyNames=[naming.scaling_policy(ctx.stack)])["ScalingPolicies"]
        return [{"id": p["PolicyName"], "arn": p.get("PolicyARN"), "type": p.get("PolicyType"),
                 "config": p.get("TargetTrackingConfiguration", {}),
                 "alarms": sorted(a["AlarmName"] for a in p.get("Alarms", []))} for p in policies]

    def _put(self, ctx):
        ctx.client("autoscaling").put_scaling_policy(
            AutoScalingGroupName=naming.auto_scaling_group(ctx.stack), PolicyName=naming.scaling_policy(ctx.stack),
            PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=self.want())
        # the answer carries PolicyARN and the alarms on AWS, not on moto: read it back
        return self.find_all(ctx, {})[0]

    def create(self, ctx, deps):
        return self._put(ctx)

    def drift(self, ctx, state, deps):
        drift = [] if state["type"] == "TargetTrackingScaling" else [Drift("type", state["type"], "TargetTrackingScaling")]
        if subset_differs(state["config"], self.want()):
            drift.append(Drift("target", state["config"].get("TargetValue"), float(self.cpu_target)))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        return self._put(ctx)

    def delete(self, ctx, state):
        with tolerate("ValidationError"):
            ctx.client("autoscaling").delete_policy(AutoScalingGroupName=naming.auto_scaling_group(ctx.stack),
                                                    PolicyName=state["id"])

    def outputs(self, state):
        # the high and low CPU alarms AWS made for the policy
        return {"policy-arn": state["arn"], "alarms": ",".join(state["alarms"]) or "-"}


# --- alarms ----------------------------------------------------------------------------------
class Alarm(Resource):
    """A CloudWatch alarm on one of the load balancer's metrics (``AWS/ApplicationELB``): ALARM when
    ``statistic`` over ``period`` seconds reaches ``threshold`` in ``periods`` periods in a row."""
    service, kind = "cloudwatch", "CloudWatch alarm"

    def __init__(self, purpose: str, description: str, *, metric: str, statistic: str, threshold: float,
                 periods: int, period: int, dimensions: tuple[str, ...]):
        self.name, self.purpose, self.description = alarm(purpose), purpose, description
        self.metric, self.statistic, self.threshold = metric, statistic, threshold
        self.periods, self.period, self.dimensions = periods, period, dimensions
        self.depends_on = tuple(sorted({LOAD_BALANCER, *dimensions}))

    def want(self, ctx, deps) -> dict:
        keys = {LOAD_BALANCER: "LoadBalancer", TARGET_GROUP: "TargetGroup"}
        return {"AlarmDescription": self.description, "Namespace": "AWS/ApplicationELB", "MetricName": self.metric,
                "Dimensions": [{"Name": keys[d], "Value": (deps.get(d) or {}).get("dimension") or planned(d)}
                               for d in self.dimensions],
                "Statistic": self.statistic, "Period": self.period, "EvaluationPeriods": self.periods,
                "DatapointsToAlarm": self.periods, "Threshold": float(self.threshold),
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}

    def find_all(self, ctx, deps):
        alarms = ctx.client("cloudwatch").describe_alarms(AlarmNames=[naming.alarm(ctx.stack, self.purpose)])
        return [{"id": a["AlarmName"], "arn": a["AlarmArn"], "settings": {
            k: a.get(k) for k in ("AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
                                  "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
                                  "TreatMissingData")}} for a in alarms["MetricAlarms"]]

    def create(self, ctx, deps):
        ctx.client("cloudwatch").put_metric_alarm(AlarmName=naming.alarm(ctx.stack, self.purpose),
                                                  Tags=ctx.tags(self.name), **self.want(ctx, deps))
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        want = self.want(ctx, deps)
        return [Drift(k, state["settings"].get(k), v) for k, v in want.items()
                if subset_differs(state["settings"].get(k), v)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("cloudwatch").put_metric_alarm(AlarmName=state["id"], **self.want(ctx, deps))
        return self.find_all(ctx, deps)[0]

    def delete(self, ctx, state):
        ctx.client("cloudwatch").delete_alarms(AlarmNames=[state["id"]])

    def outputs(self, state):
        return {"alarm": state["id"]}


# --- the layer -------------------------------------------------------------------------------
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

    outputs = Parameters("compute", (INSTANCE_ROLE, INSTANCE_PROFILE, LAUNCH_TEMPLATE, TARGET_GROUP, LOAD_BALANCER, CERTIFICATE,
                                     HOSTED_ZONE, AUTO_SCALING_GROUP), values)
    return [*resources, outputs]


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
        "listeners": sum(len(elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]) for lb in lbs),
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


LAYER = Layer("compute", build, inventory)
