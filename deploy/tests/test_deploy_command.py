"""manage.py deploy: plan, upload under the content hash, deployment, bounded wait, failure message."""
import io
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber
from django.core.management import CommandError, call_command
from moto import mock_aws

from deploy.bundle import build_bundle
from devkit.testing import write_stack
from provisioning import deployments, retry
from provisioning.errors import StackError
from provisioning.tests.pipeline_fixtures import make_prerequisites


@pytest.fixture(autouse=True)
def _no_sleeping(monkeypatch):
    monkeypatch.setattr(retry, "SYSTEM_CLOCK", retry.Clock(sleep=lambda seconds: None))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def stacks_dir(tmp_path):
    write_stack(tmp_path, "dev")
    return tmp_path


def run(*args):
    out = io.StringIO()
    try:
        call_command("deploy", *args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return error.returncode, out.getvalue(), str(error)
    return 0, out.getvalue(), ""


@pytest.fixture
def deployable(stacks_dir):
    with mock_aws():
        prereqs = make_prerequisites()
        cd = boto3.client("codedeploy", region_name="us-east-1")
        cd.create_application(applicationName="cloudsite-dev", computePlatform="Server")
        cd.create_deployment_group(applicationName="cloudsite-dev", deploymentGroupName="cloudsite-dev-app",
                                   serviceRoleArn="arn:aws:iam::123456789012:role/cloudsite-dev-codedeploy")
        yield prereqs


def test_plan_uploads_and_deploys_nothing(deployable, stacks_dir):
    bundle = build_bundle()
    code, out, err = run("--stack", "dev", "--stacks-dir", str(stacks_dir), "--plan")
    assert code == 0, err
    assert f"s3://{deployable['bucket']}/{bundle.key} (to upload)" in out
    assert "deploy to cloudsite-dev/cloudsite-dev-app (CodeDeployDefault.AllAtOnce)" in out
    assert "    appspec.yml" in out and "plan only: nothing was uploaded or deployed" in out
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=deployable["bucket"]).get("KeyCount") == 0
    assert boto3.client("codedeploy", region_name="us-east-1").list_deployments()["deployments"] == []


def test_deploy_uploads_once_creates_the_deployment_and_waits_bounded(deployable, stacks_dir):
    bundle = build_bundle()
    # moto's deployments stay "Created" forever: the wait must end, and say how to go on
    code, out, err = run("--stack", "dev", "--stacks-dir", str(stacks_dir), "--timeout", "0")
    assert code == 1 and "still Created after 0s" in err and "aws deploy get-deployment" in err
    assert f"uploaded s3://{deployable['bucket']}/{bundle.key}" in out
    s3 = boto3.client("s3", region_name="us-east-1")
    body = s3.get_object(Bucket=deployable["bucket"], Key=bundle.key)["Body"].read()
    assert body == bundle.data
    cd = boto3.client("codedeploy", region_name="us-east-1")
    (deployment,) = cd.list_deployments()["deployments"]
    info = cd.get_deployment(deploymentId=deployment)["deploymentInfo"]
    assert info["revision"]["s3Location"] == {"bucket": deployable["bucket"], "key": bundle.key, "bundleType": "zip"}
    code, out, _ = run("--stack", "dev", "--stacks-dir", str(stacks_dir), "--timeout", "0")
    assert "(already uploaded)" in out and "uploaded s3://" not in out


def stubbed_codedeploy():
    client = boto3.client("codedeploy", region_name="us-east-1")
    return client, Stubber(client)


