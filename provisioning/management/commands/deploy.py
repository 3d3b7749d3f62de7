"""``manage.py deploy --stack dev``: bundle, upload under its hash, CodeDeploy deployment, wait.

Exit 0 when the deployment succeeded (the site's URL is printed), 1 when it failed (the failing
instance's lifecycle event and its message), timed out, or AWS refused; 2 for bad usage.
After a successful deployment the auto scaling group is switched from EC2 to ELB health checks
(once: the compute layer creates it on EC2 so that instances without the app are not replaced
before the first deployment; see ``AutoScalingGroup``).
``--plan`` prints what would be uploaded and deployed and makes no mutating call.
"""
from __future__ import annotations

import time

from botocore.exceptions import ClientError, WaiterError
from django.core.management.base import CommandError

from deploy.bundle import BundleError, build_bundle
from provisioning import naming, resource
from provisioning.cli import EXIT_FAILED, ProvisioningCommand
from provisioning.engine import describe_error
from provisioning.layers.compute import AutoScalingGroup
from provisioning.resource import error_code

TERMINAL_FAILURES = ("Failed", "Stopped")


class Command(ProvisioningCommand):
    help = ("Build the app bundle (appspec.yml, scripts/, locked requirements), upload it to the deploy "
            "bucket under its content hash, create a CodeDeploy deployment and wait for it.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--plan", action="store_true", help="show what would be uploaded and deployed")
        parser.add_argument("--timeout", type=int, default=3600,
                            help="seconds to wait for the deployment (default 3600)")
        parser.add_argument("--poll", type=int, default=15, help="seconds between progress checks (default 15)")
        parser.add_argument("--description", default="", help="the deployment's description")

    def run(self, options):
        ctx = self.context(dry_run=options["plan"])
        try:
            bundle = build_bundle()
        except BundleError as error:
            raise CommandError(str(error), returncode=EXIT_FAILED) from None
        stack = ctx.stack
        bucket = naming.bucket(stack, "deploy", ctx.account_id, ctx.region)
        application, group = naming.codedeploy_application(stack), naming.codedeploy_group(stack)
        rollout = f"CodeDeployDefault.{ctx.config.pipeline.deployment_config}"
        out = self.stdout
        s3, codedeploy = ctx.client("s3"), ctx.client("codedeploy")
        uploaded = self._exists(s3, bucket, bundle.key)
        out.write(f"bundle {bundle.sha256[:12]}: {len(bundle.files)} files, {len(bundle.data) / 1024:.0f} KiB")
        out.write(f"  s3://{bucket}/{bundle.key} ({'already uploaded' if uploaded else 'to upload'})")
        out.write(f"  deploy to {application}/{group} ({rollout}) in {ctx.region}")
        if options["plan"]:
            for name in bundle.files:
                out.write(f"    {name}")
            out.write("plan only: nothing was uploaded or deployed")
            return
        if not uploaded:
            s3.put_object(Bucket=bucket, Key=bundle.key, Body=bundle.data, ContentType="application/zip",
                          Metadata={"sha256": bundle.sha256})
            out.write(f"uploaded s3://{bucket}/{bundle.key}")
        deployment = codedeploy.create_deployment(
            applicationName=application, deploymentGroupName=group, fileExistsBehavior="OVERWRITE",
            description=options["description"] or f"cloudsite {stack} {bundle.sha256[:12]}",
            revision={"revisionType": "S3", "s3Location": {"bucket": bucket, "key": bundle.key, "bundleType": "zip"}},
        )["deploymentId"]
        out.write(f"deployment {deployment} created; waiting (at most {options['timeout']}s)")
        self.wait(codedeploy, deployment, timeout=options["timeout"], poll=options["poll"])
        out.write(f"deployed {bundle.sha256[:12]} to stack {stack}: https://{ctx.config.domain}/")
        self.switch_to_elb_health_checks(ctx.client("autoscaling"), naming.auto_scaling_group(stack))

    def switch_to_elb_health_checks(self, autoscaling, group: str) -> None:
        """Once a deployment has succeeded, let the group replace instances the load balancer finds
        unhealthy: ``UpdateAutoScalingGroup(HealthCheckType="ELB")`` when it is still on EC2 (a
        no-op afterwards, so every later deploy makes only the describe call)."""
        try:
            groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
            if not groups:
                raise CommandError(f"deployed, but the auto scaling group {group} does not exist: "
                                   "run provision_compute", returncode=EXIT_FAILED)
            if groups[0].get("HealthCheckType") != "EC2":
                return
            autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=group, HealthCheckType="ELB",
                HealthCheckGracePeriod=AutoScalingGroup.GRACE)
        except ClientError as error:
            raise CommandError(f"deployed, but {group} is still on EC2 health checks ({describe_error(error)}); "
                               "run deploy again to switch it to ELB", returncode=EXIT_FAILED) from None
        self.stdout.write(f"{group}: health checks switched from EC2 to ELB (grace {AutoScalingGroup.GRACE}s): "
                          "the group now replaces instances the load balancer finds unhealthy")

    @staticmethod
    def _exists(s3, bucket: str, key: str) -> bool:
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as error:
            # 403: the CI role may put bundles but not read them; the key is the content's hash,
            # so uploading again is harmless
            if error_code(error) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
                return False
            if error_code(error) == "NoSuchBucket":
                raise CommandError(f"the deploy bucket {bucket} does not exist: run provision_data first",
                                   returncode=EXIT_FAILED) from None
            raise

    def wait(self, codedeploy, deployment: str, *, timeout: int, poll: int) -> None:
        """botocore's ``deployment_successful`` waiter, one poll at a time so progress shows, bounded."""
        waiter = codedeploy.get_waiter("deployment_successful")
        deadline = resource.monotonic() + timeout
        last = None
        while True:
            try:
                waiter.wait(deploymentId=deployment, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
                return
            except WaiterError as error:
                info = (error.last_response or {}).get("deploymentInfo", {})
                status = info.get("status")
                if status in TERMINAL_FAILURES or "terminal failure" in str(error):
                    raise CommandError(self.failure(codedeploy, deployment, info), returncode=EXIT_FAILED) from None
                if "Error" in (error.last_response or {}):
                    raise
                progress = self.progress(info)
                if progress != last:
                    self.stdout.write(f"  {progress}")
                    last = progress
            if resource.monotonic() + poll > deadline:
                raise CommandError(f"deployment {deployment} still {status or 'running'} after {timeout}s; "
                                   f"watch it with: aws deploy get-deployment --deployment-id {deployment}",
                                   returncode=EXIT_FAILED)
            resource.sleep(poll)

    @staticmethod
    def progress(info: dict) -> str:
        overview = info.get("deploymentOverview") or {}
        counts = ", ".join(f"{n} {k.lower()}" for k, n in overview.items() if n)
        return f"{info.get('status', '?')}" + (f": {counts}" if counts else "")

    @staticmethod
    def failure(codedeploy, deployment: str, info: dict) -> str:
        """The first failed lifecycle event of the first failed instance, with its message."""
        headline = f"deployment {deployment} {info.get('status', 'failed').lower()}"
        try:
            instances = codedeploy.list_deployment_instances(
                deploymentId=deployment, instanceStatusFilter=["Failed"]).get("instancesList", [])
            for instance in instances:
                target = codedeploy.get_deployment_target(deploymentId=deployment, targetId=instance)
                events = (target.get("deploymentTarget", {}).get("instanceTarget") or {}).get("lifecycleEvents", [])
                for event in events:
                    if event.get("status") == "Failed":
                        diagnostics = event.get("diagnostics") or {}
                        script = diagnostics.get("scriptName")
                        message = (diagnostics.get("message") or "").strip()
                        tail = (diagnostics.get("logTail") or "").strip().splitlines()[-3:]
                        text = f"{headline}: {instance}: {event['lifecycleEventName']} failed"
                        if script:
                            text += f" in {script}"
                        if message:
                            text += f": {message}"
                        if tail:
                            text += " | " + " | ".join(tail)
                        return text
        except ClientError:
            pass  # fall back on the deployment's own error
        error = info.get("errorInformation") or {}
        if error.get("message"):
            return f"{headline}: {error.get('code', '')}: {error['message']}".replace(": :", ":")
        return headline
