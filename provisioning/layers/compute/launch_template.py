"""``compute.launch-template``: the newest baked AMI, the instance profile, IMDSv2 only."""
from __future__ import annotations

import base64

from deploy.bootstrap import boot_script
from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, absent_on, tolerate
from provisioning.layers.compute.compare import subset_differs
from provisioning.recipe_names import (
    AGENT_CONFIG,
    AMI,
    APP_SG,
    INSTANCE_PROFILE,
    LAUNCH_TEMPLATE,
    LOG_STREAMS,
    VOLUME,
    log_group,
)
from provisioning.resource import Drift, Resource, dep_id, planned


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
                LaunchTemplateId=template["LaunchTemplateId"],
                Versions=["$Default", "$Latest"])["LaunchTemplateVersions"]
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