def deployment_info(status, **overview):
    return {"deploymentInfo": {"deploymentId": "d-1", "status": status, "deploymentOverview": {
        "Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0, **overview}}}


def run_wait(client, *, lines=None):
    """``deployments.wait`` against a stubbed CodeDeploy client, on a clock that does not sleep."""
    ctx = SimpleNamespace(client=lambda service: client, clock=retry.Clock(sleep=lambda seconds: None))
    deployments.wait(ctx, "d-1", timeout=600, poll=15, say=(lines if lines is not None else []).append)


def test_wait_shows_progress_until_success():
    client, stubber = stubbed_codedeploy()
    stubber.add_response("get_deployment", deployment_info("InProgress", Pending=2), {"deploymentId": "d-1"})
    stubber.add_response("get_deployment", deployment_info("InProgress", InProgress=1, Succeeded=1))
    stubber.add_response("get_deployment", deployment_info("Succeeded", Succeeded=2))
    lines = []
    with stubber:
        run_wait(client, lines=lines)
    stubber.assert_no_pending_responses()
    assert lines == [
        "  InProgress: 2 pending", "  InProgress: 1 inprogress, 1 succeeded"]


def test_a_failed_deployment_exits_1_with_the_failing_lifecycle_event():
    client, stubber = stubbed_codedeploy()
    failed = deployment_info("Failed", Failed=1)
    failed["deploymentInfo"]["errorInformation"] = {"code": "HEALTH_CONSTRAINTS", "message": "too few healthy"}
    stubber.add_response("get_deployment", failed, {"deploymentId": "d-1"})
    stubber.add_response("list_deployment_instances", {"instancesList": ["i-0abc"]},
                         {"deploymentId": "d-1", "instanceStatusFilter": ["Failed"]})
    stubber.add_response("get_deployment_target", {"deploymentTarget": {
        "deploymentTargetType": "InstanceTarget", "instanceTarget": {
            "deploymentId": "d-1", "targetId": "i-0abc", "status": "Failed", "lifecycleEvents": [
                {"lifecycleEventName": "AfterInstall", "status": "Succeeded"},
                {"lifecycleEventName": "ValidateService", "status": "Failed", "diagnostics": {
                    "errorCode": "ScriptFailed", "scriptName": "scripts/validate_service.sh",
                    "message": "Script at specified location: scripts/validate_service.sh run as user root "
                               "failed with exit code 1",
                    "logTail": "[stderr] ERROR: http://127.0.0.1:8000/healthz answered 503, not 200, "
                               "after 60 attempts"}},
            ]}}}, {"deploymentId": "d-1", "targetId": "i-0abc"})
    with stubber, pytest.raises(StackError) as error:  # the command exits 1 with its message
        run_wait(client)
    stubber.assert_no_pending_responses()
    message = str(error.value)
    assert message.startswith("deployment d-1 failed: i-0abc: ValidateService failed in scripts/validate_service.sh")
    assert "exit code 1" in message and "answered 503, not 200" in message


def test_a_failure_without_instances_uses_the_deployments_error():
    client, stubber = stubbed_codedeploy()
    failed = deployment_info("Stopped")
    failed["deploymentInfo"]["errorInformation"] = {"code": "NO_INSTANCES", "message": "no instances in the group"}
    stubber.add_response("get_deployment", failed)
    stubber.add_response("list_deployment_instances", {"instancesList": []})
    with stubber, pytest.raises(StackError) as error:
        run_wait(client)
    assert str(error.value) == "deployment d-1 stopped: NO_INSTANCES: no instances in the group"


# --- after a successful deployment: the group moves from EC2 to ELB health checks ----------------
def make_group(health_check: str):
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    autoscaling.create_launch_configuration(LaunchConfigurationName="lc", ImageId="ami-12345678",
                                            InstanceType="t3.small")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="cloudsite-dev-app", LaunchConfigurationName="lc", MinSize=0, MaxSize=1,
        DesiredCapacity=0, AvailabilityZones=["us-east-1a"], HealthCheckType=health_check,
        HealthCheckGracePeriod=300)
    return autoscaling


def group_health(autoscaling):
    group = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["cloudsite-dev-app"])["AutoScalingGroups"][0]
    return group["HealthCheckType"], group["HealthCheckGracePeriod"]


def test_a_successful_deployment_switches_the_group_to_elb_health_checks(deployable, stacks_dir, monkeypatch):
    autoscaling = make_group("EC2")
    # moto's deployments never succeed (docs/moto.md): the wait is the stubbed part, see above
    monkeypatch.setattr(deployments, "wait", lambda *args, **kwargs: None)
    code, out, err = run("--stack", "dev", "--stacks-dir", str(stacks_dir))
    assert code == 0, err
    assert group_health(autoscaling) == ("ELB", 300)
    assert "cloudsite-dev-app: health checks switched from EC2 to ELB" in out
    code, out, err = run("--stack", "dev", "--stacks-dir", str(stacks_dir))  # once only
    assert code == 0 and "switched" not in out


def test_a_deployment_that_did_not_succeed_leaves_the_group_on_ec2(deployable, stacks_dir):
    autoscaling = make_group("EC2")
    code, _, err = run("--stack", "dev", "--stacks-dir", str(stacks_dir), "--timeout", "0")
    assert code == 1 and "still Created" in err
    assert group_health(autoscaling) == ("EC2", 300)


def stubbed_autoscaling():
    client = boto3.client("autoscaling", region_name="us-east-1")
    return client, Stubber(client)


def described(health_check: str) -> dict:
    return {"AutoScalingGroups": [{
        "AutoScalingGroupName": "cloudsite-dev-app", "MinSize": 1, "MaxSize": 2, "DesiredCapacity": 1,
        "DefaultCooldown": 300, "AvailabilityZones": ["us-east-1a"], "HealthCheckType": health_check,
        "CreatedTime": "2026-01-01T00:00:00Z"}]}


def test_the_switch_is_exactly_one_update_with_elb_and_the_grace_period():
    client, stubber = stubbed_autoscaling()
    stubber.add_response("describe_auto_scaling_groups", described("EC2"),
                         {"AutoScalingGroupNames": ["cloudsite-dev-app"]})
    stubber.add_response("update_auto_scaling_group", {}, {
        "AutoScalingGroupName": "cloudsite-dev-app", "HealthCheckType": "ELB", "HealthCheckGracePeriod": 300})
    with stubber:
        assert deployments.switch_to_elb_health_checks(client, "cloudsite-dev-app") is True
    stubber.assert_no_pending_responses()


def test_a_group_on_elb_is_left_alone():
    client, stubber = stubbed_autoscaling()
    stubber.add_response("describe_auto_scaling_groups", described("ELB"))
    with stubber:  # an update call here would fail: nothing is stubbed for it
        assert deployments.switch_to_elb_health_checks(client, "cloudsite-dev-app") is False
    stubber.assert_no_pending_responses()


def test_a_refused_switch_is_one_line_and_exit_1():
    client, stubber = stubbed_autoscaling()
    stubber.add_response("describe_auto_scaling_groups", described("EC2"))
    stubber.add_client_error("update_auto_scaling_group", "AccessDenied", "not authorized to perform: "
                             "autoscaling:UpdateAutoScalingGroup", http_status_code=403)
    with stubber, pytest.raises(StackError) as error:  # the command exits 1 with its message
        deployments.switch_to_elb_health_checks(client, "cloudsite-dev-app")
    assert str(error.value) == ("deployed, but cloudsite-dev-app is still on EC2 health checks (AccessDenied: not "
                                "authorized to perform: autoscaling:UpdateAutoScalingGroup); run deploy again to "
                                "switch it to ELB")


def test_a_missing_group_says_what_to_run():
    client, stubber = stubbed_autoscaling()
    stubber.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": []})
    with stubber, pytest.raises(StackError) as error:
        deployments.switch_to_elb_health_checks(client, "cloudsite-dev-app")
    assert "cloudsite-dev-app does not exist: run provision_compute" in str(error.value)
