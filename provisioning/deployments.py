"""A CodeDeploy deployment of the app, after ``manage.py deploy`` created it: wait for it with
progress lines, say why it failed (the failing instance's lifecycle event and its message), and
once it succeeded switch the auto scaling group to ELB health checks. Failures are StackErrors of
one line; the command stays thin."""
from __future__ import annotations

from botocore.exceptions import ClientError, WaiterError

from provisioning.engine import describe_error
from provisioning.errors import StackError, error_code
from provisioning.layers.compute import AutoScalingGroup

TERMINAL_FAILURES = ("Failed", "Stopped")


def bundle_uploaded(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        # 403: the CI role may put bundles but not read them; the key is the content's hash,
        # so uploading again is harmless
        if error_code(error) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
            return False
        if error_code(error) == "NoSuchBucket":
            raise StackError(f"the deploy bucket {bucket} does not exist: run provision_data first") from None
        raise


def wait(ctx, deployment: str, *, timeout: int, poll: int, say) -> None:
    """botocore's ``deployment_successful`` waiter, one poll at a time so progress shows (``say``),
    bounded by ``timeout`` seconds on the run's clock."""
    codedeploy = ctx.client("codedeploy")
    waiter = codedeploy.get_waiter("deployment_successful")
    deadline = ctx.clock.monotonic() + timeout
    last = status = None
    while True:
        try:
            waiter.wait(deploymentId=deployment, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
            return
        except WaiterError as error:
            info = (error.last_response or {}).get("deploymentInfo", {})
            status = info.get("status")
            if status in TERMINAL_FAILURES or "terminal failure" in str(error):
                raise StackError(failure(codedeploy, deployment, info)) from None
            if "Error" in (error.last_response or {}):
                raise
            shown = progress(info)
            if shown != last:
                say(f"  {shown}")
                last = shown
        if ctx.clock.monotonic() + poll > deadline:
            raise StackError(f"deployment {deployment} still {status or 'running'} after {timeout}s; "
                             f"watch it with: aws deploy get-deployment --deployment-id {deployment}")
        ctx.clock.sleep(poll)


def progress(info: dict) -> str:
    overview = info.get("deploymentOverview") or {}
    counts = ", ".join(f"{n} {k.lower()}" for k, n in overview.items() if n)
    return f"{info.get('status', '?')}" + (f": {counts}" if counts else "")


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
                    return headline + ": " + failed_event(instance, event)
    except ClientError:
        pass  # fall back on the deployment's own error
    error = info.get("errorInformation") or {}
    if error.get("message"):
        return f"{headline}: {error.get('code', '')}: {error['message']}".replace(": :", ":")
    return headline


def failed_event(instance: str, event: dict) -> str:
    diagnostics = event.get("diagnostics") or {}
    script = diagnostics.get("scriptName")
    message = (diagnostics.get("message") or "").strip()
    tail = (diagnostics.get("logTail") or "").strip().splitlines()[-3:]
    text = f"{instance}: {event['lifecycleEventName']} failed"
    if script:
        text += f" in {script}"
    if message:
        text += f": {message}"
    if tail:
        text += " | " + " | ".join(tail)
    return text


def switch_to_elb_health_checks(autoscaling, group: str) -> bool:
    """Once a deployment has succeeded, let the group replace instances the load balancer finds
    unhealthy: ``UpdateAutoScalingGroup(HealthCheckType="ELB")`` when it is still on EC2 (a
    no-op afterwards, so every later deploy makes only the describe call). True when switched."""
    grace = AutoScalingGroup.GRACE
    try:
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        if not groups:
            raise StackError(f"deployed, but the auto scaling group {group} does not exist: run provision_compute")
        if groups[0].get("HealthCheckType") != "EC2":
            return False
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, HealthCheckType="ELB",
                                              HealthCheckGracePeriod=grace)
    except ClientError as error:
        raise StackError(f"deployed, but {group} is still on EC2 health checks ({describe_error(error)}); "
                         "run deploy again to switch it to ELB") from None
    return True
