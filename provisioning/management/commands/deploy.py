"""``manage.py deploy --stack dev``: bundle, upload under its hash, CodeDeploy deployment, wait.

Exit 0 when the deployment succeeded (the site's URL is printed), 1 when it failed (the failing
instance's lifecycle event and its message), timed out, or AWS refused; 2 for bad usage.
After a successful deployment the auto scaling group is switched from EC2 to ELB health checks
(once: the compute layer creates it on EC2 so that instances without the app are not replaced
before the first deployment; see ``AutoScalingGroup``).
``--plan`` prints what would be uploaded and deployed and makes no mutating call.
"""
from __future__ import annotations

from django.core.management.base import CommandError

from deploy.bundle import BundleError, build_bundle
from provisioning import deployments, naming
from provisioning.cli import EXIT_FAILED, ProvisioningCommand
from provisioning.layers.compute import AutoScalingGroup


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
        uploaded = deployments.bundle_uploaded(s3, bucket, bundle.key)
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
        deployments.wait(ctx, deployment, timeout=options["timeout"], poll=options["poll"], say=out.write)
        out.write(f"deployed {bundle.sha256[:12]} to stack {stack}: https://{ctx.config.domain}/")
        group = naming.auto_scaling_group(stack)
        if deployments.switch_to_elb_health_checks(ctx.client("autoscaling"), group):
            out.write(f"{group}: health checks switched from EC2 to ELB (grace {AutoScalingGroup.GRACE}s): "
                      "the group now replaces instances the load balancer finds unhealthy")
